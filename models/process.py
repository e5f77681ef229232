"""Tables of the process engine: versioned definitions, instances, human tasks and instance events.

The engine room (`engine/`) owns the behaviour; the tables live here so that one metadata
describes the whole database for Alembic.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import clock
from models.base import Base

INSTANCE_STATUSES = ("running", "completed", "error", "cancelled", "withdrawn")
TASK_STATUSES = ("open", "completed", "cancelled")


class ProcessDefinition(Base):
    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),
                      Index("ix_process_definition_current", "kind", "key", "sector_id", "version"))
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    # Deferred: read only when a parsed spec is not cached yet, never for lists or task lookups.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    checksum: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="published")
    deployed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    deployed_at: Mapped[datetime] = mapped_column(default=clock.now)
    # "bpmn" = a process; "dmn" = a decision table called by business rule tasks.
    kind: Mapped[str] = mapped_column(String(10), default="bpmn")
    # NULL = group-level (every sector); a sector's own version takes precedence for that sector.
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    # Set when this version republishes an earlier one (rollback) or was drawn from one.
    source_version: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(String(500))
    # JSON list of the DMN definition ids a BPMN version is bound to (its business rule tasks' tables).
    dmn_refs: Mapped[str | None] = mapped_column(Text)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_process_instance_starter", "started_by", "started_at"),
        Index("ix_process_instance_subject", "subject_type", "subject_id"),
        Index("ix_process_instance_timer", "next_timer_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="running")
    # Serialized SpiffWorkflow state WITHOUT the spec (the spec is the definition's XML). Text, not
    # JSONB: it is only ever loaded whole by the engine, and JSONB would re-parse it on every write.
    state: Mapped[str] = mapped_column(Text)
    # Optimistic concurrency: every engine step bumps it; a stale writer gets a conflict.
    version: Mapped[int] = mapped_column(Integer, default=0)
    business_key: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    started_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[datetime | None]
    next_timer_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it as is)


class HumanTask(Base):
    """A manual/user task while it is READY in the workflow; the inbox reads only these rows."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_claimable", "status", "role_code", "department_id", "sector_id"),
        Index("ix_human_task_assignee", "assignee_id", "status"),
        Index("ix_human_task_done_by", "completed_by", "completed_at"),
        Index("ix_human_task_due", "status", "due_at"),
        UniqueConstraint("instance_id", "spiff_task_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    form: Mapped[str] = mapped_column(String(40), default="approval")
    role_code: Mapped[str | None] = mapped_column(String(40))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decision: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    # Due-date work (reminder before, escalation after); set by the deadline job, once each.
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # When the diagram sets the task's own reminder (property remind_hours): due_at minus those hours.
    # NULL: the sector's setting task.remind_hours_before applies.
    remind_at: Mapped[datetime | None]
    # "task" = a step of the diagram; "resubmit" = the step parked with the submitter after 驳回 to him.
    kind: Mapped[str] = mapped_column(String(20), default="task")
    # Role code that an overdue task escalates to (the user task's `escalate_to` property), if any.
    escalate_to: Mapped[str | None] = mapped_column(String(40))
    # Last urge (催办) by the initiator: at most one per `task.urge_interval_hours`.
    urged_at: Mapped[datetime | None]

    instance: Mapped[ProcessInstance] = relationship(lazy="joined", innerjoin=True)


class InstanceEvent(Base):
    """The history of an instance (流转记录): started, task created/claimed/completed, ended."""

    __tablename__ = "instance_event"
    __table_args__ = (Index("ix_instance_event_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    task_name: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    # The user the actor acted for under a delegation (history shows "X（代 Y）").
    acting_for_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    # Relationships (not ids) so a step's new rows go to the database in one flush.
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    task: Mapped[HumanTask | None] = relationship(lazy="raise")


DRAFT_SOURCES = ("modeler", "import")


class ProcessDraft(Base):
    """A diagram being edited (or imported from another tool): never runs; publishing makes a version.

    A draft that cannot run is still kept, with its problems, so nothing a designer drew is lost.
    """

    __tablename__ = "process_draft"
    __table_args__ = (Index("ix_process_draft_scope", "sector_id", "kind", "updated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="bpmn")
    key: Mapped[str] = mapped_column(String(100), default="")  # executable process id / decision id, or ""
    name: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(200))
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sector.id"))
    base_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    source: Mapped[str] = mapped_column(String(10), default="modeler")
    executable: Mapped[bool] = mapped_column(default=False)
    problems: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {element, message}
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    published_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    # Optimistic concurrency: two designers saving the same draft — the stale one gets 409.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012
