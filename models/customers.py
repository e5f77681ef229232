"""Customer operations: entry (E1, E3, E6), duplicates (C1), edits, collaborators (O3), company details (E5).

Every operation checks access through `models.access`, changes state and writes its audit row in the
caller's single transaction. Refusals are `CustomerError`s carrying the HTTP status, the field at fault
and, for duplicates, what may be told about the other records (never who owns them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import access, audit, clock, settings
from models.crm import CUSTOMER_KINDS, Contact, Customer, RecordShare
from models.customer_rules import credit_code_error, normalized, phone_error, pinyin_initials
from models.errors import DomainError
from models.flags import Flag
from models.org import User, UserRole
from models.sales import Opportunity

# E6: which kinds each entrant role may enter. Business managers enter leads, not customers.
ENTRY_KINDS: dict[str, frozenset[str]] = {
    "sales_rep": frozenset({"direct"}),
    "channel_rep": frozenset({"agent", "end_customer"}),
    "dept_manager": frozenset({"direct", "agent", "end_customer"}),
    "dept_assistant": frozenset({"direct", "agent", "end_customer"}),
    "sales_mgmt_manager": frozenset(CUSTOMER_KINDS),
    "sector_head": frozenset(CUSTOMER_KINDS),
}
# E2: a customer entered by a salesperson waits for the department's review.
REVIEWED_ENTRANTS = {"sales_rep", "channel_rep"}
# Who may edit any customer of the department / sector besides its owner.
EDITOR_ROLES = {"sales_mgmt_manager", "sector_head"}
GRADES = ("A", "B", "C", "D")
# first_contact_at is set at entry only: E3 lateness is judged then and cannot be edited away.
EDITABLE = ("name", "credit_code", "phone", "region", "industry", "address", "grade")
# E5: the company details customer service completes after a win.
COMPANY_DETAIL_KEYS = ("legal_representative", "registered_capital", "registered_address", "bank_name",
                       "bank_account", "tax_number", "invoice_title", "invoice_address", "invoice_phone", "website")


class CustomerError(DomainError):
    """A refusal: `status` 403/404/409/422, `field` the input at fault, `extra` more JSON for the client."""

    # what of `extra` a client may see: the duplicate check's answers, never the owner (C1)
    PUBLIC_EXTRA = ("similar", "similar_count", "in_pool", "conflict_possible", "customer_id")

    def __init__(self, status: int, message: str, field_name: str | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.field, self.extra = status, field_name, extra

    @property
    def errors(self) -> dict[str, list[str]] | None:
        every = self.extra.get("all_errors")
        if every:
            return {k: [v] for k, v in every.items()}
        return {self.field: [self.message]} if self.field else None

    def body(self) -> dict[str, Any]:
        return super().body() | {k: self.extra[k] for k in self.PUBLIC_EXTRA if k in self.extra}


def not_found(what: str = "customer") -> CustomerError:
    return CustomerError(404, f"{what} not found")


# ---------------------------------------------------------------- reading

def visible_customer(session: Session, user: User, customer_id: int) -> Customer:
    """The customer if `user` may see it (O2–O4: sector, department, own, shared, pool), else 404."""
    stmt = select(Customer).where(and_(Customer.id == customer_id, access.customer_filter(user)))
    customer = session.scalar(stmt)
    if customer is None:
        raise not_found()
    return customer


def visible_customer_or_none(session: Session, user: User, customer_id: int) -> Customer | None:
    return session.scalar(select(Customer).where(and_(Customer.id == customer_id, access.customer_filter(user))))


def is_reviewed_entrant(user: User) -> bool:
    return bool(user.role_codes & REVIEWED_ENTRANTS) and not (user.role_codes & (set(ENTRY_KINDS) - REVIEWED_ENTRANTS))


def manages(user: User, customer: Customer) -> bool:
    """His department's manager or assistant (O4), or a sector-wide editor of the customer's sector."""
    if user.sector_id != customer.sector_id:
        return False
    if user.role_codes & EDITOR_ROLES:
        return True
    return customer.department_id is not None and customer.department_id in access.managed_departments(user)


def may_edit(user: User, customer: Customer) -> bool:
    return user.is_active and (customer.owner_id == user.id or manages(user, customer))


def contact_warning(customer: Customer, now: datetime, warn_days: int, strong_days: int) -> str | None:
    """T2: None, "warn" (30 days without contact) or "strong" (60); customers in the pool have none."""
    if customer.owner_id is None:
        return None
    days = days_since_contact(customer, now)
    if days >= strong_days:
        return "strong"
    if days >= warn_days:
        return "warn"
    return None


def days_since_contact(customer: Customer, now: datetime) -> int:
    """T1: whole days since the last contact (since entry when there was none yet)."""
    since = customer.last_contact_at or customer.created_at or now
    return max((now - since).days, 0)


def warning_days(session: Session, sector_id: int | None) -> tuple[int, int]:
    return (int(settings.get(session, "customer.warn_days", sector_id)),
            int(settings.get(session, "customer.strong_warn_days", sector_id)))


@dataclass
class ListQuery:
    status: str | None = None
    owner: str | None = None  # mine | pool
    kind: str | None = None
    region: str | None = None
    industry: str | None = None
    warning: str | None = None  # warn | strong | any | none
    q: str | None = None
    sort: str = "-created_at"
    limit: int = 50
    offset: int = 0


SORTS = {"name": Customer.name_normalized, "created_at": Customer.created_at,
         "last_contact_at": func.coalesce(Customer.last_contact_at, Customer.created_at)}


@dataclass
class CustomerRow:
    customer: Customer
    owner_name: str | None
    days_since_contact: int
    warning: str | None
    extra: dict = field(default_factory=dict)


def search_clause(q: str, dialect: str = "sqlite"):
    """Search by name (normalised, so spaces and full-width brackets do not matter), pinyin initials or phone.

    On PostgreSQL a name fragment of two or more characters is first narrowed by the GIN index on the
    name's character pairs (migration 0003: `crm_bigrams`); trigram indexes cannot serve the two-character
    fragments Chinese users type most ("华信"). The LIKE keeps the match exact.
    """
    text = q.strip()
    name = normalized(text)
    clauses = []
    if name:
        contains = Customer.name_normalized.contains(name, autoescape=True)
        if dialect == "postgresql" and len(name) >= 2:
            contains = and_(func.crm_bigrams(Customer.name_normalized).op("@>")(func.crm_bigrams(name)), contains)
        clauses.append(contains)
    letters = "".join(ch for ch in text.lower() if ch.isascii() and ch.isalpha())
    if letters and letters == text.lower().replace(" ", ""):
        clauses.append(Customer.pinyin_initials.startswith(letters, autoescape=True))
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 3:
        clauses.append(Customer.phone.contains(digits, autoescape=True))
    return or_(*clauses) if clauses else literal(True)


def list_customers(session: Session, user: User, query: ListQuery) -> list[CustomerRow]:
    """One query: visible customers with filters, sorting and paging, the owner's name joined (no N+1)."""
    now = clock.now()
    warn_days, strong_days = warning_days(session, user.sector_id)
    conds = [access.customer_filter(user)]
    for key in ("region", "industry", "q"):
        value = getattr(query, key)
        if value is not None:
            clean = _storable(value)
            if clean != value:  # NUL or a lone surrogate: no record holds it
                return []
    if query.q is not None and not query.q.strip():
        query.q = None
    if query.status:
        conds.append(Customer.status == query.status)
    if query.owner == "mine":
        conds.append(Customer.owner_id == user.id)
    elif query.owner == "pool":
        conds.append(Customer.owner_id.is_(None))
    if query.kind:
        conds.append(Customer.kind == query.kind)
    if query.region:
        conds.append(Customer.region == query.region)
    if query.industry:
        conds.append(Customer.industry == query.industry)
    if query.q:
        conds.append(search_clause(query.q, session.get_bind().dialect.name))
    if query.warning:
        last = func.coalesce(Customer.last_contact_at, Customer.created_at)
        warn_at, strong_at = now - _days(warn_days), now - _days(strong_days)
        owned = Customer.owner_id.is_not(None)
        conds.append({
            "strong": and_(owned, last <= strong_at),
            "warn": and_(owned, last <= warn_at, last > strong_at),
            "any": and_(owned, last <= warn_at),
            "none": or_(Customer.owner_id.is_(None), last > warn_at),
        }[query.warning])
    key = query.sort.lstrip("-")
    col = SORTS.get(key, Customer.created_at)
    order = (col.desc(), Customer.id.desc()) if query.sort.startswith("-") else (col.asc(), Customer.id.asc())
    stmt = (select(Customer, User.display_name).outerjoin(User, User.id == Customer.owner_id)
            .where(and_(*conds)).order_by(*order).limit(query.limit).offset(query.offset))
    return [CustomerRow(c, owner, days_since_contact(c, now), contact_warning(c, now, warn_days, strong_days))
            for c, owner in session.execute(stmt)]


