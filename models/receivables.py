"""Receivables (应收款) and collections (回款), policy R1: finance records invoices and collections against
contracts; every month finance lists the receivables per department and hands them to sales management.

The monthly list is one set-based query (GROUP BY contract), never a Python loop over rows. Figures are
as of the month's last day: contracted (the contract amount), invoiced (invoices issued by then),
collected (collections received by then), outstanding (contracted − collected) and overdue (what is not
collected of the invoices whose due date had passed by the month's end; a collection tied to an invoice
covers that invoice, the others cover the oldest invoices first, so overdue = max(0, Σ uncovered part of
each past-due invoice − untied collections)).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    and_,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import access, audit, clock
from models.base import Base
from models.contracts import EFFECTIVE_STATUSES, Contract, ContractError, contract_filter, visible_contract
from models.crm import Customer
from models.org import Department, User

# Finance records invoices and collections (R1).
RECORDING_ROLES = {"finance"}
ZERO = Decimal("0.00")


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("sector_id", "number"),
        Index("ix_invoice_department_due", "sector_id", "department_id", "due_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    number: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Collection(Base):
    __tablename__ = "collection"
    __table_args__ = (Index("ix_collection_department_received", "sector_id", "department_id", "received_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    received_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


# ---------------------------------------------------------------- recording

def may_record(user: User) -> bool:
    return bool(user.is_active and user.role_codes & RECORDING_ROLES)


def _recordable_contract(session: Session, user: User, contract_id: int) -> Contract:
    """Visible (else 404), recorded by finance (else 403), an approved or signed contract (else 422);
    the contract row is locked so that two collections cannot both pass the 'owed' check."""
    contract = visible_contract(session, user, contract_id, for_update=True)
    if not may_record(user):
        raise ContractError(403, "only finance records invoices and collections (R1)")
    if contract.status not in EFFECTIVE_STATUSES:
        raise ContractError(422, "invoices and collections are recorded only against approved or signed contracts",
                            "contract_id")
    return contract


def _positive(amount: Decimal | None, field: str = "amount") -> Decimal:
    if amount is None:
        raise ContractError(422, "required", field)
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ContractError(422, "must be greater than 0", field)
    if amount.as_tuple().exponent < -2:
        raise ContractError(422, "at most 2 decimal places (CNY cents)", field)
    return amount


def _sum(session: Session, column, *conds) -> Decimal:
    return Decimal(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*conds)) or 0)


def record_invoice(session: Session, user: User, contract_id: int, *, number: str, amount: Decimal,
                   issued_on: date, due_on: date) -> Invoice:
    contract = _recordable_contract(session, user, contract_id)
    amount = _positive(amount)
    number = (number or "").strip()
    if not number:
        raise ContractError(422, "required", "number")
    if due_on < issued_on:
        raise ContractError(422, "the due date cannot be before the issue date", "due_on")
    invoiced = _sum(session, Invoice.amount, Invoice.contract_id == contract.id)
    if invoiced + amount > contract.amount:
        raise ContractError(422, f"invoices would exceed the contract amount (already invoiced ¥{invoiced:,.2f} of "
                                 f"¥{contract.amount:,.2f})", "amount")
    if session.scalar(select(Invoice.id).where(Invoice.sector_id == contract.sector_id, Invoice.number == number)):
        raise ContractError(422, "an invoice with this number is already recorded", "number")
    invoice = Invoice(contract_id=contract.id, sector_id=contract.sector_id, department_id=contract.department_id,
                      number=number, amount=amount, issued_on=issued_on, due_on=due_on, created_by=user.id,
                      created_at=clock.now())
    session.add(invoice)
    session.flush()
    audit.record(session, actor_id=user.id, action="invoice.create", entity_type="invoice", entity_id=invoice.id,
                 sector_id=contract.sector_id, after={"contract_id": contract.id, "number": number,
                                                      "amount": str(amount), "issued_on": issued_on.isoformat(),
                                                      "due_on": due_on.isoformat()})
    return invoice


def record_collection(session: Session, user: User, contract_id: int, *, amount: Decimal, received_on: date,
                      invoice_id: int | None = None, note: str | None = None) -> Collection:
    """A collection; refused (422) above what the contract (and the named invoice) still owes."""
    contract = _recordable_contract(session, user, contract_id)
    amount = _positive(amount)
    if received_on > clock.now().date():
        raise ContractError(422, "the date received cannot be in the future", "received_on")
    collected = _sum(session, Collection.amount, Collection.contract_id == contract.id)
    owed = contract.amount - collected
    if amount > owed:
        raise ContractError(422, f"more than the contract still owes (¥{owed:,.2f})", "amount")
    if invoice_id is not None:
        invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id, Invoice.contract_id == contract.id))
        if invoice is None:
            raise ContractError(422, "no such invoice on this contract", "invoice_id")
        open_on_invoice = invoice.amount - _sum(session, Collection.amount, Collection.invoice_id == invoice.id)
        if amount > open_on_invoice:
            raise ContractError(422, f"more than the invoice still owes (¥{open_on_invoice:,.2f})", "amount")
    row = Collection(contract_id=contract.id, invoice_id=invoice_id, sector_id=contract.sector_id,
                     department_id=contract.department_id, amount=amount, received_on=received_on,
                     note=(note or "").strip()[:300] or None, created_by=user.id, created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor_id=user.id, action="collection.create", entity_type="collection", entity_id=row.id,
                 sector_id=contract.sector_id, after={"contract_id": contract.id, "invoice_id": invoice_id,
                                                      "amount": str(amount), "received_on": received_on.isoformat()})
    return row


def contract_ledger(session: Session, contract: Contract) -> tuple[list[Invoice], list[Collection]]:
    invoices = list(session.scalars(select(Invoice).where(Invoice.contract_id == contract.id)
                                    .order_by(Invoice.issued_on, Invoice.id)))
    collections = list(session.scalars(select(Collection).where(Collection.contract_id == contract.id)
                                       .order_by(Collection.received_on, Collection.id)))
    return invoices, collections


# ---------------------------------------------------------------- the monthly list

def month_bounds(month: str) -> tuple[date, date]:
    """'2026-11' → (2026-11-01, 2026-11-30); ContractError 422 naming `month` otherwise."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        first = date(year, mon, 1)
    except (ValueError, TypeError, AttributeError):
        raise ContractError(422, "a month like 2026-11", "month") from None
    if not 2000 <= year <= 2099:
        raise ContractError(422, "a month like 2026-11", "month")
    return first, date(year, mon, calendar.monthrange(year, mon)[1])


