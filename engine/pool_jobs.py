"""Scheduled jobs of the pool area: the public-pool sweep (T2) and the activity flags (U3, P3).

Both are set-based SQL in `models` (no Python loop over customers or records), idempotent and safe with
several workers at once. Run once with `crm jobs run public-pool --as-of 2027-03-01`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.jobs import job


@job("public-pool")
def public_pool(session: Session, as_of: datetime) -> dict[str, Any]:
    """T2: owned customers without contact for `customer.pool_days` move to the public pool."""
    from models.pool import sweep

    return sweep(session, as_of)


@job("activity-flags")
def activity_flags(session: Session, as_of: datetime) -> dict[str, Any]:
    """U3 / P3: missing weekly and monthly activities, late follow-up of routed leads, lead-rights removal."""
    from models.activity_flags import run

    return run(session, as_of)
