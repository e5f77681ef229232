"""marshmallow schemas of the JSON API; the OpenAPI document is generated from them."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_ID = 2**31 - 1
MAX_AMOUNT = Decimal("99999999999999.99")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class DateTime(fields.DateTime):
    """RFC 3339 date-time with an offset. The database holds naive UTC (models.clock), so naive values get +00:00.

    A value that is already a string was dumped before (a nested row dumped twice) and is passed through.
    """

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            return value
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


# NUL cannot be stored in PostgreSQL text, and an unpaired surrogate (valid in JSON as "\ud800") cannot be
# encoded to UTF-8 for the database or the password hasher: both are refused with 422, not a 500.
STORABLE_TEXT = r"^[^\x00\ud800-\udfff]*$"


class Text(fields.String):
    """A string input field that the database can store; the OpenAPI document carries the rule as `pattern`."""

    def __init__(self, **kwargs):
        validators = kwargs.pop("validate", None)
        validators = [] if validators is None else list(validators) if isinstance(validators, (list, tuple)) \
            else [validators]
        super().__init__(validate=[*validators, validate.Regexp(
            STORABLE_TEXT, error="must not contain NUL characters or unpaired surrogates")], **kwargs)


class Amount(fields.Decimal):
    """CNY with at most 2 decimals, more than 0."""

    def __init__(self, **kwargs):
        super().__init__(places=None, allow_nan=False, validate=validate.Range(min=Decimal("0.01"), max=MAX_AMOUNT),
                         metadata={"type": "number", "example": 10000.00}, **kwargs)

    def _validated(self, value):
        number = super()._validated(value)
        if number is not None and number.as_tuple().exponent < -2:
            raise ValidationError("at most 2 decimal places (CNY cents)")
        return number


class TokenRequest(StrictSchema):
    username = Text(required=True, validate=validate.Length(min=1, max=80))
    password = Text(required=True, validate=validate.Length(min=1, max=200))


class TokenResponse(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class ErrorResponse(Schema):
    message = fields.String()
    # field name -> list of messages; a nested field (a key of `data`) has an object of its own errors
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"example": {"quote_amount": ["quote amount cannot exceed the list amount"]}})


class DiagramErrorItem(Schema):
    element = fields.String()
    message = fields.String()


class DiagramErrorResponse(Schema):
    message = fields.String()
    errors = fields.List(fields.Nested(DiagramErrorItem))


class PageQuery(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class CustomerOut(Schema):
    id = fields.Integer()
    name = fields.String()
    credit_code = fields.String(allow_none=True)
    status = fields.String()
    kind = fields.String()
    owner_id = fields.Integer(allow_none=True)
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    region = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)


class QuoteIn(StrictSchema):
    customer_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    list_amount = Amount(required=True)
    quote_amount = Amount(required=True)
    title = Text(load_default="", validate=validate.Length(max=200))
    product = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    notes = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _price_within_list(self, data, **_kwargs):
        if data["quote_amount"] > data["list_amount"]:
            raise ValidationError("quote amount cannot exceed the list amount", "quote_amount")


class HistoryOut(Schema):
    at = DateTime()
    actor = fields.String(allow_none=True)
    kind = fields.String()
    task = fields.String(allow_none=True)
    step = fields.String(allow_none=True)
    decision = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    acting_for = fields.String(allow_none=True, metadata={"description": "whom the actor stood in for (委托)"})


class QuoteOut(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    customer_id = fields.Integer()
    customer_name = fields.String()
    owner_id = fields.Integer()
    list_amount = fields.Float()
    quote_amount = fields.Float()
    discount = fields.Float()
    discount_zhe = fields.String(metadata={"example": "4.5折"})
    currency = fields.String()
    product = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    process_instance_id = fields.Integer(allow_none=True)
    created_at = DateTime()
    decided_at = DateTime(allow_none=True)
    history = fields.List(fields.Nested(HistoryOut))


class DefinitionOut(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    filename = fields.String()
    checksum = fields.String()
    deployed_at = DateTime()
    deployed_by = fields.Integer(allow_none=True)
    kind = fields.String(metadata={"description": "bpmn (a process) or dmn (a decision table)"})
    sector_id = fields.Integer(allow_none=True, metadata={"description": "null: the group's version"})
    source_version = fields.Integer(allow_none=True, metadata={"description": "the version this one republishes"})
    comment = fields.String(allow_none=True)


class DeployOut(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()


class TaskOut(Schema):
    id = fields.Integer()
    process_instance_id = fields.Integer()
    process_key = fields.String()
    title = fields.String()
    name = fields.String()
    step = fields.String()
    form = fields.String()
    role = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    requester = fields.String(allow_none=True)
    status = fields.String()
    decision = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    created_at = DateTime()
    due_at = DateTime(allow_none=True)
    completed_at = DateTime(allow_none=True)
    kind = fields.String(metadata={"description": "task = a step to decide; resubmit = sent back (驳回) to its "
                                                  "submitter, who resubmits or withdraws it"})
    overdue = fields.Boolean(metadata={"description": "open and past its due date (working days)"})
    # Only for a task whose form is defined in the diagram (form "custom"), on GET /tasks/{id}.
    form_fields = fields.List(fields.Dict(), data_key="fields", metadata={
        "description": 'form "custom": the fields to render, [{name, label, type (text|textarea|number|date|choice|'
                       'boolean), required, choices?, max?}]; send them as data {name: value} when completing'})
    form_decisions = fields.List(fields.Dict(), data_key="decisions", metadata={
        "description": 'form "custom": the buttons, [{value, label}]; data.decision must be one of the values '
                       "(empty list: no decision)"})


class TaskQuery(PageQuery):
    scope = fields.String(load_default="mine", validate=validate.OneOf(("mine", "claimable", "done", "copied")))


class TaskCompleteIn(StrictSchema):
    data = fields.Dict(required=True, keys=Text(validate=validate.Length(max=100)),
                       metadata={"example": {"decision": "approve"}})
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class InstanceOut(Schema):
    id = fields.Integer()
    process_key = fields.String()
    definition_version = fields.Integer()
    status = fields.String()
    title = fields.String()
    business_key = fields.String(allow_none=True)
    subject_type = fields.String(allow_none=True)
    subject_id = fields.Integer(allow_none=True)
    started_by = fields.Integer(allow_none=True)
    started_at = DateTime()
    ended_at = DateTime(allow_none=True)
    open_tasks = fields.List(fields.Nested(TaskOut))
    history = fields.List(fields.Nested(HistoryOut))
