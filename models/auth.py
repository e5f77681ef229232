"""Passwords (Argon2), API bearer tokens and login rate limiting."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Index, String, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import audit, clock
from models.base import Base
from models.org import User
from models.reports.records import LoginEvent

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_user_at", "username", "at"), Index("ix_login_attempt_ip_at", "ip", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    success: Mapped[bool]


class RateLimited(Exception):
    """Too many failed logins for this username or address."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def authenticate(
    session: Session, username: str, password: str, ip: str, *, max_failures: int, window_minutes: int
) -> User | None:
    """Check credentials with rate limiting; record the attempt. Raises RateLimited."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise attempts per username so parallel guesses cannot all pass the count below.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:u))"), {"u": username})
    since = clock.now() - timedelta(minutes=window_minutes)
    failures = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since, ~LoginAttempt.success)
    by_user = session.scalar(failures.where(LoginAttempt.username == username))
    by_ip = session.scalar(failures.where(LoginAttempt.ip == ip))
    if by_user >= max_failures or by_ip >= max_failures * 4:
        raise RateLimited()
    user = session.scalar(select(User).where(User.username == username))
    ok = check_password(user, password) and user is not None and user.is_active
    session.add(LoginAttempt(username=username[:80], ip=ip[:64], at=clock.now(), success=ok))
    if ok:
        user.last_login_at = clock.now()
        session.add(LoginEvent(user_id=user.id, sector_id=user.sector_id, at=user.last_login_at))  # A3
        audit.record(session, actor_id=user.id, action="login", entity_type="user", entity_id=user.id,
                     sector_id=user.sector_id)
    return user if ok else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, *, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), created_at=clock.now(),
                         expires_at=clock.now() + lifetime))
    audit.record(session, actor_id=user.id, action="token.issue", entity_type="user", entity_id=user.id,
                 sector_id=user.sector_id)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.expires_at < clock.now():
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None
