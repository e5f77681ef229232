"""Execution orders (执行单, X1) and implementation orders (实施单, I1) with their tasks and milestones.

X1: once the contract is approved or signed, the rep submits it (or the sales order) as an execution order; the
business manager reviews it; shipping, payment collection and implementation each confirm their part; then an
implementation order is created. I1: the implementation manager splits the order into tasks for implementers and
milestones tied to payment nodes (a share of the contract amount); business staff follow both on the order page.

The processes live in `workflows/execution_order.bpmn` and `workflows/implementation_order.bpmn`; the operations
that start them and the connectors they call are in `engine/order_flows.py`. Every write here checks access,
changes the record and writes its audit row in the caller's transaction.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models import audit, clock
from models.access import _scoped, sees_all_sectors
from models.base import Base
from models.contracts import Contract
from models.crm import Customer
from models.errors import DomainError
from models.org import User, UserRole

EXECUTION_KINDS = ("contract", "sales_order")
EXECUTION_STATUSES = ("pending", "returned", "approved", "confirmed", "abandoned")
# The parts notified in parallel after approval, and the role that confirms each (the diagram's lanes).
PARTS = {"shipping": "logistics", "collection": "finance", "implementation": "impl_manager"}
IMPLEMENTATION_STATUSES = ("planning", "in_progress", "accepting", "completed")
TASK_STATUSES = ("open", "done")
MILESTONE_STATUSES = ("pending", "reached")
# Contracts an execution order may be submitted for (X1: "once the price contract is done").
CONTRACT_READY = ("approved", "signed")
# Roles that follow execution and implementation orders of their whole sector besides the sector-wide roles
# (business manager, sales management, …): the people who ship, collect and implement.
ORDER_DESK_ROLES = {"logistics", "finance", "impl_manager"}
SUBMITTER_ROLES = {"sales_rep", "channel_rep"}


class ExecutionOrder(Base):
    __tablename__ = "execution_order"
    __table_args__ = (
        Index("ix_execution_order_sector_status", "sector_id", "status"),
        Index("ix_execution_order_owner", "owner_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="contract")
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    shipping_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    shipping_confirmed_at: Mapped[datetime | None]
    collection_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    collection_confirmed_at: Mapped[datetime | None]
    implementation_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    implementation_confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]

    contract: Mapped[Contract] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")


class ImplementationOrder(Base):
    __tablename__ = "implementation_order"
    __table_args__ = (Index("ix_implementation_order_sector_status", "sector_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    # One implementation order per execution order: the connector that creates it is idempotent.
    execution_order_id: Mapped[int] = mapped_column(ForeignKey("execution_order.id"), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    sector_id: Mapped[int] = mapped_column(ForeignKey("sector.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    status: Mapped[str] = mapped_column(String(20), default="planning")
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    execution_order: Mapped[ExecutionOrder] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")


class Milestone(Base):
    """A payment node: reached when all its tasks are done; `amount` is `percent` of the contract amount."""

    __tablename__ = "impl_milestone"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("implementation_order.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reached_at: Mapped[datetime | None]


class ImplementationTask(Base):
    __tablename__ = "impl_task"
    __table_args__ = (Index("ix_impl_task_implementer", "implementer_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("implementation_order.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    implementer_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    due_on: Mapped[date | None] = mapped_column(Date)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("impl_milestone.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    done_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)

    implementer: Mapped[User] = relationship(lazy="joined")


# ---------------------------------------------------------------- errors

class OrderError(DomainError):
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return {self.field: [self.message]} if self.field else None


class OrderRefused(OrderError):
    """Bad input or a business rule the input breaks: 422 naming the field."""

    status = 422


class OrderNotVisible(OrderError):
    """Not there, or not visible to this user: 404 (never reveals that it exists)."""

    status = 404


class OrderNotAllowed(OrderError):
    status = 403


# ---------------------------------------------------------------- access

def contract_filter(user: User) -> ColumnElement[bool]:
    """Contracts the user may read: own, his departments', or sector-wide roles (sector always applied)."""
    return _scoped(user, Contract.sector_id, Contract.department_id, [Contract.owner_id == user.id])


