"""API: leads, opportunities (stages, sign-date history, attachments), activities (L1, E1, E4, E6, F1, U3/T1).

Thin: parse with a schema, call one operation in `run_write`, dump. The operations raise `models.leads`
errors (422 naming the field, 403, 404, 409), turned into JSON here.
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app, request, send_file
from marshmallow import Schema, fields, validate

from engine import closure_flows, lead_flows
from models import activities as acts
from models import attachments as att
from models import leads as ld
from models import opportunities as ops
from models.sales import ACTIVITY_KINDS, LEAD_SOURCES, LEAD_STATUSES, OPPORTUNITY_STATUSES, Opportunity
from models.stages import stages_for
from web.api import ApiError, api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import list_op, op, register
from web.db import db
from web.errors import run_write

MAX_ID = s.MAX_ID
PHONE_PATTERN = r"^[0-9+\-()][0-9+\-() ]{3,38}[0-9+\-()]$"  # 5–40 characters, trimmed
# Text the operations accept: no control characters (tab and newlines aside), nothing the database refuses.
_SAFE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"
TEXT_PATTERN = rf"^{_SAFE}*$"
NONBLANK_PATTERN = rf"^{_SAFE}*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]{_SAFE}*$"
_E = r"[^@\s\x00-\x1f\x7f\ud800-\udfff]"
EMAIL_PATTERN = rf"^(|{_E}{{1,64}}@{_E}+\.{_E}{{2,}})$"


def text(max_len: int, *, nonblank: bool = False, pattern: str | None = None, **kw) -> s.Text:
    """A text field whose OpenAPI pattern is exactly what the operation accepts (E1: required means non-blank)."""
    rule = pattern or (NONBLANK_PATTERN if nonblank else TEXT_PATTERN)
    return s.Text(validate=[validate.Length(min=1 if nonblank else 0, max=max_len),
                            validate.Regexp(rule, error="blank, or contains characters that are not allowed"
                                            if nonblank else "contains characters that are not allowed")], **kw)


def attachment_dir() -> Path:
    """Where attachment bytes live: ATTACHMENT_DIR, else <instance>/attachments."""
    return Path(current_app.config.get("ATTACHMENT_DIR") or Path(current_app.instance_path) / "attachments")


_call = run_write  # refusals reach the API's DomainError handler as they are


def _read(operation):
    return operation()


def _in_range(value: int, what: str) -> int:
    """Path ids are plain ints here (an `<id:…>` rule that fails validation makes werkzeug answer 405 for the
    other methods of the path); out of range is simply not found."""
    if not 1 <= value <= MAX_ID:
        raise ApiError(404, f"{what} {value} not found")
    return value


def _id(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


def _qid():
    """An id in the query string (a string there, so not strict)."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


# ---- schemas ------------------------------------------------------------------------------------------------
class LeadIn(s.StrictSchema):
    company_name = text(200, nonblank=True, required=True)
    contact_name = text(100, nonblank=True, required=True)
    source = fields.String(required=True, validate=validate.OneOf(LEAD_SOURCES),
                           metadata={"description": "L1: phone call, website registration or online consultation"})
    phone = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(PHONE_PATTERN))
    email = text(200, pattern=EMAIL_PATTERN, load_default=None, allow_none=True)
    region = text(60, load_default=None, allow_none=True)
    industry = text(60, load_default=None, allow_none=True)
    notes = text(4000, load_default=None, allow_none=True)


class LeadPatch(s.StrictSchema):
    company_name = text(200, nonblank=True)
    contact_name = text(100, nonblank=True)
    source = fields.String(validate=validate.OneOf(LEAD_SOURCES))
    phone = s.Text(allow_none=True, validate=validate.Regexp(PHONE_PATTERN))
    email = text(200, pattern=EMAIL_PATTERN, allow_none=True)
    region = text(60, allow_none=True)
    industry = text(60, allow_none=True)
    notes = text(4000, allow_none=True)
    status = fields.String(validate=validate.OneOf(("kept", "discarded", "following", "converted", "closed")),
                           metadata={"description": "kept/discarded: lead desk; following/converted/closed: owner"})
    discard_reason = text(2000, allow_none=True)
    customer_id = _id(allow_none=True)


class LeadAssignIn(s.StrictSchema):
    owner_id = _id(required=True)


