"""Browser end-to-end test of lead routing (L1–L4), driven through the pages only.

mkt1 (市场部) enters a lead by phone and keeps it from 待办; bizmgr1 (商务经理) completes region and industry on
商机分配; the routing table (demo rule 华北 → 张伟/rep1) routes it; rep1 finds 跟进商机 in 待办 and follows it up.
A second lead no rule matches comes back to bizmgr1's desk and is routed by hand (on a phone viewport).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.test_browser_quote_chain import CHROMIUM_ARGS, PHONE, Users, logout

pytestmark = pytest.mark.browser
COMPANY = "天津港湾设备有限公司"
NO_RULE_COMPANY = "兰州西北农业科技有限公司"


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


def enter_lead(page: Page, company: str, region: str = "") -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="商机", exact=True).click()
    page.get_by_role("link", name="新建商机").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("新建商机")
    page.get_by_label("公司名称").fill(company)
    page.get_by_label("联系人").fill("赵先生")
    page.get_by_label("来源").select_option(label="电话来访")
    page.get_by_label("电话").fill("022-66881234")
    if region:
        page.get_by_label("区域").fill(region)
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(r"/leads/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(company)
    expect(page.locator("dd.source")).to_have_text("电话来访")  # L1


def open_in_inbox(page: Page, step: str, company: str) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="审批中心").click()
    row = page.locator("table.list tbody tr").filter(has_text=company).filter(has_text=step)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='流程']")).to_have_text("商机分配")
    row.get_by_role("link", name="办理").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(step)
    expect(page.locator("#subject-lead-title")).to_contain_text(company)


def test_L2_L3_marketing_keeps_business_manager_routes_rep_follows_up(users: Users):
    # marketing enters and screens the lead
    mkt = users.login("mkt1")
    enter_lead(mkt, COMPANY)
    open_in_inbox(mkt, "市场部筛选商机", COMPANY)
    mkt.get_by_role("button", name="保留").click()
    expect(mkt.get_by_role("status")).to_have_text("已办理。")
    logout(mkt)

    # the business manager completes region and industry on the lead desk; the routing table routes it
    biz = users.login("bizmgr1")
    biz.get_by_role("navigation", name="菜单").get_by_role("link", name="商机分配").click()
    expect(biz.get_by_role("heading", level=1)).to_contain_text("商机分配")
    card = biz.locator("section.desk-item").filter(has_text=COMPANY)
    expect(card).to_contain_text("完善商机")
    card.get_by_label("区域").fill("华北")
    card.get_by_label("行业").fill("制造业")
    card.get_by_role("button", name="分配").click()
    expect(biz.get_by_role("status")).to_have_text("商机已分配。")
    expect(biz.locator("section.desk-item").filter(has_text=COMPANY)).to_have_count(0)
    logout(biz)

    # the routed rep sees it in 待办 and follows it up
    rep = users.login("rep1")
    open_in_inbox(rep, "跟进商机", COMPANY)
    expect(rep.locator("#subject-lead-title").locator("..")).to_contain_text("华北")
    rep.locator("#comment").fill("已电话联系，约下周拜访")
    rep.get_by_role("button", name="已跟进").click()
    expect(rep.get_by_role("status")).to_have_text("已办理。")
    rep.get_by_role("navigation", name="菜单").get_by_role("link", name="商机", exact=True).click()
    rep.get_by_role("link", name=COMPANY).click()
    expect(rep.get_by_role("heading", level=1)).to_contain_text("跟进中")
    users.assert_clean()


def test_L3_no_rule_back_to_the_business_manager_routed_by_hand_on_a_phone(users: Users):
    users.allowed_statuses.add(422)
    mkt = users.login("mkt1")
    enter_lead(mkt, NO_RULE_COMPANY, region="西北")
    open_in_inbox(mkt, "市场部筛选商机", NO_RULE_COMPANY)
    mkt.get_by_role("button", name="保留").click()
    expect(mkt.get_by_role("status")).to_have_text("已办理。")
    logout(mkt)

    biz = users.login("bizmgr1", viewport=PHONE, is_mobile=True)
    biz.goto(biz.url.replace("/inbox", "/lead-desk"))
    card = biz.locator("section.desk-item").filter(has_text=NO_RULE_COMPANY)
    expect(card.get_by_label("区域")).to_have_value("西北")
    card.get_by_label("行业").fill("农业")
    card.get_by_role("button", name="分配").click()
    expect(biz.get_by_role("status")).to_have_text("商机已分配。")
    card = biz.locator("section.desk-item").filter(has_text=NO_RULE_COMPANY)
    expect(card).to_contain_text("手工分配")
    card.get_by_role("button", name="分配").click()  # nobody picked: refused, the field says why
    card = biz.locator("section.desk-item").filter(has_text=NO_RULE_COMPANY)
    expect(card.locator(".field-error")).to_be_visible()
    card.get_by_label("分配给").select_option(label="王芳 (rep2)")
    card.get_by_role("button", name="分配").click()
    expect(biz.get_by_role("status")).to_have_text("商机已分配。")
    logout(biz)

    rep = users.login("rep2")
    open_in_inbox(rep, "跟进商机", NO_RULE_COMPANY)
    users.assert_clean()
