"""API: reports (A1–A3, P1): the catalogue, one report's table as JSON, and the same table as Excel.

The same registry, scopes and Excel writer as the pages (web/reports.py): 403 without any scope, 404 for an unknown
report, a scope that is not yours or a report not made for its level, 422 for a malformed scope or month.
"""
from __future__ import annotations

import re

from marshmallow import Schema, fields

from models.reports import scope as rs
from models.reports.tables import REPORTS
from web.api import ApiError, api_bp, current_api_user, token_required
from web.api.openapi import ERR, op, register
from web.db import db
from web.reports import (
    MONTH_PATTERN,
    NAME_PATTERN,
    SCOPE_PATTERN,
    XLSX_MIMETYPE,
    month_key,
    parse_request,
    send_xlsx,
    spec_for,
    this_month,
)


def _locale() -> str:
    user = current_api_user()
    return user.locale if getattr(user, "locale", None) in ("zh", "en") else "zh"


def _request(name: str | None = None):
    from flask import request

    user, locale = current_api_user(), _locale()
    try:
        if name is not None and name not in REPORTS:
            raise rs.ReportError(404, f"no report named {name!r}", "name")
        if name is None:  # the catalogue takes no query: the default scope only proves there is one
            req = parse_request(db(), user, None, None, locale)
        else:
            req = parse_request(db(), user, request.args.get("scope"), request.args.get("month"), locale)
            for field, pattern in (("scope", SCOPE_PATTERN), ("month", MONTH_PATTERN)):
                if field in request.args and not re.match(pattern, request.args[field]):  # given, even empty
                    raise rs.ReportError(422, f"{field} does not match {pattern}", field)
        spec = spec_for(name, req.scope) if name is not None else None
    except rs.ReportError as exc:  # its status, the field named in `errors`
        raise ApiError(exc.status, exc.message, {exc.field: [exc.message]} if exc.field else None) from exc
    return req, spec, locale


@api_bp.get("/reports")
@token_required
def list_reports():
    req, _spec, locale = _request()
    levels = {s.level for s in req.scopes}
    return {"month": month_key(this_month()),
            "scopes": [{"key": s.key, "level": s.level, "label": s.label} for s in req.scopes],
            "reports": [{"name": s.name, "title": s.title(locale), "page": s.page, "levels": list(s.levels)}
                        for s in REPORTS.values() if levels & set(s.levels)]}


@api_bp.get("/reports/<name>")
@token_required
def get_report(name: str):
    req, spec, locale = _request(name)
    table = spec.run(db(), req.scope, req.month, locale)
    return {"report": table.as_dict(locale), "scope": {"key": req.scope.key, "level": req.scope.level,
                                                       "label": req.scope.label},
            "month": month_key(req.month)}


@api_bp.get("/reports/<name>/export")
@token_required
def export_report(name: str):
    """The report as .xlsx, audited (report.export). Anyone who may see a report may export it: the tables are
    aggregates of the viewer's own scope, not customer lists (O6 is about customer data)."""
    req, spec, locale = _request(name)
    return send_xlsx(current_api_user(), spec, req, locale)


# ---- OpenAPI ---------------------------------------------------------------------------------------------------
class ReportScopeOut(Schema):
    key = fields.String(metadata={"example": "department:1"})
    level = fields.String(metadata={"enum": list(rs.LEVELS)})
    label = fields.String()


class ReportInfo(Schema):
    name = fields.String()
    title = fields.String()
    page = fields.String(metadata={"enum": ["dashboard", "ranking", "usage", "logins"]})
    levels = fields.List(fields.String())


class ReportCatalog(Schema):
    month = fields.String(metadata={"description": "this month (Beijing time), YYYY-MM"})
    scopes = fields.List(fields.Nested(ReportScopeOut), metadata={"description": "widest first; the first is "
                                                                                 "the default"})
    reports = fields.List(fields.Nested(ReportInfo))


class ReportColumn(Schema):
    key = fields.String()
    label = fields.String()
    kind = fields.String(metadata={"enum": ["text", "int", "money", "percent", "decimal", "month", "date", "bool"]})


class ReportChart(Schema):
    kind = fields.String(metadata={"enum": ["bar", "line", "funnel", "pie", "bar_line", "stack"]})
    x = fields.String()
    series = fields.List(fields.String())
    stack = fields.Boolean()


class ReportTableOut(Schema):
    name = fields.String()
    title = fields.String()
    note = fields.String(allow_none=True)
    snapshot = fields.Boolean(metadata={"description": "read from a closed month's snapshot"})
    columns = fields.List(fields.Nested(ReportColumn))
    rows = fields.List(fields.Dict(), metadata={"description": "column key -> value; money as a decimal string "
                                                              "(CNY), percent 0–100, dates ISO"})
    chart = fields.Nested(ReportChart, allow_none=True)
    extra = fields.Dict(metadata={"description": "e.g. the viewer's own ranking place (me)"})


class ReportOut(Schema):
    report = fields.Nested(ReportTableOut)
    scope = fields.Nested(ReportScopeOut)
    month = fields.String()


def _name_param() -> list[dict]:
    schema: dict = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 60}
    if REPORTS:
        schema["enum"] = sorted(REPORTS)
    return [{"in": "path", "name": "name", "required": True, "schema": schema}]


QUERY = [
    {"in": "query", "name": "scope", "description": "me, group, department:<id> or sector:<id>; default the widest "
     "of yours", "schema": {"type": "string", "pattern": SCOPE_PATTERN, "maxLength": 22}},
    {"in": "query", "name": "month", "description": "YYYY-MM (Beijing time); default this month",
     "schema": {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-11"}},
]


def _errors(operation: dict, descriptions: dict[int, str]) -> dict:
    for code, text in descriptions.items():
        operation["responses"][str(code)] = {"description": text, **ERR}
    return operation


_CATALOG_ERRORS = {403: "you have no report scope (reports are for sales staff and their managers)"}
_REPORT_ERRORS = {403: "you have no report scope (reports are for sales staff and their managers)",
                  404: "no such report, a scope that is not yours, or a report not made for the scope's level",
                  422: "malformed scope or month: errors name the field"}

_export = _errors(op("One report as an Excel workbook (title row, header row, the rows; audited)", (200, "ReportOut"),
                     params=QUERY, errors=(401,)), _REPORT_ERRORS)
_export["responses"]["200"] = {"description": "an .xlsx workbook", "content": {
    XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}}

register({
    "/reports": {"get": _errors(op("Your report scopes and the reports you may open (A1–A3, P1)",
                                   (200, "ReportCatalog"), errors=(401,)), _CATALOG_ERRORS)},
    "/reports/{name}": {
        "parameters": _name_param(),
        "get": _errors(op("One report for a scope and month: columns, rows, chart, note", (200, "ReportOut"),
                          params=QUERY, errors=(401,)), _REPORT_ERRORS)},
    "/reports/{name}/export": {"parameters": _name_param(), "get": _export},
}, {"ReportScopeOut": ReportScopeOut, "ReportInfo": ReportInfo, "ReportCatalog": ReportCatalog,
    "ReportColumn": ReportColumn, "ReportChart": ReportChart, "ReportTableOut": ReportTableOut,
    "ReportOut": ReportOut})
