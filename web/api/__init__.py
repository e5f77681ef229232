"""JSON API under /api/v1: bearer tokens, marshmallow schemas, errors as JSON naming the field."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from models.auth import user_for_token
from models.errors import DomainError
from web.db import db

api_bp = Blueprint("api", __name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict | list | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def error(status: int, message: str, errors: dict | list | None = None):
    body = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return body, status


@api_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error(exc.status, exc.message, exc.errors)


@api_bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return error(422, "invalid input", messages)


@api_bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """Every refusal of an operation (engine, customers, pool, sales…): its status and body."""
    return exc.body(), exc.status


@api_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error(exc.code or 500, exc.description or exc.name)


def current_api_user():
    return g.api_user


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(db(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            return error(401, "missing, invalid or expired bearer token") + ({"WWW-Authenticate": "Bearer"},)
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def json_body(schema: Schema) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", {"_body": ["expected a JSON object"]})
    return schema.load(body)


def query_args(schema: Schema) -> dict:
    return schema.load(request.args.to_dict())


from web import ranking_settings  # noqa: F401  (its /api/v1/reports/ranking/settings paths join the document)
from web.api import (  # noqa: F401  (register the routes)
    accounts,
    closures,
    contracts,
    customers,
    data_io,
    design,
    expenses,
    lead_routing,
    migration,
    orders,
    pool,
    reports,
    routes,
    sales,
    tasks,
)
