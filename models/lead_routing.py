"""Lead routing table (L3) and routing priority (L4, P2): data that business staff maintain, not code.

A rule says: leads of this sector whose region and industry match (blank = any) go to a target user or to
a department (team). Rules are tried in `position` order; the first rule that yields an eligible rep wins.
Within a department: reps with routing priority this month first (lowest rank), then the rep with the fewest
open routed leads, then the lowest id. Never a user who lost lead rights, is not active, is not a sales rep
or belongs to another sector. No rule yields a rep → None, and the process hands the lead back to the
business manager.

Routing priority: one row per (sector, month, user) with a rank; sales management sets it by hand now, the
monthly ranking job (P2, issue 6) writes the same rows later.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import audit, clock
from models.base import Base
from models.errors import DomainError
from models.org import Department, Sector, User, UserRole
from models.sales import Lead

SALES_ROLES = {"sales_rep", "channel_rep"}
RULE_EDITORS = {"business_manager", "sales_mgmt_manager"}  # who maintains the routing table of the sector
PRIORITY_EDITORS = {"sales_mgmt_manager"}  # who sets routing priority by hand (P2 job later)
OPEN_ROUTED = ("assigned", "following")


class LeadRoutingRule(Base):
    __tablename__ = "lead_routing_rule"
    __table_args__ = (Index("ix_lead_routing_rule_sector_active", "sector_id", "active", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    region: Mapped[str | None] = mapped_column(String(60))  # None = any region
    industry: Mapped[str | None] = mapped_column(String(60))  # None = any industry
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    target_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    position: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class RoutingPriority(Base):
    """L4/P2: reps with routing priority in a month (rank 1 first)."""

    __tablename__ = "routing_priority"
    __table_args__ = (UniqueConstraint("sector_id", "month", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    month: Mapped[date]  # first day of the month
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    rank: Mapped[int]
    source: Mapped[str] = mapped_column(String(20), default="manual")  # manual | ranking (P2 job)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    set_at: Mapped[datetime] = mapped_column(default=clock.now)


# ---- errors -----------------------------------------------------------------------------------------------------
class RoutingError(DomainError):
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


class Refused(RoutingError):
    status = 422


class NotAllowed(RoutingError):
    status = 403


class NotVisible(RoutingError):
    status = 404


# ---- who may receive routed leads ---------------------------------------------------------------------------------
def eligible_filter(sector_id: int):
    """SQL: active sales reps of the sector who keep their lead rights (L4)."""
    return and_(User.sector_id == sector_id, User.status == "active", User.lead_rights.is_(True),
                exists().where(UserRole.user_id == User.id, UserRole.role_code.in_(SALES_ROLES)))


def eligibility_error(session: Session, sector_id: int, user_id: Any) -> str | None:
    """Why this user may not receive a routed lead of the sector (None: he may)."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return "required"
    user = session.get(User, user_id)
    if user is None or user.sector_id != sector_id or not user.is_active:
        return "no such sales rep in this sector"
    if not user.role_codes & SALES_ROLES:
        return "the owner must be a sales rep"
    if not user.lead_rights:
        return "this rep has lost lead rights (L4)"
    return None


def month_of(when: datetime | date) -> date:
    return date(when.year, when.month, 1)


def priority_ranks(session: Session, sector_id: int, month: date) -> dict[int, int]:
    return dict(session.execute(select(RoutingPriority.user_id, RoutingPriority.rank).where(
        RoutingPriority.sector_id == sector_id, RoutingPriority.month == month)).all())


