"""The monthly ranking (P1), its effects (P2 routing priority and lead rights, P4 presales priority, L4 routing)
and the ranking reports and settings. Real SQLite and PostgreSQL (TEST_DB), records inserted with fixed times.

The data set (March 2025, Beijing time; sector S1), default weights 15/15/10/25/20/15 and thresholds 20/5:

| rep  | dept | customers | opportunities      | calls+visits | contracts | stage advances | score | rank |
| repA | D1   | 30        | 8 × 50 000         | 20           | 1 000 000 | 2              | 76.75 | 1    |
| rep1 | D1   | 25        | 6 × 100 000        | 10           | 500 000   | 4              | 60.75 | 2    |
| rep2 | D1   | 20        | 5 × 200 000        | 4            | 0         | 8              | 56.38 | 3    |
| repB | D2   | 25        | 5 × 100 000        | 5            | 250 000   | 0              | 40.63 | 4    |
| repE | D1   | 20        | 5 × 100 000        | 0            | 0         | 0              | 29.38 | 5    |
| repC | D2   | 19        | 10 × 10 000        | 3            | 0         | 0              | 未达门槛 (customers)      |
| repD | D1   | 40        | 4 × 10 000         | 0            | 0         | 0              | 未达门槛 (opportunities)  |

Agents (channel_rep, D2): ag3 24 / 6 × 20 000 / 4 / 100 000 / 1 → 100; ag1 and ag2 identical 20 / 5 × 10 000 / 2 →
38.33 each (ag1 first: lower user id); ag4 10 / 1 → 未达门槛.
"""
from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from engine import jobs
from engine.report_jobs import monthly_ranking_run
from models import clock, settings
from models.audit import AuditLog
from models.contracts import Contract
from models.crm import Customer
from models.lead_routing import LeadRoutingRule, RoutingPriority, pick_assignee
from models.notifications import Notification
from models.org import Department, Sector, User, UserRole
from models.reports import ranking as rk
from models.reports import scope as rs
from models.reports.records import OpportunityStageChange, RepRanking
from models.reports.tables import REPORTS
from models.sales import Activity, Opportunity

MARCH = date(2025, 3, 1)
APRIL = date(2025, 4, 1)
_SEQ = itertools.count(1)

# username: (display name, department code, role, customers, opportunities (n, amount), calls, contract, advances)
REPS = {
    "repA": ("甲销售", "D1", "sales_rep", 30, (8, 50_000), 20, 1_000_000, 2),
    "rep1": (None, "D1", None, 25, (6, 100_000), 10, 500_000, 4),
    "rep2": (None, "D1", None, 20, (5, 200_000), 4, 0, 8),
    "repB": ("乙销售", "D2", "sales_rep", 25, (5, 100_000), 5, 250_000, 0),
    "repE": ("戊销售", "D1", "sales_rep", 20, (5, 100_000), 0, 0, 0),
    "repC": ("丙销售", "D2", "sales_rep", 19, (10, 10_000), 3, 0, 0),
    "repD": ("丁销售", "D1", "sales_rep", 40, (4, 10_000), 0, 0, 0),
    "ag1": ("代理一", "D2", "channel_rep", 20, (5, 10_000), 2, 0, 0),
    "ag2": ("代理二", "D2", "channel_rep", 20, (5, 10_000), 2, 0, 0),
    "ag3": ("代理三", "D2", "channel_rep", 24, (6, 20_000), 4, 100_000, 1),
    "ag4": ("代理四", "D2", "channel_rep", 10, (1, 10_000), 0, 0, 0),
}


def uid(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def s1(session) -> int:
    return session.scalar(select(Sector.id).where(Sector.code == "S1"))


def dept(session, code: str) -> int:
    return session.scalar(select(Department.id).where(Department.code == code))


def make_people(session) -> None:
    """The extra reps and agents of sector S1 (in REPS order, so ag1's id is below ag2's)."""
    sector = s1(session)
    for username, (name, code, role, *_figures) in REPS.items():
        if role is None:
            continue
        user = User(username=username, display_name=name, password_hash="x", sector_id=sector,
                    department_id=dept(session, code))
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role_code=role, sector_id=sector, department_id=user.department_id))
    session.flush()


