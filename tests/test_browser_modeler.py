"""Browser end-to-end tests of the BPMN modeler and the DMN editor pages (issue 5), with Debian's chromium.

The acceptance scenario (Q1): a designer raises the department manager's discount limit in the modeler's
properties panel, validates and publishes; a new quote follows the new limit while an older pending quote
keeps the path of the version it started on.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from models.demo import DEMO_PASSWORD
from models.org import Sector, User
from models.process import ProcessDefinition, ProcessInstance
from tests import test_browser_quote_chain as chain
from tests.conftest import CORPUS_DIR
from tests.test_quote_approval import decide, open_task, submit

pytestmark = pytest.mark.browser
PHONE = chain.PHONE
browser = chain.browser  # the module's chromium (fixture)
users = chain.users  # one browser context per user, collecting JS errors and failed requests (fixture)

MIWG = CORPUS_DIR / "miwg"
QUOTE_KEY = "quote_approval"
OLD_CONDITION = 'decision == "approve" and discount < 0.5'
NEW_CONDITION = 'decision == "approve" and discount < 0.6'


# dmn-js 17 bundles Inferno's development build, which says so with console.error: a notice, not a fault.
INFERNO_NOTICE = "development build of Inferno"


def assert_clean(users: chain.Users, *also_allowed: str) -> None:
    users.problems[:] = [p for p in users.problems if not any(s in p for s in (INFERNO_NOTICE, *also_allowed))]
    users.assert_clean()


def login(users: chain.Users, username: str, *, viewport: dict | None = None, is_mobile: bool = False) -> Page:
    """Sign in through the login page (designers land on 流程管理, others on 审批中心)."""
    page = users.open(viewport, is_mobile)
    page.goto(f"{users.base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    return page


def open_quote_approval_from_processes(page: Page, key: str = QUOTE_KEY) -> None:
    """流程管理 → 在建模器中打开 on the process's row (quote approval) → the draft in the modeler."""
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="流程管理").click()
    expect(page).to_have_url(re.compile(r"/processes$"))
    row = page.locator("#processes tbody tr").filter(has=page.locator("code", has_text=re.compile(f"^{key}$")))
    expect(row).to_have_count(1)
    row.get_by_role("button", name="在建模器中打开").click()
    expect(page).to_have_url(re.compile(r"/modeler/drafts/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("流程建模")
    expect(page.locator("#canvas")).to_have_attribute("data-rendered", "true")


def click_connection(page: Page, element_id: str) -> None:
    """Click with the mouse on the middle of the longest segment of a sequence flow in the canvas."""
    point = page.evaluate("""(id) => {
        const m = window.bpmnModeler, canvas = m.get('canvas');
        const el = m.get('elementRegistry').get(id);
        canvas.scrollToElement(el);
        const vb = canvas.viewbox(), box = document.getElementById('canvas').getBoundingClientRect();
        let best = null;
        for (let i = 1; i < el.waypoints.length; i++) {
            const a = el.waypoints[i - 1], b = el.waypoints[i];
            const len = Math.hypot(b.x - a.x, b.y - a.y);
            if (!best || len > best.len) best = { len, x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
        }
        return { x: box.left + (best.x - vb.x) * vb.scale, y: box.top + (best.y - vb.y) * vb.scale };
    }""", element_id)
    page.mouse.click(point["x"], point["y"])


def selected_ids(page: Page) -> list[str]:
    return page.evaluate("() => window.bpmnModeler.get('selection').get().map((e) => e.id)")


def definition_of(app, instance_id: int) -> tuple[int, int | None, str]:
    """(version, sector_id, XML) of the definition an instance runs on."""
    with app.extensions["session_factory"]() as session:
        definition = session.get(ProcessDefinition, session.get(ProcessInstance, instance_id).definition_id)
        return definition.version, definition.sector_id, definition.bpmn_xml


def sector_id(app, code: str) -> int:
    with app.extensions["session_factory"]() as session:
        return session.scalar(select(Sector.id).where(Sector.code == code))


def steps_until_done(api, quote: dict, approvers: dict[str, str], user: str = "rep1") -> list[str]:
    """Approve at each step that appears; the steps visited in order."""
    steps = []
    iid = quote["process_instance_id"]
    for _ in range(5):
        inst = api.as_(user).get(f"/process-instances/{iid}").get_json()
        if not inst["open_tasks"]:
            break
        step = inst["open_tasks"][0]["step"]
        steps.append(step)
        decide(api, iid, approvers[step], "approve", f"ok at {step}")
    return steps


def test_Q1_designer_raises_the_manager_limit_in_the_modeler_new_quotes_follow_it_old_ones_keep_theirs(
        users, api, app):
    """Q1 in the browser: designer1 (process designer of S1) changes f_mgr_escalate from `discount < 0.5` to
    `discount < 0.6` in the properties panel, validates and publishes (an S1 version). A 5.5折 quote submitted
    before the publish keeps version 1 (the manager's approval ends it); a 5.5折 quote submitted after goes
    manager → president's assistant. S2 keeps the group's version."""
    old_quote = submit(api, 5500)  # 5.5折, pending at the manager under version 1
    assert open_task(api, old_quote["process_instance_id"], "mgr1") is not None

    page = login(users, "designer1")
    open_quote_approval_from_processes(page)
    click_connection(page, "f_mgr_escalate")
    panel = page.locator("#properties-body")
    expect(panel).to_have_attribute("data-element", "f_mgr_escalate")
    condition = page.get_by_label("条件（Python 表达式）")
    expect(condition).to_have_value(OLD_CONDITION)
    check = page.locator("#prop-condition-check")
    expect(check).to_have_text("条件有效。")
    expect(page.get_by_label("默认路径（其他条件都不满足时）")).not_to_be_checked()
    condition.fill(NEW_CONDITION)
    expect(check).to_have_text("条件有效。")
    status = page.locator("#modeler-status")
    page.get_by_role("button", name="保存草稿").click()
    expect(status).to_have_text("已保存。")
    page.get_by_role("button", name="校验").click()
    expect(status).to_have_text("没有问题，可以发布。")
    page.get_by_label("发布说明").fill("Q1：部门经理审批限额放宽到6折")
    page.get_by_role("button", name="发布").click()
    expect(status).to_contain_text("已发布第 2 版。")
    page.get_by_role("link", name="查看版本记录").click()
    expect(page).to_have_url(re.compile(f"/processes/{QUOTE_KEY}/versions$"))
    expect(page.locator("main")).to_contain_text("Q1：部门经理审批限额放宽到6折")
    # compare v1 → v2 side by side: both diagrams drawn, the changed flow marked and listed with its condition
    page.get_by_role("button", name="版本对比").click()
    expect(page).to_have_url(re.compile(r"/processes/compare\?"))
    for side in ("#diagram-from", "#diagram-to"):
        expect(page.locator(side)).to_have_attribute("data-rendered", "true")
        expect(page.locator(f'{side} .djs-element.diff-changed[data-element-id="f_mgr_escalate"]')).to_have_count(1)
    expect(page.locator("#changes")).to_contain_text("f_mgr_escalate")
    expect(page.locator("#changes")).to_contain_text("discount < 0.6")
    assert_clean(users)

    s1 = sector_id(app, "S1")
    new_quote = submit(api, 5500)
    version, scope, xml = definition_of(app, new_quote["process_instance_id"])
    assert (version, scope) == (2, s1)
    assert "discount &lt; 0.6" in xml and "discount &lt; 0.5" not in xml
    assert definition_of(app, old_quote["process_instance_id"])[:2] == (1, None)

    chain = {"mgr_approve": "mgr1", "pa_approve": "pa1", "vp_approve": "vp1"}
    # the new quote escalates under the new limit: 0.55 < 0.6
    assert steps_until_done(api, new_quote, chain) == ["mgr_approve", "pa_approve"]
    # the older one stays on version 1: 0.55 ≥ 0.5, the manager's approval ends it, no assistant
    assert steps_until_done(api, old_quote, chain) == ["mgr_approve"]
    for quote in (new_quote, old_quote):
        assert api.as_("rep1").get(f"/quotes/{quote['id']}").get_json()["status"] == "approved"
    assert open_task(api, old_quote["process_instance_id"], "pa1") is None

    # S2 has no version of its own: a 5.5折 quote of rep3 still takes the group's version 1
    s2_quote = submit(api, 5500, user="rep3")
    assert definition_of(app, s2_quote["process_instance_id"])[:2] == (1, None)
    assert steps_until_done(api, s2_quote, {"mgr_approve": "mgr3"}, user="rep3") == ["mgr_approve"]


def test_broken_condition_is_flagged_as_typed_listed_by_validate_and_the_problem_selects_its_flow(users):
    """Typing `discount <` shows the sandbox's message next to the field; 校验 lists the problem naming
    f_mgr_escalate; clicking it selects that flow in the canvas and shows it in the panel."""
    page = login(users, "designer1")
    open_quote_approval_from_processes(page)
    click_connection(page, "f_mgr_escalate")
    condition = page.get_by_label("条件（Python 表达式）")
    condition.fill('decision == "approve" and discount <')
    check = page.locator("#prop-condition-check")
    expect(check).to_have_class(re.compile(r"\bbad\b"))
    expect(check).not_to_be_empty()
    expect(condition).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#modeler-status")).to_have_text("已保存。")
    # select something else, so the click on the problem visibly moves the selection
    page.locator("#prop-find").fill("mgr_approve")
    page.locator("#prop-find").press("Enter")
    expect(page.locator("#properties-body")).to_have_attribute("data-element", "mgr_approve")

    page.get_by_role("button", name="校验").click()
    problem = page.locator("#problems button.problem[data-element='f_mgr_escalate']")
    expect(problem).to_have_count(1)
    expect(page.locator("#modeler-status")).to_contain_text("问题")
    problem.click()
    expect(page.locator("#properties-body")).to_have_attribute("data-element", "f_mgr_escalate")
    assert selected_ids(page) == ["f_mgr_escalate"]
    expect(page.locator("#canvas g.djs-element[data-element-id='f_mgr_escalate']")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_label("条件（Python 表达式）")).to_have_value('decision == "approve" and discount <')
    # publishing refuses it, naming the same element
    users.allowed_statuses.add(422)
    page.get_by_role("button", name="发布").click()
    expect(page.locator("#modeler-status")).to_contain_text("发布未通过")
    expect(page.locator("#problems button.problem[data-element='f_mgr_escalate']")).to_have_count(1)

    # the default-flow toggle moves the gateway's default and drops that flow's condition; Ctrl+Z undoes it
    def gateway_default() -> str:
        return page.evaluate("() => window.bpmnModeler.get('elementRegistry').get('gw_mgr').businessObject.default.id")

    page.locator("#prop-find").fill("f_mgr_rejected")
    page.locator("#prop-find").press("Enter")
    default = page.get_by_label("默认路径（其他条件都不满足时）")
    expect(default).not_to_be_checked()
    default.check()
    expect(page.get_by_label("条件（Python 表达式）")).to_be_disabled()
    assert gateway_default() == "f_mgr_rejected"
    page.locator("#canvas .djs-container > svg").focus()  # the diagram takes the keyboard when focused
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert gateway_default() == "f_mgr_approved"
    expect(page.get_by_label("条件（Python 表达式）")).to_have_value('decision == "reject"')
    assert_clean(users)


def test_properties_panel_writes_what_the_engine_reads(users):
    """Lane role, user-task properties (custom form fields, due days, reminder, escalation), a timer and a
    connector's parameter, edited in the panel, are in the saved XML as the engine reads them."""
    page = login(users, "admin")
    open_quote_approval_from_processes(page)
    find = page.locator("#prop-find")

    find.fill("lane_vice_president")
    find.press("Enter")
    page.get_by_label("泳道角色").select_option("president")
    expect(page.get_by_label("元素名称")).to_have_value("总裁 (president)")

    find.fill("vp_approve")
    find.press("Enter")
    expect(page.get_by_label("表单", exact=True)).to_have_value("approval")
    page.get_by_label("表单", exact=True).select_option("custom")
    page.get_by_role("button", name="添加字段").click()
    page.locator("#prop-field-0-name").fill("reason")
    page.locator("#prop-field-0-label").fill("理由")
    page.locator("#prop-field-0-type").select_option("choice")
    page.locator("#prop-field-0-required").check()
    page.locator("#prop-field-0-choices").fill("价格\n交期")
    page.get_by_role("button", name="添加字段").click()
    page.locator("#prop-field-1-name").fill("note")
    page.locator("#prop-field-1-label").fill("说明")
    page.locator("#prop-field-1-type").select_option("textarea")
    page.locator("#prop-field-1-max").fill("500")
    page.get_by_label("审批按钮（值:名称，逗号分隔）").fill("approve:同意,reject:退回")
    page.get_by_label("办理期限（工作日）").fill("4")
    page.get_by_label("提醒（小时后）").fill("8")
    page.get_by_label("超期升级给").select_option("president")
    page.get_by_label("处理人变量").fill("vp_user")
    page.get_by_label("处理人变量").press("Tab")

    find.fill("set_approved")
    find.press("Enter")
    expect(page.get_by_label("连接器", exact=True)).to_have_value("crm.set_quote_status")
    param = page.locator("input[data-param='status']")
    expect(param).to_have_value('"approved"')
    param.fill('"approved"  ')
    param.press("Tab")

    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#modeler-status")).to_have_text("已保存。")
    xml = page.evaluate("() => window.bpmnModeler.saveXML().then((r) => r.xml)")
    assert 'name="总裁 (president)"' in xml
    assert '<spiffworkflow:property name="form" value="custom"' in xml
    fields = re.search(r'<spiffworkflow:property name="fields" value="([^"]*)"', xml).group(1)
    assert json.loads(html.unescape(fields)) == [
        {"name": "reason", "label": "理由", "type": "choice", "required": True, "choices": ["价格", "交期"]},
        {"name": "note", "label": "说明", "type": "textarea", "required": False, "max": 500}]
    assert '<spiffworkflow:property name="decisions" value="approve:同意,reject:退回"' in xml
    for name, value in (("due_days", "4"), ("remind_hours", "8"), ("escalate_to", "president"),
                        ("assignee", "vp_user")):
        assert f'<spiffworkflow:property name="{name}" value="{value}"' in xml
    assert '<spiffworkflow:serviceTaskOperator id="crm.set_quote_status" resultVariable="quote_status_result">' in xml
    # …and the engine accepts what the panel wrote
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#modeler-status")).to_have_text("没有问题，可以发布。")
    assert_clean(users)


def test_timer_duration_is_written_as_a_quoted_iso_duration(users, api):
    """A timer event's days / hours become "P3D" / "PT4H" (a quoted Python string) in timeDuration."""
    xml = (Path(__file__).resolve().parents[1] / "workflows" / "opportunity_closure.bpmn").read_text()
    if "timerEventDefinition" not in xml:
        xml = next(p.read_text() for p in (Path(__file__).resolve().parents[1] / "workflows").glob("*.bpmn")
                   if "timerEventDefinition" in p.read_text())
    r = api.as_("admin").post("/drafts", json={"xml": xml, "filename": "timer.bpmn"})
    assert r.status_code == 201, r.get_json()
    page = login(users, "admin")
    page.goto(users.base + f"/modeler/drafts/{r.get_json()['id']}")
    expect(page.locator("#canvas")).to_have_attribute("data-rendered", "true")
    timer_id = page.evaluate("""() => window.bpmnModeler.get('elementRegistry').filter((e) => e.businessObject
        && (e.businessObject.eventDefinitions || []).some((d) => d.$type === 'bpmn:TimerEventDefinition'))[0].id""")
    page.locator("#prop-find").fill(timer_id)
    page.locator("#prop-find").press("Enter")
    page.get_by_label("天数").fill("3")
    page.get_by_label("天数").press("Tab")
    expect(page.get_by_label("定时表达式")).to_have_value('"P3D"')
    page.get_by_label("天数").fill("")
    page.get_by_label("小时数").fill("4")
    page.get_by_label("小时数").press("Tab")
    expect(page.get_by_label("定时表达式")).to_have_value('"PT4H"')
    xml = page.evaluate("() => window.bpmnModeler.saveXML().then((r) => r.xml)")
    assert re.search(r'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT4H"</bpmn:timeDuration>', xml)
    assert_clean(users)


def test_business_rule_task_picks_its_decision_table_from_the_catalog(users):
    """contract_approval's decide_route calls contract_route; the panel offers the published decision tables."""
    page = login(users, "admin")
    open_quote_approval_from_processes(page, "contract_approval")
    page.locator("#prop-find").fill("decide_route")
    page.locator("#prop-find").press("Enter")
    decision = page.get_by_label("决策表", exact=True)
    expect(decision).to_have_value("contract_route")
    expect(decision.locator("option[value='contract_route']")).to_contain_text("(contract_route) v1")
    decision.select_option("")
    xml = page.evaluate("() => window.bpmnModeler.saveXML().then((r) => r.xml)")
    assert "calledDecisionId" not in xml
    decision.select_option("contract_route")
    xml = page.evaluate("() => window.bpmnModeler.saveXML().then((r) => r.xml)")
    assert "<spiffworkflow:calledDecisionId>contract_route</spiffworkflow:calledDecisionId>" in xml
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#modeler-status")).to_have_text("没有问题，可以发布。")
    assert_clean(users)


# What the engine reads from a diagram: the spiffworkflow extensions and attributes, conditions, timers, and
# the multi-instance loop variables (no element ids: bpmn-js would drop them as unresolved references).
ENGINE_READS = re.compile(r"<spiffworkflow:(\w+)[^>]*?>|spiffworkflow:(\w+)=\"[^\"]*\"|<bpmn:(loopData\w+)>([^<]+)<"
                          r"|<bpmn:conditionExpression[^>]*>([^<]*)<|<bpmn:timeDuration[^>]*>([^<]*)<")


def test_what_the_engine_reads_survives_a_save_through_the_modeler(users):
    """Every shipped workflow and every SpiffWorkflow corpus diagram, imported into the modeler and saved back:
    the extension elements (properties, connectors and parameters, scripts, decisions…), conditions, timers and
    loop variables are all still there."""
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "workflows").glob("*.bpmn")) + sorted((MIWG.parent / "spiff").glob("*.bpmn"))
    page = login(users, "admin")
    open_quote_approval_from_processes(page)
    sources = [(p.name, p.read_text(encoding="utf-8", errors="replace")) for p in files]
    saved = page.evaluate("""async (sources) => {
        const out = [];
        for (const [name, xml] of sources) {
            try {
                await window.bpmnImport(xml);
                out.push((await window.bpmnModeler.saveXML({ format: true })).xml);
            } catch (err) {
                out.push('ERROR ' + String(err && err.message || err));
            }
        }
        return out;
    }""", sources)
    lost = {}
    for (name, xml), after in zip(sources, saved, strict=True):
        before_items, after_items = sorted(ENGINE_READS.findall(xml)), sorted(ENGINE_READS.findall(after))
        if before_items != after_items:
            lost[name] = sorted(set(before_items) ^ set(after_items))[:5]
    assert not lost, lost
    assert_clean(users, "failed to import <", "unparsable content")


