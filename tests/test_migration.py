"""Issue 5: bulk migration of running instances to the latest version (dry run, real run, permissions, page).

The quote chain (Q1) is the subject: version 1 is deployed by set-up; version 2 changes the manager's limit
(flow f_mgr_escalate: discount < 0.6 instead of 0.5), version 3 renames the manager's step.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import definitions, migration
from models import clock
from models.audit import AuditLog
from models.org import Sector, User
from models.process import HumanTask, InstanceEvent, ProcessInstance
from tests.test_quote_approval import decide, open_task, submit

QUOTE_BPMN = (Path(__file__).resolve().parent.parent / "workflows" / "quote_approval.bpmn").read_bytes()
V2_LIMIT = QUOTE_BPMN.replace(b"discount &lt; 0.5<", b"discount &lt; 0.6<")
V3_RENAMED = QUOTE_BPMN.replace(b'"mgr_approve"', b'"mgr_check"').replace(b">mgr_approve<", b">mgr_check<")
assert V2_LIMIT != QUOTE_BPMN and V3_RENAMED != QUOTE_BPMN


def deploy(app, data: bytes, sector_id: int | None = None) -> int:
    session = app.extensions["session_factory"]()
    try:
        definition = definitions.deploy(session, data, filename="quote_approval.bpmn", actor_id=None,
                                        sector_id=sector_id)
        session.commit()
        return definition.version
    finally:
        session.close()


def instance_row(app, instance_id: int) -> ProcessInstance:
    session = app.extensions["session_factory"]()
    try:
        return session.get(ProcessInstance, instance_id)
    finally:
        session.close()


def open_rows(app, instance_id: int) -> list[HumanTask]:
    session = app.extensions["session_factory"]()
    try:
        return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.status == "open")))
    finally:
        session.close()


def sector_id(session, code: str) -> int:
    return session.scalar(select(Sector.id).where(Sector.code == code))


def run(api, user="designer1", **body):
    return api.as_(user).post("/processes/quote_approval/migrations", json=body)


def items_by_id(body) -> dict[int, dict]:
    return {i["instance_id"]: i for i in body["items"]}


@pytest.fixture
def quotes(api):
    """Four S1 quotes at different points of the v1 chain, one finished."""
    at_mgr = submit(api, 5500)["process_instance_id"]               # 5.5折: waiting for the manager
    at_pa = submit(api, 4000)["process_instance_id"]                # 4折: the manager approved, escalated
    decide(api, at_pa, "mgr1", "approve")
    by_mgr = submit(api, 8000, user="mgr1")["process_instance_id"]  # the manager's own: starts at the assistant
    done = submit(api, 10000)["process_instance_id"]
    decide(api, done, "mgr1", "approve")
    return {"at_mgr": at_mgr, "at_pa": at_pa, "by_mgr": by_mgr, "done": done}


def test_Q1_dry_run_lists_who_can_move_to_the_new_limit_and_changes_nothing(app, api, quotes):
    assert deploy(app, V2_LIMIT) == 2
    before = {k: instance_row(app, v) for k, v in quotes.items()}
    r = run(api, dry_run=True)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["dry_run"] is True and body["to"]["version"] == 2
    items = items_by_id(body)
    assert set(items) == {quotes["at_mgr"], quotes["at_pa"], quotes["by_mgr"]}  # the finished one is not listed
    assert items[quotes["at_mgr"]]["can_move"] and items[quotes["at_mgr"]]["reasons"] == []
    assert items[quotes["by_mgr"]]["can_move"]
    blocked = items[quotes["at_pa"]]
    assert blocked["can_move"] is False
    assert blocked["reasons"] == ["completed step gw_mgr (经理意见与折扣) was changed in version 2: condition"]
    assert blocked["problems"][0]["element"] == "gw_mgr"
    assert (blocked["from_version"], blocked["to_version"]) == (1, 2)
    assert (body["movable"], body["moved"], body["skipped"]) == (2, 0, 1)
    for key, old in before.items():
        now = instance_row(app, quotes[key])
        assert (now.state, now.definition_id, now.version) == (old.state, old.definition_id, old.version), key


def test_Q1_real_run_moves_the_movable_ones_and_they_follow_the_new_limit(app, api, session, quotes):
    task = open_task(api, quotes["at_mgr"], "mgr1")
    assert api.as_("mgr1").post(f"/tasks/{task['id']}/claim").status_code == 200
    rows_before = {(t.id, t.spiff_task_id, t.assignee_id, t.due_at) for t in open_rows(app, quotes["at_mgr"])}
    blocked_before = instance_row(app, quotes["at_pa"])
    deploy(app, V2_LIMIT)

    r = run(api, dry_run=False)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    items = items_by_id(body)
    assert body["dry_run"] is False and (body["moved"], body["skipped"], body["failed"]) == (2, 1, 0)
    assert items[quotes["at_mgr"]]["moved"] and items[quotes["by_mgr"]]["moved"]
    assert not items[quotes["at_pa"]]["moved"] and not items[quotes["at_pa"]]["can_move"]

    v2 = definitions.latest_definition(session, "quote_approval")
    assert v2.version == 2
    assert instance_row(app, quotes["at_mgr"]).definition_id == v2.id
    assert instance_row(app, quotes["by_mgr"]).definition_id == v2.id
    untouched = instance_row(app, quotes["at_pa"])
    assert (untouched.state, untouched.definition_id, untouched.version) == (
        blocked_before.state, blocked_before.definition_id, blocked_before.version)
    # the open task row is the same row: same id, same spiff task, the claim and the due date stay
    assert {(t.id, t.spiff_task_id, t.assignee_id, t.due_at) for t in open_rows(app, quotes["at_mgr"])} == rows_before

    event = session.scalar(select(InstanceEvent).where(InstanceEvent.instance_id == quotes["at_mgr"],
                                                       InstanceEvent.kind == "migrated"))
    assert event is not None and event.comment == "v1 → v2"
    designer1 = session.scalar(select(User).where(User.username == "designer1"))
    record = session.scalar(select(AuditLog).where(AuditLog.action == "process_instance.migrate",
                                                   AuditLog.entity_id == str(quotes["at_mgr"])))
    assert record.actor_id == designer1.id
    assert record.before["version"] == 1 and record.after["version"] == 2
    assert session.scalar(select(AuditLog).where(AuditLog.action == "process_instance.migrate",
                                                 AuditLog.entity_id == str(quotes["at_pa"]))) is None

    # v2's path: 5.5折 is below the new limit of 6折, so the manager's approval now goes on to the assistant
    decide(api, quotes["at_mgr"], "mgr1", "approve")
    inst = api.as_("rep1").get(f"/process-instances/{quotes['at_mgr']}").get_json()
    assert [t["step"] for t in inst["open_tasks"]] == ["pa_approve"]
    decide(api, quotes["at_mgr"], "pa1", "approve")
    assert api.as_("rep1").get(f"/process-instances/{quotes['at_mgr']}").get_json()["status"] == "completed"
    # the instance left on v1 keeps v1's path (4折: on to the vice-president) and finishes too
    decide(api, quotes["at_pa"], "pa1", "approve")
    decide(api, quotes["at_pa"], "vp1", "approve")
    assert api.as_("rep1").get(f"/process-instances/{quotes['at_pa']}").get_json()["status"] == "completed"
    # nothing is left to move
    again = run(api, dry_run=True).get_json()
    assert again["items"] == [] and again["up_to_date"] == 1  # by_mgr, on v2 now


def test_Q1_a_new_quote_under_the_old_limit_stays_on_v1_until_moved(app, api):
    """Q1: before the move a 5.5折 quote on v1 ends at the manager; after the move it would escalate."""
    quote = submit(api, 5500)
    deploy(app, V2_LIMIT)
    decide(api, quote["process_instance_id"], "mgr1", "approve")  # not moved: v1's limit (5折) applies
    assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "approved"


def test_step_removed_in_the_new_version_blocks_the_move_naming_it(app, api, quotes):
    assert deploy(app, V3_RENAMED) == 2
    body = run(api, dry_run=True).get_json()
    items = items_by_id(body)
    at_mgr = items[quotes["at_mgr"]]
    assert at_mgr["can_move"] is False
    assert any(r.startswith("step mgr_approve (部门经理审批) is not in version 2") for r in at_mgr["reasons"]), at_mgr
    assert "mgr_approve" in {p["element"] for p in at_mgr["problems"]}
    # the completed gateway before it was changed as well (it leads to mgr_check now)
    by_mgr = items[quotes["by_mgr"]]
    assert by_mgr["can_move"] is False and any("gw_who" in r for r in by_mgr["reasons"])
    real = run(api, dry_run=False).get_json()
    assert real["moved"] == 0 and real["skipped"] == len(real["items"])
    assert instance_row(app, quotes["at_mgr"]).definition.version == 1


def test_v2_then_v3_instances_on_v2_at_the_renamed_step_cannot_move(app, api, quotes):
    deploy(app, V2_LIMIT)
    assert run(api, dry_run=False).get_json()["moved"] == 2
    deploy(app, V3_RENAMED.replace(b"discount &lt; 0.5<", b"discount &lt; 0.6<"))
    items = items_by_id(run(api).get_json())
    assert items[quotes["at_mgr"]]["from_version"] == 2 and items[quotes["at_mgr"]]["to_version"] == 3
    assert any("mgr_approve" in r and "version 3" in r for r in items[quotes["at_mgr"]]["reasons"])


def test_only_designers_migrate_and_only_in_their_sector(app, api, session, quotes):
    s2_quote = submit(api, 5500, user="rep3")["process_instance_id"]
    deploy(app, V2_LIMIT)
    assert run(api, "rep1").status_code == 403
    assert run(api, "mgr1", dry_run=False).status_code == 403
    assert api.as_("rep1").post("/processes/nope/migrations", json={}).status_code == 403
    assert api.as_("designer1").post("/processes/nope/migrations", json={}).status_code == 404
    # designer3 (sector S2) sees and moves S2 instances only
    d3 = run(api, "designer3").get_json()
    assert set(items_by_id(d3)) == {s2_quote}
    d3_real = run(api, "designer3", dry_run=False, instance_ids=[quotes["at_mgr"], s2_quote]).get_json()
    assert set(items_by_id(d3_real)) == {s2_quote} and d3_real["moved"] == 1
    assert instance_row(app, quotes["at_mgr"]).definition.version == 1
    assert run(api, "designer3", sector_id=sector_id(session, "S1")).status_code == 403
    # designer1 moves the S1 ones, not the S2 one
    d1 = run(api, "designer1", dry_run=False).get_json()
    assert quotes["at_mgr"] in items_by_id(d1) and s2_quote not in items_by_id(d1)
    assert instance_row(app, quotes["at_mgr"]).definition.version == 2
    # the group-level designer sees every sector
    assert set(items_by_id(run(api, "admin").get_json())) == {quotes["at_pa"]}


def test_bad_input_is_422_naming_the_field(api):
    r = run(api, dry_run="yes please")
    assert r.status_code == 422 and "dry_run" in r.get_json()["errors"]
    r = run(api, instance_ids=[0])
    assert r.status_code == 422 and "instance_ids" in r.get_json()["errors"]
    r = run(api, limit=0)
    assert r.status_code == 422 and "limit" in r.get_json()["errors"]
    assert run(api, surprise=1).status_code == 422


def test_one_failing_instance_is_rolled_back_alone_and_reported(app, api, quotes, monkeypatch):
    deploy(app, V2_LIMIT)
    broken = quotes["at_mgr"]
    original = migration._keep_task_rows

    def failing(session, instance, ready):
        original(session, instance, ready)
        if instance.id == broken:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(migration, "_keep_task_rows", failing)
    before = instance_row(app, broken)
    body = run(api, dry_run=False).get_json()
    items = items_by_id(body)
    assert items[broken]["moved"] is False and "disk on fire" in items[broken]["error"]
    assert items[quotes["by_mgr"]]["moved"] is True
    assert (body["moved"], body["failed"]) == (1, 1)
    after = instance_row(app, broken)
    assert (after.state, after.definition_id, after.version) == (before.state, before.definition_id, before.version)
    session = app.extensions["session_factory"]()
    try:
        assert session.scalar(select(InstanceEvent).where(InstanceEvent.instance_id == broken,
                                                          InstanceEvent.kind == "migrated")) is None
    finally:
        session.close()


def test_instances_in_error_or_finished_are_refused_with_a_reason(app, api, quotes):
    deploy(app, V2_LIMIT)
    session = app.extensions["session_factory"]()
    try:
        session.get(ProcessInstance, quotes["by_mgr"]).status = "error"
        session.commit()
    finally:
        session.close()
    items = items_by_id(run(api).get_json())
    assert items[quotes["by_mgr"]]["reasons"] == ["the instance is error: only running instances move"]
    named = items_by_id(run(api, instance_ids=[quotes["done"], quotes["at_mgr"]]).get_json())
    assert set(named) == {quotes["done"], quotes["at_mgr"]}
    assert named[quotes["done"]]["can_move"] is False and "completed" in named[quotes["done"]]["reasons"][0]
    real = run(api, dry_run=False, instance_ids=[quotes["done"], quotes["by_mgr"]]).get_json()
    assert real["moved"] == 0


def test_paging_with_limit_and_after_id(app, api, quotes):
    deploy(app, V2_LIMIT)
    first = run(api, limit=1).get_json()
    assert len(first["items"]) == 1 and first["next_after_id"] == first["items"][0]["instance_id"]
    seen = [first["items"][0]["instance_id"]]
    after = first["next_after_id"]
    while after:
        page = run(api, limit=1, after_id=after).get_json()
        seen += [i["instance_id"] for i in page["items"]]
        after = page["next_after_id"]
    assert sorted(seen) == sorted([quotes["at_mgr"], quotes["at_pa"], quotes["by_mgr"]])


def test_sector_version_is_the_target_for_that_sectors_instances(app, api, session, quotes):
    """A sector's own version takes precedence: S1 instances move to it."""
    s1 = sector_id(session, "S1")
    assert deploy(app, V2_LIMIT, sector_id=s1) == 2
    body = run(api, sector_id=s1).get_json()
    assert body["to"]["version"] == 2
    assert items_by_id(body)[quotes["at_mgr"]]["to_version"] == 2


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302, r.get_data(as_text=True)


