"""API routes. Thin: parse with a schema, call one operation, dump with a schema."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from sqlalchemy import and_, select

from engine import definitions, design, form_builder, inbox, operations, runtime
from engine.errors import EngineError, NotFound
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError
from models import access, clock
from models.auth import RateLimited, authenticate, issue_token
from models.base import write_transaction
from models.crm import Quote
from models.process import ProcessDefinition, ProcessInstance
from models.quotes import QuoteRefused
from web.api import ApiError, api_bp, current_api_user, error, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import openapi_document
from web.auth import client_ip
from web.db import db
from web.errors import run_write
from web.i18n import zhe_label
from web.processes import may_deploy

MAX_ID = s.MAX_ID


def _check_id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("not found")
    return value


@api_bp.get("/openapi.json")
def openapi():
    return openapi_document()


@api_bp.post("/auth/token")
def token():
    data = json_body(s.TokenRequest())
    session = db()
    with write_transaction(session):
        try:
            user = authenticate(session, data["username"], data["password"], client_ip(),
                                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                                window_minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
        except RateLimited:
            return error(429, "too many failed attempts; try again later")
        if user is None:
            session.commit()
            return error(401, "wrong username or password")
        hours = current_app.config["API_TOKEN_HOURS"]
        value = issue_token(session, user, lifetime=timedelta(hours=hours))
        session.commit()
    return s.TokenResponse().dump({"token": value, "token_type": "Bearer", "expires_in": hours * 3600})


def _history(instance_id: int) -> list[dict]:
    return [{"at": h.event.at, "actor": h.actor, "kind": h.event.kind, "task": h.event.task_name,
             "step": h.event.bpmn_id, "decision": h.event.decision, "comment": h.event.comment,
             "acting_for": h.acting_for}
            for h in inbox.history(db(), instance_id)]


def _quote_json(quote: Quote) -> dict:
    return s.QuoteOut().dump({
        **{c: getattr(quote, c) for c in ("id", "number", "status", "customer_id", "owner_id", "list_amount",
                                           "quote_amount", "discount", "currency", "product", "notes",
                                           "process_instance_id", "created_at", "decided_at")},
        "customer_name": quote.customer.name, "discount_zhe": zhe_label(quote.discount),
        "history": _history(quote.process_instance_id) if quote.process_instance_id else [],
    })


@api_bp.post("/quotes")
@token_required
def create_quote():
    data = json_body(s.QuoteIn())
    try:
        quote = run_write(lambda: operations.submit_quote(db(), current_api_user(), **data))
    except QuoteRefused as exc:
        raise ApiError(422, exc.message, {exc.field: [exc.message]}) from exc
    return _quote_json(quote), 201


@api_bp.get("/quotes")
@token_required
def list_quotes():
    page = query_args(s.PageQuery())
    rows = db().scalars(select(Quote).where(access.quote_filter(current_api_user()))
                        .order_by(Quote.id.desc()).limit(page["limit"]).offset(page["offset"]))
    return {"items": [_quote_json(q) | {"history": []} for q in rows]}


@api_bp.get("/quotes/<id:quote_id>")
@token_required
def get_quote(quote_id: int):
    session, user = db(), current_api_user()
    quote = session.scalar(select(Quote).where(and_(Quote.id == _check_id(quote_id), access.quote_filter(user))))
    if quote is None:
        candidate = session.get(Quote, quote_id)
        instance = session.get(ProcessInstance, candidate.process_instance_id) if candidate and candidate.process_instance_id else None
        if instance is None or not inbox.may_view_instance(session, user, instance):
            raise NotFound(f"quote {quote_id} not found")
        quote = candidate
    return _quote_json(quote)


@api_bp.get("/process-definitions")
@token_required
def list_definitions():
    user = current_api_user()
    scope = (ProcessDefinition.sector_id.is_(None) | (ProcessDefinition.sector_id == user.sector_id)
             if user.sector_id is not None else True)
    rows = db().scalars(select(ProcessDefinition).where(scope)
                        .order_by(ProcessDefinition.key, ProcessDefinition.version.desc()))
    return {"items": s.DefinitionOut(many=True).dump(rows)}


@api_bp.post("/process-definitions")
@token_required
def deploy_definition():
    user = current_api_user()
    if not may_deploy(user):
        return error(403, "only a process designer may deploy process definitions")
    file = request.files.get("file")
    if file is None:
        return error(422, "send the BPMN file as multipart field 'file'",
                     [{"element": "file", "message": "missing multipart field 'file'"}])
    data = file.read(MAX_DIAGRAM_BYTES + 1)
    try:
        definition = run_write(lambda: definitions.deploy(db(), data, filename=file.filename or "upload.bpmn",
                                                          actor_id=user.id, sector_id=design.home_scope(user)))
    except DiagramError as exc:
        return error(422, "the diagram was refused", exc.errors)
    return s.DeployOut().dump(definition), 201


def _task_json(row: inbox.TaskRow) -> dict:
    return s.TaskOut().dump(_task_fields(row))


def _task_fields(row: inbox.TaskRow) -> dict:
    t = row.task
    return {
        "id": t.id, "process_instance_id": t.instance_id, "process_key": row.instance.process_key,
        "title": row.instance.title, "name": t.name, "step": t.bpmn_id, "form": t.form, "role": t.role_code,
        "assignee": row.assignee, "assignee_id": t.assignee_id, "requester": row.requester, "status": t.status,
        "decision": t.decision, "comment": t.comment, "created_at": t.created_at, "due_at": t.due_at,
        "completed_at": t.completed_at, "kind": t.kind,
        "overdue": t.status == "open" and t.due_at is not None and t.due_at < clock.now(),
    }


@api_bp.get("/process-instances/<id:instance_id>")
@token_required
def get_instance(instance_id: int):
    session = db()
    instance = session.get(ProcessInstance, _check_id(instance_id))
    if instance is None or not inbox.may_view_instance(session, current_api_user(), instance):
        raise NotFound(f"process instance {instance_id} not found")
    return s.InstanceOut().dump({
        "id": instance.id, "process_key": instance.process_key, "definition_version": instance.definition.version,
        "status": instance.status, "title": instance.title, "business_key": instance.business_key,
        "subject_type": instance.subject_type, "subject_id": instance.subject_id,
        "started_by": instance.started_by, "started_at": instance.started_at, "ended_at": instance.ended_at,
        "open_tasks": [_task_fields(r) for r in inbox.open_tasks_of(session, instance.id)],
        "history": _history(instance.id),
    })


@api_bp.get("/tasks")
@token_required
def list_tasks():
    q = query_args(s.TaskQuery())
    rows = inbox.tasks(db(), current_api_user(), q["scope"], limit=q["limit"], offset=q["offset"])
    return {"items": [_task_json(r) for r in rows]}


def _one_task(task_id: int) -> dict:
    session = db()
    task = inbox.visible_task(session, current_api_user(), _check_id(task_id))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    fields = _task_fields(inbox.task_row(session, task.id))
    if task.form == form_builder.CUSTOM:  # a form defined in the diagram: what a client must render
        form = runtime.custom_form(task.instance.definition, task.bpmn_id)
        fields.update(form_fields=form.as_json(),
                      form_decisions=[{"value": v, "label": label} for v, label in form.decisions])
    return s.TaskOut().dump(fields)


@api_bp.get("/tasks/<id:task_id>")
@token_required
def get_task(task_id: int):
    return _one_task(task_id)


@api_bp.post("/tasks/<id:task_id>/claim")
@token_required
def claim_task(task_id: int):
    run_write(lambda: runtime.claim_task(db(), _check_id(task_id), current_api_user()))
    return _one_task(task_id)


@api_bp.post("/tasks/<id:task_id>/release")
@token_required
def release_task(task_id: int):
    run_write(lambda: runtime.release_task(db(), _check_id(task_id), current_api_user()))
    return _one_task(task_id)


@api_bp.post("/tasks/<id:task_id>/complete")
@token_required
def complete_task(task_id: int):
    body = json_body(s.TaskCompleteIn())
    _check_id(task_id)
    run_write(lambda: runtime.complete_task(db(), task_id, current_api_user(), body["data"], body["comment"]))
    return _one_task(task_id)


__all__ = ["EngineError"]
