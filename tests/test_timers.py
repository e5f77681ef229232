"""BPMN timers fired by the "timers" job, the "task-deadlines" job, the in-process scheduler and its lease.

Real SQLite and PostgreSQL (TEST_DB); time is moved with models.clock, never slept on. The Celery worker
test is tests/test_celery_worker.py.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import definitions, jobs, runtime
from engine.safe_xml import DiagramError
from engine.scheduler import Scheduler, enabled
from engine.timers import fire_due_timers, spiff_now, timers_as_of
from models import clock, job_lease, settings
from models.audit import AuditLog
from models.notifications import Notification
from models.org import Sector, User
from models.process import HumanTask, InstanceEvent, ProcessInstance
from tests.conftest import run_in_parallel

DIAGRAMS = Path(__file__).parent / "diagrams"
# The demo data runs processes of its own (lead routing with timers and due dates): the tests look only at
# the instances and tasks of their own diagrams.
TEST_KEYS = ("timer_escalation", "timer_date", "task_deadline")
T0 = datetime(2027, 3, 1, 9, 0)  # a Monday; 2027 has no holiday rows, so working days are Mon-Fri


@pytest.fixture(autouse=True)
def frozen(app):  # after the app fixture, which resets the clock
    clock.freeze(T0)
    yield
    clock.reset()


def user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def deploy(session, name: str, replace: tuple[str, str] | None = None) -> None:
    data = (DIAGRAMS / f"{name}.bpmn").read_bytes()
    if replace:
        data = data.replace(replace[0].encode(), replace[1].encode())
    definitions.deploy(session, data, filename=f"{name}.bpmn", actor_id=None)
    session.commit()


def start(session, key: str, starter: str = "rep1", **data) -> int:
    u = user(session, starter)
    instance = runtime.start_instance(session, key, actor=u, data=data, title=f"{key} test",
                                      sector_id=u.sector_id, department_id=u.department_id)
    session.commit()
    return instance.id


def fresh(session) -> None:
    session.rollback()
    session.expire_all()


def instance(session, iid: int) -> ProcessInstance:
    fresh(session)
    return session.get(ProcessInstance, iid)


def open_steps(session, iid: int) -> list[str]:
    fresh(session)
    return sorted(session.scalars(select(HumanTask.bpmn_id).where(HumanTask.instance_id == iid,
                                                                  HumanTask.status == "open")))


def events(session, iid: int, kind: str) -> list[InstanceEvent]:
    fresh(session)
    return list(session.scalars(select(InstanceEvent).where(InstanceEvent.instance_id == iid,
                                                            InstanceEvent.kind == kind).order_by(InstanceEvent.id)))


def ours(session, instance_ids) -> list[int]:
    """The ids among `instance_ids` that are instances of this file's diagrams."""
    ids = list(instance_ids)
    if not ids:
        return []
    keep = set(session.scalars(select(ProcessInstance.id).where(ProcessInstance.id.in_(ids),
                                                                ProcessInstance.process_key.in_(TEST_KEYS))))
    return [i for i in ids if i in keep]


def fire(session, at: datetime) -> dict:
    """Run the timers job as of `at`; its summary limited to this file's instances."""
    clock.freeze(at)
    summary = fire_due_timers(session, clock.now())
    session.commit()
    errors = {int(k): v for k, v in summary["errors"].items()}
    return {**summary, "fired": ours(session, summary["fired"]),
            "errors": {k: errors[k] for k in ours(session, errors)}}


# --- boundary and intermediate timers ----------------------------------------------------------------------

