"""Pages: the approval actions on the task and instance pages (转交, 驳回至, 重新提交, 撤回, 催办, 抄送, 评论, 附件)
and the delegation page (委托). Thin: parse the form, call one engine.actions operation in `run_write`, redirect.

The task page includes `task_actions/_panel.html`, which asks `task_actions_for(task, instance)` (a global
registered here) what the current user may do, so web/inbox.py stays as it was.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import actions, assignment
from engine.errors import EngineError
from models import clock
from models.attachments import MAX_ATTACHMENT_BYTES
from models.org import User
from models.process import HumanTask, ProcessInstance
from web.api.sales import attachment_dir, send_attachment
from web.db import db
from web.errors import run_write
from web.forms import text_field
from web.i18n import add_translations
from web.i18n import gettext as _

task_actions_bp = Blueprint("task_actions", __name__)

add_translations({
    "Note to the new handler": "转交说明", "Note to the copied": "抄送附言",
    "Send back to": "驳回至", "Transfer task": "转交", "Add comment": "评论", "Attach file": "附件",
    "Withdraw": "撤回", "Urge": "催办", "Copy to": "抄送", "Copied to me": "抄送我的", "Resubmit": "重新提交",
    "Notifications": "通知", "Delegation": "委托", "Delegations": "委托代理", "the submitter": "发起人",
    "Send back": "驳回", "Reason": "理由", "To whom": "转交给", "Attachments": "附件",
    "Upload": "上传", "Send": "发送", "Remark": "评论内容", "Withdraw this request?": "确认撤回此申请？",
    "Urged.": "已催办。", "Withdrawn.": "已撤回。", "Transferred.": "已转交。", "Sent back.": "已驳回。",
    "Resubmitted.": "已重新提交。", "Copied.": "已抄送。", "Comment added.": "已评论。", "File attached.": "已上传附件。",
    "Sent back to you: edit your record if needed, then resubmit or withdraw.": "已驳回给您：如需修改请先修改记录，再重新提交或撤回。",
    "Copied by": "抄送人", "Read": "已读", "Unread": "未读", "Mark all read": "全部标为已读",
    "Delegate": "代理人", "From": "开始", "Until": "结束", "Set delegation": "设置委托", "End": "结束委托",
    "Active": "生效中", "Ended": "已结束", "Delegator": "委托人", "Delegation set.": "已设置委托。",
    "Delegation ended.": "委托已结束。", "Withdrawn": "已撤回", "withdrawn": "已撤回", "Sent back (驳回)": "驳回",
    "Transferred": "转交", "Commented": "评论", "Attached": "上传附件", "Urged": "催办", "Copied": "抄送",
    "Resubmitted": "重新提交", "for": "代",
})


def _back(task_id: int | None = None, instance_id: int | None = None):
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return redirect(target)
    if task_id is not None:
        return redirect(url_for("inbox.task_page", task_id=task_id))
    return redirect(url_for("processes.instance_page", instance_id=instance_id))


def _run(operation, ok: str, task_id: int | None = None, instance_id: int | None = None, go=None):
    try:
        result = run_write(operation)
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        errors = exc.errors or {}
        flash("; ".join(f"{f}: {', '.join(m)}" for f, m in errors.items()) if errors else str(exc), "error")
        return _back(task_id, instance_id)
    flash(_(ok), "ok")
    return go(result) if go else _back(task_id, instance_id)


def _form_errors(errors: dict, task_id=None, instance_id=None):
    flash("; ".join(f"{k}: {_(v)}" for k, v in errors.items()), "error")
    return _back(task_id, instance_id)


def _int(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@task_actions_bp.app_template_global()
def now_utc():
    return clock.now()


@task_actions_bp.app_template_global()
def task_actions_for(task: HumanTask, instance: ProcessInstance) -> dict:
    """What the current user may do on this task page, with the choices the forms need."""
    session, user = db(), current_user
    can_act = task.status == "open" and instance.status == "running" and assignment.may_act(user, task)
    out: dict = {"can_act": can_act and task.kind == "task",
                 "resubmit": task.status == "open" and task.kind == "resubmit" and instance.started_by == user.id,
                 "withdraw": actions.may_withdraw(session, user, instance),
                 "urge": instance.status == "running" and instance.started_by == user.id,
                 "copy": instance.status == "running" and actions.may_copy(session, user, instance),
                 "attach": actions.may_attach(session, user, task, instance),
                 "attachments": actions.attachments_of(session, instance.id),
                 "targets": [], "transfer_to": [], "colleagues": []}
    if out["can_act"]:
        seen = {}
        for row in session.scalars(select(HumanTask).where(
                HumanTask.instance_id == instance.id, HumanTask.status == "completed", HumanTask.kind == "task",
                HumanTask.bpmn_id != task.bpmn_id).order_by(HumanTask.id)):
            seen.setdefault(row.bpmn_id, row.name)
        out["targets"] = list(seen.items())
        ids = set(session.scalars(assignment.candidate_user_ids(task)))
        if task.assignee_id is not None and task.assignee_id not in ids:  # a step given to a named person
            ids = set(session.scalars(select(User.id).where(User.sector_id == task.sector_id,
                                                            User.status == "active")))
        ids -= {task.assignee_id, user.id, instance.started_by}
        out["transfer_to"] = list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.username)))
    if out["copy"]:
        out["colleagues"] = _colleagues(instance)
    return out


def _colleagues(instance: ProcessInstance) -> list[User]:
    return list(db().scalars(select(User).where(
        User.sector_id == instance.sector_id, User.status == "active", User.id != current_user.id)
        .order_by(User.username)))


@task_actions_bp.app_template_global()
def instance_actions_for(instance: ProcessInstance) -> dict:
    """The requester's actions (撤回, 催办), 抄送 and the attachments, for the instance page."""
    session, user = db(), current_user
    copy = instance.status == "running" and actions.may_copy(session, user, instance)
    return {"withdraw": actions.may_withdraw(session, user, instance),
            "urge": instance.status == "running" and instance.started_by == user.id,
            "copy": copy, "colleagues": _colleagues(instance) if copy else [],
            "attachments": actions.attachments_of(session, instance.id)}


