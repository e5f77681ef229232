"""The `activity-flags` job (U3, P3) and the flags API; the job runner from the command line.

Real SQLite and PostgreSQL (TEST_DB). The pool sweep's own tests are in test_pool.py.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine import jobs
from models import clock, settings
from models.activity_flags import week_before
from models.audit import AuditLog
from models.crm import Customer
from models.flags import Flag
from models.normalize import normalize_name
from models.org import Sector, User
from models.sales import Activity, Lead, Opportunity
from tests.conftest import run_in_parallel


def user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def fresh(session) -> None:
    session.rollback()
    session.expire_all()


def as_of_in_two_weeks() -> datetime:
    """Far enough after the demo users were created for a whole week to have passed."""
    return datetime.combine(clock.now().date() + timedelta(days=14), time())


def run_job(session, name: str, as_of: datetime) -> dict:
    summary = jobs.run(session, name, as_of)
    session.commit()
    return summary


def activity(session, owner: str, at: datetime, **subject) -> Activity:
    u = user(session, owner)
    a = Activity(sector_id=u.sector_id, owner_id=u.id, kind="call", subject="电话回访", occurred_at=at, **subject)
    session.add(a)
    session.flush()
    return a


def lead(session, owner: str | None, *, created_at: datetime, status: str = "following", due=None,
         sector: str = "S1") -> Lead:
    u = user(session, owner) if owner else None
    sector_id = u.sector_id if u else session.scalar(select(Sector.id).where(Sector.code == sector))
    row = Lead(sector_id=sector_id, department_id=u.department_id if u else None,
               owner_id=u.id if u else None, company_name="线索测试公司", contact_name="李先生", source="phone",
               status=status, follow_up_due_at=due, created_at=created_at)
    session.add(row)
    session.flush()
    return row


_SEQ = iter(range(1, 1_000_000))


def opportunity(session, owner: str, *, created_at: datetime, status: str = "open") -> Opportunity:
    u = user(session, owner)
    name = f"机会客户{next(_SEQ)}有限公司"
    customer = Customer(sector_id=u.sector_id, department_id=u.department_id, owner_id=u.id, name=name,
                        name_normalized=normalize_name(name), status="approved")
    session.add(customer)
    session.flush()
    row = Opportunity(sector_id=u.sector_id, department_id=u.department_id, owner_id=u.id,
                      customer_id=customer.id, name="系统采购", stage_code="follow_up",
                      amount=Decimal("100000.00"), win_probability=10, status=status, created_at=created_at)
    session.add(row)
    session.flush()
    return row


def flags(session, kind: str) -> list[Flag]:
    return list(session.scalars(select(Flag).where(Flag.kind == kind).order_by(Flag.id)))


# ---------------------------------------------------------------------------------------------- U3
def test_U3_rep_without_activity_in_the_week_before_is_flagged(session):
    as_of = as_of_in_two_weeks()
    start, end = week_before(as_of)
    assert start.weekday() == 0 and end - start == timedelta(days=7) and end <= as_of
    activity(session, "rep1", start + timedelta(days=2))
    activity(session, "rep2", start - timedelta(hours=1))  # the week before that: does not count
    session.commit()
    summary = run_job(session, "activity-flags", as_of)
    flagged = {f.entity_id: f for f in flags(session, "rep_no_weekly_activity")}
    assert user(session, "rep1").id not in flagged
    assert {user(session, "rep2").id, user(session, "rep3").id} <= set(flagged)
    assert user(session, "mgr1").id not in flagged, "only reps (sales_rep / channel_rep grants)"
    f = flagged[user(session, "rep2").id]
    assert f.entity_type == "user" and f.user_id == f.entity_id and f.period == start.date()
    assert f.sector_id == user(session, "rep2").sector_id
    assert summary["raised"]["rep_no_weekly_activity"] == len(flagged)
    assert summary["week"] == start.date().isoformat()


def test_U3_weekly_minimum_is_a_sector_setting(session):
    as_of = as_of_in_two_weeks()
    start, _ = week_before(as_of)
    activity(session, "rep1", start + timedelta(days=1))
    activity(session, "rep3", start + timedelta(days=1))
    s1 = session.scalar(select(Sector.id).where(Sector.code == "S1"))
    settings.put(session, "activity.rep_week_min", 2, sector_id=s1, actor_id=None)
    session.commit()
    run_job(session, "activity-flags", as_of)
    flagged = {f.entity_id for f in flags(session, "rep_no_weekly_activity")}
    assert user(session, "rep1").id in flagged, "S1 needs 2 a week"
    assert user(session, "rep3").id not in flagged, "S2 keeps the default of 1"


def test_U3_leads_and_opportunities_without_monthly_activity(session):
    as_of = as_of_in_two_weeks()
    quiet_lead = lead(session, "rep1", created_at=as_of - timedelta(days=40))
    busy_lead = lead(session, "rep1", created_at=as_of - timedelta(days=40))
    activity(session, "rep1", as_of - timedelta(days=10), lead_id=busy_lead.id)
    young_lead = lead(session, "rep1", created_at=as_of - timedelta(days=5))
    closed_lead = lead(session, "rep1", created_at=as_of - timedelta(days=40), status="converted")
    marked_lead = lead(session, "rep2", created_at=as_of - timedelta(days=60))
    marked_lead.last_activity_at = as_of - timedelta(days=3)
    quiet_opp = opportunity(session, "rep1", created_at=as_of - timedelta(days=45))
    busy_opp = opportunity(session, "rep1", created_at=as_of - timedelta(days=45))
    activity(session, "rep1", as_of - timedelta(days=29), opportunity_id=busy_opp.id)
    won_opp = opportunity(session, "rep1", created_at=as_of - timedelta(days=45), status="won")
    session.commit()
    summary = run_job(session, "activity-flags", as_of)
    lead_ids = {f.entity_id for f in flags(session, "lead_no_monthly_activity")}
    assert lead_ids == {quiet_lead.id}
    assert not {busy_lead.id, young_lead.id, closed_lead.id, marked_lead.id} & lead_ids
    opp_flags = flags(session, "opportunity_no_monthly_activity")
    assert [f.entity_id for f in opp_flags] == [quiet_opp.id]
    assert won_opp.id not in {f.entity_id for f in opp_flags}
    assert opp_flags[0].period == as_of.date().replace(day=1)
    assert opp_flags[0].user_id == user(session, "rep1").id
    assert summary["raised"]["lead_no_monthly_activity"] == 1
    assert summary["raised"]["opportunity_no_monthly_activity"] == 1


def test_U3_activity_flags_job_is_idempotent(session):
    as_of = as_of_in_two_weeks()
    lead(session, "rep1", created_at=as_of - timedelta(days=40))
    session.commit()
    first = run_job(session, "activity-flags", as_of)
    assert first["raised_total"] > 0
    count = session.scalar(select(func.count()).select_from(Flag))
    second = run_job(session, "activity-flags", as_of + timedelta(hours=3))
    assert second["raised_total"] == 0
    assert session.scalar(select(func.count()).select_from(Flag)) == count


def test_U3_two_concurrent_flag_runs_raise_each_flag_once(app, session):
    as_of = as_of_in_two_weeks()
    for _ in range(10):
        lead(session, "rep1", created_at=as_of - timedelta(days=40))
    session.commit()
    results = run_in_parallel(app.extensions["session_factory"], lambda s: run_job(s, "activity-flags", as_of))
    assert all(isinstance(r, dict) for r in results), results
    fresh(session)
    assert sum(r["raised"]["lead_no_monthly_activity"] for r in results) == 10
    assert len(flags(session, "lead_no_monthly_activity")) == 10


# ---------------------------------------------------------------------------------------------- P3
def test_P3_assigned_lead_not_followed_up_is_flagged(session):
    as_of = as_of_in_two_weeks()
    late = lead(session, "rep2", created_at=as_of - timedelta(days=6), status="assigned",
                due=as_of - timedelta(days=2))
    followed = lead(session, "rep2", created_at=as_of - timedelta(days=6), status="assigned",
                    due=as_of - timedelta(days=2))
    activity(session, "rep2", as_of - timedelta(days=4), lead_id=followed.id)
    not_due = lead(session, "rep2", created_at=as_of - timedelta(days=1), status="assigned",
                   due=as_of + timedelta(days=2))
    session.commit()
    summary = run_job(session, "activity-flags", as_of)
    got = [f for f in flags(session, "lead_not_followed_up") if f.user_id == user(session, "rep2").id]
    assert [f.entity_id for f in got] == [late.id], "followed-up and not-yet-due leads are not flagged"
    assert got[0].period == (as_of - timedelta(days=2)).date() and got[0].entity_type == "lead"
    assert summary["raised"]["lead_not_followed_up"] >= 1 and summary["lead_rights_removed"] == 0
    assert not {followed.id, not_due.id} & {f.entity_id for f in flags(session, "lead_not_followed_up")}
    assert user(session, "rep2").lead_rights is True, "one flag does not remove lead rights"


def test_P3_repeated_late_follow_up_removes_lead_rights(session):
    as_of = as_of_in_two_weeks()
    for days in (2, 3, 4):
        lead(session, "rep2", created_at=as_of - timedelta(days=10), status="assigned",
             due=as_of - timedelta(days=days))
    lead(session, "rep1", created_at=as_of - timedelta(days=10), status="assigned",
         due=as_of - timedelta(days=2))
    session.commit()
    summary = run_job(session, "activity-flags", as_of)
    rep2_flags = [f for f in flags(session, "lead_not_followed_up") if f.user_id == user(session, "rep2").id]
    assert len(rep2_flags) == 3 and summary["lead_rights_removed"] == 1
    fresh(session)
    assert user(session, "rep2").lead_rights is False
    assert user(session, "rep1").lead_rights is True
    rows = session.scalars(select(AuditLog).where(AuditLog.action == "user.lead_rights_removed")).all()
    assert [r.entity_id for r in rows] == [str(user(session, "rep2").id)]
    assert rows[0].before == {"lead_rights": True} and rows[0].after["lead_rights"] is False
    again = run_job(session, "activity-flags", as_of + timedelta(days=1))
    assert again["lead_rights_removed"] == 0
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "user.lead_rights_removed")) == 1


def test_P3_old_flags_outside_90_days_do_not_count(session):
    as_of = as_of_in_two_weeks()
    for days in (2, 100, 120):
        lead(session, "rep2", created_at=as_of - timedelta(days=130), status="assigned",
             due=as_of - timedelta(days=days))
    session.commit()
    summary = run_job(session, "activity-flags", as_of)
    rep2_flags = [f for f in flags(session, "lead_not_followed_up") if f.user_id == user(session, "rep2").id]
    assert len(rep2_flags) == 3 and summary["lead_rights_removed"] == 0
    assert user(session, "rep2").lead_rights is True


# ---------------------------------------------------------------------------------------------- flags API
def _flag_setup(session) -> datetime:
    as_of = as_of_in_two_weeks()
    for rep in ("rep2", "rep3"):
        lead(session, rep, created_at=as_of - timedelta(days=10), status="assigned",
             due=as_of - timedelta(days=2))
    session.commit()
    run_job(session, "activity-flags", as_of)
    return as_of


def test_U3_P3_flags_api_mine_and_managers_view(api, session):
    _flag_setup(session)
    rep2, rep3 = user(session, "rep2"), user(session, "rep3")
    mine = api.as_("rep2").get("/flags?mine=1").get_json()["items"]
    assert mine and {f["user_id"] for f in mine} == {rep2.id}
    assert "lead_not_followed_up" in {f["kind"] for f in mine}
    assert {f["user_id"] for f in api.as_("rep2").get("/flags?mine=0").get_json()["items"]} == {rep2.id}, \
        "a rep's wider view is still only his own"
    team = api.as_("mgr1").get("/flags", query_string={"mine": "0", "limit": 200}).get_json()["items"]
    assert rep2.id in {f["user_id"] for f in team} and rep3.id not in {f["user_id"] for f in team}
    assert api.as_("mgr1").get("/flags?mine=1").get_json()["items"] == [], "mgr1 has no flags of his own"
    sector = api.as_("salesmgmt1").get("/flags?limit=200").get_json()["items"]
    assert rep2.id in {f["user_id"] for f in sector} and rep3.id not in {f["user_id"] for f in sector}
    s2 = api.as_("mgr3").get("/flags?limit=200&kind=lead_not_followed_up").get_json()["items"]
    assert {f["user_id"] for f in s2} == {rep3.id}
    assert api.as_("rep2").get("/flags?kind=nope").status_code == 422


def test_U3_flags_page(client, session):
    _flag_setup(session)
    client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    page = client.get("/pool/flags?scope=team").get_data(as_text=True)
    assert "分配商机未及时跟进" in page and "王芳" in page


@pytest.mark.parametrize("name", ["activity-flags", "public-pool"])
def test_jobs_run_from_the_command_line(name, session, migrated, monkeypatch, capsys):
    from web.cli import main

    monkeypatch.setenv("DATABASE_URL", migrated)
    as_of = as_of_in_two_weeks().date().isoformat()
    assert main(["jobs", "run", name, "--as-of", as_of]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["as_of"].startswith(as_of)
    assert main(["jobs", "run", "no-such-job"]) == 2
