"""I1 implementation orders: the implementation manager splits the order into tasks for implementers (parallel
multi-instance, each task assigned to its implementer) and milestones tied to payment nodes; milestones are reached
as their tasks are done; acceptance completes the order; business staff follow it on the order page."""
from __future__ import annotations

from sqlalchemy import func, select

from models.orders import ImplementationTask, Milestone
from models.process import HumanTask
from tests.test_execution_orders import (
    approve_and_confirm,
    complete,
    make_contract,
    open_tasks,
    submit,
    user_id,
)


def new_impl(api, session, amount="300000.00") -> dict:
    order = submit(api, make_contract(session, amount=amount))
    approve_and_confirm(api, order)
    items = api.as_("implmgr1").get("/implementation-orders").get_json()["items"]
    return next(i for i in items if i["execution_order_id"] == order["id"])


def plan(session) -> dict:
    impl1, impl2 = user_id(session, "impl1"), user_id(session, "impl2")
    session.rollback()
    return {"decision": "split",
            "milestones": [{"name": "上线", "percent": 60}, {"name": "验收", "percent": "30.5"}],
            "tasks": [{"title": "安装部署", "implementer_id": impl1, "due_on": "2026-12-20", "milestone": "上线"},
                      {"title": "数据迁移", "implementer_id": impl2, "milestone": "上线"},
                      {"title": "用户培训", "implementer_id": impl2, "milestone": "验收"}]}


def detail(api, impl_id, user="implmgr1"):
    r = api.as_(user).get(f"/implementation-orders/{impl_id}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_I1_split_into_tasks_each_implementer_sees_only_his(api, session):
    impl = new_impl(api, session)
    iid = impl["process_instance_id"]
    complete(api, iid, "implmgr1", plan(session), step="split", comment="按计划拆分")
    body = detail(api, impl["id"])
    assert body["status"] == "in_progress"
    assert [t["title"] for t in body["tasks"]] == ["安装部署", "数据迁移", "用户培训"]
    assert [(m["name"], m["percent"], m["amount"], m["status"]) for m in body["milestones"]] == [
        ("上线", "60.00", "180000.00", "pending"), ("验收", "30.50", "91500.00", "pending")]
    # one task per implementer row, assigned to him (multi-instance children)
    mine1, mine2 = open_tasks(api, iid, "impl1"), open_tasks(api, iid, "impl2")
    assert [t["step"] for t in mine1] == ["do_task"] and len(mine2) == 2
    assert mine1[0]["assignee_id"] == user_id(session, "impl1")
    assert {t["assignee_id"] for t in mine2} == {user_id(session, "impl2")}
    # impl2 cannot complete impl1's task; the implementation manager cannot either
    for user in ("impl2", "implmgr1", "rep1"):
        r = api.as_(user).post(f"/tasks/{mine1[0]['id']}/complete", json={"data": {"decision": "done"}})
        assert r.status_code in (403, 404), (user, r.get_json())
    # on the order page an implementer sees only his own task; business staff see all
    assert [t["title"] for t in detail(api, impl["id"], "impl1")["tasks"]] == ["安装部署"]
    assert len(detail(api, impl["id"], "bizmgr1")["tasks"]) == 3


def test_I1_invalid_implementer_422_names_field_nothing_written(api, session):
    impl = new_impl(api, session)
    iid = impl["process_instance_id"]
    data = plan(session)
    bad_users = [user_id(session, "rep1"), user_id(session, "rep3"), 999999]
    session.rollback()
    for bad in bad_users:
        broken = {**data, "tasks": [*data["tasks"][:1], {**data["tasks"][1], "implementer_id": bad}]}
        r = complete(api, iid, "implmgr1", broken, step="split", status=422)
        assert "tasks.1.implementer_id" in r["errors"], r
    for broken, field in (({**data, "tasks": []}, "tasks"),
                          ({**data, "tasks": [{**data["tasks"][0], "milestone": "没有"}]}, "tasks.0.milestone"),
                          ({**data, "milestones": [{"name": "a", "percent": 70}, {"name": "b", "percent": 40}]},
                           "milestones"),
                          ({**data, "tasks": [{"implementer_id": bad_users[0]}]}, "tasks")):
        r = complete(api, iid, "implmgr1", broken, step="split", status=422)
        assert field in r["errors"], (field, r)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ImplementationTask)) == 0
    assert session.scalar(select(func.count()).select_from(Milestone)) == 0
    assert [t["step"] for t in open_tasks(api, iid, "implmgr1")] == ["split"]
    session.rollback()


def test_I1_frozen_implementer_refused(api, session):
    from models.org import User

    impl = new_impl(api, session)
    session.rollback()
    user = session.get(User, user_id(session, "impl2"))
    user.status = "frozen"
    session.commit()
    r = complete(api, impl["process_instance_id"], "implmgr1", plan(session), step="split", status=422)
    assert "tasks.1.implementer_id" in r["errors"]


