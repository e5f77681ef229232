"""Days since last contact, warnings and the public pool (T1–T3).

`touch_contact` is what every activity calls; list pages show the warning level.

Time rules (all limits are settings, per sector): a customer's *days since contact* are the whole days
between `as_of` and its last contact (or its creation, when never contacted). At `customer.warn_days` (30)
the owner sees a warning, at `customer.strong_warn_days` (60) a stronger one, and once the days reach
`customer.pool_days` (90) the nightly sweep moves it to the public pool (公海): at 89 days it stays, at 90
it goes.

Writes here are set-based SQL (no loop over customers) and conditional, so several workers or two
claimers at once cannot move or take a customer twice.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
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
from sqlalchemy.orm import Session

from models import access, audit, clock, settings
from models.audit import AuditLog
from models.base import write_transaction
from models.crm import Customer, PoolMove
from models.errors import DomainError
from models.org import Sector, User

CLAIM_ROLES = frozenset({"sales_rep", "channel_rep"})
UNDO_ROLE = "sales_mgmt_manager"
# Only customers that passed review (E2) are swept; pending or returned entries stay with their author.
SWEPT_STATUS = "approved"


class PoolError(DomainError):
    """A refusal carrying its HTTP status; pages translate `template`, then fill in `params`."""

    status = 400

    def __init__(self, template: str, **params: Any):
        self.template, self.params = template, params
        super().__init__(template % params if params else template)


class NotFound(PoolError):
    status = 404


class Forbidden(PoolError):
    status = 403


class Conflict(PoolError):
    status = 409


# ---------------------------------------------------------------------------------------------- T1
def touch_contact(session: Session, customer_id: int, at: datetime) -> None:
    """T1: an activity with the customer at `at` (keeps the latest)."""
    session.execute(update(Customer).where(
        Customer.id == customer_id,
        (Customer.last_contact_at.is_(None)) | (Customer.last_contact_at < at),
    ).values(last_contact_at=at).execution_options(synchronize_session=False))


def contact_basis(customer: Customer) -> datetime:
    return customer.last_contact_at or customer.created_at


def days_since_contact(customer: Customer, now: datetime) -> int:
    """T1: whole days since the last contact (or since the customer was created)."""
    return max((now - contact_basis(customer)).days, 0)


def warning_level(days: int | None, warn_days: int, strong_days: int) -> str | None:
    """T2: None, 'warn' (≥ warn_days) or 'strong' (≥ strong_days)."""
    if days is None:
        return None
    if days >= strong_days:
        return "strong"
    if days >= warn_days:
        return "warn"
    return None


def limits(session: Session, sector_id: int | None) -> dict[str, int]:
    return {"warn_days": int(settings.get(session, "customer.warn_days", sector_id)),
            "strong_days": int(settings.get(session, "customer.strong_warn_days", sector_id)),
            "pool_days": int(settings.get(session, "customer.pool_days", sector_id))}


def customer_warning(customer: Customer, now: datetime, lim: dict[str, int]) -> str | None:
    """The warning shown to the owner: the customer list's own rule (`models.customers.contact_warning`)."""
    from models.customers import contact_warning  # imported late: models.customers is a larger module

    return contact_warning(customer, now, lim["warn_days"], lim["strong_days"])


def pool_due_at(customer: Customer, lim: dict[str, int]) -> datetime:
    """When the sweep will move this customer (its owner's deadline for a contact)."""
    return contact_basis(customer) + timedelta(days=lim["pool_days"])


def contact_since_expr() -> ColumnElement:
    """SQL for the moment days since contact are counted from (matches an expression index, see README)."""
    return func.coalesce(Customer.last_contact_at, Customer.created_at)


def my_warnings_query(session: Session, user: User, now: datetime, level: str | None = None):
    """T2: the owner's customers at or past the warning limit, longest silence first."""
    lim = limits(session, user.sector_id)
    days = lim["strong_days"] if level == "strong" else lim["warn_days"]
    cutoff = now - timedelta(days=days)
    return (select(Customer).where(access.customer_filter(user), Customer.owner_id == user.id,
                                   contact_since_expr() <= cutoff)
            .order_by(contact_since_expr(), Customer.id)), lim


