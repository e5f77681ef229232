"""Audit trail (policy O6): who changed what, before and after, when. Rows are append-only."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import clock
from models.base import Base, JSONType


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(60))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    before: Mapped[Any | None] = mapped_column(JSONType)
    after: Mapped[Any | None] = mapped_column(JSONType)


class AuditImmutable(RuntimeError):
    pass


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _refuse_change(_mapper, _conn, target: AuditLog) -> None:
    raise AuditImmutable(f"audit record {target.id} is append-only")


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: Any,
    sector_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditLog:
    row = AuditLog(
        at=clock.now(), actor_id=actor_id, action=action, entity_type=entity_type,
        entity_id=str(entity_id), sector_id=sector_id, before=before, after=after,
    )
    session.add(row)
    return row
