"""Lead routing process (L1–L4, P3): `workflows/lead_routing.bpmn`, its forms, connectors and operations.

A desk lead (entered by marketing, the front desk or a business manager; L1) starts `lead_routing` in the
same transaction: marketing screens it (keep / discard with a reason), a business manager completes region
and industry (or discards it), the service task `crm.route_lead` picks the rep from the routing table
(models/lead_routing.py, data the business staff maintain), no match goes back to the business manager, and
the routed rep follows it up within the follow-up limit (setting `lead.follow_up_days`, a boundary timer) or
the lead escalates back to the business manager for re-routing.

A lead a rep found himself is his already (E6) and starts no process.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine import actions, assignment, forms, runtime, subjects
from engine.connectors import ConnectorContext, ConnectorError, connector
from engine.errors import Conflict, InvalidData
from models import access, audit, clock, notifications, settings
from models import activities as acts
from models import lead_routing as routing
from models import leads as ld
from models.org import User, UserRole
from models.process import HumanTask, ProcessInstance
from models.sales import Activity, Lead

PROCESS = "lead_routing"
DESK_STEPS = ("complete_lead", "manual_route", "reroute")  # the business manager's steps (商机分配 page)
OPEN_LEAD = ("new", "kept", "assigned", "following")  # a discarded, converted or closed lead is not routed


# ---- forms --------------------------------------------------------------------------------------------------------
class LeadScreeningForm(Schema):
    """L2: marketing keeps the lead or discards it with a reason."""

    class Meta:
        unknown = EXCLUDE

    decision = fields.String(required=True, validate=validate.OneOf(("keep", "discard")))
    discard_reason = fields.String(allow_none=True, validate=validate.Length(max=2000))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _reason_required(self, data, **_kwargs):
        if data.get("decision") == "discard" and not (data.get("discard_reason") or "").strip():
            raise ValidationError("required", "discard_reason")


class LeadCompletionForm(LeadScreeningForm):
    """L2: the business manager completes region and industry for routing, or discards the lead."""

    decision = fields.String(required=True, validate=validate.OneOf(("route", "discard")))
    region = fields.String(validate=validate.Length(max=60))
    industry = fields.String(validate=validate.Length(max=60))

    @validates_schema
    def _region_industry(self, data, **_kwargs):
        if data.get("decision") == "route":
            for name in ("region", "industry"):
                if name in data and not (data[name] or "").strip():
                    raise ValidationError("required", name)


class LeadManualRouteForm(Schema):
    """L3: no rule matched (or the lead escalated): the business manager names the rep."""

    class Meta:
        unknown = EXCLUDE

    routed_to = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=2**31 - 1))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class LeadFollowUpForm(Schema):
    """L2: the routed rep reports the follow-up (the comment says what was done)."""

    class Meta:
        unknown = EXCLUDE

    decision = fields.String(load_default="followed", validate=validate.OneOf(("followed",)))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


def _check_manual_route(session: Session, task: HumanTask, values: dict[str, Any]) -> None:
    """L3/L4: the rep the business manager names follows the same rights rules as the routing table."""
    if (err := routing.eligibility_error(session, task.sector_id, values.get("routed_to"))) is not None:
        raise InvalidData({"routed_to": [err]})


forms.CHECKS["lead_manual_route"] = _check_manual_route
# L4: the follow-up goes only to a rep who may get a routed lead of the sector (转交 too)
actions.TRANSFER_CHECKS["lead_follow_up"] = lambda session, task, target: routing.eligibility_error(
    session, task.sector_id, target.id)
forms.FORMS.update({"lead_screening": LeadScreeningForm, "lead_completion": LeadCompletionForm,
                    "lead_manual_route": LeadManualRouteForm, "lead_follow_up": LeadFollowUpForm})


# ---- starting the process -----------------------------------------------------------------------------------------
def follow_up_limit(session: Session, sector_id: int) -> str:
    """P3: the follow-up limit as an ISO duration for the boundary timer (setting `lead.follow_up_days`)."""
    return f"P{int(settings.get(session, 'lead.follow_up_days', sector_id))}D"


def start_routing(session: Session, user: User, lead: Lead) -> ProcessInstance:
    return runtime.start_instance(
        session, PROCESS, actor=user, title=f"商机分配 · {lead.company_name}", subject_type="lead",
        subject_id=lead.id, sector_id=lead.sector_id, department_id=None, business_key=f"SJ-{lead.id:06d}",
        data={"lead_id": lead.id, "company_name": lead.company_name, "source": lead.source,
              "region": lead.region or "", "industry": lead.industry or "", "routed_to": None,
              "follow_up_limit": follow_up_limit(session, lead.sector_id)})


def submit_lead(session: Session, user: User, data: dict[str, Any]) -> Lead:
    """Enter a lead (L1, E6); a desk lead (status new) starts the lead routing process (L2)."""
    lead = ld.create_lead(session, user, data)
    if lead.status == "new":
        start_routing(session, user, lead)
    return lead


def start_demo_routing(session: Session) -> int:
    """Demo data: the desk leads that wait for screening or completion run in the routing process too."""
    started = 0
    for lead in session.scalars(select(Lead).where(Lead.status.in_(("new", "kept")), Lead.owner_id.is_(None))
                                .order_by(Lead.id)):
        creator = session.get(User, lead.created_by) if lead.created_by else None
        if creator is None or instance_of(session, lead.id) is not None or not ld.is_desk(creator):
            continue
        instance = start_routing(session, creator, lead)
        started += 1
        if lead.status == "kept":
            task = next((t for t in open_tasks(session, instance.id) if t.bpmn_id == "screen"), None)
            if task is not None and assignment.may_act(creator, task):
                runtime.complete_task(session, task.id, creator, {"decision": "keep"})
    return started


# ---- the lead desk (商机分配) -------------------------------------------------------------------------------------
def instance_of(session: Session, lead_id: int) -> ProcessInstance | None:
    return session.scalar(select(ProcessInstance).where(
        ProcessInstance.subject_type == "lead", ProcessInstance.subject_id == lead_id,
        ProcessInstance.process_key == PROCESS).order_by(ProcessInstance.id.desc()).limit(1))


def open_tasks(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == "open").order_by(HumanTask.id)))


def desk_tasks(session: Session, user: User, *, limit: int = 100) -> list[tuple[HumanTask, Lead]]:
    """The business manager's open routing steps of his sector, oldest first, with their leads."""
    if "business_manager" not in user.role_codes:
        return []
    rows = session.execute(
        select(HumanTask, Lead).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .join(Lead, and_(Lead.id == ProcessInstance.subject_id, ProcessInstance.subject_type == "lead"))
        .where(HumanTask.status == "open", HumanTask.bpmn_id.in_(DESK_STEPS), Lead.status.in_(OPEN_LEAD),
               HumanTask.role_code == "business_manager", access.lead_filter(user),
               HumanTask.sector_id == user.sector_id)
        .order_by(HumanTask.created_at, HumanTask.id).limit(limit)).all()
    return [(task, lead) for task, lead in rows]