def execution_order_filter(user: User) -> ColumnElement[bool]:
    """The rep sees his own orders; department managers their department's; business manager, sales management,
    shipping, finance and implementation their sector's; other sectors never (404)."""
    return _scoped(user, ExecutionOrder.sector_id, ExecutionOrder.department_id,
                   [ExecutionOrder.owner_id == user.id], extra_sector_roles=ORDER_DESK_ROLES)


def implementation_order_filter(user: User) -> ColumnElement[bool]:
    """As execution orders; an implementer sees the orders he has a task on."""
    mine = ImplementationOrder.id.in_(select(ImplementationTask.order_id).where(
        ImplementationTask.implementer_id == user.id))
    return _scoped(user, ImplementationOrder.sector_id, ImplementationOrder.department_id,
                   [ImplementationOrder.owner_id == user.id, mine], extra_sector_roles=ORDER_DESK_ROLES)


def sees_all_tasks(user: User, order: ImplementationOrder) -> bool:
    """Implementers see only their own tasks on an order; everyone else who sees the order sees all of them."""
    if sees_all_sectors(user) or user.id == order.owner_id:
        return True
    return bool(user.role_codes - {"implementer"})


def visible_execution_order(session: Session, user: User, order_id: int) -> ExecutionOrder:
    order = session.scalar(select(ExecutionOrder).where(ExecutionOrder.id == order_id,
                                                        execution_order_filter(user)))
    if order is None:
        raise OrderNotVisible(f"execution order {order_id} not found")
    return order


def visible_implementation_order(session: Session, user: User, order_id: int) -> ImplementationOrder:
    order = session.scalar(select(ImplementationOrder).where(ImplementationOrder.id == order_id,
                                                             implementation_order_filter(user)))
    if order is None:
        raise OrderNotVisible(f"implementation order {order_id} not found")
    return order


def list_execution_orders(session: Session, user: User, *, status: str | None = None, limit: int = 50,
                          offset: int = 0) -> list[ExecutionOrder]:
    q = select(ExecutionOrder).where(execution_order_filter(user))
    if status:
        q = q.where(ExecutionOrder.status == status)
    return list(session.scalars(q.order_by(ExecutionOrder.id.desc()).limit(limit).offset(offset)))


def list_implementation_orders(session: Session, user: User, *, status: str | None = None, limit: int = 50,
                               offset: int = 0) -> list[ImplementationOrder]:
    q = select(ImplementationOrder).where(implementation_order_filter(user))
    if status:
        q = q.where(ImplementationOrder.status == status)
    return list(session.scalars(q.order_by(ImplementationOrder.id.desc()).limit(limit).offset(offset)))


def ready_contracts(session: Session, user: User, limit: int = 100) -> list[Contract]:
    """The rep's approved or signed contracts that have no live execution order yet (the 'new' page's choices)."""
    live = select(ExecutionOrder.contract_id).where(ExecutionOrder.status != "abandoned")
    return list(session.scalars(select(Contract).where(
        contract_filter(user), Contract.owner_id == user.id, Contract.status.in_(CONTRACT_READY),
        Contract.id.not_in(live)).order_by(Contract.id.desc()).limit(limit)))


def tasks_of(session: Session, user: User, order: ImplementationOrder) -> list[ImplementationTask]:
    q = select(ImplementationTask).where(ImplementationTask.order_id == order.id)
    if not sees_all_tasks(user, order):
        q = q.where(ImplementationTask.implementer_id == user.id)
    return list(session.scalars(q.order_by(ImplementationTask.position, ImplementationTask.id)))


def milestones_of(session: Session, order_id: int) -> list[Milestone]:
    return list(session.scalars(select(Milestone).where(Milestone.order_id == order_id)
                                .order_by(Milestone.position, Milestone.id)))


