"""API: the approval actions on every process — transfer (转交), send back (驳回), resubmit, withdraw (撤回),
urge (催办), copy (抄送), comments, attachments, delegation (委托) and the user's notifications.

Thin: parse with a schema, call one engine.actions operation inside `run_write`, dump. Refusals answer JSON
naming the field; a task or process the user may not see is 404; not his to do 403; wrong state 409.
"""
from __future__ import annotations

from flask import current_app, request
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from engine import actions, inbox
from engine.errors import NotFound
from models import clock
from models.attachments import MAX_ATTACHMENT_BYTES
from models.notifications import Notification
from web.api import ApiError, api_bp, current_api_user, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ID, PAGE, list_op, op, register
from web.api.routes import _one_task
from web.api.sales import attachment_dir, send_attachment
from web.db import db
from web.errors import run_write

UserId = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=s.MAX_ID), **kw)


def _comment(size: int = 2000, **kw):
    return s.Text(load_default=None, allow_none=True, validate=validate.Length(max=size), **kw)


class TransferIn(s.StrictSchema):
    user_id = UserId(required=True)
    comment = _comment()


class SendBackIn(s.StrictSchema):
    target = s.Text(required=True, validate=validate.Length(min=1, max=100),
                    metadata={"description": "'submitter' or the id (bpmn id) of an earlier completed step"})
    comment = s.Text(required=True, validate=validate.Length(min=1, max=2000))


class CommentIn(s.StrictSchema):
    comment = _comment()


class UrgeIn(s.StrictSchema):
    comment = _comment(500)


class CopyIn(s.StrictSchema):
    user_ids = fields.List(UserId(), required=True, validate=validate.Length(min=1, max=actions.MAX_COPY_USERS))
    comment = _comment(500)


class TaskCommentIn(s.StrictSchema):
    body = s.Text(required=True, validate=validate.Length(min=1, max=2000))


