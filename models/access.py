"""Authorization in one place (policy O2–O4): who may see which records.

Every list, detail, search, export, report and API path builds its query from these filters, so the
sector filter is always applied. Records a user may not see answer 404, never 403, to avoid
revealing that they exist.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, true

from models.crm import Customer, Quote
from models.org import User

# Roles that see every record of their sector (sector head level, O3).
SECTOR_WIDE_ROLES = {
    "sector_head", "president", "vice_president", "president_assistant", "sales_mgmt_manager",
    "business_manager",
}
DEPARTMENT_ROLES = {"dept_manager", "dept_assistant"}
GROUP_WIDE_ROLES = {"group_management"}


def _scoped(user: User, sector_col, department_col, owner_col) -> ColumnElement[bool]:
    if not user.is_active:
        return false()
    roles = user.role_codes
    if roles & GROUP_WIDE_ROLES:
        return true()
    if user.sector_id is None:
        return false()  # system admin and other group-level staff see no business data unless granted
    clauses = [owner_col == user.id]
    if roles & SECTOR_WIDE_ROLES:
        clauses.append(true())
    dept_ids = [g.department_id for g in user.grants if g.role_code in DEPARTMENT_ROLES and g.department_id]
    if dept_ids:
        clauses.append(department_col.in_(dept_ids))
    return and_(sector_col == user.sector_id, or_(*clauses))


def customer_filter(user: User) -> ColumnElement[bool]:
    return _scoped(user, Customer.sector_id, Customer.department_id, Customer.owner_id)


def quote_filter(user: User) -> ColumnElement[bool]:
    return _scoped(user, Quote.sector_id, Quote.department_id, Quote.owner_id)