def test_boundary_timer_P2D_escalates_once_after_the_deadline_and_not_before(session):
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    # The deadline is computed from our clock (frozen in 2027), not from the machine's time.
    assert instance(session, iid).next_timer_at == T0 + timedelta(days=2)
    assert open_steps(session, iid) == ["approve"]

    assert fire(session, T0 + timedelta(days=1))["fired"] == []
    assert fire(session, T0 + timedelta(days=2) - timedelta(seconds=1))["fired"] == []
    assert open_steps(session, iid) == ["approve"] and events(session, iid, "timer_fired") == []

    summary = fire(session, T0 + timedelta(days=2, minutes=1))
    assert summary["fired"] == [iid] and summary["errors"] == {}
    assert open_steps(session, iid) == ["escalated"]  # the interrupting timer cancelled the manager's step
    [fired] = events(session, iid, "timer_fired")
    assert fired.bpmn_id == "approve_timeout" and fired.task_name == "两天未审批"
    assert fired.at == T0 + timedelta(days=2, minutes=1)
    assert [e.bpmn_id for e in events(session, iid, "task_cancelled")] == ["approve"]
    assert instance(session, iid).next_timer_at is None
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "process.timer_fired", AuditLog.entity_id == str(iid))) == 1

    # Later runs find nothing to fire: exactly once.
    assert fire(session, T0 + timedelta(days=5))["fired"] == []
    assert len(events(session, iid, "timer_fired")) == 1
    assert open_steps(session, iid) == ["escalated"]


def test_the_instance_history_page_shows_the_timer_and_the_escalation(session, client):
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    fire(session, T0 + timedelta(days=3))
    client.post("/login", data={"username": "rep1", "password": "demo12345"})
    page = client.get(f"/processes/instances/{iid}").get_data(as_text=True)
    assert "定时触发 · 两天未审批" in page and "副总裁审批（超时）" in page


def test_intermediate_timer_waits_an_hour_then_the_process_ends(session):
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open"))
    clock.freeze(T0 + timedelta(hours=3))
    runtime.complete_task(session, task_id, user(session, "mgr1"), {"decision": "approve"})
    session.commit()
    inst = instance(session, iid)
    assert inst.status == "running" and open_steps(session, iid) == []
    assert inst.next_timer_at == T0 + timedelta(hours=4)  # the boundary timer went with the task: only PT1H left

    assert fire(session, T0 + timedelta(hours=3, minutes=59))["fired"] == []
    assert instance(session, iid).status == "running"
    assert fire(session, T0 + timedelta(hours=4, seconds=1))["fired"] == [iid]
    inst = instance(session, iid)
    assert inst.status == "completed" and inst.next_timer_at is None
    assert [e.bpmn_id for e in events(session, iid, "timer_fired")] == ["cool_down"]
    # the boundary timer of the completed step never fires
    assert fire(session, T0 + timedelta(days=10))["fired"] == []
    assert [e.bpmn_id for e in events(session, iid, "timer_fired")] == ["cool_down"]


def test_time_date_timer_from_task_data_with_an_offset(session):
    """A timeDate expression (here a task-data variable) with +08:00 is stored and fired in UTC."""
    deploy(session, "timer_date")
    iid = start(session, "timer_date", wake_at="2027-03-05T09:00:00+08:00", divisor=1)
    assert instance(session, iid).next_timer_at == datetime(2027, 3, 5, 1, 0)
    assert fire(session, datetime(2027, 3, 5, 0, 59))["fired"] == []
    assert fire(session, datetime(2027, 3, 5, 1, 1))["fired"] == [iid]
    assert open_steps(session, iid) == ["look"]


def test_time_date_literal_deploys_and_fires(session):
    deploy(session, "timer_date", replace=(">wake_at</bpmn:timeDate>", '>"2027-03-02T08:00:00Z"</bpmn:timeDate>'))
    iid = start(session, "timer_date", divisor=1)
    assert instance(session, iid).next_timer_at == datetime(2027, 3, 2, 8, 0)
    assert fire(session, datetime(2027, 3, 2, 8, 1))["fired"] == [iid]


