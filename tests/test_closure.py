"""F2: opportunity closure. Won/lost (or invalid) → the owner closes it within one working day on the Chinese
calendar (holidays and make-up workdays), the department manager or assistant confirms; late closures are flagged
(at closing, and by the closure-flags job for closures never closed). Closed opportunities are read-only except
for sales management (E4 owner-only progress still holds)."""
from __future__ import annotations

import io
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine import jobs
from models import activity_flags, clock
from models.closures import OpportunityClosure
from models.flags import Flag
from models.org import User
from models.process import HumanTask, ProcessInstance

BEFORE_NATIONAL_DAY = datetime(2026, 9, 30, 15, 0)  # Wednesday; 10-01..10-07 are holidays


def at(api, when: datetime) -> None:
    clock.freeze(when)
    api._tokens.clear()  # bearer tokens expire; log in again at the new time


def rep1_opportunity(api) -> dict:
    items = api.as_("rep1").get("/opportunities?mine=true").get_json()["items"]
    return next(o for o in items if o["status"] == "open")


def move(api, opp, stage, user="rep1"):
    return api.as_(user).post(f"/opportunities/{opp['id']}/stage", json={"stage_code": stage})


def state(api, opp, user="rep1"):
    r = api.as_(user).get(f"/opportunities/{opp['id']}/closure")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def close(api, opp, user="rep1", **body):
    return api.as_(user).post(f"/opportunities/{opp['id']}/close", json=body)


def complete(api, task_id, user, decision, comment=None):
    return api.as_(user).post(f"/tasks/{task_id}/complete", json={"data": {"decision": decision}, "comment": comment})


def late_flags(session, opp) -> list[Flag]:
    session.expire_all()
    return list(session.scalars(select(Flag).where(Flag.kind == "late_closure", Flag.entity_type == "opportunity",
                                                   Flag.entity_id == opp["id"])))


def won_at_national_day(api) -> dict:
    at(api, BEFORE_NATIONAL_DAY)
    opp = rep1_opportunity(api)
    r = move(api, opp, "won")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "won"
    return opp


def test_F2_won_starts_the_closure_with_the_owner_due_one_working_day_later_across_national_day(api):
    opp = won_at_national_day(api)
    st = state(api, opp)["closure"]
    assert st["status"] == "closing" and st["stage_code"] == "won"
    # one working day after 2026-09-30 15:00: 10-01..10-07 are holidays, so 2026-10-08 15:00
    assert st["due_at"].startswith("2026-10-08T15:00")
    tasks = api.as_("rep1").get("/tasks?scope=mine").get_json()["items"]
    mine = [t for t in tasks if t["id"] == st["open_task_id"]]
    assert mine and mine[0]["name"] == "关闭销售机会"


def test_F2_lost_starts_a_closure_too(api):
    at(api, BEFORE_NATIONAL_DAY)
    opp = rep1_opportunity(api)
    assert move(api, opp, "lost").status_code == 200
    assert state(api, opp)["closure"]["status"] == "closing"


def test_F2_only_the_owner_closes(api, session):
    opp = won_at_national_day(api)
    task_id = state(api, opp)["closure"]["open_task_id"]
    # the manager sees the opportunity but may not close it for the owner (E4)
    assert close(api, opp, "mgr1", outcome="won").status_code == 403
    r = api.as_("mgr1").post(f"/tasks/{task_id}/complete", json={"data": {"outcome": "won"}})
    assert r.status_code in (403, 404)  # not his task: he is no candidate for it
    # another rep of the department does not even see it; the other sector neither
    assert close(api, opp, "rep2", outcome="won").status_code == 404
    assert close(api, opp, "rep3", outcome="won").status_code == 404
    assert state(api, opp)["closure"]["status"] == "closing"


def test_F2_reason_is_required_for_lost_and_invalid(api):
    at(api, BEFORE_NATIONAL_DAY)
    opp = rep1_opportunity(api)
    assert move(api, opp, "lost").status_code == 200
    r = close(api, opp, outcome="lost", reason="  ")
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = close(api, opp, outcome="won")  # the outcome must match the stage
    assert r.status_code == 422 and "outcome" in r.get_json()["errors"]
    assert state(api, opp)["closure"]["status"] == "closing"


def test_F2_on_time_closure_is_confirmed_by_the_manager_and_not_flagged(api, session):
    opp = won_at_national_day(api)
    at(api, datetime(2026, 10, 8, 14, 0))  # before the deadline (first working day after the holiday)
    r = close(api, opp, outcome="won", contract_ref="HT-2026-001")
    assert r.status_code == 200, r.get_json()
    st = r.get_json()["closure"]
    assert st["status"] == "confirming" and st["late"] is False and st["contract_ref"] == "HT-2026-001"
    assert not late_flags(session, opp)
    # the assistant's lane: the owner is no candidate, the manager of the department is
    confirm = st["open_task_id"]
    assert complete(api, confirm, "rep1", "approve").status_code == 403
    assert complete(api, confirm, "mgr3", "approve").status_code == 404
    r = complete(api, confirm, "mgr1", "approve", "确认赢单")
    assert r.status_code == 200, r.get_json()
    st = state(api, opp)["closure"]
    assert st["status"] == "confirmed" and st["confirmed_by"] is not None


