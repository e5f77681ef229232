"""Browser end-to-end test of a sales rep's day (issue 3), driven through the pages only.

rep1 (张伟) enters a customer and sees the duplicate refusal (C1), logs an activity on an opportunity and on a
customer (T1/U3), and moves an opportunity on the kanban board (销售看板) by drag and drop and by keyboard; the
move is persisted (E4: he is the owner). His manager sees the board read-only. On a phone the columns scroll
sideways and the ← → buttons move a card.

Debian's chromium is driven by Playwright's sync API against `live_server`, as in test_browser_quote_chain.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select

from models.crm import Customer
from models.sales import Activity, Opportunity
from tests.test_browser_quote_chain import CHROMIUM_ARGS, PHONE, Users

pytestmark = pytest.mark.browser

OPPORTUNITY = "华信 CRM 升级项目"  # rep1's, demo data: stage 需求确认 (needs_confirmed)
CUSTOMER = "北京华信科技有限公司"


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def users(browser, live_server) -> Iterator[Users]:
    u = Users(browser, live_server)
    yield u
    for context in u.contexts:
        context.close()


def column(page: Page, code: str):
    return page.locator(f"section.column[data-stage='{code}']")


def card(page: Page, name: str):
    return page.locator("li.opp-card").filter(has=page.get_by_role("link", name=name, exact=True))


def test_rep_day_enters_a_customer_and_sees_the_duplicate_refusal(users, session):
    """C1/E1: a new customer is saved; entering the same registered name again is refused on the page."""
    users.allowed_statuses |= {409, 422}
    page = users.login("rep1")
    response = page.goto(f"{users.base}/customers/new")
    if response is not None and response.status == 404:
        pytest.skip("the customer pages (/customers/new) are not there yet")
    name = "武汉光谷智能科技有限公司"
    page.locator("#name").fill(name)
    page.locator("#contact_name").fill("刘晓")
    page.locator("#contact_mobile").fill("13871234567")
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    # the same company again (with stray spaces): refused, nothing saved
    page.goto(f"{users.base}/customers/new")
    page.locator("#name").fill(" 武汉光谷智能科技有限公司 ")
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/customers/new$"))
    refusal = page.locator(".field-error, [role=alert]").first
    expect(refusal).to_be_visible()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Customer).where(Customer.name.like("%武汉光谷%"))) == 1
    users.assert_clean()


def test_rep_day_logs_activities_and_moves_an_opportunity_on_the_board(users, session):
    """T1/U3 activity logged from the opportunity page; F1/E4 the card moves by drag and by keyboard, persisted."""
    page = users.login("rep1")
    # 1. find the opportunity in the list and log a visit on it
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="销售机会").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("销售机会")
    page.get_by_role("link", name=OPPORTUNITY, exact=True).click()
    expect(page).to_have_url(re.compile(r"/opportunities/\d+$"))
    opp_url = page.url
    expect(page.locator("dd.stage")).to_have_text("需求确认")
    expect(page.locator("dd.probability")).to_have_text("20%")
    page.get_by_label("类型").select_option(label="拜访")
    page.get_by_label("主题").fill("现场演示移动端，客户认可")
    page.get_by_label("内容与结果").fill("下周提交正式方案")
    page.get_by_role("button", name="新建跟进记录").click()
    expect(page).to_have_url(opp_url)
    expect(page.get_by_role("status")).to_have_text("跟进记录已保存。")
    entry = page.locator("#activities ol.activities li").filter(has_text="现场演示移动端，客户认可")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("拜访")
    expect(entry).to_contain_text("张伟")

    # 2. log a call against the customer (the activity form for a customer)
    session.rollback()
    customer_id = session.scalar(select(Customer.id).where(Customer.name == CUSTOMER))
    page.goto(f"{users.base}/activities/new?customer_id={customer_id}")
    expect(page.locator("main")).to_contain_text(CUSTOMER)
    page.get_by_label("类型").select_option(label="电话")
    page.get_by_label("主题").fill("电话确认演示反馈")
    page.get_by_role("button", name="新建跟进记录").click()
    expect(page.get_by_role("status")).to_have_text("跟进记录已保存。")
    expect(page.locator("main")).to_contain_text("电话确认演示反馈")
    session.rollback()
    assert session.get(Customer, customer_id).last_contact_at is not None  # T1

    # 3. the board: drag the card from 需求确认 to 方案
    page.goto(f"{users.base}/opportunities/board")
    expect(page.get_by_role("heading", level=1)).to_contain_text("销售看板")
    the_card = card(page, OPPORTUNITY)
    expect(column(page, "needs_confirmed").locator("li.opp-card")).to_contain_text([OPPORTUNITY])
    expect(column(page, "solution").locator(".count")).to_have_text("1")
    expect(column(page, "solution").locator(".sum")).to_have_text("¥1,250,000.00")
    the_card.drag_to(column(page, "solution").locator("ol.cards"))
    expect(page.locator("#board-status")).to_have_text("已移至方案。")
    expect(column(page, "solution").locator("li.opp-card")).to_have_count(2)
    expect(column(page, "solution").locator(".count")).to_have_text("2")
    expect(column(page, "solution").locator(".sum")).to_have_text("¥1,630,000.00")
    expect(column(page, "needs_confirmed").locator(".count")).to_have_text("0")
    expect(column(page, "needs_confirmed").locator(".sum")).to_have_text("¥0.00")

    # 4. by keyboard: focus the card and press →, then use the → button with Enter
    the_card.focus()
    expect(the_card).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#board-status")).to_have_text("已移至招标公告。")
    expect(column(page, "tender_published").locator("li.opp-card")).to_contain_text([OPPORTUNITY])
    expect(the_card).to_be_focused()
    the_card.get_by_role("button", name=re.compile("^移到下一阶段")).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#board-status")).to_have_text("已移至投标。")
    expect(column(page, "bid").locator("li.opp-card")).to_contain_text([OPPORTUNITY])
    # the select + 移动 works too (back one stage)
    the_card.get_by_label(re.compile("^销售阶段")).select_option(label="招标公告")
    the_card.get_by_role("button", name="移动").click()
    expect(page.locator("#board-status")).to_have_text("已移至招标公告。")

    # 5. persisted: after a reload the card is in 招标公告, and the opportunity page says so
    page.reload()
    expect(column(page, "tender_published").locator("li.opp-card")).to_contain_text([OPPORTUNITY])
    page.goto(opp_url)
    expect(page.locator("dd.stage")).to_have_text("招标公告")
    expect(page.locator("dd.probability")).to_have_text("50%")
    session.rollback()
    opp = session.scalar(select(Opportunity).where(Opportunity.name == OPPORTUNITY))
    assert opp.stage_code == "tender_published" and opp.win_probability == 50 and opp.last_activity_at is not None
    assert session.scalar(select(func.count()).select_from(Activity).where(Activity.owner_id == opp.owner_id)) >= 3
    users.assert_clean()


def test_rep_day_manager_sees_the_board_read_only(users):
    """E4: the department manager sees his rep's cards but cannot move them."""
    page = users.login("mgr1")
    page.goto(f"{users.base}/opportunities/board")
    the_card = card(page, OPPORTUNITY)
    expect(the_card).to_have_attribute("draggable", "false")
    expect(the_card).to_contain_text("只读")
    expect(the_card.get_by_role("button")).to_have_count(0)
    the_card.focus()
    page.keyboard.press("ArrowRight")
    expect(column(page, "needs_confirmed").locator("li.opp-card")).to_contain_text([OPPORTUNITY])
    users.assert_clean()


def test_rep_day_board_on_a_phone(users):
    """On a phone the columns scroll sideways and the ← → buttons move a card."""
    page = users.login("rep1", viewport=PHONE, is_mobile=True)
    page.goto(f"{users.base}/opportunities/board")
    wrap = page.locator(".board-wrap")
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    the_card = card(page, "南粤物流 移动销售")  # demo: 跟进
    the_card.get_by_role("button", name=re.compile("^移到上一阶段")).tap()
    expect(page.locator("#board-status")).to_have_text("已移至线索。")
    expect(column(page, "lead").locator("li.opp-card")).to_contain_text(["南粤物流 移动销售"])
    prev = the_card.get_by_role("button", name=re.compile("^移到上一阶段"))
    expect(prev).to_be_disabled()  # 线索 is the first stage
    users.assert_clean()
