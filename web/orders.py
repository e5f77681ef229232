"""Pages: execution orders (执行单, X1) and implementation orders (实施单, I1).

执行单: list, new (from an approved or signed contract), detail with the three confirmations. 实施单: list, detail
with tasks (an implementer sees only his own) and milestones with their payment node amounts. The process steps are
done on the task page; the split step (拆分任务) gets its rows from the partial registered below.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import inbox as engine_inbox
from engine import order_flows
from engine.errors import EngineError
from models import orders as ops
from models.orders import EXECUTION_KINDS
from models.process import InstanceEvent
from web import inbox
from web.db import db
from web.errors import run_write
from web.forms import id_field, page_arg, text_field
from web.i18n import add_translations
from web.i18n import gettext as _

orders_bp = Blueprint("orders", __name__)

MAX_ROWS = 100

inbox.DECISION_BUTTONS.update({
    "order_confirm": [("confirm", "Confirm", "approve")],
    "order_resubmit": [("resubmit", "Resubmit", "approve"), ("abandon", "Abandon", "reject")],
    "impl_split": [("split", "Assign the tasks", "approve")],
    "impl_done": [("done", "Task done", "approve")],
    "impl_accept": [("accept", "Accept the implementation", "approve")],
})


def _split_rows(form) -> dict:
    """The split form's repeated rows (task_* and ms_* lists); blank rows are skipped."""
    tasks = []
    titles, people = form.getlist("task_title"), form.getlist("task_implementer")
    dues, stones = form.getlist("task_due"), form.getlist("task_milestone")
    for i in range(min(len(titles), MAX_ROWS + 1)):
        title = (titles[i] or "").strip()
        person = (people[i] if i < len(people) else "").strip()
        if not title and not person:
            continue
        tasks.append({"title": title, "implementer_id": int(person) if person.isascii() and person.isdigit() else person or None,
                      "due_on": (dues[i] if i < len(dues) else "").strip() or None,
                      "milestone": (stones[i] if i < len(stones) else "").strip() or None})
    milestones = []
    names, percents = form.getlist("ms_name"), form.getlist("ms_percent")
    for i in range(min(len(names), 21)):
        name = (names[i] or "").strip()
        percent = (percents[i] if i < len(percents) else "").strip().rstrip("%")
        if not name and not percent:
            continue
        milestones.append({"name": name, "percent": percent or None})
    return {"tasks": tasks, "milestones": milestones}


def _resubmit_fields(form) -> dict:
    kind = (form.get("kind") or "").strip()
    return {"note": (form.get("note") or "").strip() or None, "kind": kind or None}


inbox.FORM_FIELDS["impl_split"] = ("orders/_split_form.html", _split_rows)
inbox.FORM_FIELDS["order_resubmit"] = ("orders/_resubmit_form.html", _resubmit_fields)


@orders_bp.app_template_global()
def order_implementers(sector_id: int) -> list:
    """Active implementers of a sector, for the split form's choice list."""
    return ops.implementers_for(db(), sector_id)


add_translations({
    "Execution orders": "执行单", "Execution order": "执行单", "New execution order": "新建执行单",
    "Implementation orders": "实施单", "Implementation order": "实施单",
    "Order kind": "单据类型", "eo_kind_contract": "合同", "eo_kind_sales_order": "销售订单",
    "eo_pending": "待审核", "eo_returned": "已退回", "eo_approved": "已审核，待确认", "eo_confirmed": "已确认",
    "eo_abandoned": "已放弃",
    "io_planning": "待拆分", "io_in_progress": "实施中", "io_accepting": "待验收", "io_completed": "已验收",
    "Shipping": "发货", "Payment collection": "回款", "Implementation": "实施", "Not confirmed": "未确认",
    "Confirm": "确认", "Resubmit": "重新提交", "Abandon": "放弃", "Assign the tasks": "分配任务",
    "Task done": "任务完成", "Accept the implementation": "验收通过",
    "Note": "备注", "Submit for review": "提交审核", "No approved or signed contract without an execution order.":
    "没有可提交执行单的已审批或已签订合同。", "Execution order submitted for review.": "执行单已提交审核。",
    "Tasks": "任务", "Milestones": "里程碑", "Implementer": "实施人员", "Due date": "截止日期", "Milestone": "里程碑",
    "Payment share": "回款比例", "Payment node amount": "回款节点金额", "Collected": "已回款",
    "Not collected": "未回款", "Collections not recorded": "回款未登记", "Reached": "已达成",
    "Not reached": "未达成", "Add a task": "添加任务", "Add a milestone": "添加里程碑", "Task title": "任务名称",
    "Milestone name": "里程碑名称", "done": "已完成", "open": "进行中", "Done at": "完成时间",
    "Not split into tasks yet.": "尚未拆分任务。", "Choose an implementer": "选择实施人员",
    "Open steps": "当前步骤", "Contract": "合同", "Confirmations": "确认情况", "Process": "流程",
    "confirm": "确认", "split": "拆分任务", "accept": "验收通过", "resubmit": "重新提交", "abandon": "放弃",
    "Split into tasks for implementers; milestones are payment nodes (share of the contract amount).":
    "拆分为实施人员的任务；里程碑即回款节点（合同金额的比例）。",
})


