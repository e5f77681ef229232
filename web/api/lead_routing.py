"""API: lead routing (L2–L4): the routing table, routing priority, and a lead's routing process.

Thin: parse with a schema, call one operation in `run_write`, dump. The routing table is data that business
managers and sales management of the sector maintain (L3); routing priority is set by sales management (L4).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import lead_flows
from models import lead_routing as routing
from web.api import api_bp, current_api_user, json_body, token_required
from web.api import schemas as s
from web.api.openapi import op, register
from web.api.sales import LeadOut, _in_range, _path_id, _with, text
from web.db import db
from web.errors import run_write

MAX_ID = s.MAX_ID


def _id(**kw) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


class RoutingRuleIn(s.StrictSchema):
    region = text(60, allow_none=True, metadata={"description": "blank = any region"})
    industry = text(60, allow_none=True, metadata={"description": "blank = any industry"})
    target_user_id = _id(allow_none=True, metadata={"description": "a sales rep of the sector, or"})
    target_department_id = _id(allow_none=True, metadata={"description": "a department (team) of the sector"})
    position = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=100_000),
                              metadata={"description": "rules are tried in this order (lowest first)"})
    active = fields.Boolean()
    note = text(200, allow_none=True)


class RoutingRuleOut(Schema):
    id = fields.Integer()
    sector_id = fields.Integer()
    region = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    target_user_id = fields.Integer(allow_none=True)
    target_department_id = fields.Integer(allow_none=True)
    position = fields.Integer()
    active = fields.Boolean()
    note = fields.String(allow_none=True)
    updated_at = s.DateTime()


class RoutingRuleList(Schema):
    items = fields.List(fields.Nested(RoutingRuleOut))


class RoutingPriorityIn(s.StrictSchema):
    user_id = _id(required=True)
    rank = fields.Integer(strict=True, required=True, allow_none=True, validate=validate.Range(min=1, max=1000),
                          metadata={"description": "1 = first; null takes the priority away"})


class RoutingPriorityOut(Schema):
    user_id = fields.Integer()
    month = fields.Date()
    rank = fields.Integer()
    source = fields.String()


class RoutingPriorityList(Schema):
    items = fields.List(fields.Nested(RoutingPriorityOut))


class LeadRoutingTask(Schema):
    id = fields.Integer()
    bpmn_id = fields.String()
    name = fields.String()
    role_code = fields.String(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    due_at = fields.String(allow_none=True)


class LeadRoutingState(Schema):
    lead_id = fields.Integer()
    status = fields.String()
    owner_id = fields.Integer(allow_none=True)
    instance_id = fields.Integer(allow_none=True)
    instance_status = fields.String(allow_none=True)
    open_tasks = fields.List(fields.Nested(LeadRoutingTask))


class LeadCompleteIn(s.StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(("route", "discard")))
    region = text(60, allow_none=True)
    industry = text(60, allow_none=True)
    discard_reason = text(2000, allow_none=True)
    comment = text(2000, allow_none=True)


class LeadRouteIn(s.StrictSchema):
    routed_to = _id(required=True)
    comment = text(2000, allow_none=True)


def _rule_json(rule) -> dict:
    return RoutingRuleOut().dump(rule)


@api_bp.get("/lead-routing/rules")
@token_required
def list_routing_rules():
    rows = run_write(lambda: routing.list_rules(db(), current_api_user()))
    return {"items": [_rule_json(r) for r in rows]}


@api_bp.post("/lead-routing/rules")
@token_required
def create_routing_rule():
    data = json_body(RoutingRuleIn())
    return _rule_json(run_write(lambda: routing.create_rule(db(), current_api_user(), data))), 201


@api_bp.get("/lead-routing/rules/<int:routing_rule_id>")
@token_required
def get_routing_rule(routing_rule_id: int):
    _in_range(routing_rule_id, "routing rule")
    return _rule_json(routing.visible_rule(db(), current_api_user(), routing_rule_id))


@api_bp.patch("/lead-routing/rules/<int:routing_rule_id>")
@token_required
def patch_routing_rule(routing_rule_id: int):
    _in_range(routing_rule_id, "routing rule")
    routing.visible_rule(db(), current_api_user(), routing_rule_id)  # 404 before judging the body
    data = json_body(RoutingRuleIn())
    return _rule_json(run_write(lambda: routing.update_rule(db(), current_api_user(), routing_rule_id, data)))


@api_bp.get("/lead-routing/priorities")
@token_required
def list_routing_priorities():
    rows = run_write(lambda: routing.list_priorities(db(), current_api_user()))
    return {"items": RoutingPriorityOut(many=True).dump(rows)}


@api_bp.post("/lead-routing/priorities")
@token_required
def set_routing_priority():
    data = json_body(RoutingPriorityIn())
    run_write(lambda: routing.set_priority(db(), current_api_user(), data["user_id"], data["rank"]))
    return {"items": RoutingPriorityOut(many=True).dump(routing.list_priorities(db(), current_api_user()))}


@api_bp.get("/leads/<int:lead_id>/routing")
@token_required
def lead_routing_state(lead_id: int):
    _in_range(lead_id, "lead")
    return LeadRoutingState().dump(lead_flows.routing_state(db(), current_api_user(), lead_id))


@api_bp.post("/leads/<int:lead_id>/routing/complete")
@token_required
def lead_routing_complete(lead_id: int):
    _in_range(lead_id, "lead")
    lead_flows.routing_state(db(), current_api_user(), lead_id)  # 404 before judging the body
    data = json_body(LeadCompleteIn())
    return LeadOut().dump(run_write(lambda: lead_flows.complete_lead(db(), current_api_user(), lead_id, data)))


@api_bp.post("/leads/<int:lead_id>/routing/route")
@token_required
def lead_routing_route(lead_id: int):
    _in_range(lead_id, "lead")
    lead_flows.routing_state(db(), current_api_user(), lead_id)
    data = json_body(LeadRouteIn())
    return LeadOut().dump(run_write(lambda: lead_flows.route_by_hand(
        db(), current_api_user(), lead_id, data["routed_to"], data.get("comment"))))


_RULE = [*_path_id("routing_rule_id")]
register({
    "/lead-routing/rules": {
        "get": _with(op("The routing table of your sector (L3): region × industry → rep or team, in order",
                        (200, "RoutingRuleList"), errors=(401,)), 403),
        "post": _with(op("Add a routing rule (business manager or sales management; L3)", (201, "RoutingRuleOut"),
                         body="RoutingRuleIn", errors=(401, 422)), 403),
    },
    "/lead-routing/rules/{routing_rule_id}": {
        "parameters": _RULE,
        "get": op("One routing rule", (200, "RoutingRuleOut")),
        "patch": _with(op("Change or deactivate (active=false) a routing rule (L3)", (200, "RoutingRuleOut"),
                          body="RoutingRuleIn", errors=(401, 404, 422)), 403),
    },
    "/lead-routing/priorities": {
        "get": _with(op("Reps with routing priority this month (L4, P2)", (200, "RoutingPriorityList"),
                        errors=(401,)), 403),
        "post": _with(op("Give a rep routing priority this month, or take it away (sales management; L4)",
                         (200, "RoutingPriorityList"), body="RoutingPriorityIn", errors=(401, 422)), 403),
    },
    "/leads/{lead_id}/routing": {
        "parameters": _path_id("lead_id"),
        "get": op("Where the lead stands in its routing process (L2–L4)", (200, "LeadRoutingState")),
    },
    "/leads/{lead_id}/routing/complete": {
        "parameters": _path_id("lead_id"),
        "post": _with(op("Business manager: complete region and industry and route the lead, or discard it (L2)",
                         (200, "LeadOut"), body="LeadCompleteIn", errors=(401, 404, 422)), 403, 409),
    },
    "/leads/{lead_id}/routing/route": {
        "parameters": _path_id("lead_id"),
        "post": _with(op("Business manager: route by hand when no rule matched or the lead escalated (L3)",
                         (200, "LeadOut"), body="LeadRouteIn", errors=(401, 404, 422)), 403, 409),
    },
}, {"RoutingRuleIn": RoutingRuleIn, "RoutingRuleOut": RoutingRuleOut, "RoutingRuleList": RoutingRuleList,
    "RoutingPriorityIn": RoutingPriorityIn, "RoutingPriorityOut": RoutingPriorityOut,
    "RoutingPriorityList": RoutingPriorityList, "LeadRoutingTask": LeadRoutingTask,
    "LeadRoutingState": LeadRoutingState, "LeadCompleteIn": LeadCompleteIn, "LeadRouteIn": LeadRouteIn})
