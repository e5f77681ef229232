"""Days since contact, warnings, the public-pool sweep, undo, claiming and returning (T1, T2, T3).

Real SQLite and PostgreSQL (TEST_DB); the claim race runs over real HTTP against `live_server`.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from datetime import datetime, time, timedelta
from urllib.error import HTTPError

import pytest
from sqlalchemy import func, select

from engine import jobs
from models import clock, settings
from models.audit import AuditLog
from models.crm import Customer, PoolMove
from models.normalize import normalize_name
from models.org import Sector, User
from models.pool import days_since_contact, touch_contact
from tests.conftest import run_in_parallel


def user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def sector_id(session, code: str) -> int:
    return session.scalar(select(Sector.id).where(Sector.code == code))


def add_customer(session, owner: str | None, name: str, *, last_contact_at=None, created_at=None,
                 sector: str = "S1", pool_since=None, status: str = "approved") -> Customer:
    u = user(session, owner) if owner else None
    c = Customer(sector_id=u.sector_id if u else sector_id(session, sector),
                 department_id=u.department_id if u else None, owner_id=u.id if u else None, name=name,
                 name_normalized=normalize_name(name), status=status, last_contact_at=last_contact_at,
                 created_at=created_at or clock.now(), pool_since=pool_since)
    session.add(c)
    session.flush()
    return c


def fresh(session) -> None:
    """See what other connections committed: end the snapshot and forget loaded values."""
    session.rollback()
    session.expire_all()


def as_of_tomorrow() -> datetime:
    return datetime.combine(clock.now().date() + timedelta(days=1), time())


def run_job(session, name: str, as_of: datetime) -> dict:
    summary = jobs.run(session, name, as_of)
    session.commit()
    return summary


def pool_customer(session, name: str = "公海测试有限公司", sector: str = "S1") -> int:
    c = add_customer(session, None, name, sector=sector, pool_since=clock.now() - timedelta(days=1))
    session.commit()
    return c.id


# ---------------------------------------------------------------------------------------------- T1
def test_T1_touch_contact_keeps_the_latest(session):
    c = add_customer(session, "rep1", "接触测试有限公司")
    t0 = datetime(2027, 1, 10, 9, 0)
    touch_contact(session, c.id, t0)
    touch_contact(session, c.id, t0 - timedelta(days=5))  # an older activity entered late
    session.commit()
    session.refresh(c)
    assert c.last_contact_at == t0
    touch_contact(session, c.id, t0 + timedelta(days=1))
    session.commit()
    session.refresh(c)
    assert c.last_contact_at == t0 + timedelta(days=1)


def test_T1_days_since_contact_counts_from_last_contact_or_creation(session):
    now = datetime(2027, 3, 1, 12, 0)
    c = add_customer(session, "rep1", "天数测试有限公司", created_at=now - timedelta(days=40))
    assert days_since_contact(c, now) == 40
    c.last_contact_at = now - timedelta(days=3, hours=1)
    assert days_since_contact(c, now) == 3


def test_T2_warnings_list_my_customers_at_30_and_60_days(api, session):
    now = clock.now()
    add_customer(session, "rep1", "二十九天有限公司", last_contact_at=now - timedelta(days=29))
    warn = add_customer(session, "rep1", "三十天有限公司", last_contact_at=now - timedelta(days=30, minutes=1))
    strong = add_customer(session, "rep1", "六十天有限公司", last_contact_at=now - timedelta(days=61))
    other = add_customer(session, "rep2", "别人的六十天有限公司", last_contact_at=now - timedelta(days=61))
    session.commit()
    items = api.as_("rep1").get("/customers/warnings").get_json()["items"]
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {warn.id, strong.id}, "only mine, only at or past 30 days"
    assert by_id[warn.id]["warning"] == "warn" and by_id[warn.id]["days_since_contact"] == 30
    assert by_id[strong.id]["warning"] == "strong" and by_id[strong.id]["days_since_contact"] == 61
    assert items[0]["id"] == strong.id, "longest silence first"
    strong_only = api.as_("rep1").get("/customers/warnings?level=strong").get_json()["items"]
    assert [i["id"] for i in strong_only] == [strong.id]
    assert other.id not in {i["id"] for i in api.as_("rep1").get("/customers/warnings").get_json()["items"]}
    assert api.as_("rep1").get("/customers/warnings?level=bad").status_code == 422


def test_T2_warnings_page_shows_levels(client, session):
    now = clock.now()
    add_customer(session, "rep1", "页面提醒有限公司", last_contact_at=now - timedelta(days=65))
    session.commit()
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    r = client.get("/pool/warnings")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "页面提醒有限公司" in page and "严重提醒" in page and "退回公海" in page


# ---------------------------------------------------------------------------------------------- T2 sweep
def test_T2_sweep_moves_at_90_days_not_89(session):
    as_of = as_of_tomorrow()
    c89 = add_customer(session, "rep1", "八十九天有限公司", last_contact_at=as_of - timedelta(days=89))
    c90 = add_customer(session, "rep1", "九十天有限公司", last_contact_at=as_of - timedelta(days=90))
    c91 = add_customer(session, "rep2", "九十一天有限公司", last_contact_at=as_of - timedelta(days=91))
    never = add_customer(session, "rep1", "从未联系有限公司", created_at=as_of - timedelta(days=95))
    pending = add_customer(session, "rep1", "待审核有限公司", created_at=as_of - timedelta(days=95),
                           status="pending")
    session.commit()
    summary = run_job(session, "public-pool", as_of)
    assert summary["moved"] == 3 and summary["by_sector"] == {"S1": 3, "S2": 0}
    for c in (c89, c90, c91, never, pending):
        session.refresh(c)
    assert c89.owner_id is not None
    assert pending.owner_id is not None, "only approved customers are swept"
    for c, owner in ((c90, "rep1"), (c91, "rep2"), (never, "rep1")):
        assert c.owner_id is None and c.pool_since == as_of
        assert c.version == 2, "version bumped (stale writers: 409)"
        move = session.scalar(select(PoolMove).where(PoolMove.customer_id == c.id))
        assert move.reason == "inactive" and move.from_owner_id == user(session, owner).id
        assert move.moved_at == as_of
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "customer.to_pool",
                                                      AuditLog.entity_id == str(c.id))).all()
        assert len(rows) == 1
        assert rows[0].before["owner_id"] == user(session, owner).id and rows[0].after["owner_id"] is None
        assert rows[0].sector_id == c.sector_id


def test_T2_sweep_is_idempotent(session):
    as_of = as_of_tomorrow()
    add_customer(session, "rep1", "幂等测试有限公司", last_contact_at=as_of - timedelta(days=120))
    session.commit()
    assert run_job(session, "public-pool", as_of)["moved"] == 1
    assert run_job(session, "public-pool", as_of)["moved"] == 0
    assert run_job(session, "public-pool", as_of + timedelta(days=1))["moved"] == 0
    assert session.scalar(select(func.count()).select_from(PoolMove)) == 1
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.to_pool")) == 1


def test_T2_pool_days_per_sector_override(session):
    as_of = as_of_tomorrow()
    s1 = add_customer(session, "rep1", "版块一有限公司", last_contact_at=as_of - timedelta(days=50))
    s2 = add_customer(session, "rep3", "版块二有限公司", last_contact_at=as_of - timedelta(days=50))
    settings.put(session, "customer.pool_days", 45, sector_id=sector_id(session, "S2"), actor_id=None)
    session.commit()
    summary = run_job(session, "public-pool", as_of)
    assert summary["by_sector"] == {"S1": 0, "S2": 1}
    session.refresh(s1)
    session.refresh(s2)
    assert s1.owner_id is not None and s2.owner_id is None


def test_T2_activity_keeps_the_customer(session):
    as_of = as_of_tomorrow()
    c = add_customer(session, "rep1", "刚跟进有限公司", last_contact_at=as_of - timedelta(days=100))
    touch_contact(session, c.id, as_of - timedelta(days=2))
    session.commit()
    assert run_job(session, "public-pool", as_of)["moved"] == 0


def test_T2_cli_run_public_pool_as_of(session, migrated, monkeypatch, capsys):
    """`crm jobs run public-pool --as-of DATE` against the test database."""
    from web.cli import main

    as_of = as_of_tomorrow()
    c = add_customer(session, "rep1", "命令行测试有限公司", last_contact_at=as_of - timedelta(days=90))
    session.commit()
    monkeypatch.setenv("DATABASE_URL", migrated)
    assert main(["jobs", "run", "public-pool", "--as-of", as_of.date().isoformat()]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["moved"] == 1 and summary["by_sector"]["S1"] == 1
    session.refresh(c)
    assert c.owner_id is None
    assert main(["jobs", "run", "public-pool", "--as-of", as_of.date().isoformat()]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["moved"] == 0


def test_T2_two_concurrent_sweeps_move_each_customer_once(app, session):
    as_of = as_of_tomorrow()
    ids = [add_customer(session, "rep1" if i % 2 else "rep2", f"并发清扫{i}有限公司",
                        last_contact_at=as_of - timedelta(days=100 + i)).id for i in range(40)]
    session.commit()
    results = run_in_parallel(app.extensions["session_factory"], lambda s: run_job(s, "public-pool", as_of))
    assert all(isinstance(r, dict) for r in results), results
    assert results[0]["moved"] + results[1]["moved"] == len(ids)
    fresh(session)
    assert session.scalar(select(func.count(func.distinct(PoolMove.customer_id)))) == len(ids)
    assert session.scalar(select(func.count()).select_from(PoolMove)) == len(ids)
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.to_pool")) == len(ids)
    assert session.scalar(select(func.count()).select_from(Customer).where(
        Customer.id.in_(ids), Customer.owner_id.is_(None))) == len(ids)


# ---------------------------------------------------------------------------------------------- T2 undo
def _swept(session, name="撤销测试有限公司", owner="rep1") -> Customer:
    as_of = as_of_tomorrow()
    c = add_customer(session, owner, name, last_contact_at=as_of - timedelta(days=100))
    session.commit()
    run_job(session, "public-pool", as_of)
    return c


def test_T2_sales_management_undoes_a_move(api, session):
    c = _swept(session)
    moves = api.as_("salesmgmt1").get("/pool-moves").get_json()["items"]
    move = next(m for m in moves if m["customer_id"] == c.id)
    assert move["reason"] == "inactive" and move["in_pool"] and move["from_owner_name"] == "张伟"
    r = api.as_("salesmgmt1").post(f"/pool-moves/{move['id']}/undo")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["undone_at"] and not r.get_json()["in_pool"]
    fresh(session)
    customer = session.get(Customer, c.id)
    assert customer.owner_id == user(session, "rep1").id and customer.pool_since is None
    assert customer.last_contact_at is not None, "a fresh start, or the next sweep would move it again"
    pm = session.get(PoolMove, move["id"])
    assert pm.undone_at and pm.undone_by == user(session, "salesmgmt1").id
    audit_row = session.scalar(select(AuditLog).where(AuditLog.action == "customer.pool_undo",
                                                      AuditLog.entity_id == str(c.id)))
    assert audit_row.actor_id == user(session, "salesmgmt1").id
    assert audit_row.after["owner_id"] == customer.owner_id
    assert api.as_("salesmgmt1").post(f"/pool-moves/{move['id']}/undo").status_code == 409, "undone twice"


def test_T2_undo_refused_to_reps_and_other_sectors(api, session):
    c = _swept(session)
    move_id = session.scalar(select(PoolMove.id).where(PoolMove.customer_id == c.id))
    assert api.as_("rep1").post(f"/pool-moves/{move_id}/undo").status_code == 403  # his own move: visible
    assert api.as_("rep2").post(f"/pool-moves/{move_id}/undo").status_code == 404
    assert api.as_("mgr1").post(f"/pool-moves/{move_id}/undo").status_code == 403
    assert api.as_("rep3").post(f"/pool-moves/{move_id}/undo").status_code == 404
    assert api.as_("mgr3").post(f"/pool-moves/{move_id}/undo").status_code == 404
    assert all(m["customer_id"] != c.id for m in api.as_("mgr3").get("/pool-moves").get_json()["items"])
    fresh(session)
    assert session.get(Customer, c.id).owner_id is None


def test_T2_undo_after_a_claim_is_409(api, session):
    c = _swept(session)
    move_id = session.scalar(select(PoolMove.id).where(PoolMove.customer_id == c.id))
    assert api.as_("rep2").post(f"/customers/{c.id}/claim").status_code == 200
    r = api.as_("salesmgmt1").post(f"/pool-moves/{move_id}/undo")
    assert r.status_code == 409 and "claimed" in r.get_json()["message"]
    fresh(session)
    assert session.get(Customer, c.id).owner_id == user(session, "rep2").id


def test_T2_undo_from_the_page(client, session):
    c = _swept(session, name="页面撤销有限公司")
    move_id = session.scalar(select(PoolMove.id).where(PoolMove.customer_id == c.id))
    client.post("/login", data={"username": "salesmgmt1", "password": "demo12345"})
    page = client.get("/pool").get_data(as_text=True)
    assert "最近掉入公海记录" in page and "页面撤销有限公司" in page and "撤销" in page
    r = client.post(f"/pool/moves/{move_id}/undo", follow_redirects=True)
    assert r.status_code == 200 and "已撤销" in r.get_data(as_text=True)
    fresh(session)
    assert session.get(Customer, c.id).owner_id == user(session, "rep1").id


# ---------------------------------------------------------------------------------------------- T3 claim
def test_T3_rep_claims_a_pool_customer_of_his_sector(api, session):
    cid = pool_customer(session)
    r = api.as_("rep2").post(f"/customers/{cid}/claim")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    rep2 = user(session, "rep2")
    assert body["owner_id"] == rep2.id and body["pool_since"] is None and body["days_since_contact"] == 0
    fresh(session)
    c = session.get(Customer, cid)
    assert c.owner_id == rep2.id and c.department_id == rep2.department_id and c.last_contact_at is not None
    row = session.scalar(select(AuditLog).where(AuditLog.action == "customer.claim",
                                                AuditLog.entity_id == str(cid)))
    assert row.actor_id == rep2.id and row.before["owner_id"] is None and row.after["owner_id"] == rep2.id
    assert api.as_("rep1").post(f"/customers/{cid}/claim").status_code == 409, "no longer in the pool"


def test_T3_pool_list_shows_only_my_sector(api, session):
    s1 = pool_customer(session, "版块一公海有限公司", "S1")
    s2 = pool_customer(session, "版块二公海有限公司", "S2")
    ids = {c["id"] for c in api.as_("rep1").get("/pool").get_json()["items"]}
    assert s1 in ids and s2 not in ids
    assert all(c["owner_id"] is None for c in api.as_("rep1").get("/pool").get_json()["items"])
    assert {c["id"] for c in api.as_("rep3").get("/pool").get_json()["items"]} == {s2}
    found = api.as_("rep1").get("/pool", query_string={"q": "版块一"}).get_json()["items"]
    assert [c["id"] for c in found] == [s1]


def test_T3_other_sector_claim_is_404(api, session):
    cid = pool_customer(session)
    assert api.as_("rep3").post(f"/customers/{cid}/claim").status_code == 404
    assert api.as_("rep1").post("/customers/2147483647/claim").status_code == 404


def test_T3_only_reps_claim(api, session):
    cid = pool_customer(session)
    assert api.as_("mgr1").post(f"/customers/{cid}/claim").status_code == 403
    assert api.as_("salesmgmt1").post(f"/customers/{cid}/claim").status_code == 403


def test_T3_claim_limit_per_month(api, session):
    settings.put(session, "pool.claim_limit", 2, sector_id=sector_id(session, "S1"), actor_id=None)
    ids = [pool_customer(session, f"限额测试{i}有限公司") for i in range(3)]
    assert api.as_("rep1").post(f"/customers/{ids[0]}/claim").status_code == 200
    assert api.as_("rep1").post(f"/customers/{ids[1]}/claim").status_code == 200
    r = api.as_("rep1").post(f"/customers/{ids[2]}/claim")
    assert r.status_code == 409 and "claim limit reached: 2 of 2" in r.get_json()["message"]
    fresh(session)
    assert session.get(Customer, ids[2]).owner_id is None
    assert api.as_("rep2").post(f"/customers/{ids[2]}/claim").status_code == 200, "the limit is per person"
    # next month the count starts again
    clock.advance(timedelta(days=32))
    api._tokens.clear()  # tokens last 12 hours
    assert api.as_("rep1").post(f"/customers/{ids[0]}/return").status_code == 200
    assert api.as_("rep1").post(f"/customers/{ids[0]}/claim").status_code == 200


def _post(url: str, token: str) -> int:
    req = urllib.request.Request(url, data=b"", method="POST", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("round_", range(3))
def test_T3_claim_race_gives_exactly_one_owner(api, live_server, session, round_):
    cid = pool_customer(session, f"抢占测试{round_}有限公司")
    tokens = [api.token("rep1"), api.token("rep2"), api.token("rep1"), api.token("rep2")]
    barrier = threading.Barrier(len(tokens))
    results = [0] * len(tokens)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = _post(f"{live_server}/api/v1/customers/{cid}/claim", tokens[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert sorted(results) == [200, 409, 409, 409], results
    fresh(session)
    owner = session.get(Customer, cid).owner_id
    assert owner in {user(session, "rep1").id, user(session, "rep2").id}
    claims = session.scalars(select(AuditLog).where(AuditLog.action == "customer.claim",
                                                    AuditLog.entity_id == str(cid))).all()
    assert [c.actor_id for c in claims] == [owner]


def test_T3_claim_from_the_pool_page(client, session):
    cid = pool_customer(session, "页面领取有限公司")
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    page = client.get("/pool?q=页面领取").get_data(as_text=True)
    assert "页面领取有限公司" in page and "确认领取" in page
    r = client.post(f"/pool/{cid}/claim", follow_redirects=True)
    assert r.status_code == 200 and "领取成功" in r.get_data(as_text=True)
    r = client.post(f"/pool/{cid}/claim", follow_redirects=True)
    assert "该客户已不在公海中" in r.get_data(as_text=True)
    fresh(session)
    assert session.get(Customer, cid).owner_id == user(session, "rep1").id


# ---------------------------------------------------------------------------------------------- return
def test_T3_owner_returns_a_customer_to_the_pool(api, session):
    c = add_customer(session, "rep1", "退回测试有限公司")
    session.commit()
    assert api.as_("rep2").post(f"/customers/{c.id}/return").status_code == 404, "not his, not visible"
    assert api.as_("mgr1").post(f"/customers/{c.id}/return").status_code == 403, "visible, not the owner"
    r = api.as_("rep1").post(f"/customers/{c.id}/return", json={"note": "客户无需求"})
    assert r.status_code == 200 and r.get_json()["owner_id"] is None and r.get_json()["pool_since"]
    fresh(session)
    move = session.scalar(select(PoolMove).where(PoolMove.customer_id == c.id))
    assert move.reason == "returned" and move.from_owner_id == user(session, "rep1").id
    row = session.scalar(select(AuditLog).where(AuditLog.action == "customer.return_to_pool",
                                                AuditLog.entity_id == str(c.id)))
    assert row.after["note"] == "客户无需求"
    assert c.id in {x["id"] for x in api.as_("rep2").get("/pool").get_json()["items"]}
    assert api.as_("rep1").post(f"/customers/{c.id}/return", json={"note": 5}).status_code == 422
    assert api.as_("rep1").post(f"/customers/{c.id}/return", json=[1]).status_code == 422


def test_T3_return_from_the_warnings_page(client, session):
    c = add_customer(session, "rep1", "页面退回有限公司", last_contact_at=clock.now() - timedelta(days=40))
    session.commit()
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    r = client.post(f"/pool/{c.id}/return", data={"note": "不再跟进"}, follow_redirects=True)
    assert r.status_code == 200 and "已退回公海" in r.get_data(as_text=True)
    fresh(session)
    assert session.get(Customer, c.id).owner_id is None


@pytest.mark.parametrize("username", ["rep1", "mgr1", "salesmgmt1", "rep3", "grouplead", "admin"])
def test_T2_T3_pool_pages_render_for_every_role(client, session, username):
    _swept(session, name="页面渲染有限公司")
    pool_customer(session, "渲染公海有限公司")
    client.post("/login", data={"username": username, "password": "demo12345"})
    for path in ("/pool", "/pool?q=xyz&page=2", "/pool/warnings", "/pool/warnings?level=strong",
                 "/pool/moves", "/pool/moves?reason=inactive", "/pool/flags",
                 "/pool/flags?scope=team&kind=late_entry", "/pool?lang=en"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    assert client.post("/pool/2147483647/claim").status_code == 404
    assert client.post("/pool/moves/2147483647/undo").status_code == 404
