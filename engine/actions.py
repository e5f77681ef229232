"""Approval actions on every process (issue 4): 转交 transfer, 驳回 send back (to the submitter or an earlier
step), 重新提交 resubmit, 撤回 withdraw, 催办 urge, 抄送 copy, 评论 comments, 附件 attachments, 委托 delegation.

Each operation runs in the caller's transaction: lock the instance (runtime.lock_instance /
load_task_for_update), check who may, change, write an InstanceEvent (the history, 流转记录) and an audit row.
Nothing here is specific to one process: the rights come from the task rows (role, scope, assignee) and the
instance (starter, sector), the subject's reaction to a withdrawal from engine.subjects.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, lazyload

from engine import assignment, inbox, runtime, subjects
from engine.errors import Conflict, EngineError, Forbidden, InvalidData, NotFound
from models import audit, clock, settings
from models.attachments import MAX_ATTACHMENT_BYTES, _store, safe_filename
from models.crm import Customer, Quote
from models.notifications import notify
from models.org import User
from models.process import HumanTask, ProcessInstance
from models.task_extras import Delegation, InstanceCopy, TaskAttachment, TaskComment

MAX_COMMENT = 2000
# Who else a step may be transferred to, by form (an area's own rule, e.g. L4 lead rights for a lead's follow-up):
# form name -> check(session, task, target user) -> why not (a message), or None. Registered by the area modules.
TRANSFER_CHECKS: dict[str, Callable[[Session, HumanTask, User], str | None]] = {}
MAX_COPY_USERS = 50
MAX_DELEGATION_DAYS = 366


class TooSoon(EngineError):
    """An urge (催办) within the set interval: 429."""

    status = 429


def _bad(field: str, message: str) -> InvalidData:
    return InvalidData({field: [message]})


def _text(value, field: str, *, required: bool, size: int = MAX_COMMENT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(field, "required")
        return None
    if not isinstance(value, str):
        raise _bad(field, "must be text")
    value = value.strip()
    if len(value) > size:
        raise _bad(field, f"at most {size} characters")
    if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise _bad(field, "contains characters that are not allowed")
    return value


def _visible_task(session: Session, user: User, task: HumanTask, instance: ProcessInstance) -> None:
    if assignment.may_see(user, task) or assignment.is_candidate(user, task):
        return
    if not inbox.may_view_instance(session, user, instance):
        raise NotFound(f"task {task.id} not found")


def _visible_instance(session: Session, user: User, instance_id: int) -> ProcessInstance:
    instance = runtime.lock_instance(session, instance_id)
    if not inbox.may_view_instance(session, user, instance):
        raise NotFound(f"process instance {instance_id} not found")
    return instance


def _open_task(session: Session, user: User, task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """The task under the instance lock, visible to `user`, open, in a running instance."""
    task, instance = runtime.load_task_for_update(session, task_id)
    _visible_task(session, user, task, instance)
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}")
    if task.status != "open":
        raise Conflict(f"task {task_id} is no longer open ({task.status})")
    return task, instance


def _link(task: HumanTask | None, instance: ProcessInstance) -> str:
    return f"/tasks/{task.id}" if task is not None else f"/processes/instances/{instance.id}"


# ---------------------------------------------------------------- 转交 transfer

def transfer_task(session: Session, task_id: int, user: User, target_user_id, comment=None) -> HumanTask:
    """Hand an open task to another user who may take it: a holder of its role in its scope (or, for a task
    the diagram assigned to a named person, an active user of the same sector)."""
    comment = _text(comment, "comment", required=False)
    task, instance = _open_task(session, user, task_id)
    if task.kind != "task":
        raise Conflict(f"task {task_id} was sent back to the submitter and cannot be transferred")
    if not assignment.may_act(user, task):
        raise Forbidden(f"you may not act on task {task_id}")
    if isinstance(target_user_id, bool) or not isinstance(target_user_id, int):
        raise _bad("user_id", "a user id")
    target = session.get(User, target_user_id)
    if target is None or not target.is_active or target.sector_id != task.sector_id:
        raise _bad("user_id", f"user {target_user_id} is not an active user of this sector")
    if target.id == task.assignee_id or (task.assignee_id is None and target.id == user.id):
        raise _bad("user_id", "the task is already with this user")
    if target.id == instance.started_by:
        raise _bad("user_id", "the requester may not decide his own request")
    # A step the diagram gave to a named person (its assignee holds no role for it): any active colleague.
    explicit = task.assignee_id is not None and task.assignee_id not in set(
        session.scalars(assignment.candidate_user_ids(task)))
    if not (assignment.is_candidate(target, task) or explicit or task.role_code is None):
        raise _bad("user_id", f"user {target.id} does not hold the role of this step")
    check = TRANSFER_CHECKS.get(task.form or "")
    if check is not None and (why := check(session, task, target)):
        raise _bad("user_id", why)
    acting_for = assignment.acting_for(user, task)
    before = task.assignee_id
    task.assignee_id = target.id
    runtime._bump(session, instance)
    runtime._event(session, instance, user.id, "transferred", task, comment=_names(session, [target.id], comment),
                   acting_for=acting_for)
    audit.record(session, actor_id=user.id, action="task.transfer", entity_type="human_task", entity_id=task.id,
                 sector_id=task.sector_id, before={"assignee_id": before},
                 after={"assignee_id": target.id, "comment": comment, "acting_for": acting_for})
    notify(session, [target.id], "assigned", f"转交给您：{instance.title or instance.process_key} · {task.name}",
           link=_link(task, instance), sector_id=task.sector_id)
    return task


def _names(session: Session, user_ids: list[int], comment: str | None) -> str:
    names = session.scalars(select(User.display_name).where(User.id.in_(user_ids)).order_by(User.id))
    text = "→ " + "、".join(names)
    return f"{text}：{comment}" if comment else text


# ---------------------------------------------------------------- 驳回 send back, 重新提交 resubmit

def send_back(session: Session, task_id: int, user: User, target, comment) -> HumanTask:
    """Return the process to the submitter ("submitter") or to an earlier completed step (its bpmn id).

    The target must be a completed human task on the path that led to this one (an ancestor in the
    workflow's task tree): SpiffWorkflow resets the branch to it, the rows of the steps after it are
    cancelled and the target step opens again — with the user who handled it before, or, for the
    submitter, parked with the starter as a "resubmit" row (he 重新提交 or 撤回).
    """
    comment = _text(comment, "comment", required=True)
    if not isinstance(target, str) or not target.strip() or len(target) > 100:
        raise _bad("target", "'submitter' or the id of an earlier step")
    target = target.strip()
    task, instance = _open_task(session, user, task_id)
    if task.kind != "task":
        raise Conflict(f"task {task_id} is already with the submitter")
    if not assignment.may_act(user, task):
        raise Forbidden(f"you may not act on task {task_id}")
    acting_for = assignment.acting_for(user, task)
    workflow = runtime._load(session, instance, user.id)
    current = workflow.get_task_from_id(UUID(task.spiff_task_id))
    if current is None or current.state != TaskState.READY:
        raise Conflict(f"task {task_id} is no longer ready in the process")
    done = {row.spiff_task_id: row for row in session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "completed",
                                HumanTask.kind == "task").options(lazyload(HumanTask.instance)))}
    path = []  # completed human steps before this one, nearest first
    node = current.parent
    while node is not None:
        if str(node.id) in done:
            path.append((node, done[str(node.id)]))
        node = node.parent
    if target == "submitter":
        chosen = path[-1] if path else None
    else:
        chosen = next((p for p in path if p[1].bpmn_id == target), None)
        if chosen is None:
            steps = ", ".join(dict.fromkeys(row.bpmn_id for _, row in path)) or "none"
            raise _bad("target", f"not an earlier step of this process (earlier steps: {steps}; or 'submitter')")
    before = {"task_id": task.id, "bpmn_id": task.bpmn_id}
    runtime._event(session, instance, user.id, "sent_back", task, decision="send_back",
                   comment=f"→ {target}：{comment}", acting_for=acting_for)
    if chosen is None:  # this is the first step: park it with the submitter
        reopened = task
    else:
        spiff_target, old_row = chosen
        task.status, task.completed_at, task.completed_by = "completed", clock.now(), user.id
        task.decision, task.comment = "send_back", comment
        if task.assignee_id is None:
            task.assignee_id = user.id
        old_row.spiff_task_id = str(uuid.uuid4())  # the step's id is reused by the reopened task
        session.flush()
        workflow.reset_from_task_id(spiff_target.id)
        runtime._advance(session, instance, workflow, user.id)
        reopened = session.scalar(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.status == "open",
            HumanTask.spiff_task_id == str(spiff_target.id)))
        if reopened is None:  # pragma: no cover - reset always makes the target READY again
            raise Conflict("the earlier step could not be reopened")
        previous = session.get(User, old_row.completed_by) if old_row.completed_by else None
        if target != "submitter" and previous is not None and previous.is_active:
            reopened.assignee_id = previous.id
    if target == "submitter":
        reopened.kind, reopened.assignee_id, reopened.due_at = "resubmit", instance.started_by, None
        runtime._bump(session, instance)
    audit.record(session, actor_id=user.id, action="task.send_back", entity_type="process_instance",
                 entity_id=instance.id, sector_id=instance.sector_id, before=before,
                 after={"target": target, "reopened_task_id": reopened.id, "comment": comment,
                        "acting_for": acting_for})
    recipients = [reopened.assignee_id] if reopened.assignee_id else list(
        session.scalars(assignment.candidate_user_ids(reopened)))
    notify(session, recipients, "returned", f"驳回：{instance.title or instance.process_key} · {reopened.name}",
           body=comment, link=_link(reopened, instance), sector_id=instance.sector_id)
    return reopened


def resubmit(session: Session, task_id: int, user: User, comment=None) -> HumanTask:
    """The submitter sends a step that was sent back to him on again (重新提交): it returns to its role."""
    comment = _text(comment, "comment", required=False)
    task, instance = _open_task(session, user, task_id)
    if task.kind != "resubmit":
        raise Conflict(f"task {task_id} was not sent back to the submitter")
    if user.id != instance.started_by or not user.is_active:
        raise Forbidden("only the submitter may resubmit")
    workflow = runtime._load(session, instance, user.id)
    spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
    props = (spiff_task.task_spec.extensions or {}).get("properties", {}) if spiff_task else {}
    task.kind = "task"
    task.assignee_id = runtime._explicit_assignee(spiff_task, props) if spiff_task else None
    task.due_at = runtime._due_at(session, props, clock.now())
    task.created_at = clock.now()
    task.reminded_at = task.escalated_at = task.urged_at = None
    runtime._bump(session, instance)
    runtime._event(session, instance, user.id, "resubmitted", task, comment=comment)
    audit.record(session, actor_id=user.id, action="task.resubmit", entity_type="human_task", entity_id=task.id,
                 sector_id=task.sector_id, after={"comment": comment})
    recipients = [task.assignee_id] if task.assignee_id else list(session.scalars(assignment.candidate_user_ids(task)))
    notify(session, recipients, "assigned", f"重新提交：{instance.title or instance.process_key} · {task.name}",
           link=_link(task, instance), sector_id=task.sector_id)
    return task


# ---------------------------------------------------------------- 撤回 withdraw

def may_withdraw(session: Session, user: User, instance: ProcessInstance) -> bool:
    if instance.status != "running" or instance.started_by != user.id or not user.is_active:
        return False
    if not _withdrawable(instance):
        return False
    return not _decided(session, instance) or _parked(session, instance)


def _withdrawable(instance: ProcessInstance) -> bool:
    hooks = subjects.get(instance.subject_type)
    return hooks is None or hooks.withdrawable


def _decided(session: Session, instance: ProcessInstance) -> bool:
    """Someone other than the starter has completed a step (the first decision has been taken)."""
    return bool(session.scalar(select(exists().where(
        HumanTask.instance_id == instance.id, HumanTask.status == "completed",
        or_(HumanTask.completed_by.is_(None), HumanTask.completed_by != instance.started_by)))))


def _parked(session: Session, instance: ProcessInstance) -> bool:
    return bool(session.scalar(select(exists().where(
        HumanTask.instance_id == instance.id, HumanTask.status == "open", HumanTask.kind == "resubmit"))))


def withdraw(session: Session, instance_id: int, user: User, comment=None) -> ProcessInstance:
    """The initiator takes his request back before the first decision (or while it is sent back to him)."""
    comment = _text(comment, "comment", required=False)
    instance = _visible_instance(session, user, instance_id)
    if instance.started_by != user.id:
        raise Forbidden("only the initiator may withdraw a process")
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}")
    if not _withdrawable(instance):
        raise Conflict(f"a {instance.subject_type} process is not withdrawn; it ends through its own steps")
    if _decided(session, instance) and not _parked(session, instance):
        raise Conflict("a step has already been decided; the process can no longer be withdrawn")
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.status == "open")
                               .options(lazyload(HumanTask.instance))):
        row.status = "cancelled"
        runtime._event(session, instance, user.id, "task_cancelled", row)
    instance.status, instance.ended_at, instance.next_timer_at = "withdrawn", clock.now(), None
    runtime._event(session, instance, user.id, "withdrawn", comment=comment)
    hooks = subjects.get(instance.subject_type)
    if hooks is not None and hooks.on_withdrawn is not None and instance.subject_id is not None:
        hooks.on_withdrawn(session, instance, user.id)
    audit.record(session, actor_id=user.id, action="process.withdraw", entity_type="process_instance",
                 entity_id=instance.id, sector_id=instance.sector_id, before={"status": "running"},
                 after={"status": "withdrawn", "comment": comment})
    runtime._bump(session, instance)
    return instance


def _quote_withdrawn(session: Session, instance: ProcessInstance, actor_id: int | None) -> None:
    quote = session.get(Quote, instance.subject_id)
    if quote is None or quote.status != "pending":
        return
    quote.status = "withdrawn"
    audit.record(session, actor_id=actor_id, action="quote.withdraw", entity_type="quote", entity_id=quote.id,
                 sector_id=quote.sector_id, before={"status": "pending"}, after={"status": "withdrawn"})


def _customer_withdrawn(session: Session, instance: ProcessInstance, actor_id: int | None) -> None:
    """A new customer's review taken back: the record goes back to its owner as 'returned' (editable)."""
    customer = session.get(Customer, instance.subject_id)
    if customer is None or customer.status != "pending":
        return
    customer.status = "returned"
    audit.record(session, actor_id=actor_id, action="customer.withdraw_review", entity_type="customer",
                 entity_id=customer.id, sector_id=customer.sector_id, before={"status": "pending"},
                 after={"status": "returned"})


for _kind, _hook in (("quote", _quote_withdrawn), ("customer", _customer_withdrawn)):
    _registered = subjects.get(_kind)
    if _registered is not None and _registered.on_withdrawn is None:
        subjects.register(_kind, dataclasses.replace(_registered, on_withdrawn=_hook))


# ---------------------------------------------------------------- 催办 urge

def urge(session: Session, instance_id: int, user: User, comment=None) -> int:
    """The initiator reminds whoever can act on the open steps; once per step per `task.urge_interval_hours`."""
    comment = _text(comment, "comment", required=False, size=500)
    instance = _visible_instance(session, user, instance_id)
    if instance.started_by != user.id:
        raise Forbidden("only the initiator may urge a process")
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}")
    rows = list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == "open", HumanTask.kind == "task")
        .options(lazyload(HumanTask.instance)).order_by(HumanTask.id)))
    if not rows:
        raise Conflict("no step is waiting for anyone else")
    now = clock.now()
    hours = settings.get(session, "task.urge_interval_hours", instance.sector_id)
    interval = timedelta(hours=float(hours))
    due = [t for t in rows if t.urged_at is None or now - t.urged_at >= interval]
    if not due:
        nxt = min(t.urged_at for t in rows if t.urged_at) + interval
        raise TooSoon(f"already urged; you may urge again after {nxt:%Y-%m-%d %H:%M} (every {hours} h)")
    count = 0
    for task in due:
        if task.assignee_id is not None:
            recipients = {task.assignee_id}
        else:
            recipients = set(session.scalars(assignment.candidate_user_ids(task)))
        recipients |= set(session.scalars(select(Delegation.delegate_id).where(
            Delegation.delegator_id.in_(recipients or {0}), Delegation.active.is_(True),
            Delegation.starts_on <= now.date(), Delegation.ends_on >= now.date())))
        recipients.discard(user.id)
        count += notify(session, recipients, "urge", f"催办：{instance.title or instance.process_key} · {task.name}",
                        body=comment, link=_link(task, instance), sector_id=instance.sector_id)
        task.urged_at = now
        runtime._event(session, instance, user.id, "urged", task, comment=comment)
    audit.record(session, actor_id=user.id, action="process.urge", entity_type="process_instance",
                 entity_id=instance.id, sector_id=instance.sector_id,
                 after={"task_ids": [t.id for t in due], "notified": count, "comment": comment})
    runtime._bump(session, instance)
    return count


