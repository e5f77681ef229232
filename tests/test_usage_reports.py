"""Usage statistics (A3), login monitoring (U1) and the managers' daily digest (U2).

A known data set in March 2030 (Beijing time; the demo records are stamped years earlier and never count),
checked figure by figure for every scope. Real SQLite and PostgreSQL (TEST_DB).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import count

import pytest
from sqlalchemy import select, update

from engine import jobs
from models import clock, settings
from models.auth import authenticate
from models.contracts import Contract
from models.crm import Customer
from models.normalize import normalize_name
from models.notifications import Notification
from models.org import Department, Sector, User, UserRole
from models.process import HumanTask, ProcessDefinition, ProcessInstance
from models.receivables import Collection
from models.reports.monthly import build_snapshot, live_stats
from models.reports.records import LoginEvent, OpportunityStageChange
from models.reports.scope import ReportError, resolve
from models.reports.tables import REPORTS
from models.reports.usage import inactive_users, usage_departments, usage_people
from models.sales import Activity, Lead, Opportunity

MARCH = date(2030, 3, 1)
CREATED = datetime(2029, 12, 31, 16)  # every account: created 2030-01-01 00:00 Beijing


def bj(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Beijing wall-clock time in 2030 as stored (naive UTC)."""
    return datetime(2030, month, day, hour, minute) - timedelta(hours=8)


NOW = bj(3, 20, 10)  # Wednesday 2030-03-20 10:00 Beijing
_SEQ = count(1)


# ---------------------------------------------------------------------------------------------- helpers
def user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def dept_id(session, code: str) -> int:
    return session.scalar(select(Department.id).where(Department.code == code))


def sector_id(session, code: str) -> int:
    return session.scalar(select(Sector.id).where(Sector.code == code))


def add_user(session, username: str, name: str, dept: str, *, created_at: datetime = CREATED) -> User:
    d = session.get(Department, dept_id(session, dept))
    u = User(username=username, display_name=name, password_hash="x", sector_id=d.sector_id, department_id=d.id,
             created_at=created_at)
    session.add(u)
    session.flush()
    session.add(UserRole(user_id=u.id, role_code="sales_rep", sector_id=d.sector_id, department_id=d.id))
    session.flush()
    return u


def customer(session, username: str, at: datetime) -> Customer:
    u = user(session, username)
    name = f"使用统计客户{next(_SEQ)}有限公司"
    c = Customer(sector_id=u.sector_id, department_id=u.department_id, owner_id=u.id, created_by=u.id, name=name,
                 name_normalized=normalize_name(name), status="approved", created_at=at)
    session.add(c)
    session.flush()
    return c


def lead(session, username: str, at: datetime) -> Lead:
    u = user(session, username)
    row = Lead(sector_id=u.sector_id, department_id=u.department_id, owner_id=u.id, created_by=u.id,
               company_name="统计线索公司", contact_name="李先生", source="phone", created_at=at)
    session.add(row)
    session.flush()
    return row


def opportunity(session, username: str, cust: Customer, at: datetime) -> Opportunity:
    u = user(session, username)
    row = Opportunity(sector_id=u.sector_id, department_id=u.department_id, owner_id=u.id, created_by=u.id,
                      customer_id=cust.id, name="统计商机", stage_code="follow_up", amount=Decimal("100000.00"),
                      win_probability=10, created_at=at)
    session.add(row)
    session.flush()
    return row


def activity(session, username: str, at: datetime) -> Activity:
    u = user(session, username)
    row = Activity(sector_id=u.sector_id, owner_id=u.id, kind="call", subject="电话回访", occurred_at=at,
                   created_at=at)
    session.add(row)
    session.flush()
    return row


def logins(session, username: str, *times: datetime) -> None:
    u = user(session, username)
    session.add_all([LoginEvent(user_id=u.id, sector_id=u.sector_id, at=t) for t in times])
    u.last_login_at = max([t for t in times] + ([u.last_login_at] if u.last_login_at else []))


