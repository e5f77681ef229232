"""Settings that administrators change without code (the policy's *configurable* numbers).

A value set for a sector wins over the group-wide value, which wins over the default here.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import audit
from models.base import Base, JSONType

DEFAULTS: dict[str, Any] = {
    "customer.warn_days": 30,            # T2 first warning
    "customer.strong_warn_days": 60,     # T2 stronger warning
    "customer.pool_days": 90,            # T2 moved to the public pool
    "pool.claim_limit": 20,              # T3 customers one rep may hold from the pool per month
    "customer.entry_days": 7,            # E3 entered within 7 days of first contact …
    "customer.entry_max_days": 10,       # … 10 at most
    "activity.rep_week_min": 1,          # U3 activities per rep per week
    "activity.record_month_days": 30,    # U3 every lead / opportunity needs one activity per month
    "lead.follow_up_days": 3,            # P3 a routed lead is followed up within this many days
    "lead.rights_flag_limit": 3,         # P3 this many late follow-ups …
    "lead.rights_window_days": 90,       # … within this many days remove the rep's lead rights
    "task.urge_interval_hours": 1,       # 催办: at most one urge per task within this many hours
    "task.remind_hours_before": 24,      # a task due within this many hours reminds whoever can act
    "account.submit_working_days": 1,    # O5 account changes submitted within this many working days
    "special_price.maintained_days": 90,  # U6 an agent's / JV's customer records maintained within this many days
    "ranking.min_new_customers": 20,     # P1 entry threshold: new customers in the month …
    "ranking.min_new_opportunities": 5,  # … and new opportunities
    "ranking.weights": {                 # P1 score weights (each figure relative to the month's best)
        "new_customers": 15, "new_opportunities": 15, "phone_visits": 10,
        "customer_value": 25, "opportunity_value": 20, "stage_advances": 15},
    "ranking.top_n": 3,                  # P2 routing priority: top 3 reps …
    "ranking.agent_top_n": 10,           # … top 10 agents
    "ranking.bottom_n": 3,               # P2 the bottom 3 reps …
    "ranking.agent_bottom_n": 10,        # … bottom 10 agents …
    "ranking.bottom_months": 3,          # … this many months in a row lose lead rights
    "ranking.presales_n": 5,             # P4 top 5 reps by value get presales priority …
    "ranking.agent_presales_n": 10,      # … top 10 agents
    "login.alert_days": 14,              # U1 not logged in this many days: flagged to manager and sales management
    "login.travel_days": 3,              # U1 traveling staff log in at least every 3 days
}


class Setting(Base):
    __tablename__ = "setting"
    __table_args__ = (UniqueConstraint("key", "sector_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    value: Mapped[Any] = mapped_column(JSONType)


def get(session: Session, key: str, sector_id: int | None = None) -> Any:
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    rows = session.execute(select(Setting.sector_id, Setting.value).where(
        Setting.key == key, (Setting.sector_id == sector_id) | Setting.sector_id.is_(None))).all()
    by_scope = {sid: value for sid, value in rows}
    if sector_id is not None and sector_id in by_scope:
        return by_scope[sector_id]
    return by_scope.get(None, DEFAULTS[key])


def put(session: Session, key: str, value: Any, *, sector_id: int | None, actor_id: int | None) -> None:
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    row = session.scalar(select(Setting).where(Setting.key == key, Setting.sector_id.is_(sector_id)
                                               if sector_id is None else Setting.sector_id == sector_id))
    before = row.value if row else None
    if row is None:
        row = Setting(key=key, sector_id=sector_id, value=value)
        session.add(row)
    else:
        row.value = value
    audit.record(session, actor_id=actor_id, action="setting.put", entity_type="setting", entity_id=key,
                 sector_id=sector_id, before={"value": before}, after={"value": value})
