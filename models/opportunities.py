"""Opportunities (销售机会): stages per sector, amount, signing date history, competitors (F1); progress by
the owner only (E4); optimistic concurrency through the `version` column (a stale update is 409).

Who may open an opportunity: a sales rep, channel rep or department manager, for an approved customer he
can see that is not in the public pool. The creator is the owner. Only the owner changes anything on it
(stage, amount, expected signing date, name, competitors, attachments); everyone else who may see it
(his manager, sector-wide roles, collaborators it is shared with) reads it and gets 403 on a change.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import access, audit, clock, closures
from models.crm import Customer
from models.leads import Conflict, NotAllowed, NotVisible, Refused, clean_text
from models.org import User
from models.reports.records import record_stage_move
from models.sales import Lead, Opportunity, OpportunityStage, SignDateChange
from models.stages import stage_of, stages_for

OPPORTUNITY_ENTRY_ROLES = {"sales_rep", "channel_rep", "dept_manager"}
MAX_AMOUNT = Decimal("99999999999999.99")
MAX_COMPETITORS = 20
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def may_open(user: User) -> bool:
    return bool(user.is_active and user.sector_id and user.role_codes & OPPORTUNITY_ENTRY_ROLES)


def visible_opportunity(session: Session, user: User, opportunity_id: int) -> Opportunity:
    opp = session.scalar(select(Opportunity).where(and_(Opportunity.id == opportunity_id,
                                                        access.opportunity_filter(user))))
    if opp is None:
        raise NotVisible(f"opportunity {opportunity_id} not found")
    return opp


def owned_opportunity(session: Session, user: User, opportunity_id: int) -> Opportunity:
    """E4: visible (else 404) and owned by the user (else 403); F2: not closed (else 403)."""
    opp = visible_opportunity(session, user, opportunity_id)
    if opp.owner_id != user.id:
        raise NotAllowed("only the opportunity's owner enters its progress (E4)")
    closures.check_editable(session, user, opp)  # F2: a closed opportunity is read-only (changes, attachments)
    return opp


def amount_value(value: Any, field: str = "amount") -> Decimal:
    if value is None or value == "":
        raise Refused("required", field)
    try:
        number = Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except (InvalidOperation, ValueError):
        raise Refused("enter an amount in CNY, e.g. 120000.00", field) from None
    if not number.is_finite() or number <= 0:
        raise Refused("must be greater than 0", field)
    if number > MAX_AMOUNT or number.as_tuple().exponent < -2:
        raise Refused("at most 14 digits and 2 decimal places", field)
    return number


def date_value(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise Refused("a date like 2026-12-31", field) from None
    if not isinstance(value, date) or not EARLIEST_DATE <= value <= LATEST_DATE:
        raise Refused("a date between 2000-01-01 and 2099-12-31", field)
    return value


def competitors_value(value: Any) -> list[str]:
    """F1: competitors as a list of names (a comma-separated string is accepted from forms)."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in value.replace("，", ",").replace("、", ",").split(",")]
    if not isinstance(value, list):
        raise Refused("a list of names", "competitors")
    names: list[str] = []
    for item in value:
        name = clean_text({"competitors": item}, "competitors") if isinstance(item, str) else None
        if item is not None and not isinstance(item, str):
            raise Refused("a list of names", "competitors")
        if name and len(name) > 100:
            raise Refused("a name has at most 100 characters", "competitors")
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_COMPETITORS:
        raise Refused(f"at most {MAX_COMPETITORS} competitors", "competitors")
    return names


def _stage(session: Session, sector_id: int, code: Any) -> OpportunityStage:
    stage = stage_of(session, sector_id, code) if isinstance(code, str) and code else None
    if stage is None:
        codes = [s.code for s in stages_for(session, sector_id)]
        raise Refused(f"one of the sector's stages: {', '.join(codes)}", "stage_code")
    return stage