def collected_for_contract(session: Session, contract_id: int) -> Decimal:
    """What finance recorded as collected against the contract (R1 collections)."""
    from models.receivables import Collection

    return Decimal(session.scalar(select(func.coalesce(func.sum(Collection.amount), 0)).where(
        Collection.contract_id == contract_id)) or 0)


def milestone_payments(session: Session, order: ImplementationOrder) -> list[dict[str, Any]]:
    """Each milestone with its payment node amount and whether it is covered by what was collected so far.

    Collections are not tied to milestones, so they cover the milestones in order: a milestone counts as
    collected when the contract's collections reach the running total up to and including it.
    """
    collected = collected_for_contract(session, order.contract_id)
    running = Decimal(0)
    rows = []
    for m in milestones_of(session, order.id):
        running += m.amount
        rows.append({"milestone": m, "collected": collected >= running})
    return rows


# ---------------------------------------------------------------- writes

def _active_implementers(session: Session, sector_id: int) -> set[int]:
    return set(session.scalars(select(User.id).join(UserRole, UserRole.user_id == User.id).where(
        User.status == "active", UserRole.role_code == "implementer",
        or_(UserRole.sector_id == sector_id, and_(UserRole.sector_id.is_(None), UserRole.department_id.is_(None))),
    )))


def implementers_for(session: Session, sector_id: int) -> list[User]:
    ids = _active_implementers(session, sector_id)
    return list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.username))) if ids else []


def create_execution_order(session: Session, user: User, *, contract_id: int, kind: str = "contract",
                           note: str | None = None) -> ExecutionOrder:
    """X1: the rep submits his approved or signed contract (or the sales order under it)."""
    if kind not in EXECUTION_KINDS:
        raise OrderRefused(f"kind must be one of {', '.join(EXECUTION_KINDS)}", "kind")
    contract = session.scalar(select(Contract).where(Contract.id == contract_id, contract_filter(user)))
    if contract is None:
        raise OrderNotVisible(f"contract {contract_id} not found")
    if contract.owner_id != user.id or not user.role_codes & SUBMITTER_ROLES:
        raise OrderNotAllowed("only the contract's salesperson submits its execution order (X1)")
    if contract.status not in CONTRACT_READY:
        raise OrderRefused(f"the contract is {contract.status}; an execution order needs an approved or signed "
                           "contract (X1)", "contract_id")
    live = session.scalar(select(ExecutionOrder.id).where(ExecutionOrder.contract_id == contract.id,
                                                          ExecutionOrder.status != "abandoned").limit(1))
    if live is not None:
        raise OrderRefused("this contract already has an execution order", "contract_id")
    now = clock.now()
    order = ExecutionOrder(
        number=f"tmp-{uuid4().hex[:24]}", contract_id=contract.id, kind=kind, sector_id=contract.sector_id,
        department_id=contract.department_id, customer_id=contract.customer_id, owner_id=user.id,
        amount=contract.amount, note=note, status="pending", created_at=now)
    session.add(order)
    session.flush()
    order.number = f"ZX{now:%Y%m%d}-{order.id:06d}"
    audit.record(session, actor_id=user.id, action="execution_order.create", entity_type="execution_order",
                 entity_id=order.id, sector_id=order.sector_id,
                 after={"contract_id": contract.id, "kind": kind, "amount": str(order.amount)})
    return order


def set_execution_status(session: Session, order: ExecutionOrder, status: str, actor_id: int | None) -> bool:
    """Idempotent: a replayed step changes nothing (and writes no audit row)."""
    if status not in EXECUTION_STATUSES:
        raise ValueError(f"unknown execution order status {status!r}")
    before = order.status
    if before == status:
        return False
    order.status = status
    if status in ("approved", "returned"):
        order.decided_at = clock.now()
    audit.record(session, actor_id=actor_id, action="execution_order.status", entity_type="execution_order",
                 entity_id=order.id, sector_id=order.sector_id, before={"status": before}, after={"status": status})
    return True


