"""Pages: 账号管理 (O5) — the sector admin's accounts page: users of his sector with status and roles, the
forms to request opening, a role change, closing (with successor), freezing or unfreezing, and the list of
requests. The sector head sees the same page read-only and decides in the approval center."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import account_flows
from models import account_changes as ops
from models import clock
from models.org import ROLES, Department, User
from web.db import db
from web.errors import run_write
from web.forms import page_arg, text_field
from web.i18n import add_translations
from web.i18n import gettext as _

accounts_bp = Blueprint("accounts", __name__)
PAGE_SIZE = 50
ROLE_CHOICES = [code for code in ROLES if code not in ops.GROUP_ROLES]

add_translations({
    "Accounts": "账号管理", "Account changes": "账号变更申请", "Users of the sector": "本版块用户",
    "ac_kind_open": "申请开通", "ac_kind_change_role": "申请变更角色", "ac_kind_close": "申请注销",
    "ac_kind_freeze": "冻结账号", "ac_kind_unfreeze": "申请解冻",
    "ac_pending": "审批中", "ac_approved": "已执行", "ac_rejected": "已驳回", "ac_withdrawn": "已撤回",
    "user_active": "正常", "user_frozen": "已冻结", "user_closed": "已注销",
    "Late": "逾期提交", "Login name": "登录名", "Full name": "姓名", "Department": "部门", "Account": "账号",
    "Roles": "角色", "Status": "状态", "Roles to add": "新增角色", "Roles to remove": "取消角色",
    "Successor": "交接人", "To hand over": "待交接", "Handed over": "已交接", "Staff change date": "人员变动日期",
    "Submitted by": "提交人", "Initial password": "初始密码", "Kind of change": "变更类型",
    "ho_customers": "客户", "ho_leads": "线索", "ho_opportunities": "商机", "ho_quotes": "报价",
    "ho_contracts": "合同", "ho_tasks": "待办", "Open an account": "申请开通账号",
    "Request submitted for the sector head's approval.": "申请已提交，等待版块负责人审批。",
    "The account is frozen now; the sector head confirms it.": "账号已立即冻结，待版块负责人确认。",
    "The account is already frozen. Approve to keep it frozen; reject to lift the freeze.":
        "该账号已冻结。批准即维持冻结，驳回即解除冻结。",
    "Only the sector admin and the sector head see this page.": "仅版块管理员和版块负责人可查看此页面。",
    "Submit within one working day of the staff change; later requests are flagged.":
        "请在人员变动后一个工作日内提交，逾期提交将被标记。",
    "Choose the successor who receives the customers, leads, opportunities and open tasks.":
        "请选择接收其客户、线索、商机和待办的交接人。",
    "No requests yet.": "暂无申请。", "Process": "流程", "Submitted at": "提交时间", "Change role": "变更角色",
    "Close account": "注销", "Freeze": "冻结", "Unfreeze": "解冻", "Submit": "提交", "Request": "申请",
    "none": "无", "Reason for the change": "变更原因", "Cancel": "取消",
    # operation messages (models/account_changes.py)
    "only the sector admin submits account changes": "只有版块管理员可以提交账号变更。",
    "no such user in your sector": "本版块没有该用户。",
    "group-wide accounts are not managed by the sector admin": "集团账号不由版块管理员管理。",
    "ask another administrator to change your own account": "不能变更自己的账号，请由其他管理员提交。",
    "name an active user of the same sector as successor": "请选择本版块的在职用户作为交接人。",
    "give the reason for the change": "请填写变更原因。",
    "the date of the staff change, within a year of today": "请填写人员变动日期（一年以内）。",
    "a login name without spaces, at most 80 characters": "登录名不能含空格，最多 80 个字符。",
    "this login name is taken": "该登录名已被使用。", "the person's name": "请填写姓名。",
    "department not in your sector": "部门不属于本版块。",
    "an initial password of 8 to 200 characters": "初始密码为 8–200 个字符。",
    "give the new account at least one role": "请至少选择一个角色。",
    "name roles to add or to remove": "请选择要新增或取消的角色。",
    "roles the user holds in your sector": "只能取消该用户在本版块已有的角色。",
    "this account is closed": "该账号已注销。", "this account is already frozen": "该账号已冻结。",
    "this account is not frozen": "该账号未冻结。",
    "a request of this kind for this account is already waiting": "该账号已有同类申请在审批中。",
})


def _viewer_sector() -> int:
    sector = ops.may_view(current_user)
    if sector is None:
        abort(403)
    return sector


def _departments(sector_id: int) -> list[Department]:
    return list(db().scalars(select(Department).where(Department.sector_id == sector_id).order_by(Department.code)))


@accounts_bp.get("/accounts")
@login_required
def index():
    sector_id = _viewer_sector()
    session = db()
    page = page_arg()
    users = ops.sector_users(session, current_user, limit=500)
    changes = ops.list_changes(session, current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    names = {u.id: u for u in users}
    depts = {d.id: d.name for d in _departments(sector_id)}
    return render_template("accounts/index.html", users=users, changes=changes, names=names, depts=depts,
                           page=page, is_admin=ops.is_sector_admin(current_user), page_size=PAGE_SIZE)


def _form_data(kind: str, errors: dict[str, str]) -> dict:
    form = request.form
    data: dict = {"kind": kind, "reason": text_field("reason", 4000, errors) or ""}
    raw_date = (form.get("staff_change_date") or "").strip()
    try:
        data["staff_change_date"] = date.fromisoformat(raw_date)
    except ValueError:
        errors["staff_change_date"] = "the date of the staff change, within a year of today"

    def number(name: str) -> int | None:
        raw = (form.get(name) or "").strip()
        if not raw:
            return None
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
            errors[name] = "not a valid choice"
            return None
        return int(raw)

    if kind == "open":
        data.update(username=text_field("username", 80, errors), display_name=text_field("display_name", 120, errors),
                    department_id=number("department_id"), password=form.get("password") or "")
        if len(data["password"]) > 200:
            errors["password"] = "an initial password of 8 to 200 characters"
    else:
        data["target_user_id"] = number("target_user_id")
    roles_add = [r for r in form.getlist("roles_add") if r in ROLE_CHOICES]
    data["roles_add"] = [{"role": r} for r in roles_add]
    data["roles_remove"] = [r for r in form.getlist("roles_remove") if r in ROLE_CHOICES]
    if kind == "close":
        data["successor_id"] = number("successor_id")
    return data


@accounts_bp.route("/accounts/new/<kind>", methods=["GET", "POST"])
@login_required
def new(kind: str):
    if kind not in ops.KINDS:
        abort(404)
    try:
        sector_id = ops.admin_sector(current_user)
    except ops.AccountChangeError:
        abort(403)
    session = db()
    errors: dict[str, str] = {}
    status = 200
    target = None
    raw_target = request.values.get("target_user_id", "")
    if kind != "open":
        if not (raw_target.isascii() and raw_target.isdigit()) or len(raw_target) > 10:
            abort(404)
        target = session.get(User, int(raw_target))
        if target is None or target.sector_id != sector_id:
            abort(404)
    if request.method == "POST":
        data = _form_data(kind, errors)
        if not errors:
            try:
                run_write(lambda: account_flows.submit(session, current_user, data))
            except ops.AccountChangeError as exc:
                errors[exc.field or "form"] = exc.message
                status = exc.status
            else:
                flash(_("The account is frozen now; the sector head confirms it.") if kind == "freeze"
                      else _("Request submitted for the sector head's approval."), "ok")
                return redirect(url_for("accounts.index"))
        else:
            status = 422
    successors = [u for u in ops.sector_users(session, current_user, status="active", limit=500)
                  if target is None or u.id != target.id]
    form = request.form if request.method == "POST" else {"staff_change_date": clock.now().date().isoformat()}
    return render_template("accounts/new.html", kind=kind, target=target, errors=errors, form=form,
                           departments=_departments(sector_id), roles=ROLE_CHOICES, successors=successors), status


@accounts_bp.get("/accounts/changes/<id:change_id>")
@login_required
def change(change_id: int):
    _viewer_sector()
    session = db()
    try:
        found = ops.visible_change(session, current_user, change_id)
    except ops.AccountChangeError:
        abort(404)
    return render_template("accounts/change.html", subject=account_flows.load_view(session, found.id))
