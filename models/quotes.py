"""Quote operations (policy Q1): a quote is for an approved customer the rep may see."""
from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from uuid import uuid4

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from models import access, audit, clock, special_prices
from models.crm import Customer, Quote
from models.org import User


class QuoteRefused(ValueError):
    """Business rule refusal; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def discount_of(list_amount: Decimal, quote_amount: Decimal) -> Decimal:
    """Price ÷ list price, cut (never rounded up) to 6 decimals: 0.4999999 must stay below 5折."""
    return (quote_amount / list_amount).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)


def create_quote(
    session: Session, user: User, *, customer_id: int, list_amount: Decimal, quote_amount: Decimal,
    title: str = "", product: str | None = None, notes: str | None = None,
) -> Quote:
    customer = session.scalar(select(Customer).where(and_(Customer.id == customer_id, access.customer_filter(user))))
    if customer is None:
        raise QuoteRefused("customer_id", "no such customer in the system (Q1: quotes only for registered customers)")
    if customer.owner_id is None:
        raise QuoteRefused("customer_id", "the customer is in the public pool; claim it before quoting")
    if customer.status != "approved":
        raise QuoteRefused("customer_id", "the customer is not approved yet; a quote needs an approved customer (Q1)")
    if (stale := special_prices.refusal(session, customer)) is not None:  # U6: before any approver sees it
        raise QuoteRefused("customer_id", stale)
    if list_amount <= 0:
        raise QuoteRefused("list_amount", "list amount must be greater than 0")
    if quote_amount <= 0:
        raise QuoteRefused("quote_amount", "quote amount must be greater than 0")
    if quote_amount > list_amount:
        raise QuoteRefused("quote_amount", "quote amount cannot exceed the list amount")
    quote = Quote(
        # unique placeholder until the id is known: an empty string would make concurrent
        # submissions wait on each other's unique-index entry until commit
        number=f"tmp-{uuid4().hex[:24]}", sector_id=customer.sector_id, department_id=user.department_id or customer.department_id,
        customer=customer, owner_id=user.id, title=title or customer.name, product=product,
        list_amount=list_amount, quote_amount=quote_amount, discount=discount_of(list_amount, quote_amount),
        notes=notes, status="pending", created_at=clock.now(), submitted_at=clock.now(),
    )
    session.add(quote)
    session.flush()
    quote.number = f"BJ{clock.now():%Y%m%d}-{quote.id:06d}"
    audit.record(session, actor_id=user.id, action="quote.create", entity_type="quote", entity_id=quote.id,
                 sector_id=quote.sector_id, after={
                     "customer_id": customer.id, "list_amount": str(list_amount),
                     "quote_amount": str(quote_amount), "discount": str(quote.discount)})
    return quote
