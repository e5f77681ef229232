"""Who sees and acts on approval tasks: lane → role → org scope (O2 sector isolation, O4 department)."""
from __future__ import annotations

from sqlalchemy import select

from models.org import Department, User, UserRole
from tests.conftest import customer_ids


def _quote(api, quote_amount=4000):
    cid = customer_ids(api, "rep1")[0]
    return api.as_("rep1").post("/quotes", json={"customer_id": cid, "list_amount": 10000,
                                                 "quote_amount": quote_amount}).get_json()


def _task_id(api, quote, user="mgr1"):
    return next(t["id"] for t in api.as_(user).get("/tasks?scope=mine").get_json()["items"]
                if t["process_instance_id"] == quote["process_instance_id"])


def _grant(session, username, role, dept_code=None, sector_of=None):
    user = session.scalar(select(User).where(User.username == username))
    dept = session.scalar(select(Department).where(Department.code == dept_code)) if dept_code else None
    session.add(UserRole(user_id=user.id, role_code=role, sector_id=dept.sector_id if dept else sector_of,
                         department_id=dept.id if dept else None))
    session.commit()
    return user


def test_O2_user_of_another_sector_never_sees_or_completes_the_task(api):
    """O2: mgr3 (sector 2, also a department manager) gets 404 on everything of sector 1."""
    quote = _quote(api)
    tid = _task_id(api, quote)
    for scope in ("mine", "claimable", "done"):
        assert api.as_("mgr3").get(f"/tasks?scope={scope}").get_json()["items"] == []
    assert api.as_("mgr3").get(f"/tasks/{tid}").status_code == 404
    assert api.as_("mgr3").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 404
    assert api.as_("mgr3").post(f"/tasks/{tid}/claim").status_code == 404
    assert api.as_("mgr3").get(f"/quotes/{quote['id']}").status_code == 404
    assert api.as_("mgr3").get(f"/process-instances/{quote['process_instance_id']}").status_code == 404
    assert api.as_("rep3").get(f"/quotes/{quote['id']}").status_code == 404


def test_O4_manager_of_another_department_does_not_get_the_task(api, session):
    """O4 / Q1: 'department manager' means the manager of the requester's department."""
    _grant(session, "rep2", "dept_manager", "D2")  # rep2 now also manages D2, not D1
    quote = _quote(api)
    tid = _task_id(api, quote)
    assert all(t["id"] != tid for t in api.as_("rep2").get("/tasks?scope=mine").get_json()["items"])
    assert api.as_("rep2").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 404


def test_Q1_requester_sees_his_task_but_may_not_approve_it(api):
    """Q1: the rep sees the task in his process (403 to act on it), other reps see nothing (404)."""
    quote = _quote(api)
    tid = _task_id(api, quote)
    assert api.as_("rep1").get(f"/tasks/{tid}").status_code == 200
    assert api.as_("rep1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 403
    assert api.as_("rep2").get(f"/tasks/{tid}").status_code == 404
    assert api.as_("rep2").get(f"/quotes/{quote['id']}").status_code == 404


def test_Q1_later_approvers_only_get_the_task_when_it_reaches_them(api):
    """Q1: the vice-president has nothing until the assistant has approved."""
    quote = _quote(api, 4000)
    assert api.as_("pa1").get("/tasks?scope=mine").get_json()["items"] == []
    api.as_("mgr1").post(f"/tasks/{_task_id(api, quote)}/complete", json={"data": {"decision": "approve"}})
    assert api.as_("vp1").get("/tasks?scope=mine").get_json()["items"] == []
    assert len(api.as_("pa1").get("/tasks?scope=claimable").get_json()["items"]) == 1


def test_org_change_reaches_open_tasks(api, session):
    """Assignment is resolved when the inbox is read: a newly appointed manager sees open tasks."""
    quote = _quote(api)
    tid = _task_id(api, quote)
    assert api.as_("asst1").get("/tasks?scope=claimable").get_json()["items"] == []
    _grant(session, "asst1", "dept_manager", "D1")
    assert [t["id"] for t in api.as_("asst1").get("/tasks?scope=claimable").get_json()["items"]] == [tid]


def test_claim_and_release_of_a_role_task(api, session):
    """A claimed task leaves the other candidates' claimable list and only its claimer may act on it."""
    _grant(session, "asst1", "dept_manager", "D1")
    quote = _quote(api)
    tid = _task_id(api, quote)
    r = api.as_("mgr1").post(f"/tasks/{tid}/claim")
    assert r.status_code == 200 and r.get_json()["assignee"] == "李强"
    assert api.as_("asst1").get("/tasks?scope=claimable").get_json()["items"] == []
    assert api.as_("asst1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 403
    assert api.as_("asst1").post(f"/tasks/{tid}/claim").status_code == 409
    assert api.as_("asst1").post(f"/tasks/{tid}/release").status_code == 403
    assert api.as_("mgr1").post(f"/tasks/{tid}/release").get_json()["assignee"] is None
    assert [t["id"] for t in api.as_("asst1").get("/tasks?scope=claimable").get_json()["items"]] == [tid]
    assert api.as_("asst1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 200
    assert api.as_("mgr1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 409


def test_completing_with_invalid_data_is_422_and_changes_nothing(api):
    quote = _quote(api)
    tid = _task_id(api, quote)
    for body in ({"data": {"decision": "maybe"}}, {"data": {}}, {"data": "approve"}, {"comment": "x"}, []):
        r = api.as_("mgr1").post(f"/tasks/{tid}/complete", json=body)
        assert r.status_code == 422, (body, r.get_json())
    assert api.as_("mgr1").get(f"/tasks/{tid}").get_json()["status"] == "open"


def test_approver_cannot_overwrite_process_variables(api):
    """Only the form's declared fields reach the workflow: sending discount=1 does not skip Q1 levels."""
    quote = _quote(api, 4000)
    tid = _task_id(api, quote)
    r = api.as_("mgr1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve", "discount": 1.0}})
    assert r.status_code == 200
    inst = api.as_("rep1").get(f"/process-instances/{quote['process_instance_id']}").get_json()
    assert [t["step"] for t in inst["open_tasks"]] == ["pa_approve"]


def test_frozen_approver_cannot_act(api, session):
    """O5: a frozen account cannot act (its token stops working)."""
    quote = _quote(api)
    tid = _task_id(api, quote)
    api.token("mgr1")
    user = session.scalar(select(User).where(User.username == "mgr1"))
    user.status = "frozen"
    session.commit()
    assert api.as_("mgr1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}}).status_code == 401
