"""Opportunity closure (F2): the stage-change operations that start it, the owner's close step, the
connectors of `workflows/opportunity_closure.bpmn`, the `closure-flags` job and the "opportunity" subject.

The web and API stage-change paths call `create_opportunity` / `update_opportunity` / `move_stage` here (not
models.opportunities directly): each runs the model operation, then `sync_closure` starts the closure process
when the opportunity has just reached a won or lost stage, or cancels a closure still with the owner when he
moves it back to an open stage. Everything happens in the caller's one transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine import forms, runtime, subjects
from engine.connectors import ConnectorContext, ConnectorError, connector
from engine.errors import Conflict
from engine.jobs import job
from models import access, clock
from models import closures as cl
from models import opportunities as ops
from models.base import write_transaction
from models.leads import NotAllowed, Refused
from models.org import User
from models.process import HumanTask, InstanceEvent, ProcessInstance
from models.sales import Opportunity, OpportunityStage
from models.stages import stage_of

CLOSURE_PROCESS = "opportunity_closure"
CLOSE_STEP = "close_opportunity"


# ---- task forms ---------------------------------------------------------------------------------------------------
class OpportunityCloseForm(Schema):
    """F2: what the owner enters when closing (reason required for lost/invalid)."""

    class Meta:
        unknown = EXCLUDE

    outcome = fields.String(required=True, validate=validate.OneOf(cl.OUTCOMES))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    contract_ref = fields.String(load_default="", validate=validate.Length(max=100))
    winner = fields.String(load_default="", validate=validate.Length(max=100))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _reason(self, data: dict, **_kw) -> None:
        for key in ("reason", "contract_ref", "winner"):
            data[key] = (data.get(key) or "").strip()
        if data.get("outcome") in ("lost", "invalid") and not data["reason"]:
            raise ValidationError("required when the opportunity is lost or invalid", "reason")


class ClosureConfirmForm(Schema):
    class Meta:
        unknown = EXCLUDE

    decision = fields.String(required=True, validate=validate.OneOf(("approve", "return")))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


forms.FORMS["opportunity_close"] = OpportunityCloseForm
forms.FORMS["closure_confirm"] = ClosureConfirmForm


# ---- starting and cancelling ----------------------------------------------------------------------------------------
def _stage_outcome(session: Session, opp: Opportunity) -> str | None:
    stage = stage_of(session, opp.sector_id, opp.stage_code)
    return stage.outcome if stage else None


def start_closure(session: Session, user: User, opp: Opportunity) -> cl.OpportunityClosure:
    closure = cl.start(session, user, opp)
    instance = runtime.start_instance(
        session, CLOSURE_PROCESS, actor=user, title=f"关闭销售机会 · {opp.name}", subject_type="opportunity",
        subject_id=opp.id, sector_id=opp.sector_id, department_id=opp.department_id,
        business_key=f"GB-{closure.id:06d}",
        data={"closure_id": closure.id, "opportunity_id": opp.id, "opportunity_name": opp.name,
              "owner_id": opp.owner_id, "stage_outcome": _stage_outcome(session, opp) or "",
              "amount": float(opp.amount)},
    )
    closure.process_instance_id = instance.id
    task = _open_step(session, instance.id, CLOSE_STEP)
    # the deadline: 1 working day after the stage was set (the diagram's due_days on the owner's task)
    closure.due_at = task.due_at if task is not None else None
    return closure


def _open_step(session: Session, instance_id: int | None, bpmn_id: str | None = None) -> HumanTask | None:
    if instance_id is None:
        return None
    stmt = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
    if bpmn_id:
        stmt = stmt.where(HumanTask.bpmn_id == bpmn_id)
    session.flush()
    return session.scalar(stmt.order_by(HumanTask.id.desc()).limit(1))


def _cancel_process(session: Session, closure: cl.OpportunityClosure, actor_id: int | None, reason: str) -> None:
    if closure.process_instance_id is not None:
        instance = runtime.lock_instance(session, closure.process_instance_id)
        if instance.status == "running":
            now = clock.now()
            for task in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                 HumanTask.status == "open")):
                task.status = "cancelled"
            instance.status, instance.ended_at = "cancelled", now
            session.add(InstanceEvent(instance=instance, at=now, actor_id=actor_id, kind="cancelled", comment=reason))
    cl.cancel(session, closure, actor_id, reason)


def sync_closure(session: Session, user: User, opp: Opportunity) -> None:
    """After a change by the owner: won/lost stage → closure process; back to an open stage → cancel it."""
    closure = cl.open_closure(session, opp.id)
    if opp.status in ("won", "lost"):
        if closure is None:
            start_closure(session, user, opp)
    elif closure is not None and closure.status == "closing":
        _cancel_process(session, closure, user.id, "the owner moved the opportunity back to an open stage")


def create_opportunity(session: Session, user: User, data: dict[str, Any]) -> Opportunity:
    opp = ops.create_opportunity(session, user, data)
    sync_closure(session, user, opp)
    return opp


def update_opportunity(session: Session, user: User, opportunity_id: int, data: dict[str, Any]) -> Opportunity:
    opp = ops.update_opportunity(session, user, opportunity_id, data)
    sync_closure(session, user, opp)
    return opp


def move_stage(session: Session, user: User, opportunity_id: int, stage_code: Any, version: Any = None
               ) -> Opportunity:
    return update_opportunity(session, user, opportunity_id, {"stage_code": stage_code, "version": version})


# ---- the owner closes it ------------------------------------------------------------------------------------------
def _outcome_stage(session: Session, sector_id: int, outcome: str) -> OpportunityStage:
    wanted = cl.STAGE_OUTCOME[outcome]
    stage = session.scalar(select(OpportunityStage).where(
        OpportunityStage.sector_id == sector_id, OpportunityStage.outcome == wanted)
        .order_by(OpportunityStage.position, OpportunityStage.id).limit(1))
    if stage is None:
        raise Refused(f"the sector has no {wanted} stage", "outcome")
    return stage


def close_opportunity(session: Session, user: User, opportunity_id: int, data: dict[str, Any],
                      comment: str | None = None) -> cl.OpportunityClosure:
    """F2 / E4: the owner closes the opportunity (the "关闭销售机会" step). An open opportunity is first moved to
    the sector's won or lost stage (invalid = lost stage), which starts the closure; then the step is completed."""
    opp = ops.visible_opportunity(session, user, opportunity_id)
    outcome = data.get("outcome") if isinstance(data, dict) else None
    if opp.owner_id != user.id:
        raise NotAllowed("only the opportunity's owner closes it (F2, E4)")
    closure = cl.open_closure(session, opp.id)
    if closure is None:
        if outcome not in cl.OUTCOMES:
            raise Refused(f"one of {', '.join(cl.OUTCOMES)}", "outcome")
        if opp.status == "open":
            opp = move_stage(session, user, opp.id, _outcome_stage(session, opp.sector_id, outcome).code)
        else:
            latest = cl.latest(session, opp.id)
            if latest is not None and latest.status == "confirmed":
                raise Conflict("the opportunity is already closed")
            start_closure(session, user, opp)
        closure = cl.open_closure(session, opp.id)
    if closure is None or closure.status != "closing":
        raise Conflict("the closure is waiting for the department's confirmation")
    if outcome in cl.OUTCOMES and _stage_outcome(session, opp) != cl.STAGE_OUTCOME[outcome]:
        raise Refused("does not match the opportunity's stage: won for a won stage, lost or invalid for a lost stage",
                      "outcome")
    task = _open_step(session, closure.process_instance_id, CLOSE_STEP)
    if task is None:
        raise Conflict("the closure step is not open")
    runtime.complete_task(session, task.id, user, data, comment)
    session.refresh(closure)
    return closure


