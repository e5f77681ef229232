"""API: contracts (K1, U4) and receivables (R1).

Thin: parse with a schema, call one operation inside `run_write`, dump. Refusals (`ContractError`, engine
errors) answer JSON {message, errors: {field: [..]}} with their status; a contract the user may not see is
404 on every path.
"""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import and_, select

from engine import contract_flows, inbox
from models import contracts as ops
from models import receivables as rec
from models.contracts import CONTRACT_KINDS, CONTRACT_STATUSES, CONTRACT_TEMPLATES, Contract, ContractError
from models.process import ProcessInstance
from web.api import api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ID, PAGE, list_op, op, register
from web.db import db
from web.errors import run_write
from web.i18n import zhe_label

# Text the operations accept: no control characters (tab and newlines aside), nothing the database refuses.
_SAFE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"
TEXT = rf"^{_SAFE}*$"
NONBLANK = rf"^\s*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]{_SAFE}*$"


def _text(size: int, **kw) -> s.Text:
    return s.Text(validate=[validate.Length(max=size), validate.Regexp(TEXT)], **kw)


def _id(**kw) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=s.MAX_ID), **kw)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# ---------------------------------------------------------------- schemas

class ContractIn(s.StrictSchema):
    customer_id = _id(required=True, metadata={"description": "U4: an approved customer you may see"})
    title = _text(200, load_default=None, allow_none=True)
    kind = fields.String(load_default="product", validate=validate.OneOf(CONTRACT_KINDS))
    template = fields.String(load_default="standard", validate=validate.OneOf(CONTRACT_TEMPLATES),
                             metadata={"description": "K1: standard or custom contract template"})
    list_amount = s.Amount(required=True)
    amount = s.Amount(required=True)  # at most list_amount; discount = amount ÷ list_amount
    terms = _text(4000, load_default=None, allow_none=True)
    opportunity_id = _id(load_default=None, allow_none=True)
    quote_id = _id(load_default=None, allow_none=True)


class ContractPatch(s.StrictSchema):
    title = _text(200, allow_none=True)
    kind = fields.String(validate=validate.OneOf(CONTRACT_KINDS))
    template = fields.String(validate=validate.OneOf(CONTRACT_TEMPLATES))
    list_amount = s.Amount()
    amount = s.Amount()
    terms = _text(4000, allow_none=True)
    opportunity_id = _id(allow_none=True)
    quote_id = _id(allow_none=True)
    resubmit = StrictBoolean(metadata={"description": "K1: send the returned contract through approval again"})
    comment = _text(2000, allow_none=True)


class ContractOut(Schema):
    id = fields.Integer()
    number = fields.String(metadata={"example": "HT-2026-000001"})
    status = fields.String()
    customer_id = fields.Integer()
    customer_name = fields.String()
    owner_id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    title = fields.String()
    kind = fields.String()
    template = fields.String()
    list_amount = fields.Float()
    amount = fields.Float()
    discount = fields.Float()
    discount_zhe = fields.String(metadata={"example": "4.5折"})
    currency = fields.String()
    terms = fields.String(allow_none=True)
    opportunity_id = fields.Integer(allow_none=True)
    quote_id = fields.Integer(allow_none=True)
    process_instance_id = fields.Integer(allow_none=True)
    signed_on = fields.Date(allow_none=True)
    created_at = s.DateTime()
    submitted_at = s.DateTime(allow_none=True)
    decided_at = s.DateTime(allow_none=True)
    history = fields.List(fields.Nested(s.HistoryOut))


class ContractQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(CONTRACT_STATUSES))
    q = s.Text(validate=validate.Length(max=100), metadata={"description": "number, title or customer name"})
    mine = StrictBoolean()


class SignIn(s.StrictSchema):
    signed_on = fields.Date(required=True, metadata={"description": "the day the contract was signed"})


class InvoiceIn(s.StrictSchema):
    number = s.Text(required=True, validate=[validate.Length(min=1, max=40), validate.Regexp(NONBLANK)])
    amount = s.Amount(required=True)
    issued_on = fields.Date(required=True)
    due_on = fields.Date(required=True)


class InvoiceOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    number = fields.String()
    amount = fields.Float()
    issued_on = fields.Date()
    due_on = fields.Date()
    created_at = s.DateTime()


class CollectionIn(s.StrictSchema):
    amount = s.Amount(required=True)
    received_on = fields.Date(required=True)
    invoice_id = _id(load_default=None, allow_none=True)
    note = _text(300, load_default=None, allow_none=True)


class CollectionOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    invoice_id = fields.Integer(allow_none=True)
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    amount = fields.Float()
    received_on = fields.Date()
    note = fields.String(allow_none=True)
    created_at = s.DateTime()