def scope(session, username: str, key: str):
    return resolve(session, user(session, username), key)


def by_user(table) -> dict[int, dict]:
    return {row["user_id"]: row for row in table.rows}


def run_job(session, name: str, as_of: datetime) -> dict:
    summary = jobs.run(session, name, as_of)
    session.commit()
    return summary


def notes(session, kind: str, username: str | None = None) -> list[Notification]:
    q = select(Notification).where(Notification.kind == kind).order_by(Notification.id)
    if username:
        q = q.where(Notification.user_id == user(session, username).id)
    return list(session.scalars(q))


# ---------------------------------------------------------------------------------------------- usage data
# username: (logins, records entered, activities) in March 2030; everybody else of the scope: zeros
EXPECTED = {"rep1": (3, 6, 2), "rep2": (1, 2, 1), "mgr1": (2, 1, 1), "salesmgmt1": (1, 0, 0), "impl1": (1, 0, 0),
            "rep3": (4, 4, 3)}


@pytest.fixture
def usage(session):
    clock.freeze(NOW)
    session.execute(update(User).values(created_at=CREATED))
    add_user(session, "rep4", "测试四", "D2")
    user(session, "impl1").status = "frozen"   # has a login in March: still listed (published)
    user(session, "impl2").status = "closed"   # nothing in March: not listed
    # rep1: a login at 23:00 Beijing on 28 Feb is February's, at 01:00 on 1 March is March's
    logins(session, "rep1", bj(2, 28, 23), bj(3, 1, 1), bj(3, 10), bj(3, 19))
    logins(session, "rep2", bj(3, 5))
    logins(session, "mgr1", bj(3, 2), bj(3, 12))
    logins(session, "salesmgmt1", bj(3, 3))
    logins(session, "impl1", bj(3, 4))
    logins(session, "rep3", bj(3, 1, 9), bj(3, 8), bj(3, 15), bj(3, 18))
    c1 = customer(session, "rep1", bj(3, 2))
    customer(session, "rep1", bj(3, 31, 23, 59))
    lead(session, "rep1", bj(3, 6))
    opportunity(session, "rep1", c1, bj(3, 7))
    activity(session, "rep1", bj(3, 8))
    activity(session, "rep1", bj(3, 9))
    activity(session, "rep1", bj(2, 28, 22))   # February: not counted
    customer(session, "rep2", bj(3, 11))
    activity(session, "rep2", bj(3, 11))
    activity(session, "mgr1", bj(3, 12))
    customer(session, "rep3", bj(3, 5))
    for day in (6, 7, 8):
        activity(session, "rep3", bj(3, day))
    customer(session, "rep3", bj(4, 1, 0, 0))  # April (Beijing): not counted
    session.commit()
    return session


def figures_of(session, username: str) -> tuple[int, int, int]:
    return EXPECTED.get(username, (0, 0, 0))


def active_users(session, *where) -> set[int]:
    return set(session.scalars(select(User.id).where(User.status == "active", User.sector_id.is_not(None), *where)))


def check_people(session, table, expected_ids: set[int]) -> None:
    rows = by_user(table)
    assert set(rows) == expected_ids
    names = {u.id: u.username for u in session.scalars(select(User))}
    for uid, row in rows.items():
        assert (row["logins"], row["records_entered"], row["activities"]) == figures_of(session, names[uid]), \
            names[uid]


