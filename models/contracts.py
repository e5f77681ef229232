"""Contracts (合同): the record that contract approval (K1, U4) decides and execution orders (X1),
implementation orders (I1) and receivables (R1) hang off.

The table is shared groundwork; the operations on contracts live beside it in this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models import access, audit, clock
from models.base import Base
from models.crm import Customer
from models.errors import DomainError
from models.org import User
from models.quotes import discount_of

CONTRACT_STATUSES = ("draft", "pending", "approved", "rejected", "returned", "withdrawn", "signed", "closed")
CONTRACT_KINDS = ("product", "project", "service")
CONTRACT_TEMPLATES = ("standard", "custom")


class Contract(Base):
    __tablename__ = "contract"
    __table_args__ = (
        Index("ix_contract_owner_created", "owner_id", "created_at"),
        Index("ix_contract_sector_status", "sector_id", "status"),
        Index("ix_contract_department_signed", "department_id", "signed_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunity.id"), index=True)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quote.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="product")
    template: Mapped[str] = mapped_column(String(20), default="standard")
    list_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    # price ÷ list price, like quotes: 0.450000 is 4.5折
    discount: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    terms: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    signed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)
    # added by migration 0007 (contract approval)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


# ---------------------------------------------------------------- refusals and access

# Who enters contracts: the salespeople and their managers (like opportunities).
CONTRACT_ENTRY_ROLES = {"sales_rep", "channel_rep", "dept_manager"}
# Finance records invoices and collections (R1), so it reads every contract of its sector.
CONTRACT_EXTRA_SECTOR_ROLES = {"finance"}
EDITABLE_STATUSES = ("returned",)
EFFECTIVE_STATUSES = ("approved", "signed", "closed")  # contracts that count for receivables (R1)
MAX_AMOUNT = Decimal("99999999999999.99")
LIMITS = {"title": 200, "terms": 4000}


class ContractError(DomainError):
    """A refusal of a contract operation: `status` 403/404/409/422 and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


def contract_filter(user: User) -> ColumnElement[bool]:
    """O2–O4: the owner, his department's manager and assistant, the sector-wide roles (sales management,
    business managers, the vice-presidents, the president, sector head) and finance; never another sector."""
    return access._scoped(user, Contract.sector_id, Contract.department_id, [Contract.owner_id == user.id],
                          extra_sector_roles=CONTRACT_EXTRA_SECTOR_ROLES)


def visible_contract(session: Session, user: User, contract_id: int, *, for_update: bool = False) -> Contract:
    stmt = select(Contract).where(and_(Contract.id == contract_id, contract_filter(user)))
    if for_update:
        stmt = stmt.with_for_update(of=Contract)
    contract = session.scalar(stmt)
    if contract is None:
        raise ContractError(404, f"contract {contract_id} not found")
    return contract


def manages_contract(user: User, contract: Contract) -> bool:
    """The owner's department manager (or assistant) of the same sector."""
    return contract.sector_id == user.sector_id and contract.department_id in access.managed_departments(user)


# ---------------------------------------------------------------- validation

def _text(value: Any, field: str, *, required: bool = False) -> str | None:
    value = value.strip() if isinstance(value, str) else value
    if value in (None, ""):
        if required:
            raise ContractError(422, "required", field)
        return None
    if not isinstance(value, str):
        raise ContractError(422, "must be text", field)
    if any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ContractError(422, "contains characters that are not allowed", field)
    if len(value) > LIMITS[field]:
        raise ContractError(422, f"at most {LIMITS[field]} characters", field)
    return value


