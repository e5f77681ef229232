"""Browser end-to-end test of X1 (execution order) and the start of I1, driven through the pages only.

rep1 submits an execution order for his approved contract; bizmgr1 approves it; logistics1, finance1 and implmgr1
each confirm their part; the implementation order appears; implmgr1 splits it into tasks (adding a row with the
button) on a phone-sized screen, and the tasks and milestones show on the implementation order page.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from models.demo import DEMO_PASSWORD
from tests.test_execution_orders import make_contract

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Users:
    browser: Browser
    base: str
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def login(self, username: str, viewport: dict | None = None, is_mobile: bool = False) -> Page:
        context = self.browser.new_context(viewport=viewport or DESKTOP, is_mobile=is_mobile, has_touch=is_mobile,
                                           locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))
        page.goto(f"{self.base}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        expect(page).to_have_url(re.compile(r"/inbox$"))
        return page


@pytest.fixture
def users(browser, live_server) -> Iterator[Users]:
    u = Users(browser, live_server)
    yield u
    for context in u.contexts:
        context.close()


def do_task(users: Users, username: str, task_name: str, button: str, comment: str) -> None:
    page = users.login(username)
    row = page.locator("table.list tbody tr").filter(has_text=task_name)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="办理").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(task_name)
    expect(page.locator("main")).to_contain_text("执行单")
    page.locator("#task-form #comment").fill(comment)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("status")).to_have_text("已办理。")
    page.context.close()


def test_X1_execution_order_through_the_pages_starts_implementation_order(users, app):
    session = app.extensions["session_factory"]()
    try:
        contract_id = make_contract(session, amount="250000.00")
    finally:
        session.close()

    rep = users.login("rep1")
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="执行单").click()
    expect(rep).to_have_url(re.compile(r"/execution-orders$"))
    rep.get_by_role("link", name="新建执行单").click()
    rep.get_by_role("combobox", name="合同").select_option(value=str(contract_id))
    rep.get_by_label("销售订单").check()
    rep.get_by_role("textbox", name="说明").fill("客户要求月底前发货")
    rep.get_by_role("button", name="提交审核").click()
    expect(rep).to_have_url(re.compile(r"/execution-orders/\d+$"))
    expect(rep.get_by_role("status")).to_have_text("执行单已提交审核。")
    expect(rep.locator("h1 .status")).to_have_text("待审核")
    order_url = rep.url
    rep.context.close()

    do_task(users, "bizmgr1", "商务经理审核", "同意", "商务审核通过")
    do_task(users, "logistics1", "确认发货", "确认", "月底前发货")
    do_task(users, "finance1", "确认回款计划", "确认", "按合同节点回款")
    do_task(users, "implmgr1", "确认实施", "确认", "安排实施")

    rep = users.login("rep1")
    rep.goto(order_url)
    expect(rep.locator("h1 .status")).to_have_text("已确认")
    expect(rep.locator("main")).to_contain_text("商务审核通过")
    rep.get_by_role("link", name=re.compile("^流程实例")).click()
    diagram = rep.locator("#diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")  # bpmn-js draws the shipped diagram (DI)
    expect(diagram.locator("svg .djs-element.done")).not_to_have_count(0)
    rep.goto(order_url)
    rep.locator("#implementation-order-link").click()
    expect(rep).to_have_url(re.compile(r"/implementation-orders/\d+$"))
    expect(rep.get_by_role("heading", level=1)).to_contain_text("实施单 SS")
    expect(rep.locator("h1 .status")).to_have_text("待拆分")
    impl_url = rep.url
    rep.context.close()

    # The implementation manager splits it on a phone: one milestone, two tasks (the second row added by button).
    mgr = users.login("implmgr1", viewport=PHONE, is_mobile=True)
    row = mgr.locator("table.list tbody tr").filter(has_text="拆分任务")
    row.get_by_role("link", name="办理").click()
    mgr.get_by_label("里程碑名称 1").fill("上线")
    mgr.get_by_label("回款比例 1").fill("40")
    for _ in range(2):
        mgr.get_by_role("button", name="添加任务").click()
    expect(mgr.locator("#split-tasks tbody tr")).to_have_count(5)
    expect(mgr.get_by_label("任务名称 5")).to_be_focused()
    mgr.get_by_label("任务名称 1").fill("安装部署")
    mgr.get_by_label("实施人员 1").select_option(label="马超 (impl1)")
    mgr.get_by_label("里程碑 1", exact=True).fill("上线")
    mgr.get_by_label("任务名称 5").fill("用户培训")
    mgr.get_by_label("实施人员 5").select_option(label="韩冰 (impl2)")
    mgr.get_by_role("button", name="分配任务").click()
    expect(mgr.get_by_role("status")).to_have_text("已办理。")
    mgr.goto(impl_url)
    expect(mgr.locator("h1 .status")).to_have_text("实施中")
    expect(mgr.locator("#impl-tasks tbody tr")).to_have_count(2)
    expect(mgr.locator("#milestones tbody tr")).to_contain_text("¥100,000.00")
    mgr.get_by_role("link", name=re.compile("^流程实例")).click()
    expect(mgr.locator("#diagram")).to_have_attribute("data-rendered", "true")
    mgr.context.close()

    impl = users.login("impl1")
    expect(impl.locator("table.list tbody tr").filter(has_text="完成实施任务")).to_have_count(1)
    impl.goto(impl_url)
    expect(impl.locator("#impl-tasks tbody tr")).to_have_count(1)
    expect(impl.locator("#impl-tasks")).to_contain_text("安装部署")
    assert not users.problems, "\n".join(users.problems)
