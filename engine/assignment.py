"""Who may act on a human task: lane → role → org scope, resolved when the inbox is read.

A task carries its role code and the instance's sector and department. A user is a candidate when
he holds that role in the task's department, in its whole sector, or group-wide. Because this is
evaluated at read time, an org change (a new manager) reaches tasks that are already open.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import g, has_app_context
from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import aliased, object_session
from sqlalchemy.sql.elements import ColumnElement

from models import clock
from models.org import User, UserRole
from models.process import HumanTask, ProcessInstance
from models.task_extras import Delegation

# O4 "an assistant acts for his manager", read the other way round for the steps the policy gives to
# "the department manager OR the assistant" (E2 new-customer review, F2 closure confirmation): such a
# step sits in the assistant's lane, and the manager of the same department may act on it too. A task
# in the manager's own lane (Q1 quote approval, K1 contracts) stays the manager's.
# task role -> roles whose holders (in the same scope) are candidates as well
ROLE_ALSO: dict[str, tuple[str, ...]] = {"dept_assistant": ("dept_manager",)}


def _task_roles_for(grant_role: str) -> list[str]:
    """The task roles a grant of `grant_role` makes one a candidate for."""
    return [grant_role, *(task_role for task_role, also in ROLE_ALSO.items() if grant_role in also)]


_LANE_CODE = re.compile(r"^(?:.*[(（]\s*)?([a-z][a-z0-9_]*)\s*[)）]?\s*$")


def lane_role(lane_name: str | None) -> str | None:
    """The role code of a lane: 'dept_manager' or '部门经理 (dept_manager)' (a label users can read)."""
    if not lane_name:
        return None
    match = _LANE_CODE.match(lane_name.strip())
    return match.group(1) if match else lane_name.strip()


@dataclass(frozen=True)
class Delegated:
    """What a user holds for others today (委托 while they are on leave): their ids and their grants."""

    delegator_ids: tuple[int, ...] = ()
    grants: tuple[tuple[UserRole, int], ...] = field(default=())  # (the delegator's grant, delegator id)


NO_DELEGATION = Delegated()


def delegated(user: User) -> Delegated:
    """Active delegations to `user` today: ONE query, cached for the request (flask.g)."""
    session = object_session(user)
    if session is None or user.id is None:
        return NO_DELEGATION
    today = clock.now().date()
    cache = g.setdefault("_delegated", {}) if has_app_context() else {}
    key = (user.id, today)
    if key in cache:
        return cache[key]
    rows = session.execute(
        select(Delegation.delegator_id, UserRole)
        .join(User, User.id == Delegation.delegator_id)
        .outerjoin(UserRole, UserRole.user_id == Delegation.delegator_id)
        .where(Delegation.delegate_id == user.id, Delegation.active.is_(True),
               Delegation.starts_on <= today, Delegation.ends_on >= today,
               User.status == "active")).all()  # O5: a frozen or closed account acts through no one
    result = Delegated(tuple(sorted({d for d, _ in rows})), tuple((r, d) for d, r in rows if r is not None))
    cache[key] = result
    return result


def forget_delegations() -> None:
    """After a delegation changes within a request."""
    if has_app_context():
        g.pop("_delegated", None)


def _grant_scope(grant: UserRole) -> ColumnElement[bool]:
    roles = _task_roles_for(grant.role_code)
    scope = [HumanTask.role_code == roles[0] if len(roles) == 1 else HumanTask.role_code.in_(roles)]
    if grant.department_id is not None:
        scope.append(HumanTask.department_id == grant.department_id)
    elif grant.sector_id is not None:
        scope.append(HumanTask.sector_id == grant.sector_id)
    return and_(*scope)


def not_started_by(user: User) -> ColumnElement[bool]:
    """A delegate never acts on a process he started himself (no approving one's own request)."""
    started = aliased(ProcessInstance)
    return ~exists().where(started.id == HumanTask.instance_id, started.started_by == user.id)


def manages_department(user: User, department_id: int | None) -> bool:
    """He holds the department-manager role over this department (or sector/group-wide). Diagrams read it as
    `by_manager` so that "the department manager decides" never means he decides his own request."""
    return any(g.role_code == "dept_manager" and g.department_id in (department_id, None) for g in user.grants)


def candidate_filter(user: User) -> ColumnElement[bool]:
    """SQL condition: unassigned open tasks that `user` may claim, in his own roles or in those of the users
    he stands in for today (delegation). Uses ix_human_task_claimable."""
    clauses = [_grant_scope(grant) for grant in user.grants]
    if clauses:  # a "manager OR assistant" step of his own request is the other one's (nobody decides his own)
        clauses = [and_(or_(*clauses), or_(HumanTask.role_code.not_in(tuple(ROLE_ALSO)), not_started_by(user)))]
    held = delegated(user)
    if held.grants:
        clauses.append(and_(or_(*(_grant_scope(grant) for grant, _ in held.grants)), not_started_by(user)))
    if not clauses:
        return false()
    return and_(HumanTask.status == "open", HumanTask.assignee_id.is_(None), or_(*clauses))


def assigned_filter(user: User) -> ColumnElement[bool]:
    """SQL condition: open tasks assigned to `user`, or to a user he stands in for today."""
    own = and_(HumanTask.status == "open", HumanTask.assignee_id == user.id)
    held = delegated(user)
    if not held.delegator_ids:
        return own
    return or_(own, and_(HumanTask.status == "open", HumanTask.assignee_id.in_(held.delegator_ids),
                         not_started_by(user)))


def _grant_covers(grant: UserRole, task: HumanTask) -> bool:
    if task.role_code not in _task_roles_for(grant.role_code):
        return False
    if grant.department_id is not None:
        return grant.department_id == task.department_id
    if grant.sector_id is not None:
        return grant.sector_id == task.sector_id
    return True


def _own_instance(user: User, task: HumanTask) -> bool:
    return task.instance is not None and task.instance.started_by == user.id


def is_candidate(user: User, task: HumanTask) -> bool:
    if any(_grant_covers(grant, task) for grant in user.grants) and not (
            task.role_code in ROLE_ALSO and _own_instance(user, task)):
        return True
    return acting_for(user, task) is not None and task.assignee_id is None


def acting_for(user: User, task: HumanTask) -> int | None:
    """The delegator `user` would act for on `task`, when he may act only through a delegation."""
    if task.assignee_id == user.id:
        return None
    if task.assignee_id is None and any(_grant_covers(grant, task) for grant in user.grants):
        return None
    held = delegated(user)
    if not held.delegator_ids or _own_instance(user, task):
        return None
    if task.assignee_id is not None:
        return task.assignee_id if task.assignee_id in held.delegator_ids else None
    return next((d for grant, d in held.grants if _grant_covers(grant, task)), None)


def may_act(user: User, task: HumanTask) -> bool:
    if not user.is_active:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id or acting_for(user, task) is not None
    return is_candidate(user, task)


def candidate_user_ids(task: HumanTask) -> ColumnElement:
    """SQL: ids of the active users who hold the task's role in its scope (for urges and transfers)."""
    grant_roles = [task.role_code, *ROLE_ALSO.get(task.role_code or "", ())]
    scope = [and_(UserRole.department_id.is_(None), UserRole.sector_id.is_(None))]
    if task.department_id is not None:
        scope.append(UserRole.department_id == task.department_id)
    if task.sector_id is not None:
        scope.append(and_(UserRole.department_id.is_(None), UserRole.sector_id == task.sector_id))
    return (select(UserRole.user_id).join(User, User.id == UserRole.user_id)
            .where(UserRole.role_code.in_(grant_roles), or_(*scope), User.status == "active"))


def may_see(user: User, task: HumanTask) -> bool:
    return may_act(user, task) or task.completed_by == user.id or task.instance.started_by == user.id
