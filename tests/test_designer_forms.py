"""User-task forms defined in the diagram (form "custom", issue 5).

Deploy refuses bad definitions naming the task and the field; completing loads the data with the schema
built from the definition (422 names the field, only declared fields reach the workflow, a gateway uses
them); the task page renders the fields and completes from the page; the API lists the fields.
"""
from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import definitions, runtime
from engine.form_builder import CustomForm, FormDefinitionError, parse
from engine.safe_xml import DiagramError
from engine.state import load_state
from models.org import User
from models.process import HumanTask, ProcessInstance

FIELDS = [
    {"name": "reason", "label": "请假原因", "type": "text", "required": True, "max": 50},
    {"name": "days", "label": "请假天数", "type": "number", "required": True, "max": 30},
    {"name": "start_day", "label": "开始日期", "type": "date", "required": False},
    {"name": "leave_kind", "label": "假期类型", "type": "choice", "required": True, "choices": ["年假", "病假"]},
    {"name": "urgent", "label": "是否紧急", "type": "boolean"},
    {"name": "note", "label": "补充说明", "type": "textarea"},
]

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://t">
  <bpmn:process id="leave_request" name="请假申请" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_rep" name="sales_rep"><bpmn:flowNodeRef>fill</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_mgr" name="dept_manager">
        <bpmn:flowNodeRef>long_review</bpmn:flowNodeRef><bpmn:flowNodeRef>short_ack</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="fill" name="填写请假单">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="form" value="custom" />
        <spiffworkflow:property name="fields" value={fields} />
        {decisions}
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw" default="f_short"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_long</bpmn:outgoing><bpmn:outgoing>f_short</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="long_review" name="经理审批长假"><bpmn:incoming>f_long</bpmn:incoming>
      <bpmn:outgoing>f_e1</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="short_ack" name="经理知悉"><bpmn:incoming>f_short</bpmn:incoming>
      <bpmn:outgoing>f_e2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f_e1</bpmn:incoming><bpmn:incoming>f_e2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="gw" />
    <bpmn:sequenceFlow id="f_long" sourceRef="gw" targetRef="long_review">
      <bpmn:conditionExpression>days &gt; 3 or urgent</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_short" sourceRef="gw" targetRef="short_ack" />
    <bpmn:sequenceFlow id="f_e1" sourceRef="long_review" targetRef="end" />
    <bpmn:sequenceFlow id="f_e2" sourceRef="short_ack" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def diagram(fields=None, *, raw: str | None = None, decisions: str | None = "submit:提交,cancel:撤销") -> bytes:
    text = raw if raw is not None else json.dumps(FIELDS if fields is None else fields, ensure_ascii=False)
    extra = "" if decisions is None else f'<spiffworkflow:property name="decisions" value={quoteattr(decisions)} />'
    return DIAGRAM.format(fields=quoteattr(text), decisions=extra).encode()


@pytest.fixture
def leave(app, session):
    """The diagram deployed and one instance started by rep1, waiting at `fill`; returns the task id."""
    definitions.deploy(session, diagram(), filename="leave.bpmn", actor_id=None)
    rep1 = session.scalar(select(User).where(User.username == "rep1"))
    instance = runtime.start_instance(session, "leave_request", actor=rep1, data={}, title="请假",
                                      sector_id=rep1.sector_id, department_id=rep1.department_id)
    session.commit()
    return session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id))


GOOD = {"reason": "家中有事", "days": 5, "start_day": "2026-12-01", "leave_kind": "年假", "urgent": False,
        "decision": "submit"}


def complete(api, task_id, data, user="rep1", comment=None):
    return api.as_(user).post(f"/tasks/{task_id}/complete", json={"data": data, "comment": comment})


def state_of(session, task_id) -> tuple[str, list[str]]:
    session.rollback()  # a fresh snapshot: the request committed in another session
    task = session.get(HumanTask, task_id)
    instance = session.get(ProcessInstance, task.instance_id)
    steps = sorted(session.scalars(select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance.id,
                                                                   HumanTask.status == "open")))
    return instance.state, steps


