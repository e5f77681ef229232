"""Leads (商机): L1 source, E1 required fields, E6 who may enter, screening and assignment, O2 isolation."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from models.audit import AuditLog
from models.org import User
from models.sales import Lead

GOOD = {"company_name": "苏州工业园区科技有限公司", "contact_name": "李明", "source": "website",
        "phone": "0512-66778899", "email": "liming@example.cn", "region": "华东", "industry": "制造业"}


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302


def patch(api, username, path, body):
    return api.client.patch(f"/api/v1{path}", json=body, headers=api.headers(username))


def uid(session, username) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def new_lead(api, username="mkt1", **over) -> dict:
    r = api.as_(username).post("/leads", json={**GOOD, **over})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# ---- L1 -----------------------------------------------------------------------------------------------------
def test_L1_lead_source_is_required_and_kept(api):
    body = {k: v for k, v in GOOD.items() if k != "source"}
    r = api.as_("mkt1").post("/leads", json=body)
    assert r.status_code == 422 and "source" in r.get_json()["errors"]
    r = api.as_("mkt1").post("/leads", json={**GOOD, "source": "fax"})
    assert r.status_code == 422 and "source" in r.get_json()["errors"]
    for source in ("phone", "website", "online_consultation"):
        lead = new_lead(api, source=source, company_name=f"来源测试{source}")
        assert lead["source"] == source
        assert api.as_("mkt1").get(f"/leads/{lead['id']}").get_json()["source"] == source


def test_L1_source_shown_on_pages_and_required_on_the_form(client, api):
    login(client, "mkt1")
    r = client.post("/leads/new", data={"company_name": "表单公司", "contact_name": "张三", "source": ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="source" name="source" required aria-required="true" aria-invalid="true"' in html
    assert 'id="source-error"' in html
    r = client.post("/leads/new", data={"company_name": "表单公司", "contact_name": "张三", "source": "online_consultation"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "在线咨询" in page and "表单公司" in page


# ---- E1 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["company_name", "contact_name"])
def test_E1_lead_names_required_on_the_api(api, field):
    r = api.as_("mkt1").post("/leads", json={k: v for k, v in GOOD.items() if k != field})
    assert r.status_code == 422 and field in r.get_json()["errors"]
    r = api.as_("mkt1").post("/leads", json={**GOOD, field: "   "})
    assert r.status_code == 422 and field in r.get_json()["errors"]
    lead = new_lead(api)
    r = patch(api, "mkt1", f"/leads/{lead['id']}", {field: " "})
    assert r.status_code == 422 and field in r.get_json()["errors"]


@pytest.mark.parametrize("field", ["company_name", "contact_name"])
def test_E1_lead_names_required_on_the_page(client, field):
    login(client, "bizmgr1")
    data = {**GOOD, field: "  "}
    r = client.post("/leads/new", data=data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert f'id="{field}-error"' in html and f'aria-describedby="{field}-error"' in html
    assert "必填" in html


def test_E1_lead_phone_and_email_validated(api):
    r = api.as_("mkt1").post("/leads", json={**GOOD, "phone": "call me"})
    assert r.status_code == 422 and "phone" in r.get_json()["errors"]
    r = api.as_("mkt1").post("/leads", json={**GOOD, "email": "not-an-email"})
    assert r.status_code == 422 and "email" in r.get_json()["errors"]


# ---- E6 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("username", ["mkt1", "bizmgr1", "rep1", "rep3"])
def test_E6_business_managers_marketing_and_reps_enter_leads(api, username):
    lead = new_lead(api, username, company_name=f"{username} 录入的公司")
    assert api.as_(username).get(f"/leads/{lead['id']}").status_code == 200


@pytest.mark.parametrize("username", ["finance1", "impl1", "mgr1", "sectoradmin1", "admin", "grouplead"])
def test_E6_others_may_not_enter_leads(api, client, username):
    r = api.as_(username).post("/leads", json=GOOD)
    assert r.status_code == 403, r.get_json()
    login(client, username)
    assert client.get("/leads/new").status_code == 403
    assert client.post("/leads/new", data=GOOD).status_code == 403


def test_E6_a_rep_owns_the_lead_he_found_a_desk_lead_waits_for_screening(api, session):
    mine = new_lead(api, "rep1", company_name="销售自己发现的公司")
    assert mine["status"] == "assigned" and mine["owner_id"] == uid(session, "rep1")
    desk = new_lead(api, "mkt1")
    assert desk["status"] == "new" and desk["owner_id"] is None
    # the rep does not see the desk's unassigned lead; his manager sees the rep's lead
    assert api.as_("rep1").get(f"/leads/{desk['id']}").status_code == 404
    assert api.as_("mgr1").get(f"/leads/{mine['id']}").status_code == 200


# ---- status and assignment ----------------------------------------------------------------------------------
def test_lead_screening_then_assignment_by_the_business_manager(api, session):
    lead = new_lead(api, "mkt1")
    lid = lead["id"]
    assert patch(api, "rep1", f"/leads/{lid}", {"status": "kept"}).status_code == 404  # not visible to him
    r = patch(api, "mkt1", f"/leads/{lid}", {"status": "kept"})
    assert r.status_code == 200 and r.get_json()["status"] == "kept"
    # only a business manager assigns
    assert api.as_("mkt1").post(f"/leads/{lid}/assign", json={"owner_id": uid(session, "rep1")}).status_code == 403
    for who in ("finance1", "mgr1", "rep3"):  # not a rep; not a rep; another sector
        r = api.as_("bizmgr1").post(f"/leads/{lid}/assign", json={"owner_id": uid(session, who)})
        assert r.status_code == 422 and "owner_id" in r.get_json()["errors"], who
    session.rollback()  # end the read snapshot before writing (SQLite)
    session.execute(update(User).where(User.username == "rep2").values(lead_rights=False))
    session.commit()
    r = api.as_("bizmgr1").post(f"/leads/{lid}/assign", json={"owner_id": uid(session, "rep2")})
    assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    r = api.as_("bizmgr1").post(f"/leads/{lid}/assign", json={"owner_id": uid(session, "rep1")})
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "assigned" and body["owner_id"] == uid(session, "rep1") and body["follow_up_due_at"]
    assert api.as_("rep1").get(f"/leads/{lid}").status_code == 200
    # the owner follows it up and closes it; the desk may no longer discard it
    assert patch(api, "mkt1", f"/leads/{lid}", {"status": "discarded", "discard_reason": "x"}).status_code == 409
    assert patch(api, "rep2", f"/leads/{lid}", {"status": "following"}).status_code == 404
    assert patch(api, "rep1", f"/leads/{lid}", {"status": "following"}).get_json()["status"] == "following"
    assert patch(api, "rep1", f"/leads/{lid}", {"status": "closed"}).get_json()["status"] == "closed"
    session.rollback()
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "lead",
                                                            AuditLog.entity_id == str(lid))).all()
    assert actions == ["lead.create", "lead.update", "lead.assign", "lead.update", "lead.update"]


def test_lead_discard_needs_a_reason(api):
    lid = new_lead(api, "mkt1")["id"]
    r = patch(api, "mkt1", f"/leads/{lid}", {"status": "discarded"})
    assert r.status_code == 422 and "discard_reason" in r.get_json()["errors"]
    r = patch(api, "mkt1", f"/leads/{lid}", {"status": "discarded", "discard_reason": "重复登记"})
    assert r.status_code == 200 and r.get_json()["discard_reason"] == "重复登记"


def test_lead_pages_screen_and_assign(client, api, session):
    lid = new_lead(api, "mkt1", company_name="页面分配公司")["id"]
    login(client, "mkt1")
    assert client.post(f"/leads/{lid}/status", data={"status": "discarded"}).status_code == 422
    assert client.post(f"/leads/{lid}/status", data={"status": "kept"}).status_code == 302
    login(client, "bizmgr1")
    page = client.get(f"/leads/{lid}").get_data(as_text=True)
    assert 'name="owner_id"' in page and "张伟" in page
    r = client.post(f"/leads/{lid}/assign", data={"owner_id": str(uid(session, "finance1"))})
    assert r.status_code == 422 and 'id="owner_id-error"' in r.get_data(as_text=True)
    assert client.post(f"/leads/{lid}/assign", data={"owner_id": str(uid(session, "rep1"))}).status_code == 302
    session.rollback()
    assert session.get(Lead, lid).status == "assigned"


def test_lead_list_filters_search_and_paging(api, client):
    for i in range(3):
        new_lead(api, "mkt1", company_name=f"分页公司{i}", source="phone")
    items = api.as_("mkt1").get("/leads?source=phone&q=分页公司").get_json()["items"]
    assert len(items) == 3 and all(i["source"] == "phone" for i in items)
    assert len(api.as_("mkt1").get("/leads?q=分页公司&limit=2").get_json()["items"]) == 2
    assert len(api.as_("mkt1").get("/leads?q=分页公司&limit=2&offset=2").get_json()["items"]) == 1
    assert all(i["status"] == "kept" for i in api.as_("mkt1").get("/leads?status=kept").get_json()["items"])
    mine = api.as_("rep1").get("/leads?mine=true").get_json()["items"]
    assert mine and all(i["company_name"] != "分页公司0" for i in mine)
    login(client, "mkt1")
    html = client.get("/leads?q=分页公司&source=phone").get_data(as_text=True)
    assert html.count('data-label="公司名称"') == 3
    assert client.get("/leads?status=nonsense&page=abc").status_code == 200


def test_O2_leads_are_invisible_across_sectors(api, session):
    lid = new_lead(api, "rep1", company_name="一版块的商机")["id"]
    for user in ("rep3", "mgr3"):
        assert api.as_(user).get(f"/leads/{lid}").status_code == 404
        assert patch(api, user, f"/leads/{lid}", {"notes": "x"}).status_code == 404
        assert api.as_(user).post(f"/leads/{lid}/assign", json={"owner_id": uid(session, "rep3")}).status_code == 404
        assert lid not in [i["id"] for i in api.as_(user).get("/leads?limit=200").get_json()["items"]]
    assert api.as_("grouplead").get(f"/leads/{lid}").status_code == 200


def test_demo_leads_carry_their_sources(api):
    items = api.as_("bizmgr1").get("/leads?limit=200").get_json()["items"]
    assert {i["source"] for i in items} == {"phone", "website", "online_consultation"}
    assert {i["status"] for i in items} >= {"new", "kept", "assigned", "following"}