def test_every_miwg_file_imports_and_renders_in_the_modeler(users, api):
    """All 163 MIWG reference files import as drafts (POST /drafts/import) and each draft's XML renders in the
    modeler page (bpmn-js importXML) without an import error."""
    files = sorted(MIWG.glob("*.bpmn"))
    if not files:
        pytest.skip(f"the MIWG corpus is not at {MIWG}")
    assert len(files) == 163
    draft_ids, refused = [], []
    for start in range(0, len(files), 50):
        batch = [(p.open("rb"), p.name) for p in files[start:start + 50]]
        try:
            r = api.as_("admin").post("/drafts/import", data={"files": batch}, content_type="multipart/form-data")
        finally:
            for handle, _name in batch:
                handle.close()
        assert r.status_code == 201, r.get_json()
        for item in r.get_json()["items"]:
            (draft_ids.append(item["draft_id"]) if item["draft_id"] else refused.append(item))
    assert not refused, refused
    assert len(draft_ids) == 163

    page = login(users, "admin")
    page.goto(users.base + f"/modeler/drafts/{draft_ids[0]}")
    expect(page.locator("#canvas")).to_have_attribute("data-rendered", "true")
    failures = page.evaluate("""async (ids) => {
        const failures = [];
        for (const id of ids) {
            const res = await fetch('/modeler/api/drafts/' + id, { credentials: 'same-origin' });
            if (res.status !== 200) { failures.push([id, 'HTTP ' + res.status]); continue; }
            const draft = await res.json();
            try {
                await window.bpmnImport(draft.xml);
                const svg = document.querySelector('#canvas svg');
                if (!svg) failures.push([id, draft.filename, 'no svg']);
            } catch (err) {
                failures.push([id, draft.filename, String(err && err.message || err)]);
            }
        }
        return failures;
    }""", draft_ids)
    assert not failures, failures
    # bpmn-js reports elements it cannot draw (a flow without sourceRef…) as warnings, on the console too
    assert_clean(users, "failed to import <")


