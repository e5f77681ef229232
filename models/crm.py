"""CRM records. Issue 2 needs customers (as quote subjects) and quotes; issue 3 extends this room."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import clock
from models.base import Base

CUSTOMER_STATUSES = ("pending", "approved", "returned")
QUOTE_STATUSES = ("draft", "pending", "approved", "rejected", "withdrawn")


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_sector_owner", "sector_id", "owner_id"),
        Index("ix_customer_sector_name", "sector_id", "name_normalized"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    name: Mapped[str] = mapped_column(String(200))
    name_normalized: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="direct")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    region: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Quote(Base):
    __tablename__ = "quote"
    __table_args__ = (
        Index("ix_quote_owner_created", "owner_id", "created_at"),
        Index("ix_quote_sector_status", "sector_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    title: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[str | None] = mapped_column(String(200))
    list_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    quote_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    # price ÷ list price, 6 decimals cut down: 0.450000 is 4.5折
    discount: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(lazy="joined")
