"""API: Excel import and export (E1, C1, O6).

POST /imports (multipart `file`, optional `kind=customers`) checks the workbook at once (422 naming
the problem) and answers 201 with the job; GET /imports/{id} is its progress and report (the
creator and his managers; another sector 404). GET /exports/customers.xlsx is the visible
customers as Excel, for users allowed to export (others 403), audited.
"""
from __future__ import annotations

from flask import request
from marshmallow import fields, validate

from engine.errors import EngineError
from models import data_export, data_import
from models.data_import import ImportRefused
from web.api import ApiError, api_bp, current_api_user, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ERR, ID, op, register
from web.data_io import UPLOAD_LIMIT, XLSX_MIMETYPE, export_workbook, job_json, send_export, start_import
from web.db import db


class ImportReportItem(s.Schema):
    row = fields.Integer(allow_none=True, required=True, metadata={"description": "the row number Excel shows"})
    field = fields.String(required=True, metadata={"description": "the column (Chinese header) or 'file'"})
    message = fields.String(required=True)


class ImportJobOut(s.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    filename = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["queued", "validating", "importing", "done",
                                                                   "failed"]))
    total_rows = fields.Integer(required=True)
    processed_rows = fields.Integer(required=True)
    imported_rows = fields.Integer(required=True)
    report = fields.List(fields.Nested(ImportReportItem), required=True)
    created_by = fields.Integer(required=True)
    created_at = s.DateTime(required=True)
    finished_at = s.DateTime(allow_none=True, required=True)


class ExportQuery(s.StrictSchema):
    q = s.Text(load_default=None, validate=validate.Length(max=100),
               metadata={"description": "search: name, pinyin initials or phone"})
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "approved", "returned"]))


def _refused(exc: ImportRefused) -> ApiError:
    return ApiError(422, exc.message, {exc.field: [exc.message]})


@api_bp.post("/imports")
@token_required
def create_import():
    user = current_api_user()
    if not data_import.may_import(user):
        raise ApiError(403, "only sales reps (direct customers) and channel staff (agents) import customers (E6)")
    request.max_content_length = UPLOAD_LIMIT
    kind = request.form.get("kind") or "customers"
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(422, "send the Excel workbook as multipart field 'file'", {"file": ["missing"]})
    try:
        job = start_import(user, upload.filename or "upload.xlsx", upload.read(data_import.MAX_UPLOAD_BYTES + 1),
                           kind=kind)
    except ImportRefused as exc:
        raise _refused(exc) from None
    return ImportJobOut().dump(job_json(job)), 201


@api_bp.get("/imports/<id:import_id>")
@token_required
def get_import(import_id: int):
    job = data_import.visible_job(db(), current_api_user(), import_id)
    return ImportJobOut().dump(job_json(job))


@api_bp.get("/exports/customers.xlsx")
@token_required
def export_customers():
    args = query_args(ExportQuery())
    user = current_api_user()
    if not data_export.may_export(user):
        raise ApiError(403, "you are not allowed to export customer data (O6)")
    out, _count = export_workbook(user, data_export.ExportFilters(q=args["q"], status=args["status"]))
    return send_export(out)


_MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": ".xlsx, at most 20 MB"},
                   "kind": {"type": "string", "enum": ["customers"]}}}}}}}

_create = op("Import customers from an Excel workbook (all rows or none; E1, C1, E6)", (201, "ImportJobOut"),
             errors=(401, 403, 422), extra=_MULTIPART)
_create["responses"]["413"] = {"description": "the upload is larger than 20 MB", **ERR}
_create["responses"]["201"]["description"] = (
    "the job: status done (every row imported) or failed (report lists each row's problem, nothing imported); "
    "queued/validating/importing while it runs in the background")
_export = op("The customers visible to you as Excel (users allowed to export; audited, O6)", (200, "ImportJobOut"),
             params=[{"in": "query", "name": "q", "schema": {"type": "string", "maxLength": 100,
                                                             "pattern": s.STORABLE_TEXT}},
                     {"in": "query", "name": "status", "schema": {"type": "string",
                                                                  "enum": ["pending", "approved", "returned"]}}],
             errors=(401, 403, 422))
_export["responses"]["200"] = {"description": "an .xlsx workbook", "content": {
    XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}}

register({
    "/imports": {"post": _create},
    "/imports/{import_id}": {"parameters": [{**ID, "name": "import_id"}],
                             "get": op("An import job: status, progress counts and the row report",
                                       (200, "ImportJobOut"), errors=(401, 403, 404))},
    "/exports/customers.xlsx": {"get": _export},
}, {"ImportReportItem": ImportReportItem, "ImportJobOut": ImportJobOut})

__all__ = ["EngineError"]
