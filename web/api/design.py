"""API: process design — drafts, validation, publishing, versions, comparison, rollback, the modeler's catalog.

Only process designers edit; a sector's designers change that sector's versions, group-level ones any.
Diagram problems come back as `errors: [{element, message}]`, the element being the BPMN/DMN id.
"""
from __future__ import annotations

import json

from flask import Response, request
from marshmallow import Schema, fields, validate

from engine import design
from engine.errors import Forbidden
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError
from engine.sandbox import SandboxViolation, check_source
from web.api import ApiError, api_bp, current_api_user, error, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ID, PAGE, json_content, list_op, op, register
from web.db import db
from web.errors import run_write

KEY = {"in": "path", "name": "key", "required": True, "schema": {"type": "string", "maxLength": 100}}
MAX_IMPORT_FILES = 50


class Problem(Schema):
    element = fields.String(metadata={"description": "the BPMN/DMN element id (or 'file')"})
    message = fields.String()


class DraftOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    key = fields.String()
    name = fields.String()
    filename = fields.String()
    sector_id = fields.Integer(allow_none=True)
    base_definition_id = fields.Integer(allow_none=True)
    source = fields.String(metadata={"description": "modeler or import"})
    executable = fields.Boolean()
    problems = fields.List(fields.Nested(Problem))
    lock_version = fields.Integer(metadata={"description": "send it back with PUT; a stale value answers 409"})
    updated_at = s.DateTime()
    updated_by = fields.Integer(allow_none=True)
    published_definition_id = fields.Integer(allow_none=True)


class DraftDetailOut(DraftOut):
    xml = fields.String()


class DraftIn(s.StrictSchema):
    xml = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_DIAGRAM_BYTES))
    filename = s.Text(load_default="", validate=validate.Length(max=200))
    base_definition_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                        validate=validate.Range(min=1, max=s.MAX_ID),
                                        metadata={"description": "without xml: edit a copy of this version"})


class DraftUpdateIn(s.StrictSchema):
    xml = fields.String(required=True, validate=validate.Length(min=1, max=MAX_DIAGRAM_BYTES))
    lock_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=s.MAX_ID))


class PublishIn(s.StrictSchema):
    comment = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class RollbackIn(s.StrictSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=s.MAX_ID))
    sector_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                               validate=validate.Range(min=1, max=s.MAX_ID),
                               metadata={"description": "the scope to publish in; default: yours"})
    comment = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class CheckIn(s.StrictSchema):
    expression = fields.String(required=True, validate=validate.Length(max=20_000))
    mode = fields.String(load_default="eval", validate=validate.OneOf(("eval", "exec")))


class CheckOut(Schema):
    ok = fields.Boolean()
    message = fields.String(allow_none=True)


class ValidationOut(Schema):
    executable = fields.Boolean()
    problems = fields.List(fields.Nested(Problem))


class ImportItem(Schema):
    filename = fields.String()
    draft_id = fields.Integer(allow_none=True, metadata={"description": "null when the file was not stored"})
    kind = fields.String(allow_none=True)
    executable = fields.Boolean()
    problems = fields.List(fields.Nested(Problem))


class ImportOut(Schema):
    items = fields.List(fields.Nested(ImportItem))


class ProcessOut(Schema):
    key = fields.String()
    kind = fields.String()
    name = fields.String()
    sector_id = fields.Integer(allow_none=True)
    version = fields.Integer()
    definition_id = fields.Integer()
    versions = fields.Integer()
    running = fields.Integer()
    deployed_at = s.DateTime()


class VersionOut(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    kind = fields.String()
    name = fields.String()
    sector_id = fields.Integer(allow_none=True)
    deployed_by = fields.Integer(allow_none=True)
    deployed_by_name = fields.String(allow_none=True)
    deployed_at = s.DateTime()
    source_version = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    running = fields.Integer()
    current = fields.Boolean(metadata={"description": "the version new instances of its scope start on"})


class CompareQuery(s.StrictSchema):
    from_ = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1, max=s.MAX_ID))
    to = fields.Integer(required=True, validate=validate.Range(min=1, max=s.MAX_ID))


