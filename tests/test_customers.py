"""Customers: entry (E1, E3, E6), review (E2), duplicates (C1), contacts, sharing (O3), company details (E5),
lists (T1/T2 warnings, search), sector isolation (O2) and history (O6) — through the API and the pages."""
from __future__ import annotations

import json
import threading
import urllib.request
from datetime import timedelta
from urllib.error import HTTPError

import pytest
from sqlalchemy import select

from models import clock
from models.crm import Contact, Customer, RecordShare
from models.customer_rules import with_check_character
from models.flags import Flag
from models.org import Department, User, UserRole
from models.sales import Opportunity

CODE_A = with_check_character("91310000MA1FL8XQ3")
CODE_B = with_check_character("91440300MA5DC7KB2")


def call(api, user, method, path, **kw):
    return getattr(api.client, method)(f"/api/v1{path}", headers=api.headers(user), **kw)


def create(api, user="rep1", **body):
    body.setdefault("name", "杭州西湖科技有限公司")
    return api.as_(user).post("/customers", json=body)


def created(api, user="rep1", **body):
    r = create(api, user, **body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def add_user(session, username, role, *, dept="D1", sector_scope=False):
    """A new user of D1's sector holding `role` (department scope, or sector scope)."""
    d = session.scalar(select(Department).where(Department.code == dept))
    template = session.scalar(select(User).where(User.username == "rep1"))
    user = User(username=username, display_name=username, password_hash=template.password_hash,
                sector_id=d.sector_id, department_id=None if sector_scope else d.id)
    session.add(user)
    session.flush()
    session.add(UserRole(user_id=user.id, role_code=role, sector_id=d.sector_id,
                         department_id=None if sector_scope else d.id))
    session.commit()
    return user


def review_task(api, customer, user):
    items = api.as_(user).get("/tasks?scope=mine").get_json()["items"]
    return next((t for t in items if t["process_instance_id"] == customer["review_instance_id"]), None)


# ---------------------------------------------------------------- E1

@pytest.mark.parametrize("name", ["", "   ", "\u3000\u3000"])
def test_E1_customer_name_is_required_and_never_blank(api, name):
    r = create(api, name=name)
    assert r.status_code == 422
    assert "name" in r.get_json()["errors"]


def test_E1_contact_name_is_required_on_entry_and_on_its_own(api):
    r = create(api, contact={"name": "  ", "mobile": "13800000000"})
    assert r.status_code == 422 and "contact" in r.get_json()["errors"]
    c = created(api)
    r = api.as_("rep1").post(f"/customers/{c['id']}/contacts", json={"name": " "})
    assert r.status_code == 422 and "name" in r.get_json()["errors"]
    r = api.as_("rep1").post(f"/customers/{c['id']}/contacts", json={"title": "经理"})
    assert r.status_code == 422 and "name" in r.get_json()["errors"]


def test_E1_credit_code_and_phone_are_validated(api):
    bad = CODE_A[:-1] + ("0" if CODE_A[-1] != "0" else "1")
    r = create(api, credit_code=bad)
    assert r.status_code == 422 and "credit_code" in r.get_json()["errors"]
    r = create(api, phone="call me")
    assert r.status_code == 422 and "phone" in r.get_json()["errors"]
    c = created(api, credit_code=CODE_A.lower(), phone="0571-88886666")
    assert c["credit_code"] == CODE_A
    assert c["pinyin_initials"] == "hzxhkjyxgs"


def test_E1_required_name_on_the_page(client):
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    r = client.post("/customers/new", data={"name": "  ", "kind": "direct"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="name"' in html and 'aria-invalid="true"' in html and "name-error" in html


# ---------------------------------------------------------------- E6

def test_E6_a_sales_rep_enters_direct_customers_only(api):
    for kind in ("agent", "end_customer", "joint_venture"):
        r = create(api, kind=kind, name=f"某{kind}公司")
        assert r.status_code == 403, kind
        assert "kind" in r.get_json()["errors"]
    assert created(api, kind="direct")["kind"] == "direct"


def test_E6_a_channel_rep_enters_agents_and_their_end_customers(api, session):
    add_user(session, "chan1", "channel_rep")
    assert create(api, "chan1", kind="direct", name="直销某公司").status_code == 403
    agent = created(api, "chan1", kind="agent", name="浙江代理商贸易有限公司")
    r = create(api, "chan1", kind="end_customer", name="宁波终端制造有限公司")
    assert r.status_code == 422 and "agent_id" in r.get_json()["errors"]
    end = created(api, "chan1", kind="end_customer", name="宁波终端制造有限公司", agent_id=agent["id"])
    assert end["agent_id"] == agent["id"] and end["status"] == "pending"
    not_agent = created(api, "rep1", name="无关直销有限公司")
    r = create(api, "chan1", kind="end_customer", name="温州终端有限公司", agent_id=not_agent["id"])
    assert r.status_code == 422 and "agent_id" in r.get_json()["errors"]


def test_E6_business_manager_does_not_enter_customers(api):
    assert create(api, "bizmgr1").status_code == 403


# ---------------------------------------------------------------- E2

def test_E2_rep_customer_is_pending_and_the_manager_approves_it(api):
    c = created(api, contact={"name": "李四", "mobile": "13800000000"}, phone="0571-12345678")
    assert c["status"] == "pending" and c["review_instance_id"]
    task = review_task(api, c, "mgr1")
    assert task and task["process_key"] == "new_customer_review"
    assert review_task(api, c, "rep2") is None
    assert api.as_("rep1").post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}
                                ).status_code == 403
    r = api.as_("mgr1").post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code == 200, r.get_json()
    assert api.as_("rep1").get(f"/customers/{c['id']}").get_json()["status"] == "approved"


def test_E2_the_assistant_reviews_too_and_can_return_it_and_the_rep_resubmits(api):
    """E2 / O4: the department assistant acts for the manager; a returned customer is fixed and resubmitted."""
    c = created(api, contact={"name": "李四", "mobile": "13800000000"})
    task = review_task(api, c, "asst1")
    assert task is not None
    r = api.as_("asst1").post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "reject"},
                                                                       "comment": "电话缺失"})
    assert r.status_code == 200
    after = api.as_("rep1").get(f"/customers/{c['id']}").get_json()
    assert after["status"] == "returned"
    inst = api.as_("rep1").get(f"/process-instances/{c['review_instance_id']}").get_json()
    assert any(h["comment"] == "电话缺失" for h in inst["history"])
    # only a returned customer of his own is resubmitted
    assert call(api, "rep2", "patch", f"/customers/{c['id']}", json={"resubmit": True}).status_code == 404
    r = call(api, "rep1", "patch", f"/customers/{c['id']}", json={"phone": "0571-12345678", "resubmit": True})
    assert r.status_code == 200, r.get_json()
    again = r.get_json()
    assert again["status"] == "pending" and again["review_instance_id"] != c["review_instance_id"]
    assert call(api, "rep1", "patch", f"/customers/{c['id']}", json={"resubmit": True}).status_code == 409
    task2 = review_task(api, again, "mgr1")
    assert api.as_("mgr1").post(f"/tasks/{task2['id']}/complete", json={"data": {"decision": "approve"}}
                                ).status_code == 200
    assert api.as_("rep1").get(f"/customers/{c['id']}").get_json()["status"] == "approved"


