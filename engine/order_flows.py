"""Execution orders (X1) and implementation orders (I1): the operation that starts the execution order process,
the task forms of both processes, their subjects and their connectors.

The connectors act only on the instance's own subject record and are idempotent (a replayed step changes
nothing): the implementation order is created once per execution order, the split is written once, a task is
done once and a milestone is reached once.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine import forms, runtime, subjects
from engine.connectors import ConnectorContext, ConnectorError, connector
from engine.errors import InvalidData
from models import audit, notifications
from models import orders as ops
from models.orders import ExecutionOrder, ImplementationOrder
from models.org import User, UserRole

EXECUTION_PROCESS = "execution_order"
IMPLEMENTATION_PROCESS = "implementation_order"


# ---------------------------------------------------------------- task forms

class _Form(Schema):
    class Meta:
        unknown = EXCLUDE

    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ConfirmForm(_Form):
    """Shipping, collection, implementation: each confirms its part of an approved execution order."""

    decision = fields.String(required=True, validate=validate.OneOf(("confirm",)))


class ResubmitForm(_Form):
    """The rep, after the business manager's rejection: corrects (kind, note) and resubmits, or abandons."""

    decision = fields.String(required=True, validate=validate.OneOf(("resubmit", "abandon")))
    kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(ops.EXECUTION_KINDS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SplitTaskRow(Schema):
    class Meta:
        unknown = EXCLUDE

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    implementer_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    due_on = fields.Date(load_default=None, allow_none=True)
    milestone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))

    @post_load
    def _json_ready(self, data: dict, **_kw) -> dict:  # task data must stay JSON
        data["due_on"] = data["due_on"].isoformat() if data.get("due_on") else None
        data["title"] = data["title"].strip()
        return data


