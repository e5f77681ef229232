"""Conflict cases (C2): the owner or the refused entrant asks sales management to keep, transfer or share."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import access, audit, clock
from models.crm import ConflictCase, Customer, RecordShare
from models.customer_rules import normalized
from models.customers import CustomerError, add_share
from models.org import User

DECIDER_ROLES = {"sales_mgmt_manager"}


def _case_customer(session: Session, user: User, customer_id: int | None, name: str | None,
                   credit_code: str | None) -> Customer:
    """By id (a customer the user sees) or, for the refused entrant, by the name / credit code he tried (C1)."""
    if customer_id:
        customer = session.scalar(select(Customer).where(Customer.id == customer_id, access.customer_filter(user)))
        if customer is None:
            raise CustomerError(404, "customer not found")
        return customer
    conds = []
    if name and normalized(name):
        conds.append(Customer.name_normalized == normalized(name))
    if credit_code and credit_code.strip():
        conds.append(Customer.credit_code == credit_code.strip().upper())
    if not conds or user.sector_id is None:
        raise CustomerError(422, "name the customer: customer_id, or the registered name or credit code you entered",
                            "customer_id")
    customer = session.scalar(select(Customer).where(Customer.sector_id == user.sector_id, or_(*conds))
                              .order_by(Customer.id).limit(1))
    if customer is None:
        raise CustomerError(404, "no registered customer of your sector has this name or credit code", "name")
    return customer


def open_case(session: Session, user: User, *, reason: str, customer_id: int | None = None, name: str | None = None,
              credit_code: str | None = None, claimant_id: int | None = None) -> ConflictCase:
    """Open a case. The refused entrant is the claimant; an owner opening a case names the claimant."""
    if not user.is_active or user.sector_id is None:
        raise CustomerError(403, "only staff of a sector open conflict cases")
    reason = (reason or "").strip()
    if not reason:
        raise CustomerError(422, "give the reason for the case", "reason")
    if len(reason) > 4000:
        raise CustomerError(422, "at most 4000 characters", "reason")
    customer = _case_customer(session, user, customer_id, name, credit_code)
    if customer.owner_id is None:
        raise CustomerError(409, "the customer is in the public pool: claim it instead", "customer_id")
    if customer.owner_id == user.id:
        claimant = session.get(User, claimant_id) if claimant_id else None
        if claimant is None or claimant.sector_id != customer.sector_id or claimant.id == user.id:
            raise CustomerError(422, "name the other salesperson of your sector (claimant_id)", "claimant_id")
    else:
        claimant = user
    open_already = session.scalar(select(ConflictCase.id).where(
        ConflictCase.customer_id == customer.id, ConflictCase.status == "open").limit(1))
    if open_already:
        raise CustomerError(409, "a conflict case about this customer is already open", "customer_id")
    case = ConflictCase(sector_id=customer.sector_id, customer_id=customer.id, opened_by=user.id,
                        owner_id=customer.owner_id, claimant_id=claimant.id, reason=reason, status="open",
                        created_at=clock.now())
    session.add(case)
    session.flush()
    audit.record(session, actor_id=user.id, action="conflict_case.open", entity_type="conflict_case",
                 entity_id=case.id, sector_id=case.sector_id,
                 after={"customer_id": customer.id, "claimant_id": claimant.id, "reason": reason})
    audit.record(session, actor_id=user.id, action="customer.conflict_opened", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id, after={"conflict_case_id": case.id})
    return case


def may_see_case(user: User, case: ConflictCase) -> bool:
    if not user.is_active:
        return False
    if access.sees_all_sectors(user):
        return True
    if user.sector_id != case.sector_id:
        return False
    return user.id in (case.opened_by, case.owner_id, case.claimant_id) or access.sees_whole_sector(user)


def visible_case(session: Session, user: User, case_id: int) -> ConflictCase:
    case = session.get(ConflictCase, case_id)
    if case is None or not may_see_case(user, case):
        raise CustomerError(404, "conflict case not found")
    return case


def list_cases(session: Session, user: User, *, limit: int = 50, offset: int = 0) -> list[ConflictCase]:
    if not user.is_active:
        return []
    stmt = select(ConflictCase)
    if not access.sees_all_sectors(user):
        stmt = stmt.where(ConflictCase.sector_id == user.sector_id)
        if not access.sees_whole_sector(user):
            stmt = stmt.where(or_(ConflictCase.opened_by == user.id, ConflictCase.owner_id == user.id,
                                  ConflictCase.claimant_id == user.id))
    return list(session.scalars(stmt.order_by(ConflictCase.id.desc()).limit(limit).offset(offset)))


def apply_decision(session: Session, case: ConflictCase, decision: str, actor_id: int | None) -> dict:
    """keep: nothing moves; transfer: the claimant owns the customer; joint: the claimant becomes a collaborator.

    Idempotent: a decided case is left as it is.
    """
    if case.status == "decided":
        return {"case_id": case.id, "decision": case.decision}
    customer = session.get(Customer, case.customer_id)
    claimant = session.get(User, case.claimant_id) if case.claimant_id else None
    if decision == "transfer" and claimant is not None:
        before = {"owner_id": customer.owner_id, "department_id": customer.department_id}
        customer.owner_id = claimant.id
        customer.department_id = claimant.department_id
        customer.updated_at = clock.now()
        share = session.scalar(select(RecordShare).where(RecordShare.entity_type == "customer",
                                                         RecordShare.entity_id == customer.id,
                                                         RecordShare.user_id == claimant.id))
        if share is not None:
            session.delete(share)
        audit.record(session, actor_id=actor_id, action="customer.transfer", entity_type="customer",
                     entity_id=customer.id, sector_id=customer.sector_id, before=before,
                     after={"owner_id": claimant.id, "department_id": claimant.department_id,
                            "conflict_case_id": case.id})
    elif decision == "joint" and claimant is not None:
        add_share(session, actor_id, customer, claimant.id)
    case.status, case.decision, case.decided_by, case.decided_at = "decided", decision, actor_id, clock.now()
    audit.record(session, actor_id=actor_id, action="conflict_case.decide", entity_type="conflict_case",
                 entity_id=case.id, sector_id=case.sector_id, after={"decision": decision})
    audit.record(session, actor_id=actor_id, action="customer.conflict_decided", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id,
                 after={"conflict_case_id": case.id, "decision": decision})
    return {"case_id": case.id, "decision": decision}
