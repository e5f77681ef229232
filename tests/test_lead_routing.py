"""Lead routing process (L1–L4, P3): screening, completion, routing table, priority, follow-up and escalation."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from models import clock
from models.audit import AuditLog
from models.lead_routing import LeadRoutingRule, RoutingPriority
from models.org import Department, User
from models.process import HumanTask, ProcessInstance
from models.sales import Lead

GOOD = {"company_name": "苏州路由测试有限公司", "contact_name": "李明", "source": "website",
        "phone": "0512-66778899", "region": "华北", "industry": "制造业"}


def uid(session, username) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def new_lead(api, username="mkt1", **over) -> dict:
    r = api.as_(username).post("/leads", json={**GOOD, **over})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def patch(api, username, path, json):
    return api.client.patch(f"/api/v1{path}", json=json, headers=api.headers(username))


def state(api, lead_id, username="bizmgr1") -> dict:
    r = api.as_(username).get(f"/leads/{lead_id}/routing")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def open_task(api, lead_id, step, username="bizmgr1") -> dict:
    tasks = [t for t in state(api, lead_id, username)["open_tasks"] if t["bpmn_id"] == step]
    assert len(tasks) == 1, state(api, lead_id, username)
    return tasks[0]


def complete(api, username, task_id, data, comment=None):
    return api.as_(username).post(f"/tasks/{task_id}/complete", json={"data": data, "comment": comment})


def screen_keep(api, lead_id):
    r = complete(api, "mkt1", open_task(api, lead_id, "screen")["id"], {"decision": "keep"})
    assert r.status_code == 200, r.get_json()


def route(api, lead_id, region="华北", industry="制造业"):
    r = api.as_("bizmgr1").post(f"/leads/{lead_id}/routing/complete",
                                json={"decision": "route", "region": region, "industry": industry})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def lead_to_routing(api, **over) -> dict:
    lead = new_lead(api, **over)
    screen_keep(api, lead["id"])
    return lead


def add_rule(api, username="bizmgr1", **body):
    r = api.as_(username).post("/lead-routing/rules", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def deactivate_all(api):
    for rule in api.as_("bizmgr1").get("/lead-routing/rules").get_json()["items"]:
        assert patch(api, "bizmgr1", f"/lead-routing/rules/{rule['id']}", json={"active": False}).status_code == 200


# ---- L1 -------------------------------------------------------------------------------------------------------------
def test_L1_desk_lead_records_its_source_and_starts_routing(api, session):
    r = api.as_("mkt1").post("/leads", json={k: v for k, v in GOOD.items() if k != "source"})
    assert r.status_code == 422 and "source" in r.get_json()["errors"]
    session.rollback()
    assert session.scalar(select(Lead).where(Lead.company_name == GOOD["company_name"])) is None
    lead = new_lead(api, source="online_consultation")
    assert lead["source"] == "online_consultation"
    st = state(api, lead["id"])
    assert st["instance_status"] == "running"
    assert [t["bpmn_id"] for t in st["open_tasks"]] == ["screen"]
    session.rollback()
    instance = session.get(ProcessInstance, st["instance_id"])
    assert instance.process_key == "lead_routing" and instance.subject_type == "lead"
    # a lead a rep found himself is his already (E6): no routing process
    mine = new_lead(api, "rep1", company_name="销售自己找到的公司")
    assert state(api, mine["id"], "rep1")["instance_id"] is None


# ---- L2 -------------------------------------------------------------------------------------------------------------
def test_L2_marketing_screens_discard_needs_a_reason(api, session):
    lead = new_lead(api)
    task = open_task(api, lead["id"], "screen")
    assert task["role_code"] == "marketing"
    # other roles are not candidates: 403 for a same-sector user who may see it, 404 for others
    for who in ("bizmgr1", "mgr1", "salesmgmt1"):
        r = complete(api, who, task["id"], {"decision": "keep"})
        assert r.status_code in (403, 404), (who, r.status_code)
    assert complete(api, "rep3", task["id"], {"decision": "keep"}).status_code == 404
    assert task["id"] not in [t["id"] for t in api.as_("bizmgr1").get("/tasks?scope=claimable").get_json()["items"]]
    assert task["id"] in [t["id"] for t in api.as_("mkt1").get("/tasks?scope=claimable").get_json()["items"]]
    r = complete(api, "mkt1", task["id"], {"decision": "discard"})
    assert r.status_code == 422 and "discard_reason" in r.get_json()["errors"]
    r = complete(api, "mkt1", task["id"], {"decision": "maybe"})
    assert r.status_code == 422 and "decision" in r.get_json()["errors"]
    session.rollback()
    assert session.get(Lead, lead["id"]).status == "new"
    r = complete(api, "mkt1", task["id"], {"decision": "discard", "discard_reason": "重复登记"})
    assert r.status_code == 200, r.get_json()
    session.rollback()
    row = session.get(Lead, lead["id"])
    assert row.status == "discarded" and row.discard_reason == "重复登记"
    assert state(api, lead["id"])["instance_status"] == "completed"


def test_L2_kept_lead_goes_to_the_business_manager_who_completes_it_then_the_rep_follows_up(api, session):
    lead = lead_to_routing(api, region=None, industry=None, company_name="待完善商机公司")
    session.rollback()
    assert session.get(Lead, lead["id"]).status == "kept"
    task = open_task(api, lead["id"], "complete_lead")
    assert task["role_code"] == "business_manager"
    # only the business manager completes it; marketing may not
    r = api.as_("mkt1").post(f"/leads/{lead['id']}/routing/complete",
                             json={"decision": "route", "region": "华北", "industry": "化工"})
    assert r.status_code == 403
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/complete", json={"decision": "route", "region": ""})
    assert r.status_code == 422 and "region" in r.get_json()["errors"]
    body = route(api, lead["id"], "华北", "化工")  # demo rule: 华北 → rep1
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/complete", json={"decision": "route", "region": "华北",
                                                                              "industry": "化工"})
    assert r.status_code == 409  # the step is done
    assert body["region"] == "华北" and body["industry"] == "化工"
    assert body["owner_id"] == uid(session, "rep1") and body["status"] == "assigned"
    follow = open_task(api, lead["id"], "follow_up", "rep1")
    assert follow["assignee_id"] == uid(session, "rep1")
    # the assignee follows it up; nobody else may
    for who in ("rep2", "bizmgr1"):
        assert complete(api, who, follow["id"], {}).status_code in (403, 404), who
    assert follow["id"] in [t["id"] for t in api.as_("rep1").get("/tasks?scope=mine").get_json()["items"]]
    r = complete(api, "rep1", follow["id"], {"decision": "followed"}, comment="已电话沟通")
    assert r.status_code == 200, r.get_json()
    session.rollback()
    assert session.get(Lead, lead["id"]).status == "following"
    assert state(api, lead["id"], "rep1")["instance_status"] == "completed"


def test_L2_business_manager_may_discard_with_a_reason(api, session):
    lead = lead_to_routing(api)
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/complete", json={"decision": "discard"})
    assert r.status_code == 422 and "discard_reason" in r.get_json()["errors"]
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/complete",
                                json={"decision": "discard", "discard_reason": "无效电话"})
    assert r.status_code == 200 and r.get_json()["status"] == "discarded"


# ---- L3 -------------------------------------------------------------------------------------------------------------
def test_L3_rules_are_data_a_changed_rule_routes_the_next_lead_differently(api, session):
    first = lead_to_routing(api, company_name="规则一公司")
    assert route(api, first["id"], "华东", "医药")["owner_id"] == uid(session, "rep2")  # demo: 华东 → rep2
    rules = api.as_("bizmgr1").get("/lead-routing/rules").get_json()["items"]
    east = next(r for r in rules if r["region"] == "华东")
    r = patch(api, "bizmgr1", f"/lead-routing/rules/{east['id']}", json={"target_user_id": uid(session, "rep1")})
    assert r.status_code == 200 and r.get_json()["target_user_id"] == uid(session, "rep1")
    second = lead_to_routing(api, company_name="规则二公司")
    assert route(api, second["id"], "华东", "医药")["owner_id"] == uid(session, "rep1")
    # a more specific rule placed first wins for its industry only
    add_rule(api, region="华东", industry="医药", target_user_id=uid(session, "rep2"), position=1)
    third = lead_to_routing(api, company_name="规则三公司")
    assert route(api, third["id"], "华东", "医药")["owner_id"] == uid(session, "rep2")
    fourth = lead_to_routing(api, company_name="规则四公司")
    assert route(api, fourth["id"], "华东", "能源")["owner_id"] == uid(session, "rep1")
    session.rollback()
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "lead_routing_rule")).all()
    assert actions.count("lead_routing_rule.update") == 1 and actions.count("lead_routing_rule.create") == 1


def test_L3_no_matching_rule_goes_back_to_the_business_manager(api, session):
    lead = lead_to_routing(api, company_name="无规则公司")
    body = route(api, lead["id"], "西北", "农业")
    assert body["owner_id"] is None and body["status"] == "kept"
    task = open_task(api, lead["id"], "manual_route")
    assert task["role_code"] == "business_manager"
    # the same rights rules: not a rep, another sector, lost lead rights → 422 naming the field
    for who in ("finance1", "rep3"):
        r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/route", json={"routed_to": uid(session, who)})
        assert r.status_code == 422 and "routed_to" in r.get_json()["errors"], who
    session.rollback()
    session.execute(update(User).where(User.username == "rep2").values(lead_rights=False))
    session.commit()
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/route", json={"routed_to": uid(session, "rep2")})
    assert r.status_code == 422 and "routed_to" in r.get_json()["errors"]
    assert api.as_("mkt1").post(f"/leads/{lead['id']}/routing/route",
                                json={"routed_to": uid(session, "rep1")}).status_code == 403
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/route", json={"routed_to": uid(session, "rep1")})
    assert r.status_code == 200 and r.get_json()["owner_id"] == uid(session, "rep1")
    assert open_task(api, lead["id"], "follow_up", "rep1")["assignee_id"] == uid(session, "rep1")


def test_L3_only_business_staff_maintain_the_table(api, session):
    for who in ("rep1", "mkt1", "mgr1", "finance1"):
        assert api.as_(who).get("/lead-routing/rules").status_code == 403, who
        assert api.as_(who).post("/lead-routing/rules", json={"region": "华北", "target_user_id": uid(session, "rep1")}
                                 ).status_code == 403, who
    assert api.as_("salesmgmt1").get("/lead-routing/rules").status_code == 200
    rule = add_rule(api, "salesmgmt1", region="东北", target_user_id=uid(session, "rep2"))
    # bad input names the field; nothing is written
    for body, field in (({"region": "东北"}, "target_user_id"),
                        ({"region": "东北", "target_user_id": uid(session, "finance1")}, "target_user_id"),
                        ({"region": "东北", "target_user_id": uid(session, "rep3")}, "target_user_id"),
                        ({"region": "东北", "target_department_id": 999999}, "target_department_id"),
                        ({"region": "x" * 61, "target_user_id": uid(session, "rep1")}, "region"),
                        ({"region": "东北", "target_user_id": uid(session, "rep1"), "position": -1}, "position")):
        r = api.as_("bizmgr1").post("/lead-routing/rules", json=body)
        assert r.status_code == 422 and field in r.get_json()["errors"], (body, r.get_json())
    # another sector's users see nothing of this sector's rules
    assert api.as_("rep3").get(f"/lead-routing/rules/{rule['id']}").status_code == 404
    assert patch(api, "mgr3", f"/lead-routing/rules/{rule['id']}", json={"active": False}).status_code == 404
    session.rollback()
    assert session.scalar(select(LeadRoutingRule).where(LeadRoutingRule.region == "x" * 61)) is None


# ---- L4 -------------------------------------------------------------------------------------------------------------
def test_L4_priority_rep_first_within_a_team(api, session):
    deactivate_all(api)
    d1 = session.scalar(select(Department.id).where(Department.code == "D1"))
    add_rule(api, region="华中", target_department_id=d1)
    # no priority: the rep with fewest open routed leads (rep1 has demo leads) → rep2
    first = lead_to_routing(api, company_name="团队一公司")
    assert route(api, first["id"], "华中", "软件")["owner_id"] == uid(session, "rep2")
    # sales management gives rep1 priority this month → rep1 although he has more open leads
    assert api.as_("bizmgr1").post("/lead-routing/priorities",
                                   json={"user_id": uid(session, "rep1"), "rank": 1}).status_code == 403
    r = api.as_("salesmgmt1").post("/lead-routing/priorities", json={"user_id": uid(session, "rep1"), "rank": 1})
    assert r.status_code == 200 and r.get_json()["items"][0]["user_id"] == uid(session, "rep1")
    r = api.as_("salesmgmt1").post("/lead-routing/priorities", json={"user_id": uid(session, "finance1"), "rank": 1})
    assert r.status_code == 422 and "user_id" in r.get_json()["errors"]
    second = lead_to_routing(api, company_name="团队二公司")
    assert route(api, second["id"], "华中", "软件")["owner_id"] == uid(session, "rep1")
    # last month's priority does not count
    session.rollback()
    session.execute(update(RoutingPriority).values(month=date(2000, 1, 1)))
    session.commit()
    third = lead_to_routing(api, company_name="团队三公司")
    assert route(api, third["id"], "华中", "软件")["owner_id"] == uid(session, "rep2")


def test_L4_rep_without_lead_rights_never_gets_a_routed_lead(api, session):
    session.execute(update(User).where(User.username == "rep1").values(lead_rights=False))
    session.commit()
    # 华北 → rep1 (demo rule), then a catch-all team rule
    d1 = session.scalar(select(Department.id).where(Department.code == "D1"))
    add_rule(api, target_department_id=d1, position=999)
    lead = lead_to_routing(api, company_name="无资格公司")
    assert route(api, lead["id"], "华北", "制造业")["owner_id"] == uid(session, "rep2")
    # with priority and rights lost, still never
    api.as_("salesmgmt1").post("/lead-routing/priorities", json={"user_id": uid(session, "rep1"), "rank": 1})
    other = lead_to_routing(api, company_name="无资格公司二")
    assert route(api, other["id"], "华南", "物流")["owner_id"] == uid(session, "rep2")
    # only rep1 in the rule, no rights → back to the business manager
    deactivate_all(api)
    add_rule(api, region="华北", target_user_id=uid(session, "rep1"))
    last = lead_to_routing(api, company_name="无资格公司三")
    assert route(api, last["id"], "华北", "制造业")["owner_id"] is None
    open_task(api, last["id"], "manual_route")


def test_L4_other_sectors_rules_never_apply(api, session):
    deactivate_all(api)
    # sector 2's rule for the same region names sector 2's rep: it must not route a sector-1 lead
    r = api.as_("mgr3").get("/lead-routing/rules")
    assert r.status_code == 403
    session.rollback()
    s2_rule = session.scalar(select(LeadRoutingRule).where(LeadRoutingRule.region == "西南"))
    assert s2_rule is not None and s2_rule.target_user_id == uid(session, "rep3")
    lead = lead_to_routing(api, company_name="跨版块公司")
    assert route(api, lead["id"], "西南", "软件")["owner_id"] is None
    open_task(api, lead["id"], "manual_route")
    # a sector-1 rule may not name a sector-2 rep or department
    d3 = session.scalar(select(Department.id).where(Department.code == "D3"))
    r = api.as_("bizmgr1").post("/lead-routing/rules", json={"region": "西南", "target_department_id": d3})
    assert r.status_code == 422 and "target_department_id" in r.get_json()["errors"]
    assert api.as_("rep3").get(f"/leads/{lead['id']}/routing").status_code == 404


# ---- P3 escalation --------------------------------------------------------------------------------------------------
def test_P3_no_follow_up_within_the_limit_escalates_to_the_business_manager(api, session):
    timers = pytest.importorskip("engine.timers")
    fire = getattr(timers, "fire_due_timers", None)
    if fire is None:
        pytest.skip("engine.timers.fire_due_timers not built yet")
    lead = lead_to_routing(api, company_name="超时公司")
    assert route(api, lead["id"], "华北", "制造业")["owner_id"] == uid(session, "rep1")
    follow = open_task(api, lead["id"], "follow_up", "rep1")
    session.rollback()
    fire(session, clock.now() + timedelta(days=1))
    session.commit()
    assert open_task(api, lead["id"], "follow_up", "rep1")["id"] == follow["id"]  # not yet
    clock.advance(timedelta(days=4))
    api._tokens.clear()  # tokens expire with the moved clock
    session.rollback()
    fire(session, clock.now())
    session.commit()
    session.rollback()
    assert session.get(HumanTask, follow["id"]).status == "cancelled"
    reroute = open_task(api, lead["id"], "reroute")
    assert reroute["role_code"] == "business_manager"
    assert "lead.escalate" in session.scalars(select(AuditLog.action).where(
        AuditLog.entity_type == "lead", AuditLog.entity_id == str(lead["id"]))).all()
    r = api.as_("bizmgr1").post(f"/leads/{lead['id']}/routing/route", json={"routed_to": uid(session, "rep2")})
    assert r.status_code == 200 and r.get_json()["owner_id"] == uid(session, "rep2")
    assert open_task(api, lead["id"], "follow_up", "rep2")["assignee_id"] == uid(session, "rep2")


# ---- the lead's own page and API stay in step with the process ---------------------------------------------------
def test_L2_screening_and_follow_up_on_the_lead_itself_move_the_process(api, session):
    lead = new_lead(api, company_name="同步公司")
    assert patch(api, "mkt1", f"/leads/{lead['id']}", {"status": "kept"}).get_json()["status"] == "kept"
    open_task(api, lead["id"], "complete_lead")
    assert route(api, lead["id"], "华北", "制造业")["owner_id"] == uid(session, "rep1")
    r = patch(api, "rep1", f"/leads/{lead['id']}", {"status": "following"})
    assert r.status_code == 200 and r.get_json()["status"] == "following"
    assert state(api, lead["id"], "rep1")["instance_status"] == "completed"
    other = new_lead(api, company_name="同步公司二")
    r = patch(api, "mkt1", f"/leads/{other['id']}", {"status": "discarded"})
    assert r.status_code == 422 and "discard_reason" in r.get_json()["errors"]
    r = patch(api, "mkt1", f"/leads/{other['id']}", {"status": "discarded", "discard_reason": "空号"})
    assert r.status_code == 200 and r.get_json()["status"] == "discarded"
    assert state(api, other["id"])["instance_status"] == "completed"


# ---- pages ----------------------------------------------------------------------------------------------------------
def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302


def test_L2_lead_desk_page_completes_and_routes(client, api, session):
    lead = lead_to_routing(api, company_name="页面商机公司", region=None, industry=None)
    login(client, "mkt1")
    assert client.get("/lead-desk").status_code == 403
    assert client.post(f"/lead-desk/{lead['id']}/complete", data={"decision": "route", "region": "华北",
                                                                  "industry": "制造业"}).status_code == 403
    login(client, "bizmgr1")
    page = client.get("/lead-desk").get_data(as_text=True)
    assert "页面商机公司" in page and "商机分配" in page
    r = client.post(f"/lead-desk/{lead['id']}/complete", data={"decision": "route", "region": "", "industry": "x"})
    assert r.status_code == 422 and f'id="region-{lead["id"]}-error"' in r.get_data(as_text=True)
    r = client.post(f"/lead-desk/{lead['id']}/complete", data={"decision": "route", "region": "西北", "industry": "农业"})
    assert r.status_code == 302
    page = client.get("/lead-desk").get_data(as_text=True)
    assert "手工分配" in page and f'id="routed_to-{lead["id"]}"' in page
    r = client.post(f"/lead-desk/{lead['id']}/route", data={"routed_to": str(uid(session, "finance1"))})
    assert r.status_code == 422 and f'id="routed_to-{lead["id"]}-error"' in r.get_data(as_text=True)
    r = client.post(f"/lead-desk/{lead['id']}/route", data={"routed_to": str(uid(session, "rep2"))})
    assert r.status_code == 302
    session.rollback()
    assert session.get(Lead, lead["id"]).owner_id == uid(session, "rep2")


def test_L2_task_page_offers_the_screening_fields(client, api, session):
    lead = new_lead(api, company_name="待办筛选公司")
    task = open_task(api, lead["id"], "screen")
    login(client, "mkt1")
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'name="discard_reason"' in page and "待办筛选公司" in page and 'value="keep"' in page
    r = client.post(f"/tasks/{task['id']}/complete", data={"decision": "discard"})
    assert r.status_code == 302
    session.rollback()
    assert session.get(Lead, lead["id"]).status == "new"  # refused: no reason
    r = client.post(f"/tasks/{task['id']}/complete", data={"decision": "discard", "discard_reason": "测试数据"})
    assert r.status_code == 302
    session.rollback()
    assert session.get(Lead, lead["id"]).status == "discarded"


def test_L3_routing_rules_page_add_edit_deactivate_and_priority(client, session):
    login(client, "rep1")
    assert client.get("/lead-desk/rules").status_code == 403
    assert client.post("/lead-desk/rules", data={"region": "东北", "target": "u:1"}).status_code == 403
    login(client, "bizmgr1")
    page = client.get("/lead-desk/rules").get_data(as_text=True)
    assert "华北" in page and "张伟" in page
    r = client.post("/lead-desk/rules", data={"region": "东北", "target": ""})
    assert r.status_code == 422 and 'id="new-target-error"' in r.get_data(as_text=True)
    r = client.post("/lead-desk/rules", data={"region": "东北", "target": f"u:{uid(session, 'rep2')}", "position": "5"})
    assert r.status_code == 302
    session.rollback()
    rule = session.scalar(select(LeadRoutingRule).where(LeadRoutingRule.region == "东北"))
    assert rule.target_user_id == uid(session, "rep2") and rule.position == 5 and rule.active
    assert client.post(f"/lead-desk/rules/{rule.id}", data={"only": "active", "active": "0"}).status_code == 302
    session.rollback()
    assert session.get(LeadRoutingRule, rule.id).active is False
    # business managers do not set priority; sales management does
    assert client.post("/lead-desk/priorities", data={"user_id": str(uid(session, "rep2")), "rank": "1"}
                       ).status_code == 403
    login(client, "salesmgmt1")
    r = client.post("/lead-desk/priorities", data={"user_id": str(uid(session, "rep2")), "rank": "0"})
    assert r.status_code == 422 and 'id="priority-rank-error"' in r.get_data(as_text=True)
    assert client.post("/lead-desk/priorities", data={"user_id": str(uid(session, "rep2")), "rank": "1"}
                       ).status_code == 302
    assert "王芳" in client.get("/lead-desk/rules").get_data(as_text=True).split('id="priority"')[1]
    login(client, "mgr3")
    assert client.get("/lead-desk/rules").status_code == 403
    assert client.post(f"/lead-desk/rules/{rule.id}", data={"only": "active", "active": "1"}).status_code in (403, 404)


def test_P3_the_routed_reps_activity_on_the_lead_is_its_follow_up(api, session):
    lead = lead_to_routing(api, company_name="跟进记录公司")
    assert route(api, lead["id"], "华北", "制造业")["owner_id"] == uid(session, "rep1")
    follow = open_task(api, lead["id"], "follow_up", "rep1")
    # somebody else's activity is not the follow-up
    r = api.as_("bizmgr1").post("/activities", json={"kind": "call", "subject": "商务经理致电", "lead_id": lead["id"],
                                                      "occurred_at": clock.now().isoformat()})
    assert r.status_code == 201, r.get_json()
    assert open_task(api, lead["id"], "follow_up", "rep1")["id"] == follow["id"]
    r = api.as_("rep1").post("/activities", json={"kind": "call", "subject": "首次电话沟通", "lead_id": lead["id"],
                                                   "occurred_at": clock.now().isoformat()})
    assert r.status_code == 201, r.get_json()
    st = state(api, lead["id"], "rep1")
    assert st["instance_status"] == "completed" and st["status"] == "following"
    session.rollback()
    task = session.get(HumanTask, follow["id"])
    assert task.status == "completed" and task.completed_by == uid(session, "rep1") and task.comment == "首次电话沟通"


def test_L2_demo_desk_leads_run_in_the_routing_process(api, session):
    new = session.scalar(select(Lead).where(Lead.company_name == "天津滨海机械制造有限公司"))
    kept = session.scalar(select(Lead).where(Lead.company_name == "南京金陵医药有限公司"))
    assert [t["bpmn_id"] for t in state(api, new.id)["open_tasks"]] == ["screen"]
    assert [t["bpmn_id"] for t in state(api, kept.id)["open_tasks"]] == ["complete_lead"]
    assert route(api, kept.id, "华东", "医药")["owner_id"] == uid(session, "rep2")  # demo rule 华东 → rep2


def test_P2_L4_monthly_ranking_gives_routing_priority(api, session):
    from models.lead_routing import month_of, replace_ranking_priorities

    deactivate_all(api)
    d1 = session.scalar(select(Department.id).where(Department.code == "D1"))
    add_rule(api, region="华中", target_department_id=d1)
    session.rollback()
    sector_id = session.get(User, uid(session, "rep1")).sector_id
    assert replace_ranking_priorities(session, sector_id, month_of(clock.now()), [uid(session, "rep1")]) == 1
    session.commit()
    lead = lead_to_routing(api, company_name="排名优先公司")
    assert route(api, lead["id"], "华中", "软件")["owner_id"] == uid(session, "rep1")
    items = api.as_("salesmgmt1").get("/lead-routing/priorities").get_json()["items"]
    assert [(i["user_id"], i["source"]) for i in items] == [(uid(session, "rep1"), "ranking")]


def test_L4_manual_route_from_the_task_api_follows_the_rights_rules(api, session):
    lead = lead_to_routing(api, company_name="任务接口分配公司")
    route(api, lead["id"], "西北", "农业")
    task = open_task(api, lead["id"], "manual_route")
    session.rollback()
    session.execute(update(User).where(User.username == "rep2").values(lead_rights=False))
    session.commit()
    r = complete(api, "bizmgr1", task["id"], {"routed_to": uid(session, "rep2")})
    assert r.status_code == 422 and "routed_to" in r.get_json()["errors"]
    r = complete(api, "bizmgr1", task["id"], {"routed_to": uid(session, "rep3")})
    assert r.status_code == 422 and "routed_to" in r.get_json()["errors"]
    assert complete(api, "bizmgr1", task["id"], {"routed_to": uid(session, "rep1")}).status_code == 200
    assert open_task(api, lead["id"], "follow_up", "rep1")["assignee_id"] == uid(session, "rep1")