# ---------------------------------------------------------------- 抄送 copy

def may_copy(session: Session, user: User, instance: ProcessInstance) -> bool:
    """The initiator, or anyone who acted or may act on a step of the instance."""
    if not user.is_active:
        return False
    if instance.started_by == user.id:
        return True
    if session.scalar(select(exists().where(HumanTask.instance_id == instance.id,
                                            HumanTask.completed_by == user.id))):
        return True
    return any(assignment.may_act(user, row.task) for row in inbox.open_tasks_of(session, instance.id))


def copy_to(session: Session, instance_id: int, user: User, user_ids, comment=None) -> list[InstanceCopy]:
    comment = _text(comment, "comment", required=False, size=500)
    instance = _visible_instance(session, user, instance_id)
    if not may_copy(session, user, instance):
        raise Forbidden("only the initiator or someone who handles a step may copy this process")
    if (not isinstance(user_ids, list) or not user_ids or len(user_ids) > MAX_COPY_USERS
            or any(isinstance(u, bool) or not isinstance(u, int) for u in user_ids)):
        raise _bad("user_ids", f"a list of 1 to {MAX_COPY_USERS} user ids")
    wanted = sorted(set(user_ids))
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    refused = [u for u in wanted if u not in found or not found[u].is_active
               or found[u].sector_id is None or found[u].sector_id != instance.sector_id]
    if refused:
        raise _bad("user_ids", f"not active users of this process's sector: {refused}")
    have = set(session.scalars(select(InstanceCopy.user_id).where(InstanceCopy.instance_id == instance.id,
                                                                  InstanceCopy.user_id.in_(wanted))))
    now = clock.now()
    rows = [InstanceCopy(instance_id=instance.id, user_id=u, copied_by=user.id, sector_id=instance.sector_id,
                         copied_at=now) for u in wanted if u not in have and u != user.id]
    session.add_all(rows)
    if rows:
        runtime._event(session, instance, user.id, "copied",
                       comment=_names(session, [r.user_id for r in rows], comment))
        notify(session, [r.user_id for r in rows], "copy", f"抄送：{instance.title or instance.process_key}",
               body=comment, link=_link(None, instance), sector_id=instance.sector_id)
    audit.record(session, actor_id=user.id, action="process.copy", entity_type="process_instance",
                 entity_id=instance.id, sector_id=instance.sector_id,
                 after={"user_ids": [r.user_id for r in rows], "comment": comment})
    session.flush()
    return rows