def test_A3_usage_people_figures_for_every_scope(usage):
    s = usage
    d1, d3, s1, s2 = dept_id(s, "D1"), dept_id(s, "D3"), sector_id(s, "S1"), sector_id(s, "S2")
    impl1 = user(s, "impl1").id
    # sector S1 as the sector head: every active S1 user (not only reps) plus frozen impl1 who logged in
    table = usage_people(s, scope(s, "sectorhead1", f"sector:{s1}"), MARCH, "zh")
    check_people(s, table, active_users(s, User.sector_id == s1) | {impl1})
    assert user(s, "impl2").id not in by_user(table) and user(s, "rep3").id not in by_user(table), "S2 never in S1"
    assert table.extra["totals"] == {"logins": 8, "records_entered": 9, "activities": 4}
    assert not table.snapshot and [c.key for c in table.columns][:2] == ["name", "department"]
    rep1 = by_user(table)[user(s, "rep1").id]
    assert rep1["department"] == "华北销售一部" and rep1["last_login"] == "2030-03-19 10:00"
    assert rep1["days_since_login"] == 1
    staff = by_user(table)[user(s, "salesmgmt1").id]
    assert staff["department"] == "版块直属（无部门）" and staff["days_since_login"] == 17
    never = by_user(table)[user(s, "asst1").id]
    assert never["last_login"] is None and never["days_since_login"] == 78, "never logged in: from created_at"
    assert table.chart.kind == "bar" and table.chart.x == "name"
    assert table.chart.series == ("logins", "records_entered", "activities")
    # department D1 as its manager
    table = usage_people(s, scope(s, "mgr1", f"department:{d1}"), MARCH, "zh")
    check_people(s, table, {user(s, u).id for u in ("rep1", "rep2", "mgr1", "asst1")})
    # a rep sees only himself
    table = usage_people(s, scope(s, "rep1", "me"), MARCH, "zh")
    check_people(s, table, {user(s, "rep1").id})
    # S2 and D3
    table = usage_people(s, scope(s, "mgr3", f"department:{d3}"), MARCH, "zh")
    check_people(s, table, {user(s, "rep3").id, user(s, "mgr3").id})
    # the group: both sectors, with the sector column
    table = usage_people(s, scope(s, "grouplead", "group"), MARCH, "en")
    check_people(s, table, active_users(s) | {impl1})
    assert table.columns[1].key == "sector" and table.columns[1].label("en") == "Sector"
    assert by_user(table)[user(s, "rep3").id]["sector"] == "工程版块"
    assert table.extra["totals"] == {"logins": 12, "records_entered": 13, "activities": 7}
    assert table.as_dict("en")["columns"][2]["label"] == "Department"
    with pytest.raises(ReportError) as err:
        scope(s, "mgr1", f"sector:{s1}")
    assert err.value.status == 404
    with pytest.raises(ReportError) as err:
        scope(s, "mgr1", f"sector:{s2}")
    assert err.value.status == 404


def test_A3_usage_departments_totals_and_averages(usage):
    s = usage
    s1, d1 = sector_id(s, "S1"), dept_id(s, "D1")
    table = usage_departments(s, scope(s, "salesmgmt1", f"sector:{s1}"), MARCH, "zh")
    rows = {r["department"]: r for r in table.rows}
    assert list(rows) == ["华北销售一部", "华东销售部", "版块直属（无部门）"], "S2's department never in S1"
    assert rows["华北销售一部"] == {
        "sector": "软件版块", "department_id": d1, "department": "华北销售一部", "users": 4, "logged_in": 3,
        "login_rate": 75.0, "logins": 6, "logins_avg": Decimal("1.5"), "records_entered": 9,
        "records_entered_avg": Decimal("2.3"), "activities": 4, "activities_avg": Decimal("1.0")}
    assert (rows["华东销售部"]["users"], rows["华东销售部"]["logged_in"], rows["华东销售部"]["logins"],
            rows["华东销售部"]["login_rate"]) == (1, 0, 0, 0.0)
    staff_count = len(active_users(s, User.sector_id == s1, User.department_id.is_(None))) + 1  # + frozen impl1
    staff = rows["版块直属（无部门）"]
    assert (staff["users"], staff["logged_in"], staff["logins"], staff["records_entered"]) == (staff_count, 2, 2, 0)
    assert staff["logins_avg"] == (Decimal(2) / staff_count).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert "sector" not in [c.key for c in table.columns]
    # the department's manager sees his department only
    table = usage_departments(s, scope(s, "mgr1", f"department:{d1}"), MARCH, "zh")
    assert [(r["department"], r["users"], r["logins"]) for r in table.rows] == [("华北销售一部", 4, 6)]
    # the group adds the sector and S2's rows
    table = usage_departments(s, scope(s, "grouplead", "group"), MARCH, "zh")
    assert table.columns[0].key == "sector"
    got = [(r["sector"], r["department"]) for r in table.rows]
    assert got == [("软件版块", "华北销售一部"), ("软件版块", "华东销售部"), ("软件版块", "版块直属（无部门）"),
                   ("工程版块", "工程销售部"), ("工程版块", "版块直属（无部门）")]
    d3 = table.rows[3]
    assert (d3["users"], d3["logged_in"], d3["logins"], d3["records_entered"], d3["activities"],
            d3["logins_avg"]) == (2, 1, 4, 4, 3, Decimal("2.0"))
    assert table.chart.x == "department"
    assert REPORTS["usage_departments"].levels == ("department", "sector", "group")
    assert REPORTS["usage_people"].page == "usage" and REPORTS["inactive_users"].page == "logins"


