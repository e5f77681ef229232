"""The job "task-deadlines": due dates of human tasks (set in working days from the `due_days` property).

- Reminder: an open task whose `due_at` falls within the setting `task.remind_hours_before` (per sector)
  and is not past yet → one notification to whoever can act on it (its assignee, or the holders of its
  role in its scope while nobody has claimed it, and their delegates of the day). Once: `reminded_at` is
  set by a conditional UPDATE.
- Escalation: an open task past its `due_at` → one notification to the holders of its `escalate_to` role
  in the task's scope (the department manager when the task names no role or nobody holds that role
  there), and to the assignee (or, while unclaimed, to whoever can act). Once: `escalated_at`.

Set-based: one conditional UPDATE ... RETURNING per sector and kind picks the tasks (PostgreSQL re-checks
`reminded_at IS NULL` after waiting for a concurrent worker's row locks; SQLite has one writer), one
query reads the role grants; notifications carry a dedupe key as a second guard.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.assignment import ROLE_ALSO
from engine.jobs import job
from models import audit, settings
from models.base import write_transaction
from models.notifications import notify
from models.org import Sector, User, UserRole
from models.process import HumanTask, InstanceEvent, ProcessInstance
from models.task_extras import Delegation

FALLBACK_ESCALATION_ROLE = "dept_manager"
_COLUMNS = (HumanTask.id, HumanTask.instance_id, HumanTask.name, HumanTask.role_code, HumanTask.sector_id,
            HumanTask.department_id, HumanTask.assignee_id, HumanTask.escalate_to, HumanTask.due_at,
            HumanTask.bpmn_id)


@job("task-deadlines")
def task_deadlines(session: Session, as_of: datetime) -> dict[str, Any]:
    with write_transaction(session):
        reminded = _remind(session, as_of)
        escalated = _escalate(session, as_of)
    return {"reminded": len(reminded), "escalated": len(escalated), "reminded_tasks": reminded,
            "escalated_tasks": escalated, "as_of": as_of.isoformat()}


def _remind(session: Session, as_of: datetime) -> list[int]:
    rows = []
    sector_ids: list[int | None] = [*session.scalars(select(Sector.id).order_by(Sector.id)), None]
    for sector_id in sector_ids:
        hours = float(settings.get(session, "task.remind_hours_before", sector_id))
        in_sector = HumanTask.sector_id.is_(None) if sector_id is None else HumanTask.sector_id == sector_id
        rows += session.execute(
            update(HumanTask)
            .where(in_sector, HumanTask.status == "open", HumanTask.reminded_at.is_(None),
                   HumanTask.due_at.is_not(None), HumanTask.due_at > as_of,
                   # the diagram's own reminder (remind_hours) where it set one, else the sector's setting
                   or_(and_(HumanTask.remind_at.is_not(None), HumanTask.remind_at <= as_of),
                       and_(HumanTask.remind_at.is_(None), HumanTask.due_at <= as_of + timedelta(hours=hours))))
            .values(reminded_at=as_of).returning(*_COLUMNS).execution_options(synchronize_session=False)
        ).all()
    holders = _grants(session, {r for row in rows for r in _task_roles(row.role_code)})
    actors = _actors(session, rows, holders, as_of)
    for row in rows:
        users = actors[row.id]
        notify(session, users, "reminder", f"待办即将到期：{row.name}", link=f"/tasks/{row.id}",
               body=f"截止时间 {row.due_at:%Y-%m-%d %H:%M}", sector_id=row.sector_id,
               dedupe_key=f"task-remind:{row.id}")
        _history(session, row, as_of, "reminded", users)
    return sorted(row.id for row in rows)


def _escalate(session: Session, as_of: datetime) -> list[int]:
    rows = session.execute(
        update(HumanTask)
        .where(HumanTask.status == "open", HumanTask.escalated_at.is_(None), HumanTask.due_at.is_not(None),
               HumanTask.due_at <= as_of)
        .values(escalated_at=as_of).returning(*_COLUMNS).execution_options(synchronize_session=False)
    ).all()
    roles = {FALLBACK_ESCALATION_ROLE} | {r.escalate_to for r in rows if r.escalate_to}
    roles |= {r for row in rows for r in _task_roles(row.role_code)}
    holders = _grants(session, roles)
    actors = _actors(session, rows, holders, as_of)
    for row in rows:
        bosses = _holders(holders, [row.escalate_to], row) if row.escalate_to else []
        if not bosses:
            bosses = _holders(holders, [FALLBACK_ESCALATION_ROLE], row)
        users = sorted(set(bosses) | set(actors[row.id]))
        notify(session, users, "escalation", f"待办已超期：{row.name}", link=f"/tasks/{row.id}",
               body=f"截止时间 {row.due_at:%Y-%m-%d %H:%M}，已超期，请督办", sector_id=row.sector_id,
               dedupe_key=f"task-escalate:{row.id}")
        _history(session, row, as_of, "escalated", users)
        audit.record(session, actor_id=None, action="task.escalate", entity_type="human_task", entity_id=row.id,
                     sector_id=row.sector_id, after={"escalated_to": users, "role": row.escalate_to
                                                     or FALLBACK_ESCALATION_ROLE, "due_at": row.due_at.isoformat()})
    return sorted(row.id for row in rows)


def _actors(session: Session, rows, holders: dict, as_of: datetime) -> dict[int, list[int]]:
    """task id -> whoever can act on it: its assignee, or (unclaimed) the holders of its role in its scope;
    plus their delegates of the day (委托), except a delegate who started the process himself."""
    base = {row.id: [row.assignee_id] if row.assignee_id else _holders(holders, _task_roles(row.role_code), row)
            for row in rows}
    everyone = {u for users in base.values() for u in users}
    if not everyone:
        return base
    day = as_of.date()
    delegates: dict[int, set[int]] = defaultdict(set)
    for delegator_id, delegate_id in session.execute(
            select(Delegation.delegator_id, Delegation.delegate_id)
            .join(User, User.id == Delegation.delegate_id)
            .where(Delegation.delegator_id.in_(sorted(everyone)), Delegation.active.is_(True),
                   Delegation.starts_on <= day, Delegation.ends_on >= day, User.status == "active")):
        delegates[delegator_id].add(delegate_id)
    if not delegates:
        return base
    starters = dict(session.execute(select(ProcessInstance.id, ProcessInstance.started_by).where(
        ProcessInstance.id.in_(sorted({row.instance_id for row in rows})))).all())
    out = {}
    for row in rows:
        extra = {d for u in base[row.id] for d in delegates.get(u, ()) if d != starters.get(row.instance_id)}
        out[row.id] = sorted(set(base[row.id]) | extra)
    return out


def _task_roles(role_code: str | None) -> list[str]:
    """The roles whose holders may act on a task of `role_code` (its own, and ROLE_ALSO's)."""
    if not role_code:
        return []
    return [role_code, *ROLE_ALSO.get(role_code, ())]


def _grants(session: Session, roles: set[str]) -> dict[str, list[tuple[int, int | None, int | None]]]:
    """Active users' grants of these roles: role -> [(user id, sector id, department id)], one query."""
    by_role: dict[str, list[tuple[int, int | None, int | None]]] = defaultdict(list)
    if not roles:
        return by_role
    for user_id, role, sector_id, department_id in session.execute(
            select(UserRole.user_id, UserRole.role_code, UserRole.sector_id, UserRole.department_id)
            .join(User, User.id == UserRole.user_id)
            .where(UserRole.role_code.in_(sorted(roles)), User.status == "active")):
        by_role[role].append((user_id, sector_id, department_id))
    return by_role


def _holders(grants: dict, roles: list[str], task) -> list[int]:
    """Users holding one of `roles` in the task's scope: its department, its sector, or group-wide
    (the same scope rule as engine.assignment.is_candidate)."""
    users = set()
    for role in roles:
        for user_id, sector_id, department_id in grants.get(role, ()):
            if department_id is not None:
                if department_id == task.department_id:
                    users.add(user_id)
            elif sector_id is not None:
                if sector_id == task.sector_id:
                    users.add(user_id)
            else:
                users.add(user_id)
    return sorted(users)


def _history(session: Session, row, at: datetime, kind: str, users: list[int]) -> None:
    session.execute(insert(InstanceEvent).values(
        instance_id=row.instance_id, at=at, actor_id=None, kind=kind, task_id=row.id, bpmn_id=row.bpmn_id,
        task_name=row.name, comment=f"{len(users)} 人已通知" if users else "无人可通知"))
