"""SQLAlchemy tables and the domain operations on them. Importing this package registers every table."""
from models import (  # noqa: F401
    account_changes,
    audit,
    auth,
    closures,
    contracts,
    crm,
    expenses,
    flags,
    imports,
    job_lease,
    lead_routing,
    notifications,
    orders,
    org,
    process,
    receivables,
    sales,
    settings,
    task_extras,
    workcalendar,
)
from models.base import Base

__all__ = ["Base"]
