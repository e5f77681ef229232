"""X1 execution orders: submitted for an approved/signed contract, reviewed by the business manager, then
shipping, collection and implementation each confirm their part, and an implementation order starts (I1)."""
from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from models.audit import AuditLog
from models.contracts import Contract
from models.crm import Customer
from models.orders import ExecutionOrder, ImplementationOrder
from models.org import User
from models.process import HumanTask, ProcessInstance

# ---------------------------------------------------------------- helpers (also used by the I1 tests)


def user_id(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def make_contract(session, *, owner: str = "rep1", status: str = "approved", amount: str = "300000.00") -> int:
    """A contract made directly with the model (contract approval is built by its own process)."""
    session.rollback()
    rep = session.scalar(select(User).where(User.username == owner))
    customer = session.scalar(select(Customer).where(Customer.owner_id == rep.id).order_by(Customer.id).limit(1))
    contract = Contract(number=f"HT-{uuid4().hex[:10]}", sector_id=rep.sector_id, department_id=rep.department_id,
                        customer_id=customer.id, owner_id=rep.id, title=f"{customer.name} 合同",
                        list_amount=Decimal(amount), amount=Decimal(amount), discount=Decimal("1.000000"),
                        status=status)
    session.add(contract)
    session.commit()
    return contract.id


def open_tasks(api, instance_id: int, user: str) -> list[dict]:
    items = api.as_(user).get("/tasks?scope=mine&limit=200").get_json()["items"]
    return [t for t in items if t["process_instance_id"] == instance_id]


def complete(api, instance_id: int, user: str, data: dict, *, step: str | None = None, comment: str | None = None,
             status: int = 200):
    tasks = [t for t in open_tasks(api, instance_id, user) if step is None or t["step"] == step]
    assert tasks, f"{user} has no open task {step or ''} on instance {instance_id}"
    r = api.as_(user).post(f"/tasks/{tasks[0]['id']}/complete", json={"data": data, "comment": comment})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def submit(api, contract_id: int, user: str = "rep1", **extra) -> dict:
    r = api.as_(user).post("/execution-orders", json={"contract_id": contract_id, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def approve_and_confirm(api, order: dict) -> None:
    iid = order["process_instance_id"]
    complete(api, iid, "bizmgr1", {"decision": "approve"}, step="review")
    complete(api, iid, "logistics1", {"decision": "confirm"}, step="confirm_shipping")
    complete(api, iid, "finance1", {"decision": "confirm"}, step="confirm_collection")
    complete(api, iid, "implmgr1", {"decision": "confirm"}, step="confirm_implementation")


def count(session, model) -> int:
    session.rollback()
    n = session.scalar(select(func.count()).select_from(model))
    session.rollback()  # SQLite: an open read snapshot must not outlive the API's writes
    return n


# ---------------------------------------------------------------- X1


def test_X1_rep_submits_approved_contract_to_business_manager(api, session):
    cid = make_contract(session)
    order = submit(api, cid, kind="sales_order", note="先发货后安装")
    assert order["number"].startswith("ZX") and order["status"] == "pending" and order["kind"] == "sales_order"
    assert order["amount"] == "300000.00"
    tasks = open_tasks(api, order["process_instance_id"], "bizmgr1")
    assert [t["step"] for t in tasks] == ["review"]
    assert not open_tasks(api, order["process_instance_id"], "logistics1")
    # the rep sees his order; audit row written
    assert api.as_("rep1").get(f"/execution-orders/{order['id']}").status_code == 200
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "execution_order.create", AuditLog.entity_id == str(order["id"]))) == 1


def test_X1_signed_contract_is_accepted_too(api, session):
    cid = make_contract(session, status="signed")
    assert submit(api, cid)["status"] == "pending"


@pytest.mark.parametrize("status", ["draft", "pending", "rejected", "returned", "withdrawn", "closed"])
def test_X1_only_approved_or_signed_contracts_422_nothing_written(api, session, status):
    cid = make_contract(session, status=status)
    before = (count(session, ExecutionOrder), count(session, ProcessInstance))
    r = api.as_("rep1").post("/execution-orders", json={"contract_id": cid})
    assert r.status_code == 422, r.get_json()
    assert "contract_id" in r.get_json()["errors"]
    assert (count(session, ExecutionOrder), count(session, ProcessInstance)) == before


def test_X1_other_sector_contract_404_and_not_owner_403(api, session):
    other = make_contract(session, owner="rep3")
    before = count(session, ExecutionOrder)
    assert api.as_("rep1").post("/execution-orders", json={"contract_id": other}).status_code == 404
    assert api.as_("rep1").post("/execution-orders", json={"contract_id": 999999}).status_code == 404
    mine = make_contract(session)
    # rep2 in the same department cannot see rep1's contract: 404; the department manager sees it but is not the rep
    assert api.as_("rep2").post("/execution-orders", json={"contract_id": mine}).status_code == 404
    assert api.as_("mgr1").post("/execution-orders", json={"contract_id": mine}).status_code == 403
    assert count(session, ExecutionOrder) == before


def test_X1_bad_input_422_names_field(api, session):
    cid = make_contract(session)
    for body, field in (({}, "contract_id"), ({"contract_id": "x"}, "contract_id"),
                        ({"contract_id": cid, "kind": "barter"}, "kind"), ({"contract_id": cid, "extra": 1}, "extra")):
        r = api.as_("rep1").post("/execution-orders", json=body)
        assert r.status_code == 422 and field in r.get_json()["errors"], (body, r.get_json())
    assert count(session, ExecutionOrder) == 0


def test_X1_one_live_order_per_contract(api, session):
    cid = make_contract(session)
    submit(api, cid)
    r = api.as_("rep1").post("/execution-orders", json={"contract_id": cid})
    assert r.status_code == 422 and "contract_id" in r.get_json()["errors"]


def test_X1_reject_goes_back_to_rep_who_resubmits(api, session):
    cid = make_contract(session)
    order = submit(api, cid)
    iid = order["process_instance_id"]
    complete(api, iid, "bizmgr1", {"decision": "reject"}, step="review", comment="请补充交货地址")
    assert api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()["status"] == "returned"
    fix = open_tasks(api, iid, "rep1")
    assert [t["step"] for t in fix] == ["fix"] and fix[0]["assignee_id"] == user_id(session, "rep1")
    # the other rep of the department is not the submitter: not his task
    assert not open_tasks(api, iid, "rep2")
    r = api.as_("rep2").post(f"/tasks/{fix[0]['id']}/complete", json={"data": {"decision": "resubmit"}})
    assert r.status_code in (403, 404)
    complete(api, iid, "rep1", {"decision": "resubmit", "kind": "sales_order", "note": "交货地址：北京海淀"},
             step="fix", comment="已补充")
    body = api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()
    assert body["status"] == "pending" and body["kind"] == "sales_order" and body["note"] == "交货地址：北京海淀"
    assert [t["step"] for t in open_tasks(api, iid, "bizmgr1")] == ["review"]
    complete(api, iid, "bizmgr1", {"decision": "approve"}, step="review")
    assert api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()["status"] == "approved"


def test_X1_rep_may_abandon_returned_order(api, session):
    cid = make_contract(session)
    order = submit(api, cid)
    iid = order["process_instance_id"]
    complete(api, iid, "bizmgr1", {"decision": "reject"}, step="review")
    r = complete(api, iid, "rep1", {"decision": "maybe"}, step="fix", status=422)
    assert "decision" in r["errors"]
    complete(api, iid, "rep1", {"decision": "abandon"}, step="fix")
    body = api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()
    assert body["status"] == "abandoned"
    assert api.as_("rep1").get(f"/process-instances/{iid}").get_json()["status"] == "completed"
    # an abandoned order does not block a new one for the same contract
    assert submit(api, cid)["status"] == "pending"


def test_X1_only_business_manager_reviews(api, session):
    order = submit(api, make_contract(session))
    iid = order["process_instance_id"]
    task_id = open_tasks(api, iid, "bizmgr1")[0]["id"]
    for user in ("rep1", "mgr1", "logistics1", "finance1", "implmgr1"):
        r = api.as_(user).post(f"/tasks/{task_id}/complete", json={"data": {"decision": "approve"}})
        assert r.status_code in (403, 404), (user, r.get_json())
    assert api.as_("rep3").post(f"/tasks/{task_id}/complete",
                                json={"data": {"decision": "approve"}}).status_code == 404


def test_X1_three_parts_confirmed_each_only_by_its_role(api, session):
    order = submit(api, make_contract(session))
    iid = order["process_instance_id"]
    complete(api, iid, "bizmgr1", {"decision": "approve"}, step="review")
    steps = {"logistics1": "confirm_shipping", "finance1": "confirm_collection", "implmgr1": "confirm_implementation"}
    ids = {}
    for user, step in steps.items():
        mine = open_tasks(api, iid, user)
        assert [t["step"] for t in mine] == [step], (user, mine)
        ids[step] = mine[0]["id"]
    # nobody else is a candidate: not in their inbox, and completing answers 403/404
    for user in ("rep1", "bizmgr1", "impl1", "mgr1"):
        assert not open_tasks(api, iid, user)
    for user, step in (("finance1", "confirm_shipping"), ("logistics1", "confirm_collection"),
                       ("bizmgr1", "confirm_implementation"), ("impl1", "confirm_implementation")):
        r = api.as_(user).post(f"/tasks/{ids[step]}/complete", json={"data": {"decision": "confirm"}})
        assert r.status_code in (403, 404), (user, step, r.get_json())
    complete(api, iid, "logistics1", {"decision": "confirm"}, step="confirm_shipping")
    complete(api, iid, "finance1", {"decision": "confirm"}, step="confirm_collection")
    body = api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()
    assert body["shipping_confirmed_at"] and body["collection_confirmed_at"]
    assert body["implementation_confirmed_at"] is None and body["status"] == "approved"
    assert api.as_("implmgr1").get("/implementation-orders").get_json()["items"] == []
    complete(api, iid, "implmgr1", {"decision": "confirm"}, step="confirm_implementation")
    body = api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()
    assert body["status"] == "confirmed" and body["implementation_confirmed_at"]


def test_X1_all_three_confirmed_creates_implementation_order_once(api, session):
    order = submit(api, make_contract(session))
    approve_and_confirm(api, order)
    assert api.as_("rep1").get(f"/process-instances/{order['process_instance_id']}").get_json()["status"] \
        == "completed"
    items = api.as_("implmgr1").get("/implementation-orders").get_json()["items"]
    assert len(items) == 1 and items[0]["execution_order_id"] == order["id"]
    impl = items[0]
    assert impl["number"].startswith("SS") and impl["status"] == "planning" and impl["process_instance_id"]
    assert [t["step"] for t in open_tasks(api, impl["process_instance_id"], "implmgr1")] == ["split"]
    # the connector is idempotent: a replay creates nothing new
    from engine import connectors

    session.rollback()
    instance = session.get(ProcessInstance, order["process_instance_id"])
    ctx = connectors.ConnectorContext(session=session, instance=instance, actor_id=user_id(session, "implmgr1"))
    again = connectors.call(ctx, "crm.start_implementation_order", {})
    assert again["implementation_order_id"] == impl["id"]
    session.flush()
    assert session.scalar(select(func.count()).select_from(ImplementationOrder)) == 1
    assert session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_key == "implementation_order")) == 1
    session.rollback()