def confirm_task(session: Session, user: User, opportunity_id: int) -> HumanTask | None:
    """The open confirmation step of the opportunity's closure, if any (for links)."""
    closure = cl.open_closure(session, opportunity_id)
    return _open_step(session, closure.process_instance_id, "confirm_closure") if closure else None


def close_task(session: Session, opportunity_id: int) -> HumanTask | None:
    closure = cl.open_closure(session, opportunity_id)
    return _open_step(session, closure.process_instance_id, CLOSE_STEP) if closure else None


def reopen(session: Session, user: User, opportunity_id: int, stage_code: Any) -> Opportunity:
    return cl.reopen(session, user, opportunity_id, stage_code)


# ---- connectors -----------------------------------------------------------------------------------------------------
def _closure_of(ctx: ConnectorContext, name: str) -> cl.OpportunityClosure:
    if ctx.instance.subject_type != "opportunity":
        raise ConnectorError(f"{name} runs only in a process whose subject is an opportunity")
    closure = ctx.session.scalar(select(cl.OpportunityClosure).where(
        cl.OpportunityClosure.process_instance_id == ctx.instance.id))
    if closure is None:
        raise ConnectorError(f"no closure for process instance {ctx.instance.id}")
    return closure


@connector("crm.record_closure", "Record the owner's closure of the opportunity; late after the deadline (F2)",
           outcome=str, reason=str, contract_ref=str, winner=str)
