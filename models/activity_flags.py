"""Activity flags (U3) and late follow-up of routed leads (P3), raised by the `activity-flags` job.

Every check is one set-based INSERT … SELECT per sector (its limits are per-sector settings), made
idempotent by the Flag unique key (kind, entity_type, entity_id, period): PostgreSQL
`ON CONFLICT DO NOTHING`, SQLite `ON CONFLICT DO NOTHING` (its upsert form of INSERT OR IGNORE). Running
the job twice, or on two workers at once, raises each flag once.

- U3a `rep_no_weekly_activity`: a rep (sales_rep / channel_rep grant) with fewer than
  `activity.rep_week_min` activities in the ISO week before `as_of`; entity = the user, period = that
  week's Monday.
- U3b `lead_no_monthly_activity` / `opportunity_no_monthly_activity`: an open lead or opportunity with no
  activity in the last `activity.record_month_days` days (last_activity_at, else created_at, and no
  activity row in the window); period = the first day of as_of's month.
- P3 `lead_not_followed_up`: an assigned lead past its `follow_up_due_at` with no activity by its
  assignee; period = the due date (one flag per assignment). A rep with `lead.rights_flag_limit` such flags in
  the last `lead.rights_window_days` days loses his lead rights (User.lead_rights = False), audited.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import access, settings
from models.audit import AuditLog
from models.base import write_transaction
from models.flags import Flag
from models.org import Sector, User, UserRole
from models.sales import Activity, Lead, Opportunity

REP_ROLES = ("sales_rep", "channel_rep")
OPEN_LEAD_STATUSES = ("new", "kept", "assigned", "following")


def week_before(as_of: datetime) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 to next Monday) before the week that contains `as_of`."""
    monday = datetime.combine(as_of.date() - timedelta(days=as_of.weekday()), datetime.min.time())
    return monday - timedelta(days=7), monday


def month_start(as_of: datetime) -> date:
    return as_of.date().replace(day=1)


def _insert_flags(session: Session, select_stmt) -> int:
    cols = ["sector_id", "kind", "entity_type", "entity_id", "user_id", "period", "raised_at"]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Flag).from_select(cols, select_stmt).on_conflict_do_nothing()
    return session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount or 0


def _period(value: date):
    return literal(value, Date())


def rep_weekly(session: Session, sector_id: int, as_of: datetime) -> int:
    """U3a, one statement for the sector."""
    start, end = week_before(as_of)
    minimum = int(settings.get(session, "activity.rep_week_min", sector_id))
    done = (select(func.count()).select_from(Activity)
            .where(Activity.owner_id == User.id, Activity.occurred_at >= start, Activity.occurred_at < end)
            .scalar_subquery())
    is_rep = exists().where(UserRole.user_id == User.id, UserRole.role_code.in_(REP_ROLES))
    return _insert_flags(session, select(
        User.sector_id, literal("rep_no_weekly_activity"), literal("user"), User.id, User.id,
        _period(start.date()), literal(as_of, DateTime()),
    ).where(User.sector_id == sector_id, User.status == "active", User.created_at < end, is_rep,
            done < minimum))


def monthly_records(session: Session, sector_id: int, as_of: datetime) -> tuple[int, int]:
    """U3b: open leads and opportunities without an activity in the last N days (two statements)."""
    cutoff = as_of - timedelta(days=int(settings.get(session, "activity.record_month_days", sector_id)))
    period = _period(month_start(as_of))
    lead_quiet = and_(
        Lead.sector_id == sector_id, Lead.status.in_(OPEN_LEAD_STATUSES), Lead.created_at <= cutoff,
        func.coalesce(Lead.last_activity_at, Lead.created_at) <= cutoff,
        ~exists().where(Activity.lead_id == Lead.id, Activity.occurred_at > cutoff))
    leads = _insert_flags(session, select(
        Lead.sector_id, literal("lead_no_monthly_activity"), literal("lead"), Lead.id, Lead.owner_id, period,
        literal(as_of, DateTime())).where(lead_quiet))
    opp_quiet = and_(
        Opportunity.sector_id == sector_id, Opportunity.status == "open", Opportunity.created_at <= cutoff,
        func.coalesce(Opportunity.last_activity_at, Opportunity.created_at) <= cutoff,
        ~exists().where(Activity.opportunity_id == Opportunity.id, Activity.occurred_at > cutoff))
    opps = _insert_flags(session, select(
        Opportunity.sector_id, literal("opportunity_no_monthly_activity"), literal("opportunity"),
        Opportunity.id, Opportunity.owner_id, period, literal(as_of, DateTime())).where(opp_quiet))
    return leads, opps


