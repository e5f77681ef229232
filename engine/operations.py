"""Business operations that start processes. Each runs in the caller's single transaction."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from engine import runtime
from engine.assignment import manages_department
from models.crm import Quote
from models.org import User
from models.quotes import create_quote

QUOTE_PROCESS = "quote_approval"


def submit_quote(session: Session, user: User, *, customer_id: int, list_amount: Decimal, quote_amount: Decimal,
                 title: str = "", product: str | None = None, notes: str | None = None) -> Quote:
    """Create the quote and start its approval chain (Q1)."""
    quote = create_quote(session, user, customer_id=customer_id, list_amount=list_amount,
                         quote_amount=quote_amount, title=title, product=product, notes=notes)
    instance = runtime.start_instance(
        session, QUOTE_PROCESS, actor=user, title=f"{quote.customer.name} · ¥{quote.quote_amount:,.2f}",
        subject_type="quote", subject_id=quote.id, sector_id=quote.sector_id,
        department_id=quote.department_id, business_key=quote.number,
        data={
            "quote_id": quote.id, "customer_name": quote.customer.name, "requester": user.username,
            "list_amount": float(quote.list_amount), "quote_amount": float(quote.quote_amount),
            # The exact ratio as a float: 45/100 gives the same double as the literal 0.45 in the
            # diagram, and 49.9999/100 stays below 0.5 (no rounding up across a limit).
            "discount": float(quote.quote_amount / quote.list_amount),
            # Nobody approves his own quote: a department manager's starts at the next level (diagram gateway).
            "by_manager": manages_department(user, quote.department_id),
        },
    )
    quote.process_instance_id = instance.id
    return quote