def test_non_interrupting_cycle_timer_fires_each_round_then_stops(session):
    """timeCycle "R2/PT1H" on a non-interrupting boundary: two reminders an hour apart, the step stays open."""
    data = ((DIAGRAMS / "timer_escalation.bpmn").read_bytes().replace(b'cancelActivity="true"', b'cancelActivity="false"')
            .replace(b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression" '
                     b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"P2D"</bpmn:timeDuration>',
                     b'<bpmn:timeCycle xsi:type="bpmn:tFormalExpression" '
                     b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"R2/PT1H"</bpmn:timeCycle>'))
    definitions.deploy(session, data, filename="timer_escalation.bpmn", actor_id=None)
    session.commit()
    iid = start(session, "timer_escalation")
    assert instance(session, iid).next_timer_at == T0 + timedelta(hours=1)
    assert fire(session, T0 + timedelta(minutes=59))["fired"] == []
    assert fire(session, T0 + timedelta(hours=1, minutes=1))["fired"] == [iid]
    assert open_steps(session, iid) == ["approve", "escalated"]
    assert instance(session, iid).next_timer_at == T0 + timedelta(hours=2)
    assert fire(session, T0 + timedelta(hours=2, minutes=1))["fired"] == [iid]
    assert open_steps(session, iid) == ["approve", "escalated", "escalated"]
    assert instance(session, iid).next_timer_at is None  # two rounds, done
    assert fire(session, T0 + timedelta(days=9))["fired"] == []
    assert len(events(session, iid, "timer_fired")) == 2


def test_unquoted_timer_duration_is_refused_at_deploy_with_the_fix(session):
    data = (DIAGRAMS / "timer_escalation.bpmn").read_bytes().replace(b'>"P2D"<', b">P2D<")
    with pytest.raises(DiagramError) as err:
        definitions.deploy(session, data, filename="timer_escalation.bpmn", actor_id=None)
    assert any(e["element"].startswith("approve_timeout") and '"P2D"' in e["message"] for e in err.value.errors)


def test_spiff_sees_the_injected_clock_and_the_jobs_as_of():
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

    assert spiff_now() == T0
    assert spiff_timer.datetime.now(spiff_timer.timezone.utc).replace(tzinfo=None) == T0
    with timers_as_of(T0 + timedelta(days=9)):
        assert spiff_timer.datetime.now(spiff_timer.timezone.utc).replace(tzinfo=None) == T0 + timedelta(days=9)
    assert spiff_now() == T0
    assert isinstance(datetime(2020, 1, 1), spiff_timer.datetime)  # the library's isinstance checks still hold


def test_crm_jobs_run_timers_as_of_a_later_date_fires(session):
    """`crm jobs run timers --as-of …` fires what is due by then, although the clock says earlier."""
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    summary = jobs.run(session, "timers", T0 + timedelta(days=3))
    session.commit()
    assert summary["fired"] == [iid] and open_steps(session, iid) == ["escalated"]


# --- failures and concurrency --------------------------------------------------------------------------------

def test_a_failing_instance_is_marked_error_and_the_others_still_fire(session):
    deploy(session, "timer_date")
    broken = start(session, "timer_date", wake_at="2027-03-02T00:00:00+00:00", divisor=0)
    good = start(session, "timer_date", wake_at="2027-03-02T00:00:00+00:00", divisor=1)
    summary = fire(session, datetime(2027, 3, 2, 1, 0))
    assert summary["fired"] == [good]
    assert list(summary["errors"]) == [broken] and "ZeroDivisionError" in summary["errors"][broken]
    inst = instance(session, broken)
    assert inst.status == "error" and "ZeroDivisionError" in inst.error
    assert open_steps(session, good) == ["look"] and open_steps(session, broken) == []
    [failed] = events(session, broken, "timer_failed")
    assert "ZeroDivisionError" in failed.comment
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "process.timer_failed",
                                                  AuditLog.entity_id == str(broken)))
    assert audit.after["status"] == "error" and audit.before == {"status": "running"}
    # nothing of the failed step was kept (its transaction was rolled back) and it is not retried
    assert events(session, broken, "timer_fired") == []
    assert fire(session, datetime(2027, 3, 3))["errors"] == {}


