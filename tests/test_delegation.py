"""Delegation while on leave (委托): the delegate sees and acts on the delegator's tasks during the period
(O4: someone acts for the manager), history shows "X（代 Y）"; only the user himself or his sector admin
manages it, within one sector (O3 access levels: a sector admin manages his sector only)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import clock
from models.audit import AuditLog
from models.org import User
from models.process import InstanceEvent
from tests.conftest import customer_ids


def _uid(session, username) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def _quote(api, user="rep1", quote_amount=9000):
    cid = customer_ids(api, user)[0]
    r = api.as_(user).post("/quotes", json={"customer_id": cid, "list_amount": 10000, "quote_amount": quote_amount})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _mine(api, user, iid):
    return [t for t in api.as_(user).get("/tasks?scope=mine").get_json()["items"] if t["process_instance_id"] == iid]


def _delegate(api, user, delegate_id, days=(0, 3), **extra):
    today = clock.now().date()
    return api.as_(user).post("/delegations", json={
        "delegate_id": delegate_id, "starts_on": (today + timedelta(days=days[0])).isoformat(),
        "ends_on": (today + timedelta(days=days[1])).isoformat(), **extra})


def test_O4_delegate_sees_and_decides_the_managers_tasks_while_he_is_on_leave(api, session, client):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    assert _mine(api, "asst1", iid) == []
    r = _delegate(api, "mgr1", _uid(session, "asst1"), reason="年假")
    assert r.status_code == 201, r.get_json()
    did = r.get_json()["id"]
    tasks = _mine(api, "asst1", iid)
    assert len(tasks) == 1
    assert api.as_("asst1").get(f"/process-instances/{iid}").status_code == 200
    # the page shows the delegate's decision as "刘洋（代 李强）"
    r = api.as_("asst1").post(f"/tasks/{tasks[0]['id']}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code == 200, r.get_json()
    session.rollback()
    event = session.scalar(select(InstanceEvent).where(InstanceEvent.instance_id == iid,
                                                       InstanceEvent.kind == "task_completed"))
    assert event.actor_id == _uid(session, "asst1") and event.acting_for_id == _uid(session, "mgr1")
    history = api.as_("rep1").get(f"/process-instances/{iid}").get_json()["history"]
    done = next(h for h in history if h["kind"] == "task_completed")
    assert done["actor"] == "刘洋" and done["acting_for"] == "李强"
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    page = client.get(f"/processes/instances/{iid}").get_data(as_text=True)
    assert "刘洋（代 李强）" in page
    assert session.scalar(select(AuditLog).where(AuditLog.action == "delegation.set",
                                                 AuditLog.entity_id == str(did))) is not None
    assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "approved"


def test_O4_delegation_counts_only_within_its_period_and_until_it_is_ended(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    asst1 = _uid(session, "asst1")
    r = _delegate(api, "mgr1", asst1, days=(2, 4))
    assert r.status_code == 201
    assert _mine(api, "asst1", iid) == []            # not yet
    clock.advance(timedelta(days=2))
    api._tokens.clear()                               # bearer tokens last hours, not days
    assert len(_mine(api, "asst1", iid)) == 1        # during the leave
    did = r.get_json()["id"]
    assert api.as_("asst1").post(f"/delegations/{did}/end").status_code == 403
    assert api.as_("rep2").post(f"/delegations/{did}/end").status_code == 403
    assert api.as_("rep3").post(f"/delegations/{did}/end").status_code == 404
    r = api.as_("mgr1").post(f"/delegations/{did}/end")
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert api.as_("mgr1").post(f"/delegations/{did}/end").status_code == 409
    assert _mine(api, "asst1", iid) == []            # ended
    tid = _mine(api, "mgr1", iid)[0]["id"]
    assert api.as_("asst1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 404
    session.rollback()
    assert session.scalar(select(AuditLog).where(AuditLog.action == "delegation.end")) is not None
    clock.advance(timedelta(days=10))
    api._tokens.clear()
    r = _delegate(api, "mgr1", asst1, days=(0, 1))
    assert r.status_code == 201                       # after the end a new one may be set
    clock.advance(timedelta(days=3))
    api._tokens.clear()
    assert _mine(api, "asst1", iid) == []            # past its end date


def test_O4_a_delegate_never_decides_his_own_request(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    assert _delegate(api, "mgr1", _uid(session, "rep1")).status_code == 201
    assert _mine(api, "rep1", iid) == []
    tid = _mine(api, "mgr1", iid)[0]["id"]
    assert api.as_("rep1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 403
    # but he does act for the manager on his colleague's request
    other = _quote(api, user="rep2")
    assert len(_mine(api, "rep1", other["process_instance_id"])) == 1


def test_O3_delegation_stays_within_the_sector_and_with_its_owner(api, session):
    asst1, rep3, mgr1 = _uid(session, "asst1"), _uid(session, "rep3"), _uid(session, "mgr1")
    # other sector delegate, oneself, inactive input
    r = _delegate(api, "mgr1", rep3)
    assert r.status_code == 422 and "delegate_id" in r.get_json()["errors"]
    assert _delegate(api, "mgr1", mgr1).status_code == 422
    assert _delegate(api, "mgr1", asst1, days=(3, 1)).status_code == 422         # ends before it starts
    assert _delegate(api, "mgr1", asst1, days=(-5, -1)).status_code == 422       # already over
    assert _delegate(api, "mgr1", asst1, days=(0, 400)).status_code == 422       # too long
    assert api.as_("mgr1").post("/delegations", json={"delegate_id": asst1}).status_code == 422
    session.rollback()
    assert session.scalar(select(AuditLog).where(AuditLog.action == "delegation.set")) is None
    # only the user himself or his sector admin sets it
    assert _delegate(api, "rep2", asst1, delegator_id=mgr1).status_code == 403
    assert _delegate(api, "mgr3", asst1, delegator_id=mgr1).status_code == 404
    r = _delegate(api, "sectoradmin1", asst1, delegator_id=mgr1)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["delegator_id"] == mgr1 and r.get_json()["created_by"] == _uid(session, "sectoradmin1")
    assert _delegate(api, "mgr1", _uid(session, "rep2")).status_code == 409        # overlapping
    # who sees which delegations
    assert [d["id"] for d in api.as_("mgr1").get("/delegations").get_json()["items"]] == [r.get_json()["id"]]
    assert [d["id"] for d in api.as_("asst1").get("/delegations").get_json()["items"]] == [r.get_json()["id"]]
    assert api.as_("rep2").get("/delegations").get_json()["items"] == []
    assert api.as_("mgr3").get("/delegations").get_json()["items"] == []
    assert api.as_("sectoradmin1").post(f"/delegations/{r.get_json()['id']}/end").status_code == 200


def test_O4_delegation_page_sets_and_ends(client, session):
    client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    today = clock.now().date()
    r = client.post("/delegations", data={"delegate_id": str(_uid(session, "asst1")), "starts_on": today.isoformat(),
                                          "ends_on": (today + timedelta(days=2)).isoformat(), "reason": "出差"},
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "刘洋" in page and "出差" in page
    session.rollback()
    from models.task_extras import Delegation
    did = session.scalar(select(Delegation.id))
    assert client.post(f"/delegations/{did}/end", follow_redirects=True).status_code == 200
    session.rollback()
    assert session.get(Delegation, did).active is False
