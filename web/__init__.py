"""Flask app factory: one blueprint per area, one DB session per request."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

import engine  # noqa: F401  (registers connectors)
from models.base import make_engine, make_session_factory
from models.org import User
from web import i18n
from web.config import load_config
from web.db import close_db, db
from web.forms import IdConverter

csrf = CSRFProtect()
# Scripts only from this server: a stored value or an uploaded diagram can never run script here.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
                           "frame-ancestors 'none'; form-action 'self'")
login_manager = LoginManager()


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"),
                instance_relative_config=True)
    app.config.update(load_config(Path(app.instance_path)))
    app.config.update(overrides or {})
    engine_ = make_engine(app.config["DATABASE_URL"])
    app.url_map.converters["id"] = IdConverter
    app.extensions["db_engine"] = engine_
    app.extensions["session_factory"] = make_session_factory(engine_)
    app.teardown_appcontext(close_db)

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        user = db().get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.is_active else None

    app.jinja_env.globals.update(_=i18n.gettext, money=i18n.money, zhe=i18n.zhe, role_name=i18n.role_name,
                                 current_locale=i18n.current_locale)

    from web.accounts import accounts_bp
    from web.api import api_bp
    from web.auth import auth_bp
    from web.closures import closures_bp
    from web.contracts import contracts_bp
    from web.customers import customers_bp
    from web.data_io import data_io_bp
    from web.expenses import expenses_bp
    from web.inbox import inbox_bp
    from web.lead_desk import lead_desk_bp
    from web.migration import migration_bp
    from web.modeler import modeler_bp
    from web.notifications import notifications_bp
    from web.orders import orders_bp
    from web.pool import pool_bp
    from web.processes import processes_bp
    from web.quotes import quotes_bp
    from web.ranking_settings import ranking_settings_bp
    from web.reports import reports_bp
    from web.sales import sales_bp
    from web.task_actions import task_actions_bp
    from web.vendor import vendor_bp

    for bp in (auth_bp, inbox_bp, quotes_bp, processes_bp, vendor_bp, customers_bp, pool_bp, sales_bp, data_io_bp,
               task_actions_bp, notifications_bp, lead_desk_bp, contracts_bp, orders_bp, expenses_bp, closures_bp,
               accounts_bp, migration_bp, modeler_bp, reports_bp):
        app.register_blueprint(bp)
    app.register_blueprint(ranking_settings_bp)  # P1 ranking rules: page and API
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens, not cookies

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return render_template("error.html", message=exc.description), 400

    @app.errorhandler(404)
    def _not_found(_exc):
        if request.path.startswith("/api/"):
            return {"message": "not found"}, 404
        return render_template("error.html", message=i18n.gettext("Page not found.")), 404

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return resp

    return app
