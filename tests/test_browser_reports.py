"""Browser end-to-end test of the report pages (A1, A2, P1), driven through the pages only.

mgr1 (部门经理, D1) opens 报表 from the menu: the 仪表盘 of his department draws its charts (the funnel card holds an
ECharts canvas), he switches the month, opens 业绩排名 and clicks 导出 Excel: the download is a workbook whose sheet
holds the ranking rows shown on the page. On a phone (390×844) the page body never scrolls sideways.
"""
from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from models import clock
from models.reports.scope import add_months, local_today
from tests import test_browser_quote_chain as chain
from tests.test_browser_quote_chain import PHONE, Users

pytestmark = pytest.mark.browser


browser = chain.browser  # the module's chromium (fixture)
users = chain.users  # one browser context per user, collecting JS errors and failed requests (fixture)


def open_reports(page: Page) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="报表").click()
    expect(page).to_have_url(re.compile(r"/reports$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("仪表盘")


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide on a {page.viewport_size['width']}px screen"


def test_A1_A2_P1_dashboard_charts_month_switch_and_ranking_export(users: Users, tmp_path):
    page = users.login("mgr1")
    open_reports(page)
    expect(page.get_by_label("范围", exact=True)).to_have_value(re.compile(r"^department:\d+$"))
    this_month = local_today(clock.now()).replace(day=1)
    expect(page.get_by_label("月份", exact=True)).to_have_value(this_month.strftime("%Y-%m"))

    funnel = page.locator("#report-funnel")
    expect(funnel.get_by_role("heading", level=2)).to_be_visible()
    expect(funnel.locator(".report-chart canvas")).to_have_count(1)  # drawn by ECharts
    expect(funnel.locator(".report-chart")).to_have_attribute("data-drawn", "1")
    expect(funnel.locator("table.report tbody tr").first).to_be_visible()
    assert page.locator(".report-chart canvas").count() >= 2  # every card with rows and a chart is drawn
    expect(funnel.get_by_role("link", name="导出 Excel")).to_be_visible()

    previous = add_months(this_month, -1).strftime("%Y-%m")
    page.get_by_label("月份", exact=True).fill(previous)
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(rf"month={previous}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(previous)
    expect(page.get_by_label("月份", exact=True)).to_have_value(previous)
    expect(page.locator("#report-funnel .report-chart canvas")).to_have_count(1)

    page.get_by_role("navigation", name="报表").get_by_role("link", name="业绩排名").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("业绩排名")
    expect(page).to_have_url(re.compile(rf"/reports/ranking\?scope=department(%3A|:)\d+&month={previous}$"))
    card = page.locator("#report-ranking")
    rows = card.locator("table.report tbody tr")
    expect(rows.first).to_be_visible()
    shown = [[cell.strip() for cell in row] for row in card.locator("table.report tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")]
    headers = card.locator("table.report thead th").all_inner_texts()
    assert {"张伟", "王芳"} <= {row[headers.index("姓名")] for row in shown}, shown
    with page.expect_download() as info:
        card.get_by_role("link", name="导出 Excel").click()
    download = info.value
    assert download.suggested_filename == f"ranking-{previous}.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = load_workbook(path).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0].startswith("销售排名") and previous in values[0][0]
    assert [v for v in values[1] if v is not None] == headers
    body = values[2:2 + len(shown)]
    name_col = headers.index("姓名")
    assert [r[name_col] for r in body] == [row[name_col] for row in shown]  # the rows shown, in their order
    for got, row in zip(body, shown, strict=True):
        assert got[headers.index("部门")] == row[headers.index("部门")]
        assert got[headers.index("新增客户")] == int(row[headers.index("新增客户")])
    users.assert_clean()


def test_A1_reports_on_a_phone_do_not_scroll_sideways(users: Users):
    page = users.login("mgr1", viewport=PHONE, is_mobile=True)
    page.goto(page.url.replace("/inbox", "/reports"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("仪表盘")
    expect(page.locator("#report-funnel .report-chart canvas")).to_have_count(1)
    no_sideways_scroll(page)
    box = page.locator("#report-funnel").bounding_box()
    assert box["width"] <= PHONE["width"]  # cards stack
    page.goto(page.url.replace("/reports", "/reports/ranking"))
    expect(page.locator("#report-ranking table.report")).to_be_visible()
    no_sideways_scroll(page)  # the wide ranking table scrolls inside its own box
    scroller = page.locator("#report-ranking .table-scroll")
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
    page.keyboard.press("Tab")  # the skip link first: keyboard order starts at the top
    expect(page.locator(".skip")).to_be_focused()
    users.assert_clean()
