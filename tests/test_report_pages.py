"""Report pages, the reports API and the Excel export (A1–A3, P1): who may pick which scope, errors, the xlsx.

Two probe reports are registered for these tests (and removed after): `probe_customers` counts each owner's
approved customers of the scope from the demo data (rep1 3, rep2 1, rep3 1), so scope filtering is checked on
real figures; `probe_place` puts a ranking placement in `extra`. Every real report that has landed in the registry
is also exported and compared cell by cell with its API JSON.
"""
from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import clock
from models.audit import AuditLog
from models.crm import Customer
from models.org import Department, Sector, User
from models.reports.scope import local_today
from models.reports.tables import REPORTS, Chart, Column, ReportTable, report
from tests.test_pages import login

HOSTILE = "</script><script>alert(1)</script>"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _probe_customers(session, scope, month, locale):
    rows = session.execute(
        select(User.display_name, func.count(Customer.id))
        .join(Customer, Customer.owner_id == User.id)
        .where(Customer.status == "approved", scope.people_clause(Customer.owner_id, Customer.sector_id))
        .group_by(User.id, User.display_name).order_by(User.id)).all()
    total = sum(n for _name, n in rows)
    return ReportTable(
        "probe_customers", "探针：客户数" if locale == "zh" else "Probe: customers",
        [Column("owner", "负责人", "Owner", "text"), Column("customers", "客户数", "Customers", "int"),
         Column("value", "客户价值", "Customer value", "money"), Column("share", "占比", "Share", "percent"),
         Column("month", "月份", "Month", "month")],
        [{"owner": name, "customers": n, "value": Decimal("1234.50") * n,
          "share": round(n * 100 / total, 1), "month": month} for name, n in rows],
        chart=Chart("bar_line", "owner", ("customers", "share")), note=f"{HOSTILE} 仅计已审核客户")


def _probe_place(session, scope, month, locale):
    return ReportTable("probe_place", "探针：排名", [Column("name", "姓名", "Name", "text")], [{"name": "张伟"}],
                       extra={"me": {"rank": 2, "mark": "top", "routing_priority": True, "lead_rights": False}})


def _probe_group(session, scope, month, locale):
    return ReportTable("probe_group", "探针：集团", [Column("n", "数", "N", "int")], [{"n": 1}])


@pytest.fixture
def probes():
    before = dict(REPORTS)
    report("probe_customers", "探针：客户数", "Probe: customers")(_probe_customers)
    for name in [n for n, spec in REPORTS.items() if spec.page == "ranking"]:
        del REPORTS[name]  # the probe's placement only (the real ranking is in tests/test_browser_reports.py)
    report("probe_place", "探针：排名", "Probe: place", page="ranking", levels=("me",))(_probe_place)
    report("probe_group", "探针：集团", "Probe: group", levels=("group",))(_probe_group)
    yield
    REPORTS.clear()
    REPORTS.update(before)


def ids(session):
    dept = {d.code: d.id for d in session.scalars(select(Department))}
    sector = {s.code: s.id for s in session.scalars(select(Sector))}
    return dept, sector


def scope_options(html: str) -> list[str]:
    select_html = re.search(r'<select id="scope".*?</select>', html, re.DOTALL).group(0)
    return re.findall(r'<option value="([^"]+)"', select_html)


def this_month() -> str:
    return local_today(clock.now()).strftime("%Y-%m")  # Beijing time


def test_A1_pages_render_with_the_right_scope_choices(client, session, probes):
    dept, sector = ids(session)
    expected = {
        "rep1": ["me"],
        "mgr1": [f"department:{dept['D1']}"],
        "salesmgmt1": [f"sector:{sector['S1']}", f"department:{dept['D1']}", f"department:{dept['D2']}"],
        "grouplead": ["group", f"sector:{sector['S1']}", f"sector:{sector['S2']}", f"department:{dept['D1']}",
                      f"department:{dept['D2']}", f"department:{dept['D3']}"],
    }
    for user, keys in expected.items():
        login(client, user)
        for path in ("/reports", "/reports/ranking", "/reports/usage", "/reports/logins"):
            r = client.get(path)
            assert r.status_code == 200, (user, path)
            html = r.get_data(as_text=True)
            assert scope_options(html) == keys, (user, path)
            assert re.search(rf'<option value="{keys[0]}" selected', html)  # the widest is the default
            assert f'type="month" value="{this_month()}"' in html
        assert '>报表</a>' in client.get("/inbox").get_data(as_text=True)  # the nav link
        client.post("/logout")