def test_F2_closed_after_the_deadline_is_late_and_flagged_for_the_manager(api, session):
    opp = won_at_national_day(api)
    at(api, datetime(2026, 10, 8, 16, 0))  # one hour past the deadline
    r = close(api, opp, outcome="won")
    assert r.status_code == 200
    assert r.get_json()["closure"]["late"] is True
    flags = late_flags(session, opp)
    assert len(flags) == 1 and flags[0].user_id == session.scalar(select(User.id).where(User.username == "rep1"))
    # shown in the manager's flag view (team scope), not to the other sector's manager
    mgr1 = session.scalar(select(User).where(User.username == "mgr1"))
    mgr3 = session.scalar(select(User).where(User.username == "mgr3"))
    kinds = [f.kind for f, _n in activity_flags.list_flags(session, mgr1, mine=False, kind="late_closure",
                                                            open_only=True, limit=50, offset=0)]
    assert kinds == ["late_closure"]
    assert not activity_flags.list_flags(session, mgr3, mine=False, kind="late_closure", open_only=True, limit=50,
                                         offset=0)


def test_F2_make_up_workday_counts_as_a_working_day(api, session):
    """Friday 2026-10-09 10:00 → the next working day is Saturday 2026-10-10 (国庆调休), not Monday."""
    at(api, datetime(2026, 10, 9, 10, 0))
    opp = rep1_opportunity(api)
    assert move(api, opp, "lost").status_code == 200
    assert state(api, opp)["closure"]["due_at"].startswith("2026-10-10T10:00")
    at(api, datetime(2026, 10, 12, 9, 0))  # Monday 09:00: on time only if Saturday were not a working day
    r = close(api, opp, outcome="lost", reason="客户预算取消", winner="用友")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["closure"]["late"] is True and r.get_json()["closure"]["winner"] == "用友"
    assert len(late_flags(session, opp)) == 1


def test_F2_make_up_workday_closure_on_saturday_is_on_time(api, session):
    at(api, datetime(2026, 10, 9, 10, 0))
    opp = rep1_opportunity(api)
    assert move(api, opp, "won").status_code == 200
    at(api, datetime(2026, 10, 10, 9, 30))
    r = close(api, opp, outcome="won")
    assert r.status_code == 200 and r.get_json()["closure"]["late"] is False
    assert not late_flags(session, opp)


def test_F2_assistant_returns_it_to_the_owner_who_closes_again(api):
    opp = won_at_national_day(api)
    at(api, datetime(2026, 10, 8, 9, 0))
    st = close(api, opp, outcome="won").get_json()["closure"]
    r = complete(api, st["open_task_id"], "asst1", "return", "请补充合同编号")
    assert r.status_code == 200, r.get_json()
    st = state(api, opp)["closure"]
    assert st["status"] == "closing" and st["open_task_id"]
    r = close(api, opp, outcome="won", contract_ref="HT-2026-009")
    assert r.status_code == 200 and r.get_json()["closure"]["status"] == "confirming"
    assert complete(api, r.get_json()["closure"]["open_task_id"], "asst1", "approve").status_code == 200
    assert state(api, opp)["closure"]["status"] == "confirmed"


