"""Connectors that act on CRM records. They act only on the instance's own subject record."""
from __future__ import annotations

from engine.connectors import ConnectorContext, ConnectorError, connector
from models import audit, clock
from models.crm import QUOTE_STATUSES, Quote


@connector("crm.set_quote_status", "Set the status of the quote this process approves", status=str)
def set_quote_status(ctx: ConnectorContext, status: str) -> dict:
    if ctx.instance.subject_type != "quote":
        raise ConnectorError("crm.set_quote_status runs only in a process whose subject is a quote")
    if status not in QUOTE_STATUSES:
        raise ConnectorError(f"unknown quote status {status!r}")
    quote = ctx.session.get(Quote, ctx.instance.subject_id)
    if quote is None:
        raise ConnectorError(f"quote {ctx.instance.subject_id} not found")
    before = quote.status
    if before != status:  # idempotent: a replayed step changes nothing
        quote.status = status
        quote.decided_at = clock.now() if status in ("approved", "rejected") else None
        audit.record(ctx.session, actor_id=ctx.actor_id, action="quote.status", entity_type="quote",
                     entity_id=quote.id, sector_id=quote.sector_id, before={"status": before},
                     after={"status": status})
    return {"quote_id": quote.id, "status": status}