def test_A2_figures_follow_the_scope_money_and_percent_formatted(client, session, probes):
    """A2: the department's reps only (rep1 3, rep2 1), amounts as ¥ with separators, shares with %."""
    dept, _sector = ids(session)
    login(client, "mgr1")
    html = client.get(f"/reports?scope=department:{dept['D1']}").get_data(as_text=True)
    card = re.search(r'<section class="card report-card[^"]*" id="report-probe_customers".*?</section>', html, re.DOTALL)
    card = card.group(0)
    assert "探针：客户数" in card and "导出 Excel" in card and 'class="report-chart"' in card
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", card)
    assert cells[:5] == ["张伟", "3", "¥3,703.50", "75.0%", this_month()]
    assert cells[5:10] == ["王芳", "1", "¥1,234.50", "25.0%", this_month()]
    assert "郭涛" not in card  # rep3 is another sector's
    client.post("/logout")
    login(client, "grouplead")
    html = client.get("/reports").get_data(as_text=True)
    assert "郭涛" in html and "集团" in html


def test_A1_the_embedded_json_and_note_are_escaped(client, probes):
    login(client, "mgr1")
    html = client.get("/reports").get_data(as_text=True)
    assert HOSTILE not in html  # neither in the JSON (tojson escapes <) nor in the note (autoescape)
    data = re.search(r'id="report-probe_customers".*?<script type="application/json" class="report-data">(.*?)'
                     r"</script>", html, re.DOTALL).group(1)
    assert "\\u003c/script\\u003e" in data


def test_A1_rep_cannot_pick_the_department_nor_another_sector(client, api, session, probes):
    """O3 applied to reports: a scope you may not pick is 404 on the page, the export and the API."""
    dept, sector = ids(session)
    login(client, "rep1")
    for key in (f"department:{dept['D1']}", f"sector:{sector['S2']}", f"sector:{sector['S1']}", "group"):
        assert client.get(f"/reports?scope={key}").status_code == 404, key
        assert client.get(f"/reports/probe_customers.xlsx?scope={key}").status_code == 404, key
        r = api.as_("rep1").get(f"/reports/probe_customers?scope={key}")
        assert r.status_code == 404 and "scope" in r.get_json()["errors"], key
    client.post("/logout")
    login(client, "mgr3")
    assert client.get(f"/reports?scope=department:{dept['D1']}").status_code == 404
    assert client.get(f"/reports/ranking?scope=department:{dept['D1']}").status_code == 404
    assert api.as_("mgr3").get(f"/reports/probe_customers?scope=department:{dept['D1']}").status_code == 404
    assert api.as_("mgr3").get(f"/reports/probe_customers/export?scope=sector:{sector['S1']}").status_code == 404
    html = client.get("/reports").get_data(as_text=True)
    assert "张伟" not in html and "郭涛" in html


def test_admin_without_any_scope_gets_403(client, api):
    login(client, "admin")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/ranking").status_code == 403
    assert client.get("/reports/funnel.xlsx").status_code in (403, 404)
    assert '>报表</a>' not in client.get("/inbox").get_data(as_text=True)
    for path in ("/reports", "/reports/probe_customers", "/reports/probe_customers/export"):
        assert api.as_("admin").get(path).status_code in (403, 404)
    assert api.as_("admin").get("/reports").status_code == 403
    assert api.as_("finance1").get("/reports").status_code == 403


def test_bad_month_and_scope_are_4xx_naming_the_field(client, api, probes):
    login(client, "mgr1")
    for month in ("2026-13", "26-11", "2026-1", "1999-12", "2026-11-01", "２０２６-11"):
        r = client.get(f"/reports?month={month}")
        assert r.status_code == 422 and "月份" in r.get_data(as_text=True), month
        r = api.as_("mgr1").get(f"/reports/probe_customers?month={month}")
        assert r.status_code == 422 and list(r.get_json()["errors"]) == ["month"], month
        assert client.get(f"/reports/probe_customers.xlsx?month={month}").status_code == 422
    for key in ("department:x", "department:0", "sector:", "everything", "department:1;drop"):
        r = client.get(f"/reports?scope={key}")
        assert r.status_code == 422 and "范围" in r.get_data(as_text=True), key
        r = api.as_("mgr1").get(f"/reports/probe_customers?scope={key}")
        assert r.status_code == 422 and list(r.get_json()["errors"]) == ["scope"], key
    assert api.as_("mgr1").get("/reports?month=2026-13").status_code == 200  # the catalogue takes no month
    for field in ("scope", "month"):  # given but empty: the API says so (found by the fuzzer); the page form defaults
        r = api.as_("mgr1").get(f"/reports/probe_customers?{field}=")
        assert r.status_code == 422 and list(r.get_json()["errors"]) == [field]
        assert client.get(f"/reports?{field}=").status_code == 200


