"""Excel import and export pages (导入导出, /data) and the helpers the API shares (E1, C1, O6).

The import page uploads the workbook, which is checked at once (size, .xlsx, zip bomb, DOCTYPE,
headers: 422 naming the problem next to the file input); then the ImportJob runs, in the request
(tests, `IMPORT_BACKGROUND=False`) or in a background thread (default when not testing). The job
page shows a progress bar that polls `/data/imports/<id>/status` (the same JSON as
`GET /api/v1/imports/{id}`, with the session cookie instead of a bearer token) and the report.
"""
from __future__ import annotations

import os
import tempfile
import threading
from datetime import date
from io import BytesIO

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from openpyxl import Workbook
from sqlalchemy import select

from engine.errors import EngineError, Forbidden
from models import data_export, data_import
from models.data_import import ImportRefused
from models.imports import ImportJob
from web.db import db
from web.errors import run_write
from web.i18n import add_translations
from web.i18n import gettext as _

data_io_bp = Blueprint("data_io", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_LIMIT = data_import.MAX_UPLOAD_BYTES + 256 * 1024  # the file plus the multipart envelope

add_translations({
    "Import customers": "导入客户", "Export customers": "导出客户", "Download the template": "下载导入模板",
    "Excel file (.xlsx)": "Excel 文件 (.xlsx)", "Start import": "开始导入", "Export to Excel": "导出 Excel",
    "Recent imports": "最近的导入", "Import": "导入", "Rows": "行数", "Imported": "已导入", "Checked": "已校验",
    "Row": "行号", "Column": "列", "Problem": "问题", "Validation report": "校验报告",
    "queued": "排队中", "validating": "校验中", "importing": "导入中", "done": "已完成", "failed": "失败",
    "Nothing was imported: fix the rows below and upload the file again.": "未导入任何数据：请修改以下各行后重新上传。",
    "All rows were imported.": "全部导入成功。", "Refresh": "刷新", "Progress": "进度",
    "Search: name, pinyin initials or phone": "搜索：名称、拼音首字母或电话", "All statuses": "全部状态",
    "You are not allowed to export customer data.": "您没有导出客户数据的权限。",
    "Your role does not import customers.": "您的角色不能导入客户。",
    "Every export is recorded (who, what, when).": "每次导出都会被记录（谁、导出了什么、何时）。",
    "Required columns are marked *. One row per customer; the row's contact becomes the primary contact. "
    "Nothing is imported unless every row is valid.":
        "带 * 的列为必填。每行一个客户，该行的联系人为主要联系人。只有全部行都通过校验才会导入。",
    "At most 20 MB.": "不超过 20 MB。",
    "Imported customers wait for the department's review (E2).": "导入的客户需经部门审核（E2）。",
})


# --- shared with the API ------------------------------------------------------------------------------

def start_import(user, filename: str | None, data: bytes, kind: str = "customers") -> ImportJob:
    """Check the upload, create its ImportJob and run it (now, or in a background thread)."""
    if not data_import.may_import(user):
        raise Forbidden("only sales reps (direct customers) and channel staff (agents) import customers (E6)")
    if kind != "customers":
        raise ImportRefused("only customers can be imported", field="kind")
    filename = os.path.basename(filename or "")
    data_import.check_upload(filename, data)
    fd, path = tempfile.mkstemp(prefix="crm-import-", suffix=".xlsx")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        data_import.check_headers(path)
        job = run_write(lambda: data_import.create_job(db(), user, filename=filename, kind=kind))
    except BaseException:
        os.unlink(path)
        raise
    factory = current_app.extensions["session_factory"]
    if current_app.config.get("IMPORT_BACKGROUND", not current_app.testing):
        threading.Thread(target=data_import.run_import, args=(factory, job.id, path), daemon=True,
                         name=f"import-{job.id}").start()
        return job
    return data_import.run_import(factory, job.id, path)


def job_json(job: ImportJob) -> dict:
    return {"id": job.id, "kind": job.kind, "filename": job.filename, "status": job.status,
            "total_rows": job.total_rows, "processed_rows": job.processed_rows, "imported_rows": job.imported_rows,
            "report": job.report or [], "created_by": job.created_by, "created_at": job.created_at,
            "finished_at": job.finished_at}


def export_workbook(user, filters: data_export.ExportFilters):
    """The export as a temporary file (audited in the same transaction that read it) and its row count."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes it after the response
    try:
        count = run_write(lambda: data_export.export_customers(db(), user, filters, out))
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, count


def send_export(out) -> object:
    return send_file(out, mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"客户导出-{date.today().isoformat()}.xlsx", max_age=0)


def template_workbook() -> BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(data_import.TEMPLATE_HEADERS)
    for idx, header in enumerate(data_import.TEMPLATE_HEADERS):
        ws.column_dimensions[chr(ord("A") + idx)].width = max(12, len(header) * 2 + 4)
    notes = wb.create_sheet("说明")
    for line in (
        ["只读取第一个工作表；第一行为列名，从第二行起每行一个客户。"],
        ["带 * 的列必填：客户名称（工商注册名称）、联系人。"],
        ["统一社会信用代码：18 位，系统校验校验位；电话、联系人手机：5–40 位数字。"],
        ["客户类型：直销客户（默认，直销人员）、代理商（渠道人员）；最终客户请在代理商下逐个录入。"],
        ["首次接触日期：如 2026-11-26；晚于 7 天录入会被标记（E3）。"],
        ["同名（忽略空格、全半角、括号）或同一信用代码的客户已在本版块登记的，该行不能导入（C1，先到先得）。"],
        ["任何一行有误时整个文件都不导入；请按校验报告修改后重新上传。不要使用公式。"],
    ):
        notes.append(line)
    buf = BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


# --- pages -----------------------------------------------------------------------------------------------

def _recent_jobs():
    return list(db().scalars(select(ImportJob).where(ImportJob.created_by == current_user.id)
                             .order_by(ImportJob.id.desc()).limit(20)))


def _page(error: str | None = None, status: int = 200):
    return render_template("data.html", may_import=data_import.may_import(current_user),
                           may_export=data_export.may_export(current_user), jobs=_recent_jobs(), error=error,
                           statuses=("pending", "approved", "returned"), q=request.args.get("q", ""),
                           status=request.args.get("status", "")), status


@data_io_bp.get("/data")
@login_required
def index():
    return _page()


@data_io_bp.post("/data/import")
@login_required
def upload():
    from web import csrf

    request.max_content_length = UPLOAD_LIMIT  # larger than the app's default for this view only
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    file = request.files.get("file")
    if file is None or not file.filename:
        return _page(_("required"), 422)
    try:
        job = start_import(current_user, file.filename, file.read(data_import.MAX_UPLOAD_BYTES + 1))
    except ImportRefused as exc:
        return _page(exc.message, 422)
    except EngineError as exc:
        return _page(str(exc), exc.status)
    return redirect(url_for("data_io.job_page", job_id=job.id), 303)


def _visible_job(job_id: int) -> ImportJob:
    try:
        return data_import.visible_job(db(), current_user, job_id)
    except EngineError as exc:
        abort(exc.status)


@data_io_bp.get("/data/imports/<id:job_id>")
@login_required
def job_page(job_id: int):
    job = _visible_job(job_id)
    return render_template("data_job.html", job=job)


@data_io_bp.get("/data/imports/<id:job_id>/status")
@login_required
def job_status(job_id: int):
    job = _visible_job(job_id)
    body = job_json(job)
    body["created_at"] = job.created_at.isoformat() if job.created_at else None
    body["finished_at"] = job.finished_at.isoformat() if job.finished_at else None
    return body


@data_io_bp.get("/data/template.xlsx")
@login_required
def template():
    return send_file(template_workbook(), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="客户导入模板.xlsx", max_age=0)


@data_io_bp.get("/data/export.xlsx")
@login_required
def export():
    if not data_export.may_export(current_user):
        return render_template("error.html", message=_("You are not allowed to export customer data.")), 403
    q = (request.args.get("q") or "").strip()[:100] or None
    status = request.args.get("status") or None
    if status not in (None, "pending", "approved", "returned") or (q and any(ord(c) < 32 for c in q)):
        return _page(_("not a valid choice"), 422)
    try:
        out, _count = export_workbook(current_user, data_export.ExportFilters(q=q, status=status))
    except EngineError as exc:
        return _page(str(exc), exc.status)
    return send_export(out)
