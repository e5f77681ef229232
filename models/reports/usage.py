"""System usage (A3) and login monitoring (U1): who uses the CRM, per person and per department.

- `usage_people` / `usage_departments`: the month's logins, records entered and activities of every active
  user of the scope, read from `monthly.user_month_stats` (a closed month reads its published snapshot);
- `inactive_users`: active users not logged in for `login.alert_days` (per sector) as of now — the same
  rule the `login-watch` job (engine/usage_jobs.py) sends to managers and sales management.

Days without login are Beijing calendar days between the last login (never logged in: the account's
creation) and today; a user is flagged at `days >= login.alert_days`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models import clock, settings
from models.org import Department, Role, Sector, User, UserRole
from models.reports.monthly import user_month_stats
from models.reports.scope import LOCAL_OFFSET, ReportScope, local_today
from models.reports.tables import Chart, Column, ReportTable, report

USAGE = ("logins", "records_entered", "activities")
MANAGER_ROLE = "dept_manager"


# ---- days without login ----------------------------------------------------------------------------------------
def local_date(at: datetime) -> date:
    return (at + LOCAL_OFFSET).date()


def local_text(at: datetime | None) -> str | None:
    return None if at is None else (at + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M")


def days_without_login(last_login_at: datetime | None, created_at: datetime, now: datetime) -> int:
    """Beijing calendar days since the last login (never logged in: since the account was created)."""
    return max((local_today(now) - local_date(last_login_at or created_at)).days, 0)


def _cutoff(now: datetime, days: int) -> datetime:
    """Naive-UTC instant before which a last login is at least `days` Beijing days before today."""
    first_ok = local_today(now) - timedelta(days=days - 1)
    return datetime.combine(first_ok, datetime.min.time()) - LOCAL_OFFSET


def alert_days(session: Session, sector_ids: Iterable[int]) -> dict[int, int]:
    """`login.alert_days` per sector (one settings read per sector; sectors are few)."""
    return {sid: int(settings.get(session, "login.alert_days", sid)) for sid in sector_ids}


def inactive_people(session: Session, now: datetime, *where) -> list[dict[str, Any]]:
    """Active users (with a sector) matching `where` who are at or past their sector's `login.alert_days`:
    one query for all of them."""
    sectors = alert_days(session, session.scalars(select(Sector.id).order_by(Sector.id)))
    if not sectors:
        return []
    seen = func.coalesce(User.last_login_at, User.created_at)
    late = or_(*[and_(User.sector_id == sid, seen < _cutoff(now, days)) for sid, days in sectors.items()])
    rows = session.execute(select(User.id, User.display_name, User.sector_id, User.department_id,
                                  User.last_login_at, User.created_at)
                           .where(User.status == "active", User.sector_id.is_not(None), late, *where)
                           .order_by(User.sector_id, User.department_id, User.id)).all()
    return [{"user_id": r.id, "name": r.display_name, "sector_id": r.sector_id, "department_id": r.department_id,
             "last_login_at": r.last_login_at, "created_at": r.created_at,
             "days": days_without_login(r.last_login_at, r.created_at, now),
             "alert_days": sectors[r.sector_id]} for r in rows]


def department_managers(session: Session, department_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
    """Active department managers by department: {department_id: [(user_id, name)]}, one query."""
    ids = sorted({d for d in department_ids if d is not None})
    out: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if not ids:
        return out
    rows = session.execute(select(UserRole.department_id, User.id, User.display_name)
                           .join(User, User.id == UserRole.user_id)
                           .where(UserRole.role_code == MANAGER_ROLE, UserRole.department_id.in_(ids),
                                  User.status == "active")
                           .order_by(UserRole.department_id, User.id)).all()
    for dept, uid, name in rows:
        if (uid, name) not in out[dept]:
            out[dept].append((uid, name))
    return out


# ---- names -------------------------------------------------------------------------------------------------------
def _names(session: Session, model, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(wanted))).all())


def _no_department(locale: str) -> str:
    return "版块直属（无部门）" if locale == "zh" else "Sector staff (no department)"


def _roles(session: Session, user_ids: list[int], locale: str) -> dict[int, str]:
    if not user_ids:
        return {}
    name = Role.name_zh if locale == "zh" else Role.name_en
    out: dict[int, list[str]] = defaultdict(list)
    for uid, label in session.execute(select(UserRole.user_id, name).join(Role, Role.code == UserRole.role_code)
                                      .where(UserRole.user_id.in_(user_ids))
                                      .order_by(UserRole.user_id, UserRole.id)).all():
        if label not in out[uid]:
            out[uid].append(label)
    return {uid: "、".join(labels) if locale == "zh" else ", ".join(labels) for uid, labels in out.items()}


# ---- usage (A3) --------------------------------------------------------------------------------------------------
def usage_rows(session: Session, scope: ReportScope, month: date) -> tuple[list[dict[str, Any]], bool]:
    """The month's usage per person: active users of the scope, plus anyone no longer active who has figures
    in the month (they were published); with his last login as of now."""
    stats, from_snapshot = user_month_stats(session, scope, month)
    ids = [r["user_id"] for r in stats]
    users = {r.id: r for r in session.execute(
        select(User.id, User.status, User.last_login_at, User.created_at).where(User.id.in_(ids))).all()} if ids \
        else {}
    now = clock.now()
    rows = []
    for stat in stats:
        user = users.get(stat["user_id"])
        if user is None or (user.status != "active" and not any(stat[f] for f in USAGE)):
            continue
        rows.append({**stat, "last_login_at": user.last_login_at, "never_logged_in": user.last_login_at is None,
                     "days_since_login": days_without_login(user.last_login_at, user.created_at, now)})
    return rows, from_snapshot


_SNAPSHOT_NOTE = "已结月份读取月末发布的快照。"
_PEOPLE_NOTE = ("统计本月（北京时间）每人的登录次数（每次成功登录计一次）、录入记录数（本人创建的客户、线索、商机、活动、"
                "报价和合同）和活动数（本月发生的活动）；范围内所有在职账号均列出，已冻结或注销的账号仅在本月有数据时列出。"
                "最近登录与未登录天数按当前时间计算，从未登录的按账号创建日起算。")


@report("usage_people", "使用情况·人员", "Usage by person", page="usage")
def usage_people(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    rows, from_snapshot = usage_rows(session, scope, month)
    depts = _names(session, Department, (r["department_id"] for r in rows))
    sectors = _names(session, Sector, (r["sector_id"] for r in rows)) if scope.level == "group" else {}
    out = [{"name": r["name"], "sector": sectors.get(r["sector_id"]),
            "department": depts.get(r["department_id"]) or _no_department(locale),
            "logins": r["logins"], "records_entered": r["records_entered"], "activities": r["activities"],
            "last_login": local_text(r["last_login_at"]), "days_since_login": r["days_since_login"],
            "user_id": r["user_id"]}
           for r in sorted(rows, key=lambda r: (r["sector_id"], r["department_id"] is None,
                                                r["department_id"] or 0, r["user_id"]))]
    columns = [Column("name", "人员", "Person", "text"), Column("department", "部门", "Department", "text"),
               Column("logins", "登录次数", "Logins"), Column("records_entered", "录入记录数", "Records entered"),
               Column("activities", "活动数", "Activities"),
               Column("last_login", "最近登录", "Last login", "text"),
               Column("days_since_login", "未登录天数", "Days since login")]
    if scope.level == "group":
        columns.insert(1, Column("sector", "版块", "Sector", "text"))
    totals = {f: sum(r[f] for r in rows) for f in USAGE}
    note = _PEOPLE_NOTE + (_SNAPSHOT_NOTE if from_snapshot else "")
    return ReportTable("usage_people", "使用情况·人员" if locale == "zh" else "Usage by person", columns, out,
                       Chart("bar", "name", USAGE), note, from_snapshot, {"totals": totals, "people": len(rows)})


def _average(total: int, people: int) -> Decimal | None:
    return None if people == 0 else (Decimal(total) / people).quantize(Decimal("0.1"), ROUND_HALF_UP)


_DEPT_NOTE = ("按人员当前（已结月份：快照时）所在部门汇总本月的登录次数、录入记录数和活动数，人均 = 合计 ÷ 人数；"
              "人数为范围内在职账号（及本月有数据的已停用账号），登录人数为本月至少登录一次的人数。"
              "版块职能人员（无部门）单列一行。")


@report("usage_departments", "使用情况·部门", "Usage by department", page="usage",
        levels=("department", "sector", "group"))
def usage_departments(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    rows, from_snapshot = usage_rows(session, scope, month)
    groups: dict[tuple[int, int | None], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["sector_id"], r["department_id"])].append(r)
    depts = _names(session, Department, (d for _s, d in groups))
    sectors = _names(session, Sector, (s for s, _d in groups))
    out = []
    for (sector_id, dept_id), people in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] is None,
                                                                              g[0][1] or 0)):
        row: dict[str, Any] = {"sector": sectors.get(sector_id), "department_id": dept_id,
                               "department": depts.get(dept_id) if dept_id else _no_department(locale),
                               "users": len(people), "logged_in": sum(1 for p in people if p["logins"] > 0)}
        row["login_rate"] = round(100 * row["logged_in"] / row["users"], 1) if people else None
        for f in USAGE:
            row[f] = sum(p[f] for p in people)
            row[f"{f}_avg"] = _average(row[f], len(people))
        out.append(row)
    columns = [Column("department", "部门", "Department", "text"), Column("users", "人数", "Users"),
               Column("logged_in", "登录人数", "Logged in"),
               Column("login_rate", "登录率", "Login rate", "percent"),
               Column("logins", "登录次数", "Logins"), Column("logins_avg", "人均登录", "Logins per person", "decimal"),
               Column("records_entered", "录入记录数", "Records entered"),
               Column("records_entered_avg", "人均录入", "Records per person", "decimal"),
               Column("activities", "活动数", "Activities"),
               Column("activities_avg", "人均活动", "Activities per person", "decimal")]
    if scope.level == "group":
        columns.insert(0, Column("sector", "版块", "Sector", "text"))
    note = _DEPT_NOTE + (_SNAPSHOT_NOTE if from_snapshot else "")
    return ReportTable("usage_departments", "使用情况·部门" if locale == "zh" else "Usage by department", columns,
                       out, Chart("bar", "department", USAGE), note, from_snapshot)


# ---- inactive users (U1) -----------------------------------------------------------------------------------------
_INACTIVE_NOTE = ("列出范围内连续未登录达到提醒天数（设置 login.alert_days，按版块，默认 14 天）的在职账号，按当前时间计算，"
                  "与月份无关。未登录天数按北京时间自然日计：今天减去最近一次登录的日期；从未登录的从账号创建日起算。"
                  "冻结或注销的账号不列出。同一名单每天发给其部门经理和本版块销售管理部经理。")


@report("inactive_users", "未登录人员", "Users not logging in", page="logins",
        levels=("department", "sector", "group"))
def inactive_users(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    now = clock.now()
    people = inactive_people(session, now, scope.user_clause())
    depts = _names(session, Department, (p["department_id"] for p in people))
    sectors = _names(session, Sector, (p["sector_id"] for p in people)) if scope.level == "group" else {}
    managers = department_managers(session, (p["department_id"] for p in people))
    roles = _roles(session, [p["user_id"] for p in people], locale)
    sep = "、" if locale == "zh" else ", "
    rows = [{"user_id": p["user_id"], "name": p["name"], "sector": sectors.get(p["sector_id"]),
             "department": depts.get(p["department_id"]) or _no_department(locale),
             "roles": roles.get(p["user_id"], ""), "last_login": local_text(p["last_login_at"]),
             "never_logged_in": p["last_login_at"] is None, "days": p["days"], "alert_days": p["alert_days"],
             "managers": sep.join(name for _id, name in managers.get(p["department_id"], []))}
            for p in sorted(people, key=lambda p: (-p["days"], p["user_id"]))]
    columns = [Column("name", "人员", "Person", "text"), Column("department", "部门", "Department", "text"),
               Column("roles", "角色", "Roles", "text"), Column("last_login", "最近登录", "Last login", "text"),
               Column("never_logged_in", "从未登录", "Never logged in", "bool"),
               Column("days", "未登录天数", "Days without login"),
               Column("alert_days", "提醒天数", "Alert after (days)"),
               Column("managers", "部门经理", "Department managers", "text")]
    if scope.level == "group":
        columns.insert(1, Column("sector", "版块", "Sector", "text"))
    return ReportTable("inactive_users", "未登录人员" if locale == "zh" else "Users not logging in", columns, rows,
                       Chart("bar", "name", ("days",)), _INACTIVE_NOTE, False,
                       {"as_of": now.isoformat(), "count": len(rows)})