def test_dmn_editor_loads_a_decision_table_and_saves_an_edited_cell(users, api):
    """新建流程图 → 决策表 (DMN): the editor shows the table; an edited output cell is saved in the draft; a cell
    the sandbox refuses is listed by 校验 and clicking the problem marks that cell; then it publishes."""
    page = login(users, "designer1")
    page.goto(users.base + "/modeler/new")
    page.get_by_label("决策表（DMN）").check()
    page.get_by_label("名称").fill("折扣限额")
    page.get_by_label("标识").fill("discount_limits")
    page.get_by_role("button", name="创建").click()
    expect(page).to_have_url(re.compile(r"/dmn/drafts/\d+$"))
    draft_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#canvas")).to_have_attribute("data-rendered", "true")
    expect(page.get_by_role("heading", level=1)).to_contain_text("决策表编辑")
    status = page.locator("#modeler-status")
    cell = page.locator("#canvas td[data-element-id='discount_limits_rule_1_out']")
    expect(cell).to_have_text('"ok"')

    def edit_cell(text: str) -> None:
        cell.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(text)
        expect(cell.locator(".cm-content")).to_have_text(text)

    edit_cell('"dept_manager"')
    expect(page.locator("#dirty")).to_have_text("有未保存的修改")
    page.get_by_role("button", name="保存草稿").click()
    expect(status).to_have_text("已保存。")
    saved = api.as_("designer1").get(f"/drafts/{draft_id}").get_json()
    assert '<text>"dept_manager"</text>' in saved["xml"] and saved["kind"] == "dmn"

    edit_cell('__import__("os")')
    page.get_by_role("button", name="校验").click()  # saves first, then validates the stored draft
    problem = page.locator("#problems button.problem[data-element='discount_limits_rule_1']")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("__import__")
    problem.click()
    expect(cell).to_have_class(re.compile(r"\bproblem-focus\b"))  # the cells of that rule are marked

    edit_cell('"dept_manager"')
    page.get_by_role("button", name="校验").click()
    expect(status).to_have_text("没有问题，可以发布。")
    page.get_by_label("发布说明").fill("折扣限额第一版")
    page.get_by_role("button", name="发布").click()
    expect(status).to_contain_text("已发布第 1 版。")
    expect(page.get_by_role("link", name="查看版本记录")).to_have_attribute("href", "/processes/discount_limits/versions")
    assert_clean(users)