def _desk_task(session: Session, user: User, lead_id: int, steps: tuple[str, ...]) -> tuple[Lead, HumanTask]:
    lead = ld.visible_lead(session, user, lead_id)
    instance = instance_of(session, lead.id)
    task = next((t for t in open_tasks(session, instance.id) if t.bpmn_id in steps), None) if instance else None
    if task is None:
        raise Conflict("this lead has no open routing step of that kind")
    return lead, task


def complete_lead(session: Session, user: User, lead_id: int, data: dict[str, Any]) -> Lead:
    """The business manager's completion step from the lead desk: region, industry, then route (or discard)."""
    lead, task = _desk_task(session, user, lead_id, ("complete_lead",))
    values = {k: v for k, v in data.items() if k in ("decision", "region", "industry", "discard_reason")}
    if values.get("decision", "route") == "route":
        for name in ("region", "industry"):
            ld.clean_text(values, name, required=True)
    runtime.complete_task(session, task.id, user, values, data.get("comment") or None)
    session.refresh(lead)
    return lead


def route_by_hand(session: Session, user: User, lead_id: int, owner_id: Any, comment: str | None = None) -> Lead:
    """L3: no rule matched or the lead escalated: the business manager names a rep (same rights rules)."""
    lead, task = _desk_task(session, user, lead_id, ("manual_route", "reroute"))
    if isinstance(owner_id, str) and owner_id.strip().isascii() and owner_id.strip().isdigit():
        owner_id = int(owner_id.strip())
    if (err := routing.eligibility_error(session, lead.sector_id, owner_id)) is not None:
        raise ld.Refused(err, "routed_to")
    runtime.complete_task(session, task.id, user, {"routed_to": owner_id}, comment)
    session.refresh(lead)
    return lead


def _task_for(session: Session, user: User, lead: Lead, steps: tuple[str, ...]) -> HumanTask | None:
    instance = instance_of(session, lead.id)
    if instance is None or instance.status != "running":
        return None
    task = next((t for t in open_tasks(session, instance.id) if t.bpmn_id in steps), None)
    return task if task is not None and assignment.may_act(user, task) else None


def _complete_step(session: Session, user: User, task: HumanTask, values: dict[str, Any]) -> None:
    """Complete a routing step from the lead's own page or API; form refusals name the field (422)."""
    try:
        runtime.complete_task(session, task.id, user, values)
    except InvalidData as exc:
        field, messages = next(iter(exc.errors.items()))
        raise ld.Refused(messages[0] if messages else "invalid", field) from exc


