"""Process definitions (流程管理) and instance pages with the diagram and history."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from engine import definitions, inbox
from engine.errors import EngineError
from engine.safe_xml import DiagramError
from models.process import ProcessDefinition, ProcessInstance
from web.db import db
from web.errors import run_write
from web.i18n import gettext as _
from web.vendor import viewer_installed

processes_bp = Blueprint("processes", __name__)
DEPLOY_ROLES = {"system_admin"}


def may_deploy(user) -> bool:
    return bool(user.role_codes & DEPLOY_ROLES)


def definition_rows():
    running = (select(ProcessInstance.definition_id, func.count().label("n"))
               .where(ProcessInstance.status == "running").group_by(ProcessInstance.definition_id).subquery())
    stmt = (select(ProcessDefinition, func.coalesce(running.c.n, 0))
            .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
            .order_by(ProcessDefinition.key, ProcessDefinition.version.desc()))
    return list(db().execute(stmt))


@processes_bp.get("/processes")
@login_required
def index():
    return render_template("processes.html", rows=definition_rows(), may_deploy=may_deploy(current_user), errors=[])


@processes_bp.post("/processes")
@login_required
def upload():
    if not may_deploy(current_user):
        abort(403)
    file = request.files.get("file")
    errors = []
    if file is None or not file.filename:
        errors = [{"element": "file", "message": "choose a .bpmn file"}]
    else:
        data = file.read(definitions_max_bytes() + 1)
        try:
            definition = run_write(lambda: definitions.deploy(db(), data, filename=file.filename, actor_id=current_user.id))
        except DiagramError as exc:
            errors = exc.errors
        except EngineError as exc:
            errors = [{"element": "file", "message": str(exc)}]
        else:
            flash(_("Deployed %(key)s version %(version)s.", key=definition.key, version=definition.version), "ok")
            return redirect(url_for("processes.index"))
    return render_template("processes.html", rows=definition_rows(), may_deploy=True, errors=errors), 422


def definitions_max_bytes() -> int:
    from engine.safe_xml import MAX_DIAGRAM_BYTES

    return MAX_DIAGRAM_BYTES


@processes_bp.get("/processes/definitions/<id:definition_id>.bpmn")
@login_required
def definition_xml(definition_id: int):
    definition = db().get(ProcessDefinition, definition_id)
    if definition is None:
        abort(404)
    # Plain text in a sandbox: a diagram may carry markup (an XHTML <script> in documentation),
    # which a browser must never run on this origin. bpmn-js fetches the text either way.
    return Response(definition.bpmn_xml, mimetype="text/plain", headers={
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'attachment; filename="{definition.key}-v{definition.version}.bpmn"',
    })


@processes_bp.get("/processes/instances/<id:instance_id>")
@login_required
def instance_page(instance_id: int):
    session = db()
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not inbox.may_view_instance(session, current_user, instance):
        abort(404)
    # late import: web.task_actions imports the API, which imports this module
    from web.task_actions import mark_copy_read

    mark_copy_read(instance.id)
    return render_template("instance.html", instance=instance, history=inbox.history(session, instance.id),
                           open_tasks=inbox.open_tasks_of(session, instance.id), viewer=viewer_installed())
