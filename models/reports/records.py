"""Rows the reports read besides the CRM records: stage moves, logins, monthly snapshots and the ranking."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import clock
from models.base import Base, JSONType
from models.sales import Opportunity, OpportunityStage


class OpportunityStageChange(Base):
    """One stage move of an opportunity (funnel progress, P1); `forward` when it moved to a later open stage or
    to won."""

    __tablename__ = "opportunity_stage_change"
    __table_args__ = (
        Index("ix_stage_change_sector_at", "sector_id", "changed_at"),
        Index("ix_stage_change_owner_at", "owner_id", "changed_at"),
        # a month's forward moves, index-only for every scope (migration 0014)
        Index("ix_stage_change_report", "changed_at", postgresql_include=["sector_id", "owner_id", "forward"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id"), index=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    from_code: Mapped[str | None] = mapped_column(String(40))
    to_code: Mapped[str] = mapped_column(String(40))
    forward: Mapped[bool] = mapped_column(default=False)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime] = mapped_column(default=clock.now)


class LoginEvent(Base):
    """A successful interactive login (A3 usage statistics)."""

    __tablename__ = "login_event"
    __table_args__ = (
        Index("ix_login_event_sector_at", "sector_id", "at"),
        Index("ix_login_event_user_at", "user_id", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    at: Mapped[datetime] = mapped_column(default=clock.now)


class ReportMonthStat(Base):
    """A closed month's figures per user (snapshot written by the `monthly-stats` job); open months are computed
    live by the same query."""

    __tablename__ = "report_month_stat"
    __table_args__ = (
        UniqueConstraint("month", "user_id"),
        Index("ix_report_month_stat_scope", "month", "sector_id", "department_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date]
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    is_agent: Mapped[bool] = mapped_column(default=False)
    new_customers: Mapped[int] = mapped_column(default=0)
    new_opportunities: Mapped[int] = mapped_column(default=0)
    phone_visits: Mapped[int] = mapped_column(default=0)
    activities: Mapped[int] = mapped_column(default=0)
    opportunity_activities: Mapped[int] = mapped_column(default=0)
    stage_advances: Mapped[int] = mapped_column(default=0)
    opportunity_value: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    contract_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    collected: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    logins: Mapped[int] = mapped_column(default=0)
    records_entered: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=clock.now)


class RepRanking(Base):
    """P1: one rep's place in his sector's monthly ranking (reps and agents ranked separately)."""

    __tablename__ = "rep_ranking"
    __table_args__ = (
        UniqueConstraint("month", "sector_id", "user_id"),
        Index("ix_rep_ranking_user_month", "user_id", "month"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date]
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    rank_group: Mapped[str] = mapped_column(String(10))  # rep | agent
    qualified: Mapped[bool] = mapped_column(default=False)  # met the entry thresholds
    score: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    rank: Mapped[int | None]
    mark: Mapped[str | None] = mapped_column(String(10))  # top | bottom | None
    value_rank: Mapped[int | None]  # P4: place by customer value + opportunity value
    presales_priority: Mapped[bool] = mapped_column(default=False)  # P4
    routing_priority: Mapped[bool] = mapped_column(default=False)  # P2: top of the month
    lost_lead_rights: Mapped[bool] = mapped_column(default=False)  # P2: bottom N months in a row
    rules: Mapped[Any | None] = mapped_column(JSONType)  # thresholds, sizes and weights the month was closed with
    computed_at: Mapped[datetime] = mapped_column(default=clock.now)


def record_stage_move(session: Session, opp: Opportunity, old: OpportunityStage | None, new: OpportunityStage,
                      actor_id: int | None) -> None:
    """Funnel figures (A2, P1): keep the move and raise the furthest stage the opportunity reached (lost is
    not progress)."""
    if new.outcome != "lost":
        opp.furthest_position = max(opp.furthest_position or 0, new.position)
    forward = old is not None and new.outcome != "lost" and new.position > old.position
    session.add(OpportunityStageChange(opportunity_id=opp.id, sector_id=opp.sector_id, owner_id=opp.owner_id,
                                       from_code=old.code if old else None, to_code=new.code, forward=forward,
                                       changed_by=actor_id, changed_at=clock.now()))
