"""Who may act on a human task: lane → role → org scope, resolved when the inbox is read.

A task carries its role code and the instance's sector and department. A user is a candidate when
he holds that role in the task's department, in its whole sector, or group-wide. Because this is
evaluated at read time, an org change (a new manager) reaches tasks that are already open.
"""
from __future__ import annotations

import re

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from models.org import User
from models.process import HumanTask

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


def candidate_filter(user: User) -> ColumnElement[bool]:
    """SQL condition: unassigned open tasks that `user` may claim. Uses ix_human_task_claimable."""
    clauses = []
    for grant in user.grants:
        roles = _task_roles_for(grant.role_code)
        scope = [HumanTask.role_code == roles[0] if len(roles) == 1 else HumanTask.role_code.in_(roles)]
        if grant.department_id is not None:
            scope.append(HumanTask.department_id == grant.department_id)
        elif grant.sector_id is not None:
            scope.append(HumanTask.sector_id == grant.sector_id)
        clauses.append(and_(*scope))
    if not clauses:
        return false()
    return and_(HumanTask.status == "open", HumanTask.assignee_id.is_(None), or_(*clauses))


def is_candidate(user: User, task: HumanTask) -> bool:
    for grant in user.grants:
        if task.role_code not in _task_roles_for(grant.role_code):
            continue
        if grant.department_id is not None:
            if grant.department_id == task.department_id:
                return True
        elif grant.sector_id is not None:
            if grant.sector_id == task.sector_id:
                return True
        else:
            return True
    return False


def may_act(user: User, task: HumanTask) -> bool:
    if not user.is_active:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return is_candidate(user, task)


def may_see(user: User, task: HumanTask) -> bool:
    return may_act(user, task) or task.completed_by == user.id or task.instance.started_by == user.id
