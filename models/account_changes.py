"""Account changes (policy O5): open, change role, close, freeze and unfreeze a sector's accounts.

The sector admin submits a request for a user of his sector (never a group-wide account) within one
working day of the staff change (setting `account.submit_working_days`; a later request is flagged
`late`). The sector head approves it in the `account_change` process, and only then is it carried out
(`apply`). A freeze takes effect at once, on submission (`freeze_now`): the account can no longer log
in, its API tokens are revoked, and the sector head acknowledges it afterwards (rejecting lifts it).

Closing hands the account's records (customers, leads, opportunities, quotes, contracts) and its open
tasks to a named successor — an active user of the same sector — in the caller's one transaction,
with one set-based UPDATE per table (never a loop over records).
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import audit, clock, settings, workcalendar
from models.base import Base, JSONType
from models.errors import DomainError
from models.org import ROLES, Department, User, UserRole

KINDS = ("open", "change_role", "close", "freeze", "unfreeze")
STATUSES = ("pending", "approved", "rejected", "withdrawn")
SUBMITTER_ROLE = "sector_admin"
APPROVER_ROLE = "sector_head"
# Accounts a sector admin never touches: group-wide roles (system admin, group management, group marketing).
GROUP_ROLES = frozenset(code for code, (_zh, _en, scope) in ROLES.items() if scope == "group")
PASSWORD_MIN = 8


class AccountChange(Base):
    __tablename__ = "account_change"
    __table_args__ = (
        Index("ix_account_change_sector_status", "sector_id", "status", "id"),
        Index("ix_account_change_target", "target_user_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # the account concerned; for `open` set when the approved account is created
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # open: the new account (the initial password is kept only as an Argon2 hash, and only until decided)
    username: Mapped[str | None] = mapped_column(String(80))
    display_name: Mapped[str | None] = mapped_column(String(120))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # open / change_role: [{"role": code, "department_id": id or null}]; change_role: role codes to remove
    roles_add: Mapped[Any | None] = mapped_column(JSONType)
    roles_remove: Mapped[Any | None] = mapped_column(JSONType)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))  # close
    staff_change_date: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None]
    result: Mapped[Any | None] = mapped_column(JSONType)  # what was carried out (hand-over counts …)
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)


class AccountChangeError(DomainError):
    """A refusal: `status` 403/404/409/422 and the input field at fault."""

    def __init__(self, status: int, message: str, field_name: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field_name

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


# ---------------------------------------------------------------- who

def admin_sector(user: User) -> int:
    """The sector `user` administers (a sector-scope `sector_admin` grant in his own sector), else 403."""
    if user.is_active and user.sector_id is not None and any(
            g.role_code == SUBMITTER_ROLE and g.sector_id == user.sector_id and g.department_id is None
            for g in user.grants):
        return user.sector_id
    raise AccountChangeError(403, "only the sector admin submits account changes")


def is_sector_admin(user: User) -> bool:
    try:
        admin_sector(user)
    except AccountChangeError:
        return False
    return True


def may_view(user: User) -> int | None:
    """The sector whose account changes `user` sees: its sector admin and its sector head."""
    if not user.is_active or user.sector_id is None:
        return None
    if any(g.role_code in (SUBMITTER_ROLE, APPROVER_ROLE) and g.sector_id == user.sector_id for g in user.grants):
        return user.sector_id
    return None


def visible_condition(user: User):
    sector = may_view(user)
    return AccountChange.sector_id == sector if sector is not None else AccountChange.id.is_(None)


def _group_account(session: Session, user_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(UserRole).where(
        UserRole.user_id == user_id, or_(UserRole.role_code.in_(GROUP_ROLES),
                                         UserRole.sector_id.is_(None) & UserRole.department_id.is_(None)))) > 0


def sector_user(session: Session, sector_id: int, user_id: int | None, field: str) -> User:
    """A user of the sector (404 otherwise: other sectors' and group accounts are not revealed)."""
    user = session.get(User, user_id) if isinstance(user_id, int) and user_id > 0 else None
    if user is None or user.sector_id != sector_id:
        raise AccountChangeError(404, "no such user in your sector", field)
    return user


# ---------------------------------------------------------------- submitting

def deadline_for(session: Session, sector_id: int, staff_change_date: date) -> date:
    """The last day to submit: `account.submit_working_days` working days after the staff change."""
    days = int(settings.get(session, "account.submit_working_days", sector_id))
    return workcalendar.add_working_days(session, datetime.combine(staff_change_date, time()), days).date()


def _late(session: Session, sector_id: int, staff_change_date: date, now: datetime) -> bool:
    return now.date() > deadline_for(session, sector_id, staff_change_date)


def _check_roles(session: Session, sector_id: int, entries: Any, default_department: int | None,
                 field: str) -> list[dict]:
    if not isinstance(entries, list) or len(entries) > 20:
        raise AccountChangeError(422, "a list of at most 20 roles", field)
    out: list[dict] = []
    for entry in entries:
        code = entry.get("role") if isinstance(entry, dict) else None
        if code not in ROLES or code in GROUP_ROLES:
            raise AccountChangeError(422, f"unknown role or not a role of a sector: {code!r}", field)
        department_id = entry.get("department_id") or None
        if ROLES[code][2] == "department":
            department_id = department_id or default_department
            if department_id is None:
                raise AccountChangeError(422, f"role {code} needs a department", field)
            if session.scalar(select(Department.sector_id).where(Department.id == department_id)) != sector_id:
                raise AccountChangeError(422, "department not in your sector", field)
        else:
            department_id = None
        item = {"role": code, "department_id": department_id}
        if item not in out:
            out.append(item)
    return out


def _pending_for(session: Session, target_id: int, kinds: tuple[str, ...]) -> bool:
    return session.scalar(select(AccountChange.id).where(
        AccountChange.target_user_id == target_id, AccountChange.status == "pending",
        AccountChange.kind.in_(kinds)).limit(1)) is not None


def create_request(session: Session, actor: User, data: dict) -> AccountChange:
    """Validate and record a request (the caller starts its process). 403 / 404 / 409 / 422 name the field."""
    sector_id = admin_sector(actor)
    kind = data.get("kind")
    if kind not in KINDS:
        raise AccountChangeError(422, f"one of {', '.join(KINDS)}", "kind")
    reason = (data.get("reason") or "").strip()
    if not reason:
        raise AccountChangeError(422, "give the reason for the change", "reason")
    staff_change_date = data.get("staff_change_date")
    today = clock.now().date()
    if not isinstance(staff_change_date, date) or abs((staff_change_date - today).days) > 366:
        raise AccountChangeError(422, "the date of the staff change, within a year of today", "staff_change_date")
    change = AccountChange(sector_id=sector_id, kind=kind, status="pending", staff_change_date=staff_change_date,
                           reason=reason[:4000], submitted_by=actor.id, submitted_at=clock.now(),
                           late=_late(session, sector_id, staff_change_date, clock.now()))
    if kind == "open":
        _fill_open(session, sector_id, change, data)
    else:
        target = sector_user(session, sector_id, data.get("target_user_id"), "target_user_id")
        if _group_account(session, target.id):
            raise AccountChangeError(403, "group-wide accounts are not managed by the sector admin", "target_user_id")
        if target.id == actor.id:
            raise AccountChangeError(403, "ask another administrator to change your own account", "target_user_id")
        change.target_user_id = target.id
        _fill_change(session, sector_id, change, target, kind, data)
    session.add(change)
    session.flush()
    audit.record(session, actor_id=actor.id, action=f"account_change.submit.{kind}", entity_type="account_change",
                 entity_id=change.id, sector_id=sector_id, after=summary(change))
    return change


def _fill_open(session: Session, sector_id: int, change: AccountChange, data: dict) -> None:
    from models.auth import hash_password

    username = (data.get("username") or "").strip()
    if not username or len(username) > 80 or any(c.isspace() for c in username):
        raise AccountChangeError(422, "a login name without spaces, at most 80 characters", "username")
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None or \
            session.scalar(select(AccountChange.id).where(
                AccountChange.kind == "open", AccountChange.status == "pending",
                func.lower(AccountChange.username) == username.lower()).limit(1)) is not None:
        raise AccountChangeError(422, "this login name is taken", "username")
    display_name = (data.get("display_name") or "").strip()
    if not display_name or len(display_name) > 120:
        raise AccountChangeError(422, "the person's name", "display_name")
    department_id = data.get("department_id") or None
    if department_id is not None and session.scalar(
            select(Department.sector_id).where(Department.id == department_id)) != sector_id:
        raise AccountChangeError(422, "department not in your sector", "department_id")
    password = data.get("password") or ""
    if len(password) < PASSWORD_MIN or len(password) > 200:
        raise AccountChangeError(422, f"an initial password of {PASSWORD_MIN} to 200 characters", "password")
    roles = _check_roles(session, sector_id, data.get("roles_add") or [], department_id, "roles_add")
    if not roles:
        raise AccountChangeError(422, "give the new account at least one role", "roles_add")
    change.username, change.display_name, change.department_id = username, display_name, department_id
    change.password_hash = hash_password(password)
    change.roles_add = roles


def _fill_change(session: Session, sector_id: int, change: AccountChange, target: User, kind: str,
                 data: dict) -> None:
    if target.status == "closed":
        raise AccountChangeError(409, "this account is closed", "target_user_id")
    if kind == "freeze" and target.status != "active":
        raise AccountChangeError(409, "this account is already frozen", "target_user_id")
    if kind == "unfreeze" and target.status != "frozen":
        raise AccountChangeError(409, "this account is not frozen", "target_user_id")
    if _pending_for(session, target.id, (kind,)):
        raise AccountChangeError(409, "a request of this kind for this account is already waiting", "target_user_id")
    if kind == "change_role":
        add = _check_roles(session, sector_id, data.get("roles_add") or [], target.department_id, "roles_add")
        remove = data.get("roles_remove") or []
        if not isinstance(remove, list) or any(r not in target.role_codes or r in GROUP_ROLES for r in remove):
            raise AccountChangeError(422, "roles the user holds in your sector", "roles_remove")
        if not add and not remove:
            raise AccountChangeError(422, "name roles to add or to remove", "roles_add")
        change.roles_add, change.roles_remove = add, sorted(set(remove))
    elif kind == "close":
        change.successor_id = check_successor(session, sector_id, target.id, data.get("successor_id")).id


def check_successor(session: Session, sector_id: int, target_id: int, successor_id: Any) -> User:
    """O5: the successor is an active user of the same sector, not the leaver himself (422 otherwise)."""
    successor = session.get(User, successor_id) if isinstance(successor_id, int) and successor_id > 0 else None
    if successor is None or successor.sector_id != sector_id or successor.status != "active" \
            or successor.id == target_id:
        raise AccountChangeError(422, "name an active user of the same sector as successor", "successor_id")
    return successor


# ---------------------------------------------------------------- carrying out

def revoke_tokens(session: Session, user_id: int) -> int:
    from models.auth import ApiToken

    return session.execute(delete(ApiToken).where(ApiToken.user_id == user_id)).rowcount or 0


def _set_status(session: Session, user: User, status: str, actor_id: int | None, change: AccountChange) -> None:
    before = user.status
    user.status = status
    if status != "active":
        revoke_tokens(session, user.id)
    audit.record(session, actor_id=actor_id, action=f"user.{status}", entity_type="user", entity_id=user.id,
                 sector_id=user.sector_id, before={"status": before},
                 after={"status": status, "account_change_id": change.id})


def freeze_now(session: Session, actor: User, change: AccountChange) -> None:
    """O5: a freeze takes effect at once, before any approval."""
    target = session.get(User, change.target_user_id)
    _set_status(session, target, "frozen", actor.id, change)


def _grant(session: Session, user: User, sector_id: int, roles: list[dict]) -> list[str]:
    added = []
    for item in roles:
        dept = item.get("department_id")
        exists = session.scalar(select(UserRole.id).where(
            UserRole.user_id == user.id, UserRole.role_code == item["role"], UserRole.sector_id == sector_id,
            UserRole.department_id.is_(None) if dept is None else UserRole.department_id == dept))
        if exists is None:
            session.add(UserRole(user_id=user.id, role_code=item["role"], sector_id=sector_id, department_id=dept))
            added.append(item["role"])
    return added


def _handover(session: Session, old: User, successor: User) -> dict[str, int]:
    """One set-based UPDATE per table: every record the leaver owns and every open task assigned to him."""
    from models.contracts import Contract
    from models.crm import Customer, Quote
    from models.process import HumanTask
    from models.sales import Lead, Opportunity

    counts: dict[str, int] = {}
    for name, model in (("customers", Customer), ("leads", Lead), ("opportunities", Opportunity),
                        ("quotes", Quote), ("contracts", Contract)):
        values: dict[str, Any] = {"owner_id": successor.id}
        if hasattr(model, "version"):  # optimistic locking: a stale edit of a handed-over record must fail
            values["version"] = model.version + 1
        result = session.execute(update(model).where(model.owner_id == old.id).values(**values)
                                 )
        counts[name] = result.rowcount or 0
    result = session.execute(update(HumanTask).where(HumanTask.assignee_id == old.id, HumanTask.status == "open")
                             .values(assignee_id=successor.id))
    counts["tasks"] = result.rowcount or 0
    return counts


def apply(session: Session, change: AccountChange, actor_id: int | None) -> dict:
    """Carry out an approved request (idempotent: an already decided request changes nothing)."""
    if change.status != "pending":
        return change.result or {}
    result: dict[str, Any] = {"kind": change.kind}
    if change.kind == "open":
        if session.scalar(select(User.id).where(func.lower(User.username) == change.username.lower())) is not None:
            raise AccountChangeError(409, "this login name was taken meanwhile", "username")
        user = User(username=change.username, display_name=change.display_name, password_hash=change.password_hash,
                    sector_id=change.sector_id, department_id=change.department_id, status="active",
                    created_at=clock.now())
        session.add(user)
        session.flush()
        result["roles_added"] = _grant(session, user, change.sector_id, change.roles_add or [])
        change.target_user_id, change.password_hash = user.id, None
        audit.record(session, actor_id=actor_id, action="user.open", entity_type="user", entity_id=user.id,
                     sector_id=change.sector_id, after={"username": user.username, "roles": change.roles_add,
                                                        "account_change_id": change.id})
        result["user_id"] = user.id
    else:
        target = session.get(User, change.target_user_id)
        if target.status == "closed" and change.kind != "close":
            result["skipped"] = "the account was closed meanwhile"  # nothing left to change
        elif change.kind == "change_role":
            removed = change.roles_remove or []
            if removed:
                session.execute(delete(UserRole).where(
                    UserRole.user_id == target.id, UserRole.role_code.in_(removed),
                    UserRole.sector_id == change.sector_id).execution_options(synchronize_session=False))
            result["roles_added"] = _grant(session, target, change.sector_id, change.roles_add or [])
            result["roles_removed"] = removed
            session.flush()
            session.expire(target, ["grants"])
            audit.record(session, actor_id=actor_id, action="user.change_role", entity_type="user",
                         entity_id=target.id, sector_id=change.sector_id,
                         after={"added": change.roles_add, "removed": removed, "account_change_id": change.id})
        elif change.kind == "close" and target.status != "closed":
            successor = check_successor(session, change.sector_id, target.id, change.successor_id)
            counts = _handover(session, target, successor)
            target = session.get(User, change.target_user_id)
            _set_status(session, target, "closed", actor_id, change)
            audit.record(session, actor_id=actor_id, action="user.handover", entity_type="user", entity_id=target.id,
                         sector_id=change.sector_id, after={"successor_id": successor.id, **counts,
                                                            "account_change_id": change.id})
            result.update(successor_id=successor.id, **counts)
            from models.notifications import notify
            notify(session, [successor.id], "assigned", f"您已接手 {target.display_name} 的工作：客户 {counts['customers']}、"
                   f"线索 {counts['leads']}、商机 {counts['opportunities']}、待办 {counts['tasks']}",
                   link="/inbox", sector_id=change.sector_id, dedupe_key=f"account_change:{change.id}:handover")
        elif change.kind == "unfreeze" and target.status == "frozen":
            _set_status(session, target, "active", actor_id, change)
        # freeze: already in effect since submission; approval confirms it
    _decide(session, change, "approved", actor_id, result)
    return result


def reject(session: Session, change: AccountChange, actor_id: int | None) -> dict:
    """Rejected: nothing is carried out. A rejected freeze is lifted (the leader did not confirm it)."""
    if change.status != "pending":
        return change.result or {}
    result: dict[str, Any] = {"kind": change.kind}
    if change.kind == "freeze":
        target = session.get(User, change.target_user_id)
        if target.status == "frozen":
            _set_status(session, target, "active", actor_id, change)
            result["lifted"] = True
    change.password_hash = None
    _decide(session, change, "rejected", actor_id, result)
    return result


def withdraw(session: Session, change: AccountChange, actor_id: int | None) -> None:
    """The sector admin withdrew the request before the leader decided: nothing is carried out. A freeze
    stays in effect (lifting it needs an unfreeze request the leader approves)."""
    if change.status == "pending":
        change.password_hash = None
        _decide(session, change, "withdrawn", actor_id, {"kind": change.kind})


def _decide(session: Session, change: AccountChange, status: str, actor_id: int | None, result: dict) -> None:
    from models.notifications import notify

    change.status, change.decided_by, change.decided_at, change.result = status, actor_id, clock.now(), result
    if actor_id != change.submitted_by:  # tell the sector admin how his request ended
        word = {"approved": "已批准并执行", "rejected": "未获批准", "withdrawn": "已撤回"}[status]
        notify(session, [change.submitted_by], "info", f"账号变更申请 ZH-{change.id:06d} {word}",
               link=f"/accounts/changes/{change.id}", sector_id=change.sector_id,
               dedupe_key=f"account_change:{change.id}:{status}")
    audit.record(session, actor_id=actor_id, action=f"account_change.{status}", entity_type="account_change",
                 entity_id=change.id, sector_id=change.sector_id, before={"status": "pending"},
                 after={"status": status, **result})


# ---------------------------------------------------------------- reading

def summary(change: AccountChange) -> dict:
    return {"kind": change.kind, "target_user_id": change.target_user_id, "username": change.username,
            "roles_add": change.roles_add, "roles_remove": change.roles_remove, "successor_id": change.successor_id,
            "staff_change_date": change.staff_change_date.isoformat(), "late": change.late}


def visible_change(session: Session, user: User, change_id: int) -> AccountChange:
    change = session.scalar(select(AccountChange).where(AccountChange.id == change_id, visible_condition(user)))
    if change is None:
        raise AccountChangeError(404, "account change not found")
    return change


def list_changes(session: Session, user: User, *, status: str | None = None, limit: int = 50,
                 offset: int = 0) -> list[AccountChange]:
    stmt = select(AccountChange).where(visible_condition(user))
    if status:
        stmt = stmt.where(AccountChange.status == status)
    return list(session.scalars(stmt.order_by(AccountChange.id.desc()).limit(limit).offset(offset)))


def sector_users(session: Session, user: User, *, status: str | None = None, q: str | None = None,
                 limit: int = 200, offset: int = 0) -> list[User]:
    """Users of the viewer's sector, for pickers (any active user of a sector) and the accounts page."""
    if not user.is_active or user.sector_id is None:
        return []
    stmt = select(User).where(User.sector_id == user.sector_id)
    if status:
        stmt = stmt.where(User.status == status)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    return list(session.scalars(stmt.order_by(User.username).limit(limit).offset(offset)))

