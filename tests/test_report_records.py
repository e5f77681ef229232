"""What the reports count from (A2, A3, P1): every stage move is kept with its direction, an opportunity keeps the
furthest stage it reached (lost is not progress), and every successful login is an event."""
from __future__ import annotations

from sqlalchemy import select

from models.crm import Customer
from models.reports.records import LoginEvent, OpportunityStageChange
from models.sales import Opportunity

HUAXIN = "北京华信科技有限公司"


def _opp(api, session) -> dict:
    session.rollback()
    customer_id = session.scalar(select(Customer.id).where(Customer.name == HUAXIN))
    r = api.as_("rep1").post("/opportunities", json={"customer_id": customer_id, "name": "漏斗测试", "amount": 1000,
                                                    "stage_code": "follow_up"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _move(api, opp_id: int, code: str) -> None:
    r = api.as_("rep1").post(f"/opportunities/{opp_id}/stage", json={"stage_code": code})
    assert r.status_code == 200, r.get_json()


def test_A2_P1_stage_moves_are_kept_and_the_furthest_stage_only_rises(api, session):
    opp = _opp(api, session)
    _move(api, opp["id"], "solution")       # forward
    _move(api, opp["id"], "needs_confirmed")  # back
    _move(api, opp["id"], "lost")           # lost: not progress
    session.rollback()
    moves = session.execute(select(OpportunityStageChange.from_code, OpportunityStageChange.to_code,
                                   OpportunityStageChange.forward, OpportunityStageChange.owner_id)
                            .where(OpportunityStageChange.opportunity_id == opp["id"])
                            .order_by(OpportunityStageChange.id)).all()
    rep1 = moves[0].owner_id
    assert [(m.from_code, m.to_code, m.forward) for m in moves] == [
        (None, "follow_up", False), ("follow_up", "solution", True), ("solution", "needs_confirmed", False),
        ("needs_confirmed", "lost", False)]
    assert {m.owner_id for m in moves} == {rep1}
    row = session.get(Opportunity, opp["id"])
    assert row.furthest_position == 40  # 方案 (solution), position 40 in the default list


def test_A2_won_counts_as_reaching_the_last_stage(api, session):
    opp = _opp(api, session)
    _move(api, opp["id"], "won")
    session.rollback()
    assert session.get(Opportunity, opp["id"]).furthest_position == 80
    last = session.scalars(select(OpportunityStageChange).where(OpportunityStageChange.opportunity_id == opp["id"])
                           .order_by(OpportunityStageChange.id.desc())).first()
    assert (last.to_code, last.forward) == ("won", True)


def test_A3_a_successful_login_is_an_event_a_failed_one_is_not(client, session):
    before = session.scalar(select(LoginEvent.id).order_by(LoginEvent.id.desc()))
    assert client.post("/login", data={"username": "rep2", "password": "wrong"}).status_code == 401
    assert client.post("/login", data={"username": "rep2", "password": "demo12345"}).status_code == 302
    session.rollback()
    events = session.scalars(select(LoginEvent).where(LoginEvent.id > (before or 0))).all()
    assert len(events) == 1 and events[0].sector_id is not None
