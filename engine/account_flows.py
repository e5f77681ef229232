"""Account changes (O5): the sector admin's request starts the `account_change` process.

`submit` records the request and starts its process in the caller's one transaction; a freeze takes
effect right there. The sector head's decision runs `crm.apply_account_change` (carry it out) or
`crm.reject_account_change` (nothing changes; a rejected freeze is lifted). Both act only on the
instance's own subject record and are idempotent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import runtime, subjects
from engine.connectors import ConnectorContext, ConnectorError, connector
from models import account_changes as ops
from models.account_changes import AccountChange
from models.org import Department, User

PROCESS = "account_change"
KIND_TITLES = {"open": "开通账号", "change_role": "变更角色", "close": "注销账号", "freeze": "冻结账号",
               "unfreeze": "解冻账号"}


def submit(session: Session, actor: User, data: dict) -> AccountChange:
    """O5: validate, record, freeze at once when asked, and start the sector head's approval."""
    change = ops.create_request(session, actor, data)
    if change.kind == "freeze":
        ops.freeze_now(session, actor, change)
    target = session.get(User, change.target_user_id) if change.target_user_id else None
    who = target.display_name if target else change.display_name
    instance = runtime.start_instance(
        session, PROCESS, actor=actor, title=f"{KIND_TITLES[change.kind]} · {who}",
        subject_type="account_change", subject_id=change.id, sector_id=change.sector_id, department_id=None,
        business_key=f"ZH-{change.id:06d}",
        data={"change_id": change.id, "kind": change.kind, "target": who, "requester": actor.username,
              "late": bool(change.late), "reason": change.reason[:500]},
    )
    change.process_instance_id = instance.id
    return change


def _subject_change(ctx: ConnectorContext, name: str) -> AccountChange:
    if ctx.instance.subject_type != "account_change":
        raise ConnectorError(f"{name} runs only in a process whose subject is an account change")
    change = ctx.session.get(AccountChange, ctx.instance.subject_id)
    if change is None:
        raise ConnectorError(f"account change {ctx.instance.subject_id} not found")
    return change


def _carry_out(action, change: AccountChange, ctx: ConnectorContext) -> dict:
    try:  # a refusal fails the step: the caller rolls the whole transaction back, nothing is half-written
        return action(ctx.session, change, ctx.actor_id)
    except ops.AccountChangeError as exc:
        field = f" ({exc.field})" if exc.field else ""
        raise ConnectorError(f"account change {change.id}: {exc.message}{field}") from exc


@connector("crm.apply_account_change", "Carry out the approved account change of this process (O5): open, "
           "change roles, close with hand-over to the successor, confirm a freeze, unfreeze")
def apply_account_change(ctx: ConnectorContext) -> dict:
    change = _subject_change(ctx, "crm.apply_account_change")
    return _carry_out(ops.apply, change, ctx)


@connector("crm.reject_account_change", "The account change of this process was not approved: nothing is "
           "carried out; a freeze that was not confirmed is lifted (O5)")
def reject_account_change(ctx: ConnectorContext) -> dict:
    change = _subject_change(ctx, "crm.reject_account_change")
    return _carry_out(ops.reject, change, ctx)


# ---------------------------------------------------------------- subject on the task page

@dataclass
class ChangeView:
    change: AccountChange
    target: User | None
    successor: User | None
    submitter: User | None
    department: Department | None
    to_hand_over: dict[str, int]


def handover_preview(session: Session, user_id: int) -> dict[str, int]:
    """What closing this account would hand over (counts only)."""
    from models.contracts import Contract
    from models.crm import Customer, Quote
    from models.process import HumanTask
    from models.sales import Lead, Opportunity

    out: dict[str, int] = {}
    for name, model in (("customers", Customer), ("leads", Lead), ("opportunities", Opportunity),
                        ("quotes", Quote), ("contracts", Contract)):
        out[name] = session.scalar(select(func.count()).select_from(model).where(model.owner_id == user_id)) or 0
    out["tasks"] = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.assignee_id == user_id, HumanTask.status == "open")) or 0
    return out


def load_view(session: Session, change_id: int) -> ChangeView | None:
    change = session.get(AccountChange, change_id)
    if change is None:
        return None

    def user(uid: Any) -> User | None:
        return session.get(User, uid) if uid else None

    preview = handover_preview(session, change.target_user_id) \
        if change.kind == "close" and change.status == "pending" and change.target_user_id else {}
    return ChangeView(change=change, target=user(change.target_user_id), successor=user(change.successor_id),
                      submitter=user(change.submitted_by),
                      department=session.get(Department, change.department_id) if change.department_id else None,
                      to_hand_over=preview)


def _on_withdrawn(session: Session, instance: Any, actor_id: int | None) -> None:
    change = session.get(AccountChange, instance.subject_id)
    if change is not None:
        ops.withdraw(session, change, actor_id)


subjects.register("account_change", subjects.Subject(
    visible=lambda user, sid: (AccountChange.id == sid) & ops.visible_condition(user),
    load=load_view, template="subjects/account_change.html", on_withdrawn=_on_withdrawn))
