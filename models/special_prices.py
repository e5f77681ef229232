"""Special prices for agents and joint ventures (policy U6).

A quote for an agent's or a joint venture's customer is refused before it reaches an approver when that
partner's customer records have not been maintained within `special_price.maintained_days` days (default 90,
a per-sector setting). Decided here:

- The partner of a quote's customer: the customer itself when it is an agent or a joint venture (the quote is
  the partner's own special price); its `agent_id` customer when it is an end customer of an agent / joint
  venture (E6: channel reps enter agents and their end customers). A direct customer has no partner and is
  never affected.
- "The partner's customer records": the partner record, the end customers it brought (customer.agent_id = the
  partner) and the contacts of both. They count as maintained when the newest `updated_at` among them is within
  the period (every change of a customer or a contact sets its `updated_at`, so this is a column read, one query).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.orm import Session

from models import clock, settings
from models.crm import Contact, Customer

PARTNER_KINDS = ("agent", "joint_venture")
SETTING = "special_price.maintained_days"


def partner_of(session: Session, customer: Customer) -> Customer | None:
    """The agent / joint venture whose price terms a quote for `customer` is, or None for a direct customer."""
    if customer.kind in PARTNER_KINDS:
        return customer
    if customer.agent_id is not None:
        partner = session.get(Customer, customer.agent_id)
        if partner is not None and partner.kind in PARTNER_KINDS:
            return partner
    return None


def last_maintained(session: Session, partner: Customer) -> datetime | None:
    """Newest change of the partner record, its end customers, or the contacts of either (one query)."""
    records = select(Customer.id).where(or_(Customer.id == partner.id, Customer.agent_id == partner.id))
    newest = union_all(
        select(func.max(Customer.updated_at).label("at")).where(
            or_(Customer.id == partner.id, Customer.agent_id == partner.id)),
        select(func.max(Contact.updated_at).label("at")).where(Contact.customer_id.in_(records)),
    ).subquery()
    return session.scalar(select(func.max(newest.c.at)))


def refusal(session: Session, customer: Customer) -> str | None:
    """U6: the reason a quote for `customer` is refused, or None when it may go to approval."""
    partner = partner_of(session, customer)
    if partner is None:
        return None
    days = int(settings.get(session, SETTING, partner.sector_id))
    last = last_maintained(session, partner)
    if last is not None and last >= clock.now() - timedelta(days=days):
        return None
    when = last.date().isoformat() if last else "never"
    return (f"代理商/联营公司「{partner.name}」的客户资料超过 {days} 天未维护（最近维护：{when}），不能申请特价（U6）。"
            f" The customer records of partner {partner.name} were last maintained {when}, more than {days} days"
            " ago; update them before quoting (U6).")
