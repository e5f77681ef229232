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
        scope = [HumanTask.role_code == grant.role_code]
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
        if grant.role_code != task.role_code:
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