def update_lead(session: Session, user: User, lead_id: int, data: dict[str, Any]) -> Lead:
    """Edit a lead or move its status (models.leads.update_lead); when the move is a step of the lead's routing
    process that this user may take (marketing keeps/discards, the business manager discards, the routed rep
    reports the follow-up), the process step is completed too, so the process and the lead stay in step."""
    lead = ld.visible_lead(session, user, lead_id)
    status = data.get("status")
    if status in ("kept", "discarded") and lead.status in ("new", "kept"):
        steps = ("screen",) if status == "kept" else ("screen", "complete_lead")
        task = _task_for(session, user, lead, steps)
        if task is not None:
            rest = {k: v for k, v in data.items() if k not in ("status", "discard_reason")}
            if rest:
                ld.update_lead(session, user, lead_id, rest)
            reason = ld.clean_text(data, "discard_reason", required=status == "discarded")
            _complete_step(session, user, task, {"decision": "keep" if status == "kept" else "discard",
                                                 **({"discard_reason": reason} if reason else {})})
            session.refresh(lead)
            return lead
    if status in ("following", "converted", "closed") and lead.owner_id == user.id:
        task = _task_for(session, user, lead, ("follow_up",))
        if task is not None:
            _complete_step(session, user, task, {"decision": "followed"})
            session.refresh(lead)
    return ld.update_lead(session, user, lead_id, data)


def assign_lead(session: Session, user: User, lead_id: int, owner_id: Any) -> Lead:
    """Assign by hand (models.leads.assign_lead); when the lead waits for manual routing, that step is taken."""
    lead = ld.visible_lead(session, user, lead_id)
    if user.role_codes & ld.ASSIGNING_ROLES and _task_for(session, user, lead, ("manual_route", "reroute")):
        if (err := routing.eligibility_error(session, lead.sector_id, owner_id)) is not None:
            raise ld.Refused(err, "owner_id")
        return route_by_hand(session, user, lead_id, owner_id)
    return ld.assign_lead(session, user, lead_id, owner_id)


def log_activity(session: Session, user: User, data: dict[str, Any]) -> Activity:
    """Log an activity (models.activities.log_activity); the routed rep's activity on his lead is its follow-up
    (P3: an activity within the follow-up limit), so his open follow-up step is completed with it."""
    activity = acts.log_activity(session, user, data)
    if activity.lead_id is not None:
        lead = session.get(Lead, activity.lead_id)
        if lead is not None and lead.owner_id == user.id:
            task = _task_for(session, user, lead, ("follow_up",))
            if task is not None:
                runtime.complete_task(session, task.id, user, {"decision": "followed"}, activity.subject[:2000])
    return activity


def routing_state(session: Session, user: User, lead_id: int) -> dict[str, Any]:
    """Where the lead stands in its routing process (for the API and the lead page)."""
    lead = ld.visible_lead(session, user, lead_id)
    instance = instance_of(session, lead.id)
    if instance is None:
        return {"lead_id": lead.id, "status": lead.status, "owner_id": lead.owner_id, "instance_id": None,
                "instance_status": None, "open_tasks": []}
    return {"lead_id": lead.id, "status": lead.status, "owner_id": lead.owner_id, "instance_id": instance.id,
            "instance_status": instance.status,
            "open_tasks": [{"id": t.id, "bpmn_id": t.bpmn_id, "name": t.name, "role_code": t.role_code,
                            "assignee_id": t.assignee_id, "due_at": t.due_at.isoformat() if t.due_at else None}
                           for t in open_tasks(session, instance.id)]}


# ---- connectors -----------------------------------------------------------------------------------------------------
def _lead(ctx: ConnectorContext, name: str) -> Lead:
    if ctx.instance.subject_type != "lead":
        raise ConnectorError(f"{name} runs only in a process whose subject is a lead")
    lead = ctx.session.get(Lead, ctx.instance.subject_id)
    if lead is None:
        raise ConnectorError(f"lead {ctx.instance.subject_id} not found")
    return lead


def _change(ctx: ConnectorContext, lead: Lead, action: str, **values: Any) -> None:
    before = {k: getattr(lead, k) for k in values}
    if before == values:
        return  # idempotent
    for k, v in values.items():
        setattr(lead, k, v)
    lead.updated_at = clock.now()
    audit.record(ctx.session, actor_id=ctx.actor_id, action=action, entity_type="lead", entity_id=lead.id,
                 sector_id=lead.sector_id, before=_jsonable(before),
                 after={**_jsonable(values), "process_instance_id": ctx.instance.id})


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _assign(ctx: ConnectorContext, lead: Lead, owner: User, how: str) -> None:
    now = clock.now()
    days = int(settings.get(ctx.session, "lead.follow_up_days", lead.sector_id))
    _change(ctx, lead, "lead.route", owner_id=owner.id, department_id=owner.department_id, status="assigned",
            follow_up_due_at=now + timedelta(days=days))
    notifications.notify(ctx.session, [owner.id], "lead_routed", f"新商机待跟进：{lead.company_name}",
                         link=f"/leads/{lead.id}", body=how, sector_id=lead.sector_id,
                         dedupe_key=f"lead-routed-{lead.id}-{owner.id}-{ctx.instance.id}-{now.isoformat()}")


