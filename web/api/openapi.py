"""The OpenAPI 3 document of /api/v1, built from the marshmallow schemas."""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from web.api import schemas as s

ID = {"in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}
ERR = {"content": {"application/json": {"schema": "ErrorResponse"}}}
AUTH = [{"bearer": []}]


def _json(schema: str) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: tuple[int, str], *, body: str | None = None, params: list | None = None,
        errors: tuple[int, ...] = (401, 404), auth: bool = True, extra: dict | None = None) -> dict:
    op: dict = {"summary": summary, "responses": {str(ok[0]): {"description": "OK", **_json(ok[1])}}}
    for code in errors:
        op["responses"][str(code)] = {"description": {401: "bearer token missing or invalid", 403: "not allowed",
                                                      404: "not found or not visible to you",
                                                      409: "the task is no longer open",
                                                      422: "invalid input: errors name the field",
                                                      429: "too many failed logins"}[code], **ERR}
    if body:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    if auth:
        op["security"] = AUTH
    op.update(extra or {})
    return op


PAGE = [{"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
        {"in": "query", "name": "offset", "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000}}]


# Areas register their paths and schemas here when their route module is imported.
EXTRA_PATHS: dict[str, dict] = {}
EXTRA_SCHEMAS: dict[str, type] = {}


def register(paths: dict[str, dict], schemas: dict[str, type]) -> None:
    """Add an area's operations (built with `op`/`list_op`, schemas by name) to the document."""
    EXTRA_PATHS.update(paths)
    EXTRA_SCHEMAS.update(schemas)


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    spec = APISpec(title="BPMN CRM API", version="1.0.0", openapi_version="3.0.3", plugins=[MarshmallowPlugin()],
                   info={"description": "Customers, quotes, processes and the approval inbox."},
                   servers=[{"url": "/api/v1"}])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name in ("TokenRequest", "TokenResponse", "ErrorResponse", "DiagramErrorResponse", "CustomerOut", "QuoteIn",
                 "QuoteOut", "DefinitionOut", "DeployOut", "TaskOut", "TaskCompleteIn", "InstanceOut"):
        spec.components.schema(name, schema=getattr(s, name))
    paths = {
        "/auth/token": {"post": _op("Exchange username and password for a bearer token", (200, "TokenResponse"),
                                    body="TokenRequest", errors=(401, 422, 429), auth=False)},
        "/quotes": {
            "post": _op("Create a quote and submit it for approval (Q1)", (201, "QuoteOut"), body="QuoteIn",
                        errors=(401, 422)),
            "get": _list_op("Quotes visible to you", "QuoteOut", PAGE),
        },
        "/quotes/{quote_id}": {"parameters": [{**ID, "name": "quote_id"}],
                               "get": _op("A quote with its approval history", (200, "QuoteOut"))},
        "/process-definitions": {
            "get": _list_op("Deployed process definitions, all versions", "DefinitionOut", []),
            "post": _op("Deploy a BPMN file as the next version (process designers; a sector designer deploys for his sector)", (201, "DeployOut"),
                        errors=(401, 403), extra={"requestBody": {"required": True, "content": {
                            "multipart/form-data": {"schema": {
                                "type": "object", "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}}}}}}}),
        },
        "/process-instances/{instance_id}": {"parameters": [{**ID, "name": "instance_id"}],
                                             "get": _op("Status, open tasks and history of an instance",
                                                        (200, "InstanceOut"))},
        "/tasks": {"get": _list_op("Your tasks: mine (you can act now), claimable (unclaimed in your roles), done",
                                   "TaskOut", [{"in": "query", "name": "scope", "schema": {
                                       "type": "string", "enum": ["mine", "claimable", "done"]}}, *PAGE])},
        "/tasks/{task_id}": {"parameters": [{**ID, "name": "task_id"}], "get": _op("One task", (200, "TaskOut"))},
        "/tasks/{task_id}/claim": {"parameters": [{**ID, "name": "task_id"}],
                                   "post": _op("Claim a role task", (200, "TaskOut"), errors=(401, 403, 404, 409))},
        "/tasks/{task_id}/release": {"parameters": [{**ID, "name": "task_id"}],
                                     "post": _op("Release a claimed task", (200, "TaskOut"),
                                                 errors=(401, 403, 404, 409))},
        "/tasks/{task_id}/complete": {"parameters": [{**ID, "name": "task_id"}],
                                      "post": _op("Complete a task: data.decision approve|reject, optional comment",
                                                  (200, "TaskOut"), body="TaskCompleteIn",
                                                  errors=(401, 403, 404, 409, 422))},
    }
    for name, schema in EXTRA_SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    paths.update(EXTRA_PATHS)
    paths["/process-definitions"]["post"]["responses"]["422"] = {
        "description": "the diagram was refused; each error names the element", **_json("DiagramErrorResponse")}
    doc = spec.to_dict()
    doc["paths"] = _resolve_refs(paths)
    return _json_numbers(doc)


def _list_op(summary: str, item: str, params: list) -> dict:
    op = _op(summary, (200, item), params=params or None, errors=(401, 422))
    op["responses"]["200"] = {"description": "OK", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}}}}}}
    return op


def _json_numbers(node):
    """Decimal bounds (e.g. Amount's Range) become JSON numbers; Flask would serve them as strings."""
    if isinstance(node, dict):
        return {k: _json_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_numbers(v) for v in node]
    if isinstance(node, Decimal):
        return int(node) if node == node.to_integral_value() else float(node)
    return node


def _resolve_refs(node):
    """Turn bare schema names (as apispec accepts them) into $refs for paths added after to_dict()."""
    if isinstance(node, dict):
        return {k: ({"$ref": f"#/components/schemas/{v}"} if k == "schema" and isinstance(v, str) else _resolve_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_refs(v) for v in node]
    return node


# Public names for the areas' route modules.
op = _op
list_op = _list_op
json_content = _json