def test_A3_closed_month_reads_the_published_snapshot(usage):
    s = usage
    s1 = sector_id(s, "S1")
    clock.freeze(bj(4, 3))
    assert build_snapshot(s, MARCH) > 0
    s.commit()
    # a late login row and activity for March after publication do not change the published figures
    logins(s, "rep1", bj(3, 30))
    activity(s, "rep1", bj(3, 30))
    s.commit()
    sc = scope(s, "sectorhead1", f"sector:{s1}")
    table = usage_people(s, sc, MARCH, "zh")
    assert table.snapshot and "快照" in table.note
    assert (by_user(table)[user(s, "rep1").id]["logins"], by_user(table)[user(s, "rep1").id]["activities"]) == (3, 2)
    live = {r["user_id"]: r for r in live_stats(s, sc, MARCH)}
    assert (live[user(s, "rep1").id]["logins"], live[user(s, "rep1").id]["activities"]) == (4, 3)
    dept = usage_departments(s, sc, MARCH, "zh")
    assert dept.snapshot and dept.rows[0]["logins"] == 6
    # April is open: live (nothing yet)
    april = usage_people(s, sc, date(2030, 4, 1), "zh")
    assert not april.snapshot and april.extra["totals"] == {"logins": 0, "records_entered": 0, "activities": 0}


# ---------------------------------------------------------------------------------------------- U1 data
@pytest.fixture
def watch(session):
    """Everybody logged in yesterday, except: rep2 13 days ago, asst1 14 days ago (23:30 Beijing), rep4 never
    (created 19 days ago), rep5 never (created 13 days ago), rep3 (S2) 47 days ago, impl2 frozen and impl1
    closed long ago."""
    clock.freeze(NOW)
    session.execute(update(User).values(created_at=CREATED, last_login_at=bj(3, 19, 9)))
    add_user(session, "rep4", "测试四", "D2", created_at=bj(3, 1, 9))
    add_user(session, "rep5", "测试五", "D1", created_at=bj(3, 7, 8))
    user(session, "rep2").last_login_at = bj(3, 7, 9)
    user(session, "asst1").last_login_at = bj(3, 6, 23, 30)
    user(session, "rep3").last_login_at = bj(2, 1)
    for name, status in (("impl2", "frozen"), ("impl1", "closed")):
        user(session, name).status = status
        user(session, name).last_login_at = None
    session.commit()
    return session


def names(table) -> list[str]:
    return [r["name"] for r in table.rows]