class LeadOut(Schema):
    id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    company_name = fields.String()
    contact_name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    source = fields.String()
    status = fields.String()
    discard_reason = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    follow_up_due_at = s.DateTime(allow_none=True)
    last_activity_at = s.DateTime(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = s.DateTime()


class LeadQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(LEAD_STATUSES))
    source = fields.String(validate=validate.OneOf(LEAD_SOURCES))
    mine = fields.Boolean(load_default=False)
    q = s.Text(validate=validate.Length(max=100))


class OpportunityIn(s.StrictSchema):
    customer_id = _id(required=True)
    name = text(200, nonblank=True, required=True)
    stage_code = s.Text(validate=validate.Length(min=1, max=40),
                        metadata={"description": "a stage of the sector (GET /opportunity-stages); default the first"})
    amount = s.Amount(required=True)
    expected_sign_date = fields.Date(allow_none=True, load_default=None)
    competitors = fields.List(text(100), validate=validate.Length(max=20), load_default=list)
    lead_id = _id(allow_none=True, load_default=None)


class OpportunityPatch(s.StrictSchema):
    name = text(200, nonblank=True)
    stage_code = s.Text(validate=validate.Length(min=1, max=40))
    amount = s.Amount()
    expected_sign_date = fields.Date(allow_none=True)
    competitors = fields.List(text(100), validate=validate.Length(max=20))
    version = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ID),
                             metadata={"description": "the version you read; a stale one answers 409"})


class StageMoveIn(s.StrictSchema):
    stage_code = s.Text(required=True, validate=validate.Length(min=1, max=40))
    version = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ID))


class OpportunityOut(Schema):
    id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    lead_id = fields.Integer(allow_none=True)
    name = fields.String()
    stage_code = fields.String()
    win_probability = fields.Integer()
    amount = fields.Float()
    currency = fields.String()
    expected_sign_date = fields.Date(allow_none=True)
    competitors = fields.List(fields.String())
    status = fields.String()
    closed_at = s.DateTime(allow_none=True)
    last_activity_at = s.DateTime(allow_none=True)
    created_at = s.DateTime()
    version = fields.Integer()


class OpportunityQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(OPPORTUNITY_STATUSES))
    stage_code = s.Text(validate=validate.Length(max=40))
    customer_id = _qid()
    mine = fields.Boolean(load_default=False)
    q = s.Text(validate=validate.Length(max=100))


class SignDateChangeOut(Schema):
    id = fields.Integer()
    opportunity_id = fields.Integer()
    old_date = fields.Date(allow_none=True)
    new_date = fields.Date(allow_none=True)
    changed_by = fields.Integer(allow_none=True)
    changed_at = s.DateTime()


class StageOut(Schema):
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    probability = fields.Integer()
    position = fields.Integer()
    outcome = fields.String(allow_none=True)