# ---------------------------------------------------------------- execution orders

@orders_bp.get("/execution-orders")
@login_required
def execution_list():
    page = page_arg()
    rows = ops.list_execution_orders(db(), current_user, limit=50, offset=(page - 1) * 50)
    can_submit = bool(current_user.role_codes & ops.SUBMITTER_ROLES)
    return render_template("orders/execution_list.html", orders=rows, page=page, can_submit=can_submit)


@orders_bp.route("/execution-orders/new", methods=["GET", "POST"])
@login_required
def execution_new():
    errors: dict[str, str] = {}
    values = {"contract_id": request.args.get("contract_id", ""), "kind": "contract", "note": ""}
    if request.method == "POST":
        contract_id = id_field("contract_id", errors)
        kind = request.form.get("kind") or "contract"
        note = text_field("note", 2000, errors)
        values = {"contract_id": request.form.get("contract_id", ""), "kind": kind, "note": note or ""}
        if kind not in EXECUTION_KINDS:
            errors["kind"] = "required"
        if not errors:
            try:
                order = run_write(lambda: order_flows.submit_execution_order(
                    db(), current_user, contract_id=contract_id, kind=kind, note=note))
            except ops.OrderError as exc:
                if exc.status == 404:
                    errors["contract_id"] = _("Page not found.")
                else:
                    errors[exc.field or "contract_id"] = exc.message
            except EngineError as exc:
                errors["contract_id"] = str(exc)
            else:
                flash(_("Execution order submitted for review."), "ok")
                return redirect(url_for("orders.execution_detail", order_id=order.id))
    contracts = ops.ready_contracts(db(), current_user)
    return render_template("orders/execution_new.html", contracts=contracts, errors=errors, values=values,
                           kinds=EXECUTION_KINDS), 422 if errors else 200


@orders_bp.get("/execution-orders/<id:order_id>")
@login_required
def execution_detail(order_id: int):
    session = db()
    try:
        order = ops.visible_execution_order(session, current_user, order_id)
    except ops.OrderNotVisible:
        abort(404)
    impl = session.scalar(select(ops.ImplementationOrder).where(
        ops.ImplementationOrder.execution_order_id == order.id))
    history = _history(session, order.process_instance_id)
    steps = engine_inbox.open_tasks_of(session, order.process_instance_id) if order.process_instance_id else []
    return render_template("orders/execution_detail.html", order=order, impl=impl, history=history, steps=steps,
                           impl_visible=impl is not None and _sees(session, impl.id))


def _sees(session, impl_id: int) -> bool:
    try:
        ops.visible_implementation_order(session, current_user, impl_id)
    except ops.OrderNotVisible:
        return False
    return True


def _history(session, instance_id: int | None) -> list:
    if instance_id is None:
        return []
    return list(session.scalars(select(InstanceEvent).where(
        InstanceEvent.instance_id == instance_id, InstanceEvent.kind.in_(("task_completed", "started", "completed")))
        .order_by(InstanceEvent.id)))


# ---------------------------------------------------------------- implementation orders

@orders_bp.get("/implementation-orders")
@login_required
def implementation_list():
    page = page_arg()
    rows = ops.list_implementation_orders(db(), current_user, limit=50, offset=(page - 1) * 50)
    return render_template("orders/implementation_list.html", orders=rows, page=page)


@orders_bp.get("/implementation-orders/<id:order_id>")
@login_required
def implementation_detail(order_id: int):
    session = db()
    try:
        order = ops.visible_implementation_order(session, current_user, order_id)
    except ops.OrderNotVisible:
        abort(404)
    payments = ops.milestone_payments(session, order)
    names = {row["milestone"].id: row["milestone"].name for row in payments}
    steps = engine_inbox.open_tasks_of(session, order.process_instance_id) if order.process_instance_id else []
    return render_template("orders/implementation_detail.html", order=order, steps=steps,
                           tasks=ops.tasks_of(session, current_user, order), payments=payments, milestone_names=names,
                           history=_history(session, order.process_instance_id))