def test_several_concurrent_workers_fire_each_timer_exactly_once(app, session):
    deploy(session, "timer_escalation")
    ids = [start(session, "timer_escalation", starter=name) for name in ("rep1", "rep2", "rep1", "rep3", "rep2")]
    as_of = T0 + timedelta(days=2, hours=1)
    clock.freeze(as_of)
    results = run_in_parallel(app.extensions["session_factory"], lambda s: fire_due_timers(s, as_of), workers=4)
    assert not [r for r in results if isinstance(r, Exception)], results
    fired = ours(session, [iid for r in results for iid in r["fired"]])
    assert sorted(fired) == sorted(ids)  # every instance fired, none twice
    fresh(session)
    per_instance = dict(session.execute(
        select(InstanceEvent.instance_id, func.count()).where(InstanceEvent.kind == "timer_fired",
                                                              InstanceEvent.instance_id.in_(ids))
        .group_by(InstanceEvent.instance_id)).all())
    assert per_instance == dict.fromkeys(ids, 1)
    escalated = dict(session.execute(
        select(HumanTask.instance_id, func.count()).where(HumanTask.bpmn_id == "escalated")
        .group_by(HumanTask.instance_id)).all())
    assert escalated == dict.fromkeys(ids, 1)


def test_concurrent_workers_on_one_instance_fire_once(app, session):
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    as_of = T0 + timedelta(days=3)
    clock.freeze(as_of)
    results = run_in_parallel(app.extensions["session_factory"], lambda s: fire_due_timers(s, as_of), workers=3)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert ours(session, [i for r in results for i in r["fired"]]) == [iid]
    assert len(events(session, iid, "timer_fired")) == 1
    assert open_steps(session, iid) == ["escalated"]


# --- task due dates: reminder and escalation ---------------------------------------------------------------------

def our_links(session) -> list[str]:
    """Task links of this file's due-date diagram (the demo's own tasks have due dates too)."""
    return [f"/tasks/{t}" for t in session.scalars(
        select(HumanTask.id).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(ProcessInstance.process_key == "task_deadline"))]


def notified(session, kind: str) -> dict[str, list[str]]:
    """title -> usernames notified, for notifications of `kind` about this file's tasks."""
    fresh(session)
    rows = session.execute(select(Notification.title, User.username).join(User, User.id == Notification.user_id)
                           .where(Notification.kind == kind, Notification.link.in_(our_links(session)))
                           .order_by(User.username)).all()
    out: dict[str, list[str]] = {}
    for title, username in rows:
        out.setdefault(title, []).append(username)
    return out


def our_tasks(session, task_ids) -> list[int]:
    keep = {int(link.rsplit("/", 1)[1]) for link in our_links(session)}
    return [t for t in task_ids if t in keep]


def deadlines(session, at: datetime) -> dict:
    """Run the task-deadlines job as of `at`; its summary limited to this file's tasks."""
    clock.freeze(at)
    summary = jobs.run(session, "task-deadlines", at)
    session.commit()
    reminded, escalated = our_tasks(session, summary["reminded_tasks"]), our_tasks(session, summary["escalated_tasks"])
    return {**summary, "reminded_tasks": reminded, "escalated_tasks": escalated,
            "reminded": len(reminded), "escalated": len(escalated)}


def test_due_date_in_working_days_reminds_once_then_escalates_once(session):
    deploy(session, "task_deadline")
    iid = start(session, "task_deadline")
    task = session.scalar(select(HumanTask).where(HumanTask.instance_id == iid))
    assert task.due_at == datetime(2027, 3, 3, 9, 0) and task.escalate_to == "vice_president"

    assert deadlines(session, T0 + timedelta(hours=1))["reminded"] == 0  # due in 47 h: not yet
    summary = deadlines(session, datetime(2027, 3, 2, 10, 0))  # due in 23 h (remind 24 h before)
    assert summary["reminded_tasks"] == [task.id] and summary["escalated"] == 0
    # the unclaimed manager's step reminds the managers of its department only
    assert notified(session, "reminder") == {"待办即将到期：限期审批": ["mgr1"]}
    assert deadlines(session, datetime(2027, 3, 2, 11, 0))["reminded"] == 0  # once
    assert len(notified(session, "reminder")["待办即将到期：限期审批"]) == 1

    assert deadlines(session, datetime(2027, 3, 3, 8, 59))["escalated"] == 0
    summary = deadlines(session, datetime(2027, 3, 3, 9, 30))
    assert summary["escalated_tasks"] == [task.id]
    # the vice-president of the sector (escalate_to) and the manager who can act; nobody else
    assert notified(session, "escalation") == {"待办已超期：限期审批": ["mgr1", "vp1"]}
    assert deadlines(session, datetime(2027, 3, 4, 9, 30))["escalated"] == 0  # once
    fresh(session)
    task = session.get(HumanTask, task.id)
    assert task.reminded_at == datetime(2027, 3, 2, 10, 0) and task.escalated_at == datetime(2027, 3, 3, 9, 30)
    assert [e.kind for e in events(session, iid, "reminded") + events(session, iid, "escalated")] == [
        "reminded", "escalated"]
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "task.escalate", AuditLog.entity_id == str(task.id))) == 1