def test_phone_modeler_panel_below_the_canvas_and_buttons_reachable(users):
    """390x844: the properties panel sits below the canvas, the toolbar buttons are on screen and work,
    an element is found by keyboard (查找元素) and nothing scrolls sideways."""
    page = login(users, "designer1", viewport=PHONE, is_mobile=True)
    open_quote_approval_from_processes(page)
    canvas = page.locator("#canvas").bounding_box()
    panel = page.locator(".properties-panel").bounding_box()
    assert panel["y"] >= canvas["y"] + canvas["height"] - 1, (canvas, panel)
    assert canvas["width"] <= PHONE["width"] and panel["width"] <= PHONE["width"]
    for name in ("保存草稿", "校验", "发布"):
        button = page.get_by_role("button", name=name, exact=True)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 40, (name, box)
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], sizes
    page.locator("#prop-find").fill("gw_mgr")
    page.locator("#prop-find").press("Enter")
    expect(page.locator("#properties-body")).to_have_attribute("data-element", "gw_mgr")
    page.get_by_label("元素名称").fill("经理意见（手机）")
    page.get_by_label("元素名称").press("Tab")
    page.get_by_role("button", name="保存草稿").tap()
    expect(page.locator("#modeler-status")).to_have_text("已保存。")
    page.screenshot(path="/tmp/modeler_phone.png", full_page=True)
    assert_clean(users)


def test_someone_elses_save_meanwhile_is_reported(users, api):
    """Two designers on one draft: the second save with a stale lock answers 409 and the page says so."""
    page = login(users, "designer1")
    open_quote_approval_from_processes(page)
    draft_id = int(page.url.rsplit("/", 1)[1])
    draft = api.as_("designer1").get(f"/drafts/{draft_id}").get_json()
    r = api.as_("designer1").put(f"/drafts/{draft_id}", json={"xml": draft["xml"], "lock_version": draft["lock_version"]})
    assert r.status_code == 200
    users.allowed_statuses.add(409)
    page.locator("#prop-find").fill("mgr_approve")
    page.locator("#prop-find").press("Enter")
    page.get_by_label("元素名称").fill("经理审批")
    page.get_by_label("元素名称").press("Tab")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#modeler-status")).to_have_text("其他人已保存了此草稿，请刷新页面查看他们的修改。")
    assert_clean(users)


@pytest.fixture(autouse=True)
def _designers_exist(app):
    with app.extensions["session_factory"]() as session:
        assert session.scalar(select(User.id).where(User.username == "designer1")) is not None
