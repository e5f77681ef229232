"""U5: expense claims. A claim about a customer references the customer and its current progress (an open
opportunity, whose stage is kept on the claim); one about a sales action references the claimant's own activity.
Otherwise it is refused (422 naming the field) before any approver: no claim, no process instance, no task.
Valid claims: department manager, then finance."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.expenses import ExpenseClaim
from models.process import HumanTask, ProcessInstance
from models.sales import Activity, Opportunity


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(ExpenseClaim)),
            session.scalar(select(func.count()).select_from(ProcessInstance)
                           .where(ProcessInstance.process_key == "expense_claim")),
            session.scalar(select(func.count()).select_from(HumanTask).join(ProcessInstance)
                           .where(ProcessInstance.process_key == "expense_claim")))


def rep1_opp(api) -> dict:
    items = api.as_("rep1").get("/opportunities?mine=true").get_json()["items"]
    return next(o for o in items if o["status"] == "open")


def activity_of(session, username: str) -> int:
    from models.org import User
    uid = session.scalar(select(User.id).where(User.username == username))
    return session.scalar(select(Activity.id).where(Activity.owner_id == uid).order_by(Activity.id).limit(1))


def submit(api, user="rep1", **body):
    payload = {"amount": 356.5, "spent_on": "2026-11-20", "description": "拜访客户交通费", **body}
    return api.as_(user).post("/expense-claims", json=payload)


def customer_claim(api) -> dict:
    opp = rep1_opp(api)
    r = submit(api, category="customer", customer_id=opp["customer_id"], opportunity_id=opp["id"])
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def open_task(api, claim, user):
    items = api.as_(user).get("/tasks?scope=mine").get_json()["items"]
    return next((t for t in items if t["process_instance_id"] == claim["process_instance_id"]), None)


def decide(api, claim, user, decision):
    task = open_task(api, claim, user)
    assert task is not None, f"{user} has no task"
    r = api.as_(user).post(f"/tasks/{task['id']}/complete", json={"data": {"decision": decision}})
    assert r.status_code == 200, r.get_json()


def status(api, claim, user="rep1"):
    return api.as_(user).get(f"/expense-claims/{claim['id']}").get_json()["status"]


@pytest.mark.parametrize(("body", "field"), [
    ({"category": "customer"}, "customer_id"),
    ({"category": "customer", "opportunity_id": None}, "customer_id"),
    ({"category": "sales_action"}, "activity_id"),
])
def test_U5_missing_reference_is_refused_before_any_approver(api, session, body, field):
    before = counts(session)
    r = submit(api, **body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"] and "U5" in r.get_json()["errors"][field][0]
    assert counts(session) == before


def test_U5_customer_claim_needs_its_current_progress(api, session):
    opp = rep1_opp(api)
    before = counts(session)
    r = submit(api, category="customer", customer_id=opp["customer_id"])
    assert r.status_code == 422 and "opportunity_id" in r.get_json()["errors"]
    # an opportunity of another customer is not this customer's progress
    other = next(o for o in api.as_("rep1").get("/opportunities?mine=true").get_json()["items"]
                 if o["customer_id"] != opp["customer_id"])
    r = submit(api, category="customer", customer_id=opp["customer_id"], opportunity_id=other["id"])
    assert r.status_code == 422 and "opportunity_id" in r.get_json()["errors"]
    # a closed opportunity is not current progress
    row = session.get(Opportunity, opp["id"])
    row.status = "lost"
    session.commit()
    r = submit(api, category="customer", customer_id=opp["customer_id"], opportunity_id=opp["id"])
    assert r.status_code == 422 and "opportunity_id" in r.get_json()["errors"]
    assert counts(session) == before


def test_U5_invisible_customer_or_another_reps_activity_is_refused(api, session):
    before = counts(session)
    rep2_opp = next(o for o in api.as_("rep2").get("/opportunities?mine=true").get_json()["items"])
    r = submit(api, category="customer", customer_id=rep2_opp["customer_id"], opportunity_id=rep2_opp["id"])
    assert r.status_code == 422 and "customer_id" in r.get_json()["errors"]
    r = submit(api, category="sales_action", activity_id=activity_of(session, "rep2"))
    assert r.status_code == 422 and "activity_id" in r.get_json()["errors"]
    r = submit(api, category="sales_action", activity_id=99999)
    assert r.status_code == 422 and "activity_id" in r.get_json()["errors"]
    assert counts(session) == before


def test_U5_valid_claim_goes_to_the_manager_then_finance(api, session):
    claim = customer_claim(api)
    assert claim["status"] == "pending" and claim["number"].startswith("BX")
    opp = session.get(Opportunity, claim["opportunity_id"])
    assert claim["progress_stage_code"] == opp.stage_code and claim["progress_stage_name"]
    assert open_task(api, claim, "finance1") is None  # finance comes second
    decide(api, claim, "mgr1", "approve")
    assert status(api, claim) == "pending"
    decide(api, claim, "finance1", "approve")
    assert status(api, claim) == "approved"
    history = api.as_("rep1").get(f"/expense-claims/{claim['id']}").get_json()["history"]
    assert [h["step"] for h in history if h["kind"] == "task_completed"] == ["mgr_approve", "finance_approve"]


def test_U5_a_managers_own_claim_goes_to_the_sector_head_not_to_himself(api):
    """Nobody approves his own claim: mgr1's claim skips the manager step (his own role) and goes to the sector
    head, then finance; mgr1 never has a task on it."""
    opp = rep1_opp(api)  # in mgr1's department
    r = submit(api, user="mgr1", category="customer", customer_id=opp["customer_id"], opportunity_id=opp["id"])
    assert r.status_code == 201, r.get_json()
    claim = r.get_json()
    assert open_task(api, claim, "mgr1") is None
    assert open_task(api, claim, "asst1") is None
    decide(api, claim, "sectorhead1", "approve")
    assert open_task(api, claim, "mgr1") is None
    decide(api, claim, "finance1", "approve")
    assert status(api, claim, "mgr1") == "approved"
    history = api.as_("mgr1").get(f"/expense-claims/{claim['id']}").get_json()["history"]
    assert [h["step"] for h in history if h["kind"] == "task_completed"] == ["head_approve", "finance_approve"]


def test_U5_sector_head_rejects_a_managers_claim(api):
    opp = rep1_opp(api)
    claim = submit(api, user="mgr1", category="customer", customer_id=opp["customer_id"],
                   opportunity_id=opp["id"]).get_json()
    decide(api, claim, "sectorhead1", "reject")
    assert status(api, claim, "mgr1") == "rejected"
    assert open_task(api, claim, "finance1") is None


def test_U5_sales_action_claim_with_own_activity(api, session):
    r = submit(api, category="sales_action", activity_id=activity_of(session, "rep1"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["activity_id"] and r.get_json()["customer_id"] is None


@pytest.mark.parametrize("level", ["mgr1", "finance1"])
def test_U5_rejection_at_each_level_ends_the_claim(api, level):
    claim = customer_claim(api)
    if level == "finance1":
        decide(api, claim, "mgr1", "approve")
    decide(api, claim, level, "reject")
    assert status(api, claim) == "rejected"
    assert open_task(api, claim, "finance1") is None


def test_U5_only_the_right_approvers_act(api):
    claim = customer_claim(api)
    task = api.as_("rep1").get(f"/process-instances/{claim['process_instance_id']}").get_json()["open_tasks"][0]
    for user in ("rep1", "finance1", "rep2"):
        r = api.as_(user).post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
        assert r.status_code in (403, 404), (user, r.status_code)
    r = api.as_("mgr3").post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code == 404


def test_U5_claims_are_visible_to_the_right_people_only(api):
    claim = customer_claim(api)
    for user in ("rep1", "mgr1", "asst1", "finance1"):
        assert api.as_(user).get(f"/expense-claims/{claim['id']}").status_code == 200, user
    for user in ("rep2", "rep3", "mgr3"):
        assert api.as_(user).get(f"/expense-claims/{claim['id']}").status_code == 404, user
    assert [c["id"] for c in api.as_("rep2").get("/expense-claims").get_json()["items"]] == []
    assert [c["id"] for c in api.as_("mgr1").get("/expense-claims").get_json()["items"]] == [claim["id"]]


def test_U5_bad_input_names_the_field(api, session):
    opp = rep1_opp(api)
    before = counts(session)
    base = {"category": "customer", "customer_id": opp["customer_id"], "opportunity_id": opp["id"]}
    r = submit(api, **base, amount=0)
    assert r.status_code == 422 and "amount" in r.get_json()["errors"]
    r = submit(api, **base, description="   ")
    assert r.status_code == 422 and "description" in r.get_json()["errors"]
    r = submit(api, **base, spent_on="2099-01-01")
    assert r.status_code == 422 and "spent_on" in r.get_json()["errors"]
    r = submit(api, category="travel")
    assert r.status_code == 422 and "category" in r.get_json()["errors"]
    assert counts(session) == before


def test_U5_user_without_department_cannot_submit(api, session):
    before = counts(session)
    r = submit(api, "finance1", category="other")
    assert r.status_code == 403
    assert counts(session) == before


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code in (302, 303), r.status_code


def test_U5_pages_refuse_without_reference_and_submit_with_it(client, api, session):
    opp = rep1_opp(api)
    login(client, "rep1")
    assert client.get("/expenses/new").status_code == 200
    before = counts(session)
    form = {"category": "customer", "amount": "120.00", "spent_on": "2026-11-20", "description": "出租车"}
    r = client.post("/expenses/new", data=form)
    assert r.status_code == 422 and "customer_id-error" in r.get_data(as_text=True)
    r = client.post("/expenses/new", data={**form, "customer_id": str(opp["customer_id"])})
    assert r.status_code == 422 and "opportunity_id-error" in r.get_data(as_text=True)
    assert counts(session) == before
    r = client.post("/expenses/new", data={**form, "customer_id": str(opp["customer_id"]),
                                           "opportunity_id": str(opp["id"])})
    assert r.status_code == 302
    claim_url = r.headers["Location"]
    detail = client.get(claim_url)
    assert detail.status_code == 200 and "BX" in detail.get_data(as_text=True)
    assert "BX" in client.get("/expenses").get_data(as_text=True)
    client.get("/logout")
    login(client, "rep2")
    assert client.get(claim_url).status_code == 404
    client.get("/logout")
    login(client, "finance1")
    assert client.get("/expenses/new").status_code == 403
    assert client.get(claim_url).status_code == 200


def test_U5_claimant_withdraws_before_the_first_decision(api):
    claim = customer_claim(api)
    r = api.as_("rep1").post(f"/process-instances/{claim['process_instance_id']}/withdraw", json={"comment": "填错金额"})
    assert r.status_code == 200, r.get_json()
    assert status(api, claim) == "withdrawn"
    assert open_task(api, claim, "mgr1") is None
