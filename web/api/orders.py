"""API: execution orders (执行单, X1) and implementation orders (实施单, I1).

Thin: parse with a schema, call one operation inside `run_write`, dump. Other sector or not visible → 404; a
contract that is not approved/signed → 422 naming `contract_id`; not the contract's salesperson → 403. The steps
of both processes (review, confirmations, split, implementer tasks, acceptance) are completed through
`POST /tasks/{task_id}/complete` like every other process step.
"""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from engine import order_flows
from models import orders as ops
from models.orders import EXECUTION_KINDS, EXECUTION_STATUSES, IMPLEMENTATION_STATUSES
from web.api import api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import list_op, op, register
from web.db import db
from web.errors import run_write


class ExecutionOrderIn(s.StrictSchema):
    contract_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=s.MAX_ID))
    kind = fields.String(load_default="contract", validate=validate.OneOf(EXECUTION_KINDS))
    note = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ExecutionOrderQuery(s.PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(EXECUTION_STATUSES))


class ImplementationOrderQuery(s.PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(IMPLEMENTATION_STATUSES))


class ExecutionOrderOut(Schema):
    id = fields.Integer()
    number = fields.String()
    contract_id = fields.Integer()
    contract_number = fields.Function(lambda o: o.contract.number)
    kind = fields.String()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer()
    customer_name = fields.Function(lambda o: o.customer.name)
    owner_id = fields.Integer()
    amount = fields.Decimal(as_string=True)
    note = fields.String(allow_none=True)
    status = fields.String()
    process_instance_id = fields.Integer(allow_none=True)
    shipping_confirmed_at = s.DateTime(allow_none=True)
    collection_confirmed_at = s.DateTime(allow_none=True)
    implementation_confirmed_at = s.DateTime(allow_none=True)
    created_at = s.DateTime()
    decided_at = s.DateTime(allow_none=True)


class ImplementationTaskOut(Schema):
    id = fields.Integer()
    title = fields.String()
    implementer_id = fields.Integer()
    implementer_name = fields.Function(lambda t: t.implementer.display_name)
    due_on = fields.Date(allow_none=True)
    milestone_id = fields.Integer(allow_none=True)
    status = fields.String()
    done_at = s.DateTime(allow_none=True)
    note = fields.String(allow_none=True)


class MilestoneOut(Schema):
    id = fields.Integer()
    name = fields.String()
    percent = fields.Decimal(as_string=True)
    amount = fields.Decimal(as_string=True)
    status = fields.String()
    reached_at = s.DateTime(allow_none=True)
    collected = fields.Boolean(metadata={
        "description": "whether the collections recorded against the contract (R1) cover this payment node and "
                       "the ones before it"})


class ImplementationOrderOut(Schema):
    id = fields.Integer()
    number = fields.String()
    execution_order_id = fields.Integer()
    contract_id = fields.Integer()
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer()
    customer_name = fields.Function(lambda o: o.customer.name)
    owner_id = fields.Integer()
    amount = fields.Decimal(as_string=True)
    status = fields.String()
    process_instance_id = fields.Integer(allow_none=True)
    created_at = s.DateTime()
    accepted_at = s.DateTime(allow_none=True)


class ImplementationOrderDetailOut(ImplementationOrderOut):
    tasks = fields.List(fields.Nested(ImplementationTaskOut))
    milestones = fields.List(fields.Nested(MilestoneOut))


def implementation_detail(order, user) -> dict:
    session = db()
    out = ImplementationOrderOut().dump(order)
    out["tasks"] = ImplementationTaskOut(many=True).dump(ops.tasks_of(session, user, order))
    out["milestones"] = [{**MilestoneOut().dump(row["milestone"]), "collected": row["collected"]}
                         for row in ops.milestone_payments(session, order)]
    return out


@api_bp.route("/execution-orders", methods=["GET", "POST"])
@token_required
def execution_orders():
    user = current_api_user()
    if request.method == "POST":
        data = json_body(ExecutionOrderIn())
        order = run_write(lambda: order_flows.submit_execution_order(db(), user, **data))
        return ExecutionOrderOut().dump(order), 201
    q = query_args(ExecutionOrderQuery())
    rows = ops.list_execution_orders(db(), user, status=q["status"], limit=q["limit"], offset=q["offset"])
    return {"items": ExecutionOrderOut(many=True).dump(rows)}


@api_bp.get("/execution-orders/<id:execution_order_id>")
@token_required
def execution_order(execution_order_id: int):
    return ExecutionOrderOut().dump(ops.visible_execution_order(db(), current_api_user(), execution_order_id))


@api_bp.get("/implementation-orders")
@token_required
def implementation_orders():
    q = query_args(ImplementationOrderQuery())
    rows = ops.list_implementation_orders(db(), current_api_user(), status=q["status"], limit=q["limit"],
                                          offset=q["offset"])
    return {"items": ImplementationOrderOut(many=True).dump(rows)}


@api_bp.get("/implementation-orders/<id:implementation_order_id>")
@token_required
def implementation_order(implementation_order_id: int):
    user = current_api_user()
    return implementation_detail(ops.visible_implementation_order(db(), user, implementation_order_id), user)


def _path_id(name: str) -> list[dict]:
    return [{"in": "path", "name": name, "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}]


def _status_query(choices) -> list[dict]:
    return [{"in": "query", "name": "status", "schema": {"type": "string", "enum": list(choices)}},
            {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"in": "query", "name": "offset", "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000}}]


register({
    "/execution-orders": {
        "get": list_op("Execution orders visible to you (X1): the rep his own, department managers their "
                       "department's, business manager, sales management, shipping, finance and implementation "
                       "their sector's", "ExecutionOrderOut", _status_query(EXECUTION_STATUSES)),
        "post": op("X1: submit an approved or signed contract (or its sales order) as an execution order; it goes "
                   "to the business manager's review. Only the contract's salesperson (403 otherwise); a contract "
                   "that is not approved/signed or already has an order answers 422 naming contract_id",
                   (201, "ExecutionOrderOut"), body="ExecutionOrderIn", errors=(401, 403, 404, 422)),
    },
    "/execution-orders/{execution_order_id}": {
        "parameters": _path_id("execution_order_id"),
        "get": op("An execution order with the confirmations of shipping, collection and implementation",
                  (200, "ExecutionOrderOut")),
    },
    "/implementation-orders": {
        "get": list_op("Implementation orders visible to you (I1): as execution orders, and implementers the "
                       "orders they have a task on", "ImplementationOrderOut",
                       _status_query(IMPLEMENTATION_STATUSES)),
    },
    "/implementation-orders/{implementation_order_id}": {
        "parameters": _path_id("implementation_order_id"),
        "get": op("An implementation order with its tasks (an implementer sees only his own) and its milestones "
                  "with their payment node amounts and whether collected", (200, "ImplementationOrderDetailOut")),
    },
}, {"ExecutionOrderIn": ExecutionOrderIn, "ExecutionOrderOut": ExecutionOrderOut,
    "ImplementationOrderOut": ImplementationOrderOut, "ImplementationOrderDetailOut": ImplementationOrderDetailOut})