def seed_month(session, month: date) -> None:
    """Every person's records of REPS in `month` (mid-month, Beijing noon), set-based inserts."""
    at = datetime(month.year, month.month, 10, 4, 0)
    for username, (_name, _code, _role, customers, (n_opps, amount), calls, contract, advances) in REPS.items():
        user = session.scalar(select(User).where(User.username == username))
        common = {"sector_id": user.sector_id, "department_id": user.department_id}
        names = [f"排名测试{next(_SEQ)}有限公司" for _ in range(customers)]
        session.execute(insert(Customer), [
            {**common, "owner_id": user.id, "name": n, "name_normalized": n, "status": "approved",
             "created_by": user.id, "created_at": at, "updated_at": at} for n in names])
        customer_id = session.scalar(select(Customer.id).where(Customer.name == names[0]))
        session.execute(insert(Opportunity), [
            {**common, "owner_id": user.id, "customer_id": customer_id, "name": f"机会{i}", "stage_code": "follow_up",
             "amount": Decimal(amount), "win_probability": 10, "status": "open", "created_by": user.id,
             "created_at": at, "updated_at": at} for i in range(n_opps)])
        opp_id = session.scalar(select(func.min(Opportunity.id)).where(Opportunity.owner_id == user.id,
                                                                        Opportunity.created_at == at))
        if calls:
            session.execute(insert(Activity), [
                {"sector_id": user.sector_id, "owner_id": user.id, "kind": "visit" if i % 2 else "call",
                 "subject": "拜访", "occurred_at": at, "created_at": at} for i in range(calls)])
        # a meeting is an activity but not a call or visit: it must not count
        session.execute(insert(Activity), [{"sector_id": user.sector_id, "owner_id": user.id, "kind": "meeting",
                                            "subject": "会议", "occurred_at": at, "created_at": at}])
        if contract:
            session.execute(insert(Contract), [{
                **common, "number": f"HT-RANK-{next(_SEQ)}", "customer_id": customer_id, "owner_id": user.id,
                "title": "排名测试合同", "list_amount": Decimal(contract), "amount": Decimal(contract),
                "discount": Decimal(1), "status": "signed", "signed_on": month.replace(day=12), "created_at": at}])
        if advances:
            session.execute(insert(OpportunityStageChange), [
                {"opportunity_id": opp_id, "sector_id": user.sector_id, "owner_id": user.id, "from_code": "lead",
                 "to_code": "follow_up", "forward": True, "changed_at": at} for _ in range(advances)])
    session.flush()


@pytest.fixture
def data(session):
    make_people(session)
    seed_month(session, MARCH)
    session.commit()
    return session


def by_name(rows) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


def names(session) -> dict[str, str]:
    return {u: session.scalar(select(User.display_name).where(User.username == u)) for u in REPS}


# ---- P1 -----------------------------------------------------------------------------------------------------
def test_P1_scores_ranks_marks_and_thresholds_of_a_known_month(data):
    session = data
    rows = rk.compute_ranking(session, s1(session), MARCH)
    n = names(session)
    reps = [r for r in rows if r["rank_group"] == "rep"]
    assert [(r["name"], r["rank"], r["score"], r["mark"]) for r in reps if r["qualified"]] == [
        (n["repA"], 1, Decimal("76.75"), "top"), (n["rep1"], 2, Decimal("60.75"), "top"),
        (n["rep2"], 3, Decimal("56.38"), "top"), (n["repB"], 4, Decimal("40.63"), "bottom"),
        (n["repE"], 5, Decimal("29.38"), "bottom")]
    got = by_name(rows)
    rep1 = got[n["rep1"]]
    assert (rep1["new_customers"], rep1["new_opportunities"], rep1["phone_visits"], rep1["stage_advances"]) == (
        25, 6, 10, 4)
    assert rep1["customer_value"] == Decimal("500000.00") and rep1["opportunity_value"] == Decimal("600000.00")
    # below a threshold: no rank, no score, and what is missing
    assert got[n["repC"]]["qualified"] is False and got[n["repC"]]["rank"] is None
    assert got[n["repC"]]["missing"] == {"new_customers": {"have": 19, "need": 20}}
    assert got[n["repD"]]["missing"] == {"new_opportunities": {"have": 4, "need": 5}}
    assert got[n["repD"]]["score"] is None and got[n["repD"]]["mark"] is None
    # P4: by contract + opportunity value among the qualified; default 5 places: all five reps
    assert {r["name"]: r["value_rank"] for r in reps if r["qualified"]} == {
        n["repA"]: 1, n["rep1"]: 2, n["rep2"]: 3, n["repB"]: 4, n["repE"]: 5}
    assert all(r["presales_priority"] for r in reps if r["qualified"])
    assert not any(r["presales_priority"] for r in rows if not r["qualified"])
    # the other sector's rep is not in S1's ranking; non-sales staff are not ranked
    assert "郭涛" not in got and "李强" not in got and "周磊" not in got


