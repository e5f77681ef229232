"""Quote pages: list, new (submit for approval), detail with history and diagram."""
from __future__ import annotations

from decimal import Decimal, DecimalException, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, select

from engine import inbox, operations
from engine.errors import EngineError
from models import access
from models.crm import Customer, Quote
from models.process import ProcessInstance
from models.quotes import QuoteRefused
from web.db import db
from web.errors import run_write
from web.forms import id_field, page_arg, text_field
from web.i18n import gettext as _
from web.vendor import viewer_installed

quotes_bp = Blueprint("quotes", __name__)


def quotable_customers():
    return list(db().scalars(
        select(Customer).where(access.customer_filter(current_user), Customer.status == "approved")
        .order_by(Customer.name).limit(500)))


@quotes_bp.get("/quotes")
@login_required
def index():
    page = page_arg()
    quotes = db().scalars(select(Quote).where(access.quote_filter(current_user))
                          .order_by(Quote.created_at.desc(), Quote.id.desc()).limit(50).offset((page - 1) * 50))
    return render_template("quotes.html", quotes=list(quotes), page=page)


def _decimal(field: str, errors: dict) -> Decimal | None:
    raw = (request.form.get(field) or "").replace(",", "").replace("¥", "").strip()
    try:
        value = Decimal(raw)
        if not value.is_finite() or value.adjusted() >= 14 or value.as_tuple().exponent < -2:
            raise InvalidOperation
        return value
    except DecimalException:
        errors[field] = _("Enter an amount in CNY, e.g. 12000.00") if raw else "required"
        return None


@quotes_bp.route("/quotes/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, str] = {}
    if request.method == "POST":
        list_amount = _decimal("list_amount", errors)
        quote_amount = _decimal("quote_amount", errors)
        customer_id = id_field("customer_id", errors)
        product = text_field("product", 200, errors)
        notes = text_field("notes", 2000, errors)
        if not errors:
            try:
                quote = run_write(lambda: operations.submit_quote(
                    db(), current_user, customer_id=customer_id, list_amount=list_amount, quote_amount=quote_amount,
                    product=product, notes=notes))
            except QuoteRefused as exc:
                errors[exc.field] = exc.message
            except EngineError as exc:
                errors["form"] = str(exc)
            else:
                flash(_("Quote submitted for approval."), "ok")
                return redirect(url_for("quotes.detail", quote_id=quote.id))
    return render_template("quote_new.html", customers=quotable_customers(), errors=errors,
                           form=request.form), 422 if errors else 200


@quotes_bp.get("/quotes/<id:quote_id>")
@login_required
def detail(quote_id: int):
    session = db()
    quote = session.scalar(select(Quote).where(and_(Quote.id == quote_id, access.quote_filter(current_user))))
    instance = None
    if quote is None:
        # Approvers who hold or held a task of its process may see the quote too.
        candidate = session.get(Quote, quote_id)
        if candidate is not None and candidate.process_instance_id:
            instance = session.get(ProcessInstance, candidate.process_instance_id)
            if inbox.may_view_instance(session, current_user, instance):
                quote = candidate
    if quote is None:
        abort(404)
    instance = instance or (session.get(ProcessInstance, quote.process_instance_id) if quote.process_instance_id else None)
    return render_template("quote.html", quote=quote, instance=instance,
                           history=inbox.history(session, instance.id) if instance else [],
                           open_tasks=inbox.open_tasks_of(session, instance.id) if instance else [],
                           viewer=viewer_installed())
