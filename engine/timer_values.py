"""Bounds on timer values (timeDuration, timeDate, timeCycle) before SpiffWorkflow computes a deadline.

SpiffWorkflow 3.2.0 turns a duration into days with one loop round per month (`get_timedelta_from_start`):
"P9999999999999Y" would hang the worker that reaches the timer. Every timer value is therefore checked —
at publish when the diagram writes it as a literal, and when the sandbox evaluates it at run time — and a
value that does not parse, or lies beyond MAX_YEARS, is refused naming the element.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

MAX_YEARS = 100
MAX_CYCLES = 100_000
_DAYS = {"years": 365.25, "months": 30.44, "weeks": 7, "days": 1, "hours": 1 / 24, "minutes": 1 / 1440,
         "seconds": 1 / 86400}
_EXAMPLES = {"timeDuration": '"P3D" or "PT4H"', "timeDate": '"2027-01-04T09:00:00+08:00"',
             "timeCycle": '"R3/PT1H"'}


def problem(kind: str, value: Any) -> str | None:
    """Why a timer value cannot be used, or None. `kind` is timeDuration, timeDate or timeCycle."""
    if isinstance(value, datetime) and kind == "timeDate":
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        return f"a timer value must be a text such as {_EXAMPLES.get(kind, _EXAMPLES['timeDuration'])}"
    text = value.strip()
    if kind == "timeCycle":
        parts = text.upper().replace("--", "/").strip("R").split("/")
        if len(parts) not in (2, 3) or (parts[0] and not (parts[0].isascii() and parts[0].isdigit())):
            return f"'{text}' is not a repeating interval such as {_EXAMPLES['timeCycle']}"
        if parts[0] and int(parts[0]) > MAX_CYCLES:
            return f"'{text}' repeats more than {MAX_CYCLES:,} times"
        return next(filter(None, (_part_problem(part, text) for part in parts[1:])), None)
    if kind == "timeDuration" and not text.upper().startswith("P"):
        return f"'{text}' is not a duration such as {_EXAMPLES['timeDuration']}"
    return _part_problem(text, text)


def _part_problem(part: str, whole: str) -> str | None:
    try:
        if part.upper().startswith("P"):
            parsed = TimerEventDefinition.parse_iso_duration(part)
            days = sum(float(v) * _DAYS[k] for k, v in parsed.items() if k in _DAYS)
            if days > MAX_YEARS * 365.25:
                return f"'{whole}' is longer than {MAX_YEARS} years"
            return None
        if "W" in part.upper():
            TimerEventDefinition.parse_iso_week(part)
        else:
            TimerEventDefinition.get_datetime(part)
    except Exception:  # noqa: BLE001 - any parse failure of untrusted text is a refusal
        return f"'{whole}' is not a date, time or ISO 8601 duration"
    return None


def kind_of(definition: TimerEventDefinition) -> str:
    name = type(definition).__name__
    return "timeCycle" if "Cycle" in name else "timeDuration" if "Duration" in name else "timeDate"
