"""Pages: the lead desk (商机分配, L2–L4) and the routing table business staff maintain (L3, L4).

Thin controllers: read the form into a dict, call one operation (engine.lead_flows / models.lead_routing)
inside `run_write`, redirect or render. Field refusals are shown next to the input (422), 403/404 abort.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import lead_flows
from engine.errors import EngineError
from models import clock
from models import lead_routing as routing
from models import leads as ld
from models.org import Department, User, UserRole
from web import inbox
from web.db import db
from web.errors import run_write
from web.forms import MAX_ID
from web.i18n import add_translations
from web.i18n import gettext as _

lead_desk_bp = Blueprint("lead_desk", __name__)

add_translations({
    "Lead desk": "商机分配", "Routing rules": "分配规则", "Routing priority": "分配优先", "Route": "分配",
    "Followed up": "已跟进", "Route to": "分配给", "Any": "任意",
    "Target": "分配对象", "Position": "顺序", "Active": "启用", "Inactive": "停用", "Deactivate": "停用",
    "Activate": "启用", "Add rule": "新增规则", "Rank": "排名", "Set priority": "设置优先",
    "Remove priority": "取消优先", "Team": "团队", "Rep": "销售", 
    "Note": "备注", "Lead routed.": "商机已分配。",
    "Lead discarded.": "商机已作废。", "Rule saved.": "规则已保存。", "Priority saved.": "优先已保存。",
    "No lead waits for you.": "暂无待分配商机。",
    "Leads no rule matched, or whose rep did not follow up in time, wait here for you to route by hand.":
        "没有匹配规则或跟进超时的商机在此等待手工分配。",
    "Rules are tried in order (lowest first); blank region or industry matches any. Reps without lead rights are "
    "skipped; reps with routing priority this month come first.":
        "规则按顺序（小的在前）匹配；区域或行业留空表示任意。被取消商机资格的销售不参与分配；本月有分配优先的销售优先。",
    "name either a target user or a target department": "请选择一个分配对象：销售或团队。",
    "no such department in this sector": "本版块没有该部门。", "the owner must be a sales rep": "分配对象必须是销售。",
    "between 0 and 100000": "请输入 0 到 100000 之间的数字。", "between 1 and 1000": "请输入 1 到 1000 之间的数字。",
    "must be a whole number": "请输入整数。",
    "only business managers and sales management maintain the routing table (L3)":
        "只有商务经理和销售管理部可以维护分配规则（L3）。",
    "only sales management sets routing priority (L4)": "只有销售管理部可以设置分配优先（L4）。",
    "this lead has no open routing step of that kind": "该商机当前没有此分配步骤。",
    "complete_lead": "完善商机", "manual_route": "手工分配", "reroute": "超时重新分配",
    "lead_routed": "商机分配", "Empty removes the priority.": "留空表示取消优先。",
    "Required when discarding.": "作废时必填。", "lead_escalated": "商机跟进超时",
})

# task page: buttons and extra fields of the lead routing forms (engine/lead_flows.py)
inbox.DECISION_BUTTONS.update({
    "lead_screening": [("keep", "Keep", "approve"), ("discard", "Discard", "reject")],
    "lead_completion": [("route", "Route", "approve"), ("discard", "Discard", "reject")],
    "lead_manual_route": [("route", "Route", "approve")],
    "lead_follow_up": [("followed", "Followed up", "approve")],
})


def _text(form, name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def _int(form, name: str) -> int | None:
    value = (form.get(name) or "").strip()
    return int(value) if value.isascii() and value.isdigit() and int(value) <= MAX_ID else None


def _only_set(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


inbox.FORM_FIELDS.update({
    "lead_screening": ("lead_desk/_screen_fields.html",
                       lambda form: _only_set({"discard_reason": _text(form, "discard_reason")})),
    "lead_completion": ("lead_desk/_complete_fields.html", lambda form: _only_set(
        {"region": _text(form, "region"), "industry": _text(form, "industry"),
         "discard_reason": _text(form, "discard_reason")})),
    "lead_manual_route": ("lead_desk/_route_fields.html",
                          lambda form: _only_set({"routed_to": _int(form, "routed_to")})),
})


def routable_reps(sector_id: int | None) -> list[User]:
    """Reps of the sector who may receive routed leads (L4), for the pick lists."""
    if not sector_id:
        return []
    return list(db().scalars(select(User).where(routing.eligible_filter(sector_id)).order_by(User.display_name)))


@lead_desk_bp.app_context_processor
def _helpers() -> dict:
    return {"routable_reps": routable_reps}


def _forbidden(message: str):
    abort(make_response(render_template("error.html", message=_(message)), 403))


def _write(operation, errors: dict[str, str]):
    """Run one operation; field refusals land in `errors`, 404/403 abort, 409 becomes a form error."""
    try:
        return run_write(operation)
    except (ld.Refused, routing.Refused) as exc:
        errors[exc.field or "form"] = exc.message
    except (ld.NotVisible, routing.NotVisible):
        abort(404)
    except (ld.NotAllowed, routing.NotAllowed) as exc:
        _forbidden(exc.message)
    except ld.Conflict as exc:
        errors["form"] = exc.message
    except EngineError as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 403:
            _forbidden(str(exc))
        field_errors = getattr(exc, "errors", None) or {}
        if field_errors:
            field, messages = next(iter(field_errors.items()))
            errors[field] = messages[0] if messages else str(exc)
        else:
            errors["form"] = str(exc)
    return None


# ---- the desk --------------------------------------------------------------------------------------------------------
@lead_desk_bp.get("/lead-desk")
@login_required
def index(errors: dict | None = None, failed_lead: int | None = None, status: int = 200):
    if "business_manager" not in current_user.role_codes and not routing.may_see_rules(current_user):
        _forbidden("only business managers and sales management maintain the routing table (L3)")
    session = db()
    rows = lead_flows.desk_tasks(session, current_user)
    return render_template("lead_desk/index.html", rows=rows, reps=routable_reps(current_user.sector_id),
                           errors=errors or {}, failed_lead=failed_lead, form=request.form,
                           may_rules=routing.may_see_rules(current_user)), status


@lead_desk_bp.post("/lead-desk/<id:lead_id>/complete")
@login_required
def complete(lead_id: int):
    data = {"decision": request.form.get("decision") or "route", "region": _text(request.form, "region") or "",
            "industry": _text(request.form, "industry") or "", "discard_reason": _text(request.form, "discard_reason"),
            "comment": _text(request.form, "comment")}
    if data["decision"] == "discard":
        data.pop("region"), data.pop("industry")
    errors: dict[str, str] = {}
    lead = _write(lambda: lead_flows.complete_lead(db(), current_user, lead_id, data), errors)
    if lead is None:
        return index(errors=errors, failed_lead=lead_id, status=409 if "form" in errors else 422)
    flash(_("Lead discarded.") if lead.status == "discarded" else _("Lead routed."), "ok")
    return redirect(url_for("lead_desk.index"))


@lead_desk_bp.post("/lead-desk/<id:lead_id>/route")
@login_required
def route(lead_id: int):
    owner_id = _int(request.form, "routed_to")
    errors: dict[str, str] = {}
    lead = _write(lambda: lead_flows.route_by_hand(db(), current_user, lead_id, owner_id,
                                                   _text(request.form, "comment")), errors)
    if lead is None:
        return index(errors=errors, failed_lead=lead_id, status=409 if "form" in errors else 422)
    flash(_("Lead routed."), "ok")
    return redirect(url_for("lead_desk.index"))


# ---- the routing table -------------------------------------------------------------------------------------------
def _rule_form() -> dict[str, Any]:
    form = request.form
    target = (form.get("target") or "").strip()  # "u:<id>" or "d:<id>"
    kind, _sep, raw = target.partition(":")
    target_id = int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID else None
    position = (form.get("position") or "").strip()
    return {"region": _text(form, "region"), "industry": _text(form, "industry"), "note": _text(form, "note"),
            "target_user_id": target_id if kind == "u" else None,
            "target_department_id": target_id if kind == "d" else None,
            "position": int(position) if position.isascii() and position.isdigit() and len(position) < 7 else (position or None),
            "active": form.get("active", "1") == "1"}


@lead_desk_bp.get("/lead-desk/rules")
@login_required
def rules(errors: dict | None = None, status: int = 200, failed_rule: int | None = None):
    session = db()
    if not routing.may_see_rules(current_user):
        _forbidden("only business managers and sales management maintain the routing table (L3)")
    rows = routing.list_rules(session, current_user)
    priorities = routing.list_priorities(session, current_user)
    ids = {r.target_user_id for r in rows} | {p.user_id for p in priorities}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    depts = list(session.scalars(select(Department).where(Department.sector_id == current_user.sector_id)
                                 .order_by(Department.code)))
    reps = list(session.scalars(select(User).where(
        User.sector_id == current_user.sector_id, User.status == "active",
        User.id.in_(select(UserRole.user_id).where(UserRole.role_code.in_(routing.SALES_ROLES))))
        .order_by(User.display_name)))
    return render_template(
        "lead_desk/rules.html", rules=rows, priorities=priorities, names=names, depts=depts, reps=reps,
        dept_names={d.id: d.name for d in depts}, errors=errors or {}, form=request.form, failed_rule=failed_rule,
        may_edit=routing.may_edit_rules(current_user), may_priority=routing.may_set_priority(current_user),
        month=routing.month_of(clock.now())), status


@lead_desk_bp.post("/lead-desk/rules")
@login_required
def rule_create():
    errors: dict[str, str] = {}
    data = _rule_form()
    rule = _write(lambda: routing.create_rule(db(), current_user, data), errors)
    if rule is None:
        return rules(errors=errors, status=409 if "form" in errors else 422)
    flash(_("Rule saved."), "ok")
    return redirect(url_for("lead_desk.rules"))


@lead_desk_bp.post("/lead-desk/rules/<id:routing_rule_id>")
@login_required
def rule_update(routing_rule_id: int):
    errors: dict[str, str] = {}
    if request.form.get("only") == "active":
        data: dict[str, Any] = {"active": request.form.get("active") == "1"}
    else:
        data = _rule_form()
    rule = _write(lambda: routing.update_rule(db(), current_user, routing_rule_id, data), errors)
    if rule is None:
        return rules(errors=errors, status=409 if "form" in errors else 422, failed_rule=routing_rule_id)
    flash(_("Rule saved."), "ok")
    return redirect(url_for("lead_desk.rules"))


@lead_desk_bp.post("/lead-desk/priorities")
@login_required
def priority_set():
    errors: dict[str, str] = {}
    user_id = _int(request.form, "user_id")
    raw_rank = (request.form.get("rank") or "").strip()
    rank: Any = int(raw_rank) if raw_rank.isascii() and raw_rank.isdigit() and len(raw_rank) < 6 else (raw_rank or None)
    result = _write(lambda: routing.set_priority(db(), current_user, user_id, rank) or True, errors)
    if result is None:
        return rules(errors=errors, status=409 if "form" in errors else 422)
    flash(_("Priority saved."), "ok")
    return redirect(url_for("lead_desk.rules"))
