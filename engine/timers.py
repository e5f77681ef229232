"""BPMN timer events (trap 5): SpiffWorkflow stores a timer's deadline when the timer is reached and fires it
only when asked (`refresh_timers()`) after the deadline. The job "timers" asks, for every running instance
whose `next_timer_at` (kept by the runtime at every step) has passed.

Exactly once with several workers: each instance is taken in its own transaction with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL (a worker skips instances another worker is firing, and
sees the new `next_timer_at` once that worker commits); SQLite has one writer (BEGIN IMMEDIATE), so the
second worker re-reads the row after the first committed. The instance's version column is bumped too.

One failing instance does not block the others: its transaction is rolled back, then the instance is marked
`error` with the message (audited, shown in its history) and the job goes on.

Time is injectable: SpiffWorkflow 3.2.0 reads `datetime.now(timezone.utc)` in
`SpiffWorkflow/bpmn/specs/event_definitions/timer.py`, both when it computes a deadline (duration timers:
now + duration, when the timer is reached) and when it decides whether a deadline has passed. The adapter
below makes that module's `datetime.now` answer our clock (`models.clock.now()`, which tests move), or the
`as_of` of the job that is firing timers.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.errors import Conflict, EngineError
from engine.jobs import job
from models import audit, clock
from models.base import write_transaction
from models.process import InstanceEvent, ProcessInstance

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000
# `waiting_events()` event types of timers (a timeDate timer's type does not end in "TimerEventDefinition")
TIMER_EVENT_TYPES = frozenset({"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"})

# --- the clock adapter ------------------------------------------------------------------------------------

_as_of: ContextVar[datetime | None] = ContextVar("timers_as_of", default=None)


def spiff_now() -> datetime:
    """What SpiffWorkflow's timers take as "now": the firing job's `as_of`, else our clock (naive UTC)."""
    return _as_of.get() or clock.now()


@contextmanager
def timers_as_of(as_of: datetime) -> Iterator[None]:
    """Inside this block SpiffWorkflow computes and checks timer deadlines as of `as_of` (naive UTC)."""
    token = _as_of.set(as_of.replace(tzinfo=None) if as_of.tzinfo is None else
                       as_of.astimezone(UTC).replace(tzinfo=None))
    try:
        yield
    finally:
        _as_of.reset(token)


class _AnyDatetime(type(datetime)):
    """`isinstance(x, <patched datetime>)` in the timer module must stay true for every datetime."""

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, datetime)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, datetime)


class _ClockDatetime(datetime, metaclass=_AnyDatetime):
    """`datetime` as seen by SpiffWorkflow's timer module: the same class except that `now()` is our clock."""

    @classmethod
    def now(cls, tz=None):  # the signature of datetime.now
        current = spiff_now().replace(tzinfo=UTC)
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)

    @classmethod
    def utcnow(cls):
        return spiff_now()


def install_clock() -> None:
    """Point SpiffWorkflow's timer module at our clock (idempotent). The module looks `datetime` up in its
    globals at call time, so replacing that one name is enough; nothing else in SpiffWorkflow reads the time."""
    if spiff_timer.datetime is not _ClockDatetime:
        spiff_timer.datetime = _ClockDatetime


install_clock()


def deadline_utc(value: str) -> datetime:
    """A timer's stored deadline (as `waiting_events()` gives it) as naive UTC, the way SpiffWorkflow reads
    it: an ISO date-time; one without an offset is the server's local time."""
    return TimerEventDefinition.get_datetime(value).astimezone(UTC).replace(tzinfo=None)


# --- the job ---------------------------------------------------------------------------------------------

