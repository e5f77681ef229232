"""Scheduled jobs of the reports (issue 6): the closed month's snapshot and the monthly ranking (P1, P2, P4).

Both look at the previous Beijing-time month of `as_of` and run daily: the first run after a month ends does
the work, later runs find it done and skip (idempotent). Run once with
`crm jobs run monthly-ranking --as-of 2027-03-01`.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.jobs import job


def previous_month(as_of: datetime) -> date:
    from models.reports.scope import add_months, local_today

    return add_months(local_today(as_of).replace(day=1), -1)


@job("monthly-stats")
def monthly_stats(session: Session, as_of: datetime) -> dict[str, Any]:
    """A2/A3/P1: the previous month's per-person snapshot, written once."""
    from models.reports.monthly import build_snapshot
    from models.reports.records import ReportMonthStat

    month = previous_month(as_of)
    have = session.scalar(select(func.count()).select_from(ReportMonthStat).where(ReportMonthStat.month == month))
    if have:
        return {"month": month.isoformat(), "skipped": True, "rows": have}
    return {"month": month.isoformat(), "skipped": False, "rows": build_snapshot(session, month)}


def monthly_ranking_run(session: Session, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """P1/P2/P4: close the previous month's ranking once (`force` recomputes it; its effects stay idempotent)."""
    from models.reports.ranking import close_month, month_is_ranked

    month = previous_month(as_of)
    if not force and month_is_ranked(session, month):
        return {"month": month.isoformat(), "skipped": True}
    return {"skipped": False, **close_month(session, month, as_of)}


@job("monthly-ranking")
def monthly_ranking(session: Session, as_of: datetime) -> dict[str, Any]:
    return monthly_ranking_run(session, as_of)
