"""U6: a quote for an agent's or joint venture's customer is refused before any approver when the partner's
customer records were not maintained within the set period (setting special_price.maintained_days, default 90)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from models import clock, settings
from models.crm import Customer, Quote
from models.process import HumanTask, ProcessInstance

START = datetime(2026, 6, 1, 10, 0)


def _at(api, when: datetime) -> None:
    """Move the clock; bearer tokens expire, so log in again at the new time."""
    clock.freeze(when)
    api._tokens.clear()


def _customer(api, user, **data):
    body = {"name": data.pop("name"), "contact": {"name": "联系人", "mobile": "13800001111"}, **data}
    r = api.as_(user).post("/customers", json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "approved"
    return r.get_json()


def _partner_with_end_customer(api, kind="agent"):
    """mgr1 (a department manager enters approved agents and end customers, E6) at START."""
    _at(api, START)
    if kind == "agent":
        partner = _customer(api, "mgr1", name="华东渠道代理有限公司", kind="agent")
    else:
        partner = _customer(api, "salesmgmt1", name="华东联营科技有限公司", kind="joint_venture")
    end = _customer(api, "mgr1", name="苏州终端制造有限公司", kind="end_customer", agent_id=partner["id"]) \
        if kind == "agent" else None
    return partner, end


def _counts(session):
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Quote)),
            session.scalar(select(func.count()).select_from(ProcessInstance)),
            session.scalar(select(func.count()).select_from(HumanTask)))


def _quote(api, user, customer_id):
    return api.as_(user).post("/quotes", json={"customer_id": customer_id, "list_amount": 10000,
                                               "quote_amount": 4000})


def test_U6_stale_agent_records_refuse_the_quote_before_any_approver(api, session):
    partner, end = _partner_with_end_customer(api)
    _at(api, START + timedelta(days=91))
    before = _counts(session)
    for cid in (end["id"], partner["id"]):
        r = _quote(api, "mgr1", cid)
        assert r.status_code == 422, r.get_json()
        body = r.get_json()
        assert "customer_id" in body["errors"] and "U6" in body["errors"]["customer_id"][0]
        assert "90" in body["errors"]["customer_id"][0]
    assert _counts(session) == before  # nothing written, no process, no task


def test_U6_maintained_partner_quote_goes_to_approval(api, session):
    _partner, end = _partner_with_end_customer(api)
    _at(api, START + timedelta(days=89))
    r = _quote(api, "mgr1", end["id"])
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "pending" and r.get_json()["process_instance_id"]


def test_U6_updating_an_end_customer_counts_as_maintenance(api, session):
    partner, end = _partner_with_end_customer(api)
    _at(api, START + timedelta(days=100))
    assert _quote(api, "mgr1", end["id"]).status_code == 422
    r = api.client.patch(f"/api/v1/customers/{end['id']}", json={"address": "苏州工业园区星湖街 1 号"},
                         headers=api.headers("mgr1"))
    assert r.status_code == 200, r.get_json()
    assert _quote(api, "mgr1", partner["id"]).status_code == 201  # the partner's records are maintained now


def test_U6_joint_venture_is_a_partner_too(api, session):
    partner, _ = _partner_with_end_customer(api, kind="joint_venture")
    _at(api, START + timedelta(days=120))
    r = _quote(api, "salesmgmt1", partner["id"])
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"]


def test_U6_direct_customers_are_unaffected(api, session):
    _at(api, START)
    direct = _customer(api, "mgr1", name="无锡直销客户有限公司", kind="direct")
    _at(api, START + timedelta(days=400))
    r = _quote(api, "mgr1", direct["id"])
    assert r.status_code == 201, r.get_json()


def test_U6_the_period_is_a_setting(api, session):
    partner, end = _partner_with_end_customer(api)
    _at(api, START + timedelta(days=40))
    sector_id = session.get(Customer, partner["id"]).sector_id
    settings.put(session, "special_price.maintained_days", 30, sector_id=sector_id, actor_id=None)
    session.commit()
    assert _quote(api, "mgr1", end["id"]).status_code == 422
    settings.put(session, "special_price.maintained_days", 60, sector_id=sector_id, actor_id=None)
    session.commit()
    assert _quote(api, "mgr1", end["id"]).status_code == 201


def test_U6_refusal_on_the_quote_page_names_the_field(client, api, session):
    _partner, end = _partner_with_end_customer(api)
    _at(api, START + timedelta(days=91))
    client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    before = _counts(session)
    r = client.post("/quotes/new", data={"customer_id": str(end["id"]), "list_amount": "10000",
                                         "quote_amount": "4000"})
    assert r.status_code == 422
    assert "U6" in r.get_data(as_text=True)
    assert _counts(session) == before
