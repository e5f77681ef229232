"""Concurrent actions on one task over real HTTP: exactly one wins, the other gets 409 (trap 4)."""
from __future__ import annotations

import json
import threading
import urllib.request
from urllib.error import HTTPError

import pytest

from tests.conftest import customer_ids


def _post(url: str, token: str, body: dict) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except HTTPError as exc:
        return exc.code


def _race(url: str, calls: list[tuple[str, dict]]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    results: list[int] = [0] * len(calls)

    def run(i: int, token: str, body: dict) -> None:
        barrier.wait()
        results[i] = _post(url, token, body)

    threads = [threading.Thread(target=run, args=(i, t, b)) for i, (t, b) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    return results


def _pending_task(api, user="mgr1"):
    cid = customer_ids(api, "rep1")[0]
    quote = api.as_("rep1").post("/quotes", json={"customer_id": cid, "list_amount": 100, "quote_amount": 40}).get_json()
    task = next(t for t in api.as_(user).get("/tasks?scope=mine").get_json()["items"]
                if t["process_instance_id"] == quote["process_instance_id"])
    return quote, task


@pytest.mark.parametrize("round_", range(3))
def test_Q1_two_concurrent_completions_give_one_success_and_one_409(api, live_server, round_):
    """Q1 approvals under concurrency: a double submit never records two decisions or loses one."""
    quote, task = _pending_task(api)
    token = api.token("mgr1")
    url = f"{live_server}/api/v1/tasks/{task['id']}/complete"
    results = _race(url, [(token, {"data": {"decision": "approve"}, "comment": "a"}),
                          (token, {"data": {"decision": "reject"}, "comment": "b"})])
    assert sorted(results) == [200, 409]
    inst = api.as_("rep1").get(f"/process-instances/{quote['process_instance_id']}").get_json()
    completed = [h for h in inst["history"] if h["kind"] == "task_completed"]
    assert len(completed) == 1
    winner = completed[0]["decision"]
    # the process followed exactly the winning decision
    if winner == "approve":
        assert [t["step"] for t in inst["open_tasks"]] == ["pa_approve"]
    else:
        assert inst["status"] == "completed" and inst["open_tasks"] == []


def test_two_concurrent_claims_give_one_owner(api, live_server, session):
    """Claim race: exactly one claimer becomes the assignee."""
    from sqlalchemy import select

    from models.org import Department, User, UserRole

    d1 = session.scalar(select(Department).where(Department.code == "D1"))
    other = session.scalar(select(User).where(User.username == "asst1"))
    session.add(UserRole(user_id=other.id, role_code="dept_manager", sector_id=d1.sector_id, department_id=d1.id))
    session.commit()
    _quote, task = _pending_task(api)
    url = f"{live_server}/api/v1/tasks/{task['id']}/claim"
    results = _race(url, [(api.token("mgr1"), {}), (api.token("asst1"), {})])
    assert sorted(results) == [200, 409]
    after = api.as_("mgr1").get(f"/tasks/{task['id']}")
    assignee = after.get_json()["assignee_id"] if after.status_code == 200 else None
    winner = "mgr1" if results[0] == 200 else "asst1"
    assert assignee == session.scalar(select(User.id).where(User.username == winner))