def test_X1_status_connector_idempotent_and_audited(api, session):
    order = submit(api, make_contract(session))
    from engine import connectors

    instance = session.get(ProcessInstance, order["process_instance_id"])
    ctx = connectors.ConnectorContext(session=session, instance=instance, actor_id=user_id(session, "bizmgr1"))
    connectors.call(ctx, "crm.set_execution_order_status", {"status": {"value": "approved"}})
    connectors.call(ctx, "crm.set_execution_order_status", {"status": {"value": "approved"}})
    session.flush()
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "execution_order.status", AuditLog.entity_id == str(order["id"]))) == 1
    with pytest.raises(connectors.ConnectorError):
        connectors.call(ctx, "crm.set_execution_order_status", {"status": {"value": "shipped!"}})
    session.rollback()


def test_X1_visibility_rep_own_sector_roles_and_other_sector_404(api, session):
    order = submit(api, make_contract(session))
    oid = order["id"]
    for user in ("rep1", "mgr1", "bizmgr1", "logistics1", "finance1", "implmgr1", "salesmgmt1", "grouplead"):
        assert api.as_(user).get(f"/execution-orders/{oid}").status_code == 200, user
        assert oid in [o["id"] for o in api.as_(user).get("/execution-orders").get_json()["items"]], user
    for user in ("rep2", "rep3", "mgr3", "impl1", "admin"):
        assert api.as_(user).get(f"/execution-orders/{oid}").status_code == 404, user
        assert oid not in [o["id"] for o in api.as_(user).get("/execution-orders").get_json()["items"]], user