@task_actions_bp.post("/tasks/<id:task_id>/transfer")
@login_required
def transfer(task_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    target = _int("user_id")
    if target is None:
        errors["user_id"] = "required"
    if errors:
        return _form_errors(errors, task_id)
    return _run(lambda: actions.transfer_task(db(), task_id, current_user, target, comment), "Transferred.",
                task_id, go=lambda _t: redirect(url_for("inbox.index")))


@task_actions_bp.post("/tasks/<id:task_id>/send-back")
@login_required
def send_back(task_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    target = (request.form.get("target") or "").strip()[:100]
    if errors:
        return _form_errors(errors, task_id)
    return _run(lambda: actions.send_back(db(), task_id, current_user, target, comment), "Sent back.", task_id,
                go=lambda _t: redirect(url_for("inbox.index")))


@task_actions_bp.post("/tasks/<id:task_id>/resubmit")
@login_required
def resubmit(task_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    if errors:
        return _form_errors(errors, task_id)
    return _run(lambda: actions.resubmit(db(), task_id, current_user, comment), "Resubmitted.", task_id)


@task_actions_bp.post("/tasks/<id:task_id>/comments")
@login_required
def comment(task_id: int):
    errors: dict[str, str] = {}
    body = text_field("body", 2000, errors)
    if errors:
        return _form_errors(errors, task_id)
    return _run(lambda: actions.add_comment(db(), task_id, current_user, body), "Comment added.", task_id)


@task_actions_bp.post("/tasks/<id:task_id>/attachments")
@login_required
def attach(task_id: int):
    max_bytes = int(current_app.config.get("ATTACHMENT_MAX_BYTES", MAX_ATTACHMENT_BYTES))
    if request.content_length and request.content_length > max_bytes + 64 * 1024:
        return _form_errors({"file": f"at most {max_bytes // 1048576} MB"}, task_id)
    file = request.files.get("file")
    data = file.read(max_bytes + 1) if file is not None and file.filename else None
    return _run(lambda: actions.add_attachment(
        db(), task_id, current_user, filename=file.filename if file else None,
        content_type=file.mimetype if file else None, data=data, directory=attachment_dir(), max_bytes=max_bytes),
        "File attached.", task_id)


@task_actions_bp.get("/task-attachments/<id:attachment_id>")
@login_required
def download(attachment_id: int):
    try:
        row, path = actions.attachment_for_download(db(), current_user, attachment_id, attachment_dir())
    except EngineError:
        abort(404)
    return send_attachment(row, path)


@task_actions_bp.post("/process-instances/<id:instance_id>/withdraw")
@login_required
def withdraw(instance_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    if errors:
        return _form_errors(errors, instance_id=instance_id)
    return _run(lambda: actions.withdraw(db(), instance_id, current_user, comment), "Withdrawn.",
                instance_id=instance_id,
                go=lambda i: redirect(url_for("processes.instance_page", instance_id=i.id)))


@task_actions_bp.post("/process-instances/<id:instance_id>/urge")
@login_required
def urge(instance_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 500, errors)
    if errors:
        return _form_errors(errors, instance_id=instance_id)
    return _run(lambda: actions.urge(db(), instance_id, current_user, comment), "Urged.", instance_id=instance_id)


@task_actions_bp.post("/process-instances/<id:instance_id>/copies")
@login_required
def copy(instance_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 500, errors)
    ids = [int(v) for v in request.form.getlist("user_ids") if v.isascii() and v.isdigit() and len(v) < 10]
    if not ids:
        errors["user_ids"] = "required"
    if errors:
        return _form_errors(errors, instance_id=instance_id)
    return _run(lambda: actions.copy_to(db(), instance_id, current_user, ids, comment), "Copied.",
                instance_id=instance_id)


# ---------------------------------------------------------------- 委托 delegation page

@task_actions_bp.get("/delegations")
@login_required
def delegations():
    session = db()
    rows = actions.delegations_for(session, current_user)
    ids = {r.delegator_id for r in rows} | {r.delegate_id for r in rows}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    colleagues = list(session.scalars(select(User).where(
        User.sector_id == current_user.sector_id, User.status == "active", User.id != current_user.id)
        .order_by(User.username))) if current_user.sector_id else []
    return render_template("task_actions/delegations.html", rows=rows, names=names, colleagues=colleagues)


def _date(name: str, errors: dict) -> date | None:
    try:
        return date.fromisoformat((request.form.get(name) or "").strip())
    except ValueError:
        errors[name] = "a date YYYY-MM-DD"
        return None


@task_actions_bp.post("/delegations")
@login_required
def set_delegation():
    errors: dict[str, str] = {}
    reason = text_field("reason", 200, errors)
    starts_on, ends_on = _date("starts_on", errors), _date("ends_on", errors)
    delegate_id = _int("delegate_id")
    if delegate_id is None:
        errors["delegate_id"] = "required"
    if errors:
        flash("; ".join(f"{k}: {_(v)}" for k, v in errors.items()), "error")
        return redirect(url_for("task_actions.delegations"))
    try:
        run_write(lambda: actions.set_delegation(db(), current_user, delegate_id=delegate_id, starts_on=starts_on,
                                                 ends_on=ends_on, reason=reason))
    except EngineError as exc:
        errors_ = exc.errors or {}
        flash("; ".join(f"{f}: {', '.join(m)}" for f, m in errors_.items()) if errors_ else str(exc), "error")
    else:
        flash(_("Delegation set."), "ok")
    return redirect(url_for("task_actions.delegations"))


@task_actions_bp.post("/delegations/<id:delegation_id>/end")
@login_required
def end_delegation(delegation_id: int):
    try:
        run_write(lambda: actions.end_delegation(db(), current_user, delegation_id))
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(_("Delegation ended."), "ok")
    return redirect(url_for("task_actions.delegations"))


def mark_copy_read(instance_id: int) -> None:
    """The instance page calls this: opening a copied process marks it read."""
    try:
        run_write(lambda: actions.mark_copy_read(db(), current_user, instance_id))
    except EngineError:  # pragma: no cover - a busy database only delays the read mark
        pass

