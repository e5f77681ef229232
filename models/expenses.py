"""Expense claims (报销, policy U5).

A claim that concerns a customer must reference that customer and its current progress: one of the customer's
open opportunities the claimant can see, whose stage at submission is kept on the claim (`progress_stage_*`).
A claim about a sales action must reference the activity, and it must be one of the claimant's own
activities. Otherwise the claim is refused (422 naming `customer_id`, `opportunity_id` or `activity_id`) before
anything is written, so it never reaches an approver. Valid claims go to the department manager, then finance
(engine/expense_flows.py, workflows/expense_claim.bpmn).

Who submits: any active user of a department (its manager approves first). Who sees a claim: the claimant,
the managers/assistants of its department, finance and sector-wide roles of its sector, group management.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    and_,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import access, audit, clock
from models.base import Base
from models.crm import Customer
from models.errors import DomainError
from models.org import User
from models.sales import Activity, Opportunity
from models.stages import stage_of

CATEGORIES = ("customer", "sales_action", "other")
CLAIM_STATUSES = ("pending", "approved", "rejected", "withdrawn")
FINANCE_ROLES = {"finance"}
MAX_AMOUNT = Decimal("9999999999.99")
EARLIEST = date(2000, 1, 1)


class ExpenseClaim(Base):
    __tablename__ = "expense_claim"
    __table_args__ = (
        Index("ix_expense_claim_claimant", "claimant_id", "created_at"),
        Index("ix_expense_claim_sector_status", "sector_id", "status"),
        Index("ix_expense_claim_department", "department_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    claimant_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    category: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunity.id"))
    # U5 "its current progress": the opportunity's stage when the claim was submitted
    progress_stage_code: Mapped[str | None] = mapped_column(String(40))
    progress_stage_name: Mapped[str | None] = mapped_column(String(60))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activity.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    spent_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]


class ExpenseError(DomainError):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


def refused(message: str, field: str) -> ExpenseError:
    return ExpenseError(422, message, field)


def claim_filter(user: User) -> ColumnElement[bool]:
    if not user.is_active:
        return false()
    if access.sees_all_sectors(user):
        return true()
    if user.sector_id is None:
        return false()
    clauses: list[ColumnElement[bool]] = [ExpenseClaim.claimant_id == user.id]
    if access.sees_whole_sector(user) or user.role_codes & FINANCE_ROLES:
        clauses.append(true())
    depts = access.managed_departments(user)
    if depts:
        clauses.append(ExpenseClaim.department_id.in_(depts))
    return and_(ExpenseClaim.sector_id == user.sector_id, or_(*clauses))


def visible_claim(session: Session, user: User, claim_id: int) -> ExpenseClaim:
    claim = session.scalar(select(ExpenseClaim).where(ExpenseClaim.id == claim_id, claim_filter(user)))
    if claim is None:
        raise ExpenseError(404, f"expense claim {claim_id} not found")
    return claim


def list_claims(session: Session, user: User, *, status: str | None = None, mine: bool = False,
                limit: int = 50, offset: int = 0) -> list[ExpenseClaim]:
    stmt = select(ExpenseClaim).where(claim_filter(user))
    if status:
        stmt = stmt.where(ExpenseClaim.status == status)
    if mine:
        stmt = stmt.where(ExpenseClaim.claimant_id == user.id)
    return list(session.scalars(stmt.order_by(ExpenseClaim.id.desc()).limit(limit).offset(offset)))


def may_submit(user: User) -> bool:
    return bool(user.is_active and user.sector_id and user.department_id)


# ---- input ----------------------------------------------------------------------------------------------------------
def _amount(value: Any) -> Decimal:
    if value is None or value == "":
        raise refused("required", "amount")
    try:
        number = Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except (InvalidOperation, ValueError):
        raise refused("enter an amount in CNY, e.g. 350.00", "amount") from None
    if not number.is_finite() or number <= 0:
        raise refused("must be greater than 0", "amount")
    if number > MAX_AMOUNT or number.as_tuple().exponent < -2:
        raise refused("at most 10 digits and 2 decimal places", "amount")
    return number


def _spent_on(value: Any) -> date:
    if value in (None, ""):
        raise refused("required", "spent_on")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise refused("a date like 2026-11-20", "spent_on") from None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date) or value < EARLIEST:
        raise refused("a date after 2000-01-01", "spent_on")
    if value > clock.now().date() + timedelta(days=1):
        raise refused("the expense cannot be in the future", "spent_on")
    return value


def _text(value: Any, field: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else value
    if value in (None, ""):
        raise refused("required", field)
    if not isinstance(value, str):
        raise refused("must be text", field)
    if any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise refused("contains characters that are not allowed", field)
    if len(value) > limit:
        raise refused(f"at most {limit} characters", field)
    return value


def _id(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise refused("an id", field)
    if isinstance(value, str):
        if not (value.strip().isascii() and value.strip().isdigit()):
            raise refused("an id", field)
        value = int(value.strip())
    if not 1 <= value <= 2**31 - 1:
        raise refused("an id", field)
    return value


def _customer_refs(session: Session, user: User, data: dict[str, Any]) -> tuple[Customer, Opportunity, str]:
    """U5: the customer (visible to the claimant) and its current progress (an open opportunity of it)."""
    customer_id = _id(data.get("customer_id"), "customer_id")
    if customer_id is None:
        raise refused("a claim about a customer must reference the customer (U5)", "customer_id")
    customer = session.scalar(select(Customer).where(Customer.id == customer_id, access.customer_filter(user)))
    if customer is None:
        raise refused("no such customer visible to you (U5)", "customer_id")
    opportunity_id = _id(data.get("opportunity_id"), "opportunity_id")
    if opportunity_id is None:
        raise refused("a claim about a customer must reference its current progress: pick the customer's open "
                      "opportunity (U5)", "opportunity_id")
    opp = session.scalar(select(Opportunity).where(Opportunity.id == opportunity_id,
                                                   access.opportunity_filter(user)))
    if opp is None or opp.customer_id != customer.id:
        raise refused("no such opportunity of this customer visible to you (U5)", "opportunity_id")
    if opp.status != "open":
        raise refused("the opportunity is closed; a claim references the customer's current progress (U5)",
                      "opportunity_id")
    stage = stage_of(session, opp.sector_id, opp.stage_code)
    return customer, opp, stage.name_zh if stage else opp.stage_code


def _own_activity(session: Session, user: User, data: dict[str, Any]) -> Activity:
    activity_id = _id(data.get("activity_id"), "activity_id")
    if activity_id is None:
        raise refused("a claim about a sales action must reference the activity (U5)", "activity_id")
    activity = session.get(Activity, activity_id)
    if activity is None or activity.owner_id != user.id:
        raise refused("the activity must be one of your own activities (U5)", "activity_id")
    return activity


def create_claim(session: Session, user: User, data: dict[str, Any]) -> ExpenseClaim:
    """Validate everything (U5 first), then write the claim; the caller starts the approval process."""
    if not may_submit(user):
        raise ExpenseError(403, "only staff of a department submit expense claims (their manager approves first)")
    category = data.get("category")
    if category not in CATEGORIES:
        raise refused(f"one of {', '.join(CATEGORIES)}", "category")
    customer = opp = activity = None
    progress = None
    if category == "customer":
        customer, opp, progress = _customer_refs(session, user, data)
    elif category == "sales_action":
        activity = _own_activity(session, user, data)
    amount = _amount(data.get("amount"))
    spent_on = _spent_on(data.get("spent_on"))
    description = _text(data.get("description"), "description", 2000)
    now = clock.now()
    claim = ExpenseClaim(
        number=f"tmp-{uuid4().hex[:24]}", sector_id=user.sector_id, department_id=user.department_id,
        claimant_id=user.id, category=category, customer_id=customer.id if customer else None,
        opportunity_id=opp.id if opp else None, progress_stage_code=opp.stage_code if opp else None,
        progress_stage_name=progress, activity_id=activity.id if activity else None, amount=amount,
        spent_on=spent_on, description=description, status="pending", created_at=now)
    session.add(claim)
    session.flush()
    claim.number = f"BX{now:%Y%m%d}-{claim.id:06d}"
    audit.record(session, actor_id=user.id, action="expense.create", entity_type="expense_claim", entity_id=claim.id,
                 sector_id=claim.sector_id, after=snapshot(claim))
    return claim


def snapshot(claim: ExpenseClaim) -> dict[str, Any]:
    return {"number": claim.number, "category": claim.category, "customer_id": claim.customer_id,
            "opportunity_id": claim.opportunity_id, "progress": claim.progress_stage_name,
            "activity_id": claim.activity_id, "amount": str(claim.amount), "spent_on": claim.spent_on.isoformat(),
            "status": claim.status}


def set_status(session: Session, claim: ExpenseClaim, status: str, actor_id: int | None,
               instance_id: int | None) -> ExpenseClaim:
    """The process decides: approved / rejected (idempotent; only the claim's own process)."""
    if status not in CLAIM_STATUSES:
        raise refused(f"one of {', '.join(CLAIM_STATUSES)}", "status")
    if claim.status == status or claim.status != "pending" or claim.process_instance_id != instance_id:
        return claim
    claim.status, claim.decided_at = status, clock.now()
    audit.record(session, actor_id=actor_id, action="expense.decide", entity_type="expense_claim",
                 entity_id=claim.id, sector_id=claim.sector_id, before={"status": "pending"},
                 after={"status": status, "process_instance_id": instance_id})
    return claim


def pickers(session: Session, user: User) -> dict[str, list]:
    """Choices for the new-claim form: visible customers, their open opportunities, the user's own activities."""
    customers = list(session.scalars(select(Customer).where(access.customer_filter(user),
                                                            Customer.owner_id.is_not(None))
                                     .order_by(Customer.name).limit(300)))
    opps = list(session.scalars(select(Opportunity).where(access.opportunity_filter(user), Opportunity.status == "open")
                                .order_by(Opportunity.name).limit(300)))
    activities = list(session.scalars(select(Activity).where(Activity.owner_id == user.id)
                                      .order_by(Activity.occurred_at.desc()).limit(100)))
    return {"customers": customers, "opportunities": opps, "activities": activities}
