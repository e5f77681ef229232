"""Authorization in one place (policy O2–O4): who may see which records.

Every list, detail, search, export, report and API path builds its query from these filters, so the
sector filter is always applied. Records a user may not see answer 404, never 403, to avoid
revealing that they exist.

Levels (O3): group management reads every sector; sector-wide roles read their whole sector; a
department manager or assistant reads his department (O4); a salesperson reads his own records and
those shared with him; a system admin sees no business data unless granted a business role.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from models.crm import Contact, Customer, Quote, RecordShare
from models.org import User
from models.sales import Activity, Lead, Opportunity

# Roles that see every record of their sector (sector head level, O3).
SECTOR_WIDE_ROLES = {
    "sector_head", "president", "vice_president", "president_assistant", "sales_mgmt_manager",
    "business_manager", "rnd_vp", "impl_vp",
}
DEPARTMENT_ROLES = {"dept_manager", "dept_assistant"}
GROUP_WIDE_ROLES = {"group_management"}
# Marketing screens every new lead of its sector (L2).
LEAD_DESK_ROLES = {"marketing", "business_manager"}


def managed_departments(user: User) -> list[int]:
    return [g.department_id for g in user.grants if g.role_code in DEPARTMENT_ROLES and g.department_id]


def sees_whole_sector(user: User) -> bool:
    return bool(user.role_codes & SECTOR_WIDE_ROLES)


def sees_all_sectors(user: User) -> bool:
    return bool(user.role_codes & GROUP_WIDE_ROLES)


def _shared(entity_type: str, id_col, user: User) -> ColumnElement[bool]:
    return id_col.in_(select(RecordShare.entity_id).where(
        RecordShare.user_id == user.id, RecordShare.entity_type == entity_type))


def _scoped(user: User, sector_col, department_col, own: list, extra_sector_roles: set[str] = frozenset()
            ) -> ColumnElement[bool]:
    if not user.is_active:
        return false()
    if sees_all_sectors(user):
        return true()
    if user.sector_id is None:
        return false()
    clauses = list(own)
    if sees_whole_sector(user) or user.role_codes & extra_sector_roles:
        clauses.append(true())
    depts = managed_departments(user)
    if depts and department_col is not None:
        clauses.append(department_col.in_(depts))
    return and_(sector_col == user.sector_id, or_(*clauses))


def customer_filter(user: User) -> ColumnElement[bool]:
    """Own, shared, department, sector-wide; customers in the public pool are visible to the sector (T3)."""
    return _scoped(user, Customer.sector_id, Customer.department_id, [
        Customer.owner_id == user.id, Customer.owner_id.is_(None), _shared("customer", Customer.id, user)])


def contact_filter(user: User) -> ColumnElement[bool]:
    return Contact.customer_id.in_(select(Customer.id).where(customer_filter(user)))


def lead_filter(user: User) -> ColumnElement[bool]:
    return _scoped(user, Lead.sector_id, Lead.department_id, [
        Lead.owner_id == user.id, Lead.created_by == user.id, _shared("lead", Lead.id, user)],
        extra_sector_roles=LEAD_DESK_ROLES)


def opportunity_filter(user: User) -> ColumnElement[bool]:
    return _scoped(user, Opportunity.sector_id, Opportunity.department_id, [
        Opportunity.owner_id == user.id, _shared("opportunity", Opportunity.id, user)])


def activity_filter(user: User) -> ColumnElement[bool]:
    """An activity is visible to its author and to whoever may see the record it was logged against."""
    return and_(Activity.sector_id == user.sector_id if not sees_all_sectors(user) else true(), or_(
        Activity.owner_id == user.id,
        Activity.customer_id.in_(select(Customer.id).where(customer_filter(user))),
        Activity.opportunity_id.in_(select(Opportunity.id).where(opportunity_filter(user))),
        Activity.lead_id.in_(select(Lead.id).where(lead_filter(user))),
    )) if user.is_active else false()


def quote_filter(user: User) -> ColumnElement[bool]:
    return _scoped(user, Quote.sector_id, Quote.department_id, [Quote.owner_id == user.id])
