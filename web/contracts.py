"""Contract pages (合同, K1, U4) and the monthly receivables list (应收款 / 回款, R1).

Thin controllers: parse the form, call one operation inside `run_write`, render.
"""
from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal, DecimalException, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, select

from engine import contract_flows, inbox
from engine.errors import EngineError
from models import access, clock
from models import contracts as ops
from models import receivables as rec
from models.contracts import CONTRACT_KINDS, CONTRACT_STATUSES, CONTRACT_TEMPLATES, Contract, ContractError
from models.crm import Customer
from models.data_export import may_export
from models.process import ProcessInstance
from models.sales import Opportunity
from web.db import db
from web.errors import run_write
from web.forms import id_field, page_arg, text_field
from web.i18n import add_translations
from web.i18n import gettext as _
from web.vendor import viewer_installed

contracts_bp = Blueprint("contracts", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50

add_translations({
    "Contracts": "合同", "Contract": "合同", "New contract": "新建合同", "Receivables": "应收款", "Collections": "回款",
    "Contract amount": "合同金额", "Contract kind": "合同类型", "Contract template": "合同模板", "Terms": "合同条款",
    "kind_product": "产品销售", "kind_project": "项目", "kind_service": "服务",
    "template_standard": "标准模板", "template_custom": "非标准模板",
    "returned": "已退回", "signed": "已签约", "closed": "已关闭",
    "Signed on": "签约日期", "Record the signature": "登记签约", "Opportunity": "销售机会",
    "Number, title or customer": "编号、合同名称或客户", "Search": "搜索", "All": "全部", "Mine": "我的",
    "Filter": "筛选", "Previous": "上一页", "Next": "下一页",
    "Contracts only for approved customers (U4).": "只能为已审核通过的客户签订合同（U4）。",
    "Contract submitted for approval.": "合同已提交审批。", "Contract resubmitted for approval.": "合同已重新提交审批。",
    "Contract signed.": "已登记签约。", "Change and resubmit": "修改后重新提交", "Open the task": "打开待办",
    "Approval returned the contract to you. Change it and resubmit, or abandon it on the task page.":
        "合同审批被驳回，请修改后重新提交，或在待办中放弃。",
    "Change contract": "修改合同", "Invoices and collections": "开票与回款", "Invoice": "发票", "Collection": "回款",
    "Date": "日期", "Amount": "金额", "Entry": "事项", "Month": "月份", "Department": "部门", "Show": "查询",
    "Export to Excel": "导出 Excel", "Invoiced": "已开票", "Collected": "已回款", "Outstanding": "未回款",
    "Overdue": "逾期", "Total": "合计", "Record an invoice": "登记发票", "Record a collection": "登记回款",
    "Invoice number": "发票号", "Issued on": "开票日期", "Due on": "到期日", "Received on": "回款日期",
    "Invoice recorded.": "发票已登记。", "Collection recorded.": "回款已登记。",
    "You are not allowed to export.": "您没有导出权限。",
    "Resubmit": "重新提交", "Abandon": "放弃",
    "no such customer in the system (U4: contracts only for registered customers)":
        "系统中没有该客户（U4：只能为已登记的客户签订合同）。",
    "the customer is not approved yet; a contract needs an approved customer (U4)":
        "该客户尚未审核通过，合同需要已审核通过的客户（U4）。",
    "the contract amount cannot exceed the list amount": "合同金额不能高于目录价金额。",
    "must be greater than 0": "必须大于 0。",
})


def _register_buttons() -> None:
    from web.inbox import DECISION_BUTTONS

    DECISION_BUTTONS["contract_revise"] = [("resubmit", "Resubmit", "approve"), ("abandon", "Abandon", "reject")]


_register_buttons()


def may_create(user) -> bool:
    return bool(user.is_active and user.sector_id and user.role_codes & ops.CONTRACT_ENTRY_ROLES)


def _decimal(field: str, errors: dict) -> Decimal | None:
    raw = (request.form.get(field) or "").replace(",", "").replace("¥", "").strip()
    try:
        value = Decimal(raw)
        if not value.is_finite() or value.adjusted() >= 14 or value.as_tuple().exponent < -2:
            raise InvalidOperation
        return value
    except DecimalException:
        errors[field] = _("Enter an amount in CNY, e.g. 12000.00") if raw else "required"
        return None


def _date(field: str, errors: dict) -> date | None:
    raw = (request.form.get(field) or "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = "required" if not raw else "a date like 2026-11-26"
        return None


def _optional_id(field: str, errors: dict) -> int | None:
    return id_field(field, errors) if (request.form.get(field) or "").strip() else None


def _terms_form(errors: dict) -> dict:
    data = {"list_amount": _decimal("list_amount", errors), "amount": _decimal("amount", errors),
            "title": text_field("title", 200, errors), "terms": text_field("terms", 4000, errors),
            "kind": request.form.get("kind") or "product", "template": request.form.get("template") or "standard"}
    for field, choices in (("kind", CONTRACT_KINDS), ("template", CONTRACT_TEMPLATES)):
        if data[field] not in choices:
            errors[field] = "not a valid choice"
    return data


def _visible_or_involved(contract_id: int) -> tuple[Contract, ProcessInstance | None]:
    session = db()
    contract = session.scalar(select(Contract).where(and_(Contract.id == contract_id,
                                                          ops.contract_filter(current_user))))
    instance = None
    if contract is None:  # approvers who hold or held a task of its approval may see it too
        candidate = session.get(Contract, contract_id)
        if candidate is not None and candidate.process_instance_id:
            instance = session.get(ProcessInstance, candidate.process_instance_id)
            if inbox.may_view_instance(session, current_user, instance):
                contract = candidate
    if contract is None:
        abort(404)
    if instance is None and contract.process_instance_id:
        instance = session.get(ProcessInstance, contract.process_instance_id)
    return contract, instance


# ---------------------------------------------------------------- contracts

@contracts_bp.get("/contracts")
@login_required
def index():
    page = page_arg()
    status = request.args.get("status") or None
    status = status if status in CONTRACT_STATUSES else None
    q = (request.args.get("q") or "").replace("\x00", "").strip()[:100] or None  # PostgreSQL refuses NUL
    mine = request.args.get("mine") == "1"
    rows = ops.list_contracts(db(), current_user, ops.ContractQuery(q=q, status=status, mine=mine,
                                                                     limit=PAGE_SIZE + 1,
                                                                     offset=(page - 1) * PAGE_SIZE))
    return render_template("contracts/list.html", contracts=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page,
                           statuses=CONTRACT_STATUSES, filters={"q": q, "status": status, "mine": mine},
                           may_create=may_create(current_user))


@contracts_bp.route("/contracts/new", methods=["GET", "POST"])
@login_required
def new():
    if not may_create(current_user):
        abort(403)
    session = db()
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = _terms_form(errors)
        data["customer_id"] = id_field("customer_id", errors)
        data["opportunity_id"] = _optional_id("opportunity_id", errors)
        if not errors:
            try:
                contract = run_write(lambda: contract_flows.submit_contract(session, current_user, data))
            except ContractError as exc:
                errors[exc.field or "form"] = exc.message
            except EngineError as exc:
                errors["form"] = str(exc)
            else:
                flash(_("Contract submitted for approval."), "ok")
                return redirect(url_for("contracts.detail", contract_id=contract.id))
    customers = list(session.scalars(
        select(Customer).where(access.customer_filter(current_user), Customer.status == "approved",
                               Customer.owner_id.is_not(None)).order_by(Customer.name).limit(500)))
    opportunities = list(session.scalars(
        select(Opportunity).where(access.opportunity_filter(current_user), Opportunity.status == "open")
        .order_by(Opportunity.name).limit(500)))
    return render_template("contracts/form.html", title=_("New contract"), contract=None, customers=customers,
                           opportunities=opportunities, kinds=CONTRACT_KINDS, templates=CONTRACT_TEMPLATES,
                           errors=errors, form=request.form), 422 if errors else 200


@contracts_bp.route("/contracts/<id:contract_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contract_id: int):
    session = db()
    contract = session.scalar(select(Contract).where(and_(Contract.id == contract_id,
                                                          ops.contract_filter(current_user))))
    if contract is None:
        abort(404)
    if contract.owner_id != current_user.id:
        abort(403)
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = _terms_form(errors)
        comment = text_field("comment", 2000, errors)
        if not errors:
            try:
                run_write(lambda: contract_flows.revise_contract(session, current_user, contract_id, data,
                                                                 resubmit=True, comment=comment))
            except ContractError as exc:
                errors[exc.field or "form"] = exc.message
            except EngineError as exc:
                errors["form"] = str(exc)
            else:
                flash(_("Contract resubmitted for approval."), "ok")
                return redirect(url_for("contracts.detail", contract_id=contract_id))
        form = request.form
    else:
        form = {"title": contract.title, "kind": contract.kind, "template": contract.template,
                "list_amount": f"{contract.list_amount:.2f}", "amount": f"{contract.amount:.2f}",
                "terms": contract.terms or ""}
    return render_template("contracts/form.html", title=f"{_('Change contract')} {contract.number}", contract=contract,
                           kinds=CONTRACT_KINDS, templates=CONTRACT_TEMPLATES, errors=errors,
                           form=form), 422 if errors else 200


@contracts_bp.get("/contracts/<id:contract_id>")
@login_required
def detail(contract_id: int):
    session = db()
    contract, instance = _visible_or_involved(contract_id)
    revise = contract_flows.open_revise_task(session, contract) if contract.owner_id == current_user.id else None
    invoices, collections = rec.contract_ledger(session, contract)
    may_sign = contract.status == "approved" and (contract.owner_id == current_user.id
                                                   or ops.manages_contract(current_user, contract))
    return render_template(
        "contracts/detail.html", contract=contract, instance=instance, revise_task=revise, may_sign=may_sign,
        may_record=rec.may_record(current_user) and contract.status in ops.EFFECTIVE_STATUSES,
        invoices=invoices, collections=collections, today=clock.now().date().isoformat(),
        history=inbox.history(session, instance.id) if instance else [],
        open_tasks=inbox.open_tasks_of(session, instance.id) if instance else [], viewer=viewer_installed())


@contracts_bp.post("/contracts/<id:contract_id>/sign")
@login_required
def sign(contract_id: int):
    errors: dict[str, str] = {}
    signed_on = _date("signed_on", errors)
    if errors:
        flash(f"{_('Signed on')}: {_(errors['signed_on'])}", "error")
        return redirect(url_for("contracts.detail", contract_id=contract_id))
    try:
        run_write(lambda: ops.sign_contract(db(), current_user, contract_id, signed_on))
    except (ContractError, EngineError) as exc:
        if exc.status == 404:
            abort(404)
        flash(_(exc.message), "error")
    else:
        flash(_("Contract signed."), "ok")
    return redirect(url_for("contracts.detail", contract_id=contract_id))


@contracts_bp.post("/contracts/<id:contract_id>/invoices")
@login_required
def add_invoice(contract_id: int):
    errors: dict[str, str] = {}
    amount = _decimal("amount", errors)
    issued_on, due_on = _date("issued_on", errors), _date("due_on", errors)
    number = text_field("number", 40, errors)
    return _record(contract_id, errors, lambda: rec.record_invoice(
        db(), current_user, contract_id, number=number or "", amount=amount, issued_on=issued_on, due_on=due_on),
        _("Invoice recorded."))


@contracts_bp.post("/contracts/<id:contract_id>/collections")
@login_required
def add_collection(contract_id: int):
    errors: dict[str, str] = {}
    amount = _decimal("amount", errors)
    received_on = _date("received_on", errors)
    invoice_id = _optional_id("invoice_id", errors)
    note = text_field("note", 300, errors)
    return _record(contract_id, errors, lambda: rec.record_collection(
        db(), current_user, contract_id, amount=amount, received_on=received_on, invoice_id=invoice_id, note=note),
        _("Collection recorded."))


def _record(contract_id: int, errors: dict, operation, message: str):
    if errors:
        flash("; ".join(f"{k}: {_(v)}" for k, v in errors.items()), "error")
        return redirect(url_for("contracts.detail", contract_id=contract_id))
    try:
        run_write(operation)
    except (ContractError, EngineError) as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 403:
            abort(403)
        flash(_(exc.message), "error")
    else:
        flash(message, "ok")
    return redirect(url_for("contracts.detail", contract_id=contract_id))


# ---------------------------------------------------------------- receivables (R1)

def _receivable_args() -> tuple[str, int | None, str | None]:
    month = (request.args.get("month") or "").strip() or rec.current_month()
    raw = (request.args.get("department_id") or "").strip()
    department_id = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None
    try:
        rec.month_bounds(month)
    except ContractError:
        return rec.current_month(), department_id, _("a month like 2026-11")
    return month, department_id, None


@contracts_bp.get("/receivables")
@login_required
def receivables():
    month, department_id, error = _receivable_args()
    session = db()
    try:
        rows = rec.receivables(session, current_user, month, department_id)
    except ContractError:
        abort(404)
    return render_template("contracts/receivables.html", month=month, department_id=department_id, rows=rows,
                           totals=rec.totals(rows), departments=rec.departments_for(session, current_user),
                           may_export=may_export(current_user), errors=error)


@contracts_bp.get("/receivables/export.xlsx")
@login_required
def receivables_export():
    if not may_export(current_user):
        return render_template("error.html", message=_("You are not allowed to export.")), 403
    month, department_id, _error = _receivable_args()
    out = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes it after the response
    try:
        run_write(lambda: rec.export_receivables(db(), current_user, month, department_id, out))
    except ContractError as exc:  # another sector's or an unknown department: 404 like the page, not a 500
        out.close()
        abort(exc.status)
    except Exception:
        out.close()
        raise
    out.seek(0)
    return send_file(out, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"receivables-{month}.xlsx")