def test_P1_agents_are_ranked_separately_with_their_own_maxima_and_sizes(data):
    session = data
    n = names(session)
    agents = [r for r in rk.compute_ranking(session, s1(session), MARCH) if r["rank_group"] == "agent"]
    # ag3 is the best agent in every figure: 100 although reps have more; ag1/ag2 tie → lower user id first
    assert [(r["name"], r["rank"], r["score"], r["mark"]) for r in agents] == [
        (n["ag3"], 1, Decimal("100.00"), "top"), (n["ag1"], 2, Decimal("38.33"), "top"),
        (n["ag2"], 3, Decimal("38.33"), "top"), (n["ag4"], None, None, None)]
    assert uid(session, "ag1") < uid(session, "ag2")
    # agents' own sizes: top 1, bottom 1 (reps keep 3/3)
    settings.put(session, "ranking.agent_top_n", 1, sector_id=s1(session), actor_id=None)
    settings.put(session, "ranking.agent_bottom_n", 1, sector_id=s1(session), actor_id=None)
    settings.put(session, "ranking.agent_presales_n", 2, sector_id=s1(session), actor_id=None)
    rows = rk.compute_ranking(session, s1(session), MARCH)
    assert [(r["name"], r["mark"], r["presales_priority"]) for r in rows if r["rank_group"] == "agent"] == [
        (n["ag3"], "top", True), (n["ag1"], None, True), (n["ag2"], "bottom", False), (n["ag4"], None, False)]
    assert [r["mark"] for r in rows if r["rank_group"] == "rep" and r["qualified"]] == [
        "top", "top", "top", "bottom", "bottom"]


def test_P1_settings_change_thresholds_weights_and_break_ties_by_contract_then_opportunity_value(data):
    session = data
    sector, n = s1(session), names(session)
    settings.put(session, "ranking.weights", {"new_customers": 1, "new_opportunities": 0, "phone_visits": 0,
                                              "customer_value": 0, "opportunity_value": 0, "stage_advances": 0},
                 sector_id=sector, actor_id=None)
    settings.put(session, "ranking.min_new_customers", 19, sector_id=sector, actor_id=None)
    settings.put(session, "ranking.presales_n", 2, sector_id=sector, actor_id=None)
    reps = [r for r in rk.compute_ranking(session, sector, MARCH) if r["rank_group"] == "rep"]
    # new customers only: rep1 and repB tie at 83.33 → the higher contract amount first; rep2 and repE tie at
    # 66.67 with no contract → the higher opportunity value first; repC now qualifies (19 ≥ 19)
    assert [(r["name"], r["rank"], r["score"]) for r in reps if r["qualified"]] == [
        (n["repA"], 1, Decimal("100.00")), (n["rep1"], 2, Decimal("83.33")), (n["repB"], 3, Decimal("83.33")),
        (n["rep2"], 4, Decimal("66.67")), (n["repE"], 5, Decimal("66.67")), (n["repC"], 6, Decimal("63.33"))]
    assert [r["mark"] for r in reps if r["qualified"]] == ["top", "top", "top", "bottom", "bottom", "bottom"]
    assert [r["name"] for r in reps if r["presales_priority"]] == [n["repA"], n["rep1"]]
    # other sectors keep their own settings
    s2 = session.scalar(select(Sector.id).where(Sector.code == "S2"))
    assert rk.ranking_settings(session, s2)["min_new_customers"] == 20


