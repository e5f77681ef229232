"""Expense claims (U5): submit = validate (refusals before any approver) → write → start
`workflows/expense_claim.bpmn` (department manager, then finance); the connector sets the claim's status."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import Session

from engine import runtime, subjects
from engine.assignment import manages_department
from engine.connectors import ConnectorContext, ConnectorError, connector
from models import expenses as ex
from models.org import User
from models.process import ProcessInstance

EXPENSE_PROCESS = "expense_claim"


def submit_claim(session: Session, user: User, data: dict[str, Any]) -> ex.ExpenseClaim:
    """U5: every reference is checked first (422 naming the field, nothing written, no process); then the claim
    goes to the department manager."""
    claim = ex.create_claim(session, user, data)
    instance = runtime.start_instance(
        session, EXPENSE_PROCESS, actor=user, title=f"费用报销 · {claim.number} · ¥{claim.amount:,.2f}",
        subject_type="expense_claim", subject_id=claim.id, sector_id=claim.sector_id,
        department_id=claim.department_id, business_key=claim.number,
        data={"claim_id": claim.id, "number": claim.number, "claimant": user.username, "category": claim.category,
              "amount": float(claim.amount), "progress": claim.progress_stage_name or "",
              # Nobody approves his own claim: a manager's goes to the sector head (a gateway in the diagram).
              "requester_is_manager": manages_department(user, claim.department_id)},
    )
    claim.process_instance_id = instance.id
    return claim


@connector("crm.set_expense_status", "Set the status of the expense claim this process is about (U5)", status=str)
def set_expense_status(ctx: ConnectorContext, status: str) -> dict:
    if ctx.instance.subject_type != "expense_claim":
        raise ConnectorError("crm.set_expense_status runs only in a process whose subject is an expense claim")
    if status not in ("approved", "rejected"):
        raise ConnectorError(f"unknown expense claim status {status!r}")
    claim = ctx.session.get(ex.ExpenseClaim, ctx.instance.subject_id)
    if claim is None:
        raise ConnectorError(f"expense claim {ctx.instance.subject_id} not found")
    ex.set_status(ctx.session, claim, status, ctx.actor_id, ctx.instance.id)
    return {"claim_id": claim.id, "status": claim.status}


def _withdrawn(session: Session, instance: ProcessInstance, actor_id: int | None) -> None:
    claim = session.get(ex.ExpenseClaim, instance.subject_id)
    if claim is not None:
        ex.set_status(session, claim, "withdrawn", actor_id, instance.id)


subjects.register("expense_claim", subjects.Subject(
    visible=lambda user, sid: and_(ex.ExpenseClaim.id == sid, ex.claim_filter(user)),
    load=lambda session, sid: session.get(ex.ExpenseClaim, sid),
    template="subjects/expense_claim.html",
    on_withdrawn=_withdrawn,
))
