"""Report pages (A1–A3, P1): 仪表盘, 业绩排名, 使用统计, 登录监控, and each report as an Excel file.

Generic over the registry `models.reports.tables.REPORTS`: a page shows every report registered for it whose
`levels` include the picked scope's level, as a card (title, chart drawn by static/reports.js from the table's
JSON, the table, the note, 导出 Excel). The API (web/api/reports.py) and the export read the same tables.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Any

from flask import Blueprint, abort, render_template, request, send_file
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from models import access, audit, clock
from models.org import User
from models.reports import catalog  # noqa: F401  (every report module registers its reports)
from models.reports import scope as rs
from models.reports.tables import REPORTS, ReportSpec, ReportTable
from web.db import db
from web.errors import run_write
from web.i18n import add_translations, current_locale
from web.i18n import gettext as _
from web.vendor import ALLOWED, NODE_MODULES

reports_bp = Blueprint("reports", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# page key -> (endpoint, English title); the Chinese titles are in the catalogue below
PAGES: dict[str, tuple[str, str]] = {
    "dashboard": ("reports.dashboard", "Dashboard"),
    "ranking": ("reports.ranking", "Ranking"),
    "usage": ("reports.usage", "Usage statistics"),
    "logins": ("reports.logins", "Login monitoring"),
}
# Who may open the ranking settings (web/ranking_settings.py decides for itself; this only shows the link).
RANKING_EDITORS = frozenset({"sales_mgmt_manager", "sector_admin"})
# Roles that give at least one report scope (models/reports/scope.py): cheap check for the nav link.
SCOPE_ROLES = rs.REP_ROLES | access.DEPARTMENT_ROLES | access.SECTOR_WIDE_ROLES | access.GROUP_WIDE_ROLES
MONTH_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"
SCOPE_PATTERN = r"^(me|group|department:[1-9][0-9]{0,9}|sector:[1-9][0-9]{0,9})$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,59}$"

add_translations({
    "Reports": "报表", "Dashboard": "仪表盘", "Ranking": "业绩排名", "Usage statistics": "使用统计",
    "Login monitoring": "登录监控", "Report scope": "范围", "Month": "月份", "Show": "查询",
    "Export to Excel": "导出 Excel", "Nothing here.": "暂无数据。", "Group": "集团", "Sectors": "版块",
    "Departments": "部门", "Myself": "本人", "Closed month (snapshot)": "已结月（快照）",
    "My placement": "我的排名", "Ranking settings": "排名设置", "Chart": "图表",
    "Rank": "排名", "Mark": "标记", "Routing priority": "分配优先", "Lead rights": "商机分配权",
    "Qualified": "达到排名门槛", "Score": "得分", "Presales priority": "售前资源优先", "Rank group": "排名组",
    "Value rank": "价值名次", "Threshold": "排名门槛", "top": "前列", "bottom": "末位", "rep": "销售", "agent": "代理商销售",
    "Yes": "是", "No": "否", "Not ranked this month.": "本月未参与排名。",
    "You have no reports: reports are for sales staff and their managers.":
        "您没有可查看的报表：报表供销售人员及其管理者使用。",
    "No such report.": "没有该报表。", "This report is not made for this scope.": "该报表不适用于所选范围。",
    "No such scope among yours.": "您的范围中没有该项。",
    "Month: a month as YYYY-MM between 2000-01 and 2100-12.": "月份：请按 YYYY-MM 填写 2000-01 至 2100-12 之间的月份。",
    "Scope: one of the scopes offered.": "范围：请从列表中选择。",
})


def has_reports(user: User) -> bool:
    """Cheap: does the user hold a role that gives a report scope (the nav link)?"""
    return bool(getattr(user, "is_authenticated", False) and user.role_codes & SCOPE_ROLES)


@reports_bp.app_template_global("has_reports")
def _has_reports_global() -> bool:
    return has_reports(current_user)


# ---- request parsing, shared with the API --------------------------------------------------------------------
@dataclass
class Request:
    scope: rs.ReportScope
    scopes: list[rs.ReportScope]
    month: date


def this_month() -> date:
    return rs.local_today(clock.now()).replace(day=1)


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def parse_request(session: Session, user: User, scope_key: str | None, month_text: str | None,
                  locale: str) -> Request:
    """Scope (403 none, 404 not yours, 422 malformed) then month (422); raises ReportError naming the field."""
    scope = rs.resolve(session, user, scope_key, locale)
    scopes = rs.scopes_for(session, user, locale)
    if month_text not in (None, "") and not re.match(MONTH_PATTERN, month_text):
        raise rs.ReportError(422, "a month as YYYY-MM between 2000-01 and 2100-12", "month")
    return Request(scope, scopes, rs.parse_month(month_text, this_month()))


def spec_for(name: str, scope: rs.ReportScope) -> ReportSpec:
    """The report `name` for the scope's level; 404 for an unknown name or a report not made for the level."""
    spec = REPORTS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise rs.ReportError(404, f"no report named {name!r}", "name")
    if scope.level not in spec.levels:
        raise rs.ReportError(404, f"report {name} is not made for {scope.level} scope", "scope")
    return spec


