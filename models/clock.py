"""The system clock. Tests and `--as-of` jobs move it; everything else reads it through `now()`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Current time as a naive UTC datetime (stored the same way on SQLite and PostgreSQL)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC).replace(tzinfo=None) + _offset


def freeze(at: datetime | None) -> None:
    global _frozen
    _frozen = at


def advance(delta: timedelta) -> None:
    global _offset, _frozen
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def reset() -> None:
    global _offset, _frozen
    _offset, _frozen = timedelta(0), None
