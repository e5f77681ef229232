"""Task forms: what a user may write into a workflow when completing a task.

Only declared fields reach the workflow, so an approver cannot overwrite process variables such as
`discount`. Unknown fields are ignored; declared ones are validated (422 names the field).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from engine.errors import InvalidData

DECISIONS = ("approve", "reject")


class ApprovalForm(Schema):
    class Meta:
        unknown = EXCLUDE

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AcknowledgeForm(Schema):
    class Meta:
        unknown = EXCLUDE

    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


CONFLICT_DECISIONS = ("keep", "transfer", "joint")


class ConflictDecisionForm(Schema):
    """C2: sales management keeps the owner, transfers the customer to the claimant, or lets both follow it."""

    class Meta:
        unknown = EXCLUDE

    decision = fields.String(required=True, validate=validate.OneOf(CONFLICT_DECISIONS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


FORMS: dict[str, type[Schema]] = {"approval": ApprovalForm, "acknowledge": AcknowledgeForm,
                                  "conflict_decision": ConflictDecisionForm}
# Checks a form needs the database for (e.g. "the implementer must be an active implementer of the sector"):
# form name -> check(session, task row, loaded values), raising InvalidData naming the field. Registered by
# the area modules; run by runtime.complete_task after the schema and before anything changes.
CHECKS: dict[str, Callable[[Any, Any, dict[str, Any]], None]] = {}


def check_form(session: Any, task: Any, values: dict[str, Any]) -> None:
    check = CHECKS.get(task.form)
    if check is not None:
        check(session, task, values)


def load_form(form: str, data: Any) -> dict[str, Any]:
    schema_cls = FORMS.get(form, AcknowledgeForm)
    if not isinstance(data, dict):
        raise InvalidData({"data": ["must be an object"]})
    try:
        return schema_cls().load(data)
    except ValidationError as exc:
        raise InvalidData({k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}) from exc
