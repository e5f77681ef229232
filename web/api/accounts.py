"""API: account changes (O5) and the sector's users for pickers.

The sector admin submits open / change_role / close / freeze / unfreeze requests; the sector head
approves them through the task inbox (/tasks/{task_id}/complete). A freeze takes effect on submission.
The sector admin and the sector head of the sector see its requests; others get 404 (O2).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import account_flows
from models import account_changes as ops
from web.api import api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ID, PAGE, list_op, op, register
from web.db import db
from web.errors import run_write

USERNAME = r"^[^\s\x00\ud800-\udfff]+$"
NAME = r"^\s*[^\s\x00\ud800-\udfff][^\x00\ud800-\udfff]*$"
ROLE_CODES = tuple(code for code in ops.ROLES if code not in ops.GROUP_ROLES)


class RoleGrantIn(s.StrictSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLE_CODES))
    department_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=s.MAX_ID),
                                   metadata={"description": "for department roles; default: the user's department"})


class AccountChangeIn(s.StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(ops.KINDS))
    staff_change_date = fields.Date(required=True, metadata={
        "description": "the day of the staff change; submitted more than account.submit_working_days working days "
                       "later, the request is flagged late"})
    reason = s.Text(required=True, validate=[validate.Length(min=1, max=4000), validate.Regexp(NAME, error="required")])
    target_user_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=validate.Range(min=1, max=s.MAX_ID),
                                    metadata={"description": "the user of your sector (all kinds but open)"})
    username = s.Text(load_default=None, allow_none=True,
                      validate=[validate.Length(min=1, max=80), validate.Regexp(USERNAME)],
                      metadata={"description": "open: the new login name"})
    display_name = s.Text(load_default=None, allow_none=True,
                          validate=[validate.Length(min=1, max=120), validate.Regexp(NAME, error="required")])
    department_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=s.MAX_ID))
    password = s.Text(load_default=None, allow_none=True, load_only=True, validate=validate.Length(min=8, max=200),
                      metadata={"description": "open: the initial password, stored only as an Argon2 hash"})
    roles_add = fields.List(fields.Nested(RoleGrantIn), load_default=None, allow_none=True,
                            validate=validate.Length(max=20))
    roles_remove = fields.List(fields.String(validate=validate.OneOf(ROLE_CODES)), load_default=None,
                               allow_none=True, validate=validate.Length(max=20))
    successor_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=1, max=s.MAX_ID),
                                  metadata={"description": "close: an active user of the same sector who receives "
                                                           "the records and open tasks"})


class AccountChangeOut(Schema):
    id = fields.Integer()
    sector_id = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"description": "pending, approved, rejected or withdrawn"})
    target_user_id = fields.Integer(allow_none=True)
    username = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    roles_add = fields.List(fields.Dict(), allow_none=True)
    roles_remove = fields.List(fields.String(), allow_none=True)
    successor_id = fields.Integer(allow_none=True)
    staff_change_date = fields.Date()
    late = fields.Boolean(metadata={"description": "O5: submitted later than allowed after the staff change"})
    reason = fields.String()
    submitted_by = fields.Integer()
    submitted_at = s.DateTime()
    decided_by = fields.Integer(allow_none=True)
    decided_at = s.DateTime(allow_none=True)
    result = fields.Dict(allow_none=True, metadata={"description": "what was carried out (hand-over counts …)"})
    process_instance_id = fields.Integer(allow_none=True)


class AccountChangeQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(ops.STATUSES))


class UserQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(("active", "frozen", "closed")))
    q = s.Text(validate=validate.Length(max=80))


class UserItem(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    department_id = fields.Integer(allow_none=True)
    status = fields.String()
    roles = fields.List(fields.String(), metadata={"description": "shown to the sector admin and head only"})


FIELDS = ("id", "sector_id", "kind", "status", "target_user_id", "username", "display_name", "department_id",
          "roles_add", "roles_remove", "successor_id", "staff_change_date", "late", "reason", "submitted_by",
          "submitted_at", "decided_by", "decided_at", "result", "process_instance_id")


def change_json(change) -> dict:
    return AccountChangeOut().dump({k: getattr(change, k) for k in FIELDS})


@api_bp.post("/account-changes")
@token_required
def submit_account_change():
    data = json_body(AccountChangeIn())
    change = run_write(lambda: account_flows.submit(db(), current_api_user(), data))
    return change_json(change), 201


@api_bp.get("/account-changes")
@token_required
def list_account_changes():
    q = query_args(AccountChangeQuery())
    rows = ops.list_changes(db(), current_api_user(), status=q.get("status"), limit=q["limit"], offset=q["offset"])
    return {"items": [change_json(c) for c in rows]}


@api_bp.get("/account-changes/<id:change_id>")
@token_required
def get_account_change(change_id: int):
    return change_json(ops.visible_change(db(), current_api_user(), change_id))


@api_bp.get("/users")
@token_required
def list_sector_users():
    q = query_args(UserQuery())
    user = current_api_user()
    rows = ops.sector_users(db(), user, status=q.get("status"), q=q.get("q"), limit=q["limit"], offset=q["offset"])
    show_roles = ops.may_view(user) is not None  # roles: for the sector admin and head only
    return {"items": UserItem(many=True).dump([
        {"id": u.id, "username": u.username, "display_name": u.display_name, "department_id": u.department_id,
         "status": u.status, "roles": sorted(u.role_codes) if show_roles else []} for u in rows])}


register({
    "/account-changes": {
        "get": list_op("O5: account changes of your sector (its sector admin and sector head), newest first",
                       "AccountChangeOut", [
                           {"in": "query", "name": "status", "schema": {"type": "string", "enum": list(ops.STATUSES)}},
                           *PAGE]),
        "post": op("O5: the sector admin submits an account change for the sector head's approval: open (new "
                   "account with roles and an initial password), change_role, close (successor_id required: "
                   "records and open tasks go to him on approval), freeze (takes effect at once) or unfreeze",
                   (201, "AccountChangeOut"), body="AccountChangeIn", errors=(401, 403, 404, 409, 422)),
    },
    "/account-changes/{change_id}": {
        "parameters": [{**ID, "name": "change_id"}],
        "get": op("An account change of your sector", (200, "AccountChangeOut")),
    },
    "/users": {
        "get": list_op("Users of your own sector, for pickers (successor, assignee …)", "UserItem", [
            {"in": "query", "name": "status", "schema": {"type": "string", "enum": ["active", "frozen", "closed"]}},
            {"in": "query", "name": "q", "schema": {"type": "string", "maxLength": 80}}, *PAGE]),
    },
}, {"AccountChangeIn": AccountChangeIn, "AccountChangeOut": AccountChangeOut, "UserItem": UserItem})
