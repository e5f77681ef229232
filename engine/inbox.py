"""Inbox queries: indexed SQL over human-task rows; nothing here deserializes a workflow."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased, defer, lazyload

from engine import subjects
from engine.assignment import assigned_filter, candidate_filter, delegated, may_see
from models import access
from models.crm import ConflictCase, Customer, Quote
from models.org import User
from models.process import HumanTask, InstanceEvent, ProcessInstance
from models.task_extras import InstanceCopy

Starter = aliased(User)
Assignee = aliased(User)


@dataclass
class TaskRow:
    task: HumanTask
    instance: ProcessInstance
    requester: str | None
    assignee: str | None


def _task_rows(stmt: Select, session: Session) -> list[TaskRow]:
    stmt = (stmt.add_columns(ProcessInstance, Starter.display_name, Assignee.display_name)
            .options(lazyload(HumanTask.instance), defer(ProcessInstance.state))
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .outerjoin(Starter, Starter.id == ProcessInstance.started_by)
            .outerjoin(Assignee, Assignee.id == HumanTask.assignee_id))
    return [TaskRow(t, i, r, a) for t, i, r, a in session.execute(stmt)]


def open_for_user(user: User):
    """Tasks `user` can act on now: assigned to him, or unclaimed in one of his role scopes (his own or, while
    he stands in for someone on leave, that person's)."""
    return or_(assigned_filter(user), candidate_filter(user))


def tasks(session: Session, user: User, scope: str, *, limit: int = 50, offset: int = 0) -> list[TaskRow]:
    if scope == "claimable":
        cond = candidate_filter(user)
    elif scope == "done":
        cond = HumanTask.completed_by == user.id
    elif scope == "copied":  # the steps of the processes copied to him (抄送我的)
        cond = HumanTask.instance_id.in_(select(InstanceCopy.instance_id).where(InstanceCopy.user_id == user.id))
    else:
        cond = open_for_user(user)
    order = (HumanTask.completed_at.desc(),) if scope == "done" else (HumanTask.id.desc(),) if scope == "copied" else (
        HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
    stmt = select(HumanTask).where(cond).order_by(*order, HumanTask.id).limit(limit).offset(offset)
    return _task_rows(stmt, session)


@dataclass
class CopyRow:
    copy: InstanceCopy
    instance: ProcessInstance
    copied_by: str | None
    requester: str | None


def copied_to(session: Session, user: User, *, limit: int = 50, offset: int = 0) -> list[CopyRow]:
    """Processes copied to `user` (抄送我的), newest first."""
    copier = aliased(User)
    stmt = (select(InstanceCopy, ProcessInstance, copier.display_name, Starter.display_name)
            .join(ProcessInstance, ProcessInstance.id == InstanceCopy.instance_id)
            .outerjoin(copier, copier.id == InstanceCopy.copied_by)
            .outerjoin(Starter, Starter.id == ProcessInstance.started_by)
            .options(defer(ProcessInstance.state))
            .where(InstanceCopy.user_id == user.id)
            .order_by(InstanceCopy.copied_at.desc(), InstanceCopy.id.desc()).limit(limit).offset(offset))
    return [CopyRow(c, i, b, r) for c, i, b, r in session.execute(stmt)]


def started_by(session: Session, user: User, *, limit: int = 50, offset: int = 0) -> list[ProcessInstance]:
    return list(session.scalars(
        select(ProcessInstance).where(ProcessInstance.started_by == user.id)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(limit).offset(offset)))


def task_row(session: Session, task_id: int) -> TaskRow | None:
    rows = _task_rows(select(HumanTask).where(HumanTask.id == task_id), session)
    return rows[0] if rows else None


def open_tasks_of(session: Session, instance_id: int) -> list[TaskRow]:
    return _task_rows(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open"),
                      session)


@dataclass
class HistoryRow:
    event: InstanceEvent
    actor: str | None
    acting_for: str | None = None  # shown as "actor（代 acting_for）"


def history(session: Session, instance_id: int) -> list[HistoryRow]:
    principal = aliased(User)
    stmt = (select(InstanceEvent, User.display_name, principal.display_name)
            .outerjoin(User, User.id == InstanceEvent.actor_id)
            .outerjoin(principal, principal.id == InstanceEvent.acting_for_id)
            .where(InstanceEvent.instance_id == instance_id).order_by(InstanceEvent.id))
    return [HistoryRow(e, a, p) for e, a, p in session.execute(stmt)]


def may_view_instance(session: Session, user: User, instance: ProcessInstance) -> bool:
    """Starter, anyone who acted or may act on one of its tasks (himself or standing in for someone on leave),
    whom it was copied to (抄送), or who may see its subject record."""
    if not user.is_active:
        return False
    if instance.started_by == user.id:
        return True
    assignees = [user.id, *delegated(user).delegator_ids]
    involved = session.scalar(select(exists().where(
        HumanTask.instance_id == instance.id,
        or_(HumanTask.completed_by == user.id, HumanTask.assignee_id.in_(assignees), candidate_filter(user)))))
    if involved:
        return True
    if session.scalar(select(exists().where(InstanceCopy.instance_id == instance.id,
                                            InstanceCopy.user_id == user.id))):
        return True
    subject = subjects.get(instance.subject_type)
    if subject is None or instance.subject_id is None:
        return False
    return bool(session.scalar(select(exists().where(subject.visible(user, instance.subject_id)))))


def _conflict_party(user: User, case_id: int):
    return and_(ConflictCase.id == case_id, or_(ConflictCase.owner_id == user.id, ConflictCase.claimant_id == user.id,
                                                ConflictCase.opened_by == user.id))


subjects.register("quote", subjects.Subject(lambda user, sid: and_(Quote.id == sid, access.quote_filter(user))))
subjects.register("customer", subjects.Subject(
    lambda user, sid: and_(Customer.id == sid, access.customer_filter(user))))
subjects.register("conflict_case", subjects.Subject(_conflict_party))


def visible_task(session: Session, user: User, task_id: int) -> HumanTask | None:
    task = session.get(HumanTask, task_id)
    if task is None:
        return None
    if may_see(user, task) or may_view_instance(session, user, task.instance):
        return task
    return None
