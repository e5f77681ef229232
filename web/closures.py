"""Opportunity closure pages (F2): the owner's close form (关闭), sales management's reopen, the closure card
on the opportunity page (template global `closure_card`), and the fields of the close step on the task page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine import closure_flows
from engine.errors import EngineError
from models import closures as cl
from models import leads as ld
from models import opportunities as ops
from models.stages import stages_for
from web import inbox
from web.db import db
from web.errors import run_write
from web.forms import has_control_chars
from web.i18n import add_translations
from web.i18n import gettext as _

closures_bp = Blueprint("closures", __name__)

add_translations({
    "Close": "关闭", "Close the opportunity": "关闭销售机会", "Closure": "销售机会关闭",
    "Outcome": "关闭结果", "invalid": "无效", "Reason": "原因", "Contract reference": "合同编号",
    "Competitor who won": "中标的竞争对手", "Close by": "关闭期限", "Late": "超期", "On time": "按时",
    "closing": "待负责人关闭", "confirming": "待部门确认", "confirmed": "已确认关闭", "cancelled": "已取消",
    "reopened": "已重新打开", "Confirm closure": "确认关闭", "Return to the owner": "退回负责人",
    "Reopen": "重新打开", "Reopen at stage": "重新打开到阶段", "Opportunity closed; waiting for confirmation.":
        "销售机会已关闭，等待部门确认。", "Opportunity reopened.": "销售机会已重新打开。",
    "late_closure": "销售机会关闭超期",
    "required when the opportunity is lost or invalid": "输单或无效时必须填写原因。",
    "the opportunity is closed and read-only; sales management may reopen it (F2)":
        "销售机会已关闭，只读；如需修改请联系销售管理部重新打开（F2）。",
    "only the opportunity's owner closes it (F2, E4)": "只有负责人可以关闭销售机会（F2、E4）。",
    "the closure is waiting for the department's confirmation": "关闭申请正在等待部门确认。",
    "the opportunity is already closed": "该销售机会已关闭。",
    "only sales management reopens a closed opportunity (F2)": "只有销售管理部可以重新打开已关闭的销售机会（F2）。",
    "Closed on": "关闭时间", "Confirmed on": "确认时间",
    "The owner closes a won, lost or invalid opportunity within one working day; the department confirms it.":
        "赢单、输单或无效的销售机会，负责人须在一个工作日内关闭，并由部门经理或助理确认。",
})

inbox.DECISION_BUTTONS["opportunity_close"] = [("close", "Close the opportunity", "approve")]
inbox.DECISION_BUTTONS["closure_confirm"] = [("approve", "Confirm closure", "approve"),
                                            ("return", "Return to the owner", "reject")]


def _close_fields(form) -> dict:
    return {k: (form.get(k) or "").strip() for k in ("outcome", "reason", "contract_ref", "winner")}


inbox.FORM_FIELDS["opportunity_close"] = ("closures/_close_fields.html", _close_fields)


@closures_bp.app_template_global()
def closure_card(opportunity_id: int) -> dict:
    """The opportunity's latest closure and its open step, for the opportunity page."""
    session = db()
    closure = cl.latest(session, opportunity_id)
    task = None
    if closure is not None and closure.status in cl.OPEN_STATUSES:
        task = closure_flows._open_step(session, closure.process_instance_id)
    return {"closure": closure, "task": task}


def _error_page(status: int, message: str):
    abort(make_response(render_template("error.html", message=_(message)), status))


@closures_bp.route("/opportunities/<id:opportunity_id>/close", methods=["GET", "POST"])
@login_required
def close(opportunity_id: int):
    session = db()
    try:
        opp = ops.visible_opportunity(session, current_user, opportunity_id)
    except ld.NotVisible:
        abort(404)
    if opp.owner_id != current_user.id:
        _error_page(403, "only the opportunity's owner closes it (F2, E4)")
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        data = _close_fields(request.form)
        comment = (request.form.get("comment") or "").strip() or None
        for key, value in [*data.items(), ("comment", comment or "")]:
            if has_control_chars(value) or len(value) > (100 if key in ("contract_ref", "winner") else 2000):
                errors[key] = "contains characters that are not allowed"
        if not errors:
            try:
                run_write(lambda: closure_flows.close_opportunity(db(), current_user, opportunity_id, data, comment))
            except ld.SalesError as exc:
                errors[exc.field or "form"] = exc.message
            except EngineError as exc:
                if exc.status == 404:
                    abort(404)
                errors.update({k: "; ".join(v) for k, v in (exc.errors or {}).items()} or {"form": exc.message})
            else:
                flash(_("Opportunity closed; waiting for confirmation."), "ok")
                return redirect(url_for("sales.opportunity_detail", opportunity_id=opportunity_id))
    card = closure_card(opp.id)
    return render_template("closures/close.html", opp=opp, errors=errors, form=form, card=card,
                           outcomes=cl.OUTCOMES), 422 if errors else 200


@closures_bp.post("/opportunities/<id:opportunity_id>/reopen")
@login_required
def reopen(opportunity_id: int):
    stage_code = request.form.get("stage_code")
    try:
        run_write(lambda: closure_flows.reopen(db(), current_user, opportunity_id, stage_code))
    except cl.ClosureError as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 403:
            _error_page(403, exc.message)
        flash(_(exc.message), "error")
    else:
        flash(_("Opportunity reopened."), "ok")
    return redirect(url_for("sales.opportunity_detail", opportunity_id=opportunity_id))


@closures_bp.app_template_global()
def open_stages(sector_id: int) -> list:
    return [s for s in stages_for(db(), sector_id) if s.outcome is None]
