"""Review of issue 4's pages and API: refusals answer 4xx naming the field, never a 500, and never reveal
another sector's records."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.org import Department, User
from models.process import HumanTask, ProcessInstance

# '²'.isdigit() is True but int('²') raises ValueError: a check by isdigit() alone let such ids through.
SUPERSCRIPT_TWO = "²"


def _login(client, username: str) -> None:
    client.post("/logout")
    client.post("/login", data={"username": username, "password": "demo12345"})


def _any_ids(session) -> tuple[int, int]:
    return (session.scalar(select(HumanTask.id).order_by(HumanTask.id)) or 1,
            session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id)) or 1)


@pytest.mark.parametrize(("user", "path", "field"), [
    ("mgr1", "/tasks/{task}/transfer", "user_id"),
    ("rep1", "/process-instances/{instance}/copies", "user_ids"),
    ("rep1", "/delegations", "delegate_id"),
    ("bizmgr1", "/lead-desk/1/route", "routed_to"),
    ("salesmgmt1", "/lead-desk/priorities", "user_id"),
    ("salesmgmt1", "/lead-desk/priorities", "rank"),
    ("bizmgr1", "/lead-desk/rules", "position"),
    ("bizmgr1", "/lead-desk/rules", "target"),
    ("sectoradmin1", "/accounts/new/open", "department_id"),
    ("rep1", "/contracts/new", "customer_id"),
    ("rep1", "/contracts/new", "opportunity_id"),
    ("finance1", "/contracts/1/collections", "invoice_id"),
    ("rep1", "/execution-orders/new", "contract_id"),
    ("rep1", "/expenses/new", "customer_id"),
    ("rep1", "/expenses/new", "opportunity_id"),
    ("rep1", "/expenses/new", "activity_id"),
])
def test_page_forms_refuse_non_ascii_digit_ids_without_a_500(client, session, user, path, field):
    task_id, instance_id = _any_ids(session)
    _login(client, user)
    value = f"u:{SUPERSCRIPT_TWO}" if field == "target" else SUPERSCRIPT_TWO
    form = {"user_id": "1", "rank": "1", "region": "华北", "industry": "IT", "target": "u:1", "comment": "x",
            "starts_on": "2026-12-01", "ends_on": "2026-12-02", "reason": "x", "staff_change_date": "2026-11-26",
            "username": "newbie", "display_name": "新人", "password": "longenough1", "amount": "100.00",
            "list_amount": "100.00", "title": "t", "received_on": "2026-11-01", "spent_on": "2026-11-20",
            "description": "交通费", "category": "sales_action" if field == "activity_id" else "customer",
            "customer_id": "1", field: value}
    resp = client.post(path.format(task=task_id, instance=instance_id), data=form)
    assert resp.status_code in (302, 403, 404, 409, 422), resp.status_code


@pytest.mark.parametrize(("user", "path"), [
    ("sectoradmin1", "/accounts/new/close?target_user_id=" + SUPERSCRIPT_TWO),
    ("finance1", "/receivables?department_id=" + SUPERSCRIPT_TWO),
])
def test_page_queries_refuse_non_ascii_digit_ids_without_a_500(client, user, path):
    _login(client, user)
    assert client.get(path).status_code in (200, 404, 422)


def test_R1_receivables_export_of_another_sectors_department_is_404(client, session):
    other = session.scalar(select(Department.id).where(Department.code == "D3"))
    _login(client, "salesmgmt1")
    assert client.get("/receivables/export.xlsx").status_code == 200
    assert client.get(f"/receivables/export.xlsx?department_id={other}").status_code == 404
    assert client.get("/receivables/export.xlsx?department_id=999999").status_code == 404
    assert session.scalar(select(User.id).where(User.username == "salesmgmt1"))


def test_I1_split_form_row_with_a_non_ascii_digit_implementer_is_left_to_the_check(app):
    from flask import request

    from web.orders import _split_rows

    with app.test_request_context("/", method="POST", data={"task_title": "装机", "task_implementer": SUPERSCRIPT_TWO}):
        rows = _split_rows(request.form)
    assert rows["tasks"][0]["implementer_id"] == SUPERSCRIPT_TWO  # refused by the form check as not an implementer


@pytest.mark.parametrize(("user", "path"), [
    ("salesmgmt1", "/contracts?q=a%00b"),
    ("sectoradmin1", "/users?q=a%00b"),
])
def test_api_search_with_a_nul_character_is_422_not_500(api, user, path):
    r = api.as_(user).get(path)
    assert r.status_code == 422, r.status_code
    assert "q" in r.get_json()["errors"]


def test_contract_list_page_search_with_a_nul_character_is_not_500(client):
    _login(client, "salesmgmt1")
    assert client.get("/contracts?q=a%00b").status_code in (200, 422)


def test_task_action_forms_never_redirect_off_site(client, session):
    """`next` on the action forms: '/\\evil.example' is '//evil.example' to a browser."""
    task_id, _instance = _any_ids(session)
    _login(client, "rep1")
    for target in ("/\\evil.example/x", "//evil.example/x", "/ok\\..\\x"):
        r = client.post(f"/tasks/{task_id}/comments", data={"body": "", "next": target})
        assert r.status_code == 302
        assert r.headers["Location"].startswith("/") and "evil" not in r.headers["Location"]
        assert "\\" not in r.headers["Location"]


def test_approval_action_api_times_carry_an_offset_as_documented(api, session):
    """The OpenAPI document says date-time (RFC 3339): naive times broke it (schemathesis ST108)."""
    from datetime import datetime, timedelta

    from models import clock

    rep2 = session.scalar(select(User.id).where(User.username == "rep2"))
    today = clock.now().date()
    r = api.as_("rep1").post("/delegations", json={"delegate_id": rep2, "starts_on": today.isoformat(),
                                                   "ends_on": (today + timedelta(days=2)).isoformat()})
    assert r.status_code == 201, r.get_json()
    ended = api.as_("rep1").post(f"/delegations/{r.get_json()['id']}/end").get_json()
    assert datetime.fromisoformat(ended["ended_at"]).tzinfo is not None
    items = api.as_("rep2").get("/notifications").get_json()["items"]
    assert items and all(datetime.fromisoformat(n["created_at"]).tzinfo is not None for n in items)


def test_L2_lead_routing_cannot_be_withdrawn_leaving_the_lead_unrouted(api, session):
    """The lead's creator started its routing: a 撤回 would leave a desk lead that no step ever routes (the lead
    desk lists routing steps). Refused (409); the lead stays on its routing."""
    from tests.test_lead_routing import new_lead, screen_keep, state

    lead = new_lead(api)
    iid = state(api, lead["id"])["instance_id"]
    r = api.as_("mkt1").post(f"/process-instances/{iid}/withdraw", json={})
    assert r.status_code == 409, r.get_json()
    screen_keep(api, lead["id"])  # even after his own screening
    assert api.as_("mkt1").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 409
    assert session.get(ProcessInstance, iid).status == "running"
    assert [t["bpmn_id"] for t in state(api, lead["id"])["open_tasks"]] == ["complete_lead"]


def test_I1_implementation_order_process_cannot_be_withdrawn_by_whoever_confirmed_last(api, session):
    """The implementation order's process is started by the user who completed the execution order's last
    confirmation: he must not withdraw it (the order would stay open with no process, never restarted)."""
    from tests.test_implementation_orders import new_impl

    impl = new_impl(api, session)
    instance = session.get(ProcessInstance, impl["process_instance_id"])
    starter = session.get(User, instance.started_by).username
    session.rollback()
    r = api.as_(starter).post(f"/process-instances/{impl['process_instance_id']}/withdraw", json={})
    assert r.status_code in (403, 409), r.get_json()
    assert session.get(ProcessInstance, impl["process_instance_id"]).status == "running"


def test_U5_a_manager_does_not_approve_his_own_expense_claim(api, session):
    """mgr1 (department manager) claims an expense: no one approves his own request (fixed in dd712da: a
    manager's claim goes to the sector head)."""
    from tests.test_expense_claims import open_task, rep1_opp, submit

    opp = rep1_opp(api)  # in mgr1's department
    r = submit(api, user="mgr1", category="customer", customer_id=opp["customer_id"], opportunity_id=opp["id"])
    assert r.status_code == 201, r.get_json()
    claim = r.get_json()
    task = open_task(api, claim, "mgr1")
    assert task is None or api.as_("mgr1").post(f"/tasks/{task['id']}/complete",
                                               json={"data": {"decision": "approve"}}).status_code == 403


def test_opportunity_and_activity_pages_refuse_non_ascii_digit_ids_without_a_500(client, api):
    """The opportunity pages now run through the closure flows (F2): their id and version parsing too."""
    opp = api.as_("rep1").get("/opportunities?mine=true").get_json()["items"][0]
    _login(client, "rep1")
    r = client.post(f"/opportunities/{opp['id']}/stage", data={"stage_code": opp["stage_code"],
                                                                "version": SUPERSCRIPT_TWO})
    assert r.status_code < 500
    r = client.post(f"/opportunities/{opp['id']}/edit", data={"name": opp["name"], "version": SUPERSCRIPT_TWO})
    assert r.status_code < 500
    assert client.get(f"/activities/new?opportunity_id={SUPERSCRIPT_TWO}").status_code == 200
    r = client.post("/activities/new", data={"kind": "call", "subject": "x", "opportunity_id": SUPERSCRIPT_TWO})
    assert r.status_code == 422


def test_O5_a_frozen_managers_delegate_no_longer_decides_for_him(api, session):
    """O5: a frozen or closed account cannot act; neither does anyone through his delegation (委托)."""
    from datetime import timedelta

    from models import clock
    from tests.test_delegation import _delegate, _mine, _quote, _uid

    quote = _quote(api)
    iid = quote["process_instance_id"]
    assert _delegate(api, "mgr1", _uid(session, "asst1")).status_code == 201
    tasks = _mine(api, "asst1", iid)
    assert len(tasks) == 1
    r = api.as_("sectoradmin1").post("/account-changes", json={
        "kind": "freeze", "target_user_id": _uid(session, "mgr1"), "reason": "离职审计",
        "staff_change_date": (clock.now().date() - timedelta(days=0)).isoformat()})
    assert r.status_code == 201, r.get_json()
    assert _mine(api, "asst1", iid) == []
    r = api.as_("asst1").post(f"/tasks/{tasks[0]['id']}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code in (403, 404), r.get_json()
    assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "pending"


def test_K1_a_department_manager_does_not_decide_his_own_contract(api):
    """mgr1 may enter contracts (CONTRACT_ENTRY_ROLES); a small standard one goes to 'the department manager
    alone' — that must not be mgr1 himself."""
    from tests.test_contract_approval import instance, submit, task_of

    contract = submit(api, 100000, user="mgr1")
    assert [t["step"] for t in instance(api, contract, "mgr1")["open_tasks"]] == ["sm_opinion"]  # countersign path
    task = task_of(api, contract, "mgr1")
    assert task is None or api.as_("mgr1").post(f"/tasks/{task['id']}/complete",
                                               json={"data": {"decision": "approve"}}).status_code == 403


def test_F2_a_department_manager_does_not_confirm_the_closure_of_his_own_opportunity(api, session):
    from tests.test_closure import close, complete, move, state
    from tests.test_opportunities import HUAXIN, new_opp

    opp = new_opp(api, session, username="mgr1", customer=HUAXIN)
    session.rollback()
    assert move(api, opp, "won", user="mgr1").status_code == 200
    r = close(api, opp, user="mgr1", outcome="won", contract_ref="HT-2026-009")
    assert r.status_code == 200, r.get_json()
    confirm = state(api, opp, user="mgr1")["closure"]["open_task_id"]
    assert complete(api, confirm, "mgr1", "approve").status_code == 403
    assert complete(api, confirm, "asst1", "approve").status_code == 200  # the assistant confirms it


def test_L4_the_routed_rep_does_not_transfer_his_follow_up_to_a_rep_without_lead_rights(api, session):
    """L4: reps without lead rights never get a routed lead — not through 转交 of the follow-up step either."""
    from sqlalchemy import update

    from tests.test_lead_routing import lead_to_routing, open_task, route

    lead = lead_to_routing(api, region=None, industry=None, company_name="转交测试公司")
    route(api, lead["id"], "华北", "化工")  # demo rule: 华北 → rep1
    follow = open_task(api, lead["id"], "follow_up", "rep1")
    session.rollback()
    session.execute(update(User).where(User.username == "rep2").values(lead_rights=False))
    session.commit()
    rep2 = session.scalar(select(User.id).where(User.username == "rep2"))
    r = api.as_("rep1").post(f"/tasks/{follow['id']}/transfer", json={"user_id": rep2})
    assert r.status_code == 422 and "user_id" in r.get_json()["errors"], r.get_json()