# ---------------------------------------------------------------------------------------------- T2
def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def sweep(session: Session, as_of: datetime) -> dict[str, Any]:
    """T2: move every owned customer whose last contact reached `customer.pool_days` to the public pool.

    One set-based statement per sector (the limit is a per-sector setting): customers are never
    loaded into Python. Idempotent (moved customers have no owner) and safe with several workers
    (PostgreSQL: `FOR UPDATE SKIP LOCKED` + conditional update; SQLite: one writer at a time).
    """
    by_sector: dict[str, int] = {}
    with write_transaction(session):
        sectors = session.execute(select(Sector.id, Sector.code).order_by(Sector.id)).all()
        for sector_id, code in sectors:
            cutoff = as_of - timedelta(days=int(settings.get(session, "customer.pool_days", sector_id)))
            sweep_sector = _sweep_pg if _is_pg(session) else _sweep_sqlite
            by_sector[code] = sweep_sector(session, sector_id, cutoff, as_of)
    return {"moved": sum(by_sector.values()), "by_sector": by_sector, "as_of": as_of.isoformat()}


_PG_SWEEP = text("""
WITH due AS (
    SELECT id, owner_id FROM customer
    WHERE sector_id = :sector_id AND owner_id IS NOT NULL AND status = :status
      AND coalesce(last_contact_at, created_at) <= :cutoff
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE customer c SET owner_id = NULL, pool_since = :as_of, updated_at = :as_of, version = c.version + 1
    FROM due WHERE c.id = due.id AND c.owner_id IS NOT NULL
    RETURNING c.id, c.sector_id, due.owner_id AS from_owner_id
), moves AS (
    INSERT INTO pool_move (customer_id, sector_id, from_owner_id, reason, moved_at)
    SELECT id, sector_id, from_owner_id, 'inactive', :as_of FROM moved
    RETURNING customer_id
)
INSERT INTO audit_log (at, actor_id, action, entity_type, entity_id, sector_id, before, after)
SELECT :as_of, NULL, 'customer.to_pool', 'customer', CAST(moved.id AS VARCHAR), moved.sector_id,
       jsonb_build_object('owner_id', moved.from_owner_id, 'reason', 'inactive'),
       jsonb_build_object('owner_id', NULL, 'pool_since', CAST(:as_of_text AS TEXT))
FROM moved
""").bindparams(bindparam("cutoff", type_=DateTime()), bindparam("as_of", type_=DateTime())
                ).execution_options(preserve_rowcount=True)


def _sweep_pg(session: Session, sector_id: int, cutoff: datetime, as_of: datetime) -> int:
    """One statement: lock the due rows (skipping rows another worker holds), clear the owner, write the
    PoolMove rows and the audit rows from the same RETURNING set."""
    result = session.execute(_PG_SWEEP, {"sector_id": sector_id, "status": SWEPT_STATUS, "cutoff": cutoff,
                                         "as_of": as_of, "as_of_text": as_of.isoformat()})
    return result.rowcount or 0


def _sweep_sqlite(session: Session, sector_id: int, cutoff: datetime, as_of: datetime) -> int:
    """SQLite has no data-modifying CTEs; the write lock (BEGIN IMMEDIATE) is held for the whole job, so
    three set-based statements over the same condition see the same rows."""
    due = and_(Customer.sector_id == sector_id, Customer.owner_id.is_not(None),
               Customer.status == SWEPT_STATUS, contact_since_expr() <= cutoff)
    session.execute(insert(PoolMove).from_select(
        ["customer_id", "sector_id", "from_owner_id", "reason", "moved_at"],
        select(Customer.id, Customer.sector_id, Customer.owner_id, literal("inactive"),
               literal(as_of, DateTime())).where(due)))
    session.execute(insert(AuditLog).from_select(
        ["at", "actor_id", "action", "entity_type", "entity_id", "sector_id", "before", "after"],
        select(literal(as_of, DateTime()), literal(None, Integer()), literal("customer.to_pool"),
               literal("customer"), cast(Customer.id, String()), Customer.sector_id,
               func.json_object("owner_id", Customer.owner_id, "reason", "inactive"),
               func.json_object("owner_id", None, "pool_since", as_of.isoformat())).where(due)))
    result = session.execute(update(Customer).where(due).values(
        owner_id=None, pool_since=as_of, updated_at=as_of, version=Customer.version + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


# ---------------------------------------------------------------------------------------------- pool
def pool_filter(user: User) -> ColumnElement[bool]:
    """Customers in the public pool that the user may see (his sector's pool; access.customer_filter)."""
    return and_(access.customer_filter(user), Customer.owner_id.is_(None))


def search_clause(q: str | None, dialect: str = "sqlite") -> ColumnElement[bool]:
    """Name (normalised), pinyin initials or phone: the customer list's search, so both behave alike."""
    if not q or not q.strip():
        return true()
    from models.customers import search_clause as customer_search

    return customer_search(q, dialect)


def pool_customers(session: Session, user: User, q: str | None, limit: int, offset: int) -> list[Customer]:
    return list(session.scalars(
        select(Customer).where(pool_filter(user), search_clause(q, session.get_bind().dialect.name))
        .order_by(Customer.pool_since.desc().nulls_last(), Customer.id.desc()).limit(limit).offset(offset)))


def _customer_in_sector(session: Session, user: User, customer_id: int) -> Customer:
    """The customer when it belongs to the user's sector, else 404.

    A claim is about the sector's public pool, which every rep of the sector sees, so a customer of the
    sector that is owned (taken by a faster claimer, or never in the pool) answers 409 rather than 404:
    the answer says only that it is not in the pool, never who owns it.
    """
    customer = session.get(Customer, customer_id)
    if customer is None or not user.is_active or (
            not access.sees_all_sectors(user) and customer.sector_id != user.sector_id):
        raise NotFound(f"customer {customer_id} not found")
    return customer


def claims_this_month(session: Session, user: User, now: datetime) -> int:
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.actor_id == user.id, AuditLog.action == "customer.claim", AuditLog.at >= month_start)) or 0