def test_X1_review_task_shows_order_and_candidates_by_role(api, session):
    order = submit(api, make_contract(session))
    session.rollback()
    task = session.scalar(select(HumanTask).where(HumanTask.instance_id == order["process_instance_id"]))
    assert task.role_code == "business_manager" and task.due_at is not None


def test_X1_rep_withdraws_before_review_order_abandoned(api, session):
    order = submit(api, make_contract(session))
    r = api.as_("rep1").post(f"/process-instances/{order['process_instance_id']}/withdraw", json={"comment": "撤回"})
    assert r.status_code == 200, r.get_json()
    assert api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()["status"] == "abandoned"
    assert not open_tasks(api, order["process_instance_id"], "bizmgr1")


def _login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302


def test_X1_pages_new_list_detail_and_access(client, session):
    cid = make_contract(session)
    draft = make_contract(session, status="draft")
    _login(client, "rep1")
    page = client.get("/execution-orders/new")
    assert page.status_code == 200 and f'value="{cid}"' in page.get_data(as_text=True)
    assert f'value="{draft}"' not in page.get_data(as_text=True)  # only approved/signed contracts are offered
    r = client.post("/execution-orders/new", data={"contract_id": str(draft), "kind": "contract"})
    assert r.status_code == 422 and "contract_id-error" in r.get_data(as_text=True)
    r = client.post("/execution-orders/new", data={"contract_id": str(cid), "kind": "contract", "note": "急"})
    assert r.status_code == 302
    oid = session.scalar(select(ExecutionOrder.id).where(ExecutionOrder.contract_id == cid))
    session.rollback()
    body = client.get(f"/execution-orders/{oid}").get_data(as_text=True)
    assert "待审核" in body and "商务经理审核" in body
    assert "ZX" in client.get("/execution-orders").get_data(as_text=True)
    client.post("/logout")
    _login(client, "rep3")
    assert client.get(f"/execution-orders/{oid}").status_code == 404
    assert "ZX" not in client.get("/execution-orders").get_data(as_text=True)


def test_X1_rep_corrects_on_task_page_and_resubmits(api, client, session):
    order = submit(api, make_contract(session))
    iid = order["process_instance_id"]
    complete(api, iid, "bizmgr1", {"decision": "reject"}, step="review", comment="类型应为销售订单")
    fix = open_tasks(api, iid, "rep1")[0]
    _login(client, "rep1")
    page = client.get(f"/tasks/{fix['id']}").get_data(as_text=True)
    assert 'name="note"' in page and 'value="sales_order"' in page and "重新提交" in page
    r = client.post(f"/tasks/{fix['id']}/complete", data={"decision": "resubmit", "kind": "sales_order",
                                                          "note": "已改为销售订单", "comment": "请再审"})
    assert r.status_code == 302
    body = api.as_("rep1").get(f"/execution-orders/{order['id']}").get_json()
    assert (body["status"], body["kind"], body["note"]) == ("pending", "sales_order", "已改为销售订单")