def test_E2_a_manager_of_another_department_does_not_review(api, session):
    user = session.scalar(select(User).where(User.username == "rep2"))
    d2 = session.scalar(select(Department).where(Department.code == "D2"))
    session.add(UserRole(user_id=user.id, role_code="dept_manager", sector_id=d2.sector_id, department_id=d2.id))
    session.commit()
    c = created(api)
    assert review_task(api, c, "rep2") is None


def test_O4_assistant_alias_applies_only_to_the_assistant_lane(app, session):
    """engine/assignment: a manager may act on his department's assistant-lane tasks; the assistant still does not
    get the manager's own tasks (Q1 stays the manager's)."""
    from engine.assignment import is_candidate
    from models.process import HumanTask

    mgr = session.scalar(select(User).where(User.username == "mgr1"))
    asst = session.scalar(select(User).where(User.username == "asst1"))
    mgr3 = session.scalar(select(User).where(User.username == "mgr3"))
    d1 = mgr.department_id
    assistant_task = HumanTask(role_code="dept_assistant", department_id=d1, sector_id=mgr.sector_id)
    manager_task = HumanTask(role_code="dept_manager", department_id=d1, sector_id=mgr.sector_id)
    assert is_candidate(mgr, assistant_task) and is_candidate(asst, assistant_task)
    assert is_candidate(mgr, manager_task) and not is_candidate(asst, manager_task)
    assert not is_candidate(mgr3, assistant_task)


