"""`crm demo --scale N`: a realistic data set of N customers (filled in by the data area)."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session


def generate(session: Session, customers: int, progress: Callable[[int, int], None] | None = None) -> None:
    raise NotImplementedError("crm demo --scale is not built yet")
