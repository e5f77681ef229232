"""Small helpers for reading server-rendered form and query input safely."""
from __future__ import annotations

from flask import request
from werkzeug.routing import BaseConverter

MAX_ID = 2**31 - 1
MAX_PAGE = 100_000


class IdConverter(BaseConverter):
    """`<id:name>`: a database id (1 … 2**31-1); anything else is a 404, never a database error."""

    regex = r"[1-9][0-9]{0,9}"

    def to_python(self, value: str) -> int:
        # An id too large for the database becomes 0, which names no record: the view answers 404.
        # (Refusing the match instead makes werkzeug answer 405 when another method's rule matches.)
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: int) -> str:
        return str(int(value))


def page_arg() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), MAX_PAGE)


def has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\r\n" or ch == "\x7f" for ch in text)


def text_field(name: str, max_len: int, errors: dict[str, str]) -> str | None:
    """A stripped text field, None when empty; control characters are an error naming the field."""
    value = (request.form.get(name) or "").strip()
    if has_control_chars(value) or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        errors[name] = "contains characters that are not allowed"
        return None
    if len(value) > max_len:
        errors[name] = f"at most {max_len} characters"
        return None
    return value or None


def id_field(name: str, errors: dict[str, str]) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        errors[name] = "required"
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ID:
        errors[name] = "not a valid choice"
        return None
    return int(raw)
