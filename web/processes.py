"""流程管理: processes with their versions, drafts, import, compare and rollback; instance pages.

Everyone sees the processes that apply to him; process designers open them in the modeler, import files
drawn in other tools, publish, compare and roll back (engine/design.py holds the rules).
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine import definitions, design, inbox
from engine.errors import EngineError
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError
from models.process import ProcessInstance
from web.api.schemas import MAX_ID
from web.db import db
from web.errors import run_write
from web.forms import text_field
from web.i18n import add_translations
from web.i18n import gettext as _
from web.vendor import viewer_installed

processes_bp = Blueprint("processes", __name__)
MAX_IMPORT_FILES = 50

add_translations({
    "Drafts": "草稿", "Open in the modeler": "在建模器中打开", "Versions": "版本记录", "Scope": "适用范围",
    "Group": "集团", "Sector version": "本版块版本", "Executable": "可执行", "Not executable": "不可执行",
    "problems": "个问题", "Import diagrams": "导入流程图",
    "BPMN or DMN files drawn in other tools are stored as drafts; those that cannot run list why.":
        "从其他工具导入的 BPMN / DMN 文件保存为草稿；不能执行的会列出原因。",
    "Import": "导入", "Imported %(n)s file(s) as drafts.": "已导入 %(n)s 个文件为草稿。",
    "Not stored": "未保存", "Saved at": "保存时间", "Decision tables": "决策表", "Process": "流程", "Kind": "类型",
    "Published by": "发布人", "Version note": "版本说明", "Current": "当前版本", "Republishes version": "重新发布自版本",
    "Compare": "对比", "Compare versions": "版本对比", "Roll back to this version": "回滚到此版本",
    "Rolled back: version %(version)s is now current.": "已回滚：第 %(version)s 版现为当前版本。",
    "Publish version %(version)s again as the newest?": "确定将第 %(version)s 版重新发布为最新版本吗？",
    "Added": "新增", "Removed": "删除", "Changed": "修改", "Element": "元素", "Field": "属性", "Before": "修改前",
    "After": "修改后", "No differences in the process (layout changes are not listed).":
        "流程没有差异（仅布局移动不列出）。",
    "Migrate running instances": "迁移运行中实例", "Moved to version": "迁移到新版本", "New diagram": "新建流程图", "Edit": "编辑",
    "From version": "原版本", "To version": "新版本", "Choose two versions.": "请选择两个版本。",
    "Only process designers may do this.": "只有流程设计师可以执行此操作。",
    "This name holds characters a diagram cannot store.": "名称包含流程图无法保存的字符。",
})


def _form_id(raw: str | None) -> int | None:
    """A database id typed into a form or query (ASCII digits, 1 … 2**31-1); anything else is None."""
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        return None
    return int(raw) if 0 < int(raw) <= MAX_ID else None


def _designer() -> None:
    if not design.is_designer(current_user):
        abort(403)


def may_deploy(user) -> bool:
    """Only process designers publish (a sector's designers for their sector, group-level ones for all)."""
    return design.is_designer(user)


def _index(errors: list | None = None, imported: list | None = None, status: int = 200):
    session = db()
    designer = design.is_designer(current_user)
    drafts = design.visible_drafts(session, current_user, limit=100) if designer else []
    return render_template("processes.html", rows=design.current_processes(session, current_user),
                           drafts=drafts, problem_counts={d.id: len(json.loads(d.problems or "[]")) for d in drafts},
                           may_deploy=designer, errors=errors or [], imported=imported or []), status


@processes_bp.get("/processes")
@login_required
def index():
    return _index()


@processes_bp.post("/processes")
@login_required
def upload():
    """Deploy a file directly as the next version (designers; the modeler is the usual way)."""
    _designer()
    file = request.files.get("file")
    errors = []
    if file is None or not file.filename:
        errors = [{"element": "file", "message": "choose a .bpmn file"}]
    else:
        data = file.read(MAX_DIAGRAM_BYTES + 1)
        try:
            definition = run_write(lambda: definitions.deploy(db(), data, filename=file.filename,
                                                              actor_id=current_user.id,
                                                              sector_id=design.home_scope(current_user)))
        except DiagramError as exc:
            errors = exc.errors
        except EngineError as exc:
            errors = [{"element": "file", "message": str(exc)}]
        else:
            flash(_("Deployed %(key)s version %(version)s.", key=definition.key, version=definition.version), "ok")
            return redirect(url_for("processes.index"))
    return _index(errors=errors, status=422)


@processes_bp.post("/processes/import")
@login_required
def import_files():
    """Files from other tools become drafts (with their problems); unreadable files are listed, not stored."""
    _designer()
    files = [f for f in request.files.getlist("files") if f.filename]
    if not files:
        return _index(errors=[{"element": "files", "message": "choose one or more .bpmn or .dmn files"}], status=422)
    if len(files) > MAX_IMPORT_FILES:  # say so rather than import some and drop the rest
        return _index(errors=[{"element": "files", "message": f"at most {MAX_IMPORT_FILES} files at a time"}],
                      status=422)
    results = []
    for file in files:
        data = file.read(MAX_DIAGRAM_BYTES + 1)
        try:
            draft = run_write(lambda data=data, name=file.filename: design.create_draft(
                db(), current_user, data, filename=name, source="import"))
        except DiagramError as exc:
            results.append({"filename": file.filename, "draft": None, "problems": exc.errors})
        else:
            results.append({"filename": file.filename, "draft": draft, "problems": json.loads(draft.problems)})
    flash(_("Imported %(n)s file(s) as drafts.", n=sum(1 for r in results if r["draft"])), "ok")
    return _index(imported=results)


@processes_bp.get("/processes/<key>/versions")
@login_required
def versions(key: str):
    session = db()
    try:
        rows = design.versions(session, current_user, key[:100])
    except EngineError:
        abort(404)
    return render_template("process_versions.html", key=key[:100], rows=rows, designer=design.is_designer(current_user),
                           may_design=lambda sector_id: design.may_design(current_user, sector_id))


@processes_bp.post("/processes/<key>/rollback")
@login_required
def rollback(key: str):
    _designer()
    version = _form_id(request.form.get("version"))
    errors: dict[str, str] = {}
    comment = text_field("comment", 500, errors)
    if not version or errors:
        flash(_("Choose two versions.") if not version else "; ".join(errors.values()), "error")
        return redirect(url_for("processes.versions", key=key[:100]))
    raw_scope = request.form.get("sector_id", "")
    scope = _form_id(raw_scope) if raw_scope else design.home_scope(current_user)
    if scope is None and raw_scope:  # not a sector id (non-ASCII digits, beyond any id): no such sector
        abort(404)
    try:
        definition = run_write(lambda: design.rollback(db(), current_user, key[:100], version, scope, comment))
    except DiagramError as exc:
        flash("; ".join(f"{e['element']}: {e['message']}" for e in exc.errors), "error")
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 403:
            abort(403)
        flash(str(exc), "error")
    else:
        flash(_("Rolled back: version %(version)s is now current.", version=definition.version), "ok")
    return redirect(url_for("processes.versions", key=key[:100]))


@processes_bp.get("/processes/compare")
@login_required
def compare():
    older, newer = _form_id(request.args.get("from")), _form_id(request.args.get("to"))
    if not older or not newer:
        flash(_("Choose two versions."), "error")
        return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                        else url_for("processes.index"))
    session = db()
    try:
        diff = design.compare(session, current_user, older, newer)
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
        return redirect(url_for("processes.index"))
    left = design.visible_definition(session, current_user, older)
    return render_template("process_compare.html", diff=diff, key=left.key, viewer=viewer_installed())


@processes_bp.get("/processes/definitions/<id:definition_id>.bpmn")
@login_required
def definition_xml(definition_id: int):
    try:
        definition = design.visible_definition(db(), current_user, definition_id)
    except EngineError:
        abort(404)
    # Plain text in a sandbox: a diagram may carry markup (an XHTML <script> in documentation),
    # which a browser must never run on this origin. bpmn-js fetches the text either way.
    suffix = "dmn" if definition.kind == "dmn" else "bpmn"
    return Response(definition.bpmn_xml, mimetype="text/plain", headers={
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'attachment; filename="{definition.key}-v{definition.version}.{suffix}"',
    })


@processes_bp.get("/processes/instances/<id:instance_id>")
@login_required
def instance_page(instance_id: int):
    session = db()
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not inbox.may_view_instance(session, current_user, instance):
        abort(404)
    # late import: web.task_actions imports the API, which imports this module
    from web.task_actions import mark_copy_read

    mark_copy_read(instance.id)
    return render_template("instance.html", instance=instance, history=inbox.history(session, instance.id),
                           open_tasks=inbox.open_tasks_of(session, instance.id), viewer=viewer_installed())
