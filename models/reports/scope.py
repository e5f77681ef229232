"""Who sees which figures (O3, O4 applied to reports): a `ReportScope` is one of the scopes a user may pick.

- a sales rep / channel rep: himself (`me`);
- a department manager or assistant: each department he manages (`department:<id>`);
- a sector-wide role (sector head, sales management, president…): his sector (`sector:<id>`) and its departments;
- group management: the whole group (`group`), every sector and every department.

A scope the user may not pick answers 404 (as records do), a malformed one 422. Every report query restricts
its rows with `ReportScope` filters, so the sector filter is always applied.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import Session

from models import access
from models.errors import DomainError
from models.org import Department, Sector, User, UserRole

REP_ROLES = frozenset({"sales_rep", "channel_rep"})
AGENT_ROLES = frozenset({"channel_rep"})  # agents' salespeople are ranked separately (P1)
LEVELS = ("me", "department", "sector", "group")
_KEY = re.compile(r"^(me|group|department:[1-9][0-9]{0,9}|sector:[1-9][0-9]{0,9})$")


class ReportError(DomainError):
    """A refused report request: `status` 403/404/422 and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


@dataclass(frozen=True)
class ReportScope:
    level: str                            # me | department | sector | group
    key: str                              # me | department:3 | sector:1 | group
    label: str                            # 张伟 / 华北销售一部 / 软件版块 / 集团
    sector_ids: tuple[int, ...] | None    # None: every sector (group)
    department_ids: tuple[int, ...] | None = None
    user_id: int | None = None

    # ---- SQL restrictions ------------------------------------------------------------------------------------
    def sector_clause(self, sector_col) -> ColumnElement[bool]:
        return true() if self.sector_ids is None else sector_col.in_(self.sector_ids)

    def people_clause(self, owner_col, sector_col) -> ColumnElement[bool]:
        """Rows owned by the people of the scope (a rep's figures, a department's reps, a sector, the group)."""
        clause = self.sector_clause(sector_col)
        if self.user_id is not None:
            return and_(clause, owner_col == self.user_id)
        if self.department_ids is not None:
            return and_(clause, owner_col.in_(select(User.id).where(User.department_id.in_(self.department_ids))))
        return clause

    def record_clause(self, department_col, sector_col, owner_col) -> ColumnElement[bool]:
        """Rows that belong to the scope by the record's own department (contracts, collections)."""
        clause = self.sector_clause(sector_col)
        if self.user_id is not None:
            return and_(clause, owner_col == self.user_id)
        if self.department_ids is not None:
            return and_(clause, department_col.in_(self.department_ids))
        return clause

    def user_clause(self) -> ColumnElement[bool]:
        """The users of the scope (for per-person tables)."""
        if self.user_id is not None:
            return User.id == self.user_id
        clause = self.sector_clause(User.sector_id)
        if self.department_ids is not None:
            clause = and_(clause, User.department_id.in_(self.department_ids))
        return clause

    def as_dict(self) -> dict:
        return {"key": self.key, "level": self.level, "label": self.label,
                "sector_ids": list(self.sector_ids) if self.sector_ids is not None else None}


def _sector_scope(sector: Sector) -> ReportScope:
    return ReportScope("sector", f"sector:{sector.id}", sector.name, (sector.id,))


def _department_scope(dept: Department) -> ReportScope:
    return ReportScope("department", f"department:{dept.id}", dept.name, (dept.sector_id,), (dept.id,))


def scopes_for(session: Session, user: User, locale: str = "zh") -> list[ReportScope]:
    """The scopes the user may pick, widest first (the first is the default)."""
    if not user.is_active:
        return []
    out: list[ReportScope] = []
    if access.sees_all_sectors(user):
        out.append(ReportScope("group", "group", "集团" if locale == "zh" else "Group", None))
        out += [_sector_scope(s) for s in session.scalars(select(Sector).order_by(Sector.id))]
        out += [_department_scope(d) for d in session.scalars(select(Department).order_by(Department.sector_id,
                                                                                          Department.id))]
        return out
    if user.sector_id is not None and access.sees_whole_sector(user):
        sector = session.get(Sector, user.sector_id)
        if sector is not None:
            out.append(_sector_scope(sector))
        out += [_department_scope(d) for d in session.scalars(
            select(Department).where(Department.sector_id == user.sector_id).order_by(Department.id))]
    else:
        managed = [d for d in access.managed_departments(user)]
        if managed and user.sector_id is not None:
            out += [_department_scope(d) for d in session.scalars(select(Department).where(
                Department.id.in_(managed), Department.sector_id == user.sector_id).order_by(Department.id))]
    if user.role_codes & REP_ROLES and user.sector_id is not None:
        out.append(ReportScope("me", "me", user.display_name, (user.sector_id,), None, user.id))
    return out


def resolve(session: Session, user: User, key: str | None, locale: str = "zh") -> ReportScope:
    """The scope named by `key` (default: the widest the user has); 403 without any, 404 one he may not pick."""
    scopes = scopes_for(session, user, locale)
    if not scopes:
        raise ReportError(403, "you have no reports: reports are for sales staff and their managers")
    if key in (None, ""):
        return scopes[0]
    if not isinstance(key, str) or not _KEY.match(key):
        raise ReportError(422, "one of: me, group, department:<id>, sector:<id>", "scope")
    for scope in scopes:
        if scope.key == key:
            return scope
    raise ReportError(404, "no such scope among yours", "scope")


def is_agent_clause():
    """SQL: the user is an agent's salesperson (ranked separately, P1)."""
    return select(UserRole.id).where(UserRole.user_id == User.id, UserRole.role_code.in_(AGENT_ROLES)).exists()


# ---- months ------------------------------------------------------------------------------------------------------
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


def parse_month(value: str | None, today: date) -> date:
    """`YYYY-MM` (default: this month) -> the month's first day; 422 naming `month` otherwise."""
    if value in (None, ""):
        return today.replace(day=1)
    match = _MONTH.match(value) if isinstance(value, str) else None
    if not match or not (2000 <= int(match[1]) <= 2100) or not (1 <= int(match[2]) <= 12):
        raise ReportError(422, "a month as YYYY-MM between 2000-01 and 2100-12", "month")
    return date(int(match[1]), int(match[2]), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


# Months are Beijing-time months (the group works in UTC+8); timestamps are stored as naive UTC.
LOCAL_OFFSET = timedelta(hours=8)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month as a naive-UTC half-open range [start, end) of Beijing-time midnights."""
    start = datetime(month.year, month.month, 1) - LOCAL_OFFSET
    return start, datetime.combine(next_month(month), datetime.min.time()) - LOCAL_OFFSET


def local_today(now: datetime) -> date:
    """Today's date in Beijing time for a naive-UTC `now`."""
    return (now + LOCAL_OFFSET).date()
