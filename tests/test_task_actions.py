"""Approval actions on every process (issue 4): who may and who may not transfer (转交), send back (驳回),
resubmit, withdraw (撤回), urge (催办), copy (抄送), comment (评论) and attach (附件); each shows in the history
(流转记录) and leaves an audit row. The quote approval chain (Q1) is the process under test; the actions are
generic (engine/actions.py), a diagram with a parallel gateway is in tests/data/parallel_review.bpmn.
"""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from sqlalchemy import select

from models import clock
from models.audit import AuditLog
from models.crm import Quote
from models.notifications import Notification
from models.org import Department, User, UserRole
from models.process import HumanTask, InstanceEvent, ProcessInstance
from tests.conftest import customer_ids


def _quote(api, quote_amount=4000, user="rep1"):
    """4000 of 10000 = 4折: manager, then the president's assistant, then the vice-president (Q1)."""
    cid = customer_ids(api, user)[0]
    r = api.as_(user).post("/quotes", json={"customer_id": cid, "list_amount": 10000, "quote_amount": quote_amount})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _open(api, instance_id, user):
    return next(t for t in api.as_(user).get("/tasks?scope=mine").get_json()["items"]
                if t["process_instance_id"] == instance_id)


def _uid(session, username) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def _grant(session, username, role, dept_code=None, sector_code_user=None):
    user = session.scalar(select(User).where(User.username == username))
    dept = session.scalar(select(Department).where(Department.code == dept_code)) if dept_code else None
    session.add(UserRole(user_id=user.id, role_code=role, sector_id=dept.sector_id if dept else user.sector_id,
                         department_id=dept.id if dept else None))
    session.commit()
    return user


def _kinds(api, instance_id, user="rep1"):
    return [h["kind"] for h in api.as_(user).get(f"/process-instances/{instance_id}").get_json()["history"]]


def _audited(session, action, entity_id=None) -> bool:
    stmt = select(AuditLog).where(AuditLog.action == action)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == str(entity_id))
    session.rollback()
    return session.scalar(stmt.limit(1)) is not None


def _approve(api, task_id, user):
    r = api.as_(user).post(f"/tasks/{task_id}/complete", json={"data": {"decision": "approve"}})
    assert r.status_code == 200, r.get_json()


# ---------------------------------------------------------------- 转交 transfer