def test_E2_customer_entered_by_a_manager_needs_no_review(api):
    c = created(api, "mgr1", name="经理录入有限公司")
    assert c["status"] == "approved" and c["review_instance_id"] is None


# ---------------------------------------------------------------- E3

def test_E3_entry_within_the_limit_is_not_flagged(api, session):
    c = created(api, first_contact_at=(clock.now() - timedelta(days=6)).isoformat() + "+00:00")
    assert c["late_entry"] is False
    assert session.scalar(select(Flag).where(Flag.entity_id == c["id"], Flag.kind == "late_entry")) is None


@pytest.mark.parametrize(("days", "level"), [(8, "late"), (15, "beyond_max")])
def test_E3_late_entry_is_flagged_and_beyond_the_maximum_still_accepted(api, session, days, level):
    c = created(api, first_contact_at=(clock.now() - timedelta(days=days)).isoformat() + "+00:00")
    assert c["late_entry"] is True
    flag = session.scalar(select(Flag).where(Flag.entity_type == "customer", Flag.entity_id == c["id"],
                                             Flag.kind == "late_entry"))
    assert flag is not None and flag.period == clock.now().date()
    history = api.as_("rep1").get(f"/customers/{c['id']}/history").get_json()["items"]
    entry = next(h for h in history if h["action"] == "customer.create")
    assert entry["after"]["late_entry"] == level and entry["after"]["entry_days"] == days


def test_E3_limits_are_settings(api, session):
    from models import settings

    settings.put(session, "customer.entry_days", 20, sector_id=None, actor_id=None)
    session.commit()
    c = created(api, first_contact_at=(clock.now() - timedelta(days=15)).isoformat() + "+00:00")
    assert c["late_entry"] is False


def test_E3_first_contact_in_the_future_is_refused(api):
    r = create(api, first_contact_at=(clock.now() + timedelta(days=3)).isoformat() + "+00:00")
    assert r.status_code == 422 and "first_contact_at" in r.get_json()["errors"]


# ---------------------------------------------------------------- C1

@pytest.mark.parametrize("variant", [
    "杭州西湖（科技）有限公司", "杭州西湖(科技)有限公司", "杭州 西湖 (科技) 有限公司", "杭州西湖【科技】有限公司",
    "杭州西湖（科技）有限公司\u3000", "ＡＢＣ杭州西湖(科技)有限公司"])
def test_C1_exact_name_of_another_reps_customer_is_refused_without_naming_the_owner(api, variant):
    created(api, name="ABC杭州西湖（科技）有限公司" if variant.startswith("ＡＢＣ") else "杭州西湖(科技)有限公司")
    r = create(api, "rep2", name=variant)
    assert r.status_code == 409, r.get_json()
    text = json.dumps(r.get_json(), ensure_ascii=False)
    for secret in ("rep1", "张伟", '"owner_id"'):
        assert secret not in text
    assert r.get_json()["conflict_possible"] is True


def test_C1_same_credit_code_is_refused(api):
    created(api, name="甲公司有限责任公司", credit_code=CODE_A)
    r = create(api, "rep2", name="完全不同的名字有限公司", credit_code=CODE_A)
    assert r.status_code == 409 and "张伟" not in r.get_data(as_text=True)


def test_C1_customer_in_the_public_pool_must_be_claimed(api, session):
    c = created(api, name="公海里的有限公司")
    row = session.get(Customer, c["id"])
    row.owner_id = None
    session.commit()
    r = create(api, "rep2", name="公海里的有限公司")
    assert r.status_code == 409 and r.get_json()["in_pool"] is True
    assert "pool" in r.get_json()["message"]


