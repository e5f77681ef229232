"""Report tables: what every report returns, and the registry the pages, the API and the Excel export read.

A report is a function `(session, scope, month, locale) -> ReportTable`, registered with `@report(name, …)`.
The dashboard page draws its chart, the API returns its columns and rows as JSON, the export writes the same
columns and rows to Excel: one source for all three.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.reports.scope import ReportScope

# column kinds: how a value is shown (CNY amounts, 折 discounts, percentages)
KINDS = ("text", "int", "money", "percent", "decimal", "month", "date", "bool")


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "int"

    def label(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en


@dataclass(frozen=True)
class Chart:
    """How the page draws the table: `kind` bar | line | funnel | pie | bar_line; `x` the category column;
    `series` the value columns (bar_line: the last one is a line on a second axis); `stack` stacks bars."""
    kind: str
    x: str
    series: tuple[str, ...]
    stack: bool = False


@dataclass
class ReportTable:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    chart: Chart | None = None
    note: str | None = None           # how the figures are counted, shown under the table
    snapshot: bool = False            # read from a closed month's snapshot
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the viewer's own ranking place

    def as_dict(self, locale: str) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "note": self.note, "snapshot": self.snapshot,
                "columns": [{"key": c.key, "label": c.label(locale), "kind": c.kind} for c in self.columns],
                "rows": [{c.key: _json(row.get(c.key)) for c in self.columns} for row in self.rows],
                "chart": None if self.chart is None else {"kind": self.chart.kind, "x": self.chart.x,
                                                          "series": list(self.chart.series),
                                                          "stack": self.chart.stack},
                "extra": self.extra}


def _json(value: Any) -> Any:
    from decimal import Decimal
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


REPORT_WORK_MEM = "64MB"
Builder = Callable[[Session, ReportScope, date, str], ReportTable]


@dataclass(frozen=True)
class ReportSpec:
    name: str
    zh: str
    en: str
    build: Builder
    page: str          # which page shows it: dashboard | ranking | usage | logins
    levels: tuple[str, ...] = ("me", "department", "sector", "group")  # scopes it makes sense for

    def title(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en

    def run(self, session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
        """Build the table; on PostgreSQL with enough sort memory for a month's aggregates (the default 4 MB makes
        the group-level hash aggregates spill to disk), for this transaction only."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        return self.build(session, scope, month, locale)


REPORTS: dict[str, ReportSpec] = {}


def report(name: str, zh: str, en: str, *, page: str = "dashboard",
           levels: tuple[str, ...] = ("me", "department", "sector", "group")):
    """Register a report under `name` (also its URL segment: `/api/v1/reports/<name>`)."""
    def wrap(build: Builder) -> Builder:
        REPORTS[name] = ReportSpec(name, zh, en, build, page, levels)
        return build
    return wrap