def current_month() -> str:
    return f"{clock.now():%Y-%m}"


@dataclass
class ReceivableRow:
    contract_id: int
    number: str
    title: str
    customer_name: str
    owner_id: int
    owner_name: str | None
    department_id: int | None
    department_name: str | None
    sector_id: int
    status: str
    signed_on: date | None
    contracted: Decimal
    invoiced: Decimal
    collected: Decimal
    outstanding: Decimal
    overdue: Decimal


def receivables(session: Session, user: User, month: str, department_id: int | None = None) -> list[ReceivableRow]:
    """R1: per contract visible to `user` (finance and sales management: the sector; a manager: his
    department; a rep: his own), effective by the month's end, the figures as of that day. Set-based."""
    _first, end = month_bounds(month)
    if department_id is not None and not access.sees_all_sectors(user):
        department = session.get(Department, department_id)
        if department is None or department.sector_id != user.sector_id:
            raise ContractError(404, f"department {department_id} not found")
    money = Numeric(16, 2)
    inv = (select(Invoice.contract_id, func.sum(Invoice.amount).label("invoiced"))
           .where(Invoice.issued_on <= end).group_by(Invoice.contract_id).subquery())
    col = (select(Collection.contract_id, func.sum(Collection.amount).label("collected"),
                  func.sum(case((Collection.invoice_id.is_(None), Collection.amount), else_=0)).label("untied"))
           .where(Collection.received_on <= end).group_by(Collection.contract_id).subquery())
    tied = (select(Collection.invoice_id, func.sum(Collection.amount).label("paid"))
            .where(Collection.received_on <= end, Collection.invoice_id.is_not(None))
            .group_by(Collection.invoice_id).subquery())
    uncovered = Invoice.amount - func.coalesce(tied.c.paid, 0)
    past_due = (select(Invoice.contract_id,
                       func.sum(case((uncovered > 0, uncovered), else_=0)).label("due_open"))
                .outerjoin(tied, tied.c.invoice_id == Invoice.id)
                .where(Invoice.issued_on <= end, Invoice.due_on < end)
                .group_by(Invoice.contract_id).subquery())
    invoiced = func.coalesce(inv.c.invoiced, 0)
    collected = func.coalesce(col.c.collected, 0)
    overdue_raw = func.coalesce(past_due.c.due_open, 0) - func.coalesce(col.c.untied, 0)
    conds = [contract_filter(user), Contract.status.in_(EFFECTIVE_STATUSES),
             Contract.decided_at.is_not(None), Contract.decided_at < datetime.combine(end + timedelta(days=1), time.min)]
    if department_id is not None:
        conds.append(Contract.department_id == department_id)
    stmt = (select(Contract.id, Contract.number, Contract.title, Customer.name, Contract.owner_id, User.display_name,
                   Contract.department_id, Department.name, Contract.sector_id, Contract.status, Contract.signed_on,
                   Contract.amount.label("contracted"), invoiced.label("invoiced"), collected.label("collected"),
                   (Contract.amount - collected).label("outstanding"),
                   case((overdue_raw > 0, overdue_raw), else_=literal(0, money)).label("overdue"))
            .join(Customer, Customer.id == Contract.customer_id)
            .outerjoin(User, User.id == Contract.owner_id)
            .outerjoin(Department, Department.id == Contract.department_id)
            .outerjoin(inv, inv.c.contract_id == Contract.id)
            .outerjoin(col, col.c.contract_id == Contract.id)
            .outerjoin(past_due, past_due.c.contract_id == Contract.id)
            .where(and_(*conds))
            .order_by(Department.name, Contract.number))
    return [ReceivableRow(*(r[:11]), *(_money(v) for v in r[11:])) for r in session.execute(stmt)]


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def totals(rows: list[ReceivableRow]) -> dict[str, Decimal]:
    keys = ("contracted", "invoiced", "collected", "outstanding", "overdue")
    return {k: sum((getattr(r, k) for r in rows), ZERO) for k in keys}


