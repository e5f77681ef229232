"""Browser end-to-end tests of policy Q1 (quote approval chain), driven through the pages only.

Debian's chromium (/usr/bin/chromium) is driven by Playwright's sync API against the `live_server`
fixture; nothing is downloaded by Playwright. Every user gets a fresh browser context (own cookies),
one browser serves the whole module.

Q1: the department manager approves down to 5折; below that the president's assistant, down to
4.5折; below that a vice-president. A rejection at any step ends the chain.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from models.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CUSTOMER = "北京华信科技有限公司"
PENDING_CUSTOMER = "深圳前海新创有限公司"  # rep1's customer that is not approved yet
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Users:
    """Opens one browser context per user; collects JavaScript errors and failed requests."""

    browser: Browser
    base: str
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)  # e.g. 422 for a refused form

    def open(self, viewport: dict | None = None, is_mobile: bool = False) -> Page:
        context = self.browser.new_context(viewport=viewport or DESKTOP, is_mobile=is_mobile,
                                           has_touch=is_mobile, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        page.on("response", lambda r: r.status >= 400 and r.status not in self.allowed_statuses
                and self.problems.append(f"{r.status} {r.url}"))
        return page

    def _console(self, page: Page, msg) -> None:
        if msg.type != "error":
            return
        if any(f"status of {s} " in msg.text for s in self.allowed_statuses):
            return
        self.problems.append(f"console error on {page.url}: {msg.text}")

    def login(self, username: str, *, viewport: dict | None = None, is_mobile: bool = False,
              lang: str | None = None) -> Page:
        page = self.open(viewport, is_mobile)
        page.goto(f"{self.base}/login" + (f"?lang={lang}" if lang else ""))
        english = lang == "en"
        expect(page.get_by_role("heading", name="Sign in" if english else "登录")).to_be_visible()
        page.get_by_label("Username" if english else "用户名").fill(username)
        page.get_by_label("Password" if english else "密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in" if english else "登录", exact=True).click()
        expect(page).to_have_url(re.compile(r"/inbox$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Approval center" if english else "审批中心")
        return page

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def users(browser, live_server) -> Iterator[Users]:
    u = Users(browser, live_server)
    yield u
    for context in u.contexts:
        context.close()


def logout(page: Page) -> None:
    """退出 is a POST form in the header (CSRF-protected), not a link."""
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.context.close()


def submit_quote(page: Page) -> str:
    """rep1 fills 新建报价 (¥10,000 list, ¥4,400 quote: 4.4折, below 4.5折) and submits; returns the quote URL."""
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="新建报价").click()
    expect(page).to_have_url(re.compile(r"/quotes/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("新建报价")
    page.get_by_label("客户").select_option(label=CUSTOMER)
    page.get_by_label("产品").fill("CRM 企业版 100 用户")
    page.get_by_label("目录价金额").fill("10000")
    page.get_by_label("报价金额").fill("4400")
    expect(page.locator("#discount-preview")).to_have_text("4.4折 (44%)")
    page.get_by_role("button", name="提交审批").click()
    expect(page).to_have_url(re.compile(r"/quotes/\d+$"))
    expect(page.get_by_role("status")).to_have_text("报价已提交审批。")
    return page.url


def open_task_from_inbox(page: Page, task_name: str) -> None:
    """The approver finds the quote in 待办 (requester and title shown) and opens it (办理)."""
    expect(page.get_by_role("link", name="待办")).to_have_attribute("aria-current", "page")
    row = page.locator("table.list tbody tr").filter(has_text=task_name)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='发起人']")).to_have_text("张伟")
    expect(row.locator("td[data-label='标题']")).to_have_text(f"{CUSTOMER} · ¥4,400.00")
    expect(row.locator("td[data-label='流程']")).to_have_text("报价审批")
    row.get_by_role("link", name="办理").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(task_name)


def assert_quote_details(page: Page) -> None:
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("^报价单")))
    expect(card.locator("dd").nth(0)).to_have_text(CUSTOMER)
    expect(card).to_contain_text("¥10,000.00")
    expect(card).to_contain_text("¥4,400.00")
    expect(card.locator("dd.discount")).to_have_text("4.4折 (44%)")


def decide(page: Page, button: str, comment: str) -> None:
    page.get_by_label("审批意见").fill(comment)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("status")).to_have_text("已办理。")
    expect(page.locator("main")).to_contain_text("暂无数据。")  # the task left the approver's 待办


def approve_as(users: Users, username: str, task_name: str, comment: str) -> None:
    page = users.login(username)
    open_task_from_inbox(page, task_name)
    assert_quote_details(page)
    decide(page, "同意", comment)
    logout(page)


def history_items(page: Page):
    return page.locator("section.card").filter(has=page.get_by_role("heading", name="流转记录")).locator("li")


def test_q1_quote_below_45_zhe_goes_manager_assistant_vp_and_is_approved(users):
    """Q1: a 4.4折 quote (below 4.5折) is approved by 部门经理 → 总裁助理 → 副总裁, all through the pages."""
    rep = users.login("rep1")
    expect(rep.get_by_role("navigation", name="菜单")).to_contain_text("审批中心")
    quote_url = submit_quote(rep)
    expect(rep.locator(".status")).to_have_text("审批中")
    history = history_items(rep)
    expect(history.nth(0)).to_contain_text("张伟")
    expect(history.nth(0)).to_contain_text("发起")
    expect(history.filter(has_text="部门经理审批")).to_contain_text("到达")
    expect(rep.locator("main")).to_contain_text("当前步骤: 部门经理审批 (部门经理)")
    logout(rep)

    approve_as(users, "mgr1", "部门经理审批", "经理意见：价格可接受，报总裁助理。")
    approve_as(users, "pa1", "总裁助理审批", "助理意见：低于4.5折，请副总裁定夺。")
    approve_as(users, "vp1", "副总裁审批", "副总裁意见：同意，战略客户。")

    rep = users.login("rep1")
    rep.goto(quote_url)
    expect(rep.locator(".status")).to_have_text("已批准")
    decisions = history_items(rep).filter(has=rep.locator(".decision.approve"))
    expect(decisions).to_have_count(3)
    for i, (who, step, comment) in enumerate([
        ("李强", "部门经理审批", "经理意见：价格可接受，报总裁助理。"),
        ("陈静", "总裁助理审批", "助理意见：低于4.5折，请副总裁定夺。"),
        ("杨军", "副总裁审批", "副总裁意见：同意，战略客户。"),
    ]):
        item = decisions.nth(i)
        expect(item.locator("strong")).to_have_text(who)
        expect(item).to_contain_text(step)
        expect(item.locator(".decision")).to_have_text("同意")
        expect(item.locator("blockquote")).to_have_text(comment)
    expect(rep.locator("main")).not_to_contain_text("当前步骤")
    diagram = rep.locator("#diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    expect(diagram.locator("svg .djs-element.done")).to_have_count(3)
    # The quote list shows the decision too.
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="报价单").click()
    expect(rep.locator("table.list tbody tr").first.locator(".status")).to_have_text("已批准")
    users.assert_clean()


def test_q1_rejection_by_manager_ends_the_chain(users):
    """Q1: 驳回 at the first step ends the chain; the rep sees 已驳回 and the comment; pa1 gets nothing."""
    rep = users.login("rep1")
    quote_url = submit_quote(rep)
    logout(rep)

    mgr = users.login("mgr1")
    open_task_from_inbox(mgr, "部门经理审批")
    assert_quote_details(mgr)
    decide(mgr, "驳回", "折扣过低，请重新报价。")
    mgr.get_by_role("link", name="已办").click()
    done = mgr.locator("table.list tbody tr")
    expect(done).to_have_count(1)
    expect(done.locator("td[data-label='当前步骤']")).to_have_text("部门经理审批 · 驳回")
    logout(mgr)

    rep = users.login("rep1")
    rep.goto(quote_url)
    expect(rep.locator(".status")).to_have_text("已驳回")
    rejected = history_items(rep).filter(has=rep.locator(".decision.reject"))
    expect(rejected).to_have_count(1)
    expect(rejected.locator("strong")).to_have_text("李强")
    expect(rejected.locator("blockquote")).to_have_text("折扣过低，请重新报价。")
    expect(rep.locator("main")).not_to_contain_text("当前步骤")
    expect(rep.locator("#diagram")).to_have_attribute("data-rendered", "true")
    logout(rep)

    pa = users.login("pa1")
    expect(pa.locator("main")).to_contain_text("暂无数据。")
    expect(pa.locator("table.list")).to_have_count(0)
    users.assert_clean()


def test_q1_english_switch_shows_english_labels(users):
    """Q1 pages in English (?lang=en): login, approval center, task page and 折 shown second."""
    rep = users.login("rep1")
    submit_quote(rep)
    logout(rep)

    mgr = users.login("mgr1", lang="en")
    expect(mgr.locator("html")).to_have_attribute("lang", "en")
    nav = mgr.get_by_role("navigation", name="Menu")
    for label in ("Approval center", "Quotes", "New quote", "Processes"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    expect(mgr.get_by_role("link", name="To do")).to_be_visible()
    expect(mgr.get_by_role("button", name="Sign out")).to_be_visible()
    expect(mgr.locator("table.list thead")).to_contain_text("Requester")
    mgr.get_by_role("link", name="Open").click()
    expect(mgr.get_by_label("Comment")).to_be_visible()
    expect(mgr.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    expect(mgr.get_by_role("button", name="Reject", exact=True)).to_be_visible()
    expect(mgr.get_by_role("heading", name="History")).to_be_visible()
    expect(mgr.locator("dd.discount")).to_have_text("44% (4.4折)")
    expect(mgr.locator(".status")).to_have_text("Pending")
    history = mgr.locator("ol.history li")
    expect(history.nth(0)).to_contain_text("张伟 Submitted")
    expect(history.nth(1)).to_contain_text("Step reached · 部门经理审批")
    expect(mgr.locator("main")).to_contain_text("Current step: 部门经理审批 (Department manager)")
    # …and back to Chinese with the header switch.
    mgr.get_by_role("link", name="中文").click()
    expect(mgr.get_by_role("button", name="同意", exact=True)).to_be_visible()
    users.assert_clean()


def _no_horizontal_scroll(page: Page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"horizontal scroll on {page.url}: scrollWidth {sizes[0]} > {sizes[1]}"


def test_q1_phone_inbox_and_task_page_fit_and_approve_works_by_keyboard(users):
    """Q1 on a 390x844 phone: no horizontal scroll; 同意 is reached with Tab and pressed with Enter."""
    rep = users.login("rep1", viewport=PHONE, is_mobile=True)
    submit_quote(rep)
    _no_horizontal_scroll(rep)
    logout(rep)

    mgr = users.login("mgr1", viewport=PHONE, is_mobile=True)
    _no_horizontal_scroll(mgr)
    open_task_from_inbox(mgr, "部门经理审批")
    expect(mgr.locator("#diagram")).to_have_attribute("data-rendered", "true")
    _no_horizontal_scroll(mgr)
    mgr.screenshot(path="/tmp/q1_task_phone.png", full_page=True)

    comment = mgr.get_by_label("审批意见")
    comment.focus()
    mgr.keyboard.type("手机上同意。")
    approve = mgr.get_by_role("button", name="同意", exact=True)
    mgr.keyboard.press("Tab")
    expect(approve).to_be_focused()
    mgr.keyboard.press("Enter")
    expect(mgr).to_have_url(re.compile(r"/inbox$"))
    expect(mgr.get_by_role("status")).to_have_text("已办理。")
    _no_horizontal_scroll(mgr)
    logout(mgr)

    pa = users.login("pa1", viewport=PHONE, is_mobile=True)
    open_task_from_inbox(pa, "总裁助理审批")
    expect(history_items(pa).filter(has=pa.locator("blockquote"))).to_contain_text("手机上同意。")
    users.assert_clean()


def test_q1_task_page_desktop_screenshot_and_claim(users):
    """Q1 task page on a desktop: the diagram marks the current step; 领取 / 退回待领 work from the page."""
    rep = users.login("rep1")
    submit_quote(rep)
    logout(rep)
    mgr = users.login("mgr1")
    open_task_from_inbox(mgr, "部门经理审批")
    diagram = mgr.locator("#diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    expect(diagram.locator("svg .djs-element.current")).to_have_count(1)
    expect(diagram.locator("svg [data-element-id='mgr_approve']")).to_have_class(re.compile(r"\bcurrent\b"))
    _no_horizontal_scroll(mgr)
    mgr.screenshot(path="/tmp/q1_task_desktop.png", full_page=True)

    mgr.get_by_role("button", name="领取").click()
    expect(mgr.get_by_role("status")).to_have_text("已领取。")
    expect(mgr.locator("main")).to_contain_text("当前步骤: 部门经理审批 (部门经理 · 李强)")
    mgr.get_by_role("button", name="退回待领").click()
    expect(mgr.get_by_role("status")).to_have_text("已退回待领。")
    expect(mgr.get_by_role("button", name="领取")).to_be_visible()
    users.assert_clean()


def test_q1_new_quote_form_offers_only_approved_customers_and_explains_errors(users):
    """Q1: only approved customers can be quoted; errors are in Chinese; the 折 preview is exact."""
    users.allowed_statuses.add(422)  # the refused form answers 422 Unprocessable Entity
    rep = users.login("rep1")
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="新建报价").click()
    customer = rep.get_by_label("客户")
    expect(customer.locator("option", has_text=CUSTOMER)).to_have_count(1)
    expect(customer.locator("option", has_text=PENDING_CUSTOMER)).to_have_count(0)
    rep.get_by_role("button", name="提交审批").click()
    expect(rep.locator(".field-error")).to_have_text(["必填。", "必填。", "必填。"])
    expect(rep.get_by_label("目录价金额")).to_have_attribute("aria-invalid", "true")
    rep.get_by_label("目录价金额").fill("100")
    rep.get_by_label("报价金额").fill("5.8")  # floor(0.058 * 1000) is 57 in floating point
    expect(rep.locator("#discount-preview")).to_have_text("0.58折 (5.8%)")
    rep.get_by_label("报价金额").fill("120")
    customer.select_option(label=CUSTOMER)
    rep.get_by_role("button", name="提交审批").click()
    expect(rep.locator(".field-error")).to_have_text("报价金额不能高于目录价金额。")
    users.assert_clean()
