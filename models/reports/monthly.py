"""Per-person monthly figures (A2, A3, P1): one set-based query per figure, grouped by person.

`user_month_stats` answers for any scope and month: a closed month that has a snapshot (written by the
`monthly-stats` job) is read from `report_month_stat`; the open month, or a closed one without a snapshot, is
computed live by the same queries. Definitions (Beijing-time months):

- new_customers: customers the person entered (created_by) in the month;
- new_opportunities / opportunity_value: opportunities he owns that were opened in the month, and their amount;
- activities / phone_visits / opportunity_activities: activities he logged in the month (phone_visits: calls
  and visits; opportunity_activities: against an opportunity);
- stage_advances: forward stage moves of his opportunities in the month (funnel progress);
- contract_amount: contracts he owns signed in the month (approved, signed or closed) — also his customer value;
- collected: collections received in the month on his contracts;
- logins: successful logins; records_entered: customers, leads, opportunities, activities, quotes and contracts
  he created in the month.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, union_all
from sqlalchemy.orm import Session

from models import clock
from models.contracts import EFFECTIVE_STATUSES, Contract
from models.crm import Customer, Quote
from models.org import User
from models.receivables import Collection
from models.reports.records import LoginEvent, OpportunityStageChange, ReportMonthStat
from models.reports.scope import ReportScope, is_agent_clause, local_today, month_bounds, next_month
from models.sales import Activity, Lead, Opportunity

COUNTS = ("new_customers", "new_opportunities", "phone_visits", "activities", "opportunity_activities",
          "stage_advances", "logins", "records_entered")
AMOUNTS = ("opportunity_value", "contract_amount", "collected")
FIGURES = COUNTS + AMOUNTS
PHONE_VISIT_KINDS = ("call", "visit")


def _grouped(session: Session, owner_col, figures: dict[str, Any], where) -> dict[str, dict[int, Any]]:
    """Several figures of one table in one pass over the month's rows: {figure: {person: value}}."""
    stmt = select(owner_col, *[value.label(name) for name, value in figures.items()]).where(*where).group_by(owner_col)
    out: dict[str, dict[int, Any]] = {name: {} for name in figures}
    for row in session.execute(stmt).mappings():
        for name in figures:
            out[name][row[owner_col.key]] = row[name]
    return out


def _live_figures(session: Session, scope: ReportScope, month: date) -> dict[str, dict[int, Any]]:
    start, end = month_bounds(month)
    after = next_month(month)  # date columns (signed_on, received_on) are local dates in [month, after)
    count = func.count()
    figures: dict[str, dict[int, Any]] = {}
    figures |= _grouped(session, Customer.created_by, {"new_customers": count}, (
        scope.people_clause(Customer.created_by, Customer.sector_id),
        Customer.created_at >= start, Customer.created_at < end))
    figures |= _grouped(session, Opportunity.owner_id, {
        "new_opportunities": count, "opportunity_value": func.sum(Opportunity.amount)}, (
        scope.people_clause(Opportunity.owner_id, Opportunity.sector_id),
        Opportunity.created_at >= start, Opportunity.created_at < end))
    figures |= _grouped(session, Activity.owner_id, {
        "activities": count,
        "phone_visits": func.count().filter(Activity.kind.in_(PHONE_VISIT_KINDS)),
        "opportunity_activities": func.count().filter(Activity.opportunity_id.is_not(None))}, (
        scope.people_clause(Activity.owner_id, Activity.sector_id),
        Activity.occurred_at >= start, Activity.occurred_at < end))
    figures |= _grouped(session, OpportunityStageChange.owner_id, {"stage_advances": count}, (
        scope.people_clause(OpportunityStageChange.owner_id, OpportunityStageChange.sector_id),
        OpportunityStageChange.forward.is_(True),
        OpportunityStageChange.changed_at >= start, OpportunityStageChange.changed_at < end))
    figures |= _grouped(session, Contract.owner_id, {"contract_amount": func.sum(Contract.amount)}, (
        scope.people_clause(Contract.owner_id, Contract.sector_id), Contract.status.in_(EFFECTIVE_STATUSES),
        Contract.signed_on >= month, Contract.signed_on < after))
    figures |= _grouped(session, Contract.owner_id, {"collected": func.sum(Collection.amount)}, (
        Collection.contract_id == Contract.id, scope.people_clause(Contract.owner_id, Collection.sector_id),
        Collection.received_on >= month, Collection.received_on < after))
    figures |= _grouped(session, LoginEvent.user_id, {"logins": count}, (
        scope.people_clause(LoginEvent.user_id, LoginEvent.sector_id), LoginEvent.at >= start, LoginEvent.at < end))
    entered = union_all(*[
        select(col.label("user_id")).where(scope.people_clause(col, sector), created >= start, created < end)
        for col, sector, created in (
            (Customer.created_by, Customer.sector_id, Customer.created_at),
            (Lead.created_by, Lead.sector_id, Lead.created_at),
            (Opportunity.created_by, Opportunity.sector_id, Opportunity.created_at),
            (Activity.owner_id, Activity.sector_id, Activity.created_at),
            (Quote.owner_id, Quote.sector_id, Quote.created_at),
            (Contract.owner_id, Contract.sector_id, Contract.created_at))]).subquery()
    figures["records_entered"] = dict(session.execute(
        select(entered.c.user_id, func.count()).group_by(entered.c.user_id)).all())
    return figures