def _due_date(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return cast(Lead.follow_up_due_at, Date)
    return func.date(Lead.follow_up_due_at, type_=Date)  # SQLite: CAST(… AS DATE) would yield a number


def late_follow_up(session: Session, sector_id: int, as_of: datetime) -> int:
    """P3: assigned leads past their follow-up limit with no activity by the assignee."""
    return _insert_flags(session, select(
        Lead.sector_id, literal("lead_not_followed_up"), literal("lead"), Lead.id, Lead.owner_id,
        _due_date(session), literal(as_of, DateTime()),
    ).where(Lead.sector_id == sector_id, Lead.status == "assigned", Lead.owner_id.is_not(None),
            Lead.follow_up_due_at.is_not(None), Lead.follow_up_due_at < as_of,
            ~exists().where(Activity.lead_id == Lead.id, Activity.owner_id == Lead.owner_id)))


_PG_REVOKE = text("""
WITH revoked AS (
    UPDATE app_user SET lead_rights = false
    WHERE lead_rights AND id IN (
        SELECT user_id FROM flag
        WHERE kind = 'lead_not_followed_up' AND user_id IS NOT NULL AND period >= :since
        GROUP BY user_id HAVING count(*) >= :limit)
    RETURNING id, sector_id
)
INSERT INTO audit_log (at, actor_id, action, entity_type, entity_id, sector_id, before, after)
SELECT :as_of, NULL, 'user.lead_rights_removed', 'user', CAST(id AS VARCHAR), sector_id,
       jsonb_build_object('lead_rights', true),
       jsonb_build_object('lead_rights', false, 'reason', 'P3: repeated late follow-up of routed leads')
FROM revoked
""").bindparams(bindparam("since", type_=Date()), bindparam("as_of", type_=DateTime()))


def revoke_lead_rights(session: Session, as_of: datetime) -> int:
    """P3: repeated late follow-up removes the rep's lead rights; one audit row per rep (set-based)."""
    # group-wide settings: the lead-rights rule is one policy for the whole group (P2/P3)
    limit = settings.get(session, "lead.rights_flag_limit")
    since = as_of.date() - timedelta(days=settings.get(session, "lead.rights_window_days"))
    if session.get_bind().dialect.name == "postgresql":
        # conditional UPDATE … RETURNING feeds the audit rows: a second worker finds nothing left to revoke
        return session.execute(_PG_REVOKE.execution_options(preserve_rowcount=True),
                               {"since": since, "limit": limit, "as_of": as_of}).rowcount or 0
    offenders = (select(Flag.user_id).where(Flag.kind == "lead_not_followed_up", Flag.user_id.is_not(None),
                                            Flag.period >= since)
                 .group_by(Flag.user_id).having(func.count() >= limit))
    due = and_(User.lead_rights.is_(True), User.id.in_(offenders))
    session.execute(insert(AuditLog).from_select(
        ["at", "actor_id", "action", "entity_type", "entity_id", "sector_id", "before", "after"],
        select(literal(as_of, DateTime()), literal(None, Integer()), literal("user.lead_rights_removed"),
               literal("user"), cast(User.id, String()), User.sector_id,
               func.json_object("lead_rights", func.json("true")),
               func.json_object("lead_rights", func.json("false"),
                                "reason", "P3: repeated late follow-up of routed leads")).where(due)))
    return session.execute(update(User).where(due).values(lead_rights=False)
                           .execution_options(synchronize_session=False)).rowcount or 0


def run(session: Session, as_of: datetime) -> dict[str, Any]:
    """The `activity-flags` job: all checks as of `as_of`, per sector; returns the counts raised."""
    counts = dict.fromkeys(("rep_no_weekly_activity", "lead_no_monthly_activity",
                            "opportunity_no_monthly_activity", "lead_not_followed_up"), 0)
    with write_transaction(session):
        for (sector_id,) in session.execute(select(Sector.id).order_by(Sector.id)).all():
            counts["rep_no_weekly_activity"] += rep_weekly(session, sector_id, as_of)
            leads, opps = monthly_records(session, sector_id, as_of)
            counts["lead_no_monthly_activity"] += leads
            counts["opportunity_no_monthly_activity"] += opps
            counts["lead_not_followed_up"] += late_follow_up(session, sector_id, as_of)
        revoked = revoke_lead_rights(session, as_of)
    week_start, _ = week_before(as_of)
    return {"as_of": as_of.isoformat(), "week": week_start.date().isoformat(),
            "month": month_start(as_of).isoformat(), "raised": counts, "raised_total": sum(counts.values()),
            "lead_rights_removed": revoked}


# ---------------------------------------------------------------------------------------------- reading
def flag_filter(user: User, *, mine: bool) -> ColumnElement[bool]:
    """Flags the user may see. mine: his own open flags. Otherwise the managers' view, on models.access's
    levels: group management all, sector-wide roles their sector, department roles the flags of their
    departments' people and records, everyone else his own."""
    if not user.is_active:
        return false()
    own = Flag.user_id == user.id
    if mine:
        return own
    if access.sees_all_sectors(user):
        return true()
    if user.sector_id is None:
        return false()
    clauses: list[ColumnElement[bool]] = [own]
    if access.sees_whole_sector(user):
        clauses.append(true())
    depts = access.managed_departments(user)
    if depts:
        clauses.append(Flag.user_id.in_(select(User.id).where(User.department_id.in_(depts))))
        clauses.append(and_(Flag.entity_type == "lead",
                            Flag.entity_id.in_(select(Lead.id).where(Lead.department_id.in_(depts)))))
        clauses.append(and_(Flag.entity_type == "opportunity",
                            Flag.entity_id.in_(select(Opportunity.id)
                                               .where(Opportunity.department_id.in_(depts)))))
    return and_(Flag.sector_id == user.sector_id, or_(*clauses))


def list_flags(session: Session, user: User, *, mine: bool, kind: str | None, open_only: bool, limit: int,
               offset: int):
    """Flags with the flagged person's name joined (one query), newest first."""
    query = (select(Flag, User.display_name).outerjoin(User, User.id == Flag.user_id)
             .where(flag_filter(user, mine=mine)))
    if kind:
        query = query.where(Flag.kind == kind)
    if open_only:
        query = query.where(Flag.resolved_at.is_(None))
    query = query.order_by(Flag.period.desc(), Flag.id.desc()).limit(limit).offset(offset)
    return session.execute(query).all()
