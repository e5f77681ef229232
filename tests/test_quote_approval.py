"""Q1: quote approval chain by discount, end to end through the API and the engine."""
from __future__ import annotations

import ast

import pytest

from tests.conftest import customer_ids

CHAIN = {"mgr_approve": "mgr1", "pa_approve": "pa1", "vp_approve": "vp1"}


def submit(api, quote_amount, list_amount=10000, user="rep1"):
    cid = customer_ids(api, user)[0]
    r = api.as_(user).post("/quotes", json={"customer_id": cid, "list_amount": list_amount,
                                            "quote_amount": quote_amount})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "pending" and body["process_instance_id"]
    return body


def open_task(api, instance_id, user):
    items = api.as_(user).get("/tasks?scope=mine").get_json()["items"]
    mine = [t for t in items if t["process_instance_id"] == instance_id]
    return mine[0] if mine else None


def decide(api, instance_id, user, decision, comment=None):
    task = open_task(api, instance_id, user)
    assert task is not None, f"{user} has no task for instance {instance_id}"
    r = api.as_(user).post(f"/tasks/{task['id']}/complete", json={"data": {"decision": decision}, "comment": comment})
    assert r.status_code == 200, r.get_json()
    return task


def run_chain(api, quote):
    """Approve at each step that appears; return the steps visited in order."""
    steps = []
    iid = quote["process_instance_id"]
    for _ in range(5):
        inst = api.as_("rep1").get(f"/process-instances/{iid}").get_json()
        if not inst["open_tasks"]:
            break
        step = inst["open_tasks"][0]["step"]
        steps.append(step)
        decide(api, iid, CHAIN[step], "approve", f"ok at {step}")
    return steps


@pytest.mark.parametrize(("quote_amount", "expected"), [
    (10000, ["mgr_approve"]),                                    # list price: 10折
    (5000, ["mgr_approve"]),                                     # exactly 5折: the manager decides alone
    (4999.99, ["mgr_approve", "pa_approve"]),                    # just below 50 %
    (4500, ["mgr_approve", "pa_approve"]),                       # exactly 4.5折: the assistant is the last level
    (4499.99, ["mgr_approve", "pa_approve", "vp_approve"]),      # just below 45 %
    (1000, ["mgr_approve", "pa_approve", "vp_approve"]),
])
def test_Q1_approval_levels_at_every_boundary(api, quote_amount, expected):
    """Q1: manager down to 50 % (5折), president's assistant down to 45 % (4.5折), below that a VP."""
    quote = submit(api, quote_amount)
    assert run_chain(api, quote) == expected
    final = api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()
    assert final["status"] == "approved"
    decisions = [(h["step"], h["decision"], h["comment"]) for h in final["history"] if h["kind"] == "task_completed"]
    assert decisions == [(s, "approve", f"ok at {s}") for s in expected]
    assert final["decided_at"] is not None


@pytest.mark.parametrize(("quote_amount", "expected"), [
    (8000, ["pa_approve"]),                       # above 5折: the next level up decides, not himself
    (4400, ["pa_approve", "vp_approve"]),         # below 4.5折: on to the VP as usual
])
def test_Q1_a_department_manager_never_approves_his_own_quote(api, quote_amount, expected):
    """Q1: mgr1's own quote skips the manager step (his own role) and starts at the president's assistant."""
    quote = submit(api, quote_amount, user="mgr1")
    iid = quote["process_instance_id"]
    assert open_task(api, iid, "mgr1") is None
    steps = []
    for _ in range(4):
        inst = api.as_("mgr1").get(f"/process-instances/{iid}").get_json()
        if not inst["open_tasks"]:
            break
        step = inst["open_tasks"][0]["step"]
        steps.append(step)
        decide(api, iid, CHAIN[step], "approve")
    assert steps == expected
    assert api.as_("mgr1").get(f"/quotes/{quote['id']}").get_json()["status"] == "approved"


def test_Q1_boundaries_hold_for_odd_list_prices(api):
    """Q1: 45 % of an odd list price is still exactly 4.5折 (no float drift across the limit)."""
    quote = submit(api, quote_amount=3015.45, list_amount=6701)  # 0.45 exactly
    assert run_chain(api, quote) == ["mgr_approve", "pa_approve"]


