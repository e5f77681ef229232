"""CRM records. Issue 2 needs customers (as quote subjects) and quotes; issue 3 extends this room."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import clock
from models.base import Base, JSONType

CUSTOMER_STATUSES = ("pending", "approved", "returned")
QUOTE_STATUSES = ("draft", "pending", "approved", "rejected", "withdrawn")


CUSTOMER_KINDS = ("direct", "agent", "joint_venture", "end_customer")


class Customer(Base):
    """A company (C1: identified by its normalised registered name and its credit code, per sector)."""

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_sector_owner", "sector_id", "owner_id"),
        UniqueConstraint("sector_id", "name_normalized"),
        Index("uq_customer_sector_credit_code", "sector_id", "credit_code", unique=True,
              postgresql_where=text("credit_code IS NOT NULL"), sqlite_where=text("credit_code IS NOT NULL")),
        Index("ix_customer_sector_pinyin", "sector_id", "pinyin_initials"),
        Index("ix_customer_sector_phone", "sector_id", "phone"),
        # the public-pool sweep: owned customers by last contact
        Index("ix_customer_pool_sweep", "owner_id", "last_contact_at",
              postgresql_include=["sector_id", "grade"]),  # + the grades report, index-only (0014)
        # reports: a month of new customers, index-only for every scope (migration 0014)
        Index("ix_customer_created_report", "created_at", postgresql_include=["sector_id", "created_by"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))  # None: in the public pool
    name: Mapped[str] = mapped_column(String(200))
    name_normalized: Mapped[str] = mapped_column(String(200))
    pinyin_initials: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(20), default="direct")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))  # an agent's end customer
    status: Mapped[str] = mapped_column(String(20), default="pending")
    grade: Mapped[str | None] = mapped_column(String(10))
    region: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    # E5: company details completed by customer service after a win
    company_details: Mapped[Any | None] = mapped_column(JSONType)
    details_completed_at: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None]  # E3: entered within 7 (at most 10) days of this
    late_entry: Mapped[bool] = mapped_column(default=False)
    last_contact_at: Mapped[datetime | None]  # T1: days since last contact
    pool_since: Mapped[datetime | None]
    review_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it as is)


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (Index("ix_contact_sector_phone", "sector_id", "mobile"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PoolMove(Base):
    """A customer moved to the public pool (T2); sales management can undo it."""

    __tablename__ = "pool_move"
    __table_args__ = (Index("ix_pool_move_customer", "customer_id", "moved_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    from_owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str] = mapped_column(String(40))  # inactive | returned | account_closed
    moved_at: Mapped[datetime] = mapped_column(default=clock.now)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class RecordShare(Base):
    """A record shared with a collaborator (O3: own records plus those shared with him)."""

    __tablename__ = "record_share"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "user_id"),
                      Index("ix_record_share_user", "user_id", "entity_type"))
    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ConflictCase(Base):
    """C2: ownership dispute decided by sales management: keep, transfer or follow jointly."""

    __tablename__ = "conflict_case"
    __table_args__ = (Index("ix_conflict_case_sector_status", "sector_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    opened_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    claimant_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | decided
    decision: Mapped[str | None] = mapped_column(String(20))  # keep | transfer | joint
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None]
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


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