class Change(Schema):
    field = fields.String()
    before = fields.String(allow_none=True)
    after = fields.String(allow_none=True)


class ElementRef(Schema):
    element = fields.String()
    type = fields.String()
    name = fields.String(allow_none=True)


class ChangedElement(ElementRef):
    changes = fields.List(fields.Nested(Change))


class VersionRef(Schema):
    id = fields.Integer()
    version = fields.Integer()


class CompareOut(Schema):
    from_ = fields.Nested(VersionRef, data_key="from")
    to = fields.Nested(VersionRef)
    added = fields.List(fields.Nested(ElementRef))
    removed = fields.List(fields.Nested(ElementRef))
    changed = fields.List(fields.Nested(ChangedElement))


class CatalogOut(Schema):
    roles = fields.List(fields.Dict())
    connectors = fields.List(fields.Dict())
    forms = fields.List(fields.String())
    decisions = fields.List(fields.Dict())
    field_types = fields.List(fields.String())


def draft_json(draft, *, with_xml: bool = False) -> dict:
    data = {k: getattr(draft, k) for k in ("id", "kind", "key", "name", "filename", "sector_id",
                                           "base_definition_id", "source", "executable", "lock_version",
                                           "updated_at", "updated_by", "published_definition_id")}
    data["problems"] = json.loads(draft.problems or "[]")
    if with_xml:
        data["xml"] = draft.xml
        return DraftDetailOut().dump(data)
    return DraftOut().dump(data)


def _require_designer(user) -> None:
    if not design.is_designer(user):
        raise Forbidden("only process designers may do this")


def _diagram_refused(exc: DiagramError):
    return error(422, "the diagram was refused", exc.errors)


# --- catalog and live checks ---------------------------------------------------------------------------

@api_bp.get("/design/catalog")
@token_required
def design_catalog():
    user = current_api_user()
    _require_designer(user)
    return CatalogOut().dump(design.catalog(db(), user))


@api_bp.post("/design/check-expression")
@token_required
def check_expression():
    _require_designer(current_api_user())
    data = json_body(CheckIn())
    try:
        check_source(data["expression"], data["mode"])
    except SandboxViolation as exc:
        return CheckOut().dump({"ok": False, "message": exc.reason})
    return CheckOut().dump({"ok": True, "message": None})


# --- drafts ----------------------------------------------------------------------------------------

@api_bp.get("/drafts")
@token_required
def list_drafts():
    q = query_args(s.PageQuery())
    rows = design.visible_drafts(db(), current_api_user(), limit=q["limit"], offset=q["offset"])
    return {"items": [draft_json(d) for d in rows]}


@api_bp.post("/drafts")
@token_required
def create_draft():
    data = json_body(DraftIn())
    user = current_api_user()
    xml = data["xml"].encode("utf-8") if data["xml"] is not None else None
    try:
        draft = run_write(lambda: design.create_draft(db(), user, xml, filename=data["filename"],
                                                      base_definition_id=data["base_definition_id"]))
    except DiagramError as exc:
        return _diagram_refused(exc)
    return draft_json(draft), 201


@api_bp.post("/drafts/import")
@token_required
def import_drafts():
    """Several files from other tools: each is stored as a draft (with its problems) or refused with the reason."""
    user = current_api_user()
    _require_designer(user)
    files = request.files.getlist("files")
    if not files:
        raise ApiError(422, "send the files as multipart field 'files'", {"files": ["no file"]})
    if len(files) > MAX_IMPORT_FILES:
        raise ApiError(422, "too many files", {"files": [f"at most {MAX_IMPORT_FILES} per request"]})
    items = []
    for file in files:
        name = file.filename or "upload.bpmn"
        data = file.read(MAX_DIAGRAM_BYTES + 1)
        try:
            draft = run_write(lambda data=data, name=name: design.create_draft(db(), user, data, filename=name,
                                                                               source="import"))
        except DiagramError as exc:
            items.append({"filename": name, "draft_id": None, "kind": None, "executable": False,
                          "problems": exc.errors})
            continue
        items.append({"filename": name, "draft_id": draft.id, "kind": draft.kind, "executable": draft.executable,
                      "problems": json.loads(draft.problems)})
    return ImportOut().dump({"items": items}), 201


