"""Opportunity closure (policy F2): the record of one closure and the operations on it.

When the owner moves an opportunity to a won or lost stage (or marks it invalid), a closure starts
(engine/closure_flows.py starts the `opportunity_closure` process; models never import the engine). The owner
closes it within one working day of the stage change (the limit is the diagram's `due_days` on the owner's task;
the deadline is that task's `due_at`, computed on the Chinese working-day calendar); the department manager or
assistant confirms or returns it. Closing after the deadline flags the opportunity (`late_closure`); closures
never closed are flagged by the `closure-flags` job.

Status: closing (owner's task open) → confirming (closed, waiting for confirmation) → confirmed;
confirming → closing when returned to the owner; closing → cancelled when the owner moves the opportunity
back to an open stage; confirmed → reopened by sales management. A confirmed (or confirming) closure makes
the opportunity read-only for everyone but sales management (`check_editable`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text, cast, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import access, audit, clock
from models.base import Base
from models.errors import DomainError
from models.flags import Flag
from models.leads import NotAllowed
from models.org import User
from models.reports.records import record_stage_move
from models.sales import Opportunity
from models.stages import stage_of

OUTCOMES = ("won", "lost", "invalid")
# outcome of the closure -> outcome of the stage the opportunity must be in
STAGE_OUTCOME = {"won": "won", "lost": "lost", "invalid": "lost"}
CLOSURE_STATUSES = ("closing", "confirming", "confirmed", "cancelled", "reopened")
OPEN_STATUSES = ("closing", "confirming")
LOCKED_STATUSES = ("confirming", "confirmed")
REOPEN_ROLES = {"sales_mgmt_manager"}
FLAG_KIND = "late_closure"


class OpportunityClosure(Base):
    __tablename__ = "opportunity_closure"
    __table_args__ = (
        Index("ix_opportunity_closure_opportunity", "opportunity_id", "status"),
        Index("ix_opportunity_closure_due", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    stage_code: Mapped[str] = mapped_column(String(40))  # the won/lost stage that started the closure
    stage_set_at: Mapped[datetime]
    due_at: Mapped[datetime | None]  # the owner's task's due date (1 working day, from the diagram)
    status: Mapped[str] = mapped_column(String(20), default="closing")
    outcome: Mapped[str | None] = mapped_column(String(10))  # won | lost | invalid, set by the owner
    reason: Mapped[str | None] = mapped_column(Text)
    contract_ref: Mapped[str | None] = mapped_column(String(100))
    winner: Mapped[str | None] = mapped_column(String(100))  # the competitor who won (lost)
    late: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ClosureError(DomainError):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


def snapshot(closure: OpportunityClosure) -> dict[str, Any]:
    return {k: getattr(closure, k) for k in ("status", "outcome", "reason", "contract_ref", "winner", "late",
                                              "process_instance_id")}


def latest(session: Session, opportunity_id: int) -> OpportunityClosure | None:
    return session.scalar(select(OpportunityClosure).where(OpportunityClosure.opportunity_id == opportunity_id)
                          .order_by(OpportunityClosure.id.desc()).limit(1))


def open_closure(session: Session, opportunity_id: int) -> OpportunityClosure | None:
    return session.scalar(select(OpportunityClosure).where(
        OpportunityClosure.opportunity_id == opportunity_id, OpportunityClosure.status.in_(OPEN_STATUSES))
        .order_by(OpportunityClosure.id.desc()).limit(1))


def visible_closure_state(session: Session, user: User, opportunity_id: int
                          ) -> tuple[Opportunity, OpportunityClosure | None]:
    opp = session.scalar(select(Opportunity).where(Opportunity.id == opportunity_id, access.opportunity_filter(user)))
    if opp is None:
        raise ClosureError(404, f"opportunity {opportunity_id} not found")
    return opp, latest(session, opportunity_id)


def is_sales_management(user: User, opp: Opportunity) -> bool:
    return bool(user.is_active and user.role_codes & REOPEN_ROLES and user.sector_id == opp.sector_id)


def check_editable(session: Session, user: User, opp: Opportunity) -> None:
    """F2: a closed (or confirming) opportunity is read-only except for sales management."""
    closure = latest(session, opp.id)
    if closure is not None and closure.status in LOCKED_STATUSES and not is_sales_management(user, opp):
        raise NotAllowed("the opportunity is closed and read-only; sales management may reopen it (F2)")


def start(session: Session, user: User, opp: Opportunity) -> OpportunityClosure:
    """A closure for an opportunity just moved to a won/lost stage (the caller starts the process)."""
    closure = OpportunityClosure(
        sector_id=opp.sector_id, department_id=opp.department_id, opportunity_id=opp.id, owner_id=opp.owner_id,
        stage_code=opp.stage_code, stage_set_at=clock.now(), status="closing", created_at=clock.now())
    session.add(closure)
    session.flush()
    audit.record(session, actor_id=user.id, action="closure.start", entity_type="opportunity_closure",
                 entity_id=closure.id, sector_id=closure.sector_id,
                 after={"opportunity_id": opp.id, "stage_code": opp.stage_code})
    return closure


def cancel(session: Session, closure: OpportunityClosure, actor_id: int | None, reason: str) -> None:
    before = closure.status
    closure.status = "cancelled"
    audit.record(session, actor_id=actor_id, action="closure.cancel", entity_type="opportunity_closure",
                 entity_id=closure.id, sector_id=closure.sector_id, before={"status": before},
                 after={"status": "cancelled", "reason": reason})


def _insert_flag(session: Session, select_stmt) -> int:
    cols = ["sector_id", "kind", "entity_type", "entity_id", "user_id", "period", "raised_at"]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Flag).from_select(cols, select_stmt).on_conflict_do_nothing()
    return session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount or 0


def raise_late_flag(session: Session, closure: OpportunityClosure) -> None:
    """Flag the opportunity (one flag per closure deadline; idempotent)."""
    period = (closure.due_at or clock.now()).date()
    exists = session.scalar(select(Flag.id).where(Flag.kind == FLAG_KIND, Flag.entity_type == "opportunity",
                                                  Flag.entity_id == closure.opportunity_id, Flag.period == period))
    if exists is None:
        session.add(Flag(sector_id=closure.sector_id, kind=FLAG_KIND, entity_type="opportunity",
                         entity_id=closure.opportunity_id, user_id=closure.owner_id, period=period,
                         raised_at=clock.now()))
        session.flush()


def record_close(session: Session, closure: OpportunityClosure, actor_id: int | None, *, outcome: str, reason: str,
                 contract_ref: str, winner: str) -> OpportunityClosure:
    """The owner closed it (the owner's task completed): keep what he entered; late when past the deadline."""
    if outcome not in OUTCOMES:
        raise ClosureError(422, f"one of {', '.join(OUTCOMES)}", "outcome")
    before = snapshot(closure)
    now = clock.now()
    first = closure.closed_at is None
    closure.outcome, closure.reason = outcome, reason or None
    closure.contract_ref, closure.winner = contract_ref or None, winner or None
    closure.closed_at, closure.closed_by, closure.status = now, actor_id, "confirming"
    if first and closure.due_at is not None and now > closure.due_at:
        closure.late = True
    if closure.late:
        raise_late_flag(session, closure)
    audit.record(session, actor_id=actor_id, action="closure.close", entity_type="opportunity_closure",
                 entity_id=closure.id, sector_id=closure.sector_id, before=before, after=snapshot(closure))
    return closure


def set_status(session: Session, closure: OpportunityClosure, actor_id: int | None, status: str) -> None:
    """The confirmation step: confirmed, or back to the owner (closing)."""
    if status not in ("confirmed", "closing"):
        raise ClosureError(422, f"unknown closure status {status!r}", "status")
    if closure.status != "confirming" or status == closure.status:
        return  # idempotent
    before = snapshot(closure)
    closure.status = status
    if status == "confirmed":
        closure.confirmed_at, closure.confirmed_by = clock.now(), actor_id
    audit.record(session, actor_id=actor_id, action=f"closure.{'confirm' if status == 'confirmed' else 'return'}",
                 entity_type="opportunity_closure", entity_id=closure.id, sector_id=closure.sector_id,
                 before=before, after=snapshot(closure))


def reopen(session: Session, user: User, opportunity_id: int, stage_code: Any) -> Opportunity:
    """Sales management reopens a confirmed closure: the opportunity goes back to an open stage."""
    opp, closure = visible_closure_state(session, user, opportunity_id)
    if not is_sales_management(user, opp):
        raise ClosureError(403, "only sales management reopens a closed opportunity (F2)")
    if closure is None or closure.status != "confirmed":
        raise ClosureError(409, "only a confirmed closure can be reopened")
    stage = stage_of(session, opp.sector_id, stage_code) if isinstance(stage_code, str) and stage_code else None
    if stage is None or stage.outcome is not None:
        raise ClosureError(422, "an open stage of the sector", "stage_code")
    before = {"stage_code": opp.stage_code, "status": opp.status}
    old = stage_of(session, opp.sector_id, opp.stage_code)
    opp.stage_code, opp.win_probability, opp.status, opp.closed_at = stage.code, stage.probability, "open", None
    record_stage_move(session, opp, old, stage, user.id)
    opp.updated_at = clock.now()
    closure.status = "reopened"
    audit.record(session, actor_id=user.id, action="opportunity.reopen", entity_type="opportunity", entity_id=opp.id,
                 sector_id=opp.sector_id, before=before, after={"stage_code": stage.code, "status": "open",
                                                                 "closure_id": closure.id})
    return opp


def flag_overdue(session: Session, as_of: datetime) -> dict[str, int]:
    """`closure-flags` job: closures still with the owner past their deadline are marked late and flagged,
    set-based (two statements, idempotent through the flag's unique key)."""
    due = (OpportunityClosure.status == "closing", OpportunityClosure.due_at.is_not(None),
           OpportunityClosure.due_at < as_of)
    period = (cast(OpportunityClosure.due_at, Date) if session.get_bind().dialect.name == "postgresql"
              else func.date(OpportunityClosure.due_at, type_=Date))  # SQLite: CAST(… AS DATE) is a number
    raised = _insert_flag(session, select(
        OpportunityClosure.sector_id, literal(FLAG_KIND), literal("opportunity"), OpportunityClosure.opportunity_id,
        OpportunityClosure.owner_id, period, literal(as_of, DateTime())).where(*due))
    marked = session.execute(update(OpportunityClosure).where(*due, OpportunityClosure.late.is_(False))
                             .values(late=True).execution_options(synchronize_session=False)).rowcount or 0
    return {"flagged": raised, "marked_late": marked}
