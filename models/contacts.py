"""Contacts of a customer (E1: the contact's name is required and never blank). Access follows the customer."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from models import access, audit, clock
from models.crm import Contact, Customer
from models.customer_rules import phone_error
from models.customers import CustomerError, may_edit, visible_customer
from models.org import User

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
FIELDS = ("name", "title", "phone", "mobile", "email", "is_primary")


def clean_contact(data: Any, *, partial: bool, prefix: str = "") -> dict:
    """Validate contact fields; 422 naming the field (with `prefix`, e.g. `contact.name` inside a customer)."""
    if not isinstance(data, dict):
        raise CustomerError(422, "must be an object", prefix.rstrip(".") or "contact")
    out: dict[str, Any] = {}
    for key, size in (("name", 100), ("title", 100), ("phone", 40), ("mobile", 40), ("email", 200)):
        if partial and key not in data:
            continue
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise CustomerError(422, "must be text", prefix + key)
        value = (value or "").strip()
        if len(value) > size:
            raise CustomerError(422, f"at most {size} characters", prefix + key)
        out[key] = value or None
    if "name" in out and not out["name"]:
        raise CustomerError(422, "the contact's name is required (E1)", prefix + "name")
    for key in ("phone", "mobile"):
        if out.get(key) and phone_error(out[key]):
            raise CustomerError(422, phone_error(out[key]), prefix + key)
    if out.get("email") and not _EMAIL.match(out["email"]):
        raise CustomerError(422, "not an e-mail address", prefix + "email")
    if "is_primary" in data:
        if not isinstance(data["is_primary"], bool):
            raise CustomerError(422, "true or false", prefix + "is_primary")
        out["is_primary"] = data["is_primary"]
    return out


def list_contacts(session: Session, user: User, customer_id: int, *, limit: int = 50, offset: int = 0) -> list[Contact]:
    visible_customer(session, user, customer_id)
    return list(session.scalars(
        select(Contact).where(and_(Contact.customer_id == customer_id, access.contact_filter(user)))
        .order_by(Contact.is_primary.desc(), Contact.id).limit(limit).offset(offset)))


def visible_contact(session: Session, user: User, contact_id: int) -> Contact:
    contact = session.scalar(select(Contact).where(and_(Contact.id == contact_id, access.contact_filter(user))))
    if contact is None:
        raise CustomerError(404, "contact not found")
    return contact


def _snapshot(contact: Contact) -> dict:
    return {k: getattr(contact, k) for k in FIELDS}


def add_contact(session: Session, user: User, customer: Customer, fields: dict) -> Contact:
    now = clock.now()
    contact = Contact(sector_id=customer.sector_id, customer_id=customer.id, created_by=user.id, created_at=now,
                      updated_at=now, **{k: fields.get(k) for k in FIELDS if k != "is_primary"},
                      is_primary=bool(fields.get("is_primary")))
    session.add(contact)
    session.flush()
    audit.record(session, actor_id=user.id, action="contact.create", entity_type="contact", entity_id=contact.id,
                 sector_id=contact.sector_id, after={"customer_id": customer.id, **_snapshot(contact)})
    return contact


def create_contact(session: Session, user: User, customer_id: int, data: dict) -> Contact:
    customer = visible_customer(session, user, customer_id)
    if not may_edit(user, customer):
        raise CustomerError(403, "only the owner or his managers add contacts")
    return add_contact(session, user, customer, clean_contact(data, partial=False))


def update_contact(session: Session, user: User, contact_id: int, data: dict) -> Contact:
    contact = visible_contact(session, user, contact_id)
    customer = session.get(Customer, contact.customer_id)
    if not may_edit(user, customer):
        raise CustomerError(403, "only the owner or his managers change contacts")
    fields = clean_contact(data, partial=True)
    before = _snapshot(contact)
    for key, value in fields.items():
        setattr(contact, key, value)
    changed = {k: v for k, v in _snapshot(contact).items() if before[k] != v}
    if changed:
        contact.updated_at = clock.now()
        audit.record(session, actor_id=user.id, action="contact.update", entity_type="contact", entity_id=contact.id,
                     sector_id=contact.sector_id, before={k: before[k] for k in changed}, after=changed)
    return contact
