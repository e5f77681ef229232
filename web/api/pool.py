"""API: the public pool (公海): warnings, claiming, returning, undo (T1–T3), activity flags (U3, P3).

Thin: parse with a schema, call one operation of `models.pool` / `models.activity_flags` inside
`run_write`, dump with a schema. Refusals are `models.pool.PoolError`s carrying their status.
"""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from models import activity_flags, clock, pool
from models.crm import Customer
from models.flags import FLAG_KINDS
from web.api import ApiError, api_bp, current_api_user, query_args, token_required
from web.api import openapi as oa
from web.api import schemas as s
from web.db import db
from web.errors import run_write

MOVE_REASONS = ("inactive", "returned", "account_closed")


# ---------------------------------------------------------------------------------------------- schemas
class PoolCustomerOut(s.CustomerOut):
    """A customer as the pool endpoints show it; `owner_id` is null while it is in the pool."""

    pool_since = s.DateTime(allow_none=True)
    last_contact_at = s.DateTime(allow_none=True)
    days_since_contact = fields.Integer(allow_none=True,
                                        metadata={"description": "T1: whole days without contact"})
    warning = fields.String(allow_none=True, validate=validate.OneOf(["warn", "strong"]),
                            metadata={"description": "T2: warn (30 days) or strong (60 days), else null"})
    pool_due_at = s.DateTime(allow_none=True, metadata={"description": "when the sweep moves it to the pool"})
    version = fields.Integer()