def test_page_dry_run_then_move(app, api, client, quotes):
    deploy(app, V2_LIMIT)
    login(client, "designer1")
    r = client.get("/processes/quote_approval/migrate")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "实例迁移" in html and f"instance-{quotes['at_pa']}" in html and "gw_mgr" in html
    assert "已完成的步骤 gw_mgr (经理意见与折扣) 在第 2 版中被修改：条件" in html
    assert f'name="instance_id" value="{quotes["at_mgr"]}"' in html
    assert f'name="instance_id" value="{quotes["at_pa"]}"' not in html
    r = client.post("/processes/quote_approval/migrate",
                    data={"instance_id": [str(quotes["at_mgr"]), str(quotes["by_mgr"]), str(quotes["at_pa"])]})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "迁移完成：已迁移 2 个，不可迁移 1 个，失败 0 个。" in html
    assert instance_row(app, quotes["at_mgr"]).definition.version == 2
    assert instance_row(app, quotes["at_pa"]).definition.version == 1
    assert client.get("/processes/quote_approval/migrate?lang=en").status_code == 200
    assert client.get("/processes/nope/migrate").status_code == 404


def test_page_ignores_odd_numbers_in_the_form(app, client):
    """Unicode digits ("²", "١") pass str.isdigit() but not int(): never a 500."""
    login(client, "designer1")
    assert client.get("/processes/quote_approval/migrate?after_id=%C2%B2&sector_id=%D9%A1").status_code == 200
    assert client.post("/processes/quote_approval/migrate", data={"instance_id": ["²", "-1", "x"]}).status_code == 200