def record_closure(ctx: ConnectorContext, outcome: str, reason: str, contract_ref: str, winner: str) -> dict:
    closure = _closure_of(ctx, "crm.record_closure")
    opp = ctx.session.get(Opportunity, closure.opportunity_id)
    if outcome not in cl.OUTCOMES:
        raise ConnectorError(f"unknown outcome {outcome!r}")
    if _stage_outcome(ctx.session, opp) != cl.STAGE_OUTCOME[outcome]:
        raise ConnectorError(f"outcome {outcome!r} does not match the opportunity's stage {opp.stage_code!r}")
    if closure.status == "closing":  # idempotent: a second run finds it confirming already
        cl.record_close(ctx.session, closure, ctx.actor_id, outcome=outcome, reason=reason,
                        contract_ref=contract_ref, winner=winner)
    return {"closure_id": closure.id, "late": closure.late, "status": closure.status}


@connector("crm.set_closure_status", "Confirm the closure, or return it to the owner (status closing) (F2)",
           status=str)
def set_closure_status(ctx: ConnectorContext, status: str) -> dict:
    closure = _closure_of(ctx, "crm.set_closure_status")
    if status not in ("confirmed", "closing"):
        raise ConnectorError(f"unknown closure status {status!r}")
    cl.set_status(ctx.session, closure, ctx.actor_id, status)
    return {"closure_id": closure.id, "status": closure.status}


# ---- job ------------------------------------------------------------------------------------------------------------
@job("closure-flags")
def closure_flags(session: Session, as_of: datetime) -> dict[str, Any]:
    """F2: closures still with the owner past their deadline are marked late and flagged (set-based)."""
    with write_transaction(session):
        counts = cl.flag_overdue(session, as_of)
    return {"as_of": as_of.isoformat(), **counts}


# ---- subject --------------------------------------------------------------------------------------------------------
def _withdrawn(session: Session, instance: ProcessInstance, actor_id: int | None) -> None:
    closure = session.scalar(select(cl.OpportunityClosure).where(
        cl.OpportunityClosure.process_instance_id == instance.id))
    if closure is not None and closure.status in cl.OPEN_STATUSES:
        cl.cancel(session, closure, actor_id, "withdrawn")


def _load(session: Session, sid: int) -> Any:
    opp = session.get(Opportunity, sid)
    if opp is None:
        return None
    return {"opportunity": opp, "closure": cl.latest(session, sid)}


subjects.register("opportunity", subjects.Subject(
    visible=lambda user, sid: and_(Opportunity.id == sid, access.opportunity_filter(user)),
    load=_load,
    template="subjects/opportunity.html",
    on_withdrawn=_withdrawn,
))