def revise_execution_order(session: Session, order: ExecutionOrder, actor_id: int | None, *, note: str | None,
                           kind: str | None) -> bool:
    """The rep's corrections when he resubmits a returned order; only given values change (idempotent)."""
    before = {"note": order.note, "kind": order.kind}
    if note is not None:
        order.note = note
    if kind is not None:
        order.kind = kind
    after = {"note": order.note, "kind": order.kind}
    if after == before:
        return False
    audit.record(session, actor_id=actor_id, action="execution_order.revise", entity_type="execution_order",
                 entity_id=order.id, sector_id=order.sector_id, before=before, after=after)
    return True


def confirm_part(session: Session, order: ExecutionOrder, part: str, actor_id: int | None) -> bool:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}")
    if getattr(order, f"{part}_confirmed_at") is not None:
        return False
    setattr(order, f"{part}_confirmed_at", clock.now())
    setattr(order, f"{part}_confirmed_by", actor_id)
    audit.record(session, actor_id=actor_id, action=f"execution_order.confirm_{part}", entity_type="execution_order",
                 entity_id=order.id, sector_id=order.sector_id, after={"part": part})
    return True


def create_implementation_order(session: Session, order: ExecutionOrder, actor_id: int | None
                                ) -> tuple[ImplementationOrder, bool]:
    """One implementation order per execution order: a replay returns the existing one (created=False)."""
    existing = session.scalar(select(ImplementationOrder).where(ImplementationOrder.execution_order_id == order.id))
    if existing is not None:
        return existing, False
    now = clock.now()
    impl = ImplementationOrder(
        number=f"tmp-{uuid4().hex[:24]}", execution_order_id=order.id, contract_id=order.contract_id,
        sector_id=order.sector_id, department_id=order.department_id, customer_id=order.customer_id,
        owner_id=order.owner_id, amount=order.amount, status="planning", created_at=now)
    session.add(impl)
    session.flush()
    impl.number = f"SS{now:%Y%m%d}-{impl.id:06d}"
    audit.record(session, actor_id=actor_id, action="implementation_order.create", entity_type="implementation_order",
                 entity_id=impl.id, sector_id=impl.sector_id, after={"execution_order_id": order.id})
    return impl, True


def check_plan(session: Session, sector_id: int, tasks: list[dict], milestones: list[dict]) -> None:
    """I1: every task's implementer must be an active implementer of the order's sector; milestone names unique,
    payment shares at most 100 %, a task's milestone one of those named. Raises OrderRefused naming the field."""
    names = [str(m.get("name", "")).strip() for m in milestones]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise OrderRefused("milestone names must be unique", f"milestones.{i}.name")
    total = sum(Decimal(str(m.get("percent", 0))) for m in milestones)
    if total > 100:
        raise OrderRefused(f"payment shares add up to {total} %; at most 100 %", "milestones")
    if not tasks:
        raise OrderRefused("list at least one task", "tasks")
    allowed = _active_implementers(session, sector_id)
    for i, t in enumerate(tasks):
        if t.get("implementer_id") not in allowed:
            raise OrderRefused("not an active implementer of this sector", f"tasks.{i}.implementer_id")
        milestone = (t.get("milestone") or "").strip()
        if milestone and milestone not in names:
            raise OrderRefused(f"no milestone named {milestone!r} in this plan", f"tasks.{i}.milestone")