# ---- P2, P4, L4: closing the month ------------------------------------------------------------------------------
def test_P2_L4_close_month_gives_next_months_routing_priority_keeps_manual_and_routes_the_top_rep(data):
    session = data
    sector = s1(session)
    session.add(RoutingPriority(sector_id=sector, month=APRIL, user_id=uid(session, "rep2"), rank=7,
                                source="manual"))
    session.add(LeadRoutingRule(sector_id=sector, region="华中", target_department_id=dept(session, "D1"),
                                position=1))
    session.commit()
    summary = rk.close_month(session, MARCH, datetime(2025, 4, 1, 2, 0))
    session.commit()
    assert (summary["ranked"], summary["qualified"], summary["top"], summary["bottom"], summary["presales"]) == (
        12, 8, 6, 2, 8)  # 11 in S1 and rep3 of S2 (below the thresholds)
    rows = {r.user_id: r for r in session.scalars(select(RepRanking).where(RepRanking.month == MARCH,
                                                                           RepRanking.sector_id == sector))}
    assert len(rows) == 11
    repa = rows[uid(session, "repA")]
    assert (repa.rank, repa.score, repa.mark, repa.routing_priority, repa.value_rank, repa.presales_priority) == (
        1, Decimal("76.75"), "top", True, 1, True)
    assert rows[uid(session, "repC")].qualified is False and rows[uid(session, "repC")].rank is None
    # next month's priority: reps' top 3 then agents' top, in rank order; the manual row is kept as it was
    prio = {p.user_id: (p.rank, p.source) for p in session.scalars(
        select(RoutingPriority).where(RoutingPriority.sector_id == sector, RoutingPriority.month == APRIL))}
    assert prio == {uid(session, "repA"): (1, "ranking"), uid(session, "rep1"): (2, "ranking"),
                    uid(session, "rep2"): (7, "manual"), uid(session, "ag3"): (4, "ranking"),
                    uid(session, "ag1"): (5, "ranking"), uid(session, "ag2"): (6, "ranking")}
    assert not session.scalar(select(func.count()).select_from(RoutingPriority).where(
        RoutingPriority.month == MARCH))
    # L4: a lead routed to team D1 in April goes to the top rep first; in March nobody had priority yet
    assert pick_assignee(session, sector, "华中", None, as_of=datetime(2025, 4, 5))[0] == uid(session, "repA")
    assert pick_assignee(session, sector, "华中", None, as_of=datetime(2025, 3, 5))[0] != uid(session, "repA")


def test_P2_P4_notifications_once_and_the_job_is_idempotent(data):
    session = data
    as_of = datetime(2025, 4, 1, 1, 0)  # 09:00 on 1 April in Beijing: the previous month is March
    first = jobs.run(session, "monthly-ranking", as_of)
    session.commit()
    assert first["skipped"] is False and first["month"] == "2025-03-01"
    # 6 top (3 reps, 3 agents), 2 bottom, 8 presales, the presales list to implmgr1 and implvp
    assert first["notifications"] == 18
    titles = {(u, t) for u, t in session.execute(select(User.username, Notification.title).join(
        User, User.id == Notification.user_id).where(Notification.dedupe_key.like("ranking:2025-03:%")))}
    assert ("repA", "2025年3月销售排名第1名，下月线索分配优先") in titles
    assert ("ag3", "2025年3月代理商排名第1名，下月线索分配优先") in titles
    assert ("repE", "2025年3月销售排名第5名（后3名）") in titles
    assert ("rep1", "2025年3月客户与销售机会价值第2名，售前与专家资源优先支持（P4）") in titles
    assert {u for u, t in titles if "售前与专家资源优先名单" in t} == {"implmgr1", "implvp"}
    body = session.scalar(select(Notification.body).where(Notification.user_id == uid(session, "implvp")))
    assert "甲销售（销售第1名）" in body and "代理三（代理商第1名）" in body
    count = session.scalar(select(func.count()).select_from(Notification))
    # the job again: done already; forced: recomputed, but nothing is sent twice
    assert jobs.run(session, "monthly-ranking", as_of)["skipped"] is True
    forced = monthly_ranking_run(session, as_of, force=True)
    session.commit()
    assert forced["skipped"] is False and forced["notifications"] == 0 and forced["ranked"] == 12
    assert session.scalar(select(func.count()).select_from(Notification)) == count
    assert session.scalar(select(func.count()).select_from(RepRanking)) == 11 + session.scalar(
        select(func.count()).select_from(RepRanking).where(RepRanking.sector_id != s1(session)))
    # the snapshot job: the month was snapshotted by the ranking; a second run skips
    stats = jobs.run(session, "monthly-stats", as_of)
    assert stats["skipped"] is True and stats["rows"] > 11