@pytest.mark.parametrize("reject_at", ["mgr_approve", "pa_approve", "vp_approve"])
def test_Q1_rejection_at_each_level_ends_the_chain(api, reject_at):
    """Q1: a rejection at any level ends the chain; the quote is rejected and later approvers get nothing."""
    quote = submit(api, 4000)
    iid = quote["process_instance_id"]
    for step, user in CHAIN.items():
        if step == reject_at:
            decide(api, iid, user, "reject", "价格过低")
            break
        decide(api, iid, user, "approve")
    final = api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()
    assert final["status"] == "rejected"
    assert next(h for h in final["history"] if h["decision"] == "reject")["comment"] == "价格过低"
    inst = api.as_("rep1").get(f"/process-instances/{iid}").get_json()
    assert inst["status"] == "completed" and inst["open_tasks"] == []
    for user in CHAIN.values():
        assert open_task(api, iid, user) is None


def test_Q1_quote_refused_for_customer_not_in_system(api, session):
    """Q1: no quote for a customer that is not an approved customer in the system."""
    from sqlalchemy import func, select

    from models.crm import Customer, Quote

    pending = session.scalar(select(Customer.id).where(Customer.status == "pending"))
    rep3_customer = customer_ids(api, "rep3")[0]
    before = session.scalar(select(func.count()).select_from(Quote))
    for cid, fragment in ((pending, "not approved"), (999999, "no such customer"), (rep3_customer, "no such customer")):
        r = api.as_("rep1").post("/quotes", json={"customer_id": cid, "list_amount": 100, "quote_amount": 90})
        assert r.status_code == 422
        body = r.get_json()
        assert "customer_id" in body["errors"] and fragment in body["message"]
    assert session.scalar(select(func.count()).select_from(Quote)) == before


@pytest.mark.parametrize(("payload", "field"), [
    ({"list_amount": 100, "quote_amount": 90}, "customer_id"),
    ({"customer_id": 1, "quote_amount": 90}, "list_amount"),
    ({"customer_id": 1, "list_amount": 100, "quote_amount": 0}, "quote_amount"),
    ({"customer_id": 1, "list_amount": 100, "quote_amount": 120}, "quote_amount"),
    ({"customer_id": 1, "list_amount": "abc", "quote_amount": 90}, "list_amount"),
    ({"customer_id": 1, "list_amount": 100.001, "quote_amount": 90}, "list_amount"),
    ({"customer_id": "x", "list_amount": 100, "quote_amount": 90}, "customer_id"),
])
def test_Q1_bad_quote_input_names_the_field(api, payload, field):
    r = api.as_("rep1").post("/quotes", json=payload)
    assert r.status_code == 422
    assert field in r.get_json()["errors"]


def test_Q1_limits_live_in_the_diagram_not_in_python():
    """Q1 is configurable: the 0.5 and 0.45 limits are gateway conditions in workflows/quote_approval.bpmn."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    xml = (root / "workflows" / "quote_approval.bpmn").read_text()
    assert "discount &lt; 0.5" in xml and "discount &lt; 0.45" in xml
    for py in [*root.glob("engine/*.py"), *root.glob("models/*.py"), *root.glob("web/**/*.py")]:
        numbers = {n.value for n in ast.walk(ast.parse(py.read_text())) if isinstance(n, ast.Constant)}
        assert not numbers & {0.5, 0.45}, f"{py} hard-codes a Q1 limit"


def test_Q1_changed_limits_in_a_new_diagram_version_apply_to_new_quotes_only(api, session):
    """Q1 configurable: publishing version 2 with a 6折 manager limit changes new quotes, not running ones."""
    from pathlib import Path

    from engine.definitions import deploy

    running = submit(api, 5500)  # 5.5折: manager alone under version 1
    xml = (Path(__file__).resolve().parent.parent / "workflows" / "quote_approval.bpmn").read_bytes()
    v2 = deploy(session, xml.replace(b"discount &lt; 0.5", b"discount &lt; 0.6"), filename="q.bpmn", actor_id=None)
    session.commit()
    assert v2.version == 2
    assert run_chain(api, running) == ["mgr_approve"]
    assert run_chain(api, submit(api, 5500)) == ["mgr_approve", "pa_approve"]