def plan_implementation(session: Session, impl: ImplementationOrder, tasks: list[dict], milestones: list[dict],
                        actor_id: int | None) -> list[dict]:
    """Write the split (tasks and milestones) once; a replay returns the rows already written."""
    existing = list(session.scalars(select(ImplementationTask).where(ImplementationTask.order_id == impl.id)
                                    .order_by(ImplementationTask.position)))
    if not existing:
        check_plan(session, impl.sector_id, tasks, milestones)
        by_name: dict[str, Milestone] = {}
        for i, m in enumerate(milestones):
            percent = Decimal(str(m["percent"])).quantize(Decimal("0.01"))
            ms = Milestone(order_id=impl.id, position=i, name=str(m["name"]).strip(), percent=percent,
                           amount=(impl.amount * percent / 100).quantize(Decimal("0.01"), ROUND_HALF_UP),
                           status="pending")
            session.add(ms)
            by_name[ms.name] = ms
        session.flush()
        for i, t in enumerate(tasks):
            ms = by_name.get((t.get("milestone") or "").strip())
            due = t.get("due_on")
            existing.append(ImplementationTask(
                order_id=impl.id, position=i, title=str(t["title"]).strip(), implementer_id=t["implementer_id"],
                due_on=date.fromisoformat(due) if due else None, milestone_id=ms.id if ms else None, status="open"))
        session.add_all(existing)
        session.flush()
        before = impl.status
        impl.status = "in_progress"
        audit.record(session, actor_id=actor_id, action="implementation_order.plan",
                     entity_type="implementation_order", entity_id=impl.id, sector_id=impl.sector_id,
                     before={"status": before},
                     after={"status": impl.status, "tasks": [(t.title, t.implementer_id) for t in existing],
                            "milestones": [(m.name, str(m.percent)) for m in by_name.values()]})
    return [{"task_id": t.id, "implementer_id": t.implementer_id} for t in existing]


def complete_task(session: Session, impl: ImplementationOrder, task_id: int, actor_id: int | None,
                  note: str | None = None) -> list[Milestone]:
    """Mark an implementation task done (idempotent) and reach the milestones whose tasks are all done."""
    task = session.scalar(select(ImplementationTask).where(ImplementationTask.id == task_id,
                                                           ImplementationTask.order_id == impl.id))
    if task is None:
        raise ValueError(f"implementation task {task_id} is not on order {impl.id}")
    reached: list[Milestone] = []
    if task.status != "done":
        task.status, task.done_at, task.note = "done", clock.now(), note
        audit.record(session, actor_id=actor_id, action="implementation_task.done", entity_type="impl_task",
                     entity_id=task.id, sector_id=impl.sector_id, before={"status": "open"},
                     after={"status": "done", "note": note})
        session.flush()
    for ms in session.scalars(select(Milestone).where(Milestone.order_id == impl.id, Milestone.status == "pending")):
        open_left = session.scalar(select(func.count()).select_from(ImplementationTask).where(
            ImplementationTask.milestone_id == ms.id, ImplementationTask.status != "done"))
        has_tasks = session.scalar(select(func.count()).select_from(ImplementationTask).where(
            ImplementationTask.milestone_id == ms.id))
        if has_tasks and not open_left:
            ms.status, ms.reached_at = "reached", clock.now()
            audit.record(session, actor_id=actor_id, action="milestone.reached", entity_type="impl_milestone",
                         entity_id=ms.id, sector_id=impl.sector_id, before={"status": "pending"},
                         after={"status": "reached", "amount": str(ms.amount)})
            reached.append(ms)
    return reached


def set_implementation_status(session: Session, impl: ImplementationOrder, status: str, actor_id: int | None) -> bool:
    if status not in IMPLEMENTATION_STATUSES:
        raise ValueError(f"unknown implementation order status {status!r}")
    before = impl.status
    if before == status:
        return False
    impl.status = status
    if status == "completed":
        impl.accepted_at, impl.accepted_by = clock.now(), actor_id
        # Milestones without tasks (e.g. a final payment on acceptance) are reached on acceptance.
        for ms in session.scalars(select(Milestone).where(Milestone.order_id == impl.id,
                                                          Milestone.status == "pending")):
            ms.status, ms.reached_at = "reached", clock.now()
    audit.record(session, actor_id=actor_id, action="implementation_order.status",
                 entity_type="implementation_order", entity_id=impl.id, sector_id=impl.sector_id,
                 before={"status": before}, after={"status": status})
    return True
