"""Background jobs: idempotent, safe with several workers, set-based. Run once from the command line
with `crm jobs run NAME --as-of YYYY-MM-DD`, or on a schedule (issue 4)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

# name -> job(session, as_of) -> summary dict; areas register theirs at import time
JOBS: dict[str, Callable[[Session, datetime], dict[str, Any]]] = {}


def job(name: str):
    def wrap(func: Callable[[Session, datetime], dict[str, Any]]):
        JOBS[name] = func
        return func

    return wrap


def run(session: Session, name: str, as_of: datetime) -> dict[str, Any]:
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
    return JOBS[name](session, as_of)