def _amount(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        raise ContractError(422, "required", field)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except (InvalidOperation, ValueError):
        raise ContractError(422, "enter an amount in CNY, e.g. 120000.00", field) from None
    if not number.is_finite() or number <= 0:
        raise ContractError(422, "must be greater than 0", field)
    if number > MAX_AMOUNT or number.as_tuple().exponent < -2:
        raise ContractError(422, "at most 14 digits and 2 decimal places", field)
    return number


def approved_customer(session: Session, user: User, customer_id: Any) -> Customer:
    """U4: a contract only for a customer that exists in the system, is approved and is visible to the user."""
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or customer_id < 1:
        raise ContractError(422, "required", "customer_id")
    customer = session.scalar(select(Customer).where(and_(Customer.id == customer_id,
                                                          access.customer_filter(user))))
    if customer is None:
        raise ContractError(422, "no such customer in the system (U4: contracts only for registered customers)",
                            "customer_id")
    if customer.owner_id is None:
        raise ContractError(422, "the customer is in the public pool; claim it before entering a contract",
                            "customer_id")
    if customer.status != "approved":
        raise ContractError(422, "the customer is not approved yet; a contract needs an approved customer (U4)",
                            "customer_id")
    return customer


def _links(session: Session, user: User, customer: Customer, opportunity_id: Any, quote_id: Any
           ) -> tuple[int | None, int | None]:
    """An optional opportunity and quote: visible to the user and of the same customer."""
    from models.crm import Quote
    from models.sales import Opportunity

    if opportunity_id is not None:
        opp = session.scalar(select(Opportunity).where(and_(Opportunity.id == opportunity_id,
                                                            access.opportunity_filter(user))))
        if opp is None:
            raise ContractError(422, "no such opportunity", "opportunity_id")
        if opp.customer_id != customer.id:
            raise ContractError(422, "the opportunity belongs to another customer", "opportunity_id")
    if quote_id is not None:
        quote = session.scalar(select(Quote).where(and_(Quote.id == quote_id, access.quote_filter(user))))
        if quote is None:
            raise ContractError(422, "no such quote", "quote_id")
        if quote.customer_id != customer.id:
            raise ContractError(422, "the quote belongs to another customer", "quote_id")
    return opportunity_id, quote_id


def _terms(session: Session, user: User, data: dict[str, Any], customer: Customer) -> dict[str, Any]:
    list_amount = _amount(data.get("list_amount"), "list_amount")
    amount = _amount(data.get("amount"), "amount")
    if amount > list_amount:
        raise ContractError(422, "the contract amount cannot exceed the list amount", "amount")
    kind = data.get("kind") or "product"
    if kind not in CONTRACT_KINDS:
        raise ContractError(422, f"one of {', '.join(CONTRACT_KINDS)}", "kind")
    template = data.get("template") or "standard"
    if template not in CONTRACT_TEMPLATES:
        raise ContractError(422, f"one of {', '.join(CONTRACT_TEMPLATES)}", "template")
    opportunity_id, quote_id = _links(session, user, customer, data.get("opportunity_id"), data.get("quote_id"))
    return {"title": _text(data.get("title"), "title") or customer.name, "kind": kind, "template": template,
            "list_amount": list_amount, "amount": amount, "discount": discount_of(list_amount, amount),
            "terms": _text(data.get("terms"), "terms"), "opportunity_id": opportunity_id, "quote_id": quote_id}


def _snapshot(contract: Contract) -> dict[str, Any]:
    return {"customer_id": contract.customer_id, "title": contract.title, "kind": contract.kind,
            "template": contract.template, "list_amount": str(contract.list_amount), "amount": str(contract.amount),
            "discount": str(contract.discount), "opportunity_id": contract.opportunity_id,
            "quote_id": contract.quote_id, "status": contract.status}


# ---------------------------------------------------------------- operations

def create_contract(session: Session, user: User, data: dict[str, Any]) -> Contract:
    """Enter a contract and mark it submitted (status pending); the caller starts its approval (K1)."""
    if not (user.is_active and user.sector_id and user.role_codes & CONTRACT_ENTRY_ROLES):
        raise ContractError(403, "only salespeople and department managers enter contracts")
    customer = approved_customer(session, user, data.get("customer_id"))
    terms = _terms(session, user, data, customer)
    now = clock.now()
    contract = Contract(
        # unique placeholder until the id is known (see models.quotes)
        number=f"tmp-{uuid4().hex[:24]}", sector_id=customer.sector_id,
        department_id=user.department_id or customer.department_id, customer=customer, owner_id=user.id,
        status="pending", created_at=now, submitted_at=now, updated_at=now, **terms)
    session.add(contract)
    session.flush()
    contract.number = f"HT-{now:%Y}-{contract.id:06d}"
    audit.record(session, actor_id=user.id, action="contract.create", entity_type="contract", entity_id=contract.id,
                 sector_id=contract.sector_id, after=_snapshot(contract) | {"number": contract.number})
    return contract


def update_returned(session: Session, user: User, contract_id: int, data: dict[str, Any]) -> Contract:
    """The owner changes a contract that approval returned to him (before he resubmits it)."""
    contract = visible_contract(session, user, contract_id, for_update=True)
    if contract.owner_id != user.id:
        raise ContractError(403, "only the contract's owner changes it")
    if contract.status not in EDITABLE_STATUSES:
        raise ContractError(409, "a contract can be changed only while it is returned to you")
    merged = _snapshot(contract) | {"terms": contract.terms}
    merged.update({k: v for k, v in data.items() if k in (
        "title", "kind", "template", "list_amount", "amount", "terms", "opportunity_id", "quote_id")})
    if "customer_id" in data and data["customer_id"] != contract.customer_id:
        raise ContractError(422, "the customer of a contract cannot change; enter a new contract", "customer_id")
    customer = approved_customer(session, user, contract.customer_id)
    terms = _terms(session, user, merged, customer)
    before = _snapshot(contract)
    for key, value in terms.items():
        setattr(contract, key, value)
    contract.updated_at = clock.now()
    audit.record(session, actor_id=user.id, action="contract.update", entity_type="contract", entity_id=contract.id,
                 sector_id=contract.sector_id, before=before, after=_snapshot(contract))
    return contract


def set_status(session: Session, contract: Contract, status: str, actor_id: int | None,
               instance_id: int | None = None) -> Contract:
    """The approval's status changes (idempotent: a replayed step changes nothing, and writes no audit)."""
    if status not in CONTRACT_STATUSES:
        raise ValueError(f"unknown contract status {status!r}")
    before = contract.status
    if before == status:
        return contract
    contract.status = status
    now = clock.now()
    contract.updated_at = now
    if status in ("approved", "rejected"):
        contract.decided_at = now
    elif status == "pending":
        contract.submitted_at, contract.decided_at = now, None
    audit.record(session, actor_id=actor_id, action="contract.status", entity_type="contract", entity_id=contract.id,
                 sector_id=contract.sector_id, before={"status": before},
                 after={"status": status, "process_instance_id": instance_id})
    return contract


def sign_contract(session: Session, user: User, contract_id: int, signed_on: date) -> Contract:
    """After approval the owner (or his department manager) records the day the contract was signed."""
    contract = visible_contract(session, user, contract_id, for_update=True)
    if contract.owner_id != user.id and not manages_contract(user, contract):
        raise ContractError(403, "only the owner or his department manager records the signature")
    if contract.status == "signed":
        raise ContractError(409, "the contract is already signed")
    if contract.status != "approved":
        raise ContractError(409, "only an approved contract can be signed (K1)")
    if not isinstance(signed_on, date):
        raise ContractError(422, "required", "signed_on")
    today = clock.now().date()
    if signed_on > today:
        raise ContractError(422, "the signing date cannot be in the future", "signed_on")
    if signed_on < contract.created_at.date():
        raise ContractError(422, "the signing date cannot be before the contract was entered", "signed_on")
    contract.status, contract.signed_on, contract.signed_by = "signed", signed_on, user.id
    contract.updated_at = clock.now()
    audit.record(session, actor_id=user.id, action="contract.sign", entity_type="contract", entity_id=contract.id,
                 sector_id=contract.sector_id, before={"status": "approved"},
                 after={"status": "signed", "signed_on": signed_on.isoformat()})
    return contract


# ---------------------------------------------------------------- lists

@dataclass
class ContractQuery:
    q: str | None = None
    status: str | None = None
    mine: bool = False
    limit: int = 50
    offset: int = 0


def list_contracts(session: Session, user: User, query: ContractQuery) -> list[Contract]:
    conds = [contract_filter(user)]
    if query.status:
        conds.append(Contract.status == query.status)
    if query.mine:
        conds.append(Contract.owner_id == user.id)
    if query.q:
        like = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(or_(Contract.number.ilike(like, escape="\\"), Contract.title.ilike(like, escape="\\"),
                         Contract.customer_id.in_(select(Customer.id).where(
                             Customer.name.ilike(like, escape="\\"), Customer.sector_id == Contract.sector_id))))
    return list(session.scalars(select(Contract).where(and_(*conds))
                                .order_by(Contract.created_at.desc(), Contract.id.desc())
                                .limit(query.limit).offset(query.offset)))