def test_due_date_notifications_go_to_the_assignee_and_the_escalation_role(session):
    deploy(session, "task_deadline")
    asst = user(session, "asst1")
    iid = start(session, "task_deadline", owner_id=asst.id)  # assigned explicitly to one user
    task = session.scalar(select(HumanTask).where(HumanTask.instance_id == iid))
    assert task.assignee_id == asst.id
    deadlines(session, datetime(2027, 3, 2, 12, 0))
    assert notified(session, "reminder") == {"待办即将到期：限期审批": ["asst1"]}
    deadlines(session, datetime(2027, 3, 3, 12, 0))
    assert notified(session, "escalation") == {"待办已超期：限期审批": ["asst1", "vp1"]}


def test_due_date_reminder_reaches_the_delegate_but_not_on_his_own_request(session):
    from models.task_extras import Delegation

    deploy(session, "task_deadline")
    mgr1, rep2 = user(session, "mgr1"), user(session, "rep2")
    session.add(Delegation(delegator_id=mgr1.id, delegate_id=rep2.id, sector_id=mgr1.sector_id,
                           starts_on=date(2027, 3, 1), ends_on=date(2027, 3, 10), created_by=mgr1.id))
    session.commit()
    others = start(session, "task_deadline", starter="rep1")
    own = start(session, "task_deadline", starter="rep2")  # rep2 may not approve his own request
    deadlines(session, datetime(2027, 3, 2, 12, 0))
    fresh(session)
    task_of = dict(session.execute(select(HumanTask.instance_id, HumanTask.id)).all())
    sent = sorted(session.execute(select(Notification.link, User.username).join(User, User.id == Notification.user_id)
                                  .where(Notification.kind == "reminder",
                                         Notification.link.in_(our_links(session)))).all())
    assert sent == sorted([(f"/tasks/{task_of[others]}", "mgr1"), (f"/tasks/{task_of[others]}", "rep2"),
                           (f"/tasks/{task_of[own]}", "mgr1")])


def test_escalation_falls_back_to_the_department_manager_when_nobody_holds_the_role(session):
    deploy(session, "task_deadline")
    iid = start(session, "task_deadline", starter="rep3")  # sector S2 has no vice-president
    rep3 = user(session, "rep3")
    other = start(session, "task_deadline", starter="rep3", owner_id=rep3.id)
    summary = deadlines(session, datetime(2027, 3, 4))
    assert summary["escalated"] == 2
    fresh(session)
    by_user = sorted(session.execute(select(User.username, Notification.link).join(User, User.id == Notification.user_id)
                                     .where(Notification.kind == "escalation",
                                            Notification.link.in_(our_links(session)))).all())
    task_ids = dict(session.execute(select(HumanTask.instance_id, HumanTask.id)).all())
    unassigned = f"/tasks/{task_ids[iid]}"
    assigned = f"/tasks/{task_ids[other]}"
    assert by_user == sorted([("mgr3", unassigned), ("mgr3", assigned), ("rep3", assigned)])


def test_remind_hours_before_is_a_sector_setting(session):
    deploy(session, "task_deadline")
    s1 = session.scalar(select(Sector.id).where(Sector.code == "S1"))
    settings.put(session, "task.remind_hours_before", 48, sector_id=s1, actor_id=None)
    session.commit()
    start(session, "task_deadline")           # S1: reminded 48 h before
    start(session, "task_deadline", starter="rep3")  # S2: the default 24 h
    summary = deadlines(session, T0 + timedelta(hours=1))  # both due in 47 h
    assert summary["reminded"] == 1
    assert notified(session, "reminder") == {"待办即将到期：限期审批": ["mgr1"]}


