"""C2 conflict cases: the refused entrant or the owner opens a case; sales management keeps, transfers or shares
the customer (a BPMN process, decided through the inbox API or the case page)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.crm import ConflictCase, Customer, RecordShare
from models.org import User


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302
    return client


def _owned(api, name="争议客户有限公司"):
    r = api.as_("mgr1").post("/customers", json={"name": name})  # approved at once; owned by mgr1 … give to rep1
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _customer_of_rep1(api, session, name="争议客户有限公司"):
    c = _owned(api, name)
    row = session.get(Customer, c["id"])
    row.owner_id = session.scalar(select(User.id).where(User.username == "rep1"))
    session.commit()
    return c


def _refused_then_case(api, session, name="争议客户有限公司"):
    c = _customer_of_rep1(api, session, name)
    refused = api.as_("rep2").post("/customers", json={"name": name})
    assert refused.status_code == 409
    r = api.as_("rep2").post("/conflict-cases", json={"name": name, "reason": "客户更愿意与我签约"})
    assert r.status_code == 201, r.get_json()
    return c, r.get_json()


def _decide(api, case, decision, user="salesmgmt1"):
    tasks = [t for t in api.as_(user).get("/tasks?scope=mine").get_json()["items"]
             if t["process_instance_id"] == case["process_instance_id"]]
    assert tasks and tasks[0]["form"] == "conflict_decision"
    return api.as_(user).post(f"/tasks/{tasks[0]['id']}/complete", json={"data": {"decision": decision},
                                                                          "comment": "最有利于签约"})


@pytest.mark.parametrize("decision", ["keep", "transfer", "joint"])
def test_C2_sales_management_decides_keep_transfer_or_joint(api, session, decision):
    c, case = _refused_then_case(api, session)
    assert case["owner_id"] is None  # the claimant does not learn who owns it
    assert case["status"] == "open" and case["claimant_id"] == session.scalar(
        select(User.id).where(User.username == "rep2"))
    assert api.as_("rep1").get("/tasks?scope=mine").get_json()["items"] == []
    r = _decide(api, case, decision)
    assert r.status_code == 200, r.get_json()
    after = api.as_("rep2").get(f"/conflict-cases/{case['id']}").get_json()
    assert after["status"] == "decided" and after["decision"] == decision
    rep1 = session.scalar(select(User.id).where(User.username == "rep1"))
    rep2 = session.scalar(select(User.id).where(User.username == "rep2"))
    session.rollback()  # a fresh snapshot
    customer = session.get(Customer, c["id"])
    shared = session.scalar(select(RecordShare).where(RecordShare.entity_type == "customer",
                                                      RecordShare.entity_id == c["id"], RecordShare.user_id == rep2))
    if decision == "keep":
        assert customer.owner_id == rep1 and shared is None
        assert api.as_("rep2").get(f"/customers/{c['id']}").status_code == 404
    elif decision == "transfer":
        assert customer.owner_id == rep2 and shared is None
        assert api.as_("rep2").get(f"/customers/{c['id']}").get_json()["owner_id"] == rep2
        assert api.as_("rep1").get(f"/customers/{c['id']}").status_code == 404
    else:
        assert customer.owner_id == rep1 and shared is not None
        assert api.as_("rep2").get(f"/customers/{c['id']}").status_code == 200
    history = api.as_("salesmgmt1").get(f"/customers/{c['id']}/history").get_json()["items"]
    assert "customer.conflict_decided" in [h["action"] for h in history]


def test_C2_the_owner_may_open_a_case_naming_the_claimant(api, session):
    c = _customer_of_rep1(api, session)
    rep2 = session.scalar(select(User.id).where(User.username == "rep2"))
    r = api.as_("rep1").post("/conflict-cases", json={"customer_id": c["id"], "reason": "对方抢单"})
    assert r.status_code == 422 and "claimant_id" in r.get_json()["errors"]
    r = api.as_("rep1").post("/conflict-cases", json={"customer_id": c["id"], "reason": "对方抢单",
                                                      "claimant_id": rep2})
    assert r.status_code == 201 and r.get_json()["owner_id"] is not None
    # one open case per customer
    again = api.as_("rep2").post("/conflict-cases", json={"name": "争议客户有限公司", "reason": "x"})
    assert again.status_code == 409


def test_C2_refusals(api, session):
    r = api.as_("rep2").post("/conflict-cases", json={"name": "不存在的有限公司", "reason": "x"})
    assert r.status_code == 404
    r = api.as_("rep2").post("/conflict-cases", json={"reason": "x"})
    assert r.status_code == 422
    _customer_of_rep1(api, session)
    r = api.as_("rep2").post("/conflict-cases", json={"name": "争议客户有限公司", "reason": "   "})
    assert r.status_code == 422
    # sector isolation: the name is looked up in the user's own sector only
    assert api.as_("rep3").post("/conflict-cases", json={"name": "争议客户有限公司", "reason": "x"}).status_code == 404


def test_C2_decision_form_is_validated_and_only_sales_management_decides(api, session):
    _c, case = _refused_then_case(api, session)
    tasks = [t for t in api.as_("salesmgmt1").get("/tasks?scope=mine").get_json()["items"]
             if t["process_instance_id"] == case["process_instance_id"]]
    r = api.as_("salesmgmt1").post(f"/tasks/{tasks[0]['id']}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code == 422
    assert api.as_("rep2").post(f"/tasks/{tasks[0]['id']}/complete",
                                json={"data": {"decision": "transfer"}}).status_code == 403
    assert api.as_("mgr1").post(f"/tasks/{tasks[0]['id']}/complete",
                                json={"data": {"decision": "transfer"}}).status_code == 404
    assert api.as_("rep3").get(f"/conflict-cases/{case['id']}").status_code == 404
    assert api.as_("mgr1").get(f"/conflict-cases/{case['id']}").status_code == 404


def test_C2_case_pages_open_and_decide(api, session, client):
    c = _customer_of_rep1(api, session, "页面争议有限公司")
    login(client, "rep2")
    r = client.post("/conflicts/new", data={"name": "页面争议有限公司", "reason": ""})
    assert r.status_code == 422 and "reason-error" in r.get_data(as_text=True)
    r = client.post("/conflicts/new", data={"name": "页面争议有限公司", "reason": "客户指定我跟进"})
    assert r.status_code == 302
    case_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    page = client.get(f"/conflicts/{case_id}").get_data(as_text=True)
    assert "页面争议有限公司" in page and "张伟" not in page and 'value="transfer"' not in page
    client.post("/logout")
    login(client, "salesmgmt1")
    page = client.get(f"/conflicts/{case_id}").get_data(as_text=True)
    assert 'value="transfer"' in page and "张伟" in page
    assert client.get("/conflicts").status_code == 200
    r = client.post(f"/conflicts/{case_id}/decide", data={"decision": "transfer", "comment": "客户指定"})
    assert r.status_code == 302
    session.rollback()  # a fresh snapshot
    assert session.get(ConflictCase, case_id).decision == "transfer"
    assert session.get(Customer, c["id"]).owner_id == session.scalar(select(User.id).where(User.username == "rep2"))