def test_P2_three_bottom_months_in_a_row_remove_lead_rights_two_do_not(data):
    session = data
    for month in (date(2025, 1, 1), date(2025, 2, 1)):
        seed_month(session, month)
    session.commit()
    rk.close_month(session, date(2025, 1, 1), datetime(2025, 2, 1))
    rk.close_month(session, date(2025, 2, 1), datetime(2025, 3, 1))
    session.commit()
    session.expire_all()
    assert session.scalar(select(User.lead_rights).where(User.username == "repE")) is True  # two months: kept
    summary = rk.close_month(session, MARCH, datetime(2025, 4, 1))
    session.commit()
    session.expire_all()
    assert summary["lead_rights_removed"] == 2
    lost = {u for (u,) in session.execute(select(User.username).where(User.lead_rights.is_(False)))}
    assert lost == {"repB", "repE"}
    march = {r.user_id: r for r in session.scalars(select(RepRanking).where(RepRanking.month == MARCH))}
    assert march[uid(session, "repE")].lost_lead_rights and not march[uid(session, "rep1")].lost_lead_rights
    audits = session.scalars(select(AuditLog).where(AuditLog.action == "user.lead_rights_removed")).all()
    assert sorted(a.entity_id for a in audits) == sorted([str(uid(session, "repB")), str(uid(session, "repE"))])
    assert audits[0].before == {"lead_rights": True} and audits[0].after["lead_rights"] is False
    # the rep, his department manager (repE: D1 → mgr1) and sales management are told
    told = {(u, key) for u, key in session.execute(select(User.username, Notification.dedupe_key).join(
        User, User.id == Notification.user_id).where(Notification.dedupe_key.like("ranking:2025-03:lost:%")))}
    repe_key = f"ranking:2025-03:lost:{uid(session, 'repE')}"
    repb_key = f"ranking:2025-03:lost:{uid(session, 'repB')}"
    assert told == {("repE", repe_key), ("mgr1", repe_key), ("salesmgmt1", repe_key), ("repB", repb_key),
                    ("salesmgmt1", repb_key)}
    # L4: no routed lead for him any more, priority or not; a re-run keeps the mark and removes nothing twice
    again = rk.close_month(session, MARCH, datetime(2025, 4, 2))
    session.commit()
    assert again["lead_rights_removed"] == 0 and again["notifications"] == 0
    assert session.scalar(select(RepRanking.lost_lead_rights).where(
        RepRanking.month == MARCH, RepRanking.user_id == uid(session, "repE"))) is True
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "user.lead_rights_removed")) == 2


def test_P2_a_month_not_closed_in_between_breaks_the_run(data):
    session = data
    seed_month(session, date(2025, 1, 1))
    session.commit()
    rk.close_month(session, date(2025, 1, 1), datetime(2025, 2, 1))
    rk.close_month(session, MARCH, datetime(2025, 4, 1))  # February was never closed
    session.commit()
    session.expire_all()
    assert session.scalar(select(User.lead_rights).where(User.username == "repE")) is True


# ---- the reports (P1, P2, P4 shown; scopes) ------------------------------------------------------------------
def build(session, username: str, key: str | None, name: str = "ranking", month: date = MARCH):
    user = session.scalar(select(User).where(User.username == username))
    scope = rs.resolve(session, user, key)
    return REPORTS[name].build(session, scope, month, "zh")


