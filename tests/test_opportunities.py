"""Opportunities (销售机会): F1 stages per sector, probability, sign-date history, competitors, attachments;
E4 only the owner enters progress; E1 required fields; optimistic versions (409); O2 isolation; the kanban board."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from models.crm import Customer
from models.org import Sector
from models.sales import Opportunity, OpportunityStage, SignDateChange

HUAXIN = "北京华信科技有限公司"
PENDING = "深圳前海新创有限公司"
TIANFU = "成都天府软件有限公司"  # rep3, sector 2


def login(client, username):
    assert client.post("/login", data={"username": username, "password": "demo12345"}).status_code == 302


def patch(api, username, path, body):
    return api.client.patch(f"/api/v1{path}", json=body, headers=api.headers(username))


def customer_id(session, name) -> int:
    session.rollback()
    return session.scalar(select(Customer.id).where(Customer.name == name))


@pytest.fixture(autouse=True)
def _attachments_in_tmp(app, tmp_path):
    app.config["ATTACHMENT_DIR"] = str(tmp_path / "attachments")


def new_opp(api, session, username="rep1", customer=HUAXIN, **over) -> dict:
    body = {"customer_id": customer_id(session, customer), "name": "测试销售机会", "amount": 150000,
            "expected_sign_date": "2027-03-31", "competitors": ["金蝶"], **over}
    r = api.as_(username).post("/opportunities", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# ---- F1 stages ----------------------------------------------------------------------------------------------
def test_F1_default_stages_in_order_with_probabilities(api):
    stages = api.as_("rep1").get("/opportunity-stages").get_json()["items"]
    assert [s["code"] for s in stages] == ["lead", "follow_up", "needs_confirmed", "solution", "tender_published",
                                           "bid", "signing", "won", "lost"]
    assert [s["probability"] for s in stages] == [5, 10, 20, 40, 50, 60, 80, 100, 0]
    assert {s["code"]: s["outcome"] for s in stages}["won"] == "won"
    assert stages[3]["name_zh"] == "方案"


def test_F1_a_sector_has_its_own_stage_list(api, session):
    """Sector 2 gets a stage of its own; sector 1 cannot use it, sector 2 can, with its probability."""
    s2 = session.scalar(select(Sector.id).where(Sector.code == "S2"))
    session.rollback()
    session.add(OpportunityStage(sector_id=s2, code="site_survey", name_zh="现场勘察", name_en="Site survey",
                                 probability=30, position=35, outcome=None))
    session.commit()
    s2_codes = [s["code"] for s in api.as_("rep3").get("/opportunity-stages").get_json()["items"]]
    assert s2_codes.index("site_survey") == s2_codes.index("needs_confirmed") + 1
    assert "site_survey" not in [s["code"] for s in api.as_("rep1").get("/opportunity-stages").get_json()["items"]]
    opp = new_opp(api, session, "rep3", TIANFU, stage_code="site_survey")
    assert opp["stage_code"] == "site_survey" and opp["win_probability"] == 30
    r = api.as_("rep1").post("/opportunities", json={"customer_id": customer_id(session, HUAXIN), "name": "x",
                                                     "amount": 10, "stage_code": "site_survey"})
    assert r.status_code == 422 and "stage_code" in r.get_json()["errors"]


def test_F1_probability_comes_from_the_stage_and_won_lost_close(api, session):
    opp = new_opp(api, session, stage_code="solution")
    assert opp["win_probability"] == 40 and opp["status"] == "open"
    oid = opp["id"]
    r = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "bid"})
    assert r.status_code == 200 and r.get_json()["win_probability"] == 60
    won = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "won"}).get_json()
    assert won["status"] == "won" and won["win_probability"] == 100 and won["closed_at"]
    lost = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "lost"}).get_json()
    assert lost["status"] == "lost" and lost["win_probability"] == 0
    reopened = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "signing"}).get_json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None and reopened["win_probability"] == 80
    r = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "nope"})
    assert r.status_code == 422 and "stage_code" in r.get_json()["errors"]


def test_F1_every_sign_date_change_is_kept_and_shown(api, session, client):
    oid = new_opp(api, session)["id"]
    assert patch(api, "rep1", f"/opportunities/{oid}", {"expected_sign_date": "2027-05-15"}).status_code == 200
    assert patch(api, "rep1", f"/opportunities/{oid}", {"amount": 160000}).status_code == 200  # no date change
    assert patch(api, "rep1", f"/opportunities/{oid}", {"expected_sign_date": None}).status_code == 200
    items = api.as_("rep1").get(f"/opportunities/{oid}/sign-date-changes").get_json()["items"]
    assert [(i["old_date"], i["new_date"]) for i in items] == [
        (None, "2027-03-31"), ("2027-03-31", "2027-05-15"), ("2027-05-15", None)]
    assert api.as_("mgr1").get(f"/opportunities/{oid}/sign-date-changes").status_code == 200
    assert api.as_("rep3").get(f"/opportunities/{oid}/sign-date-changes").status_code == 404
    login(client, "rep1")
    page = client.get(f"/opportunities/{oid}").get_data(as_text=True)
    assert "预计签约日期变更记录" in page and "2027-05-15" in page and "2027-03-31" in page


def test_F1_competitors_are_a_list_of_names(api, session, client):
    opp = new_opp(api, session, competitors=["金蝶", "用友", "金蝶", " "])
    assert opp["competitors"] == ["金蝶", "用友"]
    r = patch(api, "rep1", f"/opportunities/{opp['id']}", {"competitors": ["Salesforce"]})
    assert r.get_json()["competitors"] == ["Salesforce"]
    login(client, "rep1")
    r = client.post(f"/opportunities/{opp['id']}/edit", data={"name": "测试销售机会", "amount": "150000",
                                                              "stage_code": "lead", "competitors": "金蝶，用友、浪潮"})
    assert r.status_code == 302
    assert api.as_("rep1").get(f"/opportunities/{opp['id']}").get_json()["competitors"] == ["金蝶", "用友", "浪潮"]
    assert "金蝶、用友、浪潮" in client.get(f"/opportunities/{opp['id']}").get_data(as_text=True)


# ---- F1 attachments -----------------------------------------------------------------------------------------
def upload(api, username, oid, data: bytes, name="方案书.pdf", **form):
    return api.client.post(f"/api/v1/opportunities/{oid}/attachments", headers=api.headers(username),
                           data={"file": (__import__("io").BytesIO(data), name), **form},
                           content_type="multipart/form-data")


def test_F1_attachments_upload_download_and_isolation(api, session, app, tmp_path):
    oid = new_opp(api, session, stage_code="solution")["id"]
    content = b"%PDF-1.4 proposal\n" * 100
    r = upload(api, "rep1", oid, content, name="../../etc/方案书.pdf")
    assert r.status_code == 201, r.get_json()
    meta = r.get_json()
    digest = hashlib.sha256(content).hexdigest()
    assert meta["sha256"] == digest and meta["size"] == len(content) and meta["stage_code"] == "solution"
    assert meta["filename"] == "方案书.pdf"
    assert (tmp_path / "attachments" / digest).read_bytes() == content
    assert [a["id"] for a in api.as_("mgr1").get(f"/opportunities/{oid}/attachments").get_json()["items"]] == [meta["id"]]
    for user in ("rep1", "mgr1", "salesmgmt1"):  # the owner, his manager, a sector-wide role
        d = api.as_(user).get(f"/attachments/{meta['id']}")
        assert d.status_code == 200 and d.data == content
        assert d.headers["Content-Disposition"].startswith("attachment")
        assert d.headers["X-Content-Type-Options"] == "nosniff"
        assert d.mimetype == "application/octet-stream"
    for user in ("rep3", "mgr3", "rep2"):  # another sector; a colleague who may not see it
        assert api.as_(user).get(f"/attachments/{meta['id']}").status_code == 404
        assert api.as_(user).get(f"/opportunities/{oid}/attachments").status_code == 404
    # pages: the owner uploads, a user of another sector gets 404
    from tests.test_leads import login as page_login
    c = app.test_client()
    page_login(c, "rep1")
    page = c.get(f"/opportunities/{oid}").get_data(as_text=True)
    assert "方案书.pdf" in page
    assert c.get(f"/attachments/{meta['id']}").data == content
    page_login(c, "rep3")
    assert c.get(f"/attachments/{meta['id']}").status_code == 404


def test_F1_attachment_size_cap_and_owner_only(api, session):
    oid = new_opp(api, session)["id"]
    r = upload(api, "rep1", oid, b"x" * (10 * 1024 * 1024 + 1), name="big.bin")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = upload(api, "rep1", oid, b"", name="empty.txt")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = api.client.post(f"/api/v1/opportunities/{oid}/attachments", headers=api.headers("rep1"), data={},
                        content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    assert upload(api, "rep1", oid, b"ok", stage_code="nope").status_code == 422
    assert upload(api, "mgr1", oid, b"ok").status_code == 403  # E4: his manager sees it but does not upload
    assert upload(api, "rep3", oid, b"ok").status_code == 404
    assert upload(api, "rep1", oid, b"x" * (10 * 1024 * 1024), name="exactly10.bin").status_code == 201


# ---- E4 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("username", ["mgr1", "asst1", "salesmgmt1", "vp1", "bizmgr1"])
def test_E4_only_the_owner_changes_the_opportunity_progress(api, session, username):
    oid = new_opp(api, session)["id"]
    assert api.as_(username).get(f"/opportunities/{oid}").status_code == 200  # they may see it …
    r = api.as_(username).post(f"/opportunities/{oid}/stage", json={"stage_code": "bid"})
    assert r.status_code == 403, r.get_json()  # … but not move it
    for body in ({"amount": 1}, {"expected_sign_date": "2027-01-01"}, {"stage_code": "won"}, {"name": "x"}):
        assert patch(api, username, f"/opportunities/{oid}", body).status_code == 403
    assert api.as_("rep1").get(f"/opportunities/{oid}").get_json()["stage_code"] == "lead"


def test_E4_a_colleague_who_cannot_see_it_gets_404(api, session):
    oid = new_opp(api, session)["id"]
    assert api.as_("rep2").get(f"/opportunities/{oid}").status_code == 404
    assert api.as_("rep2").post(f"/opportunities/{oid}/stage", json={"stage_code": "bid"}).status_code == 404


def test_E4_pages_and_board_refuse_a_non_owner(client, api, session):
    oid = new_opp(api, session)["id"]
    login(client, "mgr1")
    page = client.get(f"/opportunities/{oid}").get_data(as_text=True)
    assert "只有负责人可以录入该销售机会的进展" in page and 'name="version"' not in page
    r = client.post(f"/opportunities/{oid}/stage", json={"stage_code": "bid"}, headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.get_json()["message"]
    assert client.post(f"/opportunities/{oid}/edit", data={"amount": "1"}).status_code == 403
    board = client.get("/opportunities/board").get_data(as_text=True)
    card = re.search(rf'<li class="opp-card"[^>]*data-id="{oid}".*?</li>', board, re.DOTALL).group(0)
    assert 'draggable="false"' in card and "只读" in card


def test_stale_version_is_409(api, session, client):
    opp = new_opp(api, session)
    oid, version = opp["id"], opp["version"]
    assert patch(api, "rep1", f"/opportunities/{oid}", {"amount": 2, "version": version}).status_code == 200
    r = patch(api, "rep1", f"/opportunities/{oid}", {"amount": 3, "version": version})
    assert r.status_code == 409
    r = api.as_("rep1").post(f"/opportunities/{oid}/stage", json={"stage_code": "bid", "version": version})
    assert r.status_code == 409
    login(client, "rep1")
    r = client.post(f"/opportunities/{oid}/stage", json={"stage_code": "bid", "version": version},
                    headers={"Accept": "application/json"})
    assert r.status_code == 409
    r = client.post(f"/opportunities/{oid}/edit", data={"name": "n", "amount": "5", "stage_code": "lead",
                                                        "version": str(version)})
    assert r.status_code == 409 and "已被他人修改" in r.get_data(as_text=True)


# ---- E1 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("over", "field"), [
    ({"name": "  "}, "name"), ({"amount": 0}, "amount"), ({"amount": -5}, "amount"),
    ({"customer": PENDING}, "customer_id"), ({"customer": TIANFU}, "customer_id"),
    ({"stage_code": "nope"}, "stage_code"), ({"expected_sign_date": "1900-01-01"}, "expected_sign_date"),
])
def test_E1_opportunity_fields_refused_naming_the_field(api, session, over, field):
    over = dict(over)
    body = {"customer_id": customer_id(session, over.pop("customer", HUAXIN)), "name": "x", "amount": 10, **over}
    r = api.as_("rep1").post("/opportunities", json=body)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()


def test_E1_opportunity_form_errors_next_to_the_input(client, session):
    login(client, "rep1")
    r = client.post("/opportunities/new", data={"customer_id": "", "name": "", "amount": "abc"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="customer_id-error"' in html
    r = client.post("/opportunities/new", data={"customer_id": str(customer_id(session, HUAXIN)), "name": " ",
                                                "amount": "100"})
    assert r.status_code == 422 and 'id="name-error"' in r.get_data(as_text=True)
    r = client.post("/opportunities/new", data={"customer_id": str(customer_id(session, HUAXIN)), "name": "页面机会",
                                                "amount": "0"})
    assert r.status_code == 422 and 'id="amount-error"' in r.get_data(as_text=True)
    r = client.post("/opportunities/new", data={"customer_id": str(customer_id(session, HUAXIN)), "name": "页面机会",
                                                "amount": "88,000.50", "stage_code": "solution",
                                                "expected_sign_date": "2027-02-01", "competitors": "金蝶"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "¥88,000.50" in page and "40%" in page


@pytest.mark.parametrize("username", ["finance1", "bizmgr1", "admin"])
def test_only_sales_open_opportunities(api, session, username):
    r = api.as_(username).post("/opportunities", json={"customer_id": customer_id(session, HUAXIN), "name": "x",
                                                       "amount": 10})
    assert r.status_code == 403


# ---- O2 and lists -------------------------------------------------------------------------------------------
def test_O2_opportunities_404_across_sectors(api, session):
    oid = new_opp(api, session)["id"]
    for user in ("rep3", "mgr3"):
        assert api.as_(user).get(f"/opportunities/{oid}").status_code == 404
        assert patch(api, user, f"/opportunities/{oid}", {"amount": 1}).status_code == 404
        assert api.as_(user).post(f"/opportunities/{oid}/stage", json={"stage_code": "bid"}).status_code == 404
        assert oid not in [o["id"] for o in api.as_(user).get("/opportunities?limit=200").get_json()["items"]]
    s2 = api.as_("rep3").get("/opportunities").get_json()["items"]
    assert s2 and all(o["sector_id"] != api.as_("rep1").get(f"/opportunities/{oid}").get_json()["sector_id"] for o in s2)


def test_opportunity_list_filters_and_search(api, session, client):
    new_opp(api, session, name="检索专用机会", stage_code="bid")
    items = api.as_("rep1").get("/opportunities?q=检索专用").get_json()["items"]
    assert [i["name"] for i in items] == ["检索专用机会"] and items[0]["customer_name"] == HUAXIN
    assert all(i["stage_code"] == "bid" for i in api.as_("mgr1").get("/opportunities?stage_code=bid").get_json()["items"])
    assert api.as_("mgr1").get("/opportunities?mine=true").get_json()["items"] == []
    assert len(api.as_("rep1").get("/opportunities?limit=1").get_json()["items"]) == 1
    login(client, "mgr1")
    html = client.get("/opportunities?q=华信").get_data(as_text=True)
    assert "华信 CRM 升级项目" in html and "¥380,000.00" in html


# ---- kanban -------------------------------------------------------------------------------------------------
def test_board_columns_cards_and_totals(client):
    login(client, "rep1")
    html = client.get("/opportunities/board").get_data(as_text=True)
    columns = re.findall(r'<section class="column[^"]*" data-stage="([a-z_]+)"', html)
    assert columns[:3] == ["lead", "follow_up", "needs_confirmed"] and len(columns) == 9
    assert "华信 CRM 升级项目" in html and "¥380,000.00" in html and "北京华信科技有限公司" in html
    solution = re.search(r'data-stage="solution".*?<p class="totals">(.*?)</p>', html, re.DOTALL).group(1)
    assert '>1</span>' in solution and "¥1,250,000.00" in solution
    assert "西湖数据" not in html  # rep2's opportunity is not visible to rep1
    login(client, "mgr1")
    assert "西湖数据 数据中台" in client.get("/opportunities/board").get_data(as_text=True)
    login(client, "admin")
    assert client.get("/opportunities/board").status_code == 200


def test_board_move_by_session_post_returns_json(client, session):
    login(client, "rep1")
    session.rollback()
    opp = session.scalar(select(Opportunity).where(Opportunity.name == "华信 CRM 升级项目"))
    r = client.post(f"/opportunities/{opp.id}/stage", json={"stage_code": "solution", "version": opp.version},
                    headers={"Accept": "application/json"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["stage_code"] == "solution" and body["version"] == opp.version + 1 and body["stage_name"] == "方案"
    # a plain form post (no JavaScript) is redirected back to the board
    r = client.post(f"/opportunities/{opp.id}/stage", data={"stage_code": "bid"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/opportunities/board")
    session.rollback()
    assert session.get(Opportunity, opp.id).stage_code == "bid"
    assert client.post("/opportunities/2147483647/stage", json={"stage_code": "bid"},
                       headers={"Accept": "application/json"}).status_code == 404


def test_demo_opportunities_across_stages_with_sign_date_history(session):
    session.rollback()
    rows = session.scalars(select(Opportunity)).all()
    assert len({o.stage_code for o in rows}) >= 4 and len({o.owner_id for o in rows}) == 3
    assert session.scalar(select(SignDateChange.id)) is not None