class AttachmentOut(Schema):
    id = fields.Integer()
    opportunity_id = fields.Integer(attribute="entity_id")
    stage_code = fields.String(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_by = fields.Integer(allow_none=True)
    uploaded_at = s.DateTime()


class ActivityIn(s.StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    subject = text(200, nonblank=True, required=True)
    notes = text(4000, allow_none=True, load_default=None)
    occurred_at = fields.DateTime(required=True, metadata={"description": "not more than a day in the future"})
    lead_id = _id(allow_none=True, load_default=None)
    customer_id = _id(allow_none=True, load_default=None)
    opportunity_id = _id(allow_none=True, load_default=None)


class ActivityOut(Schema):
    id = fields.Integer()
    sector_id = fields.Integer()
    owner_id = fields.Integer()
    kind = fields.String()
    subject = fields.String()
    notes = fields.String(allow_none=True)
    occurred_at = s.DateTime()
    lead_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    opportunity_id = fields.Integer(allow_none=True)
    created_at = s.DateTime()


class ActivityQuery(s.PageQuery):
    lead_id = _qid()
    customer_id = _qid()
    opportunity_id = _qid()
    kind = fields.String(validate=validate.OneOf(ACTIVITY_KINDS))
    mine = fields.Boolean(load_default=False)


# ---- leads --------------------------------------------------------------------------------------------------
@api_bp.get("/leads")
@token_required
def list_leads():
    q = query_args(LeadQuery())
    rows = ld.list_leads(db(), current_api_user(), limit=q.pop("limit"), offset=q.pop("offset"), **q)
    return {"items": LeadOut(many=True).dump(rows)}


@api_bp.post("/leads")
@token_required
def create_lead():
    data = json_body(LeadIn())
    lead = _call(lambda: lead_flows.submit_lead(db(), current_api_user(), data))
    return LeadOut().dump(lead), 201


@api_bp.get("/leads/<int:lead_id>")
@token_required
def get_lead(lead_id: int):
    _in_range(lead_id, "lead")
    return LeadOut().dump(_read(lambda: ld.visible_lead(db(), current_api_user(), lead_id)))


@api_bp.patch("/leads/<int:lead_id>")
@token_required
def patch_lead(lead_id: int):
    _in_range(lead_id, "lead")
    _read(lambda: ld.visible_lead(db(), current_api_user(), lead_id))  # 404 before judging the body
    data = json_body(LeadPatch())
    return LeadOut().dump(_call(lambda: lead_flows.update_lead(db(), current_api_user(), lead_id, data)))


@api_bp.post("/leads/<int:lead_id>/assign")
@token_required
def assign_lead(lead_id: int):
    _in_range(lead_id, "lead")
    _read(lambda: ld.visible_lead(db(), current_api_user(), lead_id))
    data = json_body(LeadAssignIn())
    return LeadOut().dump(_call(lambda: lead_flows.assign_lead(db(), current_api_user(), lead_id, data["owner_id"])))


# ---- opportunities ------------------------------------------------------------------------------------------
def opportunity_json(opp: Opportunity, customer_name: str | None = None) -> dict:
    if customer_name is None:
        from models.crm import Customer

        customer_name = db().get(Customer, opp.customer_id).name
    return OpportunityOut().dump({**{c: getattr(opp, c) for c in (
        "id", "sector_id", "department_id", "owner_id", "customer_id", "lead_id", "name", "stage_code",
        "win_probability", "amount", "expected_sign_date", "status", "closed_at", "last_activity_at", "created_at",
        "version")}, "competitors": list(opp.competitors or []), "customer_name": customer_name, "currency": "CNY"})


@api_bp.get("/opportunities")
@token_required
def list_opportunities():
    q = query_args(OpportunityQuery())
    rows = ops.list_opportunities(db(), current_api_user(), limit=q.pop("limit"), offset=q.pop("offset"), **q)
    return {"items": [opportunity_json(o, name) for o, name in rows]}


@api_bp.post("/opportunities")
@token_required
def create_opportunity():
    data = json_body(OpportunityIn())
    opp = _call(lambda: closure_flows.create_opportunity(db(), current_api_user(), data))
    return opportunity_json(opp), 201


@api_bp.get("/opportunities/<int:opportunity_id>")
@token_required
def get_opportunity(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    return opportunity_json(_read(lambda: ops.visible_opportunity(db(), current_api_user(), opportunity_id)))


@api_bp.patch("/opportunities/<int:opportunity_id>")
@token_required
def patch_opportunity(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    _read(lambda: ops.visible_opportunity(db(), current_api_user(), opportunity_id))
    data = json_body(OpportunityPatch())
    return opportunity_json(_call(lambda: closure_flows.update_opportunity(db(), current_api_user(), opportunity_id,
                                                                           data)))


@api_bp.post("/opportunities/<int:opportunity_id>/stage")
@token_required
def move_stage(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    _read(lambda: ops.visible_opportunity(db(), current_api_user(), opportunity_id))
    data = json_body(StageMoveIn())
    return opportunity_json(_call(lambda: closure_flows.move_stage(db(), current_api_user(), opportunity_id,
                                                                   data["stage_code"], data.get("version"))))


@api_bp.get("/opportunities/<int:opportunity_id>/sign-date-changes")
@token_required
def sign_date_changes(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    rows = _read(lambda: ops.sign_date_changes(db(), current_api_user(), opportunity_id))
    return {"items": SignDateChangeOut(many=True).dump(rows)}


@api_bp.post("/opportunities/<int:opportunity_id>/attachments")
@token_required
def upload_attachment(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    max_bytes = int(current_app.config.get("ATTACHMENT_MAX_BYTES", att.MAX_ATTACHMENT_BYTES))
    if request.content_length and request.content_length > max_bytes + 64 * 1024:
        raise ApiError(422, "the file is too large", {"file": [f"a file may have at most {max_bytes // 1048576} MB"]})
    file = request.files.get("file")
    data = file.read(max_bytes + 1) if file is not None else None
    stage_code = request.form.get("stage_code") or None
    row = _call(lambda: att.add_attachment(
        db(), current_api_user(), opportunity_id, filename=file.filename if file else None,
        content_type=file.mimetype if file else None, data=data, directory=attachment_dir(),
        stage_code=stage_code, max_bytes=max_bytes))
    return AttachmentOut().dump(row), 201


@api_bp.get("/opportunities/<int:opportunity_id>/attachments")
@token_required
def list_attachments(opportunity_id: int):
    _in_range(opportunity_id, "opportunity")
    rows = _read(lambda: att.attachments_of(db(), current_api_user(), opportunity_id))
    return {"items": AttachmentOut(many=True).dump(rows)}


def send_attachment(row, path: Path):
    """The bytes as a download: never rendered inline, never sniffed."""
    resp = send_file(path, mimetype="application/octet-stream", as_attachment=True, download_name=row.filename,
                     max_age=0, conditional=False, etag=False)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@api_bp.get("/attachments/<int:attachment_id>")
@token_required
def download_attachment(attachment_id: int):
    _in_range(attachment_id, "attachment")
    row, path = _read(lambda: att.attachment_for_download(db(), current_api_user(), attachment_id, attachment_dir()))
    return send_attachment(row, path)


@api_bp.get("/opportunity-stages")
@token_required
def opportunity_stages():
    return {"items": StageOut(many=True).dump(stages_for(db(), current_api_user().sector_id))}


# ---- activities ---------------------------------------------------------------------------------------------
@api_bp.get("/activities")
@token_required
def list_activities():
    q = query_args(ActivityQuery())
    user = current_api_user()
    for name in acts.TARGETS:
        if q.get(name):
            _read(lambda name=name: acts.record_visible(db(), user, name, q[name]))
    rows = acts.list_activities(db(), user, limit=q.pop("limit"), offset=q.pop("offset"), **q)
    return {"items": ActivityOut(many=True).dump(rows)}


@api_bp.post("/activities")
@token_required
def create_activity():
    data = json_body(ActivityIn())
    return ActivityOut().dump(_call(lambda: lead_flows.log_activity(db(), current_api_user(), data))), 201


# ---- OpenAPI ------------------------------------------------------------------------------------------------
def _path_id(name: str) -> list[dict]:
    return [{"in": "path", "name": name, "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}]


def _query(schema: type[Schema]) -> list[dict]:
    out = []
    for name, field in schema().fields.items():
        if isinstance(field, fields.Boolean):
            spec = {"type": "boolean"}
        elif isinstance(field, fields.Integer):
            rng = next((v for v in field.validators if isinstance(v, validate.Range)), None)
            spec = {"type": "integer", "minimum": rng.min if rng else 0, "maximum": rng.max if rng else MAX_ID}
        else:
            one_of = next((v for v in field.validators if isinstance(v, validate.OneOf)), None)
            length = next((v for v in field.validators if isinstance(v, validate.Length)), None)
            spec = {"type": "string", "enum": list(one_of.choices)} if one_of else {
                "type": "string", "maxLength": length.max if length else 100, "pattern": s.STORABLE_TEXT}
        out.append({"in": "query", "name": name, "schema": spec})
    return out


_UPLOAD = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "stage_code": {"type": "string", "maxLength": 40}}}}}}}
_DOWNLOAD = {"200": {"description": "the file, as a download (Content-Disposition: attachment)",
                     "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
             "401": {"description": "bearer token missing or invalid", "content": {"application/json": {
                 "schema": "ErrorResponse"}}},
             "404": {"description": "not found or not visible to you", "content": {"application/json": {
                 "schema": "ErrorResponse"}}}}


def _with(operation: dict, *codes: int) -> dict:
    """Add documented error statuses (409 here means a stale version or a state that forbids the step)."""
    for code in codes:
        operation["responses"][str(code)] = {
            "description": {403: "visible to you but not yours to change (E4/E6)",
                            404: "not found or not visible to you",
                            409: "changed by someone else meanwhile, or not allowed in its current state",
                            422: "invalid input: errors name the field"}[code],
            "content": {"application/json": {"schema": "ErrorResponse"}}}
    return operation


def _download_op() -> dict:
    operation = op("Download an attachment (only if you may see its opportunity)", (200, "AttachmentOut"))
    operation["responses"] = dict(_DOWNLOAD)
    return operation


register({
    "/leads": {
        "get": list_op("Leads visible to you; filters status, source, mine; search q", "LeadOut", _query(LeadQuery)),
        "post": _with(op("Enter a lead (E6: business manager, marketing or sales rep; L1 source required)",
                         (201, "LeadOut"), body="LeadIn", errors=(401, 422)), 403),
    },
    "/leads/{lead_id}": {
        "parameters": _path_id("lead_id"),
        "get": op("A lead", (200, "LeadOut")),
        "patch": _with(op("Edit a lead or move its status", (200, "LeadOut"), body="LeadPatch",
                          errors=(401, 404, 422)), 403, 409),
    },
    "/leads/{lead_id}/assign": {
        "parameters": _path_id("lead_id"),
        "post": _with(op("Assign the lead to a rep of the sector with lead rights (business manager)",
                         (200, "LeadOut"), body="LeadAssignIn", errors=(401, 404, 422)), 403, 409),
    },
    "/opportunities": {
        "get": list_op("Opportunities visible to you; filters status, stage_code, customer_id, mine; search q",
                       "OpportunityOut", _query(OpportunityQuery)),
        "post": _with(op("Open an opportunity for an approved customer you can see (F1)", (201, "OpportunityOut"),
                         body="OpportunityIn", errors=(401, 422)), 403),
    },
    "/opportunities/{opportunity_id}": {
        "parameters": _path_id("opportunity_id"),
        "get": op("An opportunity", (200, "OpportunityOut")),
        "patch": _with(op("Change an opportunity (E4: its owner only; send the version you read)",
                          (200, "OpportunityOut"), body="OpportunityPatch", errors=(401, 404, 422)), 403, 409),
    },
    "/opportunities/{opportunity_id}/stage": {
        "parameters": _path_id("opportunity_id"),
        "post": _with(op("Move to another stage (kanban); probability from the stage, won/lost closes it (E4)",
                         (200, "OpportunityOut"), body="StageMoveIn", errors=(401, 404, 422)), 403, 409),
    },
    "/opportunities/{opportunity_id}/sign-date-changes": {
        "parameters": _path_id("opportunity_id"),
        "get": _with(list_op("Every change of the expected signing date (F1)", "SignDateChangeOut", []), 404),
    },
    "/opportunities/{opportunity_id}/attachments": {
        "parameters": _path_id("opportunity_id"),
        "get": _with(list_op("Attachments of an opportunity", "AttachmentOut", []), 404),
        "post": _with(op("Attach a file (multipart 'file', at most 10 MB; optional stage_code) — owner only",
                         (201, "AttachmentOut"), errors=(401, 404, 422), extra=_UPLOAD), 403),
    },
    "/attachments/{attachment_id}": {"parameters": _path_id("attachment_id"), "get": _download_op()},
    "/opportunity-stages": {"get": list_op("Your sector's opportunity stages in order (F1)", "StageOut", [])},
    "/activities": {
        "get": _with(list_op("Activities visible to you; filters lead_id, customer_id, opportunity_id, kind, mine",
                             "ActivityOut", _query(ActivityQuery)), 404),
        "post": op("Log an activity against exactly one lead, customer or opportunity", (201, "ActivityOut"),
                   body="ActivityIn", errors=(401, 422)),
    },
}, {"LeadIn": LeadIn, "LeadPatch": LeadPatch, "LeadAssignIn": LeadAssignIn, "LeadOut": LeadOut,
    "OpportunityIn": OpportunityIn, "OpportunityPatch": OpportunityPatch, "StageMoveIn": StageMoveIn,
    "OpportunityOut": OpportunityOut, "SignDateChangeOut": SignDateChangeOut, "StageOut": StageOut,
    "AttachmentOut": AttachmentOut, "ActivityIn": ActivityIn, "ActivityOut": ActivityOut})