def _people(session: Session, scope: ReportScope) -> list[dict[str, Any]]:
    rows = session.execute(select(User.id, User.display_name, User.sector_id, User.department_id,
                                  is_agent_clause().label("is_agent"))
                           .where(scope.user_clause(), User.sector_id.is_not(None)).order_by(User.id)).all()
    return [{"user_id": r.id, "name": r.display_name, "sector_id": r.sector_id, "department_id": r.department_id,
             "is_agent": bool(r.is_agent)} for r in rows]


def live_stats(session: Session, scope: ReportScope, month: date) -> list[dict[str, Any]]:
    """Every person of the scope with his figures for the month, computed from the records."""
    figures = _live_figures(session, scope, month)
    out = []
    for person in _people(session, scope):
        uid = person["user_id"]
        row = dict(person)
        for name in COUNTS:
            row[name] = int(figures[name].get(uid) or 0)
        for name in AMOUNTS:
            row[name] = Decimal(figures[name].get(uid) or 0).quantize(Decimal("0.01"))
        out.append(row)
    return out


def _snapshot_rows(session: Session, scope: ReportScope, month: date) -> list[dict[str, Any]] | None:
    if session.scalar(select(func.count()).select_from(ReportMonthStat).where(ReportMonthStat.month == month)) == 0:
        return None
    stat = ReportMonthStat
    where = [stat.month == month, scope.sector_clause(stat.sector_id)]
    if scope.user_id is not None:
        where.append(stat.user_id == scope.user_id)
    elif scope.department_ids is not None:
        where.append(stat.department_id.in_(scope.department_ids))
    rows = session.execute(select(stat, User.display_name).join(User, User.id == stat.user_id)
                           .where(*where).order_by(stat.user_id)).all()
    return [{"user_id": s.user_id, "name": name, "sector_id": s.sector_id, "department_id": s.department_id,
             "is_agent": s.is_agent, **{f: getattr(s, f) for f in FIGURES}} for s, name in rows]


def is_closed(month: date, now: datetime | None = None) -> bool:
    return month < local_today(now or clock.now()).replace(day=1)


def user_month_stats(session: Session, scope: ReportScope, month: date) -> tuple[list[dict[str, Any]], bool]:
    """(rows, from_snapshot): each person of the scope with the month's figures (see the module docstring)."""
    if is_closed(month):
        rows = _snapshot_rows(session, scope, month)
        if rows is not None:
            return rows, True
    return live_stats(session, scope, month), False


def build_snapshot(session: Session, month: date) -> int:
    """Write (or rewrite) the month's snapshot for every person of every sector; returns the row count."""
    group = ReportScope("group", "group", "group", None)
    rows = live_stats(session, group, month)
    session.execute(delete(ReportMonthStat).where(ReportMonthStat.month == month))
    now = clock.now()
    if rows:
        session.execute(ReportMonthStat.__table__.insert(), [
            {"month": month, "computed_at": now, "sector_id": r["sector_id"], "department_id": r["department_id"],
             "user_id": r["user_id"], "is_agent": r["is_agent"], **{f: r[f] for f in FIGURES}} for r in rows])
    return len(rows)


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum of the figures over rows (a department's or a sector's total)."""
    out: dict[str, Any] = {f: 0 for f in COUNTS}
    out.update({f: Decimal("0.00") for f in AMOUNTS})
    for row in rows:
        for f in FIGURES:
            out[f] += row[f]
    return out