def _open_routed(session: Session, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    return dict(session.execute(select(Lead.owner_id, func.count()).where(
        Lead.owner_id.in_(user_ids), Lead.status.in_(OPEN_ROUTED)).group_by(Lead.owner_id)).all())


def rules(session: Session, sector_id: int, *, active_only: bool = False) -> list[LeadRoutingRule]:
    stmt = select(LeadRoutingRule).where(LeadRoutingRule.sector_id == sector_id)
    if active_only:
        stmt = stmt.where(LeadRoutingRule.active.is_(True))
    return list(session.scalars(stmt.order_by(LeadRoutingRule.position, LeadRoutingRule.id)))


def matching_rules(session: Session, sector_id: int, region: str | None, industry: str | None):
    """Active rules of the sector that match region × industry (a blank rule cell matches anything)."""
    stmt = select(LeadRoutingRule).where(
        LeadRoutingRule.sector_id == sector_id, LeadRoutingRule.active.is_(True),
        or_(LeadRoutingRule.region.is_(None), LeadRoutingRule.region == (region or "")),
        or_(LeadRoutingRule.industry.is_(None), LeadRoutingRule.industry == (industry or "")))
    return list(session.scalars(stmt.order_by(LeadRoutingRule.position, LeadRoutingRule.id)))


def pick_assignee(session: Session, sector_id: int, region: str | None, industry: str | None,
                  *, as_of: datetime | None = None) -> tuple[int | None, int | None]:
    """(user id, rule id) for a lead of this sector, region and industry; (None, None) when nothing matches."""
    ranks = priority_ranks(session, sector_id, month_of(as_of or clock.now()))
    for rule in matching_rules(session, sector_id, region, industry):
        stmt = select(User.id).where(eligible_filter(sector_id))
        if rule.target_user_id is not None:
            stmt = stmt.where(User.id == rule.target_user_id)
        elif rule.target_department_id is not None:
            stmt = stmt.where(User.department_id == rule.target_department_id)
        else:
            continue
        candidates = list(session.scalars(stmt))
        if not candidates:
            continue
        load = _open_routed(session, candidates)
        best = min(candidates, key=lambda uid: (ranks.get(uid, 1_000_000), load.get(uid, 0), uid))
        return best, rule.id
    return None, None


# ---- maintaining the table ----------------------------------------------------------------------------------------
def may_edit_rules(user: User) -> bool:
    return bool(user.is_active and user.sector_id and user.role_codes & RULE_EDITORS)


def may_set_priority(user: User) -> bool:
    return bool(user.is_active and user.sector_id and user.role_codes & PRIORITY_EDITORS)


def may_see_rules(user: User) -> bool:
    return may_edit_rules(user) or may_set_priority(user)


def _snapshot(rule: LeadRoutingRule) -> dict[str, Any]:
    return {k: getattr(rule, k) for k in ("region", "industry", "target_user_id", "target_department_id", "position",
                                          "active", "note")}


def _text(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refused("must be text", name)
    value = value.strip()
    if any(ord(ch) < 32 or ch == "\x7f" for ch in value):
        raise Refused("contains characters that are not allowed", name)
    if len(value) > limit:
        raise Refused(f"at most {limit} characters", name)
    return value or None


def _int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise Refused("must be a whole number", name)
    return value


def _apply(session: Session, user: User, rule: LeadRoutingRule, data: dict[str, Any], *, partial: bool) -> None:
    if not partial or "region" in data:
        rule.region = _text(data, "region", 60)
    if not partial or "industry" in data:
        rule.industry = _text(data, "industry", 60)
    if not partial or "note" in data:
        rule.note = _text(data, "note", 200)
    if not partial or "position" in data:
        position = _int(data, "position")
        if position is not None and not 0 <= position <= 100_000:
            raise Refused("between 0 and 100000", "position")
        rule.position = 100 if position is None else position
    if not partial or "active" in data:
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise Refused("must be true or false", "active")
        rule.active = active
    if not partial or "target_user_id" in data or "target_department_id" in data:
        target_user = _int(data, "target_user_id") if "target_user_id" in data else (
            None if not partial else rule.target_user_id)
        target_dept = _int(data, "target_department_id") if "target_department_id" in data else (
            None if not partial else rule.target_department_id)
        if "target_user_id" in data and target_user is not None and "target_department_id" not in data:
            target_dept = None
        if "target_department_id" in data and target_dept is not None and "target_user_id" not in data:
            target_user = None
        if (target_user is None) == (target_dept is None):
            raise Refused("name either a target user or a target department", "target_user_id")
        if target_user is not None and (err := eligibility_error(session, user.sector_id, target_user)):
            if err == "this rep has lost lead rights (L4)":
                err = None  # a rule may name him; routing skips him while he has no rights
            if err:
                raise Refused(err, "target_user_id")
        if target_dept is not None:
            dept = session.get(Department, target_dept)
            if dept is None or dept.sector_id != user.sector_id:
                raise Refused("no such department in this sector", "target_department_id")
        rule.target_user_id, rule.target_department_id = target_user, target_dept


def create_rule(session: Session, user: User, data: dict[str, Any]) -> LeadRoutingRule:
    if not may_edit_rules(user):
        raise NotAllowed("only business managers and sales management maintain the routing table (L3)")
    now = clock.now()
    rule = LeadRoutingRule(sector_id=user.sector_id, created_by=user.id, created_at=now, updated_at=now)
    _apply(session, user, rule, data, partial=False)
    session.add(rule)
    session.flush()
    audit.record(session, actor_id=user.id, action="lead_routing_rule.create", entity_type="lead_routing_rule",
                 entity_id=rule.id, sector_id=rule.sector_id, after=_snapshot(rule))
    return rule


def visible_rule(session: Session, user: User, rule_id: int) -> LeadRoutingRule:
    rule = session.get(LeadRoutingRule, rule_id)
    if rule is None or rule.sector_id != user.sector_id or not may_see_rules(user):
        raise NotVisible(f"routing rule {rule_id} not found")
    return rule


def update_rule(session: Session, user: User, rule_id: int, data: dict[str, Any]) -> LeadRoutingRule:
    rule = visible_rule(session, user, rule_id)
    if not may_edit_rules(user):
        raise NotAllowed("only business managers and sales management maintain the routing table (L3)")
    before = _snapshot(rule)
    _apply(session, user, rule, data, partial=True)
    after = _snapshot(rule)
    if after != before:
        rule.updated_at = clock.now()
        audit.record(session, actor_id=user.id, action="lead_routing_rule.update", entity_type="lead_routing_rule",
                     entity_id=rule.id, sector_id=rule.sector_id, before=before, after=after)
    return rule


def list_rules(session: Session, user: User) -> list[LeadRoutingRule]:
    if not may_see_rules(user):
        raise NotAllowed("only business managers and sales management see the routing table")
    return rules(session, user.sector_id)


def list_priorities(session: Session, user: User, month: date | None = None) -> list[RoutingPriority]:
    if not may_see_rules(user):
        raise NotAllowed("only business managers and sales management see routing priority")
    month = month or month_of(clock.now())
    return list(session.scalars(select(RoutingPriority).where(
        RoutingPriority.sector_id == user.sector_id, RoutingPriority.month == month).order_by(RoutingPriority.rank)))


def set_priority(session: Session, user: User, user_id: Any, rank: Any, *, month: date | None = None,
                 source: str = "manual") -> RoutingPriority | None:
    """Give a rep routing priority this month (rank ≥ 1), or take it away (rank None)."""
    if not may_set_priority(user):
        raise NotAllowed("only sales management sets routing priority (L4)")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise Refused("required", "user_id")
    rep = session.get(User, user_id)
    if rep is None or rep.sector_id != user.sector_id or not rep.role_codes & SALES_ROLES:
        raise Refused("no such sales rep in this sector", "user_id")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 1000):
        raise Refused("between 1 and 1000", "rank")
    month = month or month_of(clock.now())
    row = session.scalar(select(RoutingPriority).where(
        RoutingPriority.sector_id == user.sector_id, RoutingPriority.month == month, RoutingPriority.user_id == rep.id))
    before = {"rank": row.rank} if row else None
    if rank is None:
        if row is not None:
            session.delete(row)
        row = None
    elif row is None:
        row = RoutingPriority(sector_id=user.sector_id, month=month, user_id=rep.id, rank=rank, source=source,
                              set_by=user.id, set_at=clock.now())
        session.add(row)
    else:
        row.rank, row.source, row.set_by, row.set_at = rank, source, user.id, clock.now()
    session.flush()
    audit.record(session, actor_id=user.id, action="routing_priority.set", entity_type="user", entity_id=rep.id,
                 sector_id=user.sector_id, before=before, after={"rank": rank, "month": month.isoformat()})
    return row


def replace_ranking_priorities(session: Session, sector_id: int, month: date, user_ids: list[int],
                               actor_id: int | None = None) -> int:
    """P2 (the monthly ranking job, issue 6): the month's ranked reps get routing priority in this order; rows the
    job wrote before for that month are replaced, priorities sales management set by hand are kept."""
    month = month_of(month)
    session.execute(delete(RoutingPriority).where(
        RoutingPriority.sector_id == sector_id, RoutingPriority.month == month, RoutingPriority.source == "ranking"))
    manual = set(session.scalars(select(RoutingPriority.user_id).where(
        RoutingPriority.sector_id == sector_id, RoutingPriority.month == month)))
    now = clock.now()
    rows = [RoutingPriority(sector_id=sector_id, month=month, user_id=uid, rank=rank, source="ranking",
                            set_by=actor_id, set_at=now)
            for rank, uid in enumerate(user_ids, start=1) if uid not in manual]
    session.add_all(rows)
    session.flush()
    audit.record(session, actor_id=actor_id, action="routing_priority.ranking", entity_type="sector",
                 entity_id=sector_id, sector_id=sector_id,
                 after={"month": month.isoformat(), "user_ids": [r.user_id for r in rows]})
    return len(rows)


# ---- demo -----------------------------------------------------------------------------------------------------------
# (sector code, region, industry, target username or None, target department code or None, position)
DEMO_RULES = (
    ("S1", "华北", None, "rep1", None, 10),
    ("S1", "华东", None, "rep2", None, 20),
    ("S1", "华南", None, None, "D1", 30),
    ("S2", "西南", None, "rep3", None, 10),
)


def load_demo_rules(session: Session, users: dict[str, User]) -> None:
    """Demo routing table: 华北 → rep1, 华东 → rep2, 华南 → team D1 (S1); 西南 → rep3 (S2)."""
    sectors = dict(session.execute(select(Sector.code, Sector.id)).all())
    depts = dict(session.execute(select(Department.code, Department.id)).all())
    for sector, region, industry, username, dept, position in DEMO_RULES:
        session.add(LeadRoutingRule(sector_id=sectors[sector], region=region, industry=industry,
                                    target_user_id=users[username].id if username else None,
                                    target_department_id=depts[dept] if dept else None, position=position,
                                    note="示例规则"))
    session.flush()
