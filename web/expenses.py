"""Expense claim pages (报销, U5): list, new claim with customer / opportunity / activity pickers, detail with
the approval history. Thin: read the form, call engine.expense_flows.submit_claim in run_write, render."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import expense_flows, inbox
from engine.errors import EngineError
from models import expenses as ex
from models.crm import Customer
from models.org import User
from models.sales import Activity, Opportunity, OpportunityStage
from web.db import db
from web.errors import run_write
from web.forms import page_arg
from web.i18n import add_translations
from web.i18n import gettext as _

expenses_bp = Blueprint("expenses", __name__)
PAGE_SIZE = 50

add_translations({
    "Expense claims": "费用报销", "Expense claim": "报销单", "New expense claim": "新建报销",
    "Claimant": "报销人", "Category": "报销类型", "Spent on": "费用日期", "Description": "费用说明",
    "expense_customer": "客户相关", "expense_sales_action": "销售行动", "expense_other": "其他",
    "expense_status_pending": "审批中", "expense_status_approved": "已批准", "expense_status_rejected": "已驳回",
    "expense_status_withdrawn": "已撤回", "Progress when submitted": "提交时进展", "Activity": "跟进记录",
    "Current progress (open opportunity)": "当前进展（进行中的销售机会）",
    "Activity (sales action)": "跟进记录（销售行动）", "All visible to me": "我可见的全部",
    "Expense claim submitted for approval.": "报销单已提交审批。",
    "A claim about a customer references the customer and its current progress (an open opportunity); a claim "
    "about a sales action references your activity (U5).":
        "与客户相关的报销须关联客户及其当前进展（进行中的销售机会）；与销售行动相关的报销须关联对应的跟进记录（U5）。",
    "a claim about a customer must reference the customer (U5)": "客户相关的报销必须关联客户（U5）。",
    "no such customer visible to you (U5)": "没有您可见的该客户（U5）。",
    "a claim about a customer must reference its current progress: pick the customer's open opportunity (U5)":
        "客户相关的报销必须关联客户的当前进展：请选择该客户进行中的销售机会（U5）。",
    "no such opportunity of this customer visible to you (U5)": "该客户没有您可见的此销售机会（U5）。",
    "the opportunity is closed; a claim references the customer's current progress (U5)":
        "该销售机会已关闭；报销须关联客户的当前进展（U5）。",
    "a claim about a sales action must reference the activity (U5)": "销售行动相关的报销必须关联跟进记录（U5）。",
    "the activity must be one of your own activities (U5)": "只能关联您本人的跟进记录（U5）。",
    "the expense cannot be in the future": "费用日期不能晚于今天。",
    "only staff of a department submit expense claims (their manager approves first)":
        "只有部门员工可以提交报销（先由部门经理审批）。",
    "enter an amount in CNY, e.g. 350.00": "请输入人民币金额，例如 350.00。",
    "a date like 2026-11-20": "请输入日期，例如 2026-11-20。",
})


@expenses_bp.app_template_global()
def expense_refs(claim: ex.ExpenseClaim) -> dict:
    session = db()
    claimant = session.get(User, claim.claimant_id)
    return {"claimant": claimant.display_name if claimant else "",
            "customer": session.get(Customer, claim.customer_id) if claim.customer_id else None,
            "opportunity": session.get(Opportunity, claim.opportunity_id) if claim.opportunity_id else None,
            "activity": session.get(Activity, claim.activity_id) if claim.activity_id else None}


@expenses_bp.get("/expenses")
@login_required
def index():
    page = page_arg()
    mine = request.args.get("mine") == "1"
    rows = ex.list_claims(db(), current_user, mine=mine, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template("expenses/list.html", claims=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page,
                           mine=mine, may_submit=ex.may_submit(current_user))


def _stage_names(session) -> dict:
    zh = _("Expense claims") == "费用报销"
    return {(s.sector_id, s.code): (s.name_zh if zh else s.name_en) for s in session.scalars(
        select(OpportunityStage).where(OpportunityStage.sector_id == current_user.sector_id))}


@expenses_bp.route("/expenses/new", methods=["GET", "POST"])
@login_required
def new():
    if not ex.may_submit(current_user):
        abort(make_response(render_template(
            "error.html", message=_("only staff of a department submit expense claims (their manager approves first)")),
            403))
    session = db()
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = {k: request.form.get(k) for k in ("category", "customer_id", "opportunity_id", "activity_id", "amount",
                                                  "spent_on", "description")}
        try:
            claim = run_write(lambda: expense_flows.submit_claim(db(), current_user, data))
        except ex.ExpenseError as exc:
            if exc.status == 403:
                abort(403)
            errors[exc.field or "form"] = exc.message
        except EngineError as exc:
            errors["form"] = exc.message
        else:
            flash(_("Expense claim submitted for approval."), "ok")
            return redirect(url_for("expenses.detail", expense_claim_id=claim.id))
    return render_template("expenses/new.html", errors=errors, form=request.form, categories=ex.CATEGORIES,
                           pickers=ex.pickers(session, current_user),
                           stage_names=_stage_names(session)), 422 if errors else 200


@expenses_bp.get("/expenses/<id:expense_claim_id>")
@login_required
def detail(expense_claim_id: int):
    session = db()
    try:
        claim = ex.visible_claim(session, current_user, expense_claim_id)
    except ex.ExpenseError:
        abort(404)
    history = inbox.history(session, claim.process_instance_id) if claim.process_instance_id else []
    open_tasks = inbox.open_tasks_of(session, claim.process_instance_id) if claim.process_instance_id else []
    return render_template("expenses/detail.html", claim=claim, history=history, open_tasks=open_tasks)