def _apply_stage(opp: Opportunity, stage: OpportunityStage) -> None:
    """Probability comes from the stage; a won/lost stage closes the opportunity, an open stage reopens it."""
    opp.stage_code, opp.win_probability = stage.code, stage.probability
    if stage.outcome in ("won", "lost"):
        if opp.status != stage.outcome:
            opp.status, opp.closed_at = stage.outcome, clock.now()
    else:
        opp.status, opp.closed_at = "open", None


def snapshot(opp: Opportunity) -> dict[str, Any]:
    return {"name": opp.name, "stage_code": opp.stage_code, "amount": str(opp.amount),
            "win_probability": opp.win_probability, "status": opp.status,
            "expected_sign_date": opp.expected_sign_date.isoformat() if opp.expected_sign_date else None,
            "competitors": list(opp.competitors or []), "owner_id": opp.owner_id, "customer_id": opp.customer_id}


def _sign_date_change(session: Session, opp: Opportunity, new: date | None, user: User) -> None:
    if new != opp.expected_sign_date:
        session.add(SignDateChange(opportunity_id=opp.id, old_date=opp.expected_sign_date, new_date=new,
                                   changed_by=user.id, changed_at=clock.now()))
        opp.expected_sign_date = new


def create_opportunity(session: Session, user: User, data: dict[str, Any]) -> Opportunity:
    if not may_open(user):
        raise NotAllowed("only sales reps and department managers open opportunities")
    name = clean_text(data, "name", required=True)
    customer_id = data.get("customer_id")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise Refused("required", "customer_id")
    customer = session.scalar(select(Customer).where(and_(Customer.id == customer_id, access.customer_filter(user))))
    if customer is None:
        raise Refused("no such customer in the system", "customer_id")
    if customer.owner_id is None:
        raise Refused("the customer is in the public pool; claim it first", "customer_id")
    if customer.status != "approved":
        raise Refused("the customer is not approved yet", "customer_id")
    stages = stages_for(session, customer.sector_id)
    code = data.get("stage_code") or next((s.code for s in stages if s.outcome is None), None)
    stage = _stage(session, customer.sector_id, code)
    amount = amount_value(data.get("amount"))
    sign_date = date_value(data.get("expected_sign_date"), "expected_sign_date")
    competitors = competitors_value(data.get("competitors"))
    lead_id = data.get("lead_id")
    if lead_id is not None:
        lead = session.scalar(select(Lead).where(and_(Lead.id == lead_id, access.lead_filter(user))))
        if lead is None or lead.sector_id != customer.sector_id:
            raise Refused("no such lead", "lead_id")
    now = clock.now()
    opp = Opportunity(sector_id=customer.sector_id, department_id=user.department_id or customer.department_id,
                      owner_id=user.id, customer_id=customer.id, lead_id=lead_id, name=name, amount=amount,
                      competitors=competitors, status="open", created_by=user.id, created_at=now, updated_at=now,
                      stage_code=stage.code, win_probability=stage.probability, expected_sign_date=None)
    _apply_stage(opp, stage)
    session.add(opp)
    session.flush()
    record_stage_move(session, opp, None, stage, user.id)
    _sign_date_change(session, opp, sign_date, user)
    session.flush()
    audit.record(session, actor_id=user.id, action="opportunity.create", entity_type="opportunity",
                 entity_id=opp.id, sector_id=opp.sector_id, after=snapshot(opp))
    return opp


def _check_version(opp: Opportunity, version: Any) -> None:
    if version is not None and version != opp.version:
        raise Conflict("the opportunity was changed by someone else; reload it and try again")


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("the opportunity was changed by someone else; reload it and try again") from exc