class DelegationIn(s.StrictSchema):
    delegate_id = UserId(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    delegator_id = UserId(load_default=None, allow_none=True,
                          metadata={"description": "sector admin only: whom the delegation is for (default: you)"})
    reason = _comment(200)


class InstanceActionOut(Schema):
    id = fields.Integer()
    status = fields.String()
    notified = fields.Integer(allow_none=True)


class CopyOut(Schema):
    instance_id = fields.Integer()
    user_id = fields.Integer()
    copied_by = fields.Integer()
    copied_at = s.DateTime()
    read_at = s.DateTime(allow_none=True)


class CopiedOut(Schema):
    instance_id = fields.Integer()
    process_key = fields.String()
    title = fields.String()
    status = fields.String()
    requester = fields.String(allow_none=True)
    copied_by = fields.String(allow_none=True)
    copied_at = s.DateTime()
    read_at = s.DateTime(allow_none=True)


class TaskCommentOut(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    task_id = fields.Integer(allow_none=True)
    author_id = fields.Integer()
    author = fields.String()
    body = fields.String()
    created_at = s.DateTime()


class TaskAttachmentOut(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    task_id = fields.Integer(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_by = fields.Integer()
    uploader = fields.String(allow_none=True)
    uploaded_at = s.DateTime()


class DelegationOut(Schema):
    id = fields.Integer()
    delegator_id = fields.Integer()
    delegate_id = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date()
    active = fields.Boolean()
    reason = fields.String(allow_none=True)
    created_by = fields.Integer()
    ended_at = s.DateTime(allow_none=True)


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String(allow_none=True)
    link = fields.String(allow_none=True)
    created_at = s.DateTime()
    read_at = s.DateTime(allow_none=True)


class NotificationQuery(s.PageQuery):
    unread = fields.Boolean(load_default=False)


def _body(schema: Schema) -> dict:
    """A JSON object; an empty body counts as {} for the actions whose fields are all optional."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", {"_body": ["expected a JSON object"]})
    return schema.load(body)


def _id(value: int) -> int:
    if not 1 <= value <= s.MAX_ID:
        raise NotFound("not found")
    return value


# ---------------------------------------------------------------- task actions

@api_bp.post("/tasks/<id:task_id>/transfer")
@token_required
def transfer_task(task_id: int):
    body = _body(TransferIn())
    run_write(lambda: actions.transfer_task(db(), _id(task_id), current_api_user(), body["user_id"], body["comment"]))
    return _one_task(task_id)


@api_bp.post("/tasks/<id:task_id>/send-back")
@token_required
def send_back(task_id: int):
    body = _body(SendBackIn())
    task = run_write(lambda: actions.send_back(db(), _id(task_id), current_api_user(), body["target"],
                                               body["comment"]))
    return _one_task(task.id)


@api_bp.post("/tasks/<id:task_id>/resubmit")
@token_required
def resubmit_task(task_id: int):
    body = _body(CommentIn())
    run_write(lambda: actions.resubmit(db(), _id(task_id), current_api_user(), body["comment"]))
    return _one_task(task_id)


@api_bp.post("/process-instances/<id:instance_id>/withdraw")
@token_required
def withdraw_instance(instance_id: int):
    body = _body(CommentIn())
    instance = run_write(lambda: actions.withdraw(db(), _id(instance_id), current_api_user(), body["comment"]))
    return InstanceActionOut().dump({"id": instance.id, "status": instance.status, "notified": None})


@api_bp.post("/process-instances/<id:instance_id>/urge")
@token_required
def urge_instance(instance_id: int):
    body = _body(UrgeIn())
    count = run_write(lambda: actions.urge(db(), _id(instance_id), current_api_user(), body["comment"]))
    return InstanceActionOut().dump({"id": instance_id, "status": "running", "notified": count})


@api_bp.post("/process-instances/<id:instance_id>/copies")
@token_required
def copy_instance(instance_id: int):
    body = _body(CopyIn())
    rows = run_write(lambda: actions.copy_to(db(), _id(instance_id), current_api_user(), body["user_ids"],
                                             body["comment"]))
    return {"items": CopyOut(many=True).dump(rows)}


@api_bp.get("/copies")
@token_required
def copied_to_me():
    page = query_args(s.PageQuery())
    rows = inbox.copied_to(db(), current_api_user(), limit=page["limit"], offset=page["offset"])
    return {"items": CopiedOut(many=True).dump([{
        "instance_id": r.instance.id, "process_key": r.instance.process_key, "title": r.instance.title,
        "status": r.instance.status, "requester": r.requester, "copied_by": r.copied_by,
        "copied_at": r.copy.copied_at, "read_at": r.copy.read_at} for r in rows])}


@api_bp.get("/tasks/<id:task_id>/comments")
@token_required
def list_comments(task_id: int):
    rows = actions.comments_of(db(), _id(task_id), current_api_user())
    return {"items": [_comment_json(c, name) for c, name in rows]}


def _comment_json(row, author: str) -> dict:
    return TaskCommentOut().dump({**{k: getattr(row, k) for k in ("id", "instance_id", "task_id", "author_id",
                                                                   "body", "created_at")}, "author": author})


@api_bp.post("/tasks/<id:task_id>/comments")
@token_required
def add_comment(task_id: int):
    body = _body(TaskCommentIn())
    user = current_api_user()
    row = run_write(lambda: actions.add_comment(db(), _id(task_id), user, body["body"]))
    return _comment_json(row, user.display_name), 201


def _attachment_json(row, uploader: str | None) -> dict:
    return TaskAttachmentOut().dump({**{k: getattr(row, k) for k in (
        "id", "instance_id", "task_id", "filename", "content_type", "size", "sha256", "uploaded_by",
        "uploaded_at")}, "uploader": uploader})


@api_bp.post("/tasks/<id:task_id>/attachments")
@token_required
def upload_task_attachment(task_id: int):
    _id(task_id)
    max_bytes = int(current_app.config.get("ATTACHMENT_MAX_BYTES", MAX_ATTACHMENT_BYTES))
    if request.content_length and request.content_length > max_bytes + 64 * 1024:
        raise ApiError(422, "the file is too large", {"file": [f"a file may have at most {max_bytes // 1048576} MB"]})
    file = request.files.get("file")
    data = file.read(max_bytes + 1) if file is not None else None
    user = current_api_user()
    row = run_write(lambda: actions.add_attachment(
        db(), task_id, user, filename=file.filename if file else None,
        content_type=file.mimetype if file else None, data=data, directory=attachment_dir(), max_bytes=max_bytes))
    return _attachment_json(row, user.display_name), 201


@api_bp.get("/tasks/<id:task_id>/attachments")
@token_required
def list_task_attachments(task_id: int):
    session = db()
    task = inbox.visible_task(session, current_api_user(), _id(task_id))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return {"items": [_attachment_json(a, name) for a, name in actions.attachments_of(session, task.instance_id)]}


@api_bp.get("/task-attachments/<id:task_attachment_id>")
@token_required
def download_task_attachment(task_attachment_id: int):
    row, path = actions.attachment_for_download(db(), current_api_user(), _id(task_attachment_id), attachment_dir())
    return send_attachment(row, path)


# ---------------------------------------------------------------- delegation

@api_bp.get("/delegations")
@token_required
def list_delegations():
    return {"items": DelegationOut(many=True).dump(actions.delegations_for(db(), current_api_user()))}


@api_bp.post("/delegations")
@token_required
def create_delegation():
    body = _body(DelegationIn())
    row = run_write(lambda: actions.set_delegation(db(), current_api_user(), **body))
    return DelegationOut().dump(row), 201


@api_bp.post("/delegations/<id:delegation_id>/end")
@token_required
def end_delegation(delegation_id: int):
    row = run_write(lambda: actions.end_delegation(db(), current_api_user(), _id(delegation_id)))
    return DelegationOut().dump(row)


# ---------------------------------------------------------------- notifications

@api_bp.get("/notifications")
@token_required
def list_notifications():
    q = query_args(NotificationQuery())
    user = current_api_user()
    stmt = select(Notification).where(Notification.user_id == user.id)
    if q["unread"]:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = db().scalars(stmt.order_by(Notification.id.desc()).limit(q["limit"]).offset(q["offset"]))
    unread = db().scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))
    return {"items": NotificationOut(many=True).dump(rows), "unread": unread}


@api_bp.post("/notifications/<id:notification_id>/read")
@token_required
def read_notification(notification_id: int):
    user = current_api_user()

    def mark():
        row = db().get(Notification, _id(notification_id))
        if row is None or row.user_id != user.id:
            raise NotFound(f"notification {notification_id} not found")
        if row.read_at is None:
            row.read_at = clock.now()
        return row

    return NotificationOut().dump(run_write(mark))


# ---------------------------------------------------------------- OpenAPI

def _p(name: str) -> list[dict]:
    return [{**ID, "name": name}]


def _errors(operation: dict, *codes: int) -> dict:
    text = {403: "not allowed for you (only the initiator / who may act on the step)",
            409: "not allowed in the current state (task no longer open, process not running, already decided)",
            429: "urged too recently: wait for the interval (setting task.urge_interval_hours)"}
    for code in codes:
        operation["responses"][str(code)] = {"description": text[code],
                                             "content": {"application/json": {"schema": "ErrorResponse"}}}
    return operation


_UPLOAD = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}
_DOWNLOAD = {"200": {"description": "the file, as a download (Content-Disposition: attachment)",
                     "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
             "401": {"description": "bearer token missing or invalid", "content": {"application/json": {
                 "schema": "ErrorResponse"}}},
             "404": {"description": "not found or not visible to you", "content": {"application/json": {
                 "schema": "ErrorResponse"}}}}


def _download_op() -> dict:
    operation = op("Download a process attachment (only if you may view its process)", (200, "TaskAttachmentOut"))
    operation["responses"] = dict(_DOWNLOAD)
    return operation


def _with_404(operation: dict) -> dict:
    operation["responses"]["404"] = {"description": "not found or not visible to you",
                                     "content": {"application/json": {"schema": "ErrorResponse"}}}
    return operation


def _optional_body(operation: dict) -> dict:
    """Every field is optional: an empty body is fine."""
    operation["requestBody"]["required"] = False
    return operation


_COPY = _errors(list_op("抄送 Copy the process to active users of its sector (read-only access, 抄送我的); "
                        "answers the new copies", "CopyOut", []), 403)
_COPY["requestBody"] = {"required": True, "content": {"application/json": {"schema": "CopyIn"}}}
_with_404(_COPY)

_NOTIFICATIONS = list_op("Your notifications (urges, copies, reminders…), newest first", "NotificationOut",
                         [{"in": "query", "name": "unread", "schema": {"type": "boolean"}}, *PAGE])
_NOTIFICATIONS["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["unread"] = {
    "type": "integer"}

register({
    "/tasks": {"get": list_op(
        "Your tasks: mine (you can act now, also for whom you stand in), claimable (unclaimed in your roles), "
        "done, copied (steps of processes copied to you)", "TaskOut", [
            {"in": "query", "name": "scope", "schema": {"type": "string",
                                                        "enum": ["mine", "claimable", "done", "copied"]}}, *PAGE])},
    "/tasks/{task_id}/transfer": {"parameters": _p("task_id"), "post": _errors(op(
        "转交 Transfer an open task to another user who holds its role in its scope", (200, "TaskOut"),
        body="TransferIn", errors=(401, 404, 422)), 403, 409)},
    "/tasks/{task_id}/send-back": {"parameters": _p("task_id"), "post": _errors(op(
        "驳回 Send the process back to the submitter or to an earlier completed step (answers the reopened task)",
        (200, "TaskOut"), body="SendBackIn", errors=(401, 404, 422)), 403, 409)},
    "/tasks/{task_id}/resubmit": {"parameters": _p("task_id"), "post": _optional_body(_errors(op(
        "重新提交 The submitter sends a step that was sent back to him on again", (200, "TaskOut"),
        body="CommentIn", errors=(401, 404, 422)), 403, 409))},
    "/process-instances/{instance_id}/withdraw": {"parameters": _p("instance_id"), "post": _optional_body(_errors(op(
        "撤回 The initiator withdraws his request before the first decision", (200, "InstanceActionOut"),
        body="CommentIn", errors=(401, 404, 422)), 403, 409))},
    "/process-instances/{instance_id}/urge": {"parameters": _p("instance_id"), "post": _optional_body(_errors(op(
        "催办 The initiator reminds whoever can act on the open steps", (200, "InstanceActionOut"),
        body="UrgeIn", errors=(401, 404, 422)), 403, 409, 429))},
    "/process-instances/{instance_id}/copies": {"parameters": _p("instance_id"), "post": _COPY},
    "/copies": {"get": list_op("Processes copied to you (抄送我的)", "CopiedOut", PAGE)},
    "/tasks/{task_id}/comments": {
        "parameters": _p("task_id"),
        "get": _with_404(list_op("Comments on the task's process", "TaskCommentOut", [])),
        "post": op("评论 Comment on the process (anyone who may view it)", (201, "TaskCommentOut"),
                   body="TaskCommentIn", errors=(401, 404, 422)),
    },
    "/tasks/{task_id}/attachments": {
        "parameters": _p("task_id"),
        "get": _with_404(list_op("Attachments of the task's process", "TaskAttachmentOut", [])),
        "post": _errors(op("附件 Attach a file (10 MB at most) as the initiator or who handles the step",
                           (201, "TaskAttachmentOut"), errors=(401, 404, 422), extra=_UPLOAD), 403),
    },
    "/task-attachments/{task_attachment_id}": {"parameters": _p("task_attachment_id"), "get": _download_op()},
    "/delegations": {
        "get": list_op("委托 Your delegations (given and received; a sector admin: his sector's)", "DelegationOut", []),
        "post": _errors(op("Delegate your tasks to a colleague of your sector for a period (while on leave)",
                           (201, "DelegationOut"), body="DelegationIn", errors=(401, 404, 422)), 403, 409),
    },
    "/delegations/{delegation_id}/end": {"parameters": _p("delegation_id"), "post": _errors(op(
        "End a delegation (the delegator or his sector admin)", (200, "DelegationOut"), errors=(401, 404)), 403, 409)},
    "/notifications": {"get": _NOTIFICATIONS},
    "/notifications/{notification_id}/read": {"parameters": _p("notification_id"), "post": op(
        "Mark one of your notifications read", (200, "NotificationOut"), errors=(401, 404))},
}, {"TransferIn": TransferIn, "SendBackIn": SendBackIn, "CommentIn": CommentIn, "UrgeIn": UrgeIn, "CopyIn": CopyIn,
    "TaskCommentIn": TaskCommentIn, "DelegationIn": DelegationIn, "InstanceActionOut": InstanceActionOut,
    "CopyOut": CopyOut, "CopiedOut": CopiedOut, "TaskCommentOut": TaskCommentOut,
    "TaskAttachmentOut": TaskAttachmentOut, "DelegationOut": DelegationOut, "NotificationOut": NotificationOut})