def test_unknown_report_and_report_not_for_the_level_are_404(client, api, session, probes):
    dept, _sector = ids(session)
    login(client, "mgr1")
    assert client.get("/reports/no_such_report.xlsx").status_code == 404
    assert api.as_("mgr1").get("/reports/no_such_report").status_code == 404
    assert client.get("/reports/probe_group.xlsx").status_code == 404  # a group-only report
    assert api.as_("mgr1").get("/reports/probe_group").status_code == 404
    assert api.as_("grouplead").get(f"/reports/probe_group?scope=department:{dept['D1']}").status_code == 404
    assert api.as_("grouplead").get("/reports/probe_group").status_code == 200
    html = client.get("/reports").get_data(as_text=True)
    assert "probe_group" not in html


def _assert_sheet_matches(data: bytes, body: dict) -> None:
    report = body["report"]
    ws = load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert report["title"] in rows[0][0] and body["month"] in rows[0][0] and body["scope"]["label"] in rows[0][0]
    columns = report["columns"]
    assert list(rows[1][:len(columns)]) == [c["label"] for c in columns]
    assert len(rows) - 2 == len(report["rows"]) + (2 if report["note"] else 0), report["name"]
    for got, want in zip(rows[2:], report["rows"], strict=False):
        for value, column in zip(got, columns, strict=False):
            _assert_cell(value, want[column["key"]], column["kind"], report["name"])


def _assert_cell(value, want, kind: str, name: str) -> None:
    where = (name, kind, value, want)
    if want is None or want == "":
        assert value in (None, ""), where
    elif kind == "money":
        assert Decimal(str(value)).quantize(Decimal("0.01")) == Decimal(want).quantize(Decimal("0.01")), where
    elif kind == "percent":
        assert round(value * 100, 1) == want, where
    elif kind in ("int", "decimal"):
        assert float(value) == float(want), where
    elif kind == "date":
        assert (value.date() if isinstance(value, datetime) else value).isoformat() == want[:10], where
    elif kind == "month":
        assert str(value)[:7] == want[:7], where
    else:
        assert value == want, where


def test_A2_the_xlsx_holds_exactly_the_rows_of_the_api_json(client, api, session, probes):
    """A2: every report of every page, exported by the page link and by the API, matches its JSON cell by cell."""
    dept, _sector = ids(session)
    checked = []
    for user, key in (("mgr1", f"department:{dept['D1']}"), ("grouplead", "group"), ("rep1", "me")):
        login(client, user)
        level = key.split(":")[0]
        for name, spec in list(REPORTS.items()):
            if level not in spec.levels:
                continue
            r = api.as_(user).get(f"/reports/{name}?scope={key}")
            assert r.status_code == 200, (user, name, r.get_data(as_text=True)[:300])
            body = r.get_json()
            assert body["scope"]["key"] == key and body["month"] == this_month()
            page = client.get(f"/reports/{name}.xlsx?scope={key}&month={body['month']}")
            assert page.status_code == 200 and page.mimetype == XLSX
            assert f"{name}-{body['month']}.xlsx" in page.headers["Content-Disposition"]
            _assert_sheet_matches(page.data, body)
            via_api = api.as_(user).get(f"/reports/{name}/export?scope={key}")
            assert via_api.status_code == 200 and via_api.mimetype == XLSX
            _assert_sheet_matches(via_api.data, body)
            checked.append((user, name))
        client.post("/logout")
    assert ("mgr1", "probe_customers") in checked and ("grouplead", "probe_group") in checked
    assert client.get("/reports/probe_customers.xlsx").status_code == 302  # logged out: to the login page


def test_A2_xlsx_cells_are_typed_money_and_percent(client, probes):
    login(client, "mgr1")
    ws = load_workbook(io.BytesIO(client.get("/reports/probe_customers.xlsx?month=2026-11").data)).active
    assert ws["A1"].value.startswith("探针：客户数") and "2026-11" in ws["A1"].value
    assert [c.value for c in ws[2]] == ["负责人", "客户数", "客户价值", "占比", "月份"]
    assert ws["C3"].value == 3703.5 and "¥" in ws["C3"].number_format and "#,##0.00" in ws["C3"].number_format
    assert ws["D3"].value == 0.75 and ws["D3"].number_format == "0.0%"
    assert ws["E3"].value == "2026-11"
    assert ws["A6"].value.endswith("仅计已审核客户") and ws["A6"].data_type == "s"  # the note, never a formula


