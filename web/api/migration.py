"""API: move running instances of a process to its latest version, in bulk (issue 5).

POST /processes/{key}/migrations with dry_run true (the default) lists, per instance, whether it can move and
why not; with dry_run false it moves those that can, each in its own transaction, and reports per instance.
Process designers only (403 otherwise); a sector designer sees and moves his sector's instances only.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import migration
from web.api import api_bp, current_api_user, json_body, token_required
from web.api import schemas as s
from web.api.customers import StrictBoolean
from web.api.openapi import op, register
from web.db import db


class MigrationIn(s.StrictSchema):
    dry_run = StrictBoolean(load_default=True, metadata={
        "description": "true (default): only say what would happen; false: move the instances that can move"})
    sector_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                               validate=validate.Range(min=1, max=s.MAX_ID),
                               metadata={"description": "only this sector's instances (default: your whole "
                                                        "design scope)"})
    instance_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=s.MAX_ID)),
                               load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=migration.MAX_INSTANCE_IDS),
                               metadata={"description": "only these instances (listed whatever their status)"})
    limit = fields.Integer(load_default=migration.DEFAULT_LIMIT, strict=True,
                           validate=validate.Range(min=1, max=migration.MAX_LIMIT),
                           metadata={"description": "instances per call; `next_after_id` says where to go on"})
    after_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=0, max=s.MAX_ID),
                              metadata={"description": "continue after this instance id"})


class MigrationVersionRef(Schema):
    definition_id = fields.Integer()
    version = fields.Integer()


class MigrationProblem(Schema):
    element = fields.String(allow_none=True, metadata={"description": "the BPMN element id concerned"})
    message = fields.String()


class MigrationItemOut(Schema):
    instance_id = fields.Integer()
    title = fields.String()
    status = fields.String()
    sector_id = fields.Integer(allow_none=True)
    from_version = fields.Integer()
    to_version = fields.Integer()
    can_move = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "why it cannot move, naming the elements"})
    problems = fields.List(fields.Nested(MigrationProblem), metadata={"description": "the reasons with their "
                                                                                     "element ids"})
    moved = fields.Boolean()
    error = fields.String(allow_none=True, metadata={"description": "the move failed; the instance is unchanged"})


class MigrationOut(Schema):
    dry_run = fields.Boolean()
    to = fields.Nested(MigrationVersionRef, metadata={"description": "the latest version of the requested scope"})
    items = fields.List(fields.Nested(MigrationItemOut))
    movable = fields.Integer()
    moved = fields.Integer()
    skipped = fields.Integer(metadata={"description": "instances that cannot move (left untouched)"})
    failed = fields.Integer(metadata={"description": "instances whose move failed (rolled back)"})
    up_to_date = fields.Integer(metadata={"description": "running instances already on their latest version"})
    next_after_id = fields.Integer(allow_none=True)


@api_bp.post("/processes/<key>/migrations")
@token_required
def migrate_instances(key: str):
    data = json_body(MigrationIn())
    run = migration.plan if data["dry_run"] else migration.migrate
    result = run(db(), current_api_user(), key, data["sector_id"], data["instance_ids"], limit=data["limit"],
                 after_id=data["after_id"])
    return MigrationOut().dump(migration.plan_json(result))


register({
    "/processes/{key}/migrations": {
        "parameters": [{"in": "path", "name": "key", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 100}}],
        "post": op("Move running instances to the latest version, in bulk. dry_run (default) lists per instance "
                   "whether it can move (its current steps exist in the new version and nothing already done was "
                   "changed) and why not; dry_run false moves those that can, each in its own transaction, "
                   "audited, and leaves the rest untouched. Process designers of the instances' sector only",
                   (200, "MigrationOut"), body="MigrationIn", errors=(401, 403, 404, 422)),
    },
}, {"MigrationProblem": MigrationProblem, "MigrationVersionRef": MigrationVersionRef,
    "MigrationItemOut": MigrationItemOut, "MigrationOut": MigrationOut, "MigrationIn": MigrationIn})