def test_C1_near_duplicates_warn_before_saving(api):
    first = created(api, name="北京华信科技集团有限公司", phone="010-66668888")
    check = api.as_("rep1").post("/customers/check-duplicates", json={"name": "北京华信科技集团"}).get_json()
    assert check["exact"] is False and {"id": first["id"], "name": first["name"]} in check["similar"]
    # rep2 may not see rep1's customers: only a count
    check = api.as_("rep2").post("/customers/check-duplicates", json={"name": "北京华信科技集团"}).get_json()
    assert check["similar"] == [] and check["similar_count"] >= 1
    check = api.as_("rep2").post("/customers/check-duplicates", json={"phone": "010-66668888"}).get_json()
    assert check["similar_count"] == 1
    exact = api.as_("rep2").post("/customers/check-duplicates", json={"name": "北京华信科技集团有限公司"}).get_json()
    assert exact["exact"] is True and "张伟" not in (exact["message"] or "")
    # saving without confirming: 409 with the warning; confirming saves
    r = create(api, "rep2", name="北京华信科技集团")
    assert r.status_code == 409 and r.get_json()["similar_count"] >= 1 and r.get_json()["similar"] == []
    assert create(api, "rep2", name="北京华信科技集团", confirm_similar=True).status_code == 201


def test_C1_duplicate_refusal_and_warning_on_the_page(api, client):
    created(api, name="上海浦江物流有限公司")
    client.post("/login", data={"username": "rep2", "password": "demo12345"})
    r = client.post("/customers/new", data={"name": "上海浦江物流（有限公司）", "kind": "direct"})
    assert r.status_code == 409 and "张伟" not in r.get_data(as_text=True)
    r = client.post("/customers/new", data={"name": "上海浦江物流", "kind": "direct"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "similar-warning" in html and 'name="confirm_similar"' in html
    r = client.post("/customers/new", data={"name": "上海浦江物流", "kind": "direct", "confirm_similar": "1"})
    assert r.status_code == 302


def test_C1_two_concurrent_entries_of_one_customer_give_one_owner(api, live_server, session):
    """C1 race: two reps submit the same customer at once; exactly one succeeds, the other gets 409."""
    for round_ in range(3):
        name = f"并发测试第{round_}有限公司"
        tokens = [api.token("rep1"), api.token("rep2")]
        barrier = threading.Barrier(2)
        results = [0, 0]

        def post(i, name=name, tokens=tokens, barrier=barrier, results=results):
            req = urllib.request.Request(f"{live_server}/api/v1/customers", method="POST",
                                         data=json.dumps({"name": name}).encode(),
                                         headers={"Authorization": f"Bearer {tokens[i]}",
                                                  "Content-Type": "application/json"})
            barrier.wait()
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    results[i] = resp.status
            except HTTPError as exc:
                results[i] = exc.code

        threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        assert sorted(results) == [201, 409], results
        session.rollback()  # a fresh snapshot
        assert len(session.scalars(select(Customer).where(Customer.name == name)).all()) == 1


def test_C1_a_rename_onto_another_customer_is_refused(api):
    created(api, name="重名检测一有限公司")
    other = created(api, name="重名检测二有限公司")
    r = call(api, "rep1", "patch", f"/customers/{other['id']}", json={"name": "重名检测一有限公司"})
    assert r.status_code == 409


# ---------------------------------------------------------------- contacts

def test_contacts_list_create_update_and_history(api):
    c = created(api)
    r = api.as_("rep1").post(f"/customers/{c['id']}/contacts", json={"name": "王五", "mobile": "13900000000",
                                                                       "email": "w@example.cn"})
    assert r.status_code == 201
    contact = r.get_json()
    r = call(api, "rep1", "patch", f"/contacts/{contact['id']}", json={"title": "总经理"})
    assert r.status_code == 200 and r.get_json()["title"] == "总经理"
    assert call(api, "rep1", "patch", f"/contacts/{contact['id']}", json={"email": "nope"}).status_code == 422
    items = api.as_("rep1").get(f"/customers/{c['id']}/contacts").get_json()["items"]
    assert [i["name"] for i in items] == ["王五"]
    assert api.as_("rep2").get(f"/customers/{c['id']}/contacts").status_code == 404
    assert call(api, "rep2", "patch", f"/contacts/{contact['id']}", json={"title": "x"}).status_code == 404
    # O4: the manager sees and may change them
    assert call(api, "mgr1", "patch", f"/contacts/{contact['id']}", json={"title": "董事长"}).status_code == 200


# ---------------------------------------------------------------- O3 sharing

def test_O3_shared_customer_is_visible_to_the_collaborator_until_unshared(api, session):
    c = created(api)
    rep2 = session.scalar(select(User).where(User.username == "rep2"))
    assert api.as_("rep2").get(f"/customers/{c['id']}").status_code == 404
    assert api.as_("rep2").post(f"/customers/{c['id']}/shares", json={"user_id": rep2.id}).status_code == 404
    r = api.as_("rep1").post(f"/customers/{c['id']}/shares", json={"user_id": rep2.id})
    assert r.status_code == 201 and r.get_json()["shares"][0]["user_id"] == rep2.id
    assert api.as_("rep2").get(f"/customers/{c['id']}").status_code == 200
    assert c["id"] in [i["id"] for i in api.as_("rep2").get("/customers").get_json()["items"]]
    # the collaborator may not re-share it, and a user of another sector cannot be a collaborator
    rep3 = session.scalar(select(User).where(User.username == "rep3"))
    assert api.as_("rep2").post(f"/customers/{c['id']}/shares", json={"user_id": rep2.id}).status_code == 403
    r = api.as_("rep1").post(f"/customers/{c['id']}/shares", json={"user_id": rep3.id})
    assert r.status_code == 422 and "user_id" in r.get_json()["errors"]
    r = call(api, "rep1", "delete", f"/customers/{c['id']}/shares?user_id={rep2.id}")
    assert r.status_code == 200 and r.get_json()["shares"] == []
    assert api.as_("rep2").get(f"/customers/{c['id']}").status_code == 404


def test_O3_the_owners_manager_may_share(api, session):
    c = created(api)
    rep2 = session.scalar(select(User).where(User.username == "rep2"))
    assert api.as_("mgr1").post(f"/customers/{c['id']}/shares", json={"user_id": rep2.id}).status_code == 201
    session.rollback()
    assert session.scalar(select(RecordShare).where(RecordShare.entity_id == c["id"])) is not None


# ---------------------------------------------------------------- E5

def _win(session, customer_id):
    cust = session.get(Customer, customer_id)
    session.add(Opportunity(sector_id=cust.sector_id, department_id=cust.department_id, customer_id=cust.id,
                            owner_id=cust.owner_id, name="赢单机会", stage_code="won", amount=100000,
                            win_probability=100, status="won"))
    session.commit()


DETAILS = {"legal_representative": "赵六", "registered_capital": "1000万元", "bank_name": "工商银行",
           "bank_account": "6222000011112222", "tax_number": CODE_B}


def test_E5_customer_service_completes_company_details_after_a_win(api, session):
    add_user(session, "cs1", "customer_service", sector_scope=True)
    c = created(api, "mgr1", name="赢单客户有限公司")
    r = call(api, "cs1", "put", f"/customers/{c['id']}/company-details", json=DETAILS)
    assert r.status_code == 404  # no win yet: customer service does not see it
    _win(session, c["id"])
    r = call(api, "cs1", "put", f"/customers/{c['id']}/company-details", json=DETAILS)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["company_details"]["legal_representative"] == "赵六"
    detail = api.as_("mgr1").get(f"/customers/{c['id']}").get_json()
    assert detail["details_completed_at"] and detail["company_details"]["bank_name"] == "工商银行"
    history = api.as_("mgr1").get(f"/customers/{c['id']}/history").get_json()["items"]
    assert history[0]["action"] == "customer.company_details" and history[0]["actor"] == "cs1"
    r = call(api, "cs1", "put", f"/customers/{c['id']}/company-details", json={"registered_capital": "1"})
    assert r.status_code == 422 and "legal_representative" in r.get_json()["errors"]


def test_E5_the_owner_coordinates_and_others_may_not(api, session):
    c = created(api)
    assert call(api, "rep1", "put", f"/customers/{c['id']}/company-details", json=DETAILS).status_code == 200
    assert call(api, "mgr1", "put", f"/customers/{c['id']}/company-details", json=DETAILS).status_code == 403
    assert call(api, "rep2", "put", f"/customers/{c['id']}/company-details", json=DETAILS).status_code == 404


# ---------------------------------------------------------------- lists, T1/T2 warnings, search

def test_T2_list_shows_days_since_contact_and_the_30_60_day_warnings(api, session):
    c = created(api, name="预警测试有限公司")
    other = created(api, name="强预警测试有限公司", confirm_similar=True)
    session.get(Customer, c["id"]).last_contact_at = clock.now() - timedelta(days=35)
    session.get(Customer, other["id"]).last_contact_at = clock.now() - timedelta(days=61)
    session.commit()
    items = {i["id"]: i for i in api.as_("rep1").get("/customers?owner=mine&limit=200").get_json()["items"]}
    assert items[c["id"]]["days_since_contact"] == 35 and items[c["id"]]["warning"] == "warn"
    assert items[other["id"]]["warning"] == "strong"
    warned = [i["id"] for i in api.as_("rep1").get("/customers?warning=warn").get_json()["items"]]
    assert warned == [c["id"]]
    assert [i["id"] for i in api.as_("rep1").get("/customers?warning=strong").get_json()["items"]] == [other["id"]]
    assert {c["id"], other["id"]} <= {i["id"] for i in api.as_("rep1").get("/customers?warning=any").get_json()["items"]}


def test_contact_warning_function_is_reusable():
    from models.customers import contact_warning

    now = clock.now()
    c = Customer(owner_id=1, created_at=now - timedelta(days=100), last_contact_at=now - timedelta(days=30))
    assert contact_warning(c, now, 30, 60) == "warn"
    c.last_contact_at = now - timedelta(days=29)
    assert contact_warning(c, now, 30, 60) is None
    c.last_contact_at = None
    assert contact_warning(c, now, 30, 60) == "strong"
    c.owner_id = None
    assert contact_warning(c, now, 30, 60) is None


def test_list_search_by_name_pinyin_initials_and_phone_with_filters_sorting_paging(api):
    a = created(api, name="苏州园林设计有限公司", phone="0512-65551234", region="华东", industry="设计")
    b = created(api, name="无锡太湖设计有限公司", region="华东", industry="设计", confirm_similar=True)
    ids = lambda q: [i["id"] for i in api.as_("rep1").get(f"/customers?{q}").get_json()["items"]]
    assert ids("q=苏州园林") == [a["id"]]
    assert ids("q=szyl") == [a["id"]]
    assert ids("q=65551234") == [a["id"]]
    assert ids("q=苏州 园林（设计）") == []  # normalised, but the brackets are part of the name
    assert set(ids("region=华东&industry=设计")) == {a["id"], b["id"]}
    by_name = ids("industry=设计&sort=name")
    assert by_name == sorted([a["id"], b["id"]], key={a["id"]: "苏州园林设计有限公司", b["id"]: "无锡太湖设计有限公司"}.get)
    first, second = ids("industry=设计&sort=-created_at&limit=1"), ids("industry=设计&sort=-created_at&limit=1&offset=1")
    assert first == [b["id"]] and second == [a["id"]]
    assert ids("status=pending&kind=direct&owner=mine")[:2] == [b["id"], a["id"]]
    assert api.as_("rep1").get("/customers?sort=evil").status_code == 422
    assert api.as_("rep1").get("/customers?limit=0").status_code == 422


def test_list_page_shows_warning_and_filters(api, client, session):
    c = created(api, name="页面预警有限公司")
    session.get(Customer, c["id"]).last_contact_at = clock.now() - timedelta(days=40)
    session.commit()
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    html = client.get("/customers?q=页面预警").get_data(as_text=True)
    assert "页面预警有限公司" in html and "即将掉入公海" in html and 'data-label="未联系天数">40' in html
    detail = client.get(f"/customers/{c['id']}")
    assert detail.status_code == 200 and "即将掉入公海" in detail.get_data(as_text=True)


# ---------------------------------------------------------------- O2 isolation on every endpoint

def test_O2_a_user_of_another_sector_gets_404_on_every_customer_endpoint(api, session):
    c = created(api, contact={"name": "李四"})
    contact_id = c["contacts"][0]["id"]
    rep2 = session.scalar(select(User).where(User.username == "rep2"))
    cid = c["id"]
    for user in ("rep3", "mgr3"):
        calls = [
            ("get", f"/customers/{cid}", None), ("patch", f"/customers/{cid}", {"phone": "12345"}),
            ("get", f"/customers/{cid}/history", None), ("get", f"/customers/{cid}/contacts", None),
            ("post", f"/customers/{cid}/contacts", {"name": "x"}), ("patch", f"/contacts/{contact_id}", {"title": "x"}),
            ("post", f"/customers/{cid}/shares", {"user_id": rep2.id}),
            ("delete", f"/customers/{cid}/shares?user_id={rep2.id}", None),
            ("put", f"/customers/{cid}/company-details", DETAILS),
            ("post", "/conflict-cases", {"customer_id": cid, "reason": "x"}),
        ]
        for method, path, body in calls:
            r = call(api, user, method, path, **({"json": body} if body is not None else {}))
            assert r.status_code == 404, (user, method, path, r.status_code)
        assert cid not in [i["id"] for i in api.as_(user).get("/customers?limit=200").get_json()["items"]]
        dup = api.as_(user).post("/customers/check-duplicates", json={"name": "杭州西湖科技有限公司"}).get_json()
        assert dup["exact"] is False and dup["similar_count"] == 0
    # and sector 2 may register the same name: uniqueness is per sector
    assert create(api, "rep3").status_code == 201
    # the pages too
    from tests.test_conflicts import login

    client = api.client
    login(client, "rep3")
    for path in (f"/customers/{cid}", f"/customers/{cid}/edit", f"/contacts/{contact_id}/edit",
                 f"/customers/{cid}/company-details"):
        assert client.get(path).status_code == 404, path


# ---------------------------------------------------------------- O6 history

def test_O6_every_change_is_in_the_customers_history(api, client):
    c = created(api, contact={"name": "李四"})
    call(api, "rep1", "patch", f"/customers/{c['id']}", json={"region": "华东", "grade": "A"})
    api.as_("rep1").post(f"/customers/{c['id']}/contacts", json={"name": "王五"})
    history = api.as_("rep1").get(f"/customers/{c['id']}/history").get_json()["items"]
    actions = [h["action"] for h in history]
    assert actions[:2] == ["contact.create", "customer.update"] and "customer.create" in actions
    update = next(h for h in history if h["action"] == "customer.update")
    assert update["before"] == {"region": None, "grade": None} and update["after"] == {"region": "华东", "grade": "A"}
    assert update["actor"] == "张伟"
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    html = client.get(f"/customers/{c['id']}").get_data(as_text=True)
    assert "customer.update" in html and "变更记录" in html


# ---------------------------------------------------------------- pages

def test_pages_enter_a_customer_add_a_contact_and_share(api, client, session):
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    assert client.get("/customers/new").status_code == 200
    r = client.post("/customers/new", data={"name": "页面录入有限公司", "kind": "direct", "phone": "0571-1234567",
                                            "first_contact_at": "2020-01-01", "contact_name": "赵六",
                                            "contact_mobile": "13700000000"})
    assert r.status_code == 302, r.get_data(as_text=True)
    cid = int(r.headers["Location"].rstrip("/").split("/")[-1])
    customer = session.get(Customer, cid)
    assert customer.status == "pending" and customer.late_entry
    r = client.post(f"/customers/{cid}/contacts", data={"contact_name": ""})
    assert r.status_code == 422 and "contact_name-error" in r.get_data(as_text=True)
    assert client.post(f"/customers/{cid}/contacts", data={"contact_name": "钱七"}).status_code == 302
    assert client.post(f"/customers/{cid}/shares", data={"username": "rep3"}).status_code == 422
    assert client.post(f"/customers/{cid}/shares", data={"username": "rep2"}).status_code == 302
    html = client.get(f"/customers/{cid}").get_data(as_text=True)
    assert "钱七" in html and "王芳" in html and "新客户审核" in html
    r = client.post(f"/customers/{cid}/edit", data={"name": "页面录入有限公司", "region": "华东"})
    assert r.status_code == 302
    assert client.get(f"/customers/{cid}/edit").status_code == 200
    assert client.get(f"/customers/{cid}/company-details").status_code == 200
    r = client.post(f"/customers/{cid}/company-details", data={"legal_representative": "", "bank_name": "工行"})
    assert r.status_code == 422 and "legal_representative-error" in r.get_data(as_text=True)
    r = client.post(f"/customers/{cid}/company-details", data={"legal_representative": "赵六"})
    assert r.status_code == 302
    session.rollback()
    contact_id = session.scalar(select(Contact.id).where(Contact.customer_id == cid, Contact.name == "钱七"))
    assert client.get(f"/contacts/{contact_id}/edit").status_code == 200
    assert client.post(f"/contacts/{contact_id}/edit", data={"name": "钱七", "email": "bad"}).status_code == 422
    assert client.post(f"/contacts/{contact_id}/edit", data={"name": "钱七", "title": "总监"}).status_code == 302
    assert client.get(f"/conflicts/new?customer_id={cid}").status_code == 200
    assert client.get("/customers?warning=any&sort=name&owner=mine&page=2").status_code == 200