def _storable(text: str) -> str:
    return "".join(ch for ch in text if ch != "\x00" and not 0xD800 <= ord(ch) <= 0xDFFF)


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


def history(session: Session, customer: Customer, *, limit: int = 100, offset: int = 0) -> list[tuple]:
    """O6: every change of the customer and of its contacts, newest first, with who did it."""
    from models.audit import AuditLog

    contact_ids = select(cast(Contact.id, String)).where(Contact.customer_id == customer.id)
    stmt = (select(AuditLog, User.display_name).outerjoin(User, User.id == AuditLog.actor_id)
            .where(or_(and_(AuditLog.entity_type == "customer", AuditLog.entity_id == str(customer.id)),
                       and_(AuditLog.entity_type == "contact", AuditLog.entity_id.in_(contact_ids))))
            .order_by(AuditLog.id.desc()).limit(limit).offset(offset))
    return list(session.execute(stmt))


# ---------------------------------------------------------------- duplicates (C1)

@dataclass
class DuplicateCheck:
    exact: Customer | None
    similar_visible: list[Customer]
    similar_hidden: int

    @property
    def similar_count(self) -> int:
        return len(self.similar_visible) + self.similar_hidden


def _clean_phone(phone: str | None) -> str | None:
    return phone.strip() if phone and phone.strip() else None