def ready_data(session, task_id) -> dict:
    """The task data of the instance's READY user task (what the gateway read)."""
    instance = session.get(ProcessInstance, session.get(HumanTask, task_id).instance_id)
    spec, subs = definitions.parsed_spec(instance.definition)
    [ready] = load_state(instance.state, spec, subs).get_tasks(state=TaskState.READY, manual=True)
    return ready.data


# ---------------------------------------------------------------- runtime

def test_valid_data_reaches_the_workflow_and_the_gateway(api, session, leave):
    r = complete(api, leave, GOOD, comment="谢谢")
    assert r.status_code == 200, r.get_json()
    assert state_of(session, leave)[1] == ["long_review"]  # days > 3
    data = ready_data(session, leave)
    assert data["reason"] == "家中有事" and data["days"] == 5 and data["start_day"] == "2026-12-01"
    assert data["leave_kind"] == "年假" and data["urgent"] is False and data["note"] is None
    assert data["decision"] == "submit" and data["comment"] == "谢谢" and data["fill_decision"] == "submit"


def test_short_leave_takes_the_default_path(api, session, leave):
    r = complete(api, leave, {**GOOD, "days": "2", "urgent": "false"})  # strings as a page sends them
    assert r.status_code == 200, r.get_json()
    assert state_of(session, leave)[1] == ["short_ack"]


def test_missing_required_field_is_422_naming_it(api, session, leave):
    data = {k: v for k, v in GOOD.items() if k != "reason"}
    r = complete(api, leave, data)
    assert r.status_code == 422
    assert "reason" in json.dumps(r.get_json())
    assert state_of(session, leave)[1] == ["fill"]  # nothing moved
    r = complete(api, leave, {**GOOD, "reason": "   "})  # blank is missing too
    assert r.status_code == 422 and "reason" in json.dumps(r.get_json())


@pytest.mark.parametrize(("field", "value"), [
    ("days", "five"), ("days", True), ("days", 31), ("start_day", "31/12/2026"), ("leave_kind", "婚假"),
    ("urgent", "perhaps"), ("reason", "x" * 51), ("reason", 12), ("decision", "approve"),
])
def test_wrong_type_is_422_naming_the_field(api, session, leave, field, value):
    r = complete(api, leave, {**GOOD, field: value})
    assert r.status_code == 422, r.get_json()
    assert field in json.dumps(r.get_json())
    assert state_of(session, leave)[1] == ["fill"]


def test_decision_is_required_when_the_form_has_buttons(api, leave):
    r = complete(api, leave, {k: v for k, v in GOOD.items() if k != "decision"})
    assert r.status_code == 422 and "decision" in json.dumps(r.get_json())


def test_extra_fields_are_ignored(api, session, leave):
    """Only declared fields reach the workflow: an extra `discount` or `typename` (trap 7) is dropped."""
    r = complete(api, leave, {**GOOD, "discount": 0.01, "typename": "x", "_secret": 1, "evil_field": "y"})
    assert r.status_code == 200, r.get_json()
    assert state_of(session, leave)[1] == ["long_review"]
    data = ready_data(session, leave)
    assert not {"discount", "typename", "_secret", "evil_field"} & set(data)
    assert set(data) == {*(f["name"] for f in FIELDS), "decision", "comment", "fill_decision", "fill_by"}


def test_api_task_lists_the_fields(api, leave):
    body = api.as_("rep1").get(f"/tasks/{leave}").get_json()
    assert body["form"] == "custom"
    assert [f["name"] for f in body["fields"]] == [f["name"] for f in FIELDS]
    assert body["fields"][0] == {"name": "reason", "label": "请假原因", "type": "text", "required": True, "max": 50}
    assert body["fields"][3]["choices"] == ["年假", "病假"]
    assert body["decisions"] == [{"value": "submit", "label": "提交"}, {"value": "cancel", "label": "撤销"}]
    listed = api.as_("rep1").get("/tasks?scope=mine").get_json()["items"]
    assert all("fields" not in t for t in listed)  # the list stays light


