"""Supervision jobs: login monitoring (U1) and the managers' daily digest (U2).

- `login-watch` (daily): users not logged in for `login.alert_days` (per sector) → one notification a day to
  each of their department managers and to their sector's sales management, listing all of his people.
- `manager-digest` (daily, working days only): each department manager gets "部门日报" for the days since
  the previous working day (Beijing time): new customers, leads, opportunities, activities, stage advances,
  contracts signed, collections, overdue tasks of his people, and the reps without any activity.

Set-based: one query for the flagged users, one grouped query per digest figure for all departments at once;
the notifications carry a dedupe key per recipient and day, so a second run (or a second worker) adds none.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.jobs import job
from models.base import write_transaction
from models.notifications import notify
from models.org import Department, User, UserRole
from models.reports.scope import LOCAL_OFFSET, REP_ROLES, local_today
from models.reports.usage import MANAGER_ROLE, department_managers, inactive_people, local_text
from models.workcalendar import is_working_day

SALES_MANAGEMENT = "sales_mgmt_manager"


# ---------------------------------------------------------------------------------------------- U1
def _sales_management(session: Session, sector_ids: set[int]) -> dict[int, list[int]]:
    """Active sales management managers by sector, one query."""
    out: dict[int, list[int]] = defaultdict(list)
    if sector_ids:
        for sid, uid in session.execute(select(UserRole.sector_id, User.id).join(User, User.id == UserRole.user_id)
                                        .where(UserRole.role_code == SALES_MANAGEMENT,
                                               UserRole.sector_id.in_(sorted(sector_ids)),
                                               User.status == "active").distinct()).all():
            out[sid].append(uid)
    return out


@job("login-watch")
def login_watch(session: Session, as_of: datetime) -> dict[str, Any]:
    """U1: who has not logged in for `login.alert_days`, sent to his department managers and sales management."""
    today = local_today(as_of)
    people = inactive_people(session, as_of)
    managers = department_managers(session, (p["department_id"] for p in people))
    sales_mgmt = _sales_management(session, {p["sector_id"] for p in people})
    depts = dict(session.execute(select(Department.id, Department.name)).all()) if people else {}
    lists: dict[int, list[dict[str, Any]]] = defaultdict(list)
    sector_of: dict[int, int] = {}
    for person in people:
        recipients = {uid for uid, _name in managers.get(person["department_id"], [])}
        recipients |= set(sales_mgmt.get(person["sector_id"], []))
        for uid in recipients - {person["user_id"]}:  # nobody is told about himself
            lists[uid].append(person)
            sector_of[uid] = person["sector_id"]
    sent = 0
    with write_transaction(session):
        for uid, flagged in sorted(lists.items()):
            lines = [f"{p['name']}（{depts.get(p['department_id'], '版块直属')}）：连续 {p['days']} 天未登录，"
                     + (f"最近登录 {local_text(p['last_login_at'])}" if p["last_login_at"] else "从未登录")
                     for p in sorted(flagged, key=lambda p: (-p["days"], p["user_id"]))]
            sent += notify(session, [uid], "reminder", f"未登录提醒 {today.isoformat()}：{len(flagged)} 人长期未登录",
                           link="/reports/logins", body="\n".join(lines), sector_id=sector_of[uid],
                           dedupe_key=f"u1:{uid}:{today.isoformat()}")
    return {"as_of": as_of.isoformat(), "day": today.isoformat(), "flagged": len(people),
            "recipients": len(lists), "notified": sent}


# ---------------------------------------------------------------------------------------------- U2
def previous_working_day(session: Session, day: date) -> date:
    """The working day before `day` (the longest holiday is 9 days; a month bounds the search)."""
    for back in range(1, 32):
        candidate = day - timedelta(days=back)
        if is_working_day(session, candidate):
            return candidate
    return day - timedelta(days=1)


def _utc(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) - LOCAL_OFFSET


def digest_figures(session: Session, department_ids: list[int], first: date, end: date, as_of: datetime
                   ) -> dict[int, dict[str, Any]]:
    """Each department's figures for the Beijing days [first, end): one grouped query per figure, by the
    department of the person who owns (or entered) the record."""
    from models.contracts import EFFECTIVE_STATUSES, Contract
    from models.crm import Customer
    from models.process import HumanTask
    from models.receivables import Collection
    from models.reports.records import OpportunityStageChange
    from models.sales import Activity, Lead, Opportunity

    start, stop = _utc(first), _utc(end)
    dept = User.department_id
    in_depts = dept.in_(department_ids)

    def grouped(entity, person_col, value, *where) -> dict[int, Any]:
        return dict(session.execute(select(dept, value).select_from(entity).join(User, User.id == person_col)
                                    .where(in_depts, *where).group_by(dept)).all())

    count = func.count()
    contracts = (Contract.status.in_(EFFECTIVE_STATUSES), Contract.signed_on >= first, Contract.signed_on < end)
    figures = {
        "customers": grouped(Customer, Customer.created_by, count,
                             Customer.created_at >= start, Customer.created_at < stop),
        "leads": grouped(Lead, Lead.created_by, count, Lead.created_at >= start, Lead.created_at < stop),
        "opportunities": grouped(Opportunity, Opportunity.owner_id, count,
                                 Opportunity.created_at >= start, Opportunity.created_at < stop),
        "activities": grouped(Activity, Activity.owner_id, count,
                              Activity.occurred_at >= start, Activity.occurred_at < stop),
        "stage_advances": grouped(OpportunityStageChange, OpportunityStageChange.owner_id, count,
                                  OpportunityStageChange.forward.is_(True),
                                  OpportunityStageChange.changed_at >= start, OpportunityStageChange.changed_at < stop),
        "contracts": grouped(Contract, Contract.owner_id, count, *contracts),
        "contract_amount": grouped(Contract, Contract.owner_id, func.sum(Contract.amount), *contracts),
        "collected": dict(session.execute(
            select(dept, func.sum(Collection.amount)).select_from(Collection)
            .join(Contract, Contract.id == Collection.contract_id).join(User, User.id == Contract.owner_id)
            .where(in_depts, Collection.received_on >= first, Collection.received_on < end).group_by(dept)).all()),
        "overdue_tasks": grouped(HumanTask, HumanTask.assignee_id, count,
                                 HumanTask.status == "open", HumanTask.due_at < as_of),
    }
    active_in_window = select(Activity.id).where(Activity.owner_id == User.id, Activity.occurred_at >= start,
                                                 Activity.occurred_at < stop).exists()
    is_rep = select(UserRole.id).where(UserRole.user_id == User.id, UserRole.role_code.in_(REP_ROLES)).exists()
    idle: dict[int, list[str]] = defaultdict(list)
    for dept_id, name in session.execute(select(dept, User.display_name).where(
            in_depts, User.status == "active", is_rep, ~active_in_window).order_by(dept, User.id)).all():
        idle[dept_id].append(name)
    out = {}
    for d in department_ids:
        row: dict[str, Any] = {k: int(v.get(d) or 0) for k, v in figures.items()
                               if k not in ("contract_amount", "collected")}
        for k in ("contract_amount", "collected"):
            row[k] = Decimal(figures[k].get(d) or 0).quantize(Decimal("0.01"))
        row["idle"] = idle.get(d, [])
        out[d] = row
    return out


def digest_lines(name: str, f: dict[str, Any]) -> list[str]:
    """The body of one department's digest (the tests read these exact lines)."""
    return [f"【{name}】",
            (f"新客户 {f['customers']} · 新线索 {f['leads']} · 新商机 {f['opportunities']} · 活动 {f['activities']}"
             f" · 阶段推进 {f['stage_advances']}"),
            f"签约合同 {f['contracts']} 份，金额 ¥{f['contract_amount']:,.2f} · 回款 ¥{f['collected']:,.2f}",
            f"逾期未办待办 {f['overdue_tasks']}",
            "无活动的销售：" + ("、".join(f["idle"]) if f["idle"] else "无")]