def test_page_is_refused_to_non_designers(app, client):
    login(client, "rep1")
    assert client.get("/processes/quote_approval/migrate").status_code == 403
    assert client.post("/processes/quote_approval/migrate", data={"instance_id": "1"}).status_code == 403


# --- timers: a running timer keeps its deadline ------------------------------------------------------------

TIMER_BPMN = (Path(__file__).resolve().parent / "diagrams" / "timer_escalation.bpmn").read_bytes()


def _start_timer_instance(app, t0):
    from engine import runtime

    session = app.extensions["session_factory"]()
    try:
        clock.freeze(t0)
        definitions.deploy(session, TIMER_BPMN, filename="timer_escalation.bpmn", actor_id=None)
        rep1 = session.scalar(select(User).where(User.username == "rep1"))
        instance = runtime.start_instance(session, "timer_escalation", actor=rep1, data={}, title="timer",
                                          sector_id=rep1.sector_id, department_id=rep1.department_id)
        session.commit()
        return instance.id
    finally:
        session.close()


def _fire(app, at):
    from engine.timers import fire_due_timers

    session = app.extensions["session_factory"]()
    try:
        clock.freeze(at)
        summary = fire_due_timers(session, clock.now())
        session.commit()
        return summary
    finally:
        session.close()


def _migrate_timer(app, api):
    body = api.as_("designer1").post("/processes/timer_escalation/migrations", json={"dry_run": False}).get_json()
    return items_by_id(body)