def test_transfer_by_the_approver_to_a_holder_of_the_role(api, session):
    _grant(session, "asst1", "dept_manager", "D1")
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    asst1 = _uid(session, "asst1")
    r = api.as_("mgr1").post(f"/tasks/{task['id']}/transfer", json={"user_id": asst1, "comment": "出差，请代办"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["assignee_id"] == asst1
    assert any(t["id"] == task["id"] for t in api.as_("asst1").get("/tasks?scope=mine").get_json()["items"])
    # the former approver no longer decides it
    assert api.as_("mgr1").post(f"/tasks/{task['id']}/complete",
                                json={"data": {"decision": "approve"}}).status_code == 403
    assert "transferred" in _kinds(api, iid)
    assert _audited(session, "task.transfer", task["id"])
    note = session.scalar(select(Notification).where(Notification.user_id == asst1, Notification.kind == "assigned"))
    assert note is not None and note.link == f"/tasks/{task['id']}"
    _approve(api, task["id"], "asst1")


def test_transfer_refused_to_wrong_people_and_targets(api, session):
    quote = _quote(api)
    task = _open(api, quote["process_instance_id"], "mgr1")
    url = f"/tasks/{task['id']}/transfer"
    rep2, rep3, rep1 = _uid(session, "rep2"), _uid(session, "rep3"), _uid(session, "rep1")
    # the requester sees the task but may not hand it around; other sectors learn nothing
    assert api.as_("rep1").post(url, json={"user_id": rep2}).status_code == 403
    assert api.as_("mgr3").post(url, json={"user_id": rep2}).status_code == 404
    assert api.as_("rep2").post(url, json={"user_id": rep2}).status_code == 404
    # targets: without the role, another sector, the requester himself, bad input
    for target in (rep2, rep3, rep1, 0, "x"):
        r = api.as_("mgr1").post(url, json={"user_id": target})
        assert r.status_code == 422, (target, r.get_json())
        assert "user_id" in r.get_json()["errors"]
    assert api.as_("mgr1").post(url, json={}).status_code == 422
    session.rollback()
    assert session.get(HumanTask, task["id"]).assignee_id is None
    assert not _audited(session, "task.transfer")
    _approve(api, task["id"], "mgr1")
    assert api.as_("mgr1").post(url, json={"user_id": rep2}).status_code == 409


# ---------------------------------------------------------------- 驳回 send back to an earlier step

def test_send_back_to_an_earlier_step_reopens_it_with_its_approver(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")
    _approve(api, _open(api, iid, "pa1")["id"], "pa1")
    vp_task = _open(api, iid, "vp1")
    r = api.as_("vp1").post(f"/tasks/{vp_task['id']}/send-back",
                            json={"target": "mgr_approve", "comment": "折扣依据不足，请经理复核"})
    assert r.status_code == 200, r.get_json()
    reopened = r.get_json()
    assert reopened["step"] == "mgr_approve" and reopened["status"] == "open"
    assert reopened["assignee_id"] == _uid(session, "mgr1")
    assert api.as_("vp1").get(f"/tasks/{vp_task['id']}").get_json()["decision"] == "send_back"
    assert [t["step"] for t in api.as_("rep1").get(f"/process-instances/{iid}").get_json()["open_tasks"]] == [
        "mgr_approve"]
    kinds = _kinds(api, iid)
    assert "sent_back" in kinds and kinds[-1] == "task_created"
    assert _audited(session, "task.send_back", iid)
    assert session.scalar(select(Notification).where(Notification.user_id == _uid(session, "mgr1"),
                                                     Notification.kind == "returned")) is not None
    # the chain runs again to the end
    _approve(api, reopened["id"], "mgr1")
    _approve(api, _open(api, iid, "pa1")["id"], "pa1")
    _approve(api, _open(api, iid, "vp1")["id"], "vp1")
    assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "approved"


def test_send_back_refused_to_wrong_people_targets_and_states(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")
    pa_task = _open(api, iid, "pa1")
    url = f"/tasks/{pa_task['id']}/send-back"
    ok = {"target": "mgr_approve", "comment": "请复核"}
    assert api.as_("rep1").post(url, json=ok).status_code == 403      # the requester
    assert api.as_("mgr1").post(url, json=ok).status_code == 403      # an earlier approver, not this step's
    assert api.as_("mgr3").post(url, json=ok).status_code == 404      # another sector
    for body in ({"target": "vp_approve", "comment": "x"}, {"target": "pa_approve", "comment": "x"},
                 {"target": "nonsense", "comment": "x"}, {"target": "mgr_approve"},
                 {"target": "mgr_approve", "comment": "   "}):
        r = api.as_("pa1").post(url, json=body)
        assert r.status_code == 422, (body, r.get_json())
        assert set(r.get_json()["errors"]) & {"target", "comment"}
    assert not _audited(session, "task.send_back")
    assert api.as_("pa1").post(url, json=ok).status_code == 200
    assert api.as_("pa1").post(url, json=ok).status_code == 409       # that step is no longer open


# ---------------------------------------------------------------- 驳回 to the submitter, 重新提交

def test_send_back_to_submitter_parks_the_first_step_with_him_until_he_resubmits(api, client, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")
    pa_task = _open(api, iid, "pa1")
    r = api.as_("pa1").post(f"/tasks/{pa_task['id']}/send-back", json={"target": "submitter", "comment": "补充客户背景"})
    assert r.status_code == 200, r.get_json()
    parked = r.get_json()
    rep1 = _uid(session, "rep1")
    assert parked["step"] == "mgr_approve" and parked["assignee_id"] == rep1 and parked["kind"] == "resubmit"
    assert session.get(HumanTask, parked["id"]).kind == "resubmit"
    assert any(t["id"] == parked["id"] for t in api.as_("rep1").get("/tasks?scope=mine").get_json()["items"])
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    assert "重新提交" in client.get("/inbox").get_data(as_text=True)
    assert all(t["id"] != parked["id"] for t in api.as_("mgr1").get("/tasks?scope=mine").get_json()["items"])
    # the submitter does not decide it; others may not resubmit it
    assert api.as_("rep1").post(f"/tasks/{parked['id']}/complete",
                                json={"data": {"decision": "approve"}}).status_code == 409
    assert api.as_("mgr1").post(f"/tasks/{parked['id']}/resubmit", json={}).status_code == 403
    assert api.as_("rep2").post(f"/tasks/{parked['id']}/resubmit", json={}).status_code == 404
    r = api.as_("rep1").post(f"/tasks/{parked['id']}/resubmit", json={"comment": "已补充"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["assignee_id"] is None
    session.rollback()
    assert session.get(HumanTask, parked["id"]).kind == "task"
    assert api.as_("rep1").post(f"/tasks/{parked['id']}/resubmit", json={}).status_code == 409
    kinds = _kinds(api, iid)
    assert "sent_back" in kinds and "resubmitted" in kinds
    assert _audited(session, "task.resubmit", parked["id"])
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")
    assert _open(api, iid, "pa1")["step"] == "pa_approve"


def test_send_back_to_submitter_on_the_first_step_and_withdraw_then(api, session):
    quote = _quote(api, quote_amount=9000)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    r = api.as_("mgr1").post(f"/tasks/{task['id']}/send-back", json={"target": "submitter", "comment": "请改价"})
    assert r.status_code == 200 and r.get_json()["id"] == task["id"]
    # once sent back to him, the submitter may withdraw (撤回) the request
    r = api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={"comment": "不报了"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "withdrawn"


# ---------------------------------------------------------------- 撤回 withdraw

def test_Q1_withdraw_by_the_requester_before_the_first_decision(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    assert api.as_("mgr1").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 403
    assert api.as_("rep2").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 404
    assert api.as_("mgr3").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 404
    r = api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={"comment": "客户暂缓"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "withdrawn"
    detail = api.as_("rep1").get(f"/process-instances/{iid}").get_json()
    assert detail["status"] == "withdrawn" and detail["open_tasks"] == []
    assert "withdrawn" in [h["kind"] for h in detail["history"]]
    assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "withdrawn"
    assert api.as_("mgr1").get(f"/tasks/{task['id']}").get_json()["status"] == "cancelled"
    assert all(t["id"] != task["id"] for t in api.as_("mgr1").get("/tasks?scope=mine").get_json()["items"])
    assert _audited(session, "process.withdraw", iid) and _audited(session, "quote.withdraw", quote["id"])
    assert api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 409


def test_Q1_withdraw_refused_after_the_first_decision(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")
    r = api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={})
    assert r.status_code == 409 and "decided" in r.get_json()["message"]
    session.rollback()
    assert session.get(ProcessInstance, iid).status == "running"
    assert session.get(Quote, quote["id"]).status == "pending"
    assert api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={"comment": 5}).status_code == 422


# ---------------------------------------------------------------- 催办 urge

def test_urge_by_the_requester_notifies_the_approvers_once_per_interval(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    mgr1 = _uid(session, "mgr1")
    r = api.as_("rep1").post(f"/process-instances/{iid}/urge", json={"comment": "客户等回复"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["notified"] == 1
    notes = api.as_("mgr1").get("/notifications").get_json()
    assert notes["unread"] >= 1 and notes["items"][0]["kind"] == "urge"
    session.rollback()
    assert session.scalar(select(Notification).where(Notification.user_id == mgr1, Notification.kind == "urge"))
    assert "urged" in _kinds(api, iid)
    assert _audited(session, "process.urge", iid)
    again = api.as_("rep1").post(f"/process-instances/{iid}/urge", json={})
    assert again.status_code == 429 and "urge again after" in again.get_json()["message"]
    clock.advance(timedelta(hours=1, minutes=1))
    assert api.as_("rep1").post(f"/process-instances/{iid}/urge", json={}).status_code == 200
    # mark read
    nid = api.as_("mgr1").get("/notifications").get_json()["items"][0]["id"]
    assert api.as_("mgr1").post(f"/notifications/{nid}/read").get_json()["read_at"] is not None
    assert api.as_("rep1").post(f"/notifications/{nid}/read").status_code == 404
    assert _open(api, iid, "mgr1")["overdue"] is False
    clock.advance(timedelta(days=10))                 # past the step's due date (2 working days)
    api._tokens.clear()
    assert _open(api, iid, "mgr1")["overdue"] is True


def test_urge_refused_to_others_and_on_ended_processes(api, session):
    quote = _quote(api, quote_amount=9000)
    iid = quote["process_instance_id"]
    assert api.as_("mgr1").post(f"/process-instances/{iid}/urge", json={}).status_code == 403
    assert api.as_("rep2").post(f"/process-instances/{iid}/urge", json={}).status_code == 404
    assert api.as_("rep3").post(f"/process-instances/{iid}/urge", json={}).status_code == 404
    assert api.as_("rep1").post(f"/process-instances/{iid}/urge", json={"comment": "x" * 501}).status_code == 422
    assert not _audited(session, "process.urge")
    _approve(api, _open(api, iid, "mgr1")["id"], "mgr1")   # 9折: the manager alone approves
    assert api.as_("rep1").post(f"/process-instances/{iid}/urge", json={}).status_code == 409


# ---------------------------------------------------------------- 抄送 copy

def test_copy_to_colleagues_of_the_sector_gives_them_read_access(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    rep2, rep3 = _uid(session, "rep2"), _uid(session, "rep3")
    assert api.as_("rep2").get(f"/process-instances/{iid}").status_code == 404
    assert api.as_("rep2").post(f"/process-instances/{iid}/copies", json={"user_ids": [rep2]}).status_code == 404
    r = api.as_("rep1").post(f"/process-instances/{iid}/copies", json={"user_ids": [rep3]})
    assert r.status_code == 422 and str(rep3) in r.get_json()["errors"]["user_ids"][0]
    r = api.as_("rep1").post(f"/process-instances/{iid}/copies", json={"user_ids": [rep2], "comment": "知悉"})
    assert r.status_code == 200, r.get_json()
    assert [c["user_id"] for c in r.get_json()["items"]] == [rep2]
    copied = api.as_("rep2").get("/copies").get_json()["items"]
    assert [c["instance_id"] for c in copied] == [iid]
    assert api.as_("rep2").get(f"/process-instances/{iid}").status_code == 200
    assert api.as_("rep2").get(f"/tasks/{task['id']}").status_code == 200
    assert [t["id"] for t in api.as_("rep2").get("/tasks?scope=copied").get_json()["items"]] == [task["id"]]
    # read-only: no decisions (the engine answers as for any viewer who holds no role), no further copies
    assert api.as_("rep2").post(f"/tasks/{task['id']}/complete",
                                json={"data": {"decision": "approve"}}).status_code == 404
    assert api.as_("rep2").post(f"/process-instances/{iid}/copies",
                                json={"user_ids": [_uid(session, "asst1")]}).status_code == 403
    assert "copied" in _kinds(api, iid)
    assert _audited(session, "process.copy", iid)
    assert session.scalar(select(Notification).where(Notification.user_id == rep2, Notification.kind == "copy"))
    # the approver may copy too; the same user twice is one copy
    r = api.as_("mgr1").post(f"/process-instances/{iid}/copies", json={"user_ids": [rep2, _uid(session, "vp1")]})
    assert r.status_code == 200 and [c["user_id"] for c in r.get_json()["items"]] == [_uid(session, "vp1")]
    assert api.as_("rep1").post(f"/process-instances/{iid}/copies", json={"user_ids": []}).status_code == 422


def test_copied_tab_and_instance_page_mark_the_copy_read(api, client, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    api.as_("rep1").post(f"/process-instances/{iid}/copies", json={"user_ids": [_uid(session, "rep2")]})
    client.post("/login", data={"username": "rep2", "password": "demo12345"})
    page = client.get("/inbox?tab=copied").get_data(as_text=True)
    assert f"/processes/instances/{iid}" in page
    assert client.get(f"/processes/instances/{iid}").status_code == 200
    assert api.as_("rep2").get("/copies").get_json()["items"][0]["read_at"] is not None


# ---------------------------------------------------------------- 评论 comments, 附件 attachments

def test_comments_by_whoever_may_view_the_process(api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    url = f"/tasks/{task['id']}/comments"
    r = api.as_("mgr1").post(url, json={"body": "价格需再确认"})
    assert r.status_code == 201, r.get_json()
    assert api.as_("rep1").post(url, json={"body": "已确认"}).status_code == 201
    assert [c["body"] for c in api.as_("rep1").get(url).get_json()["items"]] == ["价格需再确认", "已确认"]
    assert api.as_("rep2").post(url, json={"body": "x"}).status_code == 404
    assert api.as_("rep2").get(url).status_code == 404
    assert api.as_("mgr3").post(url, json={"body": "x"}).status_code == 404
    for body in ({"body": ""}, {"body": "x" * 2001}, {}):
        assert api.as_("mgr1").post(url, json=body).status_code == 422
    history = api.as_("rep1").get(f"/process-instances/{iid}").get_json()["history"]
    assert [h["comment"] for h in history if h["kind"] == "commented"] == ["价格需再确认", "已确认"]
    assert _audited(session, "task.comment", task["id"])


def test_attachments_by_approver_or_requester_downloaded_by_viewers(api, app, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    url = f"/tasks/{task['id']}/attachments"

    def upload(user, data=b"%PDF-1.4 price basis", name="../../etc/报价依据.pdf"):
        return api.as_(user).post(url, data={"file": (BytesIO(data), name)}, content_type="multipart/form-data")

    r = upload("rep1")
    assert r.status_code == 201, r.get_json()
    att = r.get_json()
    assert att["filename"] == "报价依据.pdf" and att["size"] == len(b"%PDF-1.4 price basis")
    assert upload("mgr1", b"second").status_code == 201
    assert upload("rep2").status_code == 404
    assert upload("mgr3").status_code == 404
    assert upload("mgr1", b"").status_code == 422
    assert api.as_("mgr1").post(url, data={}, content_type="multipart/form-data").status_code == 422
    app.config["ATTACHMENT_MAX_BYTES"] = 10
    r = upload("mgr1", b"x" * 11)
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    app.config.pop("ATTACHMENT_MAX_BYTES")
    got = api.as_("mgr1").get(f"/task-attachments/{att['id']}")
    assert got.status_code == 200 and got.data == b"%PDF-1.4 price basis"
    assert "attachment" in got.headers["Content-Disposition"]
    assert api.as_("rep2").get(f"/task-attachments/{att['id']}").status_code == 404
    assert len(api.as_("rep1").get(url).get_json()["items"]) == 2
    # a copied user reads and downloads but does not attach
    api.as_("rep1").post(f"/process-instances/{iid}/copies", json={"user_ids": [_uid(session, "rep2")]})
    assert api.as_("rep2").get(f"/task-attachments/{att['id']}").status_code == 200
    assert upload("rep2").status_code == 403
    assert "attached" in _kinds(api, iid)
    assert _audited(session, "task.attach", task["id"])


# ---------------------------------------------------------------- pages

def test_task_page_offers_the_actions_in_order_and_the_requester_his(client, api, session):
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    labels = ["同意", "驳回", "转交", "评论", "附件"]
    positions = [page.find(label) for label in labels]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    assert "撤回" not in page
    assert "截止" in page                              # due date in working days (due_days of the step)
    client.post("/logout")
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "撤回" in page and "催办" in page
    r = client.post(f"/process-instances/{iid}/urge", data={}, follow_redirects=True)
    assert "已催办" in r.get_data(as_text=True)
    r = client.post(f"/process-instances/{iid}/withdraw", data={"comment": "不要了"}, follow_redirects=True)
    assert r.status_code == 200
    session.rollback()
    assert session.get(ProcessInstance, iid).status == "withdrawn"
    assert session.scalar(select(InstanceEvent).where(InstanceEvent.instance_id == iid,
                                                      InstanceEvent.kind == "withdrawn")) is not None


def test_pages_transfer_send_back_comment_and_notifications(client, api, session):
    _grant(session, "asst1", "dept_manager", "D1")
    quote = _quote(api)
    iid = quote["process_instance_id"]
    task = _open(api, iid, "mgr1")
    client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    r = client.post(f"/tasks/{task['id']}/comments", data={"body": "看一下成本"}, follow_redirects=True)
    assert "看一下成本" in r.get_data(as_text=True)
    r = client.post(f"/tasks/{task['id']}/transfer", data={"user_id": str(_uid(session, "rep2"))},
                    follow_redirects=True)
    assert "user_id" in r.get_data(as_text=True) or "角色" in r.get_data(as_text=True)
    r = client.post(f"/tasks/{task['id']}/transfer", data={"user_id": str(_uid(session, "asst1"))},
                    follow_redirects=True)
    assert r.status_code == 200
    session.rollback()
    assert session.get(HumanTask, task["id"]).assignee_id == _uid(session, "asst1")
    client.post("/logout")
    client.post("/login", data={"username": "asst1", "password": "demo12345"})
    assert "notification-count" in client.get("/inbox").get_data(as_text=True)
    page = client.get("/notifications").get_data(as_text=True)
    assert "转交给您" in page
    assert client.post("/notifications/read-all", follow_redirects=True).status_code == 200
    r = client.post(f"/tasks/{task['id']}/send-back", data={"target": "submitter", "comment": "补资料"},
                    follow_redirects=True)
    assert r.status_code == 200
    session.rollback()
    assert session.get(HumanTask, task["id"]).kind == "resubmit"


# ---------------------------------------------------------------- 驳回 across a parallel gateway

def _parallel_instance(app, session) -> int:
    from pathlib import Path

    from engine import definitions, runtime

    rep1 = session.scalar(select(User).where(User.username == "rep1"))
    data = (Path(__file__).parent / "data" / "parallel_review.bpmn").read_bytes()
    definitions.deploy(session, data, filename="parallel_review.bpmn", actor_id=None)
    instance = runtime.start_instance(session, "parallel_review", actor=rep1, data={}, title="并行评审",
                                      sector_id=rep1.sector_id, department_id=rep1.department_id)
    session.commit()
    return instance.id


def _open_steps(api, iid):
    return {t["step"]: t for t in api.as_("rep1").get(f"/process-instances/{iid}").get_json()["open_tasks"]}


def test_send_back_within_a_parallel_branch_keeps_the_other_branch(api, app, session):
    iid = _parallel_instance(app, session)
    _approve(api, _open_steps(api, iid)["a_review"]["id"], "mgr1")
    steps = _open_steps(api, iid)
    assert set(steps) == {"b1_review", "c_sign"}
    c_task = steps["c_sign"]["id"]
    _approve(api, steps["b1_review"]["id"], "vp1")
    steps = _open_steps(api, iid)
    assert set(steps) == {"b2_review", "c_sign"}
    # a step of the other branch is not on this step's path
    r = api.as_("vp1").post(f"/tasks/{steps['b2_review']['id']}/send-back", json={"target": "c_sign", "comment": "x"})
    assert r.status_code == 422
    r = api.as_("vp1").post(f"/tasks/{steps['b2_review']['id']}/send-back",
                            json={"target": "b1_review", "comment": "一审再看"})
    assert r.status_code == 200, r.get_json()
    steps = _open_steps(api, iid)
    assert set(steps) == {"b1_review", "c_sign"}
    assert steps["c_sign"]["id"] == c_task            # the other branch's step stayed open, untouched
    _approve(api, steps["b1_review"]["id"], "vp1")
    _approve(api, _open_steps(api, iid)["b2_review"]["id"], "vp1")
    _approve(api, c_task, "president")
    assert api.as_("rep1").get(f"/process-instances/{iid}").get_json()["status"] == "completed"


def test_send_back_from_a_parallel_branch_to_before_the_fork_cancels_both_branches(api, app, session):
    iid = _parallel_instance(app, session)
    _approve(api, _open_steps(api, iid)["a_review"]["id"], "mgr1")
    steps = _open_steps(api, iid)
    c_task = steps["c_sign"]["id"]
    r = api.as_("president").post(f"/tasks/{c_task}/send-back", json={"target": "a_review", "comment": "重新初审"})
    assert r.status_code == 200, r.get_json()
    assert set(_open_steps(api, iid)) == {"a_review"}
    assert api.as_("president").get(f"/tasks/{c_task}").get_json()["decision"] == "send_back"
    assert api.as_("vp1").get(f"/tasks/{steps['b1_review']['id']}").get_json()["status"] == "cancelled"
    _approve(api, _open_steps(api, iid)["a_review"]["id"], "mgr1")
    steps = _open_steps(api, iid)
    assert set(steps) == {"b1_review", "c_sign"}
    # to the submitter from a branch: the first step, parked with the starter
    r = api.as_("vp1").post(f"/tasks/{steps['b1_review']['id']}/send-back",
                            json={"target": "submitter", "comment": "补充材料"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["step"] == "a_review" and r.get_json()["assignee_id"] == _uid(session, "rep1")
    assert set(_open_steps(api, iid)) == {"a_review"}


def test_withdraw_a_new_customer_review_returns_the_record_to_its_owner(api, session):
    """Generic withdraw on another process: the customer review (E2); the record goes back as 'returned'."""
    from tests.test_customers import call, created

    c = created(api, contact={"name": "李四", "mobile": "13800000000"})
    iid = c["review_instance_id"]
    assert api.as_("mgr1").post(f"/process-instances/{iid}/withdraw", json={}).status_code == 403
    r = api.as_("rep1").post(f"/process-instances/{iid}/withdraw", json={"comment": "信息有误"})
    assert r.status_code == 200, r.get_json()
    assert api.as_("rep1").get(f"/customers/{c['id']}").get_json()["status"] == "returned"
    assert _audited(session, "customer.withdraw_review", c["id"])
    r = call(api, "rep1", "patch", f"/customers/{c['id']}", json={"resubmit": True})   # fixed and sent again
    assert r.status_code == 200 and r.get_json()["status"] == "pending"