def check_duplicates(session: Session, user: User, *, name: str | None, credit_code: str | None = None,
                     phone: str | None = None, exclude_id: int | None = None) -> DuplicateCheck:
    """Exact duplicates (same normalised name or credit code) and near ones (C1), within the user's sector.

    Near: the same pinyin initials, one normalised name inside the other, or the same phone (the
    customer's or one of its contacts'). Only the names of records the user may see are returned.
    """
    sector = user.sector_id
    if sector is None:
        return DuplicateCheck(None, [], 0)
    norm = normalized(name or "")
    code = (credit_code or "").strip().upper() or None
    same_sector = [Customer.sector_id == sector]
    if exclude_id is not None:
        same_sector.append(Customer.id != exclude_id)
    exact_conds = []
    if norm:
        exact_conds.append(Customer.name_normalized == norm)
    if code:
        exact_conds.append(Customer.credit_code == code)
    exact = session.scalar(select(Customer).where(*same_sector, or_(*exact_conds)).order_by(Customer.id).limit(1)) \
        if exact_conds else None
    near = []
    if norm:
        initials = pinyin_initials(name or "")
        if len(initials) >= 4:
            near.append(Customer.pinyin_initials == initials)
        if len(norm) >= 4:
            near.append(Customer.name_normalized.contains(norm, autoescape=True))
            near.append(and_(func.length(Customer.name_normalized) >= 4,
                             literal(norm).contains(Customer.name_normalized)))
    tel = _clean_phone(phone)
    if tel:
        near.append(Customer.phone == tel)
        near.append(exists().where(Contact.customer_id == Customer.id, or_(Contact.phone == tel, Contact.mobile == tel)))
    if not near:
        return DuplicateCheck(exact, [], 0)
    conds = [*same_sector, or_(*near)]
    if exact is not None:
        conds.append(Customer.id != exact.id)
    rows = session.execute(select(Customer, access.customer_filter(user).label("visible"))
                           .where(*conds).order_by(Customer.id).limit(50)).all()
    visible = [c for c, ok in rows if ok]
    return DuplicateCheck(exact, visible, len(rows) - len(visible))