def mark_copy_read(session: Session, user: User, instance_id: int) -> None:
    """Opening a copied process marks the copy read (no audit: reading changes nothing)."""
    row = session.scalar(select(InstanceCopy).where(InstanceCopy.instance_id == instance_id,
                                                    InstanceCopy.user_id == user.id))
    if row is not None and row.read_at is None:
        row.read_at = clock.now()


# ---------------------------------------------------------------- 评论 comments

def add_comment(session: Session, task_id: int, user: User, body) -> TaskComment:
    """Anyone who may view the process comments on it (at any time, also after it ended)."""
    body = _text(body, "body", required=True)
    task, instance = runtime.load_task_for_update(session, task_id)
    if not user.is_active:
        raise NotFound(f"task {task_id} not found")
    _visible_task(session, user, task, instance)
    row = TaskComment(instance_id=instance.id, task_id=task.id, author_id=user.id, body=body,
                      created_at=clock.now())
    session.add(row)
    runtime._event(session, instance, user.id, "commented", task, comment=body)
    session.flush()
    audit.record(session, actor_id=user.id, action="task.comment", entity_type="human_task", entity_id=task.id,
                 sector_id=instance.sector_id, after={"comment_id": row.id, "body": body})
    return row


def comments_of(session: Session, task_id: int, user: User) -> list[tuple[TaskComment, str]]:
    task = inbox.visible_task(session, user, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return list(session.execute(select(TaskComment, User.display_name).join(User, User.id == TaskComment.author_id)
                                .where(TaskComment.instance_id == task.instance_id).order_by(TaskComment.id)))


# ---------------------------------------------------------------- 附件 attachments

def may_attach(session: Session, user: User, task: HumanTask, instance: ProcessInstance) -> bool:
    if not user.is_active:
        return False
    if instance.started_by == user.id or task.completed_by == user.id:
        return True
    return task.status == "open" and assignment.may_act(user, task)


def add_attachment(session: Session, task_id: int, user: User, *, filename: str | None, content_type: str | None,
                   data: bytes | None, directory: Path, max_bytes: int = MAX_ATTACHMENT_BYTES) -> TaskAttachment:
    """Those who may act on the step, who handled it, or the initiator attach a file (10 MB at most)."""
    task, instance = runtime.load_task_for_update(session, task_id)
    _visible_task(session, user, task, instance)
    if not may_attach(session, user, task, instance):
        raise Forbidden("only the initiator or who handles this step may attach files")
    if data is None:
        raise _bad("file", "send the file as multipart field 'file'")
    if not data:
        raise _bad("file", "the file is empty")
    if len(data) > max_bytes:
        raise _bad("file", f"a file may have at most {max_bytes // (1024 * 1024)} MB")
    digest = hashlib.sha256(data).hexdigest()
    _store(directory, data, digest)
    kind = (content_type or "application/octet-stream").split(";")[0].strip()[:100]
    if not re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+", kind):
        kind = "application/octet-stream"
    row = TaskAttachment(instance_id=instance.id, task_id=task.id, sector_id=instance.sector_id,
                         filename=safe_filename(filename), content_type=kind, size=len(data), sha256=digest,
                         uploaded_by=user.id, uploaded_at=clock.now())
    session.add(row)
    runtime._event(session, instance, user.id, "attached", task, comment=row.filename)
    session.flush()
    audit.record(session, actor_id=user.id, action="task.attach", entity_type="human_task", entity_id=task.id,
                 sector_id=instance.sector_id, after={"attachment_id": row.id, "filename": row.filename,
                                                      "size": row.size, "sha256": digest})
    return row


def attachments_of(session: Session, instance_id: int) -> list[tuple[TaskAttachment, str]]:
    """The instance's attachments (the caller has checked that the user may view the instance)."""
    return list(session.execute(select(TaskAttachment, User.display_name)
                                .join(User, User.id == TaskAttachment.uploaded_by)
                                .where(TaskAttachment.instance_id == instance_id).order_by(TaskAttachment.id)))


def attachment_for_download(session: Session, user: User, attachment_id: int,
                            directory: Path) -> tuple[TaskAttachment, Path]:
    """The row and the file, only for a user who may view the instance (anyone else: 404)."""
    row = session.get(TaskAttachment, attachment_id)
    instance = session.get(ProcessInstance, row.instance_id) if row is not None else None
    if row is None or instance is None or not inbox.may_view_instance(session, user, instance):
        raise NotFound(f"attachment {attachment_id} not found")
    path = directory / row.sha256
    if not re.fullmatch(r"[0-9a-f]{64}", row.sha256) or not path.is_file():
        raise NotFound(f"attachment {attachment_id} not found")
    return row, path


# ---------------------------------------------------------------- 委托 delegation

def _is_sector_admin(user: User, sector_id: int | None) -> bool:
    return sector_id is not None and any(
        g.role_code == "sector_admin" and g.sector_id == sector_id for g in user.grants)


def set_delegation(session: Session, actor: User, *, delegate_id, starts_on, ends_on, delegator_id=None,
                   reason=None) -> Delegation:
    """While on leave a user's tasks go to a delegate of his sector too. Only the user himself or his
    sector admin sets it; one delegation per user at a time."""
    reason = _text(reason, "reason", required=False, size=200)
    if delegator_id is None:
        delegator = actor
    else:
        if isinstance(delegator_id, bool) or not isinstance(delegator_id, int):
            raise _bad("delegator_id", "a user id")
        delegator = session.get(User, delegator_id)
        if delegator is None or (delegator.id != actor.id and delegator.sector_id != actor.sector_id):
            raise NotFound(f"user {delegator_id} not found")
        if delegator.id != actor.id and not _is_sector_admin(actor, delegator.sector_id):
            raise Forbidden("only the user himself or his sector admin sets a delegation")
    if not actor.is_active:
        raise Forbidden("inactive users cannot set delegations")
    if isinstance(delegate_id, bool) or not isinstance(delegate_id, int):
        raise _bad("delegate_id", "a user id")
    delegate = session.get(User, delegate_id)
    if (delegate is None or not delegate.is_active or delegate.sector_id is None
            or delegate.sector_id != delegator.sector_id):
        raise _bad("delegate_id", f"user {delegate_id} is not an active user of the same sector")
    if delegate.id == delegator.id:
        raise _bad("delegate_id", "one cannot delegate to oneself")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise _bad("starts_on", "dates YYYY-MM-DD")
    today = clock.now().date()
    if ends_on < starts_on:
        raise _bad("ends_on", "on or after starts_on")
    if ends_on < today:
        raise _bad("ends_on", "today or later")
    if (ends_on - starts_on).days >= MAX_DELEGATION_DAYS:
        raise _bad("ends_on", f"a delegation lasts at most {MAX_DELEGATION_DAYS} days")
    overlapping = session.scalar(select(Delegation.id).where(
        Delegation.delegator_id == delegator.id, Delegation.active.is_(True),
        Delegation.starts_on <= ends_on, Delegation.ends_on >= starts_on).with_for_update())
    if overlapping is not None:
        raise Conflict(f"delegation {overlapping} already covers part of that period; end it first")
    row = Delegation(delegator_id=delegator.id, delegate_id=delegate.id, sector_id=delegator.sector_id,
                     starts_on=starts_on, ends_on=ends_on, active=True, reason=reason, created_by=actor.id,
                     created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor_id=actor.id, action="delegation.set", entity_type="delegation", entity_id=row.id,
                 sector_id=row.sector_id, after={"delegator_id": delegator.id, "delegate_id": delegate.id,
                                                 "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(),
                                                 "reason": reason})
    notify(session, [delegate.id], "info", f"{delegator.display_name} 委托您 {starts_on:%Y-%m-%d} 至 "
           f"{ends_on:%Y-%m-%d} 代为审批", link="/delegations", sector_id=row.sector_id)
    assignment.forget_delegations()
    return row


def _manageable(session: Session, actor: User, delegation_id: int) -> Delegation:
    row = session.get(Delegation, delegation_id)
    if row is None or not (actor.id in (row.delegator_id, row.delegate_id)
                           or (row.sector_id is not None and row.sector_id == actor.sector_id)):
        raise NotFound(f"delegation {delegation_id} not found")
    if actor.id != row.delegator_id and not _is_sector_admin(actor, row.sector_id):
        raise Forbidden("only the delegator or his sector admin ends a delegation")
    return row


def end_delegation(session: Session, actor: User, delegation_id: int) -> Delegation:
    row = _manageable(session, actor, delegation_id)
    if not row.active:
        raise Conflict(f"delegation {delegation_id} has already ended")
    row.active, row.ended_at, row.ended_by = False, clock.now(), actor.id
    audit.record(session, actor_id=actor.id, action="delegation.end", entity_type="delegation", entity_id=row.id,
                 sector_id=row.sector_id, before={"active": True}, after={"active": False})
    assignment.forget_delegations()
    return row


def delegations_for(session: Session, actor: User) -> list[Delegation]:
    """His own delegations both ways; a sector admin sees his sector's."""
    cond = or_(Delegation.delegator_id == actor.id, Delegation.delegate_id == actor.id)
    if _is_sector_admin(actor, actor.sector_id):
        cond = or_(cond, Delegation.sector_id == actor.sector_id)
    return list(session.scalars(select(Delegation).where(cond).order_by(Delegation.starts_on.desc(),
                                                                      Delegation.id.desc()).limit(200)))
