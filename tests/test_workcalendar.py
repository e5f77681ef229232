"""The Chinese working-day calendar (models/workcalendar.py): 2026 official holidays and make-up workdays (调休),
as used by due dates (`due_days`), the F2 closure limit and the O5 one-working-day limit. Both databases."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from models.workcalendar import (
    OFFICIAL,
    CalendarDay,
    add_working_days,
    ensure_calendar,
    is_working_day,
    working_days_between,
)


def test_F2_national_day_2026_is_off_and_its_make_up_saturday_and_sunday_are_worked(session):
    for day in range(1, 8):
        assert not is_working_day(session, date(2026, 10, day)), f"2026-10-0{day} is 国庆节"
    assert date(2026, 10, 10).weekday() == 5 and is_working_day(session, date(2026, 10, 10))  # Saturday, 调休
    assert date(2026, 9, 20).weekday() == 6 and is_working_day(session, date(2026, 9, 20))  # Sunday, 调休
    assert is_working_day(session, date(2026, 10, 8)) and is_working_day(session, date(2026, 10, 9))
    assert not is_working_day(session, date(2026, 10, 11))  # an ordinary Sunday


def test_F2_spring_festival_2026_and_its_worked_saturdays(session):
    assert date(2026, 2, 14).weekday() == 5 and is_working_day(session, date(2026, 2, 14))
    assert date(2026, 2, 28).weekday() == 5 and is_working_day(session, date(2026, 2, 28))
    assert [d for d in range(15, 24) if is_working_day(session, date(2026, 2, d))] == []
    assert is_working_day(session, date(2026, 2, 24))
    assert not is_working_day(session, date(2026, 2, 21))  # a Saturday inside the holiday
    assert is_working_day(session, date(2026, 1, 4)) and not is_working_day(session, date(2026, 1, 1))
    assert is_working_day(session, date(2026, 5, 9)) and not is_working_day(session, date(2026, 5, 5))


def test_F2_add_working_days_over_national_day(session):
    eve = datetime(2026, 9, 30, 17, 30)  # Wednesday before 国庆
    assert add_working_days(session, eve, 1) == datetime(2026, 10, 8, 17, 30)  # the time of day is kept
    assert add_working_days(session, eve, 2) == datetime(2026, 10, 9, 17, 30)
    assert add_working_days(session, eve, 3) == datetime(2026, 10, 10, 17, 30)  # the worked Saturday
    assert add_working_days(session, eve, 4) == datetime(2026, 10, 12, 17, 30)  # Sunday 10-11 is off
    # starting on a holiday counts from the next working day
    assert add_working_days(session, datetime(2026, 10, 3, 9, 0), 1) == datetime(2026, 10, 8, 9, 0)
    assert add_working_days(session, eve, 0) == eve


def test_F2_add_working_days_over_spring_festival(session):
    friday = datetime(2026, 2, 13, 10, 0)
    assert add_working_days(session, friday, 1) == datetime(2026, 2, 14, 10, 0)  # Saturday worked
    assert add_working_days(session, friday, 2) == datetime(2026, 2, 24, 10, 0)  # nine days off
    assert add_working_days(session, datetime(2026, 2, 26, 10, 0), 2) == datetime(2026, 2, 28, 10, 0)


def test_F2_working_days_between(session):
    assert working_days_between(session, date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert working_days_between(session, date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert working_days_between(session, date(2026, 10, 9), date(2026, 10, 12)) == 2  # Sat 10 worked, Mon 12
    assert working_days_between(session, date(2026, 10, 12), date(2026, 10, 12)) == 0
    assert working_days_between(session, date(2026, 10, 12), date(2026, 10, 1)) == 0
    # an ordinary week: five days
    assert working_days_between(session, date(2026, 11, 1), date(2026, 11, 8)) == 5


def test_a_long_gap_widens_the_window(session):
    # 200 working days from 2026-01-05: every 2026 exception inside is respected
    start = datetime(2026, 1, 5, 9, 0)
    end = add_working_days(session, start, 200)
    assert working_days_between(session, start.date(), end.date()) == 200
    assert is_working_day(session, end.date())


def test_administrator_rows_for_a_later_year_are_used_and_kept(session):
    # The 2027 schedule is published later: an administrator adds it as rows.
    session.add(CalendarDay(day=date(2027, 10, 1), kind="holiday", name="国庆节"))
    session.add(CalendarDay(day=date(2027, 10, 9), kind="workday", name="国庆节调休"))
    # and changes a seeded 2026 row
    session.get(CalendarDay, date(2026, 10, 10)).kind = "holiday"
    session.commit()
    assert not is_working_day(session, date(2027, 10, 1))  # a Friday made a holiday
    assert is_working_day(session, date(2027, 10, 9))  # a Saturday made a workday
    assert add_working_days(session, datetime(2027, 9, 30, 9, 0), 1) == datetime(2027, 10, 4, 9, 0)
    ensure_calendar(session)  # idempotent, and keeps the administrator's change
    session.commit()
    assert not is_working_day(session, date(2026, 10, 10))
    seeded = sum(len(range((date.fromisoformat(b) - date.fromisoformat(a)).days + 1)) + len(w)
                 for _n, (a, b), w in OFFICIAL)
    assert len(session.scalars(select(CalendarDay.day)).all()) == seeded + 2


def test_every_official_2026_holiday_is_off_and_every_make_up_day_is_worked(session):
    for name, (first, last), workdays in OFFICIAL:
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            assert not is_working_day(session, day), f"{day} ({name})"
            day += timedelta(days=1)
        for text in workdays:
            made_up = date.fromisoformat(text)
            assert made_up.weekday() >= 5 and is_working_day(session, made_up), f"{made_up} ({name} 调休)"
