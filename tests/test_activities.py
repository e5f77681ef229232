"""Activities (行动/跟进记录): E1 required fields, exactly one visible record, U3 last_activity_at, T1 last contact,
lists per record and mine, O2 isolation."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models import clock
from models.crm import Customer
from models.sales import Lead, Opportunity

HUAXIN = "北京华信科技有限公司"
HUAXIN_OPP = "华信 CRM 升级项目"


def login(client, username):
    assert client.post("/login", data={"username": username, "password": "demo12345"}).status_code == 302


def ids(session):
    session.rollback()
    return {
        "customer": session.scalar(select(Customer.id).where(Customer.name == HUAXIN)),
        "opportunity": session.scalar(select(Opportunity.id).where(Opportunity.name == HUAXIN_OPP)),
        "lead": session.scalar(select(Lead.id).where(Lead.company_name == "青岛海湾化工有限公司")),  # rep1, assigned
        "s2_customer": session.scalar(select(Customer.id).where(Customer.name == "成都天府软件有限公司")),
    }


def log(api, username, **body):
    body = {"kind": "visit", "subject": "拜访客户", "occurred_at": clock.now().isoformat(), **body}
    return api.as_(username).post("/activities", json=body)


def later(days: float) -> str:
    return (clock.now() + timedelta(days=days)).replace(microsecond=0).isoformat()


def test_T1_activity_on_an_opportunity_updates_it_and_the_customer_last_contact(api, session):
    """T1/U3: the opportunity's last_activity_at and its customer's last_contact_at follow the activity."""
    rec = ids(session)
    when = later(0.5)
    r = log(api, "rep1", opportunity_id=rec["opportunity"], occurred_at=when)
    assert r.status_code == 201, r.get_json()
    session.rollback()
    opp, customer = session.get(Opportunity, rec["opportunity"]), session.get(Customer, rec["customer"])
    assert opp.last_activity_at == datetime.fromisoformat(when)
    assert customer.last_contact_at == datetime.fromisoformat(when)
    # an older activity does not move them back
    assert log(api, "rep1", opportunity_id=rec["opportunity"], occurred_at=later(-10)).status_code == 201
    session.rollback()
    assert session.get(Customer, rec["customer"]).last_contact_at == datetime.fromisoformat(when)
    assert session.get(Opportunity, rec["opportunity"]).last_activity_at == datetime.fromisoformat(when)


def test_T1_activity_does_not_bump_the_opportunity_version(api, session):
    """Logging an activity is not progress (E4): the owner's open kanban card stays current."""
    rec = ids(session)
    before = api.as_("rep1").get(f"/opportunities/{rec['opportunity']}").get_json()["version"]
    assert log(api, "mgr1", opportunity_id=rec["opportunity"]).status_code == 201  # his manager visited too
    assert api.as_("rep1").get(f"/opportunities/{rec['opportunity']}").get_json()["version"] == before


def test_T1_activity_on_a_customer_touches_its_last_contact(api, session):
    rec = ids(session)
    when = later(0.1)
    assert log(api, "rep1", customer_id=rec["customer"], kind="call", occurred_at=when).status_code == 201
    session.rollback()
    assert session.get(Customer, rec["customer"]).last_contact_at == datetime.fromisoformat(when)


def test_U3_activity_on_a_lead_updates_it_and_starts_the_follow_up(api, session):
    rec = ids(session)
    when = later(0)
    r = log(api, "rep1", lead_id=rec["lead"], kind="call", subject="首次电话", occurred_at=when)
    assert r.status_code == 201
    lead = api.as_("rep1").get(f"/leads/{rec['lead']}").get_json()
    assert lead["status"] == "following" and lead["last_activity_at"].startswith(when)


@pytest.mark.parametrize(("over", "field"), [
    ({"subject": "  "}, "subject"), ({"kind": None}, "kind"), ({"kind": "fax"}, "kind"),
    ({"occurred_at": None}, "occurred_at"), ({"occurred_at": "soon"}, "occurred_at"),
])
def test_E1_activity_required_fields_on_the_api(api, session, over, field):
    rec = ids(session)
    body = {"kind": "visit", "subject": "拜访", "occurred_at": later(0), "customer_id": rec["customer"], **over}
    body = {k: v for k, v in body.items() if v is not None}
    r = api.as_("rep1").post("/activities", json=body)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()