def refuse_exact(user: User, exact: Customer) -> CustomerError:
    """C1: first registered, first served. The message never names the owner."""
    if exact.owner_id is None:
        return CustomerError(409, "this customer is already registered and is in the public pool: claim it from the "
                                  "pool instead of entering it again", "name", in_pool=True)
    if exact.owner_id == user.id:
        return CustomerError(409, "you have already registered this customer", "name", customer_id=exact.id)
    return CustomerError(409, "this customer is already registered by another salesperson (first registered, first "
                              "served); you may open a conflict case", "name", conflict_possible=True)


# ---------------------------------------------------------------- validation (E1)

def _text(data: dict, key: str, max_len: int, errors: dict) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = "must be text"
        return None
    value = value.strip()
    if len(value) > max_len:
        errors[key] = f"at most {max_len} characters"
        return None
    return value or None


def clean_fields(session: Session, user: User, data: dict, *, partial: bool) -> dict:
    """Validate and normalise customer fields; 422 naming the first field at fault."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if not partial or "name" in data:
        name = _text(data, "name", 200, errors)
        if "name" not in errors and not normalized(name or ""):
            errors["name"] = "the registered business name is required (E1)"
        out["name"] = name
    if "credit_code" in data:
        code = _text(data, "credit_code", 40, errors)
        if code:
            problem = credit_code_error(code)
            if problem:
                errors["credit_code"] = problem
            code = code.upper()
        out["credit_code"] = code
    if "phone" in data:
        phone = _text(data, "phone", 40, errors)
        if phone and phone_error(phone):
            errors["phone"] = phone_error(phone)
        out["phone"] = phone
    for key, size in (("region", 60), ("industry", 60), ("address", 300)):
        if key in data:
            out[key] = _text(data, key, size, errors)
    if "grade" in data:
        grade = _text(data, "grade", 10, errors)
        if grade and grade.upper() not in GRADES:
            errors["grade"] = f"one of {', '.join(GRADES)}"
        out["grade"] = grade.upper() if grade else None
    if "first_contact_at" in data:
        when = data.get("first_contact_at")
        if when is not None and not isinstance(when, datetime):
            errors["first_contact_at"] = "a date like 2026-11-26"
        elif when is not None:
            try:
                when = when.replace(tzinfo=None) if when.tzinfo is None else \
                    (when - when.utcoffset()).replace(tzinfo=None)
            except OverflowError:
                when = datetime.min
            if when > clock.now():
                errors["first_contact_at"] = "the first contact cannot be in the future"
            elif when.year < 1990:
                errors["first_contact_at"] = "a date after 1990"
        out["first_contact_at"] = when
    if errors:
        key = next(iter(errors))
        raise CustomerError(422, errors[key], key, all_errors=errors)
    return out


# ---------------------------------------------------------------- entry (E1, E3, E6, C1)

def allowed_kinds(user: User) -> set[str]:
    kinds: set[str] = set()
    for role in user.role_codes:
        kinds |= ENTRY_KINDS.get(role, frozenset())
    return kinds


def create_customer(session: Session, user: User, data: dict, *, confirm_similar: bool = False) -> Customer:
    """Enter a customer (status `pending` when a salesperson enters it: E2 review follows)."""
    if not user.is_active or user.sector_id is None:
        raise CustomerError(403, "only staff of a sector enter customers")
    kinds = allowed_kinds(user)
    if not kinds:
        raise CustomerError(403, "your role does not enter customers (E6)", "kind")
    kind = data.get("kind") or ("direct" if "direct" in kinds else min(kinds))
    if kind not in CUSTOMER_KINDS:
        raise CustomerError(422, f"one of {', '.join(CUSTOMER_KINDS)}", "kind")
    if kind not in kinds:
        raise CustomerError(403, f"you may enter only {', '.join(sorted(kinds))} customers (E6)", "kind")
    fields_ = clean_fields(session, user, data, partial=False)
    agent_id = data.get("agent_id")
    agent = None
    if kind == "end_customer":
        if not agent_id:
            raise CustomerError(422, "an end customer needs its agent (agent_id)", "agent_id")
        agent = session.scalar(select(Customer).where(Customer.id == agent_id, access.customer_filter(user)))
        if agent is None or agent.kind != "agent":
            raise CustomerError(422, "agent_id must be an agent customer you can see", "agent_id")
    elif agent_id:
        raise CustomerError(422, "only an end customer has an agent", "agent_id")
    contact = data.get("contact")
    contact_fields = None
    if contact is not None:
        from models.contacts import clean_contact

        contact_fields = clean_contact(contact, partial=False, prefix="contact.")

    dup = check_duplicates(session, user, name=fields_["name"], credit_code=fields_.get("credit_code"),
                           phone=fields_.get("phone"))
    if dup.exact is not None:
        raise refuse_exact(user, dup.exact)
    if dup.similar_count and not confirm_similar:
        raise CustomerError(
            409, "similar customers exist; check them and confirm (confirm_similar) to enter this one anyway",
            "confirm_similar", similar=[{"id": c.id, "name": c.name} for c in dup.similar_visible],
            similar_count=dup.similar_count)

    now = clock.now()
    reviewed = is_reviewed_entrant(user)
    customer = Customer(
        sector_id=user.sector_id, department_id=user.department_id, owner_id=user.id,
        name=fields_["name"], name_normalized=normalized(fields_["name"]),
        pinyin_initials=pinyin_initials(fields_["name"]) or None, kind=kind, agent_id=agent.id if agent else None,
        status="pending" if reviewed else "approved", created_by=user.id, created_at=now, updated_at=now,
        **{k: fields_.get(k) for k in ("credit_code", "phone", "region", "industry", "address", "grade",
                                        "first_contact_at")},
    )
    _insert_unique(session, user, customer)
    lateness = _late_entry(session, customer, now)
    audit.record(session, actor_id=user.id, action="customer.create", entity_type="customer", entity_id=customer.id,
                 sector_id=customer.sector_id, after={**snapshot(customer), "similar_confirmed": dup.similar_count
                                                      if confirm_similar else 0, **lateness})
    if contact_fields is not None:
        from models.contacts import add_contact

        add_contact(session, user, customer, {**contact_fields, "is_primary": True})
    return customer


def _insert_unique(session: Session, user: User, customer: Customer) -> None:
    """Insert under the unique keys (sector, normalised name) and (sector, credit code): of two concurrent
    entrants exactly one succeeds, the other gets the C1 refusal (409)."""
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError as exc:
        raise CustomerError(409, "this customer has just been registered by someone else (first registered, first "
                                 "served)", "name") from exc


def _late_entry(session: Session, customer: Customer, now: datetime) -> dict:
    """E3: entered more than `customer.entry_days` after first contact → flagged; beyond
    `customer.entry_max_days` it is still accepted, flagged, and the audit says so."""
    if customer.first_contact_at is None:
        return {}
    days = (now - customer.first_contact_at).days
    limit = int(settings.get(session, "customer.entry_days", customer.sector_id))
    max_limit = int(settings.get(session, "customer.entry_max_days", customer.sector_id))
    if days <= limit:
        return {}
    customer.late_entry = True
    session.add(Flag(sector_id=customer.sector_id, kind="late_entry", entity_type="customer", entity_id=customer.id,
                     user_id=customer.owner_id, period=now.date(), raised_at=now))
    return {"late_entry": "beyond_max" if days > max_limit else "late", "entry_days": days,
            "entry_limit": limit, "entry_max": max_limit}


def snapshot(customer: Customer) -> dict:
    out = {k: getattr(customer, k) for k in ("name", "credit_code", "kind", "status", "owner_id", "department_id",
                                             "phone", "region", "industry", "address", "grade", "agent_id")}
    if customer.first_contact_at:
        out["first_contact_at"] = customer.first_contact_at.isoformat()
    return out


def update_customer(session: Session, user: User, customer_id: int, data: dict) -> Customer:
    """Edit a customer: its owner or his managers (O4). A renamed customer is checked for duplicates again."""
    customer = visible_customer(session, user, customer_id)
    if not may_edit(user, customer):
        raise CustomerError(403, "only the owner or his managers may change this customer")
    fields_ = clean_fields(session, user, {k: v for k, v in data.items() if k in EDITABLE}, partial=True)
    if "name" in fields_ or fields_.get("credit_code"):
        dup = check_duplicates(session, user, name=fields_.get("name") or customer.name,
                               credit_code=fields_.get("credit_code") or customer.credit_code, exclude_id=customer.id)
        if dup.exact is not None:
            raise refuse_exact(user, dup.exact)
    before = snapshot(customer)
    for key, value in fields_.items():
        setattr(customer, key, value)
    if "name" in fields_:
        customer.name_normalized = normalized(customer.name)
        customer.pinyin_initials = pinyin_initials(customer.name) or None
    changed = {k: v for k, v in snapshot(customer).items() if before.get(k) != v}
    if not changed:
        return customer
    customer.updated_at = clock.now()
    _flush_unique(session, customer)
    audit.record(session, actor_id=user.id, action="customer.update", entity_type="customer", entity_id=customer.id,
                 sector_id=customer.sector_id, before={k: before.get(k) for k in changed}, after=changed)
    return customer


def _flush_unique(session: Session, customer: Customer) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise CustomerError(409, "another customer with this name or credit code has just been registered", "name") \
            from exc


def check_resubmit(user: User, customer: Customer) -> None:
    if customer.owner_id != user.id:
        raise CustomerError(403, "only the owner resubmits a returned customer")
    if customer.status != "returned":
        raise CustomerError(409, "only a returned customer can be resubmitted for review", "status")


# ---------------------------------------------------------------- collaborators (O3)

def may_share(user: User, customer: Customer) -> bool:
    return customer.owner_id is not None and may_edit(user, customer)


def shares_of(session: Session, customer_id: int) -> list[tuple[RecordShare, str]]:
    return list(session.execute(
        select(RecordShare, User.display_name).join(User, User.id == RecordShare.user_id)
        .where(RecordShare.entity_type == "customer", RecordShare.entity_id == customer_id)
        .order_by(RecordShare.id)))


def _share_target(session: Session, user: User, customer: Customer, user_id: int | None, username: str | None) -> User:
    target = None
    if user_id:
        target = session.get(User, user_id)
    elif username:
        target = session.scalar(select(User).where(User.username == username.strip()))
    if target is None or target.sector_id != customer.sector_id or not target.is_active:
        raise CustomerError(422, "choose an active user of the customer's sector", "user_id")
    return target


def share_customer(session: Session, user: User, customer_id: int, *, user_id: int | None = None,
                   username: str | None = None) -> RecordShare:
    """O3: the owner (or his manager) shares a customer with a collaborator of the same sector."""
    customer = visible_customer(session, user, customer_id)
    if not may_share(user, customer):
        raise CustomerError(403, "only the owner or his manager shares a customer")
    target = _share_target(session, user, customer, user_id, username)
    if target.id == customer.owner_id:
        raise CustomerError(422, "the owner already sees his customer", "user_id")
    return add_share(session, user.id, customer, target.id)


def add_share(session: Session, actor_id: int | None, customer: Customer, user_id: int) -> RecordShare:
    existing = session.scalar(select(RecordShare).where(
        RecordShare.entity_type == "customer", RecordShare.entity_id == customer.id, RecordShare.user_id == user_id))
    if existing is not None:
        return existing
    share = RecordShare(entity_type="customer", entity_id=customer.id, user_id=user_id, created_by=actor_id,
                        created_at=clock.now())
    session.add(share)
    session.flush()
    audit.record(session, actor_id=actor_id, action="customer.share", entity_type="customer", entity_id=customer.id,
                 sector_id=customer.sector_id, after={"shared_with": user_id})
    return share


def unshare_customer(session: Session, user: User, customer_id: int, *, user_id: int) -> None:
    customer = visible_customer(session, user, customer_id)
    if not may_share(user, customer):
        raise CustomerError(403, "only the owner or his manager changes who shares a customer")
    share = session.scalar(select(RecordShare).where(
        RecordShare.entity_type == "customer", RecordShare.entity_id == customer.id, RecordShare.user_id == user_id))
    if share is None:
        raise CustomerError(404, "this customer is not shared with that user", "user_id")
    session.delete(share)
    audit.record(session, actor_id=user.id, action="customer.unshare", entity_type="customer", entity_id=customer.id,
                 sector_id=customer.sector_id, before={"shared_with": user_id})


# ---------------------------------------------------------------- company details (E5)

def _won_filter():
    return exists().where(Opportunity.customer_id == Customer.id, Opportunity.status == "won")


def is_customer_service(user: User, sector_id: int) -> bool:
    return any(g.role_code == "customer_service" and (g.sector_id in (None, sector_id)) for g in user.grants) \
        and user.sector_id == sector_id


def details_customer(session: Session, user: User, customer_id: int) -> Customer:
    """The customer whose details `user` may complete: its owner, or customer service of its sector once a deal
    with it is won (E5). Anyone else who may see it gets 403; others 404."""
    if user.is_active and user.sector_id is not None and "customer_service" in user.role_codes:
        customer = session.scalar(select(Customer).where(
            Customer.id == customer_id, Customer.sector_id == user.sector_id, _won_filter()))
        if customer is not None and is_customer_service(user, customer.sector_id):
            return customer
    customer = visible_customer(session, user, customer_id)
    if customer.owner_id != user.id:
        raise CustomerError(403, "customer service (after a win) or the owner completes the company details")
    return customer


def complete_company_details(session: Session, user: User, customer_id: int, details: dict) -> Customer:
    customer = details_customer(session, user, customer_id)
    clean: dict[str, str] = {}
    for key in COMPANY_DETAIL_KEYS:
        value = details.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value.strip()) > 300:
            raise CustomerError(422, "text of at most 300 characters", key)
        if value.strip():
            clean[key] = value.strip()
    unknown = sorted(set(details) - set(COMPANY_DETAIL_KEYS))
    if unknown:
        raise CustomerError(422, f"unknown detail {unknown[0]!r}", unknown[0])
    if not clean.get("legal_representative"):
        raise CustomerError(422, "the legal representative is required", "legal_representative")
    before = customer.company_details
    customer.company_details = clean
    customer.details_completed_at = clock.now()
    customer.updated_at = clock.now()
    audit.record(session, actor_id=user.id, action="customer.company_details", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id, before={"company_details": before},
                 after={"company_details": clean})
    return customer


def customer_service_users(session: Session, sector_id: int) -> list[User]:
    return list(session.scalars(select(User).join(UserRole, UserRole.user_id == User.id).where(
        UserRole.role_code == "customer_service", User.sector_id == sector_id)))


def primary_contact(session: Session, customer_id: int) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.customer_id == customer_id)
                          .order_by(Contact.is_primary.desc(), Contact.id).limit(1))
