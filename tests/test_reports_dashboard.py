"""Dashboard figures (A1, A2): every figure of every report for every scope level, on a known data set in
October 2026 (Beijing time), and the walls between scopes: a rep never sees another person's figures, a
department manager never sees another department's, nobody sees another sector's."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from models import clock
from models.contracts import Contract
from models.crm import Customer
from models.normalize import normalize_name
from models.org import Department, Sector, User, UserRole
from models.receivables import Collection
from models.reports import dashboard, monthly
from models.reports.records import OpportunityStageChange
from models.reports.scope import ReportError, resolve
from models.reports.tables import REPORTS
from models.sales import Activity, Opportunity, OpportunityStage, SignDateChange

OCT = date(2026, 10, 1)
NOW = datetime(2026, 10, 20, 2, 0)  # 2026-10-20 10:00 Beijing time
D = Decimal
REPORT_NAMES = ("funnel", "sign_months", "forecast", "rep_figures", "grades", "contact_frequency", "departments",
                "sectors")
STAGES = ("线索", "跟进", "需求确认", "方案", "招标公告", "投标", "签约", "赢单", "输单")


@dataclass
class World:
    s1: int
    s2: int
    d1: int
    d2: int
    d3: int
    users: dict[str, int]


def _at(day: int, hour: int = 2, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0)


@pytest.fixture
def world(app, session) -> World:
    """rep1 rep2 (D1), rep4 (D2, added) in S1; rep3 (D3) in S2 — with distinctive figures in D2 and S2."""
    clock.freeze(NOW)
    # the demo's opportunities and activities are created at the real time: start from none
    for model in (Activity, SignDateChange, OpportunityStageChange, Opportunity):
        session.execute(delete(model))
    ids = {u.username: u.id for u in session.scalars(select(User))}
    sector = {s.code: s.id for s in session.scalars(select(Sector))}
    dept = {d.code: d.id for d in session.scalars(select(Department))}
    rep1 = session.get(User, ids["rep1"])
    rep4 = User(username="rep4", display_name="赵敏", password_hash=rep1.password_hash, sector_id=sector["S1"],
                department_id=dept["D2"])
    session.add(rep4)
    session.flush()
    session.add(UserRole(user_id=rep4.id, role_code="sales_rep", sector_id=sector["S1"], department_id=dept["D2"]))
    ids["rep4"] = rep4.id
    home = {"rep1": ("S1", "D1"), "rep2": ("S1", "D1"), "rep4": ("S1", "D2"), "rep3": ("S2", "D3")}
    # S2 weighs its 方案 stage at 30 % (the opportunity still says 40: the forecast reads the stage table)
    session.execute(update(OpportunityStage).where(OpportunityStage.sector_id == sector["S2"],
                                                   OpportunityStage.code == "solution").values(probability=30))

    customers: dict[str, int] = {}

    def customer(key: str, owner: str | None, grade: str | None, created: datetime, by: str) -> int:
        s, d = home[by]
        row = Customer(sector_id=sector[s], department_id=dept[d], owner_id=ids[owner] if owner else None,
                       name=f"报表测试{key}有限公司", name_normalized=normalize_name(f"报表测试{key}有限公司"),
                       status="approved", grade=grade, created_by=ids[by], created_at=created)
        session.add(row)
        session.flush()
        customers[key] = row.id
        return row.id

    customer("rep1A", "rep1", "A", _at(3), "rep1")
    customer("rep1B", "rep1", "B", _at(4), "rep1")
    customer("pool", None, "A", _at(5), "rep1")            # in the public pool: new for rep1, no grade row
    customer("rep2C", "rep2", "C", _at(6), "rep2")
    customer("rep4A", "rep4", "A", _at(7), "rep4")
    customer("rep4D", "rep4", "D", _at(20, month=9), "rep4")  # September: not new in October
    customer("rep3B1", "rep3", "B", _at(8), "rep3")
    customer("rep3B2", "rep3", "B", _at(9), "rep3")

    opps: dict[str, int] = {}

    def opp(key: str, owner: str, stage: str, amount: str, sign: date | None, furthest: int | None,
            created: datetime, status: str = "open") -> None:
        s, d = home[owner]
        row = Opportunity(sector_id=sector[s], department_id=dept[d], owner_id=ids[owner],
                          customer_id=customers[{"rep1": "rep1A", "rep2": "rep2C", "rep4": "rep4A",
                                                 "rep3": "rep3B1"}[owner]],
                          name=key, stage_code=stage, amount=D(amount), win_probability=40,
                          expected_sign_date=sign, status=status, furthest_position=furthest, created_by=ids[owner],
                          created_at=created)
        session.add(row)
        session.flush()
        opps[key] = row.id

    opp("o1", "rep1", "follow_up", "100000", date(2026, 10, 15), 20, _at(5))
    opp("o2", "rep1", "solution", "200000", date(2026, 11, 10), 40, _at(6))
    opp("o3", "rep1", "bid", "300000", date(2026, 9, 30), 60, _at(10, month=9))
    opp("o4", "rep1", "won", "400000", date(2026, 10, 1), 80, _at(1, month=8), "won")
    opp("o5", "rep1", "lost", "50000", None, 30, _at(2), "lost")
    opp("o6", "rep1", "lead", "10000", None, 10, _at(7))
    opp("o7", "rep1", "needs_confirmed", "40000", date(2028, 1, 1), 30, _at(5, month=9))
    opp("p1", "rep2", "signing", "500000", date(2027, 1, 20), 70, _at(8))
    opp("q1", "rep4", "tender_published", "700000", date(2026, 12, 5), 50, _at(9))
    opp("s1", "rep3", "solution", "9000000", date(2026, 10, 20), 40, _at(10))
    opp("s2", "rep3", "won", "8000000", None, 80, _at(11), "won")

    def act(owner: str, kind: str, at: datetime, on: str | None = None, customer_key: str | None = None) -> None:
        s, _d = home[owner]
        session.add(Activity(sector_id=sector[s], owner_id=ids[owner], kind=kind, subject=kind, occurred_at=at,
                             opportunity_id=opps[on] if on else None,
                             customer_id=customers[customer_key] if customer_key else None))

    act("rep1", "call", datetime(2026, 9, 30, 15, 30), on="o1")   # 23:30 on 30 September in Beijing: not October
    act("rep1", "visit", datetime(2026, 9, 30, 16, 30), customer_key="rep1A")  # 00:30 on 1 October: October
    act("rep1", "call", _at(8), on="o2")
    act("rep1", "visit", _at(9), on="o3")
    act("rep1", "email", _at(10), on="o3")
    for kind, day in (("call", 11), ("meeting", 12), ("other", 13)):
        act("rep1", kind, _at(day), on="o6")
    act("rep2", "call", _at(14), on="o6")                         # someone else's activity on rep1's opportunity
    for kind, day in (("call", 8), ("call", 9), ("visit", 10)):
        act("rep2", kind, _at(day), on="p1")
    act("rep4", "meeting", _at(10), on="q1")
    for day in range(10, 15):
        act("rep3", "call", _at(day), on="s1")
    act("rep3", "call", datetime(2026, 10, 31, 16, 0), on="s1")  # 1 November in Beijing: not October

    contracts: dict[str, int] = {}

    def contract(key: str, owner: str, amount: str, status: str, signed: date | None) -> None:
        s, d = home[owner]
        row = Contract(number=f"HT-T-{key}", sector_id=sector[s], department_id=dept[d],
                       customer_id=customers[{"rep1": "rep1A", "rep2": "rep2C", "rep4": "rep4A",
                                              "rep3": "rep3B1"}[owner]],
                       owner_id=ids[owner], title=key, list_amount=D(amount), amount=D(amount), discount=D(1),
                       status=status, signed_on=signed, created_at=_at(1, month=9))
        session.add(row)
        session.flush()
        contracts[key] = row.id

    contract("k1", "rep1", "120000", "signed", date(2026, 10, 31))
    contract("k2", "rep1", "80000", "approved", date(2026, 10, 1))
    contract("k3", "rep1", "999999", "pending", date(2026, 10, 10))  # not approved: never counted
    contract("k4", "rep1", "60000", "signed", date(2026, 9, 15))
    contract("k5", "rep2", "200000", "closed", date(2026, 10, 5))
    contract("k6", "rep4", "333000", "signed", date(2026, 10, 12))
    contract("k7", "rep3", "7000000", "signed", date(2026, 10, 13))
    contract("k9", "rep1", "70000", "signed", date(2026, 11, 1))  # November

    def collect(on: str, amount: str, received: date) -> None:
        row = session.get(Contract, contracts[on])
        session.add(Collection(contract_id=row.id, sector_id=row.sector_id, department_id=row.department_id,
                               amount=D(amount), received_on=received))

    collect("k1", "50000", date(2026, 10, 31))
    collect("k4", "60000", date(2026, 10, 2))
    collect("k4", "10000", date(2026, 9, 20))
    collect("k5", "100000", date(2026, 10, 15))
    collect("k6", "33000", date(2026, 10, 20))
    collect("k7", "3000000", date(2026, 10, 21))
    collect("k2", "5000", date(2026, 11, 1))
    session.commit()
    yield World(sector["S1"], sector["S2"], dept["D1"], dept["D2"], dept["D3"], ids)
    clock.reset()


def build(session, username: str, key: str, name: str, month: date = OCT, locale: str = "zh"):
    user = session.scalar(select(User).where(User.username == username))
    return REPORTS[name].build(session, resolve(session, user, key, locale), month, locale)


def scopes(w: World) -> dict[str, tuple[str, str]]:
    return {"me": ("rep1", "me"), "department": ("mgr1", f"department:{w.d1}"),
            "sector": ("salesmgmt1", f"sector:{w.s1}"), "group": ("grouplead", "group")}


def cols(table, *keys) -> list[tuple]:
    return [tuple(row[k] for k in keys) for row in table.rows]


# ---- registry ----------------------------------------------------------------------------------------------------
def test_A1_the_dashboard_reports_are_registered_with_labels_and_charts():
    for name in REPORT_NAMES:
        spec = REPORTS[name]
        assert spec.page == "dashboard" and spec.build.__module__ == dashboard.__name__
    assert REPORTS["sectors"].levels == ("group",)
    assert REPORTS["funnel"].levels == ("me", "department", "sector", "group")


def test_A1_every_report_has_zh_and_en_columns_money_kinds_and_a_note(world, session):
    for name in REPORT_NAMES:
        for locale in ("zh", "en"):
            table = build(session, "grouplead", "group", name, locale=locale)
            data = table.as_dict(locale)
            assert data["note"] and data["chart"]["kind"] in ("bar", "line", "funnel", "pie", "bar_line")
            assert data["chart"]["x"] in [c["key"] for c in data["columns"]]
            assert set(data["chart"]["series"]) <= {c["key"] for c in data["columns"]}
            json.dumps(data)  # JSON-ready for the API
            for column in table.columns:
                assert column.zh and column.en
                if column.key in ("amount", "weighted", "contract_amount", "collected", "pipeline", "forecast",
                                  "opportunity_value"):
                    assert column.kind == "money"
    assert build(session, "grouplead", "group", "funnel", locale="en").rows[0]["stage"] == "Lead"


# ---- 1. funnel -----------------------------------------------------------------------------------------------------
FUNNEL_KEYS = ("stage", "probability", "count", "amount", "weighted", "reached", "conversion")


def test_A2_funnel_for_a_rep_counts_his_own_opportunities_only(world, session):
    table = build(session, "rep1", "me", "funnel")
    assert "sector" not in [c.key for c in table.columns]
    assert table.chart.kind == "funnel" and table.chart.x == "stage" and table.chart.series == ("reached",)
    assert cols(table, *FUNNEL_KEYS) == [
        ("线索", 5, 1, D("10000.00"), D("500.00"), 7, 85.7),
        ("跟进", 10, 1, D("100000.00"), D("10000.00"), 6, 83.3),
        ("需求确认", 20, 1, D("40000.00"), D("8000.00"), 5, 60.0),
        ("方案", 40, 1, D("200000.00"), D("80000.00"), 3, 66.7),
        ("招标公告", 50, 0, D("0.00"), D("0.00"), 2, 100.0),
        ("投标", 60, 1, D("300000.00"), D("180000.00"), 2, 50.0),
        ("签约", 80, 0, D("0.00"), D("0.00"), 1, 100.0),
        ("赢单", 100, 1, D("400000.00"), D("400000.00"), 1, 14.3),  # overall win rate: 1 of 7
        ("输单", 0, 1, D("50000.00"), D("0.00"), None, None)]


def test_A2_funnel_for_a_department_adds_its_reps_not_the_other_department(world, session):
    table = build(session, "mgr1", f"department:{world.d1}", "funnel")
    assert cols(table, *FUNNEL_KEYS) == [
        ("线索", 5, 1, D("10000.00"), D("500.00"), 8, 87.5),
        ("跟进", 10, 1, D("100000.00"), D("10000.00"), 7, 85.7),
        ("需求确认", 20, 1, D("40000.00"), D("8000.00"), 6, 66.7),
        ("方案", 40, 1, D("200000.00"), D("80000.00"), 4, 75.0),
        ("招标公告", 50, 0, D("0.00"), D("0.00"), 3, 100.0),  # q1 of D2 is not here
        ("投标", 60, 1, D("300000.00"), D("180000.00"), 3, 66.7),
        ("签约", 80, 1, D("500000.00"), D("400000.00"), 2, 50.0),
        ("赢单", 100, 1, D("400000.00"), D("400000.00"), 1, 12.5),
        ("输单", 0, 1, D("50000.00"), D("0.00"), None, None)]


S1_FUNNEL = [
    ("线索", 5, 1, D("10000.00"), D("500.00"), 9, 88.9),
    ("跟进", 10, 1, D("100000.00"), D("10000.00"), 8, 87.5),
    ("需求确认", 20, 1, D("40000.00"), D("8000.00"), 7, 71.4),
    ("方案", 40, 1, D("200000.00"), D("80000.00"), 5, 80.0),
    ("招标公告", 50, 1, D("700000.00"), D("350000.00"), 4, 75.0),
    ("投标", 60, 1, D("300000.00"), D("180000.00"), 3, 66.7),
    ("签约", 80, 1, D("500000.00"), D("400000.00"), 2, 50.0),
    ("赢单", 100, 1, D("400000.00"), D("400000.00"), 1, 11.1),
    ("输单", 0, 1, D("50000.00"), D("0.00"), None, None)]
S2_FUNNEL = [
    ("线索", 5, 0, D("0.00"), D("0.00"), 2, 100.0),
    ("跟进", 10, 0, D("0.00"), D("0.00"), 2, 100.0),
    ("需求确认", 20, 0, D("0.00"), D("0.00"), 2, 100.0),
    ("方案", 30, 1, D("9000000.00"), D("2700000.00"), 2, 50.0),  # S2 weighs 方案 at 30 %
    ("招标公告", 50, 0, D("0.00"), D("0.00"), 1, 100.0),
    ("投标", 60, 0, D("0.00"), D("0.00"), 1, 100.0),
    ("签约", 80, 0, D("0.00"), D("0.00"), 1, 100.0),
    ("赢单", 100, 1, D("8000000.00"), D("8000000.00"), 1, 50.0),
    ("输单", 0, 0, D("0.00"), D("0.00"), None, None)]


@pytest.mark.parametrize("username", ["salesmgmt1", "sectorhead1"])
def test_A2_funnel_for_a_sector_never_includes_the_other_sector(world, session, username):
    table = build(session, username, f"sector:{world.s1}", "funnel")
    assert cols(table, *FUNNEL_KEYS) == S1_FUNNEL


def test_A2_funnel_for_the_group_has_rows_per_sector_and_stage(world, session):
    table = build(session, "grouplead", "group", "funnel")
    assert table.columns[0].key == "sector"
    assert [r["sector"] for r in table.rows] == ["软件版块"] * 9 + ["工程版块"] * 9
    assert cols(table, *FUNNEL_KEYS) == S1_FUNNEL + S2_FUNNEL
    assert cols(build(session, "grouplead", f"sector:{world.s2}", "funnel"), *FUNNEL_KEYS) == S2_FUNNEL


# ---- 2. expected signing months -------------------------------------------------------------------------------------
def _sign_months(session, username, key) -> dict[str, tuple[int, Decimal]]:
    table = build(session, username, key, "sign_months")
    periods = [r["period"] for r in table.rows]
    assert periods == ["更早（已逾期）", *[f"{m:%Y-%m}" for m in dashboard._months(OCT)], "更晚", "未填日期"]
    return {r["period"]: (r["count"], r["amount"]) for r in table.rows if r["count"]}


def test_A1_sign_months_per_scope(world, session):
    mine = {"更早（已逾期）": (1, D("300000.00")), "2026-10": (1, D("100000.00")), "2026-11": (1, D("200000.00")),
            "更晚": (1, D("40000.00")), "未填日期": (1, D("10000.00"))}
    assert _sign_months(session, "rep1", "me") == mine
    d1 = mine | {"2027-01": (1, D("500000.00"))}
    assert _sign_months(session, "mgr1", f"department:{world.d1}") == d1
    s1 = d1 | {"2026-12": (1, D("700000.00"))}
    assert _sign_months(session, "salesmgmt1", f"sector:{world.s1}") == s1
    assert _sign_months(session, "sectorhead1", f"sector:{world.s1}") == s1
    assert _sign_months(session, "grouplead", "group") == s1 | {"2026-10": (2, D("9100000.00"))}
    assert _sign_months(session, "rep2", "me") == {"2027-01": (1, D("500000.00"))}
    assert _sign_months(session, "rep3", "me") == {"2026-10": (1, D("9000000.00"))}


def test_A1_sign_months_start_at_the_chosen_month(world, session):
    user = session.scalar(select(User).where(User.username == "rep1"))
    table = REPORTS["sign_months"].build(session, resolve(session, user, "me"), date(2026, 11, 1), "zh")
    got = {r["period"]: r["count"] for r in table.rows if r["count"]}
    assert got == {"更早（已逾期）": 2, "2026-11": 1, "更晚": 1, "未填日期": 1}
    assert table.rows[1]["period"] == "2026-11" and table.rows[12]["period"] == "2027-10"


# ---- 3. forecast --------------------------------------------------------------------------------------------------
def _forecast(session, username, key) -> dict[date, tuple[int, Decimal, Decimal]]:
    table = build(session, username, key, "forecast")
    assert [r["month"] for r in table.rows] == dashboard._months(OCT)
    assert table.chart.kind == "bar_line"
    return {r["month"]: (r["count"], r["weighted"], r["amount"]) for r in table.rows if r["count"]}


def test_A1_forecast_weights_open_opportunities_by_the_stage_probability(world, session):
    mine = {date(2026, 10, 1): (1, D("10000.00"), D("100000.00")),
            date(2026, 11, 1): (1, D("80000.00"), D("200000.00"))}
    assert _forecast(session, "rep1", "me") == mine
    d1 = mine | {date(2027, 1, 1): (1, D("400000.00"), D("500000.00"))}
    assert _forecast(session, "mgr1", f"department:{world.d1}") == d1
    s1 = d1 | {date(2026, 12, 1): (1, D("350000.00"), D("700000.00"))}
    assert _forecast(session, "salesmgmt1", f"sector:{world.s1}") == s1
    assert _forecast(session, "sectorhead1", f"sector:{world.s1}") == s1
    # S2's 方案 is 30 % in its stage table (the opportunity row says 40): 10 000 + 2 700 000
    assert _forecast(session, "grouplead", "group") == s1 | {
        date(2026, 10, 1): (2, D("2710000.00"), D("9100000.00"))}
    assert _forecast(session, "grouplead", f"sector:{world.s2}") == {
        date(2026, 10, 1): (1, D("2700000.00"), D("9000000.00"))}


# ---- 4. per-person figures ----------------------------------------------------------------------------------------
PERSON_KEYS = ("name", "department", "new_customers", "new_opportunities", "opportunity_value", "phone_visits",
               "activities", "contract_amount", "collected", "open_opportunities", "contact_frequency")
REP1 = ("张伟", "华北销售一部", 3, 4, D("360000.00"), 4, 7, D("200000.00"), D("110000.00"), 5, D("1.2"))
REP2 = ("王芳", "华北销售一部", 1, 1, D("500000.00"), 4, 4, D("200000.00"), D("100000.00"), 1, D("4.0"))
REP4 = ("赵敏", "华东销售部", 1, 1, D("700000.00"), 0, 1, D("333000.00"), D("33000.00"), 1, D("1.0"))
REP3 = ("郭涛", "工程销售部", 2, 2, D("17000000.00"), 5, 5, D("7000000.00"), D("3000000.00"), 1, D("5.0"))


def _total(*rows, frequency: Decimal | None) -> tuple:
    sums = tuple(sum(r[i] for r in rows) for i in range(2, 10))
    return ("合计", None, *sums, frequency)


def test_A2_rep_figures_per_scope(world, session):
    me = build(session, "rep1", "me", "rep_figures")
    assert cols(me, *PERSON_KEYS) == [REP1] and me.snapshot is False
    assert me.chart.x == "name" and me.chart.series == ("new_customers", "new_opportunities")
    d1 = build(session, "mgr1", f"department:{world.d1}", "rep_figures")
    # mgr1 and asst1 hold no rep role and own no figures: not listed; 10 opportunity activities / 6 open
    assert cols(d1, *PERSON_KEYS) == [REP1, REP2, _total(REP1, REP2, frequency=D("1.7"))]
    for username in ("salesmgmt1", "sectorhead1"):
        s1 = build(session, username, f"sector:{world.s1}", "rep_figures")
        assert cols(s1, *PERSON_KEYS) == [REP1, REP2, REP4, _total(REP1, REP2, REP4, frequency=D("1.6"))]
    group = build(session, "grouplead", "group", "rep_figures")
    assert [c.key for c in group.columns][:3] == ["name", "sector", "department"]
    assert cols(group, *PERSON_KEYS) == [REP1, REP2, REP3, REP4, _total(REP1, REP2, REP3, REP4, frequency=D("2.0"))]
    assert [r["sector"] for r in group.rows] == ["软件版块", "软件版块", "工程版块", "软件版块", None]


def test_A2_rep_figures_list_a_non_rep_who_owns_figures(world, session):
    mgr1 = session.scalar(select(User.id).where(User.username == "mgr1"))
    session.add(Activity(sector_id=world.s1, owner_id=mgr1, kind="visit", subject="陪同拜访", occurred_at=_at(15)))
    session.commit()
    table = build(session, "mgr1", f"department:{world.d1}", "rep_figures")
    assert [r["name"] for r in table.rows] == ["张伟", "王芳", "李强", "合计"]
    assert cols(table, "name", "phone_visits", "activities", "open_opportunities", "contact_frequency")[2] == (
        "李强", 1, 1, 0, None)


def test_A2_a_closed_month_with_a_snapshot_gives_the_same_rep_figures(world, session):
    clock.freeze(datetime(2026, 11, 15, 2, 0))
    keys = [("grouplead", "group"), ("mgr1", f"department:{world.d1}"), ("rep1", "me"),
            ("salesmgmt1", f"sector:{world.s1}")]
    live = {k: build(session, *k, "rep_figures") for k in keys}
    assert not any(t.snapshot for t in live.values())
    assert monthly.build_snapshot(session, OCT) >= 4
    session.commit()
    for k in keys:
        snap = build(session, *k, "rep_figures")
        assert snap.snapshot is True
        assert snap.rows == live[k].rows
    assert cols(build(session, "rep1", "me", "rep_figures"), *PERSON_KEYS) == [REP1]



def test_A2_a_closed_month_counts_open_opportunities_of_the_departments_people_now(world, session):
    """The snapshot lists rep2 under D1 (his department in October); after a move to D2 his open opportunities
    are D2's: D1's closed month shows him with none, D2 with his one (open opportunities are a figure of now)."""
    clock.freeze(datetime(2026, 11, 15, 2, 0))
    assert monthly.build_snapshot(session, OCT) >= 4
    session.get(User, world.users["rep2"]).department_id = world.d2
    session.commit()
    d1 = build(session, "mgr1", f"department:{world.d1}", "rep_figures")
    assert d1.snapshot is True
    assert cols(d1, "name", "open_opportunities", "contact_frequency")[:2] == [("张伟", 5, D("1.2")),
                                                                               ("王芳", 0, None)]
    sector = build(session, "salesmgmt1", f"sector:{world.s1}", "rep_figures")
    assert cols(sector, "name", "open_opportunities")[:3] == [("张伟", 5), ("王芳", 1), ("赵敏", 1)]

# ---- 5. customer grades -------------------------------------------------------------------------------------------
GRADE_KEYS = ("name", "A", "B", "C", "D", "none", "total")


def test_A2_grade_distribution_per_person_without_pool_customers(world, session):
    rep1 = ("张伟", 1, 1, 0, 0, 4, 6)  # 4 ungraded demo customers; the pool customer is not his
    rep2 = ("王芳", 0, 0, 1, 0, 1, 2)
    rep4 = ("赵敏", 1, 0, 0, 1, 0, 2)
    rep3 = ("郭涛", 0, 2, 0, 0, 1, 3)
    me = build(session, "rep1", "me", "grades")
    assert cols(me, *GRADE_KEYS) == [rep1]
    assert me.chart.stack is True and me.chart.series == ("A", "B", "C", "D", "none")
    assert cols(build(session, "mgr1", f"department:{world.d1}", "grades"), *GRADE_KEYS) == [
        rep1, rep2, ("合计", 1, 1, 1, 0, 5, 8)]
    for username in ("salesmgmt1", "sectorhead1"):
        assert cols(build(session, username, f"sector:{world.s1}", "grades"), *GRADE_KEYS) == [
            rep1, rep2, rep4, ("合计", 2, 1, 1, 1, 5, 10)]
    assert cols(build(session, "grouplead", "group", "grades"), *GRADE_KEYS) == [
        rep1, rep2, rep3, rep4, ("合计", 2, 3, 1, 1, 6, 13)]


# ---- 6. contact frequency ------------------------------------------------------------------------------------------
FREQ_KEYS = ("bucket", "opportunities", "share", "activities", "average")


def test_A2_contact_frequency_per_open_opportunity(world, session):
    me = build(session, "rep1", "me", "contact_frequency")
    # o1 (its call was 23:30 on 30 September Beijing time) and o7: none; o2: 1; o3: 2; o6: 4 (one by rep2)
    assert cols(me, *FREQ_KEYS) == [("0 次", 2, 40.0, 0, D("0.0")), ("1 次", 1, 20.0, 1, D("1.0")),
                                    ("2–3 次", 1, 20.0, 2, D("2.0")), ("4 次及以上", 1, 20.0, 4, D("4.0")),
                                    ("合计", 5, 100.0, 7, D("1.4"))]
    assert me.extra == {"average": 1.4}  # JSON-ready
    d1 = build(session, "mgr1", f"department:{world.d1}", "contact_frequency")
    assert cols(d1, *FREQ_KEYS) == [("0 次", 2, 33.3, 0, D("0.0")), ("1 次", 1, 16.7, 1, D("1.0")),
                                    ("2–3 次", 2, 33.3, 5, D("2.5")), ("4 次及以上", 1, 16.7, 4, D("4.0")),
                                    ("合计", 6, 100.0, 10, D("1.7"))]
    s1 = [("0 次", 2, 28.6, 0, D("0.0")), ("1 次", 2, 28.6, 2, D("1.0")), ("2–3 次", 2, 28.6, 5, D("2.5")),
          ("4 次及以上", 1, 14.3, 4, D("4.0")), ("合计", 7, 100.0, 11, D("1.6"))]
    for username in ("salesmgmt1", "sectorhead1"):
        assert cols(build(session, username, f"sector:{world.s1}", "contact_frequency"), *FREQ_KEYS) == s1
    group = build(session, "grouplead", "group", "contact_frequency")
    assert cols(group, *FREQ_KEYS) == [("0 次", 2, 25.0, 0, D("0.0")), ("1 次", 2, 25.0, 2, D("1.0")),
                                       ("2–3 次", 2, 25.0, 5, D("2.5")), ("4 次及以上", 2, 25.0, 9, D("4.5")),
                                       ("合计", 8, 100.0, 16, D("2.0"))]


def test_A2_contact_frequency_of_an_empty_scope_is_undefined_not_an_error(world, session):
    session.execute(delete(Activity))
    session.execute(update(Opportunity).values(status="lost"))
    session.commit()
    table = build(session, "rep1", "me", "contact_frequency")
    assert cols(table, "opportunities", "share", "average")[-1] == (0, None, None)


# ---- 7. departments ----------------------------------------------------------------------------------------------
def _departments(session, username, key) -> tuple[list[str], dict[tuple[date, str], tuple[Decimal, Decimal]]]:
    table = build(session, username, key, "departments")
    months = sorted({r["month"] for r in table.rows})
    assert months == dashboard._months(date(2025, 11, 1))  # the 12 months ending at October
    names = list(dict.fromkeys(r["department"] for r in table.rows))
    assert len(table.rows) == 12 * len(names)
    return names, {(r["month"], r["department"]): (r["contract_amount"], r["collected"]) for r in table.rows
                   if r["contract_amount"] or r["collected"]}


def test_A2_contract_amount_and_collections_per_department_and_month(world, session):
    sep, oct_ = date(2026, 9, 1), OCT
    mine = {(oct_, "华北销售一部"): (D("200000.00"), D("110000.00")), (sep, "华北销售一部"): (D("60000.00"), D("10000.00"))}
    assert _departments(session, "rep1", "me") == (["华北销售一部"], mine)
    assert _departments(session, "rep2", "me") == (["华北销售一部"], {
        (oct_, "华北销售一部"): (D("200000.00"), D("100000.00"))})
    d1 = {(oct_, "华北销售一部"): (D("400000.00"), D("210000.00")), (sep, "华北销售一部"): (D("60000.00"), D("10000.00"))}
    assert _departments(session, "mgr1", f"department:{world.d1}") == (["华北销售一部"], d1)
    s1 = d1 | {(oct_, "华东销售部"): (D("333000.00"), D("33000.00"))}
    for username in ("salesmgmt1", "sectorhead1"):
        assert _departments(session, username, f"sector:{world.s1}") == (["华北销售一部", "华东销售部"], s1)
    assert _departments(session, "grouplead", "group") == (
        ["华北销售一部", "华东销售部", "工程销售部"], s1 | {(oct_, "工程销售部"): (D("7000000.00"), D("3000000.00"))})
    assert _departments(session, "mgr1", f"department:{world.d1}") == (["华北销售一部"], d1)


def test_A2_departments_count_by_the_contracts_own_department(world, session):
    """A contract of rep1 booked to D2 counts for D2 in department scopes, and still for rep1 himself."""
    session.execute(update(Contract).where(Contract.number == "HT-T-k2").values(department_id=world.d2))
    session.commit()
    _names, d1 = _departments(session, "mgr1", f"department:{world.d1}")
    assert d1[(OCT, "华北销售一部")] == (D("320000.00"), D("210000.00"))
    _names, s1 = _departments(session, "salesmgmt1", f"sector:{world.s1}")
    assert s1[(OCT, "华东销售部")] == (D("413000.00"), D("33000.00"))
    names, mine = _departments(session, "rep1", "me")
    assert names == ["华北销售一部", "华东销售部"]
    assert mine[(OCT, "华北销售一部")] == (D("120000.00"), D("110000.00"))
    assert mine[(OCT, "华东销售部")] == (D("80000.00"), D("0.00"))


# ---- 8. sectors ----------------------------------------------------------------------------------------------------
def test_A1_sectors_side_by_side_for_the_group(world, session):
    table = build(session, "grouplead", "group", "sectors")
    keys = ("sector", "new_customers", "new_opportunities", "pipeline", "forecast", "contract_amount", "collected",
            "activities")
    assert cols(table, *keys) == [
        ("软件版块", 5, 6, D("1850000.00"), D("1028500.00"), D("733000.00"), D("243000.00"), 12),
        ("工程版块", 2, 2, D("9000000.00"), D("2700000.00"), D("7000000.00"), D("3000000.00"), 5)]


# ---- walls between scopes -------------------------------------------------------------------------------------------
OUTSIDERS = {
    "me": ("王芳", "赵敏", "郭涛", "工程版块", "华东销售部", "工程销售部", "9000000", "7000000", "333000", "700000"),
    "department": ("赵敏", "郭涛", "工程版块", "华东销售部", "工程销售部", "9000000", "7000000", "333000", "700000"),
    "sector": ("郭涛", "工程版块", "工程销售部", "9000000", "7000000", "3000000", "17000000"),
}


@pytest.mark.parametrize("level", ["me", "department", "sector"])
def test_A2_no_scope_shows_figures_of_people_or_sectors_outside_it(world, session, level):
    username, key = scopes(world)[level]
    for name in REPORT_NAMES:
        if level not in REPORTS[name].levels:
            continue
        text = json.dumps(build(session, username, key, name).as_dict("zh"), ensure_ascii=False)
        for outsider in OUTSIDERS[level]:
            assert outsider not in text, (level, name, outsider)


def test_A2_a_scope_that_is_not_yours_is_refused(world, session):
    def refused(username: str, key: str) -> int:
        user = session.scalar(select(User).where(User.username == username))
        with pytest.raises(ReportError) as err:
            resolve(session, user, key)
        return err.value.status

    assert refused("rep1", f"department:{world.d1}") == 404
    assert refused("rep1", f"sector:{world.s1}") == 404
    assert refused("mgr1", f"department:{world.d2}") == 404
    assert refused("mgr1", f"sector:{world.s1}") == 404
    assert refused("salesmgmt1", f"sector:{world.s2}") == 404
    assert refused("salesmgmt1", f"department:{world.d3}") == 404
    assert refused("salesmgmt1", "group") == 404
    assert refused("admin", "group") == 403