def test_a_waiting_boundary_timer_keeps_its_deadline_when_moved(app, api):
    t0 = datetime(2027, 3, 1, 9, 0)
    iid = _start_timer_instance(app, t0)
    assert instance_row(app, iid).next_timer_at == t0 + timedelta(days=2)
    row_before = [(t.id, t.spiff_task_id) for t in open_rows(app, iid)]
    clock.freeze(t0 + timedelta(days=1))
    deploy_named(app, TIMER_BPMN.replace(b'"PT1H"', b'"PT2H"'), "timer_escalation.bpmn")  # a later step changed
    assert _migrate_timer(app, api)[iid]["moved"] is True
    moved = instance_row(app, iid)
    assert moved.definition.version == 2
    assert moved.next_timer_at == t0 + timedelta(days=2)  # not restarted at the migration
    assert [(t.id, t.spiff_task_id) for t in open_rows(app, iid)] == row_before
    assert _fire(app, t0 + timedelta(days=2, minutes=1))["fired"] == [iid]
    assert [t.bpmn_id for t in open_rows(app, iid)] == ["escalated"]


def test_a_changed_timer_restarts_on_its_new_duration(app, api):
    t0 = datetime(2027, 3, 1, 9, 0)
    iid = _start_timer_instance(app, t0)
    clock.freeze(t0 + timedelta(days=1))
    deploy_named(app, TIMER_BPMN.replace(b'"P2D"', b'"P3D"'), "timer_escalation.bpmn")
    assert _migrate_timer(app, api)[iid]["moved"] is True
    assert instance_row(app, iid).next_timer_at == t0 + timedelta(days=4)