def test_form_without_decisions_has_no_decision(app, api, session):
    definitions.deploy(session, diagram(decisions=None), filename="leave.bpmn", actor_id=None)
    rep1 = session.scalar(select(User).where(User.username == "rep1"))
    instance = runtime.start_instance(session, "leave_request", actor=rep1, data={}, title="请假",
                                      sector_id=rep1.sector_id, department_id=rep1.department_id)
    session.commit()
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id))
    assert api.as_("rep1").get(f"/tasks/{task_id}").get_json()["decisions"] == []
    r = complete(api, task_id, {k: v for k, v in GOOD.items() if k != "decision"})
    assert r.status_code == 200, r.get_json()
    session.rollback()  # a fresh snapshot: the request committed in another session
    assert session.get(HumanTask, task_id).decision is None


# ---------------------------------------------------------------- deploy-time checks

@pytest.mark.parametrize(("fields", "raw", "named", "says"), [
    (None, "[{not json", "fields", "not valid JSON"),
    (None, "{}", "fields", "non-empty JSON list"),
    (None, "", "fields", 'needs property "fields"'),
    ([{"name": "typename", "label": "x", "type": "text"}], None, "typename", "reserved"),
    ([{"name": "_hidden", "label": "x", "type": "text"}], None, "_hidden", "identifier"),
    ([{"name": "decision", "label": "x", "type": "text"}], None, "decision", "reserved"),
    ([{"name": "bad name", "label": "x", "type": "text"}], None, "bad name", "identifier"),
    ([{"name": "class", "label": "x", "type": "text"}], None, "class", "identifier"),
    ([{"name": "a", "label": "x" * 101, "type": "text"}], None, "a", "limit is 100"),
    ([{"name": "a", "label": "", "type": "text"}], None, "a", "needs a label"),
    ([{"name": "a", "label": "x", "type": "file"}], None, "a", "type 'file' is not one of"),
    ([{"name": "a", "label": "x", "type": "choice"}], None, "a", "needs choices"),
    ([{"name": "a", "label": "x", "type": "text", "choices": ["1"]}], None, "a", "only for fields of type choice"),
    ([{"name": "a", "label": "x", "type": "text", "required": "yes"}], None, "a", "true or false"),
    ([{"name": "a", "label": "x", "type": "text", "max": -1}], None, "a", "max"),
    ([{"name": "a", "label": "x", "type": "date", "max": 3}], None, "a", "max is not used"),
    ([{"name": "a", "label": "x", "type": "text", "colour": "red"}], None, "a", "unknown key"),
    ([{"name": "a", "label": "x", "type": "text"}, {"name": "a", "label": "y", "type": "text"}], None, "a",
     "two fields"),
    ([{"name": f"f{i}", "label": "x", "type": "text"} for i in range(31)], None, "fields", "at most 30"),
    (["reason"], None, "field 1", "must be an object"),
])
def test_bad_form_definition_is_refused_naming_task_and_field(app, session, fields, raw, named, says):
    with pytest.raises(DiagramError) as info:
        definitions.deploy(session, diagram(fields, raw=raw), filename="leave.bpmn", actor_id=None)
    [error] = info.value.errors
    assert error["element"] == "fill"
    assert error["message"].startswith(f"form field {named}:") and says in error["message"], error


@pytest.mark.parametrize("decisions", ["approve reject", "ok,ok", "a:" + "x" * 31, "1st"])
def test_bad_decisions_are_refused(app, session, decisions):
    with pytest.raises(DiagramError) as info:
        definitions.deploy(session, diagram(decisions=decisions), filename="leave.bpmn", actor_id=None)
    assert info.value.errors[0]["element"] == "fill" and "decisions" in info.value.errors[0]["message"]


