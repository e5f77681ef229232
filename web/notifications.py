"""Pages: the user's notifications (urges 催办, copies 抄送, reminders, escalations…), mark read, the nav badge."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select, update

from models import clock
from models.notifications import Notification
from web.db import db
from web.errors import run_write
from web.forms import page_arg

notifications_bp = Blueprint("notifications", __name__)
PAGE = 50


@notifications_bp.app_template_global()
def unread_notifications() -> int:
    """The count on the nav badge (one indexed count: ix_notification_user_unread)."""
    if not current_user.is_authenticated:
        return 0
    return db().scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))) or 0


@notifications_bp.get("/notifications")
@login_required
def index():
    page = page_arg()
    rows = list(db().scalars(select(Notification).where(Notification.user_id == current_user.id)
                             .order_by(Notification.id.desc()).limit(PAGE).offset((page - 1) * PAGE)))
    return render_template("task_actions/notifications.html", rows=rows, page=page)


@notifications_bp.get("/notifications/<id:notification_id>")
@login_required
def open_one(notification_id: int):
    """Follow a notification's link and mark it read."""
    row = db().get(Notification, notification_id)
    if row is None or row.user_id != current_user.id:
        abort(404)

    def mark():
        if row.read_at is None:
            row.read_at = clock.now()
        return row.link or ""

    link = run_write(mark)
    return redirect(link if link.startswith("/") and not link.startswith("//") else url_for("notifications.index"))


@notifications_bp.post("/notifications/read-all")
@login_required
def read_all():
    run_write(lambda: db().execute(update(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None)).values(read_at=clock.now())))
    return redirect(url_for("notifications.index"))