def deploy_named(app, data: bytes, filename: str) -> None:
    session = app.extensions["session_factory"]()
    try:
        definitions.deploy(session, data, filename=filename, actor_id=None)
        session.commit()
    finally:
        session.close()


# --- the real run re-checks each instance under its lock ---------------------------------------------------

def test_Q1_an_instance_that_moved_on_since_the_dry_run_is_re_checked_under_the_lock(app, api, monkeypatch):
    """Q1: the dry run saw it waiting for the manager; the manager approved (4折 → the assistant) before the
    real run: gw_mgr is done now and was changed in v2, so it stays on v1."""
    iid = submit(api, 4000)["process_instance_id"]
    deploy(app, V2_LIMIT)
    session = app.extensions["session_factory"]()
    designer1 = session.scalar(select(User).where(User.username == "designer1"))
    stale = migration.plan(session, designer1, "quote_approval", instance_ids=[iid])
    session.rollback()
    assert stale.items[0].can_move
    monkeypatch.setattr(migration, "plan", lambda *a, **kw: stale)
    decide(api, iid, "mgr1", "approve")
    session2 = app.extensions["session_factory"]()
    try:
        result = migration.migrate(session2, designer1, "quote_approval", instance_ids=[iid])
    finally:
        session2.close()
        session.close()
    [item] = result.items
    assert item.moved is False and item.can_move is False
    assert [(r.code, r.element) for r in item.reasons] == [("done_changed", "gw_mgr")]
    assert instance_row(app, iid).definition.version == 1


# --- subprocesses are checked and moved like the process itself ------------------------------------------

