"""SQLAlchemy tables and the domain operations on them. Importing this package registers every table."""
from models import audit, auth, crm, flags, imports, org, process, sales, settings  # noqa: F401
from models.base import Base

__all__ = ["Base"]