class PoolQuery(s.StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    q = s.Text(load_default=None, validate=validate.Length(max=100),
               metadata={"description": "name, pinyin initials or phone"})


class WarningsQuery(s.StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    level = fields.String(load_default=None, validate=validate.OneOf(["warn", "strong"]),
                          metadata={"description": "strong: only the 60-day warnings"})


class ReturnIn(s.StrictSchema):
    note = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PoolMoveOut(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    sector_id = fields.Integer()
    from_owner_id = fields.Integer(allow_none=True)
    from_owner_name = fields.String(allow_none=True)
    reason = fields.String(metadata={"description": "inactive (sweep) | returned (退回公海) | account_closed"})
    moved_at = s.DateTime()
    undone_at = s.DateTime(allow_none=True)
    undone_by = fields.Integer(allow_none=True)
    in_pool = fields.Boolean(metadata={"description": "the customer has no owner now (undo possible)"})


class MovesQuery(s.StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    reason = fields.String(load_default=None, validate=validate.OneOf(MOVE_REASONS))


class FlagOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": ", ".join(FLAG_KINDS)})
    entity_type = fields.String()
    entity_id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    user_name = fields.String(allow_none=True)
    sector_id = fields.Integer()
    period = fields.Date()
    raised_at = s.DateTime()
    resolved_at = s.DateTime(allow_none=True)


class FlagsQuery(s.StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    mine = fields.Boolean(load_default=False, metadata={
        "description": "1: only my flags; 0 (default): every flag I may see (managers: department / sector)"})
    kind = fields.String(load_default=None, validate=validate.OneOf(FLAG_KINDS))
    open = fields.Boolean(load_default=True, metadata={"description": "only unresolved flags (default)"})


# ---------------------------------------------------------------------------------------------- helpers
_call = run_write  # PoolErrors reach the API's DomainError handler as they are


def customer_json(customer: Customer, lim: dict[str, int] | None = None) -> dict:
    now = clock.now()
    lim = lim or pool.limits(db(), customer.sector_id)
    owned = customer.owner_id is not None
    data = {c: getattr(customer, c) for c in (
        "id", "name", "credit_code", "status", "kind", "owner_id", "sector_id", "department_id", "region",
        "industry", "pool_since", "last_contact_at", "version")}
    data["days_since_contact"] = pool.days_since_contact(customer, now) if owned else None
    data["warning"] = pool.customer_warning(customer, now, lim) if owned else None
    data["pool_due_at"] = pool.pool_due_at(customer, lim) if owned else None
    return PoolCustomerOut().dump(data)


def _move_json(row) -> dict:
    move, customer_name, owner_id, from_name = row
    return PoolMoveOut().dump({
        **{c: getattr(move, c) for c in ("id", "customer_id", "sector_id", "from_owner_id", "reason",
                                         "moved_at", "undone_at", "undone_by")},
        "customer_name": customer_name, "from_owner_name": from_name, "in_pool": owner_id is None})


# ---------------------------------------------------------------------------------------------- routes
@api_bp.get("/pool")
@token_required
def pool_list():
    args = query_args(PoolQuery())
    user = current_api_user()
    lim = pool.limits(db(), user.sector_id)
    rows = pool.pool_customers(db(), user, args["q"], args["limit"], args["offset"])
    return {"items": [customer_json(c, lim) for c in rows]}


@api_bp.get("/customers/warnings")
@token_required
def my_warnings():
    args = query_args(WarningsQuery())
    user = current_api_user()
    query, lim = pool.my_warnings_query(db(), user, clock.now(), args["level"])
    rows = db().scalars(query.limit(args["limit"]).offset(args["offset"]))
    return {"items": [customer_json(c, lim) for c in rows]}


@api_bp.post("/customers/<id:customer_id>/claim")
@token_required
def claim_customer(customer_id: int):
    user = current_api_user()
    customer = _call(lambda: pool.claim(db(), user, customer_id))
    return customer_json(customer)


@api_bp.post("/customers/<id:customer_id>/return")
@token_required
def return_customer(customer_id: int):
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", {"_body": ["expected a JSON object"]})
    data = ReturnIn().load(body)
    user = current_api_user()
    customer = _call(lambda: pool.return_to_pool(db(), user, customer_id, data["note"]))
    return customer_json(customer)


@api_bp.get("/pool-moves")
@token_required
def list_moves():
    args = query_args(MovesQuery())
    rows = pool.pool_moves(db(), current_api_user(), reason=args["reason"], limit=args["limit"],
                           offset=args["offset"])
    return {"items": [_move_json(r) for r in rows]}


@api_bp.post("/pool-moves/<id:move_id>/undo")
@token_required
def undo_move(move_id: int):
    user = current_api_user()
    move = _call(lambda: pool.undo_move(db(), user, move_id))
    return _move_json(pool.pool_move_row(db(), move.id))


@api_bp.get("/flags")
@token_required
def list_flags():
    args = query_args(FlagsQuery())
    rows = activity_flags.list_flags(db(), current_api_user(), mine=args["mine"], kind=args["kind"],
                                     open_only=args["open"], limit=args["limit"], offset=args["offset"])
    return {"items": [FlagOut().dump({**{c: getattr(f, c) for c in (
        "id", "kind", "entity_type", "entity_id", "user_id", "sector_id", "period", "raised_at",
        "resolved_at")},
        "user_name": name}) for f, name in rows]}


# ---------------------------------------------------------------------------------------------- OpenAPI
def _params(schema: Schema) -> list[dict]:
    out = []
    for name, field in schema.fields.items():
        if name in ("limit", "offset"):
            continue
        spec: dict = {"type": "boolean"} if isinstance(field, fields.Boolean) else {"type": "string"}
        for v in field.validators:
            if isinstance(v, validate.OneOf):
                spec["enum"] = list(v.choices)
            elif isinstance(v, validate.Length) and v.max is not None:
                spec["maxLength"] = v.max
            elif isinstance(v, validate.Regexp):
                spec["pattern"] = v.regex.pattern
        param = {"in": "query", "name": name, "schema": spec}
        if field.metadata.get("description"):
            param["description"] = field.metadata["description"]
        out.append(param)
    return [*out, *oa.PAGE]


_CUSTOMER_ID = [{**oa.ID, "name": "customer_id"}]
_MOVE_ID = [{**oa.ID, "name": "move_id"}]
_return_op = oa.op("退回公海: the owner returns the customer to the public pool (optional note)",
                   (200, "PoolCustomerOut"), errors=(401, 403, 404, 409, 422))
_return_op["requestBody"] = {"required": False, **oa.json_content("ReturnIn")}

oa.register({
    "/pool": {"get": oa.list_op(
        "T3: customers in the public pool of your sector (search: name, pinyin, phone)", "PoolCustomerOut",
        _params(PoolQuery()))},
    "/customers/warnings": {"get": oa.list_op(
        "T2: your customers at the 30-day (warn) or 60-day (strong) warning, longest silence first",
        "PoolCustomerOut", _params(WarningsQuery()))},
    "/customers/{customer_id}/claim": {"parameters": _CUSTOMER_ID, "post": oa.op(
        "T3: claim a pool customer of your sector (reps; monthly limit pool.claim_limit → 409; "
        "lost race → 409)", (200, "PoolCustomerOut"), errors=(401, 403, 404, 409))},
    "/customers/{customer_id}/return": {"parameters": _CUSTOMER_ID, "post": _return_op},
    "/pool-moves": {"get": oa.list_op("T2: moves to the public pool you may see, most recent first",
                                      "PoolMoveOut", _params(MovesQuery()))},
    "/pool-moves/{move_id}/undo": {"parameters": _MOVE_ID, "post": oa.op(
        "T2: sales management gives the customer back to its former owner (409 if it was claimed since)",
        (200, "PoolMoveOut"), errors=(401, 403, 404, 409))},
    "/flags": {"get": oa.list_op("U3/P3 flags: mine=1 your own; otherwise the flags of your department or "
                                 "sector that you may see", "FlagOut", _params(FlagsQuery()))},
}, {"PoolCustomerOut": PoolCustomerOut, "PoolMoveOut": PoolMoveOut, "FlagOut": FlagOut, "ReturnIn": ReturnIn})
