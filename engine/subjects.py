"""What a process is about: its subject record (quote, customer, contract, lead, order…).

Each area registers its subject type once: who may see the record (a SQL condition, used to decide
who may view an instance), how to load it for the task page and which partial template shows it, and
what happens to it when the initiator withdraws (撤回) the process.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Subject:
    # (user, subject id) -> SQL condition that is true when the user may see that record
    visible: Callable[[Any, int], ColumnElement[bool]]
    # (session, subject id) -> the record, for the task page
    load: Callable[[Session, int], Any] | None = None
    # Jinja partial that renders `subject` on the task and instance pages
    template: str | None = None
    # (session, instance, actor id) -> None: set the record's status when the process is withdrawn
    on_withdrawn: Callable[[Session, Any, int | None], None] | None = None
    # False: the initiator may not withdraw (撤回) the process (it was started for the record, not requested
    # by him: withdrawing would leave the record with no process that ever moves it on)
    withdrawable: bool = True


SUBJECTS: dict[str, Subject] = {}


def register(subject_type: str, subject: Subject) -> None:
    SUBJECTS[subject_type] = subject


def get(subject_type: str | None) -> Subject | None:
    return SUBJECTS.get(subject_type or "")
