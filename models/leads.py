"""Leads (商机): entry, screening, manual assignment, follow-up (policy L1, E1, E6; routing L2–L4 is issue 4).

Who may enter a lead (E6, decided here):
- business managers (商务经理) and marketing / front desk (市场部) enter the leads that come in by phone,
  website registration or online consultation (L1); such a lead starts `new`, without an owner;
- sales reps and channel reps may log a lead they found themselves; it starts `assigned` to them, since
  nobody needs to route it;
- anyone else (finance, implementers, managers without a sales role…) gets 403.

Status: new → kept | discarded (with a reason) by marketing or a business manager → assigned (owner set by a
business manager) → following (the owner's first activity, or by hand) → converted | closed by the owner.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from models import access, audit, clock, settings
from models.crm import Customer
from models.customer_rules import phone_error
from models.errors import DomainError
from models.org import User, UserRole
from models.sales import LEAD_SOURCES, Lead

LEAD_ENTRY_ROLES = {"business_manager", "marketing", "sales_rep", "channel_rep"}  # E6
SALES_ROLES = {"sales_rep", "channel_rep"}
ASSIGNING_ROLES = {"business_manager"}
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
EDITABLE = ("company_name", "contact_name", "phone", "email", "region", "industry", "notes", "source")
LIMITS = {"company_name": 200, "contact_name": 100, "phone": 40, "email": 200, "region": 60, "industry": 60,
          "notes": 4000, "discard_reason": 2000}


# ---- errors shared by the sales operations (leads, opportunities, activities, attachments) -------------------
class SalesError(DomainError):
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


class Refused(SalesError):
    """Bad input or a business rule the input breaks: 422 naming the field."""

    status = 422


class NotVisible(SalesError):
    """The record does not exist or the user may not see it: 404 (never reveals that it exists)."""

    status = 404


class NotAllowed(SalesError):
    """Same sector, visible, but this user may not do this: 403."""

    status = 403


class Conflict(SalesError):
    """The record changed meanwhile (stale version) or is in a state that does not allow the step: 409."""

    status = 409


def clean_text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Strip a text value; required and blank → Refused naming the field (E1)."""
    value = data.get(name)
    value = value.strip() if isinstance(value, str) else value
    if value in (None, ""):
        if required:
            raise Refused("required", name)
        return None
    if not isinstance(value, str):
        raise Refused("must be text", name)
    if any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise Refused("contains characters that are not allowed", name)
    limit = LIMITS.get(name, 200)
    if len(value) > limit:
        raise Refused(f"at most {limit} characters", name)
    return value


def _validated(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in EDITABLE:
        if partial and name not in data:
            continue
        out[name] = clean_text(data, name, required=name in ("company_name", "contact_name", "source"))
    if "source" in out and out["source"] not in LEAD_SOURCES:
        raise Refused(f"one of {', '.join(LEAD_SOURCES)}", "source")  # L1
    if out.get("phone") and (err := phone_error(out["phone"])):
        raise Refused(err, "phone")
    if out.get("email") and not EMAIL.match(out["email"]):
        raise Refused("not an email address", "email")
    return out


def may_enter_leads(user: User) -> bool:
    return bool(user.is_active and user.sector_id and user.role_codes & LEAD_ENTRY_ROLES)


def is_desk(user: User) -> bool:
    return bool(user.role_codes & access.LEAD_DESK_ROLES)


def visible_lead(session: Session, user: User, lead_id: int, *, lock: bool = False) -> Lead:
    stmt = select(Lead).where(and_(Lead.id == lead_id, access.lead_filter(user)))
    lead = session.scalar(stmt.with_for_update() if lock else stmt)
    if lead is None:
        raise NotVisible(f"lead {lead_id} not found")
    return lead


def _snapshot(lead: Lead) -> dict[str, Any]:
    return {k: getattr(lead, k) for k in (*EDITABLE, "status", "owner_id", "discard_reason", "customer_id")}


def create_lead(session: Session, user: User, data: dict[str, Any]) -> Lead:
    """E1/E6/L1: company and contact names and the source are required; only the three kinds of entrant."""
    if not may_enter_leads(user):
        raise NotAllowed("only business managers, marketing and sales reps enter leads (E6)")
    fields = _validated(data, partial=False)
    rep_found_it = bool(user.role_codes & SALES_ROLES) and not is_desk(user)
    now = clock.now()
    lead = Lead(sector_id=user.sector_id, department_id=user.department_id if rep_found_it else None,
                owner_id=user.id if rep_found_it else None, status="assigned" if rep_found_it else "new",
                created_by=user.id, created_at=now, updated_at=now, **fields)
    if rep_found_it:
        lead.follow_up_due_at = now + timedelta(days=int(settings.get(session, "lead.follow_up_days", user.sector_id)))
    session.add(lead)
    session.flush()
    audit.record(session, actor_id=user.id, action="lead.create", entity_type="lead", entity_id=lead.id,
                 sector_id=lead.sector_id, after=_snapshot(lead))
    return lead


def _may_edit(user: User, lead: Lead) -> bool:
    return is_desk(user) or lead.owner_id == user.id or (lead.created_by == user.id and lead.status == "new")


# status -> (statuses it may come from, who may set it)
TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "kept": ({"new"}, "desk"),
    "discarded": ({"new", "kept"}, "desk"),
    "following": ({"assigned"}, "owner"),
    "converted": ({"assigned", "following"}, "owner"),
    "closed": ({"assigned", "following"}, "owner"),
}