SUB_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="sub_demo_defs" targetNamespace="http://crm.example.cn/bpmn">
  <bpmn:process id="sub_demo" name="子流程测试" isExecutable="true">
    <bpmn:laneSet id="sub_demo_lanes">
      <bpmn:lane id="lane_mgr" name="部门经理 (dept_manager)">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>sp</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>after</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="sp" name="内部审核">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:laneSet id="sp_lanes">
        <bpmn:lane id="sp_lane_mgr" name="部门经理 (dept_manager)">
          <bpmn:flowNodeRef>sp_start</bpmn:flowNodeRef>
          <bpmn:flowNodeRef>sp_review</bpmn:flowNodeRef>
          <bpmn:flowNodeRef>sp_end</bpmn:flowNodeRef>
        </bpmn:lane>
      </bpmn:laneSet>
      <bpmn:startEvent id="sp_start"><bpmn:outgoing>sf1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="sp_review" name="审核"><bpmn:incoming>sf1</bpmn:incoming><bpmn:outgoing>sf2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="sp_end"><bpmn:incoming>sf2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="sf1" sourceRef="sp_start" targetRef="sp_review" />
      <bpmn:sequenceFlow id="sf2" sourceRef="sp_review" targetRef="sp_end" />
    </bpmn:subProcess>
    <bpmn:userTask id="after" name="确认"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sp" />
    <bpmn:sequenceFlow id="f2" sourceRef="sp" targetRef="after" />
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_a_step_inside_a_subprocess_moves_and_its_task_row_takes_the_new_label(app, api):
    from engine import runtime

    deploy_named(app, SUB_BPMN, "sub_demo.bpmn")
    session = app.extensions["session_factory"]()
    try:
        rep1 = session.scalar(select(User).where(User.username == "rep1"))
        iid = runtime.start_instance(session, "sub_demo", actor=rep1, data={}, title="sub", sector_id=rep1.sector_id,
                                     department_id=rep1.department_id).id
        session.commit()
    finally:
        session.close()
    [row] = open_rows(app, iid)
    assert (row.bpmn_id, row.name) == ("sp_review", "审核")
    deploy_named(app, SUB_BPMN.replace("审核\"".encode(), "内部审核\"".encode()), "sub_demo.bpmn")
    body = api.as_("designer1").post("/processes/sub_demo/migrations", json={"dry_run": False}).get_json()
    assert items_by_id(body)[iid]["moved"] is True
    [moved_row] = open_rows(app, iid)
    assert (moved_row.id, moved_row.spiff_task_id, moved_row.name) == (row.id, row.spiff_task_id, "内部审核")

    deploy_named(app, SUB_BPMN.replace(b'"sp_review"', b'"sp_check"').replace(b">sp_review<", b">sp_check<"),
                 "sub_demo.bpmn")
    item = items_by_id(api.as_("designer1").post("/processes/sub_demo/migrations", json={}).get_json())[iid]
    assert item["can_move"] is False and (item["from_version"], item["to_version"]) == (2, 3)
    assert item["reasons"][0] == "step sp_review (内部审核) is not in version 3 (its place there is taken by sp_check (审核))"


def test_Q1_a_step_sent_back_to_the_submitter_stays_with_him_when_moved(app, api):
    """Q1: 驳回 to the submitter parks the manager's step with the rep; after the move he resubmits and the
    manager's approval follows v2's limit."""
    iid = submit(api, 5500)["process_instance_id"]
    task = open_task(api, iid, "mgr1")
    r = api.as_("mgr1").post(f"/tasks/{task['id']}/send-back", json={"target": "submitter", "comment": "重新核价"})
    assert r.status_code == 200, r.get_json()
    [parked] = open_rows(app, iid)
    assert parked.kind == "resubmit"
    deploy(app, V2_LIMIT)
    assert items_by_id(run(api, dry_run=False).get_json())[iid]["moved"] is True
    [kept] = open_rows(app, iid)
    assert (kept.id, kept.kind, kept.assignee_id, kept.spiff_task_id) == (
        parked.id, "resubmit", parked.assignee_id, parked.spiff_task_id)
    assert api.as_("rep1").post(f"/tasks/{kept.id}/resubmit", json={"comment": "已核"}).status_code == 200
    decide(api, iid, "mgr1", "approve")
    assert [t["step"] for t in api.as_("rep1").get(f"/process-instances/{iid}").get_json()["open_tasks"]] == [
        "pa_approve"]
