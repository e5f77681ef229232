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
from models.reports import records as report_records  # noqa: F401

__all__ = ["Base"]