def test_U1_inactive_users_report_for_every_scope(watch):
    s = watch
    s1, s2, d1, d3 = sector_id(s, "S1"), sector_id(s, "S2"), dept_id(s, "D1"), dept_id(s, "D3")
    table = inactive_users(s, scope(s, "sectorhead1", f"sector:{s1}"), MARCH, "zh")
    assert names(table) == ["测试四", "刘洋"], "rep2 and rep5 at 13 days are not flagged; rep3 is S2's"
    rep4, asst1 = table.rows
    assert (rep4["days"], rep4["never_logged_in"], rep4["last_login"], rep4["department"], rep4["managers"],
            rep4["roles"], rep4["alert_days"]) == (19, True, None, "华东销售部", "", "销售", 14)
    assert (asst1["days"], asst1["never_logged_in"], asst1["last_login"], asst1["department"],
            asst1["managers"], asst1["roles"]) == (14, False, "2030-03-06 23:30", "华北销售一部", "李强", "部门助理")
    assert table.extra["count"] == 2 and "login.alert_days" in table.note
    assert names(inactive_users(s, scope(s, "mgr1", f"department:{d1}"), MARCH, "zh")) == ["刘洋"]
    assert names(inactive_users(s, scope(s, "mgr3", f"department:{d3}"), MARCH, "zh")) == ["郭涛"]
    group = inactive_users(s, scope(s, "grouplead", "group"), MARCH, "en")
    assert names(group) == ["郭涛", "测试四", "刘洋"] and group.rows[0]["days"] == 47
    assert group.rows[0]["sector"] == "工程版块" and group.rows[0]["managers"] == "何静"
    assert group.rows[2]["roles"] == "Department assistant"
    # a sector's own threshold (U1 configurable): S2 at 60 days no longer flags rep3
    settings.put(s, "login.alert_days", 60, sector_id=s2, actor_id=None)
    s.commit()
    assert names(inactive_users(s, scope(s, "grouplead", "group"), MARCH, "zh")) == ["测试四", "刘洋"]


def test_U1_a_login_clears_the_flag_and_counts_in_usage(watch):
    s = watch
    s1 = sector_id(s, "S1")
    assert authenticate(s, "asst1", "demo12345", "127.0.0.1", max_failures=5, window_minutes=15) is not None
    s.commit()
    assert names(inactive_users(s, scope(s, "sectorhead1", f"sector:{s1}"), MARCH, "zh")) == ["测试四"]
    row = by_user(usage_people(s, scope(s, "mgr1", f"department:{dept_id(s, 'D1')}"), MARCH, "zh"))[
        user(s, "asst1").id]
    assert (row["logins"], row["last_login"], row["days_since_login"]) == (1, "2030-03-20 10:00", 0)


def test_U1_login_watch_notifies_managers_and_sales_management_once_a_day(watch):
    s = watch
    summary = run_job(s, "login-watch", NOW)
    assert summary == {"as_of": NOW.isoformat(), "day": "2030-03-20", "flagged": 3, "recipients": 3, "notified": 3}
    got = {(n.user_id, n.title, n.body, n.link) for n in notes(s, "reminder")}
    mgr1, sm, mgr3 = user(s, "mgr1").id, user(s, "salesmgmt1").id, user(s, "mgr3").id
    asst_line = "刘洋（华北销售一部）：连续 14 天未登录，最近登录 2030-03-06 23:30"
    assert got == {
        (mgr1, "未登录提醒 2030-03-20：1 人长期未登录", asst_line, "/reports/logins"),
        (sm, "未登录提醒 2030-03-20：2 人长期未登录", "测试四（华东销售部）：连续 19 天未登录，从未登录\n" + asst_line,
         "/reports/logins"),
        (mgr3, "未登录提醒 2030-03-20：1 人长期未登录", "郭涛（工程销售部）：连续 47 天未登录，最近登录 2030-02-01 10:00",
         "/reports/logins"),
    }, "S1's sales management hears nothing of S2; nobody else is told"
    assert {n.dedupe_key for n in notes(s, "reminder", "mgr1")} == {f"u1:{mgr1}:2030-03-20"}
    # the same day again: nothing new
    assert run_job(s, "login-watch", NOW + timedelta(hours=3))["notified"] == 0
    assert len(notes(s, "reminder")) == 3
    # next day: rep2 and rep5 reach 14 days; one more notification per manager
    clock.freeze(NOW + timedelta(days=1))
    assert run_job(s, "login-watch", NOW + timedelta(days=1))["notified"] == 3
    latest = notes(s, "reminder", "mgr1")[-1]
    assert latest.body.splitlines() == ["刘洋（华北销售一部）：连续 15 天未登录，最近登录 2030-03-06 23:30",
                                        "王芳（华北销售一部）：连续 14 天未登录，最近登录 2030-03-07 09:00",
                                        "测试五（华北销售一部）：连续 14 天未登录，从未登录"]
    assert len(notes(s, "reminder", "mgr1")) == 2 and len(notes(s, "reminder", "salesmgmt1")) == 2


