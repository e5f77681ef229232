"""User-task forms defined in the diagram (`form` = "custom").

A user task's spiffworkflow:properties hold:
- `form` = "custom";
- `fields` = a JSON list of {"name", "label", "type", "required", "choices", "max"}; type is one of
  FIELD_TYPES; `choices` (a list of strings) only for "choice"; `max` = the longest text (text, textarea)
  or the largest number (number);
- optional `decisions` = the buttons, e.g. "approve,reject" or "approve:同意,reject:退回" (value:label);
  without it the form has one "Submit" button and no decision.

The definition is checked at deploy (every problem names the user task and the field) and the task's
answers are loaded with a marshmallow schema built from it: 422 names the field, only declared fields
(plus decision and comment) reach the workflow.
"""
from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from engine.errors import InvalidData

CUSTOM = "custom"
FIELD_TYPES = ("text", "textarea", "number", "date", "choice", "boolean")
MAX_FIELDS = 30
MAX_LABEL = 100
MAX_NAME = 50
MAX_CHOICES = 50
MAX_CHOICE_LENGTH = 100
MAX_DECISIONS = 6
MAX_FIELDS_JSON = 20_000
TEXT_LIMITS = {"text": 200, "textarea": 2000}  # default and upper bound of `max` for text fields
MAX_TEXT = 10_000
# Set by the task page and the engine, never by a form field (trap 7: `typename` breaks stored state).
RESERVED = frozenset({"decision", "comment", "typename"})
_KEYS = frozenset({"name", "label", "type", "required", "choices", "max"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DECISION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


class FormDefinitionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    max: float | int | None = None

    def as_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type, "required": self.required}
        if self.type == "choice":
            out["choices"] = list(self.choices)
        if self.max is not None:
            out["max"] = self.max
        elif self.type in TEXT_LIMITS:
            out["max"] = TEXT_LIMITS[self.type]
        return out


@dataclass(frozen=True)
class CustomForm:
    fields: tuple[Field, ...]
    decisions: tuple[tuple[str, str], ...] = ()  # (value, label); empty = one Submit button, no decision

    def as_json(self) -> list[dict]:
        return [f.as_json() for f in self.fields]


def is_custom(props: Mapping[str, Any]) -> bool:
    return props.get("form") == CUSTOM


def parse(props: Mapping[str, Any]) -> CustomForm:
    """The form a task's properties define; FormDefinitionError names the property or field at fault."""
    raw = props.get("fields")
    if raw is None or not str(raw).strip():
        raise FormDefinitionError("fields", 'a custom form needs property "fields": a JSON list such as '
                                            '[{"name": "reason", "label": "原因", "type": "text", "required": true}]')
    raw = str(raw)
    if len(raw) > MAX_FIELDS_JSON:
        raise FormDefinitionError("fields", f"the field list is longer than {MAX_FIELDS_JSON:,} characters")
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise FormDefinitionError("fields", f"is not valid JSON ({exc})") from None
    if not isinstance(items, list) or not items:
        raise FormDefinitionError("fields", "must be a non-empty JSON list of field objects")
    if len(items) > MAX_FIELDS:
        raise FormDefinitionError("fields", f"{len(items)} fields; a form has at most {MAX_FIELDS}")
    parsed: list[Field] = []
    for number, item in enumerate(items, 1):
        parsed.append(_field(item, number))
    names = [f.name for f in parsed]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise FormDefinitionError(duplicate, "two fields have this name")
    return CustomForm(tuple(parsed), _decisions(props.get("decisions")))


def _field(item: Any, number: int) -> Field:
    if not isinstance(item, dict):
        raise FormDefinitionError(f"field {number}", "must be an object with name, label and type")
    name = item.get("name")
    where = name if isinstance(name, str) and name else f"field {number}"
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME or keyword.iskeyword(name):
        raise FormDefinitionError(where, f"name must be a Python identifier of at most {MAX_NAME} characters, "
                                         "starting with a letter (it becomes a process variable), e.g. reason")
    if name in RESERVED:
        raise FormDefinitionError(where, f"'{name}' is reserved; choose another name")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise FormDefinitionError(where, f"unknown key(s) {unknown}; a field has {sorted(_KEYS)}")
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise FormDefinitionError(where, "needs a label (the text shown to the user)")
    if len(label) > MAX_LABEL:
        raise FormDefinitionError(where, f"label is {len(label)} characters long; the limit is {MAX_LABEL}")
    kind = item.get("type")
    if kind not in FIELD_TYPES:
        raise FormDefinitionError(where, f"type {kind!r} is not one of {', '.join(FIELD_TYPES)}")
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise FormDefinitionError(where, "required must be true or false")
    choices = item.get("choices")
    if kind == "choice":
        if (not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES
                or not all(isinstance(c, str) and c.strip() and len(c) <= MAX_CHOICE_LENGTH for c in choices)):
            raise FormDefinitionError(where, f"a choice field needs choices: a list of 1 to {MAX_CHOICES} texts of "
                                             f"at most {MAX_CHOICE_LENGTH} characters")
        if len(set(choices)) != len(choices):
            raise FormDefinitionError(where, "choices repeat a value")
    elif choices is not None:
        raise FormDefinitionError(where, "choices are only for fields of type choice")
    limit = item.get("max")
    if limit is not None:
        if kind in TEXT_LIMITS:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TEXT:
                raise FormDefinitionError(where, f"max (the longest text) must be a whole number from 1 to {MAX_TEXT}")
        elif kind == "number":
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or math.isnan(limit) or abs(limit) > 1e15:
                raise FormDefinitionError(where, "max (the largest value) must be a number")
        else:
            raise FormDefinitionError(where, f"max is not used by fields of type {kind}")
    return Field(name, label.strip(), kind, required, tuple(choices or ()), limit)


def _decisions(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None or not str(raw).strip():
        return ()
    out: list[tuple[str, str]] = []
    for part in str(raw).split(","):
        value, _, label = part.strip().partition(":")
        value, label = value.strip(), label.strip()
        if not _DECISION.fullmatch(value):
            raise FormDefinitionError("decisions", f"'{part.strip()}' is not a decision: write values such as "
                                                   "approve,reject or approve:同意,reject:退回")
        if len(label) > 30:
            raise FormDefinitionError("decisions", f"button label '{label[:30]}…' is longer than 30 characters")
        if value in (v for v, _ in out):
            raise FormDefinitionError("decisions", f"'{value}' is listed twice")
        out.append((value, label or value))
    if len(out) > MAX_DECISIONS:
        raise FormDefinitionError("decisions", f"at most {MAX_DECISIONS} buttons")
    return tuple(out)


def problems(task_id: str, props: Mapping[str, Any]) -> list[dict]:
    """Deploy-time check of a user task's form properties: {element, message} naming the task and field."""
    if not is_custom(props):
        if str(props.get("fields") or "").strip():
            return [{"element": task_id, "message": 'property "fields" is only used with form "custom"'}]
        return []
    try:
        parse(props)
    except FormDefinitionError as exc:
        return [{"element": task_id, "message": f"form field {exc.field}: {exc.message}"}]
    return []


# --- loading answers ----------------------------------------------------------------------------

class _Number(fields.Float):
    """A number; whole numbers stay integers (so `days == 3` and labels read naturally)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        number = super()._deserialize(value, attr, data, **kwargs)
        return int(number) if number is not None and number.is_integer() and abs(number) < 2**53 else number


class _Text(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.strip() if text is not None else None


class _Date(fields.Date):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        day: date = super()._deserialize(value, attr, data, **kwargs)
        return day.isoformat()  # task data stays JSON; ISO dates compare in order as strings


def _marshmallow_field(field: Field) -> fields.Field:
    options: dict[str, Any] = {"required": True} if field.required else {"load_default": None, "allow_none": True}
    checks: list = []
    if field.type in TEXT_LIMITS:
        checks.append(validate.Length(min=1 if field.required else 0, max=field.max or TEXT_LIMITS[field.type]))
        return _Text(validate=checks, **options)
    if field.type == "number":
        if field.max is not None:
            checks.append(validate.Range(max=field.max))
        return _Number(allow_nan=False, validate=checks, **options)
    if field.type == "date":
        return _Date(**options)
    if field.type == "choice":
        return fields.String(validate=validate.OneOf(field.choices), **options)
    return fields.Boolean(**options)


def schema(form: CustomForm) -> Schema:
    declared: dict[str, fields.Field] = {f.name: _marshmallow_field(f) for f in form.fields}
    values = [v for v, _ in form.decisions]
    declared["decision"] = (fields.String(required=True, validate=validate.OneOf(values)) if values
                            else fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["submit"])))
    declared["comment"] = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    return Schema.from_dict(declared, name="CustomTaskForm")(unknown=EXCLUDE)


def load(form: CustomForm, data: Any) -> dict[str, Any]:
    """The declared fields (missing optional ones = None), decision and comment; InvalidData names the field."""
    if not isinstance(data, dict):
        raise InvalidData({"data": ["must be an object"]})
    try:
        values = schema(form).load(data)
    except ValidationError as exc:
        raise InvalidData({k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}) from exc
    if not form.decisions:
        values["decision"] = None
    return values


def from_spec(spec: Any, subprocess_specs: Mapping[str, Any], bpmn_id: str) -> CustomForm | None:
    """The custom form of the task `bpmn_id` in a parsed process (None when it has no custom form)."""
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == bpmn_id:
                props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
                return parse(props) if is_custom(props) else None
    return None


def form_values(form: CustomForm, raw: Mapping[str, str]) -> dict[str, Any]:
    """The task page's submitted strings -> data for load(): empty inputs are left out (= not given)."""
    out: dict[str, Any] = {}
    for field in form.fields:
        value = raw.get(f"f_{field.name}")
        if value is None or not str(value).strip():
            continue
        out[field.name] = value
    return out