def test_completed_tasks_are_neither_reminded_nor_escalated(session):
    deploy(session, "task_deadline")
    iid = start(session, "task_deadline")
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    runtime.complete_task(session, task_id, user(session, "mgr1"), {"decision": "approve"})
    session.commit()
    summary = deadlines(session, datetime(2027, 3, 10))
    assert summary["reminded"] == 0 and summary["escalated"] == 0
    assert notified(session, "escalation") == {}


def test_concurrent_deadline_jobs_escalate_once(app, session):
    deploy(session, "task_deadline")
    for name in ("rep1", "rep2", "rep3"):
        start(session, "task_deadline", starter=name)
    as_of = datetime(2027, 3, 5)
    clock.freeze(as_of)
    results = run_in_parallel(app.extensions["session_factory"],
                              lambda s: (jobs.run(s, "task-deadlines", as_of), s.commit())[0], workers=3)
    assert not [r for r in results if isinstance(r, Exception)], results
    escalated = our_tasks(session, [t for r in results for t in r["escalated_tasks"]])
    assert len(escalated) == len(set(escalated)) == 3
    fresh(session)
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "escalation", Notification.link.in_(our_links(session)))) == 2 + 2 + 1  # mgr1+vp1 ×2, mgr3


# --- the in-process scheduler ---------------------------------------------------------------------------------

def test_scheduler_runs_the_timers_job_and_stops(app, session):
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    clock.freeze(T0 + timedelta(days=3))
    scheduler = Scheduler(app.extensions["session_factory"], {"timers": 0.05}, tick=0.02).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not events(session, iid, "timer_fired"):
            time.sleep(0.05)
    finally:
        scheduler.stop(timeout=30)
    assert not scheduler.running
    assert scheduler.runs["timers"] >= 1
    assert open_steps(session, iid) == ["escalated"]
    assert len(events(session, iid, "timer_fired")) == 1


def test_two_schedulers_do_not_run_the_same_job_at_once(app):
    factory = app.extensions["session_factory"]
    first = Scheduler(factory, {"task-deadlines": 60}, holder="node-a")
    second = Scheduler(factory, {"task-deadlines": 60}, holder="node-b")
    assert first.run_pending() == ["task-deadlines"]
    assert second.run_pending() == []  # the lease is node-a's for the interval
    session = factory()
    try:
        job_lease.release(session, "task-deadlines", "node-a")
    finally:
        session.close()
    second.next_run["task-deadlines"] = 0
    assert second.run_pending() == ["task-deadlines"]


def test_lease_is_renewed_by_its_holder_and_taken_over_when_expired(app):
    session = app.extensions["session_factory"]()
    try:
        assert job_lease.acquire(session, "x", "a", timedelta(minutes=5))
        assert job_lease.acquire(session, "x", "a", timedelta(minutes=5))  # renewal
        assert not job_lease.acquire(session, "x", "b", timedelta(minutes=5))
        assert job_lease.acquire(session, "y", "b", timedelta(seconds=-1))  # already expired
        assert job_lease.acquire(session, "y", "a", timedelta(minutes=5))
    finally:
        session.close()


def test_scheduler_switch_and_serve_start(app, monkeypatch):
    from web.cli import _start_scheduler

    assert enabled(None) and enabled("on") and not enabled("off") and not enabled("0")
    app.config["CRM_SCHEDULER"] = "off"
    assert _start_scheduler(app) is None
    app.config["CRM_SCHEDULER"] = "on"
    scheduler = _start_scheduler(app)
    try:
        assert scheduler.running
        assert set(scheduler.schedule) == {"timers", "task-deadlines", "public-pool", "activity-flags",
                                           "closure-flags", "monthly-stats", "monthly-ranking", "login-watch",
                                           "manager-digest"}
        assert scheduler.schedule["timers"] == 30 and scheduler.schedule["task-deadlines"] == 300
    finally:
        scheduler.stop()
    assert not scheduler.running