def test_U1_frozen_closed_and_sectorless_users_are_never_flagged(watch):
    s = watch
    s.execute(update(User).where(User.username.in_(("grouplead", "admin"))).values(last_login_at=None))
    s.commit()
    flagged = {n for n in names(inactive_users(s, scope(s, "grouplead", "group"), MARCH, "zh"))}
    assert not flagged & {"马超", "韩冰", "集团领导", "系统管理员"}
    run_job(s, "login-watch", NOW)
    assert all("马超" not in n.body and "韩冰" not in n.body for n in notes(s, "reminder"))


# ---------------------------------------------------------------------------------------------- U2
DIGEST_AT = bj(3, 20, 8)  # Wednesday 08:00 Beijing: Tuesday 19 March is summarised


def task(session, username: str, due: datetime, status: str = "open") -> None:
    definition = session.scalar(select(ProcessDefinition.id).limit(1))
    u = user(session, username)
    inst = ProcessInstance(definition_id=definition, process_key="usage_test", state="{}", sector_id=u.sector_id)
    session.add(inst)
    session.flush()
    session.add(HumanTask(instance_id=inst.id, spiff_task_id=f"t{next(_SEQ)}", bpmn_id="t", name="审批",
                          sector_id=u.sector_id, department_id=u.department_id, assignee_id=u.id, status=status,
                          due_at=due))


def contract(session, username: str, cust: Customer, status: str, signed_on: date | None, amount: str) -> Contract:
    u = user(session, username)
    row = Contract(number=f"HT-U{next(_SEQ):06d}", sector_id=u.sector_id, department_id=u.department_id,
                   customer_id=cust.id, owner_id=u.id, title="统计合同", list_amount=Decimal(amount),
                   amount=Decimal(amount), discount=Decimal(1), status=status, signed_on=signed_on)
    session.add(row)
    session.flush()
    return row


def stage_move(session, opp: Opportunity, at: datetime, forward: bool) -> None:
    session.add(OpportunityStageChange(opportunity_id=opp.id, sector_id=opp.sector_id, owner_id=opp.owner_id,
                                       from_code="follow_up", to_code="solution", forward=forward, changed_at=at))


