"""API: expense claims (U5). POST submits (refused with 422 naming customer_id / opportunity_id / activity_id
before any approver when the reference is missing or not the claimant's to use); GET lists and shows claims
visible to you. Approvals are the generic task completion (department manager, then finance)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import expense_flows, inbox
from models import expenses as ex
from web.api import api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import list_op, op, register
from web.db import db
from web.errors import run_write

_SAFE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"
NONBLANK = rf"^{_SAFE}*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]{_SAFE}*$"


def _id(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=s.MAX_ID), **kw)


class ExpenseClaimIn(s.StrictSchema):
    category = fields.String(required=True, validate=validate.OneOf(ex.CATEGORIES), metadata={
        "description": "customer: needs customer_id and opportunity_id (its current progress); sales_action: "
                       "needs activity_id (one of your own activities); other"})
    customer_id = _id(load_default=None, allow_none=True)
    opportunity_id = _id(load_default=None, allow_none=True)
    activity_id = _id(load_default=None, allow_none=True)
    amount = s.Amount(required=True)
    spent_on = fields.Date(required=True)
    description = s.Text(required=True, validate=[
        validate.Length(min=1, max=2000),
        validate.Regexp(NONBLANK, error="blank, or contains characters that are not allowed")])


class ExpenseClaimOut(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    category = fields.String()
    claimant_id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    opportunity_id = fields.Integer(allow_none=True)
    progress_stage_code = fields.String(allow_none=True)
    progress_stage_name = fields.String(allow_none=True)
    activity_id = fields.Integer(allow_none=True)
    amount = fields.Float()
    spent_on = fields.Date()
    description = fields.String()
    process_instance_id = fields.Integer(allow_none=True)
    created_at = s.DateTime()
    decided_at = s.DateTime(allow_none=True)
    history = fields.List(fields.Nested(s.HistoryOut))


class ExpenseClaimQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(ex.CLAIM_STATUSES))
    mine = fields.Boolean(load_default=False)


def _history(instance_id: int | None) -> list[dict]:
    if instance_id is None:
        return []
    return [{"at": h.event.at, "actor": h.actor, "kind": h.event.kind, "task": h.event.task_name,
             "step": h.event.bpmn_id, "decision": h.event.decision, "comment": h.event.comment}
            for h in inbox.history(db(), instance_id)]


def claim_json(claim: ex.ExpenseClaim, *, history: bool = False) -> dict:
    out = {k: getattr(claim, k) for k in ExpenseClaimOut().fields if k != "history"}
    out["history"] = _history(claim.process_instance_id) if history else []
    return ExpenseClaimOut().dump(out)


@api_bp.post("/expense-claims")
@token_required
def create_expense_claim():
    data = json_body(ExpenseClaimIn())
    claim = run_write(lambda: expense_flows.submit_claim(db(), current_api_user(), data))
    return claim_json(claim, history=True), 201


@api_bp.get("/expense-claims")
@token_required
def list_expense_claims():
    q = query_args(ExpenseClaimQuery())
    rows = ex.list_claims(db(), current_api_user(), status=q.get("status"), mine=q["mine"], limit=q["limit"],
                          offset=q["offset"])
    return {"items": [claim_json(c) for c in rows]}


@api_bp.get("/expense-claims/<id:expense_claim_id>")
@token_required
def get_expense_claim(expense_claim_id: int):
    return claim_json(ex.visible_claim(db(), current_api_user(), expense_claim_id), history=True)


def _query_params() -> list[dict]:
    return [{"in": "query", "name": "status", "schema": {"type": "string", "enum": list(ex.CLAIM_STATUSES)}},
            {"in": "query", "name": "mine", "schema": {"type": "boolean"}},
            {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"in": "query", "name": "offset", "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000}}]


_submit = op("U5: submit an expense claim; a claim about a customer references it and its current progress "
             "(an open opportunity), one about a sales action references your own activity — otherwise 422 "
             "naming the field, before any approver. Then department manager, then finance.",
             (201, "ExpenseClaimOut"), body="ExpenseClaimIn", errors=(401, 422))
_submit["responses"]["403"] = {"description": "only staff of a department submit claims",
                               "content": {"application/json": {"schema": "ErrorResponse"}}}

register({
    "/expense-claims": {
        "get": list_op("Expense claims visible to you (yours, your department's as its manager, the sector's for "
                       "finance); filters status, mine", "ExpenseClaimOut", _query_params()),
        "post": _submit,
    },
    "/expense-claims/{expense_claim_id}": {
        "parameters": [{"in": "path", "name": "expense_claim_id", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}],
        "get": op("An expense claim with its approval history", (200, "ExpenseClaimOut")),
    },
}, {"ExpenseClaimIn": ExpenseClaimIn, "ExpenseClaimOut": ExpenseClaimOut})
