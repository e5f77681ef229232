"""The public pool (公海) pages: pool list with 领取, my warnings with 退回公海, moves with 撤销, flags (T1–T3, U3, P3).

Thin controllers: read the query, call one operation of `models.pool` inside `run_write`, flash the
result and redirect back. Destructive actions ask once (a <details> confirm, no script needed).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from models import activity_flags, clock, pool
from models.flags import FLAG_KINDS
from web.db import db
from web.errors import run_write
from web.forms import has_control_chars, page_arg
from web.i18n import add_translations
from web.i18n import gettext as _

pool_bp = Blueprint("pool", __name__)
PER_PAGE = 50

add_translations({
    "Customers in the public pool of your sector.": "本版块公海中的客户。",
    "Search name, pinyin initials or phone": "搜索名称、拼音首字母或电话", "Search": "搜索",
    "In the pool since": "进入公海时间", "Claim this customer?": "确认领取该客户？", "Confirm claim": "确认领取",
    "Claimed: %(name)s is now your customer.": "领取成功：%(name)s 已成为您的客户。",
    "Claims this month": "本月已领取", "Previous": "上一页", "Next": "下一页", "Page %(page)s": "第 %(page)s 页",
    "Recent moves to the pool": "最近掉入公海记录", "All moves": "全部记录", "Moves to the public pool": "公海流转记录",
    "Moved": "移入时间", "Former owner": "原负责人", "Reason": "原因", "pool move: inactive": "超期未跟进",
    "pool move: returned": "主动退回", "pool move: account_closed": "账号注销", "Undone": "已撤销", "Undo": "撤销",
    "Undo this move and give the customer back to its former owner?": "确认撤销，将客户退还给原负责人？",
    "Confirm undo": "确认撤销", "Move undone: the customer is back with its former owner.": "已撤销：客户已退还原负责人。",
    "Claimed since": "已被领取", "Contact warnings": "即将掉入公海",
    "Your customers without contact for %(warn)s days or more; at %(pool)s days they move to the "
    "public pool.": "您超过 %(warn)s 天未跟进的客户；满 %(pool)s 天将自动掉入公海。",
    "Days without contact": "未跟进天数", "Last contact": "最近跟进", "Moves to pool on": "预计掉入公海",
    "Warning": "提醒", "warn": "提醒", "strong": "严重提醒", "Return to pool": "退回公海",
    "Return this customer to the public pool?": "确认将该客户退回公海？", "Confirm return": "确认退回",
    "Returned to the public pool.": "已退回公海。", "Note": "说明",
    "Activity flags": "活动预警", "Mine": "我的", "My team": "团队", "Kind": "类型", "Period": "周期",
    "Person": "人员", "Record": "记录", "Raised": "生成时间",
    "rep_no_weekly_activity": "本周无跟进活动", "lead_no_monthly_activity": "商机一个月无活动",
    "opportunity_no_monthly_activity": "销售机会一个月无活动", "lead_not_followed_up": "分配商机未及时跟进",
    "late_entry": "客户录入超期", "never": "从未",
    "claim limit reached: %(used)s of %(limit)s customers claimed from the public pool this month":
        "已达到本月公海领取上限：本月已领取 %(used)s 个，上限 %(limit)s 个。",
    "only sales reps may claim customers from the public pool": "只有销售人员可以从公海领取客户。",
    "this customer is no longer in the public pool": "该客户已不在公海中。",
    "someone else claimed this customer first": "该客户已被他人抢先领取。",
    "only the customer's owner may return it to the public pool": "只有客户负责人可以退回公海。",
    "only sales management may undo a move to the public pool": "只有销售管理部可以撤销公海流转。",
    "this move was already undone": "该记录已撤销。",
    "the customer is no longer in the public pool (claimed since); the move cannot be undone":
        "客户已被他人领取，无法撤销。",
    "the customer moved again after this move; undo the latest move instead": "客户之后又有流转，请撤销最近一次。",
    "the former owner's account is no longer active": "原负责人账号已停用。",
})


def _refusal(exc: pool.PoolError) -> str:
    return _(exc.template, **exc.params)


def _back(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith("/pool") and "//" not in target else default


def _search_arg() -> str | None:
    q = (request.args.get("q") or "").strip()[:100]
    return None if not q or has_control_chars(q) else q


@pool_bp.get("/pool")
@login_required
def index():
    session, page, q = db(), page_arg(), _search_arg()
    rows = pool.pool_customers(session, current_user, q, PER_PAGE + 1, (page - 1) * PER_PAGE)
    lim = pool.limits(session, current_user.sector_id)
    may_claim = bool(current_user.role_codes & pool.CLAIM_ROLES)
    claim_info = None
    if may_claim:
        from models import settings

        claim_info = (pool.claims_this_month(session, current_user, clock.now()),
                      int(settings.get(session, "pool.claim_limit", current_user.sector_id)))
    moves = None
    if current_user.sector_id is not None and pool.may_undo(current_user, current_user.sector_id):
        moves = pool.pool_moves(session, current_user, reason=None, limit=10, offset=0)
    return render_template("pool.html", customers=rows[:PER_PAGE], has_next=len(rows) > PER_PAGE, page=page,
                           q=q, may_claim=may_claim, claim_info=claim_info, moves=moves, limits=lim)


@pool_bp.post("/pool/<id:customer_id>/claim")
@login_required
def claim(customer_id: int):
    try:
        customer = run_write(lambda: pool.claim(db(), current_user, customer_id))
    except pool.PoolError as exc:
        if exc.status == 404:
            abort(404)
        flash(_refusal(exc), "error")
    else:
        flash(_("Claimed: %(name)s is now your customer.", name=customer.name), "ok")
    return redirect(_back(url_for("pool.index")))


@pool_bp.get("/pool/warnings")
@login_required
def warnings():
    session, page = db(), page_arg()
    level = request.args.get("level") if request.args.get("level") in ("warn", "strong") else None
    now = clock.now()
    query, lim = pool.my_warnings_query(session, current_user, now, level)
    rows = list(session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    items = [(c, pool.days_since_contact(c, now), pool.customer_warning(c, now, lim),
              pool.pool_due_at(c, lim)) for c in rows[:PER_PAGE]]
    return render_template("pool_warnings.html", items=items, has_next=len(rows) > PER_PAGE, page=page,
                           level=level, limits=lim)


@pool_bp.post("/pool/<id:customer_id>/return")
@login_required
def return_(customer_id: int):
    note = (request.form.get("note") or "").strip()[:500] or None
    if note and has_control_chars(note):
        note = None
    try:
        run_write(lambda: pool.return_to_pool(db(), current_user, customer_id, note))
    except pool.PoolError as exc:
        if exc.status == 404:
            abort(404)
        flash(_refusal(exc), "error")
    else:
        flash(_("Returned to the public pool."), "ok")
    return redirect(_back(url_for("pool.warnings")))


@pool_bp.get("/pool/moves")
@login_required
def moves():
    page = page_arg()
    reason = request.args.get("reason") if request.args.get("reason") in ("inactive", "returned",
                                                                            "account_closed") else None
    rows = pool.pool_moves(db(), current_user, reason=reason, limit=PER_PAGE + 1,
                           offset=(page - 1) * PER_PAGE)
    may_undo = current_user.sector_id is not None and pool.may_undo(current_user, current_user.sector_id)
    return render_template("pool_moves.html", moves=rows[:PER_PAGE], has_next=len(rows) > PER_PAGE, page=page,
                           reason=reason, may_undo=may_undo)


@pool_bp.post("/pool/moves/<id:move_id>/undo")
@login_required
def undo(move_id: int):
    try:
        run_write(lambda: pool.undo_move(db(), current_user, move_id))
    except pool.PoolError as exc:
        if exc.status == 404:
            abort(404)
        flash(_refusal(exc), "error")
    else:
        flash(_("Move undone: the customer is back with its former owner."), "ok")
    return redirect(_back(url_for("pool.moves")))


@pool_bp.get("/pool/flags")
@login_required
def flags():
    page = page_arg()
    mine = request.args.get("scope") != "team"
    kind = request.args.get("kind") if request.args.get("kind") in FLAG_KINDS else None
    rows = activity_flags.list_flags(db(), current_user, mine=mine, kind=kind, open_only=True,
                                     limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    return render_template("pool_flags.html", flags=rows[:PER_PAGE], has_next=len(rows) > PER_PAGE, page=page,
                           mine=mine, kind=kind, kinds=FLAG_KINDS)
