"""Opportunity stages per sector (F1): the default list, which each sector may change."""
from __future__ import annotations

from sqlalchemy.orm import Session


def ensure_default_stages(session: Session) -> None:
    """Give every sector without stages the default list (filled in by the sales area)."""
