"""Running instances. One step = one transaction: lock, check, run, serialize, sync task rows, record.

The caller owns the transaction (commit or rollback); these functions only flush. Every failure is
an `EngineError` so the caller can roll back and answer with its status code.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from engine import assignment, connectors, definitions, form_builder, forms, timers
from engine.errors import Conflict, EngineError, Forbidden, NotFound, ProcessError
from engine.sandbox import SandboxScriptEngine
from engine.state import dump_state, load_state
from models import audit, clock, workcalendar
from models.org import User
from models.process import HumanTask, InstanceEvent, ProcessInstance

log = logging.getLogger(__name__)
MAX_ENGINE_STEPS = 500  # guard for trap 6: gateway loops stop silently past ~250 rounds


def _script_engine(session: Session, instance: ProcessInstance, actor_id: int | None) -> SandboxScriptEngine:
    ctx = connectors.ConnectorContext(session=session, instance=instance, actor_id=actor_id)
    return SandboxScriptEngine(connector_caller=lambda _task, name, params: connectors.call(ctx, name, params))


def start_instance(
    session: Session, key: str, *, actor: User, data: dict[str, Any], title: str = "",
    subject_type: str | None = None, subject_id: int | None = None,
    sector_id: int | None = None, department_id: int | None = None, business_key: str | None = None,
) -> ProcessInstance:
    definition = definitions.latest_definition(session, key, sector_id=sector_id)
    spec, subs = definitions.parsed_spec(definition)
    instance = ProcessInstance(
        definition=definition, process_key=key, status="running", state="", title=title[:300],
        subject_type=subject_type, subject_id=subject_id, sector_id=sector_id, department_id=department_id,
        business_key=business_key, started_by=actor.id, started_at=clock.now(),
    )
    session.add(instance)
    workflow = BpmnWorkflow(spec, subs, script_engine=_script_engine(session, instance, actor.id))
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    _event(session, instance, actor.id, "started")
    _advance(session, instance, workflow, actor.id)
    audit.record(session, actor_id=actor.id, action="process.start", entity_type="process_instance",
                 entity_id=instance.id, sector_id=sector_id,
                 after={"key": key, "version": definition.version, "subject": f"{subject_type}:{subject_id}"})
    return instance


def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    """Row lock (PostgreSQL FOR UPDATE; SQLite's BEGIN IMMEDIATE already holds the write lock)."""
    instance = session.scalar(
        select(ProcessInstance).where(ProcessInstance.id == instance_id)
        .with_for_update(of=ProcessInstance).execution_options(populate_existing=True)
    )
    if instance is None:
        raise NotFound(f"process instance {instance_id} not found")
    return instance


def load_task_for_update(session: Session, task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """Lock the task's instance, then read the task as it is under the lock (one row each)."""
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    if instance_id is None:
        raise NotFound(f"task {task_id} not found")
    instance = lock_instance(session, instance_id)
    # Re-read under the lock: another request may have completed the task meanwhile.
    task = session.scalar(select(HumanTask).where(HumanTask.id == task_id)
                          .options(lazyload(HumanTask.instance)).execution_options(populate_existing=True))
    return task, instance


def complete_task(session: Session, task_id: int, user: User, data: Any, comment: str | None = None) -> HumanTask:
    task, instance = load_task_for_update(session, task_id)
    _visible_or_404(user, task)
    if task.status != "open":
        raise Conflict(f"task {task_id} is no longer open ({task.status})")
    if task.kind == "resubmit":
        raise Conflict(f"task {task_id} was sent back to the submitter: resubmit or withdraw it")
    if not assignment.may_act(user, task):
        raise Forbidden(f"you may not act on task {task_id}")
    acting_for = assignment.acting_for(user, task)
    if task.form == form_builder.CUSTOM:  # fields defined in the diagram
        values = form_builder.load(custom_form(instance.definition, task.bpmn_id), data)
    else:
        values = forms.load_form(task.form, data)
    forms.check_form(session, task, values)
    if comment is not None:
        values["comment"] = comment
    workflow = _load(session, instance, user.id)
    spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None or spiff_task.state != TaskState.READY:
        raise Conflict(f"task {task_id} is no longer ready in the process")
    decision = values.get("decision")
    spiff_task.set_data(**values, **{f"{task.bpmn_id}_decision": decision, f"{task.bpmn_id}_by": user.username})
    _run(spiff_task.run, spiff_task.task_spec.bpmn_id)
    if task.assignee_id is None:
        task.assignee_id = user.id
    task.status, task.completed_at, task.completed_by = "completed", clock.now(), user.id
    task.decision, task.comment = decision, values.get("comment")
    _event(session, instance, user.id, "task_completed", task, decision=decision, comment=task.comment,
           acting_for=acting_for)
    audit.record(session, actor_id=user.id, action="task.complete", entity_type="human_task", entity_id=task.id,
                 sector_id=task.sector_id, after={"decision": decision, "comment": task.comment,
                                                  "acting_for": acting_for})
    _advance(session, instance, workflow, user.id)
    return task


def custom_form(definition, bpmn_id: str) -> form_builder.CustomForm:
    """The form a user task with form "custom" defines in its process version (checked at deploy)."""
    spec, subs = definitions.parsed_spec(definition)
    form = form_builder.from_spec(spec, subs, bpmn_id)
    if form is None:
        raise ProcessError(f"{bpmn_id}: the task has no custom form in process version {definition.version}")
    return form


def _visible_or_404(user: User, task: HumanTask) -> None:
    if not assignment.may_see(user, task) and not assignment.is_candidate(user, task):
        raise NotFound(f"task {task.id} not found")


def claim_task(session: Session, task_id: int, user: User) -> HumanTask:
    task, instance = load_task_for_update(session, task_id)
    _visible_or_404(user, task)
    if task.status != "open":
        raise Conflict(f"task {task_id} is no longer open ({task.status})")
    if task.assignee_id == user.id:
        return task
    if task.kind == "resubmit":
        raise Conflict(f"task {task_id} was sent back to the submitter")
    if not assignment.is_candidate(user, task):
        raise Forbidden(f"task {task_id} is not in one of your roles")
    if task.assignee_id is not None:
        raise Conflict(f"task {task_id} is already claimed")
    task.assignee_id = user.id
    _bump(session, instance)
    _event(session, instance, user.id, "claimed", task)
    audit.record(session, actor_id=user.id, action="task.claim", entity_type="human_task", entity_id=task.id,
                 sector_id=task.sector_id, after={"assignee_id": user.id})
    return task


def release_task(session: Session, task_id: int, user: User) -> HumanTask:
    task, instance = load_task_for_update(session, task_id)
    _visible_or_404(user, task)
    if task.status != "open":
        raise Conflict(f"task {task_id} is no longer open ({task.status})")
    if task.assignee_id != user.id:
        raise Forbidden("only the user who claimed a task can release it")
    task.assignee_id = None
    _bump(session, instance)
    _event(session, instance, user.id, "released", task)
    audit.record(session, actor_id=user.id, action="task.release", entity_type="human_task", entity_id=task.id,
                 sector_id=task.sector_id, before={"assignee_id": user.id}, after={"assignee_id": None})
    return task


def _bump(session: Session, instance: ProcessInstance) -> None:
    """Claim/release change no workflow state but must still serialize with completions."""
    flag_modified(instance, "state")  # forces the UPDATE, and with it the version check and bump
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(f"process instance {instance.id} was changed by someone else; reload and retry") from exc


def _load(session: Session, instance: ProcessInstance, actor_id: int | None) -> BpmnWorkflow:
    spec, subs = definitions.parsed_spec(instance.definition)
    workflow = load_state(instance.state, spec, subs)
    workflow.script_engine = _script_engine(session, instance, actor_id)
    return workflow


def _run(step, element: str) -> None:
    try:
        step()
    except EngineError:
        raise
    except (connectors.ConnectorError, SpiffWorkflowException) as exc:
        raise ProcessError(f"{element}: {exc}") from exc
    except Exception as exc:
        # Some SpiffWorkflow paths (process-level conditions, message correlations) call the
        # sandbox directly, so its refusals and data errors arrive here unwrapped.
        log.warning("process step failed in %s", element, exc_info=True)
        raise ProcessError(f"{element}: {type(exc).__name__}: {exc}") from exc


def _advance(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, actor_id: int | None) -> None:
    _run(partial(_engine_steps, workflow), instance.process_key)
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if workflow.is_completed() and ready:  # trap 6: the iterator gave up, the process did not finish
        raise ProcessError(f"{instance.process_key}: too many steps in one go (a loop in the diagram?)")
    _sync_tasks(session, instance, ready, actor_id)
    try:
        instance.state = dump_state(workflow)
    except (TypeError, ValueError, RecursionError) as exc:  # a script left data that is not JSON
        raise ProcessError(f"{instance.process_key}: task data cannot be saved: {exc}") from exc
    instance.next_timer_at = _next_timer(workflow)
    if workflow.is_completed():
        instance.status, instance.ended_at = "completed", clock.now()
        _event(session, instance, actor_id, "completed")
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(f"process instance {instance.id} was changed by someone else; reload and retry") from exc


def _engine_steps(workflow: BpmnWorkflow) -> None:
    for _ in range(MAX_ENGINE_STEPS):
        if not workflow.get_tasks(state=TaskState.READY, manual=False):
            return
        workflow.do_engine_steps()
    raise ProcessError("too many engine steps (a loop in the diagram?)")


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    deadlines = []
    for event in workflow.waiting_events():
        if event.event_type in timers.TIMER_EVENT_TYPES and isinstance(event.value, str):
            try:
                # naive UTC like the column; a deadline written with an offset (+08:00) is converted
                deadlines.append(timers.deadline_utc(event.value))
            except ValueError:
                continue
    return min(deadlines) if deadlines else None


def _sync_tasks(session: Session, instance: ProcessInstance, ready: list, actor_id: int | None) -> None:
    """Open a row for each newly READY manual task; cancel rows whose task left READY without us."""
    open_rows = {} if instance.id is None else {t.spiff_task_id: t for t in session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        .options(lazyload(HumanTask.instance)))}
    ready_ids = {str(t.id) for t in ready}
    for spiff_id, row in open_rows.items():
        if spiff_id not in ready_ids:
            row.status = "cancelled"
            _event(session, instance, actor_id, "task_cancelled", row)
    for spiff_task in ready:
        if str(spiff_task.id) in open_rows:
            continue
        spec = spiff_task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        now = clock.now()
        row = HumanTask(
            instance=instance, spiff_task_id=str(spiff_task.id), bpmn_id=spec.bpmn_id,
            name=spec.bpmn_name or spec.bpmn_id, form=props.get("form", "approval"),
            role_code=assignment.lane_role(spec.lane), sector_id=instance.sector_id,
            department_id=instance.department_id, status="open", created_at=now,
            assignee_id=_explicit_assignee(spiff_task, props), due_at=_due_at(session, props, now),
            escalate_to=(props.get("escalate_to") or None),
        )
        row.remind_at = _remind_at(props, row.due_at)
        session.add(row)
        _event(session, instance, actor_id, "task_created", row)


def _explicit_assignee(spiff_task, props: dict) -> int | None:
    """A task may name its assignee: property `assignee` = the task-data variable holding a user id
    (lead routing's routed rep, a multi-instance implementer)."""
    variable = props.get("assignee")
    if not variable:
        return None
    value = spiff_task.data.get(variable)
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return None


def _due_at(session: Session, props: dict, now: datetime) -> datetime | None:
    """Property `due_days` = working days (Chinese calendar with holidays and make-up workdays)."""
    due_days = str(props.get("due_days") or "")
    if not due_days.isdigit():
        return None
    return workcalendar.add_working_days(session, now, int(due_days))


def _remind_at(props: dict, due_at: datetime | None) -> datetime | None:
    """Property `remind_hours` = remind this many hours before the due date (else the sector's setting)."""
    hours = str(props.get("remind_hours") or "")
    if due_at is None or not hours.isdigit() or int(hours) > 24 * 365:
        return None
    return due_at - timedelta(hours=int(hours))


def _event(session: Session, instance: ProcessInstance, actor_id: int | None, kind: str,
           task: HumanTask | None = None, decision: str | None = None, comment: str | None = None,
           acting_for: int | None = None) -> None:
    session.add(InstanceEvent(
        instance=instance, at=clock.now(), actor_id=actor_id, kind=kind,
        task=task, bpmn_id=task.bpmn_id if task else None,
        task_name=task.name if task else None, decision=decision, comment=comment, acting_for_id=acting_for,
    ))
