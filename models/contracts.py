"""Contracts (合同): the record that contract approval (K1, U4) decides and execution orders (X1),
implementation orders (I1) and receivables (R1) hang off.

The table is shared groundwork; the operations on contracts live beside it in this module.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import clock
from models.base import Base
from models.crm import Customer

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

    customer: Mapped[Customer] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