def update_opportunity(session: Session, user: User, opportunity_id: int, data: dict[str, Any]) -> Opportunity:
    """E4: only the owner; `version` (when sent) must be the one he read, else 409."""
    opp = owned_opportunity(session, user, opportunity_id)
    _check_version(opp, data.get("version"))
    before = snapshot(opp)
    if "name" in data:
        opp.name = clean_text(data, "name", required=True)
    if "amount" in data:
        opp.amount = amount_value(data.get("amount"))
    if "competitors" in data:
        opp.competitors = competitors_value(data.get("competitors"))
    if "stage_code" in data:
        stage = _stage(session, opp.sector_id, data.get("stage_code"))
        if stage.code != opp.stage_code:
            old = stage_of(session, opp.sector_id, opp.stage_code)
            _apply_stage(opp, stage)
            record_stage_move(session, opp, old, stage, user.id)
    if "expected_sign_date" in data:
        _sign_date_change(session, opp, date_value(data.get("expected_sign_date"), "expected_sign_date"), user)
    after = snapshot(opp)
    if after != before:
        opp.updated_at = clock.now()
        _flush(session)
        audit.record(session, actor_id=user.id, action="opportunity.update", entity_type="opportunity",
                     entity_id=opp.id, sector_id=opp.sector_id, before=before, after=after)
    return opp


def move_stage(session: Session, user: User, opportunity_id: int, stage_code: Any, version: Any = None) -> Opportunity:
    """The kanban move: E4 owner only, probability from the stage, won/lost closes it."""
    return update_opportunity(session, user, opportunity_id, {"stage_code": stage_code, "version": version})


def opportunity_query(user: User, *, status: str | None = None, stage_code: str | None = None, mine: bool = False,
                      customer_id: int | None = None, q: str | None = None):
    stmt = select(Opportunity).where(access.opportunity_filter(user))
    if status:
        stmt = stmt.where(Opportunity.status == status)
    if stage_code:
        stmt = stmt.where(Opportunity.stage_code == stage_code)
    if mine:
        stmt = stmt.where(Opportunity.owner_id == user.id)
    if customer_id:
        stmt = stmt.where(Opportunity.customer_id == customer_id)
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Opportunity.name).like(pattern), Opportunity.customer_id.in_(
            select(Customer.id).where(func.lower(Customer.name).like(pattern)))))
    return stmt


def list_opportunities(session: Session, user: User, *, limit: int = 50, offset: int = 0,
                       **filters) -> list[tuple[Opportunity, str]]:
    """Rows of (opportunity, customer name) in one query."""
    stmt = opportunity_query(user, **filters).add_columns(Customer.name).join(
        Customer, Customer.id == Opportunity.customer_id)
    return [(o, n) for o, n in session.execute(stmt.order_by(Opportunity.updated_at.desc(), Opportunity.id.desc())
                                               .limit(limit).offset(offset))]


def count_opportunities(session: Session, user: User, **filters) -> int:
    return session.scalar(select(func.count()).select_from(opportunity_query(user, **filters).subquery())) or 0


def sign_date_changes(session: Session, user: User, opportunity_id: int) -> list[SignDateChange]:
    visible_opportunity(session, user, opportunity_id)
    return list(session.scalars(select(SignDateChange).where(SignDateChange.opportunity_id == opportunity_id)
                                .order_by(SignDateChange.changed_at, SignDateChange.id)))


BOARD_LIMIT = 500


def board(session: Session, user: User, sector_id: int) -> tuple[list[OpportunityStage], dict[str, list]]:
    """Kanban: the sector's stages in order and the open opportunities visible to the user in each."""
    stages = stages_for(session, sector_id)
    rows = session.execute(select(Opportunity, Customer.name).join(Customer, Customer.id == Opportunity.customer_id)
                           .where(access.opportunity_filter(user), Opportunity.sector_id == sector_id,
                                  Opportunity.status == "open")
                           .order_by(Opportunity.expected_sign_date.is_(None), Opportunity.expected_sign_date,
                                     Opportunity.id).limit(BOARD_LIMIT)).all()
    columns: dict[str, list] = {s.code: [] for s in stages}
    for opp, customer_name in rows:
        columns.setdefault(opp.stage_code, []).append((opp, customer_name))
    return stages, columns