def departments_for(session: Session, user: User) -> list[Department]:
    """The departments the user may pick: his sector's (sector-wide roles, finance), his managed ones, or his own."""
    if access.sees_all_sectors(user):
        return list(session.scalars(select(Department).order_by(Department.sector_id, Department.name)))
    if access.sees_whole_sector(user) or user.role_codes & RECORDING_ROLES:
        return list(session.scalars(select(Department).where(Department.sector_id == user.sector_id)
                                    .order_by(Department.name)))
    ids = set(access.managed_departments(user)) | ({user.department_id} if user.department_id else set())
    return list(session.scalars(select(Department).where(Department.id.in_(ids)).order_by(Department.name)))


# ---------------------------------------------------------------- export

HEADERS = ["合同编号", "合同名称", "客户", "负责人", "部门", "状态", "签约日期", "合同金额", "已开票", "已回款", "未回款",
           "逾期"]
WIDTHS = [18, 30, 30, 10, 16, 8, 12, 16, 16, 16, 16, 16]
STATUS_ZH = {"approved": "已批准", "signed": "已签约", "closed": "已关闭"}


def export_receivables(session: Session, user: User, month: str, department_id: int | None, out: IO[bytes]) -> int:
    """The monthly list as .xlsx, only for users allowed to export (O6); audited."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from engine.errors import Forbidden
    from models.data_export import may_export

    if not may_export(user):
        raise Forbidden("you are not allowed to export (O6)")
    rows = receivables(session, user, month, department_id)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"应收款 {month}")
    for idx, width in enumerate(WIDTHS):
        ws.column_dimensions[chr(ord("A") + idx)].width = width
    ws.append(HEADERS)

    def cell(value):
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # never a formula
        return c

    for r in rows:
        ws.append([cell(v) for v in (
            r.number, r.title, r.customer_name, r.owner_name or "", r.department_name or "",
            STATUS_ZH.get(r.status, r.status), r.signed_on.isoformat() if r.signed_on else "",
            float(r.contracted), float(r.invoiced), float(r.collected), float(r.outstanding), float(r.overdue))])
    t = totals(rows)
    ws.append([cell("合计"), *[cell("") for _ in range(6)], *[cell(float(t[k])) for k in (
        "contracted", "invoiced", "collected", "outstanding", "overdue")]])
    wb.save(out)
    audit.record(session, actor_id=user.id, action="export", entity_type="receivable",
                 entity_id=f"receivables-{month}.xlsx", sector_id=user.sector_id,
                 after={"count": len(rows), "month": month, "department_id": department_id})
    return len(rows)