def test_A2_export_is_audited(client, api, session, probes):
    dept, _sector = ids(session)
    login(client, "mgr1")
    assert client.get("/reports/probe_customers.xlsx?month=2026-10").status_code == 200
    assert api.as_("grouplead").get("/reports/probe_customers/export?month=2026-09").status_code == 200
    session.rollback()
    rows = session.scalars(select(AuditLog).where(AuditLog.action == "report.export").order_by(AuditLog.id)).all()
    assert [(r.entity_type, r.entity_id) for r in rows] == [("report", "probe_customers-2026-10.xlsx"),
                                                            ("report", "probe_customers-2026-09.xlsx")]
    mgr1 = session.scalar(select(User).where(User.username == "mgr1"))
    assert rows[0].actor_id == mgr1.id and rows[0].sector_id == mgr1.sector_id
    assert rows[0].after == {"report": "probe_customers", "scope": f"department:{dept['D1']}", "month": "2026-10",
                             "rows": 2}
    assert rows[1].after["scope"] == "group" and rows[1].after["rows"] == 3


def test_P1_ranking_page_shows_my_placement_and_the_settings_link_to_editors(client, probes):
    """P1/P2: the viewer's own place (rank, mark, routing priority, lead rights) in a highlighted box."""
    login(client, "rep1")
    html = client.get("/reports/ranking").get_data(as_text=True)
    box = re.search(r'<section class="card placement".*?</section>', html, re.DOTALL).group(0)
    assert "我的排名" in box
    pairs = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", box))
    assert pairs["排名"] == "2" and pairs["标记"] == "前列" and pairs["分配优先"] == "是"
    assert pairs["商机分配权"] == "否"
    assert "/reports/ranking/settings" not in html
    client.post("/logout")
    login(client, "salesmgmt1")
    html = client.get("/reports/ranking").get_data(as_text=True)
    assert 'href="/reports/ranking/settings"' in html and "我的排名" not in html  # sector scope: not ranked


def test_landing_page_of_sector_heads_and_group_management_is_the_dashboard(client):
    for user, target in (("sectorhead1", "/reports"), ("grouplead", "/reports"), ("rep1", "/inbox"),
                         ("mgr1", "/inbox")):
        r = client.post("/login", data={"username": user, "password": "demo12345"})
        assert r.status_code == 302 and r.headers["Location"] == target, user
        assert client.get("/").headers["Location"] == target
        if target == "/reports":
            html = client.get(target).get_data(as_text=True)
            assert "<h1>仪表盘" in html and 'aria-current="page">报表</a>' in html
        client.post("/logout")


def test_english_locale_shows_english_labels(client, api, probes):
    login(client, "mgr1")
    html = client.get("/reports?lang=en").get_data(as_text=True)
    assert "<h1>Dashboard" in html and "Export to Excel" in html and "Probe: customers" in html
    assert ">Owner</th>" in html and ">Customer value</th>" in html and "客户价值" not in html
    assert ">Usage statistics</a>" in html
    ws = load_workbook(io.BytesIO(client.get("/reports/probe_customers.xlsx?lang=en").data)).active
    assert [c.value for c in ws[2]][:2] == ["Owner", "Customers"]


def test_api_catalogue_lists_scopes_and_reports(api, session, probes):
    dept, sector = ids(session)
    body = api.as_("salesmgmt1").get("/reports").get_json()
    assert body["month"] == this_month()
    assert [s["key"] for s in body["scopes"]] == [f"sector:{sector['S1']}", f"department:{dept['D1']}",
                                                  f"department:{dept['D2']}"]
    assert body["scopes"][0]["level"] == "sector" and body["scopes"][0]["label"]
    names = {r["name"]: r for r in body["reports"]}
    assert names["probe_customers"] == {"name": "probe_customers", "title": "探针：客户数", "page": "dashboard",
                                        "levels": ["me", "department", "sector", "group"]}
    assert "probe_place" not in names and "probe_group" not in names  # for levels salesmgmt1 has not
    assert "probe_place" in {r["name"] for r in api.as_("rep1").get("/reports").get_json()["reports"]}
    assert api.client.get("/api/v1/reports").status_code == 401
    assert api.client.get("/api/v1/reports/probe_customers/export").status_code == 401


def test_api_report_json(api, probes):
    body = api.as_("rep1").get("/reports/probe_customers?month=2026-11").get_json()
    assert body["month"] == "2026-11" and body["scope"] == {"key": "me", "level": "me", "label": "张伟"}
    report = body["report"]
    assert report["rows"] == [{"owner": "张伟", "customers": 3, "value": "3703.50", "share": 100.0,
                               "month": date(2026, 11, 1).isoformat()}]
    assert report["chart"] == {"kind": "bar_line", "x": "owner", "series": ["customers", "share"], "stack": False}


def test_group_dashboard_puts_the_sectors_comparison_first(client):
    if "sectors" not in REPORTS:
        pytest.skip("the sectors report has not landed yet")
    login(client, "grouplead")
    html = client.get("/reports").get_data(as_text=True)
    assert re.findall(r'data-report="(\w+)"', html)[0] == "sectors"
    assert 'data-report="sectors"' not in client.get(
        "/reports?scope=" + scope_options(html)[1]).get_data(as_text=True)
