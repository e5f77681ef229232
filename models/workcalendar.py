"""The Chinese working-day calendar: weekends off, official holidays off, make-up workdays (调休) on.

Only the exceptions are rows (`calendar_day`): a holiday on a weekday, or a weekend day that is worked.
The official schedule is published each November for the next year; `OFFICIAL` seeds the years we know
and an administrator adds later years as rows. Due dates, closure limits (F2) and follow-up limits use it.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base

KINDS = ("holiday", "workday")


class CalendarDay(Base):
    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # holiday | workday
    name: Mapped[str] = mapped_column(String(50), default="")


def _span(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# 国务院办公厅关于2026年部分节假日安排的通知: (name, holiday span, make-up workdays)
OFFICIAL: list[tuple[str, tuple[str, str], list[str]]] = [
    ("元旦", ("2026-01-01", "2026-01-03"), ["2026-01-04"]),
    ("春节", ("2026-02-15", "2026-02-23"), ["2026-02-14", "2026-02-28"]),
    ("清明节", ("2026-04-04", "2026-04-06"), []),
    ("劳动节", ("2026-05-01", "2026-05-05"), ["2026-05-09"]),
    ("端午节", ("2026-06-19", "2026-06-21"), []),
    ("中秋节", ("2026-09-25", "2026-09-27"), []),
    ("国庆节", ("2026-10-01", "2026-10-07"), ["2026-09-20", "2026-10-10"]),
]


def ensure_calendar(session: Session) -> None:
    """Seed the official schedule (idempotent; rows an administrator changed are kept)."""
    known = set(session.scalars(select(CalendarDay.day)))
    for name, (first, last), workdays in OFFICIAL:
        for day in _span(first, last):
            if day not in known:
                session.add(CalendarDay(day=day, kind="holiday", name=name))
        for text in workdays:
            day = date.fromisoformat(text)
            if day not in known:
                session.add(CalendarDay(day=day, kind="workday", name=f"{name}调休"))


def _exceptions(session: Session, first: date, last: date) -> dict[date, str]:
    rows = session.execute(select(CalendarDay.day, CalendarDay.kind)
                           .where(CalendarDay.day >= first, CalendarDay.day <= last))
    return {d: k for d, k in rows}


def _working(day: date, exceptions: dict[date, str]) -> bool:
    kind = exceptions.get(day)
    if kind is not None:
        return kind == "workday"
    return day.weekday() < 5


def is_working_day(session: Session, day: date) -> bool:
    return _working(day, _exceptions(session, day, day))


def add_working_days(session: Session, start: datetime, days: int) -> datetime:
    """`start` moved forward by `days` working days, keeping the time of day (a holiday start counts
    from the next working day). One query for the exceptions in the window."""
    if days <= 0:
        return start
    window_end = start.date() + timedelta(days=days * 3 + 30)  # the longest holiday is 9 days
    exceptions = _exceptions(session, start.date(), window_end)
    day, left = start.date(), days
    while left > 0:
        day += timedelta(days=1)
        if day > window_end:  # a calendar with unusually long holidays: widen once more
            window_end = day + timedelta(days=days * 3 + 30)
            exceptions.update(_exceptions(session, day, window_end))
        if _working(day, exceptions):
            left -= 1
    return datetime.combine(day, start.time())


def working_days_between(session: Session, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    if end <= start:
        return 0
    exceptions = _exceptions(session, start, end)
    return sum(1 for i in range(1, (end - start).days + 1) if _working(start + timedelta(days=i), exceptions))
