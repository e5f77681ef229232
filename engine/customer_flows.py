"""Customer processes: new-customer review (E2) and conflict cases (C2), with their connectors.

The operations create the record and start its process in the caller's single transaction; the
connectors act only on the instance's own subject record and are idempotent.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import runtime
from engine.connectors import ConnectorContext, ConnectorError, connector
from engine.errors import Conflict
from models import audit, clock
from models import conflicts as conflict_ops
from models import customers as customer_ops
from models.crm import CUSTOMER_STATUSES, ConflictCase, Customer
from models.org import User
from models.process import HumanTask

REVIEW_PROCESS = "new_customer_review"
CONFLICT_PROCESS = "conflict_case"


def _start_review(session: Session, user: User, customer: Customer) -> None:
    contact = customer_ops.primary_contact(session, customer.id)
    instance = runtime.start_instance(
        session, REVIEW_PROCESS, actor=user, title=f"新客户审核 · {customer.name}",
        subject_type="customer", subject_id=customer.id, sector_id=customer.sector_id,
        department_id=customer.department_id, business_key=f"KH-{customer.id:06d}",
        data={"customer_id": customer.id, "customer_name": customer.name, "requester": user.username,
              "phone": customer.phone or "", "contact_name": contact.name if contact else "",
              "late_entry": bool(customer.late_entry)},
    )
    customer.review_instance_id = instance.id


def submit_customer(session: Session, user: User, data: dict, *, confirm_similar: bool = False) -> Customer:
    """Enter a customer; a salesperson's customer is pending and goes to the department's review (E2)."""
    customer = customer_ops.create_customer(session, user, data, confirm_similar=confirm_similar)
    if customer.status == "pending":
        _start_review(session, user, customer)
    return customer


def resubmit_customer(session: Session, user: User, customer_id: int, data: dict | None = None) -> Customer:
    """E2: the owner fixes a returned customer and sends it to a new review."""
    customer = customer_ops.visible_customer(session, user, customer_id)
    customer_ops.check_resubmit(user, customer)
    if data:
        customer = customer_ops.update_customer(session, user, customer_id, data)
    customer.status = "pending"
    customer.updated_at = clock.now()
    audit.record(session, actor_id=user.id, action="customer.resubmit", entity_type="customer", entity_id=customer.id,
                 sector_id=customer.sector_id, before={"status": "returned"}, after={"status": "pending"})
    _start_review(session, user, customer)
    return customer


def open_conflict_case(session: Session, user: User, **kwargs) -> ConflictCase:
    """C2: open the case and put it in sales management's inbox."""
    case = conflict_ops.open_case(session, user, **kwargs)
    customer = session.get(Customer, case.customer_id)
    instance = runtime.start_instance(
        session, CONFLICT_PROCESS, actor=user, title=f"客户归属争议 · {customer.name}",
        subject_type="conflict_case", subject_id=case.id, sector_id=case.sector_id, department_id=None,
        business_key=f"CT-{case.id:06d}",
        data={"case_id": case.id, "customer_name": customer.name, "requester": user.username,
              "reason": case.reason[:500]},
    )
    case.process_instance_id = instance.id
    return case


def decide_conflict(session: Session, user: User, case_id: int, decision: str, comment: str | None) -> ConflictCase:
    """Complete the case's open decision task (the same step as in the inbox)."""
    case = conflict_ops.visible_case(session, user, case_id)
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == case.process_instance_id, HumanTask.status == "open").limit(1))
    if task_id is None:
        raise Conflict("this conflict case is already decided")
    runtime.complete_task(session, task_id, user, {"decision": decision}, comment)
    session.refresh(case)
    return case


@connector("crm.set_customer_status", "Set the status of the customer this review is about (E2)", status=str)
def set_customer_status(ctx: ConnectorContext, status: str) -> dict:
    if ctx.instance.subject_type != "customer":
        raise ConnectorError("crm.set_customer_status runs only in a process whose subject is a customer")
    if status not in CUSTOMER_STATUSES:
        raise ConnectorError(f"unknown customer status {status!r}")
    customer = ctx.session.get(Customer, ctx.instance.subject_id)
    if customer is None:
        raise ConnectorError(f"customer {ctx.instance.subject_id} not found")
    before = customer.status
    if before != status and customer.review_instance_id == ctx.instance.id:  # idempotent; only the latest review
        customer.status = status
        customer.updated_at = clock.now()
        audit.record(ctx.session, actor_id=ctx.actor_id, action="customer.review", entity_type="customer",
                     entity_id=customer.id, sector_id=customer.sector_id, before={"status": before},
                     after={"status": status, "process_instance_id": ctx.instance.id})
    return {"customer_id": customer.id, "status": customer.status}


@connector("crm.apply_conflict_decision", "Apply sales management's decision on a conflict case (C2)", decision=str)
def apply_conflict_decision(ctx: ConnectorContext, decision: str) -> dict:
    if ctx.instance.subject_type != "conflict_case":
        raise ConnectorError("crm.apply_conflict_decision runs only in a process whose subject is a conflict case")
    if decision not in ("keep", "transfer", "joint"):
        raise ConnectorError(f"unknown conflict decision {decision!r}")
    case = ctx.session.get(ConflictCase, ctx.instance.subject_id)
    if case is None:
        raise ConnectorError(f"conflict case {ctx.instance.subject_id} not found")
    return conflict_ops.apply_decision(ctx.session, case, decision, ctx.actor_id)
