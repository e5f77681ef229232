"""One SQLAlchemy session per request; controllers commit, anything else rolls back."""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session


def db() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["session_factory"]()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db", None)
    if session is not None:
        session.rollback()
        session.close()
