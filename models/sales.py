"""Leads, opportunities, stages, activities and attachments (policy L1, F1, U3, E4)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models import clock
from models.base import Base, JSONType

LEAD_SOURCES = ("phone", "website", "online_consultation")
LEAD_STATUSES = ("new", "kept", "discarded", "assigned", "following", "converted", "closed")
ACTIVITY_KINDS = ("visit", "call", "email", "meeting", "other")
OPPORTUNITY_STATUSES = ("open", "won", "lost")

# F1 default stages (code, zh, en, win probability %); each sector may change its list.
DEFAULT_STAGES = (
    ("lead", "线索", "Lead", 5),
    ("follow_up", "跟进", "Follow-up", 10),
    ("needs_confirmed", "需求确认", "Needs confirmed", 20),
    ("solution", "方案", "Solution", 40),
    ("tender_published", "招标公告", "Tender published", 50),
    ("bid", "投标", "Bid", 60),
    ("signing", "签约", "Signing", 80),
    ("won", "赢单", "Won", 100),
    ("lost", "输单", "Lost", 0),
)


class Lead(Base):
    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_sector_status", "sector_id", "status"),
        Index("ix_lead_owner_activity", "owner_id", "last_activity_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    company_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="new")
    discard_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    follow_up_due_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class OpportunityStage(Base):
    __tablename__ = "opportunity_stage"
    __table_args__ = (UniqueConstraint("sector_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    probability: Mapped[int]
    position: Mapped[int]
    outcome: Mapped[str | None] = mapped_column(String(10))  # won | lost | None (open stage)


class Opportunity(Base):
    __tablename__ = "opportunity"
    __table_args__ = (
        Index("ix_opportunity_sector_stage", "sector_id", "stage_code"),
        Index("ix_opportunity_owner_activity", "owner_id", "last_activity_at",  # + funnel, pipeline (0014)
              postgresql_include=["sector_id", "status", "stage_code", "furthest_position", "expected_sign_date",
                                  "amount"]),
        # reports: a month of new opportunities, index-only for every scope (migration 0014)
        Index("ix_opportunity_created_report", "created_at",
              postgresql_include=["sector_id", "owner_id", "created_by", "amount"]),
        # reports: the scope's open opportunities by id (contact frequency), index-only (migration 0016)
        Index("ix_opportunity_open_owner", "sector_id", "owner_id", "id",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    name: Mapped[str] = mapped_column(String(200))
    stage_code: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    win_probability: Mapped[int]
    expected_sign_date: Mapped[date | None]
    competitors: Mapped[Any | None] = mapped_column(JSONType)  # list of names
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    # funnel conversion (A2): the furthest open or won stage position it ever reached
    furthest_position: Mapped[int | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it as is)


class SignDateChange(Base):
    """F1: every change of an opportunity's expected signing date is kept."""

    __tablename__ = "sign_date_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id"), index=True)
    old_date: Mapped[date | None]
    new_date: Mapped[date | None]
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime] = mapped_column(default=clock.now)


class Activity(Base):
    """A visit, call, email, meeting… against a lead, customer or opportunity."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_owner_at", "owner_id", "occurred_at"),
        Index("ix_activity_customer", "customer_id", "occurred_at"),
        Index("ix_activity_opportunity", "opportunity_id", "occurred_at"),
        Index("ix_activity_lead", "lead_id", "occurred_at"),
        # reports: a month of activities (logged / entered), index-only for every scope (migration 0014)
        Index("ix_activity_occurred_report", "occurred_at",
              postgresql_include=["sector_id", "owner_id", "kind", "opportunity_id"]),
        Index("ix_activity_created_report", "created_at", postgresql_include=["sector_id", "owner_id"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunity.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Attachment(Base):
    """A file on a record (opportunity attachments per stage, F1). Bytes live under instance/attachments."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    stage_code: Mapped[str | None] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)