def test_activity_not_more_than_a_day_in_the_future(api, session):
    rec = ids(session)
    assert log(api, "rep1", customer_id=rec["customer"], occurred_at=later(0.9)).status_code == 201
    r = log(api, "rep1", customer_id=rec["customer"], occurred_at=later(1.1))
    assert r.status_code == 422 and "occurred_at" in r.get_json()["errors"]
    r = log(api, "rep1", customer_id=rec["customer"], occurred_at=(clock.now() + timedelta(days=3)).isoformat() + "+08:00")
    assert r.status_code == 422


def test_activity_against_exactly_one_visible_record(api, session):
    rec = ids(session)
    r = log(api, "rep1")
    assert r.status_code == 422 and "target" in r.get_json()["errors"]
    r = log(api, "rep1", customer_id=rec["customer"], opportunity_id=rec["opportunity"])
    assert r.status_code == 422 and "target" in r.get_json()["errors"]
    r = log(api, "rep3", customer_id=rec["customer"])  # another sector's customer
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"]
    r = log(api, "rep2", opportunity_id=rec["opportunity"])  # a colleague's opportunity he may not see
    assert r.status_code == 422 and "opportunity_id" in r.get_json()["errors"]


def test_activity_lists_per_record_and_mine(api, session):
    rec = ids(session)
    assert log(api, "rep1", opportunity_id=rec["opportunity"], subject="机会上的跟进").status_code == 201
    assert log(api, "rep1", customer_id=rec["customer"], subject="客户上的跟进").status_code == 201
    on_opp = [a["subject"] for a in api.as_("rep1").get(f"/activities?opportunity_id={rec['opportunity']}")
              .get_json()["items"]]
    assert "机会上的跟进" in on_opp and "客户上的跟进" not in on_opp
    on_customer = [a["subject"] for a in api.as_("mgr1").get(f"/activities?customer_id={rec['customer']}")
                   .get_json()["items"]]
    assert {"机会上的跟进", "客户上的跟进"} <= set(on_customer)  # the opportunity's customer counts as contacted
    mine = api.as_("rep1").get("/activities?mine=true&limit=200").get_json()["items"]
    assert mine and all(a["owner_id"] == mine[0]["owner_id"] for a in mine)
    assert api.as_("rep2").get("/activities?mine=true").get_json()["items"] and all(
        a["subject"] != "机会上的跟进" for a in api.as_("rep2").get("/activities?limit=200").get_json()["items"])


def test_O2_activities_404_and_invisible_across_sectors(api, session):
    rec = ids(session)
    assert log(api, "rep1", opportunity_id=rec["opportunity"], subject="一版块跟进").status_code == 201
    for user in ("rep3", "mgr3"):
        assert api.as_(user).get(f"/activities?opportunity_id={rec['opportunity']}").status_code == 404
        assert api.as_(user).get(f"/activities?customer_id={rec['customer']}").status_code == 404
        assert "一版块跟进" not in [a["subject"] for a in api.as_(user).get("/activities?limit=200").get_json()["items"]]
    assert api.as_("rep1").get(f"/activities?customer_id={rec['s2_customer']}").status_code == 404


def test_activity_pages(client, session):
    rec = ids(session)
    login(client, "rep1")
    form = client.get(f"/activities/new?opportunity_id={rec['opportunity']}").get_data(as_text=True)
    assert HUAXIN_OPP in form and 'name="opportunity_id"' in form
    r = client.post("/activities/new", data={"opportunity_id": str(rec["opportunity"]), "kind": "meeting",
                                             "subject": " ", "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M")})
    assert r.status_code == 422 and 'id="subject-error"' in r.get_data(as_text=True)
    r = client.post("/activities/new", data={"opportunity_id": str(rec["opportunity"]), "kind": "meeting",
                                             "subject": "方案交流会", "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M")})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/opportunities/{rec['opportunity']}")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "方案交流会" in page and "会议" in page
    r = client.post("/activities/new", data={"customer_id": str(rec["customer"]), "kind": "call", "subject": "回访",
                                             "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M"),
                                             "next": f"/customers/{rec['customer']}"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/customers/{rec['customer']}")
    r = client.post("/activities/new", data={"customer_id": str(rec["s2_customer"]), "kind": "call", "subject": "x",
                                             "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M")})
    assert r.status_code == 422
    mine = client.get("/activities").get_data(as_text=True)
    assert "方案交流会" in mine and "回访" in mine
    lead_page = client.get(f"/leads/{rec['lead']}").get_data(as_text=True)
    assert 'name="lead_id"' in lead_page
