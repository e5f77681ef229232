"""Tables of the approval actions (issue 4): comments and attachments on a process, copies (抄送), delegations.

The behaviour lives in engine/actions.py; the tables live here so that one metadata describes the database.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import clock
from models.base import Base


class TaskComment(Base):
    """A comment (评论) on a process instance, written on one of its task pages."""

    __tablename__ = "task_comment"
    __table_args__ = (Index("ix_task_comment_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TaskAttachment(Base):
    """A file attached (附件) to a process instance; bytes content-addressed under `<dir>/<sha256>`."""

    __tablename__ = "task_attachment"
    __table_args__ = (Index("ix_task_attachment_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)


class InstanceCopy(Base):
    """A process instance copied (抄送) to a user: he may read it and its history; `read_at` once opened."""

    __tablename__ = "instance_copy"
    __table_args__ = (
        UniqueConstraint("instance_id", "user_id"),
        Index("ix_instance_copy_user", "user_id", "copied_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    copied_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    copied_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]


class Delegation(Base):
    """While on leave the delegator's tasks go to the delegate too (委托), from `starts_on` to `ends_on`."""

    __tablename__ = "delegation"
    __table_args__ = (
        Index("ix_delegation_delegate", "delegate_id", "active", "starts_on"),
        Index("ix_delegation_delegator", "delegator_id", "active", "starts_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    delegate_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