@pytest.fixture
def digest(session):
    clock.freeze(DIGEST_AT)
    session.execute(update(HumanTask).values(due_at=None))  # the demo's own tasks are not overdue
    monday = customer(session, "rep1", bj(3, 18, 23, 59))    # Monday: not counted
    customer(session, "rep1", bj(3, 19, 0, 30))
    customer(session, "rep1", bj(3, 19, 18))
    customer(session, "rep1", bj(3, 16, 12))                 # Saturday: Monday's digest
    customer(session, "rep1", bj(3, 20, 0, 0))               # Wednesday: tomorrow's
    lead(session, "rep2", bj(3, 19, 11))
    opp = opportunity(session, "rep1", monday, bj(3, 19, 15))
    activity(session, "rep1", bj(3, 19, 9))
    activity(session, "rep1", bj(3, 19, 16))
    activity(session, "mgr1", bj(3, 19, 17))
    activity(session, "rep2", bj(3, 18, 17))                 # Monday
    stage_move(session, opp, bj(3, 19, 15), True)
    stage_move(session, opp, bj(3, 19, 16), False)           # backwards: no advance
    stage_move(session, opp, bj(3, 18, 15), True)            # Monday
    signed = contract(session, "rep1", monday, "signed", date(2030, 3, 19), "200000.00")
    contract(session, "rep1", monday, "approved", date(2030, 3, 18), "80000.00")
    contract(session, "rep1", monday, "pending", date(2030, 3, 19), "999.00")
    session.add_all([Collection(contract_id=signed.id, sector_id=signed.sector_id, department_id=signed.department_id,
                                amount=Decimal("50000.00"), received_on=date(2030, 3, 19)),
                     Collection(contract_id=signed.id, sector_id=signed.sector_id, department_id=signed.department_id,
                                amount=Decimal("7000.00"), received_on=date(2030, 3, 18))])
    task(session, "rep2", bj(3, 19, 12))                     # overdue
    task(session, "asst1", bj(3, 20, 7))                     # overdue (an hour ago)
    task(session, "rep2", bj(3, 18, 12), status="completed")
    task(session, "rep1", bj(3, 21, 12))                     # not due yet
    s3 = customer(session, "rep3", bj(3, 19, 10))
    activity(session, "rep3", bj(3, 19, 11))
    contract(session, "rep3", s3, "signed", date(2030, 3, 19), "1000.00")
    session.commit()
    return session


def test_U2_manager_digest_figures_one_per_manager(digest):
    s = digest
    summary = run_job(s, "manager-digest", DIGEST_AT)
    assert summary == {"as_of": DIGEST_AT.isoformat(), "day": "2030-03-20", "period": ["2030-03-19", "2030-03-19"],
                       "managers": 2, "sent": 2}
    (d1,) = notes(s, "digest", "mgr1")
    assert d1.title == "部门日报 2030-03-19" and d1.link == "/reports"
    assert d1.dedupe_key == f"u2:{user(s, 'mgr1').id}:2030-03-20"
    assert d1.body.splitlines() == [
        "统计期间：2030-03-19（北京时间）",
        "【华北销售一部】",
        "新客户 2 · 新线索 1 · 新商机 1 · 活动 3 · 阶段推进 1",
        "签约合同 1 份，金额 ¥200,000.00 · 回款 ¥50,000.00",
        "逾期未办待办 2",
        "无活动的销售：王芳"]
    (d3,) = notes(s, "digest", "mgr3")
    assert d3.body.splitlines() == [
        "统计期间：2030-03-19（北京时间）",
        "【工程销售部】",
        "新客户 1 · 新线索 0 · 新商机 0 · 活动 1 · 阶段推进 0",
        "签约合同 1 份，金额 ¥1,000.00 · 回款 ¥0.00",
        "逾期未办待办 0",
        "无活动的销售：无"]
    assert {n.user_id for n in notes(s, "digest")} == {user(s, "mgr1").id, user(s, "mgr3").id}, \
        "managers only (no assistant, no department without a manager)"
    # idempotent: the same day again adds nothing
    assert run_job(s, "manager-digest", DIGEST_AT + timedelta(hours=2))["sent"] == 0
    assert len(notes(s, "digest")) == 2


def test_U2_digest_on_working_days_only_monday_covers_the_weekend(digest):
    s = digest
    saturday = bj(3, 16, 8)
    assert run_job(s, "manager-digest", saturday) == {"as_of": saturday.isoformat(), "day": "2030-03-16",
                                                      "skipped": "not a working day", "sent": 0}
    monday = bj(3, 18, 8)
    summary = run_job(s, "manager-digest", monday)
    assert summary["period"] == ["2030-03-15", "2030-03-17"] and summary["sent"] == 2
    (d1,) = notes(s, "digest", "mgr1")
    assert d1.title == "部门日报 2030-03-15 至 2030-03-17"
    assert d1.body.splitlines()[2] == "新客户 1 · 新线索 0 · 新商机 0 · 活动 0 · 阶段推进 0"
