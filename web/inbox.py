"""The approval center (审批中心): to-do, done, started by me; the task page with its actions."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import form_builder, inbox, runtime, subjects
from engine.assignment import may_act
from engine.errors import EngineError, InvalidData
from models import clock
from models.crm import Customer, Quote
from models.process import HumanTask
from web.db import db
from web.errors import run_write
from web.forms import page_arg, text_field
from web.i18n import add_translations
from web.i18n import gettext as _
from web.vendor import viewer_installed

inbox_bp = Blueprint("inbox", __name__)
# The buttons each task form offers: (decision value, label, css class), in the order users expect.
DECISION_BUTTONS = {
    "approval": [("approve", "Approve", "approve"), ("reject", "Reject", "reject")],
    "conflict_decision": [("keep", "Keep the owner", "approve"), ("transfer", "Transfer", "secondary"),
                          ("joint", "Follow jointly", "secondary")],
}
# Forms with more than a decision and a comment: form name -> (partial template shown inside the task form,
# parser(request.form) -> the extra data fields). Registered by the area web modules.
FORM_FIELDS: dict = {}
TABS = ("todo", "done", "started", "copied")

add_translations({"(choose)": "（请选择）", "Yes": "是", "No": "否", "Required": "必填",
                  # marshmallow's messages for designer-defined form fields
                  "Missing data for required field.": "必填项，请填写。", "Not a valid number.": "不是有效的数字。",
                  "Not a valid date.": "不是有效的日期（格式 2026-01-31）。", "Not a valid boolean.": "请选择是或否。",
                  "Must be one of: %(choices)s.": "只能选择：%(choices)s。"})


def _message(text: str) -> str:
    if text.startswith("Must be one of: "):
        return _("Must be one of: %(choices)s.", choices=text[len("Must be one of: "):].rstrip("."))
    return _(text)


def _custom_form(task: HumanTask) -> form_builder.CustomForm | None:
    """The fields of a task whose form is defined in the diagram (form "custom")."""
    if task.form != form_builder.CUSTOM:
        return None
    try:
        return runtime.custom_form(task.instance.definition, task.bpmn_id)
    except (EngineError, form_builder.FormDefinitionError):
        return None


def _custom_buttons(form: form_builder.CustomForm) -> list[tuple[str, str, str]]:
    if not form.decisions:
        return [("submit", "Submit", "approve")]
    css = {"approve": "approve", "reject": "reject"}
    # approve/reject keep their colours; otherwise the first button is the main one
    return [(value, {"approve": "Approve", "reject": "Reject"}.get(value, value) if label == value else label,
             css.get(value, "" if i == 0 else "secondary")) for i, (value, label) in enumerate(form.decisions)]


@inbox_bp.get("/inbox")
@login_required
def index():
    tab = request.args.get("tab", "todo")
    tab = tab if tab in TABS else "todo"
    page = page_arg()
    session = db()
    rows = instances = copies = None
    if tab == "copied":
        copies = inbox.copied_to(session, current_user, limit=50, offset=(page - 1) * 50)
    elif tab == "started":
        instances = inbox.started_by(session, current_user, limit=50, offset=(page - 1) * 50)
    else:
        rows = inbox.tasks(session, current_user, "done" if tab == "done" else "mine", limit=50,
                           offset=(page - 1) * 50)
    return render_template("inbox.html", tab=tab, rows=rows, instances=instances, copies=copies, page=page,
                           now=clock.now())


@inbox_bp.get("/tasks/<id:task_id>")
@login_required
def task_page(task_id: int):
    session = db()
    task = inbox.visible_task(session, current_user, task_id)
    if task is None:
        abort(404)
    instance = task.instance
    quote = session.get(Quote, instance.subject_id) if instance.subject_type == "quote" else None
    customer = session.get(Customer, instance.subject_id) if instance.subject_type == "customer" else None
    subject_hooks = subjects.get(instance.subject_type)
    subject = (subject_hooks.load(session, instance.subject_id)
               if subject_hooks and subject_hooks.load and instance.subject_id else None)
    custom = _custom_form(task)
    return render_template(
        "task.html", task=task, instance=instance, quote=quote, customer=customer, subject=subject,
        subject_template=subject_hooks.template if subject is not None else None,
        decisions=_custom_buttons(custom) if custom else DECISION_BUTTONS.get(task.form, DECISION_BUTTONS["approval"]),
        custom_fields=custom.fields if custom else (),
        can_act=task.status == "open" and may_act(current_user, task),
        history=inbox.history(session, instance.id), open_tasks=inbox.open_tasks_of(session, instance.id),
        viewer=viewer_installed(), errors={}, form_partial=(FORM_FIELDS.get(task.form) or (None,))[0],
    )


@inbox_bp.post("/tasks/<id:task_id>/complete")
@login_required
def complete(task_id: int):
    data = {"decision": request.form.get("decision")}
    form_name = db().scalar(select(HumanTask.form).where(HumanTask.id == task_id))
    custom = None
    if form_name in FORM_FIELDS:
        data.update(FORM_FIELDS[form_name][1](request.form))
    elif form_name == form_builder.CUSTOM:
        task = db().get(HumanTask, task_id)
        custom = _custom_form(task) if task is not None else None
        if custom is not None:
            data.update(form_builder.form_values(custom, request.form))
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    if errors:
        flash(f"{_('Comment')}: {_(errors['comment'])}", "error")
        return redirect(url_for("inbox.task_page", task_id=task_id))
    try:
        run_write(lambda: runtime.complete_task(db(), task_id, current_user, data, comment))
    except InvalidData as exc:
        labels = {f.name: f.label for f in custom.fields} if custom else {}
        flash("; ".join(f"{labels.get(field, field)}: {', '.join(_message(m) for m in msgs)}"
                        for field, msgs in exc.errors.items()), "error")
        return redirect(url_for("inbox.task_page", task_id=task_id))
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(_("Someone else already handled this task.") if exc.status == 409 else str(exc), "error")
        return redirect(url_for("inbox.task_page", task_id=task_id))
    flash(_("Task completed."), "ok")
    return redirect(url_for("inbox.index"))


@inbox_bp.post("/tasks/<id:task_id>/claim")
@login_required
def claim(task_id: int):
    return _simple_action(task_id, runtime.claim_task, _("Task claimed."))


@inbox_bp.post("/tasks/<id:task_id>/release")
@login_required
def release(task_id: int):
    return _simple_action(task_id, runtime.release_task, _("Task released."))


def _simple_action(task_id: int, action, message: str):
    try:
        run_write(lambda: action(db(), task_id, current_user))
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(message, "ok")
    return redirect(url_for("inbox.task_page", task_id=task_id))