def test_I1_milestones_reached_as_tasks_complete_and_acceptance_completes(api, session):
    impl = new_impl(api, session)
    iid = impl["process_instance_id"]
    complete(api, iid, "implmgr1", plan(session), step="split")
    complete(api, iid, "impl1", {"decision": "done"}, comment="已部署")
    body = detail(api, impl["id"])
    assert [t["status"] for t in body["tasks"]] == ["done", "open", "open"]
    assert body["tasks"][0]["note"] == "已部署" and body["tasks"][0]["done_at"]
    assert [m["status"] for m in body["milestones"]] == ["pending", "pending"]
    # impl2 completes 数据迁移: 上线 (both its tasks done) is reached, 验收 not yet
    tasks2 = open_tasks(api, iid, "impl2")
    session.rollback()
    rows = {t.title: t for t in session.scalars(select(ImplementationTask))}
    by_spiff = {h.id: h for h in session.scalars(select(HumanTask).where(HumanTask.instance_id == iid))}
    session.rollback()
    assert len(rows) == 3 and len(by_spiff) >= 3
    first = tasks2[0]
    r = api.as_("impl2").post(f"/tasks/{first['id']}/complete", json={"data": {"decision": "done"}})
    assert r.status_code == 200
    body = detail(api, impl["id"])
    done_titles = [t["title"] for t in body["tasks"] if t["status"] == "done"]
    assert len(done_titles) == 2
    reached = [m["name"] for m in body["milestones"] if m["status"] == "reached"]
    assert reached == (["上线"] if "数据迁移" in done_titles else [])
    complete(api, iid, "impl2", {"decision": "done"})
    body = detail(api, impl["id"])
    assert all(t["status"] == "done" for t in body["tasks"])
    assert [m["status"] for m in body["milestones"]] == ["reached", "reached"]
    assert body["status"] == "accepting"
    assert not open_tasks(api, iid, "impl1")
    # only the implementation manager accepts
    accept = open_tasks(api, iid, "implmgr1")
    assert [t["step"] for t in accept] == ["accept"]
    assert api.as_("impl1").post(f"/tasks/{accept[0]['id']}/complete",
                                 json={"data": {"decision": "accept"}}).status_code in (403, 404)
    complete(api, iid, "implmgr1", {"decision": "accept"}, step="accept", comment="验收通过")
    body = detail(api, impl["id"], "rep1")
    assert body["status"] == "completed" and body["accepted_at"]
    assert api.as_("rep1").get(f"/process-instances/{iid}").get_json()["status"] == "completed"


def test_I1_business_staff_follow_milestones_with_payment_nodes(api, session):
    impl = new_impl(api, session, amount="200000.00")
    complete(api, impl["process_instance_id"], "implmgr1", plan(session), step="split")
    for user in ("rep1", "bizmgr1", "finance1", "salesmgmt1", "mgr1", "implmgr1"):
        body = detail(api, impl["id"], user)
        assert [m["amount"] for m in body["milestones"]] == ["120000.00", "61000.00"], user
        assert all("collected" in m for m in body["milestones"])
        assert impl["id"] in [o["id"] for o in api.as_(user).get("/implementation-orders").get_json()["items"]]


def test_I1_access_other_sector_404_rep_sees_his_orders(api, session):
    impl = new_impl(api, session)
    for user in ("rep3", "mgr3", "rep2", "admin"):
        assert api.as_(user).get(f"/implementation-orders/{impl['id']}").status_code == 404, user
        assert impl["id"] not in [o["id"] for o in api.as_(user).get("/implementation-orders").get_json()["items"]]
    assert api.as_("rep1").get(f"/implementation-orders/{impl['id']}").status_code == 200
    # an implementer sees the order only once he has a task on it
    assert api.as_("impl1").get(f"/implementation-orders/{impl['id']}").status_code == 404
    complete(api, impl["process_instance_id"], "implmgr1", plan(session), step="split")
    assert api.as_("impl1").get(f"/implementation-orders/{impl['id']}").status_code == 200
    assert api.as_("implmgr1").get("/implementation-orders/999999").status_code == 404


def test_I1_plan_connector_idempotent(api, session):
    from engine import connectors
    from models.process import ProcessInstance

    impl = new_impl(api, session)
    data = plan(session)
    complete(api, impl["process_instance_id"], "implmgr1", data, step="split")
    session.rollback()
    instance = session.get(ProcessInstance, impl["process_instance_id"])
    ctx = connectors.ConnectorContext(session=session, instance=instance, actor_id=user_id(session, "implmgr1"))
    again = connectors.call(ctx, "crm.plan_implementation", {"tasks": {"value": data["tasks"]},
                                                             "milestones": {"value": data["milestones"]}})
    session.flush()
    assert len(again) == 3
    assert session.scalar(select(func.count()).select_from(ImplementationTask)) == 3
    session.rollback()


def test_I1_milestone_collected_from_recorded_collections(api, session):
    """Collections recorded against the contract (R1) cover the payment nodes in order."""
    from datetime import date
    from decimal import Decimal

    from models.receivables import Collection

    impl = new_impl(api, session, amount="200000.00")
    complete(api, impl["process_instance_id"], "implmgr1", plan(session), step="split")
    assert [m["collected"] for m in detail(api, impl["id"], "finance1")["milestones"]] == [False, False]
    session.rollback()
    session.add(Collection(contract_id=impl["contract_id"], sector_id=impl["sector_id"], amount=Decimal("150000.00"),
                           received_on=date(2026, 12, 1), created_by=user_id(session, "finance1")))
    session.commit()
    assert [m["collected"] for m in detail(api, impl["id"], "finance1")["milestones"]] == [True, False]
    session.add(Collection(contract_id=impl["contract_id"], sector_id=impl["sector_id"], amount=Decimal("31000.00"),
                           received_on=date(2026, 12, 2), created_by=user_id(session, "finance1")))
    session.commit()
    assert [m["collected"] for m in detail(api, impl["id"], "rep1")["milestones"]] == [True, True]
