"""Job leases: two app processes (or a scheduler and a worker) do not start the same scheduled job at once.

A lease is one row per job name: the holder and until when it holds it. Taking a lease is one conditional
statement (free, expired, or already mine), so it is safe between processes on SQLite and PostgreSQL.
Leases use the wall clock, not `models.clock` (which tests and `--as-of` runs move): they are about
processes, not business time.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, write_transaction


class JobLease(Base):
    __tablename__ = "job_lease"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


def wall_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def acquire(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    """Take (or renew) the lease on `name` for `ttl`; False when another holder's lease is still running.
    Commits its own short transaction."""
    now = wall_now()
    with write_transaction(session):
        taken = session.execute(
            update(JobLease).where(JobLease.name == name, (JobLease.expires_at <= now) | (JobLease.holder == holder))
            .values(holder=holder, expires_at=now + ttl).execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            try:
                with session.begin_nested():
                    session.execute(insert(JobLease).values(name=name, holder=holder, expires_at=now + ttl))
                taken = 1
            except IntegrityError:  # someone else holds it (the row exists and is not expired)
                taken = 0
        session.commit()
    return bool(taken)


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease up early (only if it is still ours)."""
    with write_transaction(session):
        session.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == holder)
                        .values(expires_at=wall_now()).execution_options(synchronize_session=False))
        session.commit()
