"""Days since last contact, warnings and the public pool (T1–T3). Filled in by the pool area.

`touch_contact` is what every activity calls; list pages show `warning_level`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session


def touch_contact(session: Session, customer_id: int, at: datetime) -> None:
    """T1: an activity with the customer at `at` (keeps the latest)."""
    from sqlalchemy import update

    from models.crm import Customer

    session.execute(update(Customer).where(
        Customer.id == customer_id,
        (Customer.last_contact_at.is_(None)) | (Customer.last_contact_at < at),
    ).values(last_contact_at=at).execution_options(synchronize_session=False))