def test_fields_without_custom_form_are_refused(app, session):
    data = diagram().replace(b'name="form" value="custom"', b'name="form" value="approval"')
    with pytest.raises(DiagramError) as info:
        definitions.deploy(session, data, filename="leave.bpmn", actor_id=None)
    assert info.value.errors[0] == {"element": "fill", "message": 'property "fields" is only used with form "custom"'}


def test_parse_keeps_the_definition():
    form = parse({"form": "custom", "fields": json.dumps(FIELDS), "decisions": "approve, reject:退回"})
    assert isinstance(form, CustomForm) and len(form.fields) == 6
    assert form.decisions == (("approve", "approve"), ("reject", "退回"))
    with pytest.raises(FormDefinitionError):
        parse({"form": "custom", "fields": json.dumps([{"name": "x"}] * 2)})


# ---------------------------------------------------------------- the task page

def login(client, username):
    assert client.post("/login", data={"username": username, "password": "demo12345"}).status_code == 302


def test_page_renders_the_fields(client, leave):
    login(client, "rep1")
    html = client.get(f"/tasks/{leave}").get_data(as_text=True)
    for field in FIELDS:
        assert field["label"] in html and f'name="f_{field["name"]}"' in html
    assert 'type="number"' in html and 'type="date"' in html and "<option value=\"病假\">病假</option>" in html
    assert 'id="f_reason" name="f_reason" maxlength="50"' in html and "required" in html
    assert 'value="submit"' in html and "提交" in html and 'value="cancel"' in html
    assert 'formnovalidate' in html  # claiming does not need the fields


def test_page_completes_the_task(client, session, leave):
    login(client, "rep1")
    r = client.post(f"/tasks/{leave}/complete", data={
        "decision": "submit", "f_reason": "看病", "f_days": "1", "f_leave_kind": "病假", "f_urgent": "true",
        "f_start_day": "", "f_note": "", "comment": "", "f_unknown": "x"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox")
    assert state_of(session, leave)[1] == ["long_review"]  # urgent
    data = ready_data(session, leave)
    assert data["urgent"] is True and data["days"] == 1 and data["start_day"] is None and data["note"] is None
    assert "f_unknown" not in data and "unknown" not in data


def test_page_reports_a_missing_field_by_its_label(client, session, leave):
    login(client, "rep1")
    r = client.post(f"/tasks/{leave}/complete", data={"decision": "submit", "f_reason": "看病", "f_days": "1"},
                    follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "假期类型" in html and "必填项，请填写。" in html
    assert state_of(session, leave)[1] == ["fill"]


# ---------------------------------------------------------------- in a browser, on a phone

@pytest.mark.browser
def test_browser_phone_fills_the_designer_form(chromium_path, live_server, session, leave, tmp_path):
    """On a phone-sized screen, in Chinese: the labels find their inputs, a required field is enforced by the
    browser, the choice is a select, and 提交 completes the task."""
    from playwright.sync_api import expect, sync_playwright

    from models.demo import DEMO_PASSWORD

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server}/login")
            page.get_by_label("用户名").fill("rep1")
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录", exact=True).click()
            page.goto(f"{live_server}/tasks/{leave}")
            page.get_by_label("请假原因").fill("家里装修")
            page.get_by_role("button", name="提交", exact=True).click()  # 请假天数 missing: the browser stops it
            assert page.url.endswith(f"/tasks/{leave}")
            page.get_by_label("请假天数").fill("2")
            page.get_by_label("假期类型").select_option("年假")
            page.get_by_label("是否紧急").select_option("false")
            page.get_by_label("开始日期").fill("2026-12-03")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the task page scrolls sideways on a phone ({width}px)"
            page.screenshot(path=str(tmp_path / "designer-form-phone.png"), full_page=True)
            page.get_by_role("button", name="提交", exact=True).click()
            expect(page.get_by_text("已办理。")).to_be_visible()
            assert not errors, errors
        finally:
            browser.close()
    assert state_of(session, leave)[1] == ["short_ack"]
    data = ready_data(session, leave)
    assert data["reason"] == "家里装修" and data["days"] == 2 and data["start_day"] == "2026-12-03"
