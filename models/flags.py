"""Flags raised by the policy's checks (E3 late entry, U3 missing activity, P3 late follow-up)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import clock
from models.base import Base

FLAG_KINDS = (
    "late_entry",              # E3
    "rep_no_weekly_activity",  # U3
    "lead_no_monthly_activity",  # U3
    "opportunity_no_monthly_activity",  # U3
    "lead_not_followed_up",    # P3
    "late_closure",            # F2 opportunity closed (or still open) after its one-working-day limit
)


class Flag(Base):
    __tablename__ = "flag"
    __table_args__ = (
        # one flag per thing per period: jobs can run twice, or on several workers, safely
        UniqueConstraint("kind", "entity_type", "entity_id", "period"),
        Index("ix_flag_user_open", "user_id", "resolved_at"),
        Index("ix_flag_sector_kind", "sector_id", "kind", "period"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    kind: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    period: Mapped[date]
    raised_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
