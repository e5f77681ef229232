"""API: opportunity closure (F2). GET the closure state of an opportunity; POST close it (the owner's
"关闭销售机会" step, starting the closure first when the opportunity is still open); POST reopen (sales
management). Confirmation is the generic task completion (`POST /tasks/{task_id}/complete`, decision
approve | return)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import closure_flows
from models import closures as cl
from web.api import api_bp, current_api_user, json_body, token_required
from web.api import schemas as s
from web.api.openapi import op, register
from web.db import db
from web.errors import run_write

_SAFE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]*$"


def _text(max_len: int, **kw) -> s.Text:
    return s.Text(validate=[validate.Length(max=max_len),
                            validate.Regexp(_SAFE, error="contains characters that are not allowed")], **kw)


class CloseIn(s.StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(cl.OUTCOMES),
                            metadata={"description": "won, lost or invalid (invalid moves it to the lost stage)"})
    reason = _text(2000, load_default="", metadata={"description": "required when lost or invalid"})
    contract_ref = _text(100, load_default="", metadata={"description": "the signed contract (won), optional"})
    winner = _text(100, load_default="", metadata={"description": "the competitor who won (lost)"})
    comment = _text(2000, load_default=None, allow_none=True)


class ReopenIn(s.StrictSchema):
    stage_code = s.Text(required=True, validate=validate.Length(min=1, max=40),
                        metadata={"description": "an open stage of the sector"})


class ClosureOut(Schema):
    id = fields.Integer()
    opportunity_id = fields.Integer()
    status = fields.String(metadata={"description": "closing, confirming, confirmed, cancelled or reopened"})
    stage_code = fields.String()
    stage_set_at = s.DateTime()
    due_at = s.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    contract_ref = fields.String(allow_none=True)
    winner = fields.String(allow_none=True)
    late = fields.Boolean()
    closed_at = s.DateTime(allow_none=True)
    closed_by = fields.Integer(allow_none=True)
    confirmed_at = s.DateTime(allow_none=True)
    confirmed_by = fields.Integer(allow_none=True)
    process_instance_id = fields.Integer(allow_none=True)
    open_task_id = fields.Integer(allow_none=True)


class ClosureStateOut(Schema):
    opportunity_id = fields.Integer()
    opportunity_status = fields.String()
    stage_code = fields.String()
    closure = fields.Nested(ClosureOut, allow_none=True)


def _state(opportunity_id: int) -> dict:
    session = db()
    opp, closure = cl.visible_closure_state(session, current_api_user(), opportunity_id)
    body = None
    if closure is not None:
        task = closure_flows._open_step(session, closure.process_instance_id) \
            if closure.status in cl.OPEN_STATUSES else None
        body = {**{k: getattr(closure, k) for k in ClosureOut().fields if k != "open_task_id"},
                "open_task_id": task.id if task else None}
    return ClosureStateOut().dump({"opportunity_id": opp.id, "opportunity_status": opp.status,
                                   "stage_code": opp.stage_code, "closure": body})


@api_bp.get("/opportunities/<id:opportunity_id>/closure")
@token_required
def closure_state(opportunity_id: int):
    return _state(opportunity_id)


@api_bp.post("/opportunities/<id:opportunity_id>/close")
@token_required
def close_opportunity(opportunity_id: int):
    data = json_body(CloseIn())
    comment = data.pop("comment", None)
    run_write(lambda: closure_flows.close_opportunity(db(), current_api_user(), opportunity_id, data, comment))
    return _state(opportunity_id)


@api_bp.post("/opportunities/<id:opportunity_id>/reopen")
@token_required
def reopen_opportunity(opportunity_id: int):
    data = json_body(ReopenIn())
    run_write(lambda: closure_flows.reopen(db(), current_api_user(), opportunity_id, data["stage_code"]))
    return _state(opportunity_id)


def _path_id(name: str) -> list[dict]:
    return [{"in": "path", "name": name, "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}]


def _with(operation: dict, *codes: int) -> dict:
    for code in codes:
        operation["responses"][str(code)] = {
            "description": {403: "not the owner (close) or not sales management (reopen)",
                            409: "not allowed in the closure's current state"}[code],
            "content": {"application/json": {"schema": "ErrorResponse"}}}
    return operation


register({
    "/opportunities/{opportunity_id}/closure": {
        "parameters": _path_id("opportunity_id"),
        "get": op("The closure state of an opportunity (F2): status, deadline, late, open step",
                  (200, "ClosureStateOut")),
    },
    "/opportunities/{opportunity_id}/close": {
        "parameters": _path_id("opportunity_id"),
        "post": _with(op("F2: the owner closes the opportunity within one working day (starts the closure when it "
                         "is still open); the department manager or assistant then confirms",
                         (200, "ClosureStateOut"), body="CloseIn", errors=(401, 404, 422)), 403, 409),
    },
    "/opportunities/{opportunity_id}/reopen": {
        "parameters": _path_id("opportunity_id"),
        "post": _with(op("F2: sales management reopens a confirmed closure (back to an open stage)",
                         (200, "ClosureStateOut"), body="ReopenIn", errors=(401, 404, 422)), 403, 409),
    },
}, {"CloseIn": CloseIn, "ReopenIn": ReopenIn, "ClosureOut": ClosureOut, "ClosureStateOut": ClosureStateOut})