def test_P1_ranking_report_per_scope_live_then_closed(data):
    session = data
    n = names(session)
    # not closed yet: computed live, said so, nothing written
    table = build(session, "salesmgmt1", None)
    assert table.snapshot is False and "暂定" in table.note and table.extra["provisional"] is True
    assert session.scalar(select(func.count()).select_from(RepRanking)) == 0
    assert [r["name"] for r in table.rows] == [n[u] for u in ("repA", "rep1", "rep2", "repB", "repE", "repC", "repD")]
    row = by_name(table.rows)[n["repA"]]
    assert (row["rank"], row["score"], row["mark"], row["presales"], row["department"]) == (
        1, Decimal("76.75"), "前三", True, "华北销售一部")
    assert by_name(table.rows)[n["repE"]]["mark"] == "后三"
    assert by_name(table.rows)[n["repC"]]["qualification"] == "未达门槛：新增客户 19/20"
    assert table.extra["settings"]["min_new_customers"] == 20 and table.extra["settings"]["weights"][
        "customer_value"] == 25
    assert {c.key for c in table.columns} >= {"rank", "name", "department", "score", "mark", "presales",
                                             "customer_value", "opportunity_value", "qualification"}
    assert "sector" not in {c.key for c in table.columns}
    assert table.chart.kind == "bar" and table.chart.series == ("score",)
    # agents have their own report
    agents = build(session, "salesmgmt1", None, "agent_ranking")
    assert [r["name"] for r in agents.rows][:3] == [n["ag3"], n["ag1"], n["ag2"]]
    assert by_name(agents.rows)[n["ag3"]]["mark"] == "前十"
    # closed: read from the stored rows
    rk.close_month(session, MARCH, datetime(2025, 4, 1))
    session.commit()
    closed = build(session, "salesmgmt1", None)
    assert closed.snapshot is True and "月结" in closed.note
    assert [(r["name"], r["rank"], r["score"]) for r in closed.rows][:2] == [
        (n["repA"], 1, Decimal("76.75")), (n["rep1"], 2, Decimal("60.75"))]
    data_json = closed.as_dict("zh")
    assert data_json["rows"][0]["score"] == "76.75" and data_json["rows"][0]["customer_value"] == "1000000.00"


def test_P1_P2_scopes_rep_sees_his_own_row_manager_his_department_never_another_sector(data):
    session = data
    n = names(session)
    rk.close_month(session, MARCH, datetime(2025, 4, 1))
    session.commit()
    mine = build(session, "rep1", "me")
    assert [(r["name"], r["rank"], r["mark"]) for r in mine.rows] == [(n["rep1"], 2, "前三")]
    me = mine.extra["me"]
    assert (me["rank"], me["mark"], me["rank_group"], me["routing_priority"], me["lead_rights"],
            me["presales_priority"], me["value_rank"]) == (2, "top", "rep", True, True, True, 2)
    assert build(session, "rep1", "me", "agent_ranking").rows == []
    # a department manager: his department's reps with their sector-wide places
    d1 = dept(session, "D1")
    team = build(session, "mgr1", f"department:{d1}")
    assert {r["name"] for r in team.rows} == {n[u] for u in ("repA", "rep1", "rep2", "repE", "repD")}
    assert by_name(team.rows)[n["repE"]]["rank"] == 5
    assert team.extra["me"] is None
    # another department is not his; another sector's people never appear in S1's views
    with pytest.raises(rs.ReportError) as err:
        build(session, "mgr1", f"department:{dept(session, 'D2')}")
    assert err.value.status == 404
    for username, key in (("salesmgmt1", None), ("sectorhead1", None), ("mgr1", f"department:{d1}")):
        assert "郭涛" not in {r["name"] for r in build(session, username, key).rows}
    # group management: every sector, with a sector column
    group = build(session, "grouplead", "group")
    assert "sector" in {c.key for c in group.columns}
    sectors = {r["sector"] for r in group.rows}
    assert "软件版块" in sectors and len(sectors) == 2
    assert group.extra["settings"] is None and len(group.extra["settings_by_sector"]) == 2
    # a rep below the threshold sees why
    assert build(session, "repD", "me").extra["me"]["qualification"] == "未达门槛：新增销售机会 4/5"


def test_P1_an_agent_sees_his_place_in_the_agent_ranking(data):
    session = data
    rk.close_month(session, MARCH, datetime(2025, 4, 1))
    session.commit()
    table = build(session, "ag2", "me", "agent_ranking")
    assert [r["rank"] for r in table.rows] == [3] and table.extra["me"]["rank_group"] == "agent"
    assert build(session, "ag2", "me").extra["me"] is None


