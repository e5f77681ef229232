"""Contract approval (K1, U4): submit a contract and start its approval; the rep revises a returned one.

The routing numbers (200,000 CNY, discount above 0.45, the standard template) are the condition of gateway
`gw_route` in workflows/contract_approval.bpmn, not Python. The connector `crm.set_contract_status` moves the
contract through pending → returned/approved/rejected and hands the contract's current terms back to the
diagram (result variable `contract`), so a resubmitted contract is routed again on its changed terms.
"""
from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, object_session

from engine import forms, runtime, subjects
from engine.assignment import manages_department
from engine.connectors import ConnectorContext, ConnectorError, connector
from engine.errors import Conflict
from models import contracts as contract_ops
from models.contracts import CONTRACT_STATUSES, Contract, ContractError
from models.org import User
from models.process import HumanTask

CONTRACT_PROCESS = "contract_approval"
REVISE_STEP = "revise"
REVISE_DECISIONS = ("resubmit", "abandon")


class ContractReviseForm(Schema):
    """The rep's step after a rejection: resubmit (after changing the contract) or abandon it."""

    class Meta:
        unknown = EXCLUDE

    decision = fields.String(required=True, validate=validate.OneOf(REVISE_DECISIONS))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


forms.FORMS["contract_revise"] = ContractReviseForm


def contract_terms(contract: Contract) -> dict[str, Any]:
    """What the diagram's conditions read. The discount is the exact ratio as a float (see submit_quote):
    45/100 gives the same double as the literal 0.45 in the diagram."""
    return {"contract_id": contract.id, "status": contract.status, "amount": float(contract.amount),
            "list_amount": float(contract.list_amount), "discount": float(contract.amount / contract.list_amount),
            "template": contract.template, "kind": contract.kind, "by_manager": _by_manager(contract)}


def _by_manager(contract: Contract) -> bool:
    """The owner manages the contract's department: "the department manager alone" would be himself, so the
    diagram sends his contract to the countersign path (nobody decides his own request)."""
    session = object_session(contract)
    owner = session.get(User, contract.owner_id) if session is not None else None
    return owner is not None and manages_department(owner, contract.department_id)


def _title(contract: Contract) -> str:
    """The inbox row: customer, amount and discount (折, cut, never rounded up)."""
    tenths = (contract.discount * 10).quantize(Decimal("0.01"), rounding=ROUND_DOWN).normalize()
    return f"合同审批 · {contract.customer.name} · ¥{contract.amount:,.2f} · {tenths:f}折"


def submit_contract(session: Session, user: User, data: dict[str, Any]) -> Contract:
    """Enter the contract and start its approval (K1); U4 refusals happen before anything is written."""
    contract = contract_ops.create_contract(session, user, data)
    instance = runtime.start_instance(
        session, CONTRACT_PROCESS, actor=user, title=_title(contract), subject_type="contract",
        subject_id=contract.id, sector_id=contract.sector_id, department_id=contract.department_id,
        business_key=contract.number,
        data={"contract_id": contract.id, "customer_name": contract.customer.name, "requester": user.username,
              "requester_id": user.id, "contract": contract_terms(contract)},
    )
    contract.process_instance_id = instance.id
    return contract


def open_revise_task(session: Session, contract: Contract) -> HumanTask | None:
    if contract.process_instance_id is None:
        return None
    return session.scalar(select(HumanTask).where(
        HumanTask.instance_id == contract.process_instance_id, HumanTask.bpmn_id == REVISE_STEP,
        HumanTask.status == "open").limit(1))


def revise_contract(session: Session, user: User, contract_id: int, data: dict[str, Any], *,
                    resubmit: bool = False, comment: str | None = None) -> Contract:
    """While returned: the owner changes the terms; with resubmit the approval runs again on the new terms."""
    if data:
        contract = contract_ops.update_returned(session, user, contract_id, data)
    else:
        contract = contract_ops.visible_contract(session, user, contract_id, for_update=True)
        if contract.owner_id != user.id:
            raise ContractError(403, "only the contract's owner resubmits it")
    if resubmit:
        task = open_revise_task(session, contract)
        if task is None or contract.status != "returned":
            raise Conflict("the contract is not waiting for you to resubmit it")
        runtime.complete_task(session, task.id, user, {"decision": "resubmit"}, comment)
        session.refresh(contract)
        instance = task.instance
        instance.title = _title(contract)[:300]
    return contract


@connector("crm.set_contract_status", "Set the status of the contract this process approves; returns its "
           "current terms (amount, list_amount, discount, template, kind) for the conditions", status=str)
def set_contract_status(ctx: ConnectorContext, status: str) -> dict:
    if ctx.instance.subject_type != "contract":
        raise ConnectorError("crm.set_contract_status runs only in a process whose subject is a contract")
    if status not in CONTRACT_STATUSES:
        raise ConnectorError(f"unknown contract status {status!r}")
    contract = ctx.session.get(Contract, ctx.instance.subject_id)
    if contract is None:
        raise ConnectorError(f"contract {ctx.instance.subject_id} not found")
    # idempotent, and only the contract's current approval moves it (not an old, replaced instance)
    if contract.process_instance_id in (None, ctx.instance.id):
        contract_ops.set_status(ctx.session, contract, status, ctx.actor_id, ctx.instance.id)
    return contract_terms(contract)


def _withdrawn(session: Session, instance, actor_id: int | None) -> None:
    contract = session.get(Contract, instance.subject_id) if instance.subject_id else None
    if contract is not None and contract.process_instance_id == instance.id and contract.status in (
            "pending", "returned"):
        contract_ops.set_status(session, contract, "withdrawn", actor_id, instance.id)


subjects.register("contract", subjects.Subject(
    # an IN over a subquery keeps `contract` in the FROM even when the filter is simply false (no role)
    visible=lambda user, sid: Contract.id.in_(select(Contract.id).where(
        and_(Contract.id == sid, contract_ops.contract_filter(user)))),
    load=lambda session, sid: session.get(Contract, sid),
    template="subjects/contract.html",
    on_withdrawn=_withdrawn,
))