class SplitMilestoneRow(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    percent = fields.Decimal(required=True, places=2, validate=validate.Range(min=0, max=100))

    @post_load
    def _json_ready(self, data: dict, **_kw) -> dict:
        data["percent"] = str(data["percent"])
        data["name"] = data["name"].strip()
        return data


class SplitForm(_Form):
    """I1 拆分任务: the tasks for implementers and the milestones (payment nodes) they lead to."""

    decision = fields.String(load_default="split", validate=validate.OneOf(("split",)))
    tasks = fields.List(fields.Nested(SplitTaskRow), required=True, validate=validate.Length(min=1, max=100))
    milestones = fields.List(fields.Nested(SplitMilestoneRow), load_default=list, validate=validate.Length(max=20))


class DoneForm(_Form):
    decision = fields.String(load_default="done", validate=validate.OneOf(("done",)))


class AcceptForm(_Form):
    decision = fields.String(load_default="accept", validate=validate.OneOf(("accept",)))


def _check_split(session: Session, task: Any, values: dict[str, Any]) -> None:
    """The implementers must be active implementers of the order's sector (a schema cannot know that)."""
    instance = task.instance
    impl = session.get(ImplementationOrder, instance.subject_id) if instance.subject_type == "implementation_order" \
        else None
    if impl is None:
        raise InvalidData({"tasks": ["this task does not belong to an implementation order"]})
    try:
        ops.check_plan(session, impl.sector_id, values["tasks"], values.get("milestones") or [])
    except ops.OrderRefused as exc:
        raise InvalidData({exc.field or "tasks": [exc.message]}) from exc


forms.FORMS.update({"order_confirm": ConfirmForm, "order_resubmit": ResubmitForm, "impl_split": SplitForm,
                    "impl_done": DoneForm, "impl_accept": AcceptForm})
forms.CHECKS["impl_split"] = _check_split


# ---------------------------------------------------------------- operations

def submit_execution_order(session: Session, user: User, *, contract_id: int, kind: str = "contract",
                           note: str | None = None) -> ExecutionOrder:
    """X1: create the order for an approved or signed contract and put it in the business manager's inbox."""
    order = ops.create_execution_order(session, user, contract_id=contract_id, kind=kind, note=note)
    instance = runtime.start_instance(
        session, EXECUTION_PROCESS, actor=user, title=f"执行单 · {order.customer.name} · {order.contract.title}",
        subject_type="execution_order", subject_id=order.id, sector_id=order.sector_id,
        department_id=order.department_id, business_key=order.number,
        data={"execution_order_id": order.id, "requester_id": user.id, "requester": user.username,
              "kind": kind, "amount": float(order.amount)},
    )
    order.process_instance_id = instance.id
    return order


def _users_with_roles(session: Session, sector_id: int, roles: tuple[str, ...]) -> list[int]:
    return list(session.scalars(select(UserRole.user_id).join(User, User.id == UserRole.user_id).where(
        UserRole.role_code.in_(roles), UserRole.sector_id == sector_id, User.status == "active")))


# ---------------------------------------------------------------- connectors

def _execution_order(ctx: ConnectorContext, name: str) -> ExecutionOrder:
    if ctx.instance.subject_type != "execution_order":
        raise ConnectorError(f"{name} runs only in a process whose subject is an execution order")
    order = ctx.session.get(ExecutionOrder, ctx.instance.subject_id)
    if order is None:
        raise ConnectorError(f"execution order {ctx.instance.subject_id} not found")
    return order


def _implementation_order(ctx: ConnectorContext, name: str) -> ImplementationOrder:
    if ctx.instance.subject_type != "implementation_order":
        raise ConnectorError(f"{name} runs only in a process whose subject is an implementation order")
    impl = ctx.session.get(ImplementationOrder, ctx.instance.subject_id)
    if impl is None:
        raise ConnectorError(f"implementation order {ctx.instance.subject_id} not found")
    return impl


@connector("crm.set_execution_order_status", "Set the status of the execution order this process is about (X1)",
           status=str)
def set_execution_order_status(ctx: ConnectorContext, status: str) -> dict:
    order = _execution_order(ctx, "crm.set_execution_order_status")
    if status not in ops.EXECUTION_STATUSES:
        raise ConnectorError(f"unknown execution order status {status!r}")
    if ops.set_execution_status(ctx.session, order, status, ctx.actor_id) and status in ("returned", "approved"):
        link = f"/execution-orders/{order.id}"
        if status == "returned":
            notifications.notify(ctx.session, [order.owner_id], "returned", f"执行单 {order.number} 被退回，请修改后重新提交",
                                 link=link, sector_id=order.sector_id)
        else:
            notifications.notify(ctx.session, _users_with_roles(ctx.session, order.sector_id, tuple(
                set(ops.PARTS.values()))), "info", f"执行单 {order.number} 已审核通过，请确认发货、回款、实施",
                link=link, sector_id=order.sector_id, dedupe_key=f"execution_order:{order.id}:approved")
    return {"execution_order_id": order.id, "status": order.status}


@connector("crm.revise_execution_order", "Apply the rep's corrections (kind, note) to a returned execution order",
           note=str, kind=str)
def revise_execution_order(ctx: ConnectorContext, note: str, kind: str) -> dict:
    order = _execution_order(ctx, "crm.revise_execution_order")
    if kind and kind not in ops.EXECUTION_KINDS:
        raise ConnectorError(f"unknown execution order kind {kind!r}")
    ops.revise_execution_order(ctx.session, order, ctx.actor_id, note=note[:2000] or None, kind=kind or None)
    return {"execution_order_id": order.id}


@connector("crm.confirm_execution_order_part", "Record that shipping, collection or implementation confirmed its part",
           part=str)
def confirm_execution_order_part(ctx: ConnectorContext, part: str) -> dict:
    order = _execution_order(ctx, "crm.confirm_execution_order_part")
    if part not in ops.PARTS:
        raise ConnectorError(f"unknown part {part!r}; one of {', '.join(ops.PARTS)}")
    ops.confirm_part(ctx.session, order, part, ctx.actor_id)
    return {"execution_order_id": order.id, "part": part}


@connector("crm.start_implementation_order", "Create the implementation order of this execution order and start "
                                             "its process (I1); once per execution order")
def start_implementation_order(ctx: ConnectorContext) -> dict:
    order = _execution_order(ctx, "crm.start_implementation_order")
    impl, created = ops.create_implementation_order(ctx.session, order, ctx.actor_id)
    if created:
        actor = ctx.session.get(User, ctx.actor_id) if ctx.actor_id else None
        if actor is None:
            raise ConnectorError("an implementation order is started by the user who completed the last step")
        instance = runtime.start_instance(
            ctx.session, IMPLEMENTATION_PROCESS, actor=actor, title=f"实施单 · {order.customer.name}",
            subject_type="implementation_order", subject_id=impl.id, sector_id=impl.sector_id,
            department_id=impl.department_id, business_key=impl.number,
            data={"implementation_order_id": impl.id, "execution_order_id": order.id,
                  "amount": float(impl.amount)})
        impl.process_instance_id = instance.id
        notifications.notify(ctx.session, [order.owner_id], "info", f"实施单 {impl.number} 已生成",
                             link=f"/implementation-orders/{impl.id}", sector_id=impl.sector_id,
                             dedupe_key=f"implementation_order:{impl.id}:created")
    return {"implementation_order_id": impl.id, "number": impl.number}


@connector("crm.plan_implementation", "Write the split (tasks for implementers, milestones) once; returns the tasks "
                                      "the multi-instance step runs over", tasks=list, milestones=list)
def plan_implementation(ctx: ConnectorContext, tasks: list, milestones: list) -> list[dict]:
    impl = _implementation_order(ctx, "crm.plan_implementation")
    try:
        rows = ops.plan_implementation(ctx.session, impl, tasks, milestones, ctx.actor_id)
    except ops.OrderRefused as exc:
        raise ConnectorError(f"{exc.field}: {exc.message}") from exc
    notifications.notify(ctx.session, {r["implementer_id"] for r in rows}, "assigned",
                         f"实施单 {impl.number} 有分配给您的实施任务", link=f"/implementation-orders/{impl.id}",
                         sector_id=impl.sector_id, dedupe_key=f"implementation_order:{impl.id}:planned")
    return rows


@connector("crm.complete_implementation_task", "Mark an implementation task done and reach the milestones whose "
                                               "tasks are all done", task_id=int, note=str)
def complete_implementation_task(ctx: ConnectorContext, task_id: int, note: str) -> dict:
    impl = _implementation_order(ctx, "crm.complete_implementation_task")
    try:
        reached = ops.complete_task(ctx.session, impl, task_id, ctx.actor_id, note=note[:2000] or None)
    except ValueError as exc:
        raise ConnectorError(str(exc)) from exc
    for ms in reached:
        followers = {impl.owner_id, *_users_with_roles(ctx.session, impl.sector_id, ("business_manager", "finance"))}
        notifications.notify(ctx.session, followers, "info",
                             f"实施单 {impl.number} 里程碑「{ms.name}」已达成，回款节点 {ms.amount}",
                             link=f"/implementation-orders/{impl.id}", sector_id=impl.sector_id,
                             dedupe_key=f"milestone:{ms.id}:reached")
    return {"task_id": task_id, "milestones_reached": [ms.id for ms in reached]}


@connector("crm.set_implementation_order_status", "Set the status of the implementation order this process is "
                                                  "about (I1)", status=str)
def set_implementation_order_status(ctx: ConnectorContext, status: str) -> dict:
    impl = _implementation_order(ctx, "crm.set_implementation_order_status")
    if status not in ops.IMPLEMENTATION_STATUSES:
        raise ConnectorError(f"unknown implementation order status {status!r}")
    ops.set_implementation_status(ctx.session, impl, status, ctx.actor_id)
    return {"implementation_order_id": impl.id, "status": impl.status}


# ---------------------------------------------------------------- subjects

def _withdrawn(session: Session, instance: Any, actor_id: int | None) -> None:
    order = session.get(ExecutionOrder, instance.subject_id)
    if order is not None and order.status in ("pending", "returned"):
        ops.set_execution_status(session, order, "abandoned", actor_id)
        audit.record(session, actor_id=actor_id, action="execution_order.withdraw", entity_type="execution_order",
                     entity_id=order.id, sector_id=order.sector_id)


subjects.register("execution_order", subjects.Subject(
    visible=lambda user, sid: and_(ExecutionOrder.id == sid, ops.execution_order_filter(user)),
    load=lambda session, sid: session.get(ExecutionOrder, sid),
    template="subjects/execution_order.html",
    on_withdrawn=_withdrawn,
))
subjects.register("implementation_order", subjects.Subject(
    visible=lambda user, sid: and_(ImplementationOrder.id == sid, ops.implementation_order_filter(user)),
    load=lambda session, sid: session.get(ImplementationOrder, sid),
    template="subjects/implementation_order.html",
    withdrawable=False,  # started by the execution order's last confirmation, not requested by its starter
))
