"""Login and logout (Flask-Login sessions, Argon2, rate limiting) and the language switch."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from models.auth import RateLimited, authenticate
from models.base import write_transaction
from web.db import db
from web.forms import has_control_chars
from web.i18n import gettext as _

auth_bp = Blueprint("auth", __name__)


def client_ip() -> str:
    return request.remote_addr or "unknown"


@auth_bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:80]
        password = (request.form.get("password") or "")[:200]
        if has_control_chars(username + password):
            return render_template("login.html", error=_("Wrong username or password.")), 401
        session = db()
        with write_transaction(session):
            try:
                user = authenticate(session, username, password, client_ip(),
                                    max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                                    window_minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
            except RateLimited:
                return render_template("login.html", error=_("Too many failed attempts; try again later.")), 429
            session.commit()
        if user is not None:
            login_user(user)
            target = request.args.get("next") or ""
            # Only same-site relative targets: no open redirect.
            # Browsers read a backslash as a slash: "/\\evil.example" would leave the site.
            if (not target.startswith("/") or target.startswith("//") or "\\" in target
                    or urlparse(target).netloc):
                target = _landing(user)
            return redirect(target)
        error = _("Wrong username or password.")
    return render_template("login.html", error=error), 401 if error else 200


@auth_bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@auth_bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(_landing(current_user))


def _landing(user) -> str:
    if user.role_codes == {"process_designer"}:  # ux.md: the process designer lands on 流程管理
        return url_for("processes.index")
    if user.role_codes & {"sector_head", "group_management"}:  # ux.md: they land on 仪表盘
        return url_for("reports.dashboard")
    return url_for("inbox.index")