@connector("crm.set_lead_status", "Set the status of the lead this process is about (kept, following)", status=str)
def set_lead_status(ctx: ConnectorContext, status: str) -> dict:
    if status not in ("kept", "following"):
        raise ConnectorError(f"crm.set_lead_status: status must be kept or following, not {status!r}")
    lead = _lead(ctx, "crm.set_lead_status")
    allowed = {"kept": ("new", "kept"), "following": ("assigned", "following")}[status]
    if lead.status in allowed:  # a lead moved by hand meanwhile keeps its status
        _change(ctx, lead, "lead.update", status=status)
    return {"lead_id": lead.id, "status": lead.status}


@connector("crm.discard_lead", "Discard the lead with a reason (L2)", reason=str)
def discard_lead(ctx: ConnectorContext, reason: str) -> dict:
    lead = _lead(ctx, "crm.discard_lead")
    if not reason.strip():
        raise ConnectorError("crm.discard_lead needs a reason")
    if lead.status in ("new", "kept"):
        _change(ctx, lead, "lead.update", status="discarded", discard_reason=reason.strip()[:2000])
    return {"lead_id": lead.id, "status": lead.status}


@connector("crm.route_lead", "Write region and industry to the lead and pick its rep from the routing table "
           "(L3, L4); the rep's user id, or None when no rule yields an eligible rep", region=str, industry=str)
def route_lead(ctx: ConnectorContext, region: str, industry: str) -> int | None:
    lead = _lead(ctx, "crm.route_lead")
    _change(ctx, lead, "lead.update", region=region.strip()[:60] or None, industry=industry.strip()[:60] or None)
    if lead.status not in ("new", "kept"):
        return lead.owner_id  # assigned by hand meanwhile: that rep follows it up
    user_id, rule_id = routing.pick_assignee(ctx.session, lead.sector_id, lead.region, lead.industry)
    if user_id is None:
        return None
    _assign(ctx, lead, ctx.session.get(User, user_id), f"routing rule {rule_id}")
    return user_id


@connector("crm.assign_lead", "Assign the lead to the rep the business manager named (same rights rules, L4)",
           owner_id=int)
def assign_routed_lead(ctx: ConnectorContext, owner_id: int) -> int:
    lead = _lead(ctx, "crm.assign_lead")
    if lead.status not in OPEN_LEAD:
        raise ConnectorError(f"routed_to: a {lead.status} lead is not routed")
    if (err := routing.eligibility_error(ctx.session, lead.sector_id, owner_id)) is not None:
        raise ConnectorError(f"routed_to: {err}")
    _assign(ctx, lead, ctx.session.get(User, owner_id), "assigned by the business manager")
    return owner_id


@connector("crm.escalate_lead", "P3: the routed rep did not follow up in time: back to the business manager")
def escalate_lead(ctx: ConnectorContext) -> dict:
    lead = _lead(ctx, "crm.escalate_lead")
    late_owner = lead.owner_id
    audit.record(ctx.session, actor_id=ctx.actor_id, action="lead.escalate", entity_type="lead", entity_id=lead.id,
                 sector_id=lead.sector_id, before={"owner_id": late_owner, "status": lead.status},
                 after={"reason": "P3: no follow-up within the limit", "process_instance_id": ctx.instance.id})
    managers = ctx.session.scalars(select(UserRole.user_id).where(
        UserRole.role_code == "business_manager",
        (UserRole.sector_id == lead.sector_id) | UserRole.sector_id.is_(None))).all()
    notifications.notify(ctx.session, managers, "lead_escalated", f"商机跟进超时：{lead.company_name}",
                         link="/lead-desk", sector_id=lead.sector_id,
                         dedupe_key=f"lead-escalated-{lead.id}-{clock.now().isoformat()}")
    return {"lead_id": lead.id, "late_owner_id": late_owner}


# ---- subject ----------------------------------------------------------------------------------------------------------
subjects.register("lead", subjects.Subject(
    visible=lambda user, sid: and_(Lead.id == sid, access.lead_filter(user)),
    load=lambda session, sid: session.get(Lead, sid),
    template="subjects/lead.html",
    withdrawable=False,  # a desk lead stays on its routing (L2–L4); marketing discards it when screening
))

