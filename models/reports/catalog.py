"""Every report module, imported so that `models.reports.tables.REPORTS` is complete wherever it is read (the
pages, the API, the export, the bench). Not imported by `models/__init__` to keep the record tables free of
import cycles."""
from __future__ import annotations

from models.reports import dashboard, ranking, usage  # noqa: F401  (each registers its reports)
from models.reports.tables import REPORTS

__all__ = ["REPORTS"]