def update_lead(session: Session, user: User, lead_id: int, data: dict[str, Any]) -> Lead:
    """Edit fields and/or move the status (screening by the desk, follow-up states by the owner)."""
    lead = visible_lead(session, user, lead_id, lock=True)
    before = _snapshot(lead)
    may_edit = _may_edit(user, lead)
    fields = _validated(data, partial=True)
    customer_id = data.get("customer_id")
    if (fields or customer_id is not None) and not may_edit:
        raise NotAllowed("only the lead's owner, its creator or the lead desk edits it")
    if customer_id is not None:
        customer = session.scalar(select(Customer).where(and_(Customer.id == customer_id, access.customer_filter(user))))
        if customer is None or customer.sector_id != lead.sector_id:
            raise Refused("no such customer", "customer_id")
        lead.customer_id = customer.id
    for name, value in fields.items():
        setattr(lead, name, value)
    status = data.get("status")
    if status is not None and status != lead.status:
        if status not in TRANSITIONS:
            raise Refused(f"one of {', '.join(TRANSITIONS)}; a lead is assigned with its assign action", "status")
        sources, who = TRANSITIONS[status]
        if not (is_desk(user) if who == "desk" else lead.owner_id == user.id):
            raise NotAllowed("marketing or a business manager screens leads" if who == "desk"
                             else "only the lead's owner moves its follow-up")
        if lead.status not in sources:
            raise Conflict(f"a {lead.status} lead cannot become {status}")
        if status == "discarded":
            lead.discard_reason = clean_text(data, "discard_reason", required=True)
        if status == "converted" and not lead.customer_id:
            raise Refused("name the customer this lead became", "customer_id")
        lead.status = status
    after = _snapshot(lead)
    if after != before:
        lead.updated_at = clock.now()
        audit.record(session, actor_id=user.id, action="lead.update", entity_type="lead", entity_id=lead.id,
                     sector_id=lead.sector_id, before=before, after=after)
    return lead


def assignable_owners(session: Session, sector_id: int) -> list[User]:
    """Reps of the sector who may receive leads (L4: not those who lost lead rights)."""
    return list(session.scalars(select(User).where(
        User.sector_id == sector_id, User.status == "active", User.lead_rights.is_(True),
        exists().where(UserRole.user_id == User.id, UserRole.role_code.in_(SALES_ROLES))).order_by(User.display_name)))


def assign_lead(session: Session, user: User, lead_id: int, owner_id: Any) -> Lead:
    """A business manager hands the lead to a rep of the same sector who has lead rights."""
    lead = visible_lead(session, user, lead_id, lock=True)
    if not user.role_codes & ASSIGNING_ROLES:
        raise NotAllowed("only a business manager assigns leads")
    if lead.status not in ("new", "kept", "assigned", "following"):
        raise Conflict(f"a {lead.status} lead cannot be assigned")
    if not isinstance(owner_id, int) or isinstance(owner_id, bool):
        raise Refused("required", "owner_id")
    owner = session.get(User, owner_id)
    if owner is None or owner.sector_id != lead.sector_id or not owner.is_active:
        raise Refused("no such sales rep in this sector", "owner_id")
    if not owner.role_codes & SALES_ROLES:
        raise Refused("the owner must be a sales rep", "owner_id")
    if not owner.lead_rights:
        raise Refused("this rep has lost lead rights (L4)", "owner_id")
    before = _snapshot(lead)
    now = clock.now()
    lead.owner_id, lead.department_id, lead.status = owner.id, owner.department_id, "assigned"
    lead.follow_up_due_at = now + timedelta(days=int(settings.get(session, "lead.follow_up_days", lead.sector_id)))
    lead.updated_at = now
    audit.record(session, actor_id=user.id, action="lead.assign", entity_type="lead", entity_id=lead.id,
                 sector_id=lead.sector_id, before=before, after=_snapshot(lead))
    return lead


def lead_query(user: User, *, status: str | None = None, source: str | None = None, mine: bool = False,
               q: str | None = None):
    stmt = select(Lead).where(access.lead_filter(user))
    if status:
        stmt = stmt.where(Lead.status == status)
    if source:
        stmt = stmt.where(Lead.source == source)
    if mine:
        stmt = stmt.where(or_(Lead.owner_id == user.id, Lead.created_by == user.id))
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Lead.company_name).like(pattern), func.lower(Lead.contact_name).like(pattern),
                              Lead.phone.like(pattern)))
    return stmt


def list_leads(session: Session, user: User, *, limit: int = 50, offset: int = 0, **filters) -> list[Lead]:
    return list(session.scalars(lead_query(user, **filters).order_by(Lead.created_at.desc(), Lead.id.desc())
                                .limit(limit).offset(offset)))


def count_leads(session: Session, user: User, **filters) -> int:
    return session.scalar(select(func.count()).select_from(lead_query(user, **filters).subquery())) or 0