def _lock_user(session: Session, user: User) -> None:
    """Serialise one user's claims on PostgreSQL so two parallel claims cannot both pass the limit
    (SQLite write transactions are serialised already)."""
    if _is_pg(session):
        session.execute(select(User.id).where(User.id == user.id).with_for_update())


def claim(session: Session, user: User, customer_id: int) -> Customer:
    """T3: a rep takes a pool customer of his own sector, within his monthly claim limit.

    One conditional UPDATE (… WHERE owner_id IS NULL): of two claimers exactly one gets the customer,
    the other a 409.
    """
    customer = _customer_in_sector(session, user, customer_id)
    if not user.role_codes & CLAIM_ROLES:
        raise Forbidden("only sales reps may claim customers from the public pool")
    if customer.owner_id is not None:
        raise Conflict("this customer is no longer in the public pool")
    _lock_user(session, user)
    now = clock.now()
    limit = int(settings.get(session, "pool.claim_limit", customer.sector_id))
    used = claims_this_month(session, user, now)
    if used >= limit:
        raise Conflict("claim limit reached: %(used)s of %(limit)s customers claimed from the public pool "
                       "this month", used=used, limit=limit)
    before = {"owner_id": None, "department_id": customer.department_id,
              "pool_since": customer.pool_since.isoformat() if customer.pool_since else None}
    result = session.execute(update(Customer).where(
        Customer.id == customer.id, Customer.owner_id.is_(None), Customer.sector_id == user.sector_id,
    ).values(owner_id=user.id, department_id=user.department_id, pool_since=None, last_contact_at=now,
             updated_at=now, version=Customer.version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("someone else claimed this customer first")
    audit.record(session, actor_id=user.id, action="customer.claim", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id, before=before,
                 after={"owner_id": user.id, "department_id": user.department_id, "pool_since": None,
                        "last_contact_at": now.isoformat()})
    session.flush()
    session.refresh(customer)
    return customer


def return_to_pool(session: Session, user: User, customer_id: int, note: str | None = None) -> Customer:
    """退回公海: the owner gives a customer back to the pool (PoolMove reason 'returned')."""
    customer = session.scalar(select(Customer).where(Customer.id == customer_id,
                                                     access.customer_filter(user)))
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer.owner_id != user.id:
        raise Forbidden("only the customer's owner may return it to the public pool")
    now = clock.now()
    result = session.execute(
        update(Customer).where(Customer.id == customer.id, Customer.owner_id == user.id)
        .values(owner_id=None, pool_since=now, updated_at=now, version=Customer.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("the customer changed meanwhile; reload and retry")
    session.add(PoolMove(customer_id=customer.id, sector_id=customer.sector_id, from_owner_id=user.id,
                         reason="returned", moved_at=now))
    audit.record(session, actor_id=user.id, action="customer.return_to_pool", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id,
                 before={"owner_id": user.id}, after={"owner_id": None, "pool_since": now.isoformat(),
                                                      "reason": "returned", "note": note})
    session.flush()
    session.refresh(customer)
    return customer


# ---------------------------------------------------------------------------------------------- undo
def may_undo(user: User, sector_id: int) -> bool:
    return user.is_active and any(
        g.role_code == UNDO_ROLE and (g.sector_id == sector_id or g.sector_id is None) for g in user.grants)


def pool_move_filter(user: User) -> ColumnElement[bool]:
    """Moves the user may see: sector-wide roles their sector, department roles their departments,
    everyone else the moves of customers taken from him. Built on models.access's levels."""
    if not user.is_active:
        return false()
    if access.sees_all_sectors(user):
        return true()
    if user.sector_id is None:
        return false()
    clauses: list[ColumnElement[bool]] = [PoolMove.from_owner_id == user.id]
    if access.sees_whole_sector(user):
        clauses.append(true())
    depts = access.managed_departments(user)
    if depts:
        clauses.append(PoolMove.customer_id.in_(select(Customer.id).where(Customer.department_id.in_(depts))))
    return and_(PoolMove.sector_id == user.sector_id, or_(*clauses))


def pool_moves(session: Session, user: User, *, reason: str | None, limit: int, offset: int):
    """Recent moves first, with customer and former owner names (one query, no N+1)."""
    owner = User.__table__.alias("from_owner")
    query = (select(PoolMove, Customer.name, Customer.owner_id, owner.c.display_name)
             .join(Customer, Customer.id == PoolMove.customer_id)
             .outerjoin(owner, owner.c.id == PoolMove.from_owner_id)
             .where(pool_move_filter(user)))
    if reason:
        query = query.where(PoolMove.reason == reason)
    return session.execute(query.order_by(PoolMove.moved_at.desc(), PoolMove.id.desc())
                           .limit(limit).offset(offset)).all()


def pool_move_row(session: Session, move_id: int):
    owner = User.__table__.alias("from_owner")
    return session.execute(select(PoolMove, Customer.name, Customer.owner_id, owner.c.display_name)
                           .join(Customer, Customer.id == PoolMove.customer_id)
                           .outerjoin(owner, owner.c.id == PoolMove.from_owner_id)
                           .where(PoolMove.id == move_id)).one()


def undo_move(session: Session, user: User, move_id: int) -> PoolMove:
    """T2: sales management gives a moved customer back to its former owner, if it is still in the pool."""
    move = session.scalar(select(PoolMove).where(PoolMove.id == move_id, pool_move_filter(user)))
    if move is None:
        raise NotFound(f"pool move {move_id} not found")
    if not may_undo(user, move.sector_id):
        raise Forbidden("only sales management may undo a move to the public pool")
    if move.undone_at is not None:
        raise Conflict("this move was already undone")
    if move.from_owner_id is None:
        raise Conflict("this move has no former owner to give the customer back to")
    latest = session.scalar(select(func.max(PoolMove.id)).where(PoolMove.customer_id == move.customer_id,
                                                                PoolMove.undone_at.is_(None)))
    if latest != move.id:
        raise Conflict("the customer moved again after this move; undo the latest move instead")
    former = session.get(User, move.from_owner_id)
    if former is None or not former.is_active:
        raise Conflict("the former owner's account is no longer active")
    now = clock.now()
    # The former owner gets a fresh start: otherwise the next sweep would move the customer again at once.
    result = session.execute(
        update(Customer).where(Customer.id == move.customer_id, Customer.owner_id.is_(None))
        .values(owner_id=former.id, pool_since=None, last_contact_at=now, updated_at=now,
                version=Customer.version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("the customer is no longer in the public pool (claimed since); "
                       "the move cannot be undone")
    claimed = session.execute(
        update(PoolMove).where(PoolMove.id == move.id, PoolMove.undone_at.is_(None))
        .values(undone_at=now, undone_by=user.id).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Conflict("this move was already undone")
    audit.record(session, actor_id=user.id, action="customer.pool_undo", entity_type="customer",
                 entity_id=move.customer_id, sector_id=move.sector_id,
                 before={"owner_id": None, "pool_move_id": move.id},
                 after={"owner_id": former.id, "last_contact_at": now.isoformat()})
    audit.record(session, actor_id=user.id, action="pool_move.undo", entity_type="pool_move",
                 entity_id=move.id, sector_id=move.sector_id, before={"undone_at": None},
                 after={"undone_at": now.isoformat()})
    session.flush()
    session.refresh(move)
    return move


def customers_by_id(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    ids = list(ids)
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))} if ids else {}