class ReceivableQuery(s.StrictSchema):
    month = fields.String(validate=validate.Regexp(r"^20[0-9]{2}-(0[1-9]|1[0-2])$"),
                         metadata={"description": "YYYY-MM; default the current month", "example": "2026-11"})
    department_id = fields.Integer(validate=validate.Range(min=1, max=s.MAX_ID))


class ReceivableOut(Schema):
    contract_id = fields.Integer()
    number = fields.String()
    title = fields.String()
    customer_name = fields.String()
    owner_id = fields.Integer()
    owner_name = fields.String(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    department_name = fields.String(allow_none=True)
    sector_id = fields.Integer()
    status = fields.String()
    signed_on = fields.Date(allow_none=True)
    contracted = fields.Float()
    invoiced = fields.Float()
    collected = fields.Float()
    outstanding = fields.Float(metadata={"description": "contracted − collected"})
    overdue = fields.Float(metadata={"description": "not collected of invoices past their due date at month end"})


class ReceivableTotals(Schema):
    contracted = fields.Float()
    invoiced = fields.Float()
    collected = fields.Float()
    outstanding = fields.Float()
    overdue = fields.Float()


class ReceivablesOut(Schema):
    month = fields.String()
    department_id = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(ReceivableOut))
    totals = fields.Nested(ReceivableTotals)


# ---------------------------------------------------------------- helpers

def _check(value: int) -> int:
    if not 1 <= value <= s.MAX_ID:
        raise ContractError(404, f"contract {value} not found")
    return value


def _history(instance_id: int | None) -> list[dict]:
    if instance_id is None:
        return []
    return [{"at": h.event.at, "actor": h.actor, "kind": h.event.kind, "task": h.event.task_name,
             "step": h.event.bpmn_id, "decision": h.event.decision, "comment": h.event.comment}
            for h in inbox.history(db(), instance_id)]


def contract_json(contract: Contract, *, history: bool = True) -> dict:
    return ContractOut().dump({
        **{c: getattr(contract, c) for c in (
            "id", "number", "status", "customer_id", "owner_id", "sector_id", "department_id", "title", "kind",
            "template", "list_amount", "amount", "discount", "currency", "terms", "opportunity_id", "quote_id",
            "process_instance_id", "signed_on", "created_at", "submitted_at", "decided_at")},
        "customer_name": contract.customer.name, "discount_zhe": zhe_label(contract.discount),
        "history": _history(contract.process_instance_id) if history else []})


def viewable_contract(contract_id: int) -> Contract:
    """Visible by the access filter, or to whoever holds or held a task of its approval."""
    session, user = db(), current_api_user()
    contract = session.scalar(select(Contract).where(and_(Contract.id == _check(contract_id),
                                                          ops.contract_filter(user))))
    if contract is None:
        candidate = session.get(Contract, contract_id)
        instance = (session.get(ProcessInstance, candidate.process_instance_id)
                    if candidate is not None and candidate.process_instance_id else None)
        if instance is None or not inbox.may_view_instance(session, user, instance):
            raise ContractError(404, f"contract {contract_id} not found")
        contract = candidate
    return contract


# ---------------------------------------------------------------- routes

@api_bp.get("/contracts")
@token_required
def list_contracts():
    q = query_args(ContractQuery())
    rows = ops.list_contracts(db(), current_api_user(), ops.ContractQuery(
        q=q.get("q"), status=q.get("status"), mine=q.get("mine", False), limit=q["limit"], offset=q["offset"]))
    return {"items": [contract_json(c, history=False) for c in rows]}


@api_bp.post("/contracts")
@token_required
def create_contract():
    data = json_body(ContractIn())
    contract = run_write(lambda: contract_flows.submit_contract(db(), current_api_user(), data))
    return contract_json(contract), 201


# One view per path with several methods (an out-of-range id must answer 404, not 405).
@api_bp.route("/contracts/<id:contract_id>", methods=["GET", "PATCH"])
@token_required
def contract(contract_id: int):
    if request.method == "PATCH":
        data = json_body(ContractPatch())
        resubmit, comment = data.pop("resubmit", False), data.pop("comment", None)
        updated = run_write(lambda: contract_flows.revise_contract(
            db(), current_api_user(), _check(contract_id), data, resubmit=resubmit, comment=comment))
        return contract_json(updated)
    return contract_json(viewable_contract(contract_id))


@api_bp.post("/contracts/<id:contract_id>/sign")
@token_required
def sign_contract(contract_id: int):
    data = json_body(SignIn())
    signed = run_write(lambda: ops.sign_contract(db(), current_api_user(), _check(contract_id), data["signed_on"]))
    return contract_json(signed)


