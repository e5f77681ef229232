"""Customers, contacts, collaborators and conflict cases (C1, C2, E1–E6): list, entry with the duplicate
check, detail with contacts, collaborators, company details and history, conflict cases."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import customer_flows, inbox
from engine.errors import EngineError
from models import clock
from models import conflicts as conflict_ops
from models import contacts as contact_ops
from models import customers as ops
from models.crm import CUSTOMER_KINDS, Customer
from models.org import User
from models.process import HumanTask, ProcessInstance
from web.db import db
from web.errors import run_write
from web.forms import id_field, page_arg, text_field
from web.i18n import add_translations
from web.i18n import gettext as _
from web.vendor import viewer_installed

customers_bp = Blueprint("customers", __name__)
PAGE_SIZE = 50

add_translations({
    "New customer": "新建客户", "Registered business name": "客户名称（工商注册名称）",
    "Unified social credit code": "统一社会信用代码", "Phone": "电话", "Address": "地址", "Grade": "客户等级",
    "Kind": "客户类型", "Agent": "所属代理商", "First contact": "首次接触日期", "Contact": "联系人",
    "Contacts": "联系人", "Contact name": "联系人姓名", "Mobile": "手机", "Email": "邮箱", "Job title": "职务",
    "Primary": "主联系人", "Add contact": "添加联系人", "Save": "保存", "Edit": "编辑", "Search": "搜索",
    "Name, pinyin initials or phone": "名称、拼音首字母或电话", "All": "全部", "Mine": "我的",
    "Days since last contact": "未联系天数", "Warning": "预警", "Sort": "排序", "Filter": "筛选",
    "Direct customer": "直销客户", "Agent (channel)": "代理商", "Joint venture company": "联营公司",
    "Agent's end customer": "代理商最终客户", "Pending review": "待审核", "Customer approved": "已审核",
    "Returned for changes": "已退回", "Falls into the pool soon (30 days)": "即将掉入公海（30天）",
    "Falls into the pool soon (60 days)": "即将掉入公海（60天）", "Any warning": "全部预警",
    "Contact warning": "跟进预警", "Keep the owner": "维持原负责人", "Transfer to the claimant": "转给申请人",
    "Follow jointly": "共同跟进", "Case open": "处理中", "Case decided": "已裁定",
    "Collaborators": "协作人", "Share": "共享", "Stop sharing": "取消共享", "Username": "用户名",
    "Company details": "工商信息", "Complete company details": "完善工商信息",
    "legal_representative": "法定代表人", "registered_capital": "注册资本", "registered_address": "注册地址",
    "bank_name": "开户银行", "bank_account": "银行账号", "tax_number": "税号", "invoice_title": "开票抬头",
    "invoice_address": "开票地址", "invoice_phone": "开票电话", "website": "网站",
    "Change history": "变更记录", "Review": "新客户审核", "Resubmit for review": "重新提交审核",
    "Late entry": "逾期录入", "Conflict cases": "客户归属争议", "Open a conflict case": "发起归属争议",
    "Reason": "理由", "Claimant": "申请人", "Opened by": "发起人", "Duplicate check": "查重",
    "Similar customers exist:": "存在相似客户：", "Enter it anyway (these are different companies)":
        "确认不是同一家公司，仍然录入", "and %(n)s more you cannot see": "另有 %(n)s 个您无权查看的相似客户",
    "Customer saved.": "客户已保存。", "Customer submitted for review.": "客户已提交审核。",
    "Contact saved.": "联系人已保存。", "Shared.": "已共享。", "No longer shared.": "已取消共享。",
    "Company details saved.": "工商信息已保存。", "Conflict case opened.": "归属争议已提交。",
    "Conflict case decided.": "归属争议已裁定。", "Public pool": "公海", "In the public pool": "公海客户",
    "Newest": "最新录入", "Oldest": "最早录入", "Name A–Z": "名称", "Least recently contacted": "最久未联系",
    "Previous": "上一页", "Next": "下一页", "Action": "操作", "Actor": "操作人", "Changes": "变更内容",
    "Entered": "录入时间", "Kind of entrant": "录入类型",
    # operation messages (models/customers.py, models/contacts.py, models/conflicts.py)
    "the registered business name is required (E1)": "客户名称（工商注册名称）必填（E1）。",
    "the contact's name is required (E1)": "联系人姓名必填（E1）。",
    "this customer is already registered by another salesperson (first registered, first served); you may open "
    "a conflict case": "该客户已由其他销售登记（先登记先得）；如有异议可发起归属争议。",
    "this customer is already registered and is in the public pool: claim it from the pool instead of entering "
    "it again": "该客户已登记且在公海中，请到公海领取，不要重复录入。",
    "you have already registered this customer": "您已登记过该客户。",
    "this customer has just been registered by someone else (first registered, first served)":
        "该客户刚刚已被他人登记（先登记先得）。",
    "similar customers exist; check them and confirm (confirm_similar) to enter this one anyway":
        "存在相似客户，请核对后确认再录入。",
    "a unified social credit code has 18 characters": "统一社会信用代码为 18 位。",
    "the check character of the unified social credit code is wrong": "统一社会信用代码校验位错误。",
    "a unified social credit code uses digits and capital letters except I, O, S, V, Z":
        "统一社会信用代码只能包含数字和除 I、O、S、V、Z 以外的大写字母。",
    "a phone number has 5–40 digits, spaces, +, - or ()": "电话号码为 5–40 位数字、空格、+、- 或括号。",
    "the first contact cannot be in the future": "首次接触日期不能晚于今天。",
    "an end customer needs its agent (agent_id)": "代理商最终客户必须选择所属代理商。",
    "give the reason for the case": "请填写理由。",
    "the legal representative is required": "法定代表人必填。",
    "only the owner or his managers may change this customer": "只有负责人或其上级可以修改该客户。",
    "only the owner or his manager shares a customer": "只有负责人或其上级可以共享该客户。",
    "choose an active user of the customer's sector": "请选择本版块的在职用户。",
    "a conflict case about this customer is already open": "该客户已有进行中的归属争议。",
    "Enter a date like 2026-11-26": "请输入日期，例如 2026-11-26。",
})

# Labels of codes, in English words of our own so that no other area's catalogue entry overrides them.
LABELS = {
    "status": {"pending": "Pending review", "approved": "Customer approved", "returned": "Returned for changes"},
    "warning": {"warn": "Falls into the pool soon (30 days)", "strong": "Falls into the pool soon (60 days)",
                "any": "Any warning"},
    "kind": {"direct": "Direct customer", "agent": "Agent (channel)", "joint_venture": "Joint venture company",
             "end_customer": "Agent's end customer"},
    "decision": {"keep": "Keep the owner", "transfer": "Transfer to the claimant", "joint": "Follow jointly"},
    "case": {"open": "Case open", "decided": "Case decided"},
}


@customers_bp.context_processor
def _labels():
    def label(group: str, code: str | None) -> str:
        return _(LABELS[group].get(code, code)) if code else ""

    return {"label": label}


DETAIL_FIELDS = ("legal_representative", "registered_capital", "registered_address", "bank_name", "bank_account",
                 "tax_number", "invoice_title", "invoice_address", "invoice_phone", "website")


def _raise_page(exc: ops.CustomerError, errors: dict[str, str], prefix: str = "") -> None:
    """404 stays 404; every other refusal is shown next to its field (or on top)."""
    if exc.status == 404 and not exc.field:
        abort(404)
    for key, msg in (exc.extra.get("all_errors") or {exc.field or "form": exc.message}).items():
        key = key.replace("contact.", "contact_")
        errors[prefix + key if key != "form" else key] = msg


def _date_field(name: str, errors: dict) -> datetime | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        errors[name] = "Enter a date like 2026-11-26"
        return None


# ---------------------------------------------------------------- list

@customers_bp.get("/customers")
@login_required
def index():
    args = request.args
    allowed = {"status": ("pending", "approved", "returned"), "owner": ("mine", "pool"), "kind": CUSTOMER_KINDS,
               "warning": ("warn", "strong", "any", "none"),
               "sort": ("-created_at", "created_at", "name", "last_contact_at")}
    query = {k: args.get(k) for k in allowed if args.get(k) in allowed[k]}
    q = (args.get("q") or "").strip()[:100]
    page = page_arg()
    rows = ops.list_customers(db(), current_user, ops.ListQuery(
        **query, q=q or None, region=(args.get("region") or "").strip()[:60] or None,
        industry=(args.get("industry") or "").strip()[:60] or None, limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE))
    return render_template("customers.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page,
                           filters={**query, "q": q, "region": args.get("region", ""),
                                    "industry": args.get("industry", "")}, kinds=CUSTOMER_KINDS)


# ---------------------------------------------------------------- entry

def _customer_form(errors: dict) -> dict:
    data = {
        "name": text_field("name", 200, errors), "credit_code": text_field("credit_code", 40, errors),
        "phone": text_field("phone", 40, errors), "region": text_field("region", 60, errors),
        "industry": text_field("industry", 60, errors), "address": text_field("address", 300, errors),
        "grade": text_field("grade", 10, errors),
    }
    return data


@customers_bp.route("/customers/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, str] = {}
    similar = None
    status = 200
    kinds = sorted(ops.allowed_kinds(current_user), key=CUSTOMER_KINDS.index)
    if request.method == "POST":
        data = _customer_form(errors)
        data["kind"] = request.form.get("kind") or None
        data["first_contact_at"] = _date_field("first_contact_at", errors)
        if request.form.get("agent_id"):
            data["agent_id"] = id_field("agent_id", errors)
        contact_name = text_field("contact_name", 100, errors)
        contact_mobile = text_field("contact_mobile", 40, errors)
        if contact_name or contact_mobile:
            data["contact"] = {"name": contact_name, "mobile": contact_mobile,
                               "title": text_field("contact_title", 100, errors)}
        confirm = request.form.get("confirm_similar") == "1"
        if not errors:
            try:
                customer = run_write(lambda: customer_flows.submit_customer(db(), current_user, data,
                                                                           confirm_similar=confirm))
            except ops.CustomerError as exc:
                if exc.field == "confirm_similar":
                    similar = {"visible": exc.extra.get("similar", []), "count": exc.extra.get("similar_count", 0)}
                else:
                    _raise_page(exc, errors)
                status = exc.status
            except EngineError as exc:
                errors["form"] = str(exc)
                status = exc.status
            else:
                flash(_("Customer submitted for review.") if customer.status == "pending" else _("Customer saved."),
                      "ok")
                return redirect(url_for("customers.detail", customer_id=customer.id))
        else:
            status = 422
    agents = []
    if "end_customer" in kinds:
        agents = list(db().scalars(select(Customer).where(ops.access.customer_filter(current_user),
                                                          Customer.kind == "agent").order_by(Customer.name).limit(200)))
    return render_template("customers_new.html", errors=errors, form=request.form, similar=similar, kinds=kinds,
                           agents=agents), status


# ---------------------------------------------------------------- detail

@customers_bp.get("/customers/<id:customer_id>")
@login_required
def detail(customer_id: int):
    session = db()
    try:
        customer = ops.visible_customer(session, current_user, customer_id)
    except ops.CustomerError:
        abort(404)
    return _detail_page(customer, {})


def _detail_page(customer: Customer, errors: dict, status: int = 200):
    session = db()
    now = clock.now()
    warn, strong = ops.warning_days(session, customer.sector_id)
    owner = session.get(User, customer.owner_id) if customer.owner_id else None
    instance = session.get(ProcessInstance, customer.review_instance_id) if customer.review_instance_id else None
    cases = [c for c in conflict_ops.list_cases(session, current_user, limit=200) if c.customer_id == customer.id]
    return render_template(
        "customers_detail.html", customer=customer, owner=owner, errors=errors, form=request.form,
        days=ops.days_since_contact(customer, now), warning=ops.contact_warning(customer, now, warn, strong),
        contacts=contact_ops.list_contacts(session, current_user, customer.id, limit=200),
        shares=ops.shares_of(session, customer.id), may_edit=ops.may_edit(current_user, customer),
        may_share=ops.may_share(current_user, customer),
        may_details=customer.owner_id == current_user.id, detail_fields=DETAIL_FIELDS,
        history_rows=ops.history(session, customer, limit=100), instance=instance, cases=cases,
        history=inbox.history(session, instance.id) if instance else [],
        open_tasks=inbox.open_tasks_of(session, instance.id) if instance else [], viewer=viewer_installed(),
    ), status


def _write_on_customer(customer_id: int, operation, ok_message: str, prefix: str = ""):
    errors: dict[str, str] = {}
    try:
        run_write(operation)
    except ops.CustomerError as exc:
        _raise_page(exc, errors, prefix)
        customer = ops.visible_customer(db(), current_user, customer_id)
        return _detail_page(customer, errors, exc.status)
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(ok_message, "ok")
    return redirect(url_for("customers.detail", customer_id=customer_id))


@customers_bp.route("/customers/<id:customer_id>/edit", methods=["GET", "POST"])
@login_required
def edit(customer_id: int):
    session = db()
    try:
        customer = ops.visible_customer(session, current_user, customer_id)
    except ops.CustomerError:
        abort(404)
    if not ops.may_edit(current_user, customer):
        abort(403)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        data = _customer_form(errors)
        resubmit = request.form.get("resubmit") == "1"
        if not errors:
            try:
                if resubmit:
                    run_write(lambda: customer_flows.resubmit_customer(db(), current_user, customer_id, data))
                else:
                    run_write(lambda: ops.update_customer(db(), current_user, customer_id, data))
            except ops.CustomerError as exc:
                _raise_page(exc, errors)
                status = exc.status
            else:
                flash(_("Customer submitted for review.") if resubmit else _("Customer saved."), "ok")
                return redirect(url_for("customers.detail", customer_id=customer_id))
        else:
            status = 422
    form = request.form if request.method == "POST" else {
        k: getattr(customer, k) or "" for k in ("name", "credit_code", "phone", "region", "industry", "address",
                                                "grade")}
    return render_template("customers_edit.html", customer=customer, errors=errors, form=form), status


@customers_bp.post("/customers/<id:customer_id>/contacts")
@login_required
def add_contact(customer_id: int):
    errors: dict[str, str] = {}
    data = {"name": text_field("contact_name", 100, errors), "title": text_field("contact_title", 100, errors),
            "phone": text_field("contact_phone", 40, errors), "mobile": text_field("contact_mobile", 40, errors),
            "email": text_field("contact_email", 200, errors), "is_primary": request.form.get("is_primary") == "1"}
    if errors:
        customer = ops.visible_customer(db(), current_user, customer_id)
        return _detail_page(customer, errors, 422)
    try:
        return _write_on_customer(customer_id, lambda: contact_ops.create_contact(db(), current_user, customer_id, data),
                                  _("Contact saved."), prefix="contact_")
    except ops.CustomerError:
        abort(404)


@customers_bp.route("/contacts/<id:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit_contact(contact_id: int):
    session = db()
    try:
        contact = contact_ops.visible_contact(session, current_user, contact_id)
    except ops.CustomerError:
        abort(404)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        data = {k: text_field(k, 200 if k == "email" else 100, errors) for k in ("name", "title", "phone", "mobile",
                                                                                  "email")}
        data["is_primary"] = request.form.get("is_primary") == "1"
        if not errors:
            try:
                run_write(lambda: contact_ops.update_contact(db(), current_user, contact_id, data))
            except ops.CustomerError as exc:
                if exc.status == 403:
                    abort(403)
                _raise_page(exc, errors)
                status = exc.status
            else:
                flash(_("Contact saved."), "ok")
                return redirect(url_for("customers.detail", customer_id=contact.customer_id))
        else:
            status = 422
    form = request.form if request.method == "POST" else {
        k: getattr(contact, k) or "" for k in ("name", "title", "phone", "mobile", "email")}
    return render_template("contact_edit.html", contact=contact, errors=errors, form=form), status


@customers_bp.post("/customers/<id:customer_id>/shares")
@login_required
def share(customer_id: int):
    username = (request.form.get("username") or "").strip()[:80]
    try:
        return _write_on_customer(customer_id, lambda: ops.share_customer(db(), current_user, customer_id,
                                                                          username=username), _("Shared."))
    except ops.CustomerError:
        abort(404)


@customers_bp.post("/customers/<id:customer_id>/shares/<id:user_id>/delete")
@login_required
def unshare(customer_id: int, user_id: int):
    try:
        return _write_on_customer(customer_id, lambda: ops.unshare_customer(db(), current_user, customer_id,
                                                                            user_id=user_id), _("No longer shared."))
    except ops.CustomerError:
        abort(404)


@customers_bp.route("/customers/<id:customer_id>/company-details", methods=["GET", "POST"])
@login_required
def company_details(customer_id: int):
    session = db()
    try:
        customer = ops.details_customer(session, current_user, customer_id)
    except ops.CustomerError as exc:
        abort(exc.status if exc.status in (403, 404) else 404)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        details = {k: text_field(k, 300, errors) for k in DETAIL_FIELDS}
        if not errors:
            try:
                run_write(lambda: ops.complete_company_details(db(), current_user, customer_id,
                                                               {k: v for k, v in details.items() if v}))
            except ops.CustomerError as exc:
                _raise_page(exc, errors)
                status = exc.status
            else:
                flash(_("Company details saved."), "ok")
                if ops.visible_customer_or_none(db(), current_user, customer_id) is None:
                    return redirect(url_for("customers.company_details", customer_id=customer_id))
                return redirect(url_for("customers.detail", customer_id=customer_id))
        else:
            status = 422
    form = request.form if request.method == "POST" else (customer.company_details or {})
    return render_template("customers_company.html", customer=customer, errors=errors, form=form,
                           detail_fields=DETAIL_FIELDS), status


# ---------------------------------------------------------------- conflict cases (C2)

@customers_bp.get("/conflicts")
@login_required
def conflicts():
    page = page_arg()
    cases = conflict_ops.list_cases(db(), current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    names = {cid: name for cid, name in db().execute(select(Customer.id, Customer.name).where(
        Customer.id.in_({c.customer_id for c in cases})))} if cases else {}
    return render_template("conflicts.html", cases=cases, names=names, page=page)


@customers_bp.route("/conflicts/new", methods=["GET", "POST"])
@login_required
def new_conflict():
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        raw_id = (request.form.get("customer_id") or "").strip()
        data = {"name": text_field("name", 200, errors), "credit_code": text_field("credit_code", 40, errors),
                "reason": text_field("reason", 4000, errors) or "",
                "customer_id": id_field("customer_id", errors) if raw_id else None,
                "claimant_id": None}
        claimant = (request.form.get("claimant") or "").strip()[:80]
        if claimant:
            data["claimant_id"] = db().scalar(select(User.id).where(User.username == claimant)) or -1
        if not errors:
            try:
                case = run_write(lambda: customer_flows.open_conflict_case(db(), current_user, **data))
            except ops.CustomerError as exc:
                _raise_page(exc, errors)
                status = exc.status
            else:
                flash(_("Conflict case opened."), "ok")
                return redirect(url_for("customers.conflict", case_id=case.id))
        else:
            status = 422
    return render_template("conflict_new.html", errors=errors, form=request.form if request.method == "POST"
                           else request.args), status


@customers_bp.get("/conflicts/<id:case_id>")
@login_required
def conflict(case_id: int):
    session = db()
    try:
        case = conflict_ops.visible_case(session, current_user, case_id)
    except ops.CustomerError:
        abort(404)
    customer = session.get(Customer, case.customer_id)
    sees_customer = ops.visible_customer_or_none(session, current_user, customer.id) is not None
    instance = session.get(ProcessInstance, case.process_instance_id) if case.process_instance_id else None
    task = session.scalar(select(HumanTask).where(HumanTask.instance_id == case.process_instance_id,
                                                  HumanTask.status == "open").limit(1)) if instance else None
    from engine.assignment import may_act

    users = {u.id: u.display_name for u in session.scalars(select(User).where(
        User.id.in_({case.opened_by, case.claimant_id, case.owner_id} - {None})))}
    return render_template(
        "conflict.html", case=case, customer=customer, sees_customer=sees_customer, users=users,
        instance=instance, can_decide=task is not None and may_act(current_user, task),
        history=inbox.history(session, instance.id) if instance else [],
        open_tasks=inbox.open_tasks_of(session, instance.id) if instance else [], viewer=viewer_installed())


@customers_bp.post("/conflicts/<id:case_id>/decide")
@login_required
def decide_conflict(case_id: int):
    errors: dict[str, str] = {}
    comment = text_field("comment", 2000, errors)
    decision = request.form.get("decision") or ""
    try:
        run_write(lambda: customer_flows.decide_conflict(db(), current_user, case_id, decision, comment))
    except ops.CustomerError:
        abort(404)
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(_("Conflict case decided."), "ok")
    return redirect(url_for("customers.conflict", case_id=case_id))