@job("manager-digest")
def manager_digest(session: Session, as_of: datetime) -> dict[str, Any]:
    """U2: on working days, each department manager's digest of the days since the previous working day."""
    today = local_today(as_of)
    if not is_working_day(session, today):
        return {"as_of": as_of.isoformat(), "day": today.isoformat(), "skipped": "not a working day", "sent": 0}
    first = previous_working_day(session, today)
    managed: dict[int, list[int]] = defaultdict(list)
    for uid, dept_id in session.execute(select(User.id, UserRole.department_id).join(User, User.id == UserRole.user_id)
                                        .where(UserRole.role_code == MANAGER_ROLE, UserRole.department_id.is_not(None),
                                               User.status == "active").distinct()
                                        .order_by(User.id, UserRole.department_id)).all():
        managed[uid].append(dept_id)
    dept_ids = sorted({d for ds in managed.values() for d in ds})
    depts = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(dept_ids)))} if dept_ids \
        else {}
    figures = digest_figures(session, dept_ids, first, today, as_of) if dept_ids else {}
    last = today - timedelta(days=1)
    period = first.isoformat() if first == last else f"{first.isoformat()} 至 {last.isoformat()}"
    sent = 0
    with write_transaction(session):
        for uid, ids in sorted(managed.items()):
            body = [f"统计期间：{period}（北京时间）"]
            for d in ids:
                body += digest_lines(depts[d].name, figures[d])
            sent += notify(session, [uid], "digest", f"部门日报 {period}", link="/reports", body="\n".join(body),
                           sector_id=depts[ids[0]].sector_id, dedupe_key=f"u2:{uid}:{today.isoformat()}")
    return {"as_of": as_of.isoformat(), "day": today.isoformat(), "period": [first.isoformat(), last.isoformat()],
            "managers": len(managed), "sent": sent}