def build(session: Session, spec: ReportSpec, req: Request, locale: str) -> ReportTable:
    return spec.run(session, req.scope, req.month, locale)


def page_specs(page: str, level: str) -> list[ReportSpec]:
    specs = [s for s in REPORTS.values() if s.page == page and level in s.levels]
    if page == "dashboard" and level == "group":  # the sectors compared side by side come first
        specs.sort(key=lambda s: s.name != "sectors")
    return specs


# ---- Excel -----------------------------------------------------------------------------------------------------
MONEY_FORMAT = '"¥"#,##0.00'
PERCENT_FORMAT = "0.0%"


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "report"


def write_xlsx(table: ReportTable, req: Request, locale: str, out: IO[bytes]) -> None:
    """Title row (report, scope, month), header row (column labels), one row per table row, then the note."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(table.title))
    for idx, column in enumerate(table.columns[:26]):
        ws.column_dimensions[chr(ord("A") + idx)].width = 22 if column.kind == "text" else 16

    def cell(value: Any, kind: str = "text", bold: bool = False) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value=_excel_value(value, kind))
        if isinstance(c.value, str):
            c.data_type = "s"  # never a formula, whatever a name holds
        if kind == "money":
            c.number_format = MONEY_FORMAT
        elif kind == "percent":
            c.number_format = PERCENT_FORMAT
        elif kind == "date":
            c.number_format = "yyyy-mm-dd"
        if bold:
            c.font = Font(bold=True)
        return c

    ws.append([cell(f"{table.title} — {req.scope.label} — {month_key(req.month)}", bold=True)])
    ws.append([cell(c.label(locale), bold=True) for c in table.columns])
    for row in table.rows:
        ws.append([cell(row.get(c.key), c.kind) for c in table.columns])
    if table.note:
        ws.append([])
        ws.append([cell(table.note)])
    wb.save(out)


def _excel_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "money":
        return float(Decimal(str(value)))
    if kind == "percent":
        return float(value) / 100  # shown as 12.5% by the cell format
    if kind == "month" and isinstance(value, date):
        return month_key(value)
    if kind in ("int", "decimal") and isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (int, float, bool, date, str)):
        return value
    return str(value)


def export(session: Session, user: User, spec: ReportSpec, req: Request, locale: str, out: IO[bytes]) -> str:
    """Write the report as .xlsx and audit it (report.export); returns the file name.

    Anyone who may see the report may export it: the tables are aggregates within the viewer's own scope, not
    customer lists, so the export right of O6 (customer data) does not apply."""
    table = build(session, spec, req, locale)
    write_xlsx(table, req, locale, out)
    filename = f"{spec.name}-{month_key(req.month)}.xlsx"
    sector_ids = req.scope.sector_ids
    audit.record(session, actor_id=user.id, action="report.export", entity_type="report", entity_id=filename,
                 sector_id=sector_ids[0] if sector_ids and len(sector_ids) == 1 else user.sector_id,
                 after={"report": spec.name, "scope": req.scope.key, "month": month_key(req.month),
                        "rows": len(table.rows)})
    return filename


def send_xlsx(session_user: User, spec: ReportSpec, req: Request, locale: str):
    out = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes it after the response
    try:
        filename = run_write(lambda: export(db(), session_user, spec, req, locale, out))
    except Exception:
        out.close()
        raise
    out.seek(0)
    return send_file(out, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)


# ---- page helpers ----------------------------------------------------------------------------------------------
def format_value(value: Any, kind: str) -> str:
    """How a cell reads on the page: ¥1,234.00, 12.5%, 2026-11, 是/否."""
    if value is None or value == "":
        return "—" if kind in ("money", "percent", "decimal", "int") else ""
    if kind == "money":
        return f"¥{Decimal(str(value)):,.2f}"
    if kind == "percent":
        return f"{float(value):.1f}%"
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if kind == "bool" or isinstance(value, bool):
        return _("Yes") if value else _("No")
    if kind == "month" and isinstance(value, date):
        return month_key(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


reports_bp.add_app_template_filter(format_value, "report_value")

# The viewer's own ranking place (ReportTable.extra["me"]): key -> label; other keys are shown as they are.
PLACEMENT_LABELS = {"rank": "Rank", "rank_group": "Rank group", "score": "Score", "qualified": "Qualified",
                    "mark": "Mark", "value_rank": "Value rank", "routing_priority": "Routing priority",
                    "presales_priority": "Presales priority", "lead_rights": "Lead rights",
                    "qualification": "Threshold"}


def placement_items(extra: dict) -> list[tuple[str, str]]:
    """The viewer's place from a ranking table's extra["me"] (None when the table carries none)."""
    me = extra.get("me") if isinstance(extra, dict) else None
    if not isinstance(me, dict):
        return []
    marks = extra.get("marks") if isinstance(extra.get("marks"), dict) else {}
    items = []
    for key, value in me.items():
        if key in ("user_id", "name"):
            continue
        if isinstance(value, bool):
            shown = _("Yes") if value else _("No")
        elif value is None:
            shown = "—"
        elif key == "mark":
            shown = marks.get(value) or _(str(value))
        elif key == "rank_group":
            shown = _(str(value))
        else:
            shown = str(value)
        items.append((_(PLACEMENT_LABELS.get(key, key)), shown))
    return items


def echarts_installed() -> bool:
    return (NODE_MODULES / ALLOWED["echarts.js"]).exists()


def _error_page(exc: rs.ReportError):
    if exc.status == 403:
        message = _("You have no reports: reports are for sales staff and their managers.")
    elif exc.field == "month":
        message = _("Month: a month as YYYY-MM between 2000-01 and 2100-12.")
    elif exc.status == 422:
        message = _("Scope: one of the scopes offered.")
    elif exc.field == "name":
        message = _("No such report.")
    elif exc.field == "scope" and "not made" in exc.message:
        message = _("This report is not made for this scope.")
    else:
        message = _("No such scope among yours.")
    return render_template("error.html", message=message), exc.status


def _page(page: str):
    session, locale = db(), current_locale()
    try:
        req = parse_request(session, current_user, request.args.get("scope"), request.args.get("month"), locale)
    except rs.ReportError as exc:
        return _error_page(exc)
    cards = []
    for spec in page_specs(page, req.scope.level):
        table = build(session, spec, req, locale)
        cards.append({"spec": spec, "table": table, "data": table.as_dict(locale),
                      "wide": page != "dashboard" or spec.name == "sectors" or len(table.columns) > 6})
    # the viewer's own place: the first ranking table that carries one (his own group's: rep or agent)
    placement = next((items for card in cards if (items := placement_items(card["table"].extra))), [])
    return render_template(
        "reports/page.html", page=page, pages=PAGES, title=_(PAGES[page][1]), req=req, cards=cards,
        month=month_key(req.month), placement=placement, echarts=echarts_installed(),
        may_edit_ranking=bool(current_user.role_codes & RANKING_EDITORS))


@reports_bp.get("/reports")
@login_required
def dashboard():
    return _page("dashboard")


@reports_bp.get("/reports/ranking")
@login_required
def ranking():
    return _page("ranking")


@reports_bp.get("/reports/usage")
@login_required
def usage():
    return _page("usage")


@reports_bp.get("/reports/logins")
@login_required
def logins():
    return _page("logins")


@reports_bp.get("/reports/<name>.xlsx")
@login_required
def export_xlsx(name: str):
    session, locale = db(), current_locale()
    if name not in REPORTS:
        abort(404)
    try:
        req = parse_request(session, current_user, request.args.get("scope"), request.args.get("month"), locale)
        spec = spec_for(name, req.scope)
    except rs.ReportError as exc:
        return _error_page(exc)
    return send_xlsx(current_user, spec, req, locale)
