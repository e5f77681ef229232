"""Leads, opportunities, kanban and activities (L1, E1, E4, E6, F1, U3/T1): the pages.

Thin controllers: read the form into a dict, call one operation (models.leads / opportunities / activities /
attachments) inside `run_write`, render. A refused field is shown next to its input (422); a record the user
may not see is 404; a change he may not make is 403; a stale version is 409.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, select

from engine import closure_flows, lead_flows
from models import access, clock
from models import activities as acts
from models import attachments as att
from models import leads as ld
from models import opportunities as ops
from models.crm import Customer
from models.org import User
from models.sales import ACTIVITY_KINDS, LEAD_SOURCES, LEAD_STATUSES, OPPORTUNITY_STATUSES, Lead, Opportunity
from models.stages import stages_for
from web.api.sales import attachment_dir, send_attachment
from web.db import db
from web.errors import run_write
from web.forms import MAX_ID, has_control_chars, page_arg
from web.i18n import add_translations
from web.i18n import gettext as _

sales_bp = Blueprint("sales", __name__)
PAGE_SIZE = 50
OPP_STATUS_LABELS = {"open": "In progress", "won": "Won", "lost": "Lost"}


@sales_bp.app_template_global()
def opp_status(status: str) -> str:
    return _(OPP_STATUS_LABELS.get(status, status))

add_translations({
    "Lead": "商机", "New lead": "新建商机", "Opportunity": "销售机会", "New opportunity": "新建销售机会",
    "Pipeline board": "销售看板", "Activities": "跟进记录", "My activities": "我的跟进记录",
    "Log an activity": "新建跟进记录", "Company": "公司名称", "Contact name": "联系人", "Phone": "电话",
    "Email": "邮箱", "Source": "来源", "phone": "电话来访", "website": "网站注册", "online_consultation": "在线咨询",
    "new": "新商机", "kept": "已保留", "discarded": "已作废", "assigned": "已分配", "following": "跟进中",
    "converted": "已转化", "closed": "已关闭", "won": "赢单", "lost": "输单",
    "visit": "拜访", "call": "电话", "email": "邮件", "meeting": "会议", "other": "其他",
    "Kind": "类型", "Subject": "主题", "Occurred at": "发生时间", "Stage": "销售阶段", "Amount": "金额",
    "Expected signing date": "预计签约日期", "Competitors": "竞争对手", "Win probability": "赢率",
    "Attachments": "附件", "Signing date changes": "预计签约日期变更记录", "Old date": "原日期", "New date": "新日期",
    "Changed by": "变更人", "Search": "搜索", "Filter": "筛选", "All": "全部", "Mine only": "只看我的",
    "Previous page": "上一页", "Next page": "下一页", "Save": "保存", "Move": "移动", "Keep": "保留",
    "Discard": "作废", "Discard reason": "作废原因", "Assign": "分配", "Assign to": "分配给",
    "Screening": "筛选处理", "Follow-up": "跟进", "Mark following": "开始跟进", "Close lead": "关闭商机",
    "Entered by": "录入人", "Last activity": "最近跟进", "Follow up by": "跟进期限", "Uploaded": "上传时间",
    "Size": "大小", "Uploaded by": "上传人", "Progress (owner only)": "推进（仅负责人）",
    "Only the owner enters this opportunity's progress.": "只有负责人可以录入该销售机会的进展（E4）。",
    "Move to the previous stage": "移到上一阶段", "Move to the next stage": "移到下一阶段",
    "Opportunities in this stage": "本阶段销售机会", "count": "数量", "Total": "合计",
    "Drag a card to another column, or focus it and use ← →.": "拖动卡片到其他列，或选中卡片后用 ← → 移动。",
    "Lead saved.": "商机已保存。", "Lead updated.": "商机已更新。", "Lead assigned.": "商机已分配。",
    "Opportunity saved.": "销售机会已保存。", "Opportunity updated.": "销售机会已更新。",
    "Activity logged.": "跟进记录已保存。", "Attachment uploaded.": "附件已上传。",
    "Moved to %(stage)s.": "已移至%(stage)s。", "Read only": "只读", "List": "列表", "Board": "看板",
    "Against": "关联对象", "Notes and result": "内容与结果", "Status and owner": "状态与负责人",
    "Unassigned": "未分配", "No sector: the board shows one sector's stages.": "您不属于任何版块，看板按版块显示。",
    "required": "必填。", "not a valid choice": "选项无效。",
    "must be greater than 0": "必须大于 0。", "enter an amount in CNY, e.g. 120000.00": "请输入人民币金额，例如 120000.00。",
    "no such customer in the system": "系统中没有该客户。", "the customer is not approved yet": "该客户尚未审核通过。",
    "the customer is in the public pool; claim it first": "该客户在公海中，请先领取。",
    "cannot be more than a day in the future": "不能晚于当前时间一天以上。",
    "a date like 2026-12-31": "请输入日期，例如 2026-12-31。",
    "a date and time like 2026-11-26 14:30": "请输入日期时间，例如 2026-11-26 14:30。",
    "not an email address": "邮箱格式不正确。", "no such sales rep in this sector": "本版块没有该销售。",
    "this rep has lost lead rights (L4)": "该销售已被取消商机分配资格（L4）。",
    "the file is empty": "文件为空。", "a file may have at most 10 MB": "文件不能超过 10 MB。",
    "only the opportunity's owner enters its progress (E4)": "只有负责人可以录入该销售机会的进展（E4）。",
    "the opportunity was changed by someone else; reload it and try again": "该销售机会已被他人修改，请刷新后重试。",
    "give exactly one of lead_id, customer_id, opportunity_id": "请选择一个关联的商机、客户或销售机会。",
    "no such record visible to you": "没有您可见的该记录。",
    "only business managers, marketing and sales reps enter leads (E6)": "只有商务经理、市场部和销售可以录入商机（E6）。",
    "only sales reps and department managers open opportunities": "只有销售和部门经理可以新建销售机会。",
    "Owner": "负责人", "Customer": "客户", "Download": "下载", "Page": "分页", "In progress": "进行中", "Won": "赢单", "Lost": "输单",
})


# ---- helpers ------------------------------------------------------------------------------------------------
def _forbidden(message: str):
    abort(make_response(render_template("error.html", message=_(message)), 403))


def _page_write(operation, errors: dict[str, str]):
    """Run one operation; field refusals land in `errors`, 404/403 abort, 409 becomes a form error."""
    try:
        return run_write(operation)
    except ld.Refused as exc:
        errors[exc.field or "form"] = exc.message
    except ld.NotVisible:
        abort(404)
    except ld.NotAllowed as exc:
        _forbidden(exc.message)
    except ld.Conflict as exc:
        errors["form"] = exc.message
    return None


def _read(operation):
    try:
        return operation()
    except ld.NotVisible:
        abort(404)


def _form(*names: str) -> dict[str, Any]:
    return {n: request.form.get(n) for n in names if n in request.form}


def _form_id(name: str, errors: dict[str, str], *, required: bool = False) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = "required"
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ID:
        errors[name] = "not a valid choice"
        return None
    return int(raw)


def _arg_id(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID else None


def _arg_choice(name: str, choices) -> str | None:
    value = request.args.get(name) or None
    return value if value in choices else None


def _search() -> str | None:
    q = (request.args.get("q") or "").strip()[:100]
    return None if not q or has_control_chars(q) else q


def _names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _customer_names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids))).all())


def _activity_context(session, rows) -> dict[str, dict]:
    """Names for an activity list in three queries (no N+1)."""
    leads = {i: n for i, n in session.execute(select(Lead.id, Lead.company_name).where(
        Lead.id.in_({a.lead_id for a in rows if a.lead_id}))).all()} if any(a.lead_id for a in rows) else {}
    opps = {i: n for i, n in session.execute(select(Opportunity.id, Opportunity.name).where(
        Opportunity.id.in_({a.opportunity_id for a in rows if a.opportunity_id}))).all()} \
        if any(a.opportunity_id for a in rows) else {}
    return {"users": _names(session, [a.owner_id for a in rows]), "leads": leads, "opportunities": opps,
            "customers": _customer_names(session, [a.customer_id for a in rows])}


def _pager(total: int, page: int) -> dict[str, Any]:
    args = {k: v for k, v in request.args.items() if k != "page"}
    return {"page": page, "total": total, "prev": url_for(request.endpoint, **request.view_args, **args, page=page - 1)
            if page > 1 else None,
            "next": url_for(request.endpoint, **request.view_args, **args, page=page + 1)
            if page * PAGE_SIZE < total else None}


def _activity_form_defaults() -> dict[str, str]:
    return {"kind": "call", "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M")}


# ---- leads --------------------------------------------------------------------------------------------------
@sales_bp.get("/leads")
@login_required
def leads():
    session, page = db(), page_arg()
    filters = {"status": _arg_choice("status", LEAD_STATUSES), "source": _arg_choice("source", LEAD_SOURCES),
               "mine": request.args.get("mine") == "1", "q": _search()}
    rows = ld.list_leads(session, current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **filters)
    total = ld.count_leads(session, current_user, **filters)
    return render_template("leads.html", leads=rows, filters=filters, pager=_pager(total, page),
                           owners=_names(session, [r.owner_id for r in rows]), statuses=LEAD_STATUSES,
                           sources=LEAD_SOURCES, may_enter=ld.may_enter_leads(current_user))


@sales_bp.route("/leads/new", methods=["GET", "POST"])
@login_required
def lead_new():
    if not ld.may_enter_leads(current_user):
        _forbidden("only business managers, marketing and sales reps enter leads (E6)")
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = _form(*ld.EDITABLE)
        lead = _page_write(lambda: lead_flows.submit_lead(db(), current_user, data), errors)
        if lead is not None:
            flash(_("Lead saved."), "ok")
            return redirect(url_for("sales.lead_detail", lead_id=lead.id))
    return render_template("lead_new.html", errors=errors, form=request.form, sources=LEAD_SOURCES), \
        422 if errors else 200


@sales_bp.get("/leads/<id:lead_id>")
@login_required
def lead_detail(lead_id: int, errors: dict | None = None, status: int = 200):
    session = db()
    lead = _read(lambda: ld.visible_lead(session, current_user, lead_id))
    activities = acts.list_activities(session, current_user, lead_id=lead.id, limit=100)
    owners = ld.assignable_owners(session, lead.sector_id) if current_user.role_codes & ld.ASSIGNING_ROLES else []
    return render_template(
        "lead.html", lead=lead, activities=activities, ctx=_activity_context(session, activities),
        names=_names(session, [lead.owner_id, lead.created_by]), owners=owners, errors=errors or {},
        form=request.form if errors else {}, aform=_activity_form_defaults(), kinds=ACTIVITY_KINDS,
        is_desk=ld.is_desk(current_user), is_owner=lead.owner_id == current_user.id,
        customer_name=_customer_names(session, [lead.customer_id]).get(lead.customer_id)), status


@sales_bp.post("/leads/<id:lead_id>/status")
@login_required
def lead_status(lead_id: int):
    errors: dict[str, str] = {}
    data = _form("status", "discard_reason")
    lead = _page_write(lambda: lead_flows.update_lead(db(), current_user, lead_id, data), errors)
    if lead is None:
        return lead_detail(lead_id, errors=errors, status=409 if "form" in errors else 422)
    flash(_("Lead updated."), "ok")
    return redirect(url_for("sales.lead_detail", lead_id=lead_id))


@sales_bp.post("/leads/<id:lead_id>/assign")
@login_required
def lead_assign(lead_id: int):
    errors: dict[str, str] = {}
    owner_id = _form_id("owner_id", errors, required=True)
    lead = None if errors else _page_write(lambda: lead_flows.assign_lead(db(), current_user, lead_id, owner_id), errors)
    if lead is None:
        return lead_detail(lead_id, errors=errors, status=409 if "form" in errors else 422)
    flash(_("Lead assigned."), "ok")
    return redirect(url_for("sales.lead_detail", lead_id=lead_id))


# ---- opportunities ------------------------------------------------------------------------------------------
def _stage_names(session, sector_id) -> dict[str, str]:
    zh = _("Lead") == "商机"
    return {s.code: (s.name_zh if zh else s.name_en) for s in stages_for(session, sector_id)}


@sales_bp.get("/opportunities")
@login_required
def opportunities():
    session, page = db(), page_arg()
    stages = stages_for(session, current_user.sector_id)
    filters = {"status": _arg_choice("status", OPPORTUNITY_STATUSES),
               "stage_code": _arg_choice("stage_code", {s.code for s in stages}),
               "mine": request.args.get("mine") == "1", "q": _search()}
    rows = ops.list_opportunities(session, current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **filters)
    total = ops.count_opportunities(session, current_user, **filters)
    return render_template("opportunities.html", rows=rows, filters=filters, pager=_pager(total, page), stages=stages,
                           stage_names=_stage_names(session, current_user.sector_id),
                           owners=_names(session, [o.owner_id for o, _n in rows]), statuses=OPPORTUNITY_STATUSES,
                           may_open=ops.may_open(current_user))


def _open_customers(session):
    return list(session.scalars(select(Customer).where(
        access.customer_filter(current_user), Customer.status == "approved", Customer.owner_id.is_not(None))
        .order_by(Customer.name).limit(500)))


@sales_bp.route("/opportunities/new", methods=["GET", "POST"])
@login_required
def opportunity_new():
    if not ops.may_open(current_user):
        _forbidden("only sales reps and department managers open opportunities")
    session = db()
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = _form("name", "stage_code", "amount", "expected_sign_date", "competitors")
        data["customer_id"] = _form_id("customer_id", errors, required=True)
        opp = None if errors else _page_write(
            lambda: closure_flows.create_opportunity(db(), current_user, data), errors)
        if opp is not None:
            flash(_("Opportunity saved."), "ok")
            return redirect(url_for("sales.opportunity_detail", opportunity_id=opp.id))
    form = request.form if request.method == "POST" else {"customer_id": request.args.get("customer_id", "")}
    return render_template("opportunity_new.html", errors=errors, form=form, customers=_open_customers(session),
                           stages=stages_for(session, current_user.sector_id)), 422 if errors else 200


@sales_bp.get("/opportunities/<id:opportunity_id>")
@login_required
def opportunity_detail(opportunity_id: int, errors: dict | None = None, status: int = 200):
    session = db()
    opp = _read(lambda: ops.visible_opportunity(session, current_user, opportunity_id))
    activities = acts.list_activities(session, current_user, opportunity_id=opp.id, limit=100)
    changes = ops.sign_date_changes(session, current_user, opp.id)
    files = att.attachments_of(session, current_user, opp.id)
    names = _names(session, [opp.owner_id, *(c.changed_by for c in changes), *(f.uploaded_by for f in files)])
    errors = errors or {}
    return render_template(
        "opportunity.html", opp=opp, customer=session.get(Customer, opp.customer_id), activities=activities,
        ctx=_activity_context(session, activities), changes=changes, files=files, names=names,
        stages=stages_for(session, opp.sector_id), stage_names=_stage_names(session, opp.sector_id),
        is_owner=opp.owner_id == current_user.id, errors=errors, kinds=ACTIVITY_KINDS,
        form=request.form if errors else {}, aform=_activity_form_defaults()), status


@sales_bp.post("/opportunities/<id:opportunity_id>/edit")
@login_required
def opportunity_edit(opportunity_id: int):
    errors: dict[str, str] = {}
    data = _form("name", "stage_code", "amount", "expected_sign_date", "competitors")
    version = (request.form.get("version") or "").strip()
    data["version"] = int(version) if version.isascii() and version.isdigit() and int(version) <= MAX_ID else None
    opp = _page_write(lambda: closure_flows.update_opportunity(db(), current_user, opportunity_id, data), errors)
    if opp is None:
        return opportunity_detail(opportunity_id, errors=errors, status=409 if "form" in errors else 422)
    flash(_("Opportunity updated."), "ok")
    return redirect(url_for("sales.opportunity_detail", opportunity_id=opportunity_id))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


@sales_bp.post("/opportunities/<id:opportunity_id>/stage")
@login_required
def opportunity_stage(opportunity_id: int):
    """The kanban move (session + CSRF). fetch() gets JSON; a plain form post is redirected back to the board."""
    payload = request.get_json(silent=True) if request.is_json else None
    payload = payload if isinstance(payload, dict) else request.form
    stage_code = payload.get("stage_code")
    raw_version = payload.get("version")
    raw_version = str(raw_version or "")
    version = int(raw_version) if raw_version.isascii() and raw_version.isdigit() and int(raw_version) <= MAX_ID else None
    try:
        opp = run_write(lambda: closure_flows.move_stage(db(), current_user, opportunity_id, stage_code, version))
    except ld.SalesError as exc:
        if _wants_json():
            return jsonify({"message": _(exc.message), "errors": exc.errors}), exc.status
        if exc.status == 404:
            abort(404)
        flash(_(exc.message), "error")
        return redirect(url_for("sales.board"))
    stage_name = _stage_names(db(), opp.sector_id).get(opp.stage_code, opp.stage_code)
    body = {"id": opp.id, "stage_code": opp.stage_code, "stage_name": stage_name, "status": opp.status,
            "win_probability": opp.win_probability, "version": opp.version,
            "message": _("Moved to %(stage)s.", stage=stage_name)}
    if _wants_json():
        return jsonify(body)
    flash(body["message"], "ok")
    return redirect(url_for("sales.board"))


@sales_bp.post("/opportunities/<id:opportunity_id>/attachments")
@login_required
def opportunity_upload(opportunity_id: int):
    errors: dict[str, str] = {}
    file = request.files.get("file")
    max_bytes = att.MAX_ATTACHMENT_BYTES
    data = file.read(max_bytes + 1) if file is not None and file.filename else None
    row = _page_write(lambda: att.add_attachment(
        db(), current_user, opportunity_id, filename=file.filename if file else None,
        content_type=file.mimetype if file else None, data=data, directory=attachment_dir(),
        stage_code=request.form.get("stage_code") or None), errors)
    if row is None:
        return opportunity_detail(opportunity_id, errors=errors, status=409 if "form" in errors else 422)
    flash(_("Attachment uploaded."), "ok")
    return redirect(url_for("sales.opportunity_detail", opportunity_id=opportunity_id) + "#attachments")


@sales_bp.get("/attachments/<id:attachment_id>")
@login_required
def attachment_download(attachment_id: int):
    row, path = _read(lambda: att.attachment_for_download(db(), current_user, attachment_id, attachment_dir()))
    return send_attachment(row, path)


@sales_bp.get("/opportunities/board")
@login_required
def board():
    session = db()
    sector_id = current_user.sector_id
    stages, columns = ops.board(session, current_user, sector_id) if sector_id else ([], {})
    totals = {code: (len(cards), sum((o.amount for o, _n in cards), Decimal(0))) for code, cards in columns.items()}
    return render_template("board.html", stages=stages, columns=columns, totals=totals, me=current_user.id,
                           zh=_("Lead") == "商机")


# ---- activities ---------------------------------------------------------------------------------------------
@sales_bp.route("/activities/new", methods=["GET", "POST"])
@login_required
def activity_new():
    """Log an activity against one lead, customer or opportunity; back to that record's page."""
    session = db()
    errors: dict[str, str] = {}
    target = {name: (_form_id(name, errors) if request.method == "POST" else _arg_id(name)) for name in acts.TARGETS}
    if request.method == "POST":
        data = {**_form("kind", "subject", "notes", "occurred_at"), **target}
        activity = None if errors else _page_write(lambda: lead_flows.log_activity(db(), current_user, data), errors)
        if activity is not None:
            flash(_("Activity logged."), "ok")
            nxt = request.form.get("next") or ""
            if activity.opportunity_id:
                return redirect(url_for("sales.opportunity_detail", opportunity_id=activity.opportunity_id))
            if activity.lead_id:
                return redirect(url_for("sales.lead_detail", lead_id=activity.lead_id))
            if nxt.startswith("/customers/") and not nxt.startswith("//"):
                return redirect(nxt)
            return redirect(url_for("sales.activities"))
    label = _target_label(session, target)
    form = request.form if request.method == "POST" else _activity_form_defaults()
    return render_template("activity_new.html", errors=errors, form=form, target=target, label=label,
                           kinds=ACTIVITY_KINDS, next=request.values.get("next", "")), 422 if errors else 200


def _target_label(session, target: dict[str, int | None]) -> str | None:
    if target.get("opportunity_id"):
        row = session.scalar(select(Opportunity.name).where(and_(Opportunity.id == target["opportunity_id"],
                                                                  access.opportunity_filter(current_user))))
        return f"{_('Opportunity')}: {row}" if row else None
    if target.get("lead_id"):
        row = session.scalar(select(Lead.company_name).where(and_(Lead.id == target["lead_id"],
                                                                  access.lead_filter(current_user))))
        return f"{_('Lead')}: {row}" if row else None
    if target.get("customer_id"):
        row = session.scalar(select(Customer.name).where(and_(Customer.id == target["customer_id"],
                                                              access.customer_filter(current_user))))
        return f"{_('Customer')}: {row}" if row else None
    return None


@sales_bp.get("/activities")
@login_required
def activities():
    session, page = db(), page_arg()
    rows = acts.list_activities(session, current_user, mine=True, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    more = len(rows) == PAGE_SIZE
    return render_template("activities.html", activities=rows, ctx=_activity_context(session, rows), page=page,
                           more=more)
