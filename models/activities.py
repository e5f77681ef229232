"""Activities (行动 / 跟进记录): a visit, call, email, meeting… against exactly one lead, customer or opportunity.

Logging one keeps the record's `last_activity_at` (the U3 flags read it), moves an assigned lead to
`following` when its owner logs it, and touches the customer's last contact (T1): the customer itself,
the opportunity's customer, or the customer a lead was linked to.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from models import access, audit, clock
from models.crm import Customer
from models.leads import NotVisible, Refused, clean_text
from models.org import User
from models.pool import touch_contact
from models.sales import ACTIVITY_KINDS, Activity, Lead, Opportunity

TARGETS = ("lead_id", "customer_id", "opportunity_id")
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1)


def occurred_value(value: Any) -> datetime:
    if value in (None, ""):
        raise Refused("required", "occurred_at")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Refused("a date and time like 2026-11-26 14:30", "occurred_at") from None
    if not isinstance(value, datetime):
        raise Refused("a date and time like 2026-11-26 14:30", "occurred_at")
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01 with a positive offset falls before year 1 in UTC
            raise Refused("cannot be before 2000-01-01", "occurred_at") from None
    if value > clock.now() + FUTURE_TOLERANCE:
        raise Refused("cannot be more than a day in the future", "occurred_at")
    if value < EARLIEST:
        raise Refused("cannot be before 2000-01-01", "occurred_at")
    return value.replace(microsecond=0)


def _target(session: Session, user: User, data: dict[str, Any]) -> tuple[str, Any]:
    given = [(name, data.get(name)) for name in TARGETS if data.get(name) not in (None, "")]
    if len(given) != 1:
        raise Refused("give exactly one of lead_id, customer_id, opportunity_id", "target")
    name, value = given[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise Refused("not a valid id", name)
    model, flt = {"lead_id": (Lead, access.lead_filter), "customer_id": (Customer, access.customer_filter),
                  "opportunity_id": (Opportunity, access.opportunity_filter)}[name]
    record = session.scalar(select(model).where(and_(model.id == value, flt(user))))
    if record is None:
        raise Refused("no such record visible to you", name)
    return name, record


def log_activity(session: Session, user: User, data: dict[str, Any]) -> Activity:
    """E1: kind and subject required; the record must be visible to the author."""
    kind = data.get("kind")
    if kind in (None, ""):
        raise Refused("required", "kind")
    if kind not in ACTIVITY_KINDS:
        raise Refused(f"one of {', '.join(ACTIVITY_KINDS)}", "kind")
    subject = clean_text(data, "subject", required=True)
    notes = clean_text({"notes": data.get("notes")}, "notes")
    occurred_at = occurred_value(data.get("occurred_at"))
    name, record = _target(session, user, data)
    activity = Activity(sector_id=record.sector_id, owner_id=user.id, kind=kind, subject=subject, notes=notes,
                        occurred_at=occurred_at, created_at=clock.now(), **{name: record.id})
    session.add(activity)
    customer_id = None
    if isinstance(record, Lead):
        _latest(session, Lead, record.id, occurred_at)
        if record.status == "assigned" and record.owner_id == user.id:
            record.status = "following"
        customer_id = record.customer_id
    elif isinstance(record, Opportunity):
        _latest(session, Opportunity, record.id, occurred_at)
        customer_id = record.customer_id
    else:
        customer_id = record.id
    if customer_id is not None:
        touch_contact(session, customer_id, occurred_at)  # T1
    session.flush()
    audit.record(session, actor_id=user.id, action="activity.create", entity_type="activity", entity_id=activity.id,
                 sector_id=activity.sector_id, after={"kind": kind, "subject": subject, name: record.id,
                                                      "occurred_at": occurred_at.isoformat()})
    return activity


def _latest(session: Session, model, record_id: int, at: datetime) -> None:
    """Keep the latest activity time; a plain UPDATE so an opportunity's version (its progress) is not bumped."""
    session.execute(update(model).where(model.id == record_id, or_(model.last_activity_at.is_(None),
                                                                   model.last_activity_at < at))
                    .values(last_activity_at=at).execution_options(synchronize_session=False))


def activity_query(user: User, *, lead_id: int | None = None, customer_id: int | None = None,
                   opportunity_id: int | None = None, mine: bool = False, kind: str | None = None):
    stmt = select(Activity).where(access.activity_filter(user))
    if lead_id:
        stmt = stmt.where(Activity.lead_id == lead_id)
    if opportunity_id:
        stmt = stmt.where(Activity.opportunity_id == opportunity_id)
    if customer_id:
        # the customer's own activities and those on its opportunities and leads
        stmt = stmt.where(or_(Activity.customer_id == customer_id,
                              Activity.opportunity_id.in_(select(Opportunity.id).where(Opportunity.customer_id == customer_id)),
                              Activity.lead_id.in_(select(Lead.id).where(Lead.customer_id == customer_id))))
    if mine:
        stmt = stmt.where(Activity.owner_id == user.id)
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    return stmt


def list_activities(session: Session, user: User, *, limit: int = 50, offset: int = 0, **filters) -> list[Activity]:
    return list(session.scalars(activity_query(user, **filters).order_by(Activity.occurred_at.desc(), Activity.id.desc())
                                .limit(limit).offset(offset)))


def record_visible(session: Session, user: User, name: str, record_id: int) -> None:
    """404 unless the record a per-record activity list names is visible."""
    model, flt = {"lead_id": (Lead, access.lead_filter), "customer_id": (Customer, access.customer_filter),
                  "opportunity_id": (Opportunity, access.opportunity_filter)}[name]
    if session.scalar(select(model.id).where(and_(model.id == record_id, flt(user)))) is None:
        raise NotVisible(f"{name.removesuffix('_id')} {record_id} not found")
