"""Notifications to users: urges (催办), copies (抄送), reminders, escalations, digests.

A row per user and event. `dedupe_key` makes job-made notifications idempotent: a reminder sweep that
runs twice (or on two workers) inserts each reminder once (unique per user and key).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import clock
from models.base import Base

KINDS = ("urge", "copy", "reminder", "escalation", "assigned", "returned", "info", "digest")


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_unread", "user_id", "read_at", "id"),
        UniqueConstraint("user_id", "dedupe_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]


def notify(session: Session, user_ids: Iterable[int], kind: str, title: str, *, link: str | None = None,
           body: str | None = None, sector_id: int | None = None, dedupe_key: str | None = None) -> int:
    """Add one notification per user (skipping users who already have `dedupe_key`); returns how many."""
    ids = sorted({int(u) for u in user_ids if u is not None})
    if not ids:
        return 0
    if dedupe_key is not None:
        have = set(session.scalars(select(Notification.user_id).where(
            Notification.user_id.in_(ids), Notification.dedupe_key == dedupe_key)))
        ids = [u for u in ids if u not in have]
    now = clock.now()
    session.add_all([Notification(user_id=u, kind=kind, title=title[:300], body=body, link=link,
                                  sector_id=sector_id, dedupe_key=dedupe_key, created_at=now) for u in ids])
    return len(ids)