@api_bp.get("/drafts/<id:draft_id>")
@token_required
def get_draft(draft_id: int):
    return draft_json(design.visible_draft(db(), current_api_user(), draft_id), with_xml=True)


@api_bp.put("/drafts/<id:draft_id>")
@token_required
def update_draft(draft_id: int):
    data = json_body(DraftUpdateIn())
    user = current_api_user()
    try:
        draft = run_write(lambda: design.update_draft(db(), user, draft_id, data["xml"].encode("utf-8"),
                                                      data["lock_version"]))
    except DiagramError as exc:
        return _diagram_refused(exc)
    return draft_json(draft)


@api_bp.delete("/drafts/<id:draft_id>")
@token_required
def delete_draft(draft_id: int):
    user = current_api_user()
    run_write(lambda: design.delete_draft(db(), user, draft_id))
    return "", 204


@api_bp.post("/drafts/<id:draft_id>/validate")
@token_required
def validate_draft(draft_id: int):
    user = current_api_user()
    analysis = run_write(lambda: design.validate_draft(db(), user, draft_id))
    return ValidationOut().dump({"executable": analysis.executable, "problems": analysis.problems})


@api_bp.post("/drafts/<id:draft_id>/publish")
@token_required
def publish_draft(draft_id: int):
    data = json_body(PublishIn()) if request.get_data() else {"comment": None}
    user = current_api_user()
    try:
        definition = run_write(lambda: design.publish_draft(db(), user, draft_id, data["comment"]))
    except DiagramError as exc:
        return _diagram_refused(exc)
    return s.DefinitionOut().dump(definition), 201


# --- published versions ------------------------------------------------------------------------------

@api_bp.get("/processes")
@token_required
def list_processes():
    return {"items": ProcessOut(many=True).dump(design.current_processes(db(), current_api_user()))}


@api_bp.get("/processes/compare")
@token_required
def compare_versions():
    q = query_args(CompareQuery())
    return CompareOut().dump(design.compare(db(), current_api_user(), q["from_"], q["to"]))


@api_bp.get("/processes/<key>/versions")
@token_required
def list_versions(key: str):
    return {"items": VersionOut(many=True).dump(design.versions(db(), current_api_user(), key[:100]))}


@api_bp.post("/processes/<key>/rollback")
@token_required
def rollback(key: str):
    data = json_body(RollbackIn())
    user = current_api_user()
    _require_designer(user)
    scope = data["sector_id"] if data["sector_id"] is not None else design.home_scope(user)
    try:
        definition = run_write(lambda: design.rollback(db(), user, key[:100], data["version"], scope,
                                                       data["comment"]))
    except DiagramError as exc:  # an earlier version may no longer validate (a role or connector was removed)
        return _diagram_refused(exc)
    return s.DefinitionOut().dump(definition), 201


@api_bp.get("/process-definitions/<id:definition_id>/xml")
@token_required
def definition_xml(definition_id: int):
    definition = design.visible_definition(db(), current_api_user(), definition_id)
    return Response(definition.bpmn_xml, mimetype="application/xml", headers={
        "Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"})


DRAFT_ID = [{**ID, "name": "draft_id"}]
# These answer 422 for bad input (errors name the field) or for a refused diagram (errors list the elements).
DIAGRAM_422 = {"description": "invalid input, or the diagram was refused: each error names the field or element",
               "content": {"application/json": {"schema": {"anyOf": [
                   {"$ref": "#/components/schemas/ErrorResponse"},
                   {"$ref": "#/components/schemas/DiagramErrorResponse"}]}}}}


def _also(operation: dict, status: int, description: str) -> dict:
    operation["responses"][str(status)] = {"description": description, **json_content("ErrorResponse")}
    return operation