# ---- settings page and API ------------------------------------------------------------------------------------
def test_P1_settings_api_permissions_validation_and_all_or_nothing(api, session):
    path = "/reports/ranking/settings"
    for who in ("rep1", "mgr1", "grouplead", "admin", "rep3"):
        assert api.as_(who).get(path).status_code == 403, who
        assert api.as_(who).put(path, json={"top_n": 1}).status_code == 403, who
    r = api.as_("salesmgmt1").get(path)
    assert r.status_code == 200 and r.get_json()["min_new_customers"] == 20
    assert r.get_json()["weights"] == {"new_customers": 15, "new_opportunities": 15, "phone_visits": 10,
                                       "customer_value": 25, "opportunity_value": 20, "stage_advances": 15}
    for body, field in (({"bogus": 1}, "bogus"), ({"top_n": "3"}, "top_n"), ({"top_n": 1001}, "top_n"),
                        ({"bottom_months": 0}, "bottom_months"), ({"bottom_months": 13}, "bottom_months"),
                        ({"min_new_customers": True}, "min_new_customers"),
                        ({"weights": {"new_customers": -1}}, "weights.new_customers"),
                        ({"weights": {"charm": 5}}, "weights.charm"),
                        ({"weights": {k: 0 for k in rk.WEIGHTED}}, "weights"),
                        ({"weights": [1, 2]}, "weights"),
                        ({"top_n": 5, "presales_n": -1}, "presales_n")):
        r = api.as_("salesmgmt1").put(path, json=body)
        assert r.status_code == 422 and field in r.get_json()["errors"], (body, r.get_json())
    assert api.as_("salesmgmt1").put(path, data="[1]", content_type="application/json").status_code == 422
    session.rollback()
    assert session.scalar(select(func.count()).select_from(settings.Setting).where(
        settings.Setting.key.like("ranking.%"))) == 0  # nothing half-written (top_n 5 above was refused too)
    r = api.as_("salesmgmt1").put(path, json={"top_n": 2, "weights": {"phone_visits": 30.5}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["top_n"] == 2 and r.get_json()["weights"]["phone_visits"] == 30.5
    assert r.get_json()["weights"]["customer_value"] == 25
    assert api.as_("sectoradmin1").put(path, json={"bottom_months": 2}).status_code == 200
    session.rollback()
    sector = s1(session)
    assert settings.get(session, "ranking.top_n", sector) == 2 and settings.get(session, "ranking.top_n") == 3
    assert settings.get(session, "ranking.bottom_months", sector) == 2
    audits = session.scalars(select(AuditLog.entity_id).where(AuditLog.action == "setting.put")).all()
    assert sorted(audits) == ["ranking.bottom_months", "ranking.top_n", "ranking.weights"]


def test_P1_settings_are_in_the_openapi_document(app):
    from web.api.openapi import openapi_document

    openapi_document.cache_clear()
    doc = openapi_document()
    ops = doc["paths"]["/reports/ranking/settings"]
    assert set(ops["put"]["responses"]) >= {"200", "403", "422"} and "403" in ops["get"]["responses"]
    assert "RankingSettingsIn" in doc["components"]["schemas"]


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302


def test_P1_settings_page_shows_saves_and_names_the_refused_field(client, session):
    login(client, "rep1")
    assert client.get("/reports/ranking/settings").status_code == 403
    assert client.post("/reports/ranking/settings", data={"top_n": "1"}).status_code == 403
    login(client, "salesmgmt1")
    page = client.get("/reports/ranking/settings").get_data(as_text=True)
    assert "排名规则" in page and 'name="weights.customer_value"' in page and 'value="25"' in page
    form = {name: str(value) for name, value in rk.ranking_settings(session, s1(session)).items()
            if name != "weights"}
    form.update({f"weights.{k}": str(v) for k, v in settings.DEFAULTS["ranking.weights"].items()})
    bad = {**form, "weights.phone_visits": "很多", "top_n": "2"}
    r = client.post("/reports/ranking/settings", data=bad)
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="weights-phone_visits-error"' in text and "很多" in text
    session.rollback()
    assert settings.get(session, "ranking.top_n", s1(session)) == 3
    r = client.post("/reports/ranking/settings", data={**form, "min_new_customers": "15",
                                                       "weights.stage_advances": "0"})
    assert r.status_code == 302
    session.rollback()
    assert settings.get(session, "ranking.min_new_customers", s1(session)) == 15
    assert settings.get(session, "ranking.weights", s1(session))["stage_advances"] == 0
    assert "排名规则已保存" in client.get("/reports/ranking/settings").get_data(as_text=True)


def test_P1_the_open_month_is_always_provisional(data):
    """The current month is never read from stored rows, even after a forced close (provisional)."""
    session = data
    this_month = rs.local_today(clock.now()).replace(day=1)
    rk.close_month(session, this_month, clock.now())
    session.commit()
    assert build(session, "salesmgmt1", None, month=this_month).snapshot is False