def test_F2_closed_opportunity_is_read_only_except_for_sales_management(api):
    opp = won_at_national_day(api)
    at(api, datetime(2026, 10, 8, 9, 0))
    st = close(api, opp, outcome="won").get_json()["closure"]
    # while confirming, the owner cannot change it any more
    assert move(api, opp, "signing").status_code == 403
    assert complete(api, st["open_task_id"], "mgr1", "approve").status_code == 200
    assert move(api, opp, "signing").status_code == 403
    upload = api.as_("rep1").post(f"/opportunities/{opp['id']}/attachments",
                                  data={"file": (io.BytesIO(b"minutes"), "minutes.txt")},
                                  content_type="multipart/form-data")
    assert upload.status_code == 403
    assert api.as_("mgr1").post(f"/opportunities/{opp['id']}/reopen", json={"stage_code": "signing"}).status_code == 403
    r = api.as_("salesmgmt1").post(f"/opportunities/{opp['id']}/reopen", json={"stage_code": "won"})
    assert r.status_code == 422 and "stage_code" in r.get_json()["errors"]
    r = api.as_("salesmgmt1").post(f"/opportunities/{opp['id']}/reopen", json={"stage_code": "signing"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["opportunity_status"] == "open" and r.get_json()["closure"]["status"] == "reopened"
    assert move(api, opp, "bid").status_code == 200


def test_F2_moving_back_to_an_open_stage_cancels_a_closure_still_with_the_owner(api, session):
    opp = won_at_national_day(api)
    task_id = state(api, opp)["closure"]["open_task_id"]
    assert move(api, opp, "signing").status_code == 200
    st = state(api, opp)["closure"]
    assert st["status"] == "cancelled"
    session.expire_all()
    assert session.get(HumanTask, task_id).status == "cancelled"
    assert session.get(ProcessInstance, st["process_instance_id"]).status == "cancelled"
    assert move(api, opp, "won").status_code == 200  # a new closure
    assert state(api, opp)["closure"]["status"] == "closing"


def test_F2_owner_marks_an_open_opportunity_invalid(api):
    at(api, BEFORE_NATIONAL_DAY)
    opp = rep1_opportunity(api)
    r = close(api, opp, outcome="invalid")
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    assert state(api, opp)["opportunity_status"] == "open"  # nothing written
    r = close(api, opp, outcome="invalid", reason="重复录入的销售机会")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["opportunity_status"] == "lost" and body["stage_code"] == "lost"
    assert body["closure"]["outcome"] == "invalid" and body["closure"]["status"] == "confirming"


def test_F2_job_flags_closures_never_closed_once(api, session):
    opp = won_at_national_day(api)
    as_of = datetime(2026, 10, 8, 15, 30)
    assert jobs.run(session, "closure-flags", datetime(2026, 10, 8, 14, 0))["flagged"] == 0
    assert jobs.run(session, "closure-flags", as_of)["flagged"] == 1
    session.commit()
    assert jobs.run(session, "closure-flags", as_of)["flagged"] == 0  # idempotent
    session.commit()
    assert len(late_flags(session, opp)) == 1
    assert session.scalar(select(OpportunityClosure.late).where(OpportunityClosure.opportunity_id == opp["id"]))
    # closing later keeps it late and raises no second flag
    at(api, datetime(2026, 10, 9, 9, 0))
    r = close(api, opp, outcome="won")
    assert r.status_code == 200 and r.get_json()["closure"]["late"] is True
    assert len(late_flags(session, opp)) == 1


@pytest.mark.parametrize("user", ["rep3", "mgr3"])
def test_F2_other_sector_gets_404(api, user):
    opp = won_at_national_day(api)
    assert api.as_(user).get(f"/opportunities/{opp['id']}/closure").status_code == 404
    assert close(api, opp, user, outcome="won").status_code == 404
    assert api.as_(user).post(f"/opportunities/{opp['id']}/reopen", json={"stage_code": "bid"}).status_code == 404


def test_F2_closure_process_count(api, session):
    """One closure process per won/lost move; moving between won and lost keeps the same closure."""
    opp = won_at_national_day(api)
    assert move(api, opp, "lost").status_code == 200
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OpportunityClosure)
                          .where(OpportunityClosure.opportunity_id == opp["id"])) == 1


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code in (302, 303), r.status_code


def test_F2_pages_close_button_form_and_confirmation(client, api, session):
    opp = won_at_national_day(api)
    login(client, "rep1")
    page = client.get(f"/opportunities/{opp['id']}").get_data(as_text=True)
    assert f"/opportunities/{opp['id']}/close" in page and "2026-10-08 15:00" in page
    assert client.get(f"/opportunities/{opp['id']}/close").status_code == 200
    r = client.post(f"/opportunities/{opp['id']}/close", data={"outcome": "lost", "reason": ""})
    assert r.status_code == 422  # lost needs a reason; and the stage is won
    at(api, datetime(2026, 10, 8, 10, 0))
    r = client.post(f"/opportunities/{opp['id']}/close", data={"outcome": "won", "contract_ref": "HT-1"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    st = state(api, opp)["closure"]
    assert st["status"] == "confirming"
    client.get("/logout")
    login(client, "asst1")
    task_page = client.get(f"/tasks/{st['open_task_id']}").get_data(as_text=True)
    assert 'value="approve"' in task_page and 'value="return"' in task_page
    r = client.post(f"/tasks/{st['open_task_id']}/complete", data={"decision": "approve"})
    assert r.status_code == 302
    assert state(api, opp)["closure"]["status"] == "confirmed"
    client.get("/logout")
    login(client, "mgr1")
    assert client.get(f"/opportunities/{opp['id']}/close").status_code == 403
    client.get("/logout")
    login(client, "rep3")
    assert client.get(f"/opportunities/{opp['id']}/close").status_code == 404


def test_F2_owner_closes_on_the_task_page(client, api):
    opp = won_at_national_day(api)
    task_id = state(api, opp)["closure"]["open_task_id"]
    login(client, "rep1")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'name="outcome"' in page
    r = client.post(f"/tasks/{task_id}/complete", data={"decision": "close", "outcome": "won"})
    assert r.status_code == 302
    assert state(api, opp)["closure"]["status"] == "confirming"