def _no_content(operation: dict) -> dict:
    operation["responses"]["204"] = {"description": "deleted"}
    return operation


def diagram_op(*args, **kwargs) -> dict:
    operation = op(*args, **kwargs)
    operation["responses"]["422"] = DIAGRAM_422
    return operation


register({
    "/design/catalog": {"get": op("What the modeler offers: roles, connectors, forms, decision tables (designers)",
                                  (200, "CatalogOut"), errors=(401, 403))},
    "/design/check-expression": {"post": op("Check a condition or script against the sandbox as the designer types",
                                            (200, "CheckOut"), body="CheckIn", errors=(401, 403, 422))},
    "/drafts": {
        "get": _also(list_op("Drafts of your design scope", "DraftOut", PAGE), 403, "only process designers"),
        "post": diagram_op("Create a draft from XML, or from a published version to edit it", (201, "DraftOut"),
                   body="DraftIn", errors=(401, 403, 404, 422)),
    },
    "/drafts/import": {"post": op(
        "Import BPMN/DMN files drawn in other tools; each is stored as a draft with its problems", (201, "ImportOut"),
        errors=(401, 403, 422), extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["files"], "properties": {"files": {
                "type": "array", "items": {"type": "string", "format": "binary"}}}}}}}})},
    "/drafts/{draft_id}": {
        "parameters": DRAFT_ID,
        "get": op("A draft with its XML", (200, "DraftDetailOut"), errors=(401, 403, 404)),
        "put": diagram_op("Save a draft (send lock_version; 409 if someone saved meanwhile)", (200, "DraftOut"),
                  body="DraftUpdateIn", errors=(401, 403, 404, 409, 422)),
        "delete": _no_content(op("Delete a draft", (204, "DraftOut"), errors=(401, 403, 404))),
    },
    "/drafts/{draft_id}/validate": {"parameters": DRAFT_ID, "post": op(
        "Every problem of the draft, each naming its element", (200, "ValidationOut"), errors=(401, 403, 404))},
    "/drafts/{draft_id}/publish": {"parameters": DRAFT_ID, "post": diagram_op(
        "Publish the draft as the next version of its scope (running instances keep theirs)", (201, "DefinitionOut"),
        body="PublishIn", errors=(401, 403, 404, 409, 422))},
    "/processes": {"get": list_op("Processes and decision tables: the current version per scope", "ProcessOut", [])},
    "/processes/compare": {"get": op("Elements added, removed and changed between two versions", (200, "CompareOut"),
                                     params=[{"in": "query", "name": "from", "required": True,
                                              "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}},
                                             {"in": "query", "name": "to", "required": True,
                                              "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}],
                                     errors=(401, 404, 422))},
    "/processes/{key}/versions": {"parameters": [KEY], "get": _also(list_op(
        "Every version: who published it, when, from which version, running instances", "VersionOut", []),
        404, "no such process visible to you")},
    "/processes/{key}/rollback": {"parameters": [KEY], "post": diagram_op(
        "Publish an earlier version again as the newest", (201, "DefinitionOut"), body="RollbackIn",
        errors=(401, 403, 404, 422))},
    "/process-definitions/{definition_id}/xml": {"parameters": [{**ID, "name": "definition_id"}], "get": {
        "summary": "The BPMN/DMN XML of a version", "security": [{"bearer": []}],
        "responses": {"200": {"description": "XML", "content": {"application/xml": {"schema": {"type": "string"}}}},
                      "401": {"description": "bearer token missing or invalid"},
                      "404": {"description": "not found or not visible to you"}}}},
}, {"DraftOut": DraftOut, "DraftDetailOut": DraftDetailOut, "DraftIn": DraftIn, "DraftUpdateIn": DraftUpdateIn,
    "PublishIn": PublishIn, "RollbackIn": RollbackIn, "CheckIn": CheckIn, "CheckOut": CheckOut,
    "ValidationOut": ValidationOut, "ImportOut": ImportOut, "ProcessOut": ProcessOut, "VersionOut": VersionOut,
    "CompareOut": CompareOut, "CatalogOut": CatalogOut})