@api_bp.post("/contracts/<id:contract_id>/invoices")
@token_required
def create_invoice(contract_id: int):
    data = json_body(InvoiceIn())
    invoice = run_write(lambda: rec.record_invoice(db(), current_api_user(), _check(contract_id), **data))
    return InvoiceOut().dump(invoice), 201


@api_bp.post("/contracts/<id:contract_id>/collections")
@token_required
def create_collection(contract_id: int):
    data = json_body(CollectionIn())
    row = run_write(lambda: rec.record_collection(db(), current_api_user(), _check(contract_id), **data))
    return CollectionOut().dump(row), 201


@api_bp.get("/receivables")
@token_required
def receivables():
    q = query_args(ReceivableQuery())
    month = q.get("month") or rec.current_month()
    rows = rec.receivables(db(), current_api_user(), month, q.get("department_id"))
    return ReceivablesOut().dump({"month": month, "department_id": q.get("department_id"),
                                  "items": [r.__dict__ for r in rows], "totals": rec.totals(rows)})


# ---------------------------------------------------------------- OpenAPI

ERRORS = {403: "same sector but not allowed (not the owner, not finance …)",
          404: "not found or not visible to you (O2)",
          409: "the contract is in a state that does not allow it", 422: "invalid input: errors name the field"}


def _op(summary: str, ok: tuple[int, str], *, body: str | None = None, params: list | None = None,
        errors: tuple[int, ...] = (401, 404)) -> dict:
    result = op(summary, ok, body=body, params=params, errors=errors)
    for code in errors:
        if code in ERRORS:
            result["responses"][str(code)]["description"] = ERRORS[code]
    return result


def _query(schema: Schema) -> list[dict]:
    params = []
    for name, f in schema.fields.items():
        if name in ("limit", "offset"):
            continue
        prop: dict = {"type": "integer" if isinstance(f, fields.Integer) else
                      "boolean" if isinstance(f, fields.Boolean) else "string"}
        for v in f.validators:
            if isinstance(v, validate.OneOf):
                prop["enum"] = list(v.choices)
            elif isinstance(v, validate.Length) and v.max is not None:
                prop["maxLength"] = v.max
            elif isinstance(v, validate.Range):
                prop.update(minimum=v.min, maximum=v.max)
            elif isinstance(v, validate.Regexp):
                prop["pattern"] = v.regex.pattern
        params.append({"in": "query", "name": name, "required": bool(f.required), "schema": prop})
    return params


CID = [{**ID, "name": "contract_id"}]
_receivables = _op("R1: the monthly receivables list, per contract (contracted, invoiced, collected, outstanding, "
                   "overdue as of the month's last day) of the contracts you may see; finance and sales management "
                   "see the sector, a manager his department, a rep his own", (200, "ReceivablesOut"),
                   params=_query(ReceivableQuery()), errors=(401, 404, 422))

register({
    "/contracts": {
        "get": list_op("Contracts visible to you (O2–O4); filters status, mine; search q", "ContractOut",
                       [*_query(ContractQuery()), *PAGE]),
        "post": _op("Enter a contract and submit it for approval (K1). U4: only for an approved customer you may "
                    "see (422 naming customer_id, nothing written)", (201, "ContractOut"), body="ContractIn",
                    errors=(401, 403, 422)),
    },
    "/contracts/{contract_id}": {
        "parameters": CID,
        "get": _op("A contract with its approval history", (200, "ContractOut")),
        "patch": _op("The owner changes a contract returned to him; resubmit=true sends it through approval "
                     "again (K1)", (200, "ContractOut"), body="ContractPatch", errors=(401, 403, 404, 409, 422)),
    },
    "/contracts/{contract_id}/sign": {
        "parameters": CID,
        "post": _op("Record the signing date of an approved contract (owner or his department manager)",
                    (200, "ContractOut"), body="SignIn", errors=(401, 403, 404, 409, 422)),
    },
    "/contracts/{contract_id}/invoices": {
        "parameters": CID,
        "post": _op("R1: finance records an invoice against an approved contract (not above the contract amount)",
                    (201, "InvoiceOut"), body="InvoiceIn", errors=(401, 403, 404, 422)),
    },
    "/contracts/{contract_id}/collections": {
        "parameters": CID,
        "post": _op("R1: finance records a collection (回款); refused above what the contract or the named invoice "
                    "still owes", (201, "CollectionOut"), body="CollectionIn", errors=(401, 403, 404, 422)),
    },
    "/receivables": {"get": _receivables},
}, {name: obj for name, obj in globals().items() if name in (
    "ContractIn", "ContractPatch", "ContractOut", "SignIn", "InvoiceIn", "InvoiceOut", "CollectionIn",
    "CollectionOut", "ReceivableOut", "ReceivableTotals", "ReceivablesOut")})