@job("timers")
def fire_due_timers(session: Session, as_of: datetime, *, limit: int = 1000) -> dict[str, Any]:
    """Fire the timers of every running instance whose next deadline is at or before `as_of`.

    Each instance is handled and committed in its own transaction. A step that fails marks its instance
    `error`; a database hiccup (lost connection, lock timeout) leaves it for the next run. Returns
    {"fired": [ids], "errors": {id: message}, "retry_later": [ids], "checked": n, "as_of": iso}.
    """
    from engine import runtime

    if session.in_transaction():
        session.commit()
    fired: list[int] = []
    errors: dict[int, str] = {}
    retry_later: list[int] = []
    checked, last_id = 0, 0
    pg = session.get_bind().dialect.name == "postgresql"
    while checked < limit:
        current: int | None = None
        try:
            with write_transaction(session):
                # Set-based pick of the next due instance that no other worker is holding (keyset on id, so
                # one run visits each instance at most once even when its next timer is due again).
                pick = (select(ProcessInstance.id)
                        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= as_of,
                               ProcessInstance.id > last_id)
                        .order_by(ProcessInstance.id).limit(1))
                if pg:
                    pick = pick.with_for_update(skip_locked=True)
                instance_id = session.scalar(pick)
                if instance_id is None:
                    session.commit()
                    break
                checked += 1
                current = last_id = instance_id
                instance = runtime.lock_instance(session, instance_id)  # already locked by us: no wait
                if _fire(session, runtime, instance, as_of):
                    fired.append(instance_id)
                session.commit()
        except (OperationalError, Conflict) as exc:  # lost connection, lock timeout, a concurrent writer: next run
            session.rollback()
            if current is None:
                raise
            retry_later.append(current)
            log.warning("timer of process instance %s deferred: %s", current, exc)
        except Exception as exc:  # one broken instance must not stop the others
            session.rollback()
            if current is None:  # the database itself failed, not an instance
                raise
            message = _message(exc)
            errors[current] = message
            log.warning("timer of process instance %s failed: %s", current, message)
            _mark_error(session, current, message)
    return {"fired": fired, "errors": errors, "retry_later": retry_later, "checked": checked,
            "as_of": as_of.isoformat()}


def _fire(session: Session, runtime, instance: ProcessInstance, as_of: datetime) -> bool:
    """Refresh the instance's timers as of `as_of` and run what they released. True when one fired."""
    with timers_as_of(as_of):
        workflow = runtime._load(session, instance, None)
        waiting = {task.id: _timer_value(task) for task in _timer_tasks(workflow)}
        runtime._run(workflow.refresh_timers, instance.process_key)
        fired = [task for task in _timer_tasks(workflow, include_done=True)
                 if task.id in waiting and (task.state != TaskState.WAITING or _timer_value(task) != waiting[task.id])]
        for task in fired:
            spec = task.task_spec
            session.add(InstanceEvent(instance=instance, at=as_of, actor_id=None, kind="timer_fired",
                                      bpmn_id=spec.bpmn_id, task_name=spec.bpmn_name or spec.bpmn_id,
                                      comment=str(waiting[task.id] or "")[:200] or None))
        runtime._advance(session, instance, workflow, None)
    if fired:
        audit.record(session, actor_id=None, action="process.timer_fired", entity_type="process_instance",
                     entity_id=instance.id, sector_id=instance.sector_id,
                     after={"timers": [t.task_spec.bpmn_id for t in fired], "as_of": as_of.isoformat()})
    return bool(fired)


def _timer_tasks(workflow, include_done: bool = False) -> list:
    """Tasks of timer events (boundary, intermediate, start in subprocesses), in every subprocess too."""
    tasks = []
    for task in workflow.get_tasks(state=TaskState.ANY_MASK if include_done else TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition):
            tasks.append(task)
    return tasks


def _timer_value(task) -> Any:
    value = task._get_internal_data("event_value")  # the deadline SpiffWorkflow stored for this timer
    return value.get("next") if isinstance(value, dict) else value


def _message(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def _mark_error(session: Session, instance_id: int, message: str) -> None:
    """In a fresh transaction: the instance stops at `error` with the reason; audited and in its history."""
    try:
        with write_transaction(session):
            instance = session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                      .with_for_update(of=ProcessInstance)
                                      .execution_options(populate_existing=True))
            if instance is None or instance.status != "running":
                session.commit()
                return
            instance.status, instance.error = "error", message
            session.add(InstanceEvent(instance=instance, at=clock.now(), actor_id=None, kind="timer_failed",
                                      comment=message))
            audit.record(session, actor_id=None, action="process.timer_failed", entity_type="process_instance",
                         entity_id=instance.id, sector_id=instance.sector_id,
                         before={"status": "running"}, after={"status": "error", "error": message})
            session.commit()
    except Exception:
        session.rollback()
        log.exception("could not mark process instance %s as failed", instance_id)
