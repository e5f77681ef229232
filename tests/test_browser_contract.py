"""Browser end-to-end test of policy K1 (contract countersign), driven through the pages only.

rep1 enters a contract in the browser (新建合同: custom template, so it is countersigned), sales management
gives its first opinion, the R&D VP, the implementation-service VP and the president countersign, and the
rep sees 已批准. Debian's chromium is driven by Playwright's sync API against `live_server`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from models.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CUSTOMER = "北京华信科技有限公司"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Session:
    def __init__(self, browser: Browser, base: str):
        self.browser, self.base, self.problems, self.contexts = browser, base, [], []

    def login(self, username: str) -> Page:
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))
        page.goto(f"{self.base}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page


@pytest.fixture
def web(browser, live_server) -> Iterator[Session]:
    s = Session(browser, live_server)
    yield s
    for context in s.contexts:
        context.close()


def sign_as(web: Session, username: str, step: str, comment: str) -> None:
    page = web.login(username)
    page.goto(f"{web.base}/inbox")
    row = page.locator("table.list tbody tr").filter(has_text=step)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='流程']")).to_have_text("合同审批")
    expect(row.locator("td[data-label='发起人']")).to_have_text("张伟")
    expect(row.locator("td[data-label='标题']")).to_have_text(f"合同审批 · {CUSTOMER} · ¥300,000.00 · 6折")
    row.get_by_role("link", name="办理").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    card = page.locator("section.contract-card")
    expect(card).to_contain_text(CUSTOMER)
    expect(card.locator("dd.amount")).to_have_text("¥300,000.00")
    expect(card.locator("dd.discount")).to_have_text("6折 (60%)")
    form = page.locator("#task-form")
    form.locator("#comment").fill(comment)
    form.get_by_role("button", name="同意", exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("status")).to_have_text("已办理。")
    page.context.close()


def test_K1_browser_rep_enters_contract_and_it_is_countersigned(web):
    """K1 through the pages: 新建合同 (custom template) → 销售管理部初审意见 → three countersignatures → 已批准."""
    rep = web.login("rep1")
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="合同", exact=True).click()
    expect(rep.get_by_role("heading", level=1)).to_contain_text("合同")
    rep.get_by_role("link", name="新建合同").click()
    expect(rep).to_have_url(re.compile(r"/contracts/new$"))
    rep.get_by_label("客户").select_option(label=CUSTOMER)
    rep.get_by_label("标题").fill("华信 CRM 升级 软件许可合同")
    rep.get_by_label("合同类型").select_option(label="项目")
    rep.get_by_label("合同模板").select_option(label="非标准模板")
    rep.get_by_label("目录价金额 (CNY)").fill("500000")
    rep.get_by_label("合同金额 (CNY)").fill("300000")
    rep.get_by_label("合同条款").fill("首付 30%，验收后 60%，质保金 10%。")
    rep.get_by_role("button", name="提交审批").click()
    expect(rep).to_have_url(re.compile(r"/contracts/\d+$"))
    expect(rep.get_by_role("status")).to_have_text("合同已提交审批。")
    expect(rep.locator("#contract-status")).to_have_text("审批中")
    expect(rep.locator("h1")).to_contain_text(re.compile(r"HT-\d{4}-\d{6}"))
    contract_url = rep.url
    expect(rep.locator("main")).to_contain_text("当前步骤: 销售管理部初审意见")
    rep.context.close()

    sign_as(web, "salesmgmt1", "销售管理部初审意见", "条款已审阅，付款节点合理。")
    sign_as(web, "rndvp", "研发副总裁会签", "研发资源可以保障。")
    sign_as(web, "implvp", "实施服务副总裁会签", "实施周期可行。")
    sign_as(web, "president", "总裁会签", "同意签约。")

    rep = web.login("rep1")
    rep.goto(contract_url)
    expect(rep.locator("#contract-status")).to_have_text("已批准")
    history = rep.locator("section.card").filter(has=rep.get_by_role("heading", name="流转记录")).locator("li")
    expect(history.filter(has=rep.locator(".decision.approve"))).to_have_count(4)
    expect(history.filter(has_text="赵总").filter(has_text="总裁会签")).to_contain_text("同意签约。")
    expect(rep.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(rep.locator("#diagram svg .djs-element.done")).to_have_count(4)
    # the list shows it approved too
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="合同", exact=True).click()
    expect(rep.locator("table.list tbody tr").first.locator(".status")).to_have_text("已批准")
    assert not web.problems, "\n".join(web.problems)
