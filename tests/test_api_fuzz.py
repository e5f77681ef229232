"""Schemathesis over every operation of /api/v1/openapi.json: no 5xx, and responses conform to the document.

Every operation is fuzzed as `rep1` (a sales rep) with a valid bearer token, and once more as
`admin` (the only role that may deploy). All built-in schemathesis checks run: no server error,
status codes, content types and bodies as documented, schema-violating requests rejected,
schema-valid requests accepted, and authentication not ignored.

The app is module-scoped: fuzzing a freshly wiped database per example would take minutes. It
is built like conftest's `app` fixture (migrated database wiped, roles, shipped diagrams, demo
data). The schema is loaded from the same `openapi_document()` the app serves at
/api/v1/openapi.json (a test below checks they are the same document), because schemathesis's
eager `parametrize` needs it at collection time.
"""
from __future__ import annotations

import json
import re
from collections import Counter

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.definitions import OPENAPI_30

from models import clock
from tests.conftest import fresh_app
from web.api.openapi import openapi_document

MAX_EXAMPLES = 30
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# The contract endpoints: method and path under /api/v1.
CONTRACT = [
    ("post", "/auth/token"), ("get", "/customers"), ("post", "/quotes"), ("get", "/quotes/{quote_id}"),
    ("get", "/process-definitions"), ("post", "/process-definitions"),
    ("get", "/process-instances/{instance_id}"), ("get", "/tasks"),
    ("post", "/tasks/{task_id}/claim"), ("post", "/tasks/{task_id}/complete"),
]

# A schema-valid request may still break a business rule the schema cannot express: a quote
# above its list amount or for a customer you cannot see, a form without a decision, a file
# that is not an executable diagram. Those answer 422, as the document says.
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
# Operations with rules the document cannot express (a credit code's check character, a quote above its
# list amount, a diagram's content): 422 is an acceptable answer to data the schema allows.
BUSINESS_RULE_422 = [
    ("POST", "/quotes"), ("POST", "/tasks/{task_id}/complete"), ("POST", "/process-definitions"),
    ("POST", "/customers"), ("PATCH", "/customers/{customer_id}"), ("POST", "/customers/{customer_id}/contacts"),
    ("PATCH", "/contacts/{contact_id}"), ("POST", "/customers/{customer_id}/shares"),
    ("PUT", "/customers/{customer_id}/company-details"), ("POST", "/conflict-cases"),
    ("PATCH", "/leads/{lead_id}"), ("POST", "/leads/{lead_id}/assign"), ("POST", "/opportunities"),
    ("PATCH", "/opportunities/{opportunity_id}"), ("POST", "/opportunities/{opportunity_id}/stage"),
    ("POST", "/opportunities/{opportunity_id}/attachments"), ("POST", "/activities"), ("GET", "/pool"),
    ("POST", "/imports"), ("POST", "/expense-claims"), ("POST", "/opportunities/{opportunity_id}/close"),
    ("POST", "/opportunities/{opportunity_id}/reopen"),
    ("POST", "/account-changes"),
    ("POST", "/lead-routing/rules"), ("PATCH", "/lead-routing/rules/{routing_rule_id}"),
    ("POST", "/lead-routing/priorities"), ("POST", "/leads/{lead_id}/routing/complete"),
    ("POST", "/leads/{lead_id}/routing/route"),
    ("POST", "/tasks/{task_id}/transfer"), ("POST", "/tasks/{task_id}/send-back"),
    ("POST", "/process-instances/{instance_id}/copies"), ("POST", "/tasks/{task_id}/attachments"),
    ("POST", "/delegations"),
    ("POST", "/execution-orders"),
    ("POST", "/contracts"), ("PATCH", "/contracts/{contract_id}"), ("POST", "/contracts/{contract_id}/sign"),
    ("POST", "/contracts/{contract_id}/invoices"), ("POST", "/contracts/{contract_id}/collections"),
    ("GET", "/receivables"),
    ("POST", "/drafts"), ("PUT", "/drafts/{draft_id}"), ("POST", "/drafts/{draft_id}/publish"),
    ("POST", "/drafts/import"), ("POST", "/processes/{key}/rollback"), ("GET", "/processes/compare"),
]
CONFIG = schemathesis.Config.from_dict({
    "operations": [
        {"include-method": method, "include-path": path,
         "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "422"]}}}
        for method, path in BUSINESS_RULE_422
    ],
})

DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
# The admin (a group-level process designer) run covers the deploy and design endpoints. (A separate document
# rather than `schema.include()`: schemathesis 4.32 drops `include()` filters when the config has an `operations`
# section.)
DESIGN_PREFIXES = ("/process-definitions", "/drafts", "/design/", "/processes")
admin_schema = schemathesis.openapi.from_dict(
    {**DOCUMENT, "paths": {p: v for p, v in DOCUMENT["paths"].items() if p.startswith(DESIGN_PREFIXES)}},
    config=CONFIG)

TOKENS: dict[str, str] = {}
STATUSES: Counter[tuple[str, str, int]] = Counter()  # (user, operation, status) seen, printed at the end


@pytest.fixture(scope="module")
def fuzz_app(migrated):
    # A high failure limit: fuzzed logins must not lock out the users whose tokens the run uses.
    app = fresh_app(migrated, LOGIN_MAX_FAILURES=100_000)
    engine = app.extensions["db_engine"]
    client = app.test_client()
    for username in ("rep1", "admin"):
        r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo12345"})
        assert r.status_code == 200, r.get_json()
        TOKENS[username] = r.get_json()["token"]
    yield app
    print("\nschemathesis responses (user, operation, status: count):")
    for (user, label, status), n in sorted(STATUSES.items()):
        print(f"  {user:6} {label:40} {status}: {n}")
    TOKENS.clear()
    clock.reset()
    engine.dispose()


class _Bearer:
    """Bearer auth for one demo user. Coverage cases are built at collection, before any token exists,
    so the header carries a placeholder that `_call` swaps for the user's real token."""

    username = ""

    def get(self, case, context):
        return self.username

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {PLACEHOLDER}{data}"


class Rep1Token(_Bearer):
    username = "rep1"


class AdminToken(_Bearer):
    username = "admin"


PLACEHOLDER = "token-of-"


def _call(case, app) -> None:
    auth = (case.headers or {}).get("Authorization", "")
    user = "-"
    if auth.startswith(f"Bearer {PLACEHOLDER}"):
        user = auth.removeprefix(f"Bearer {PLACEHOLDER}")
        case.headers["Authorization"] = f"Bearer {TOKENS[user]}"
    case.operation.schema.app = app  # checks that re-send (ignored_auth) go through the schema's transport
    response = case.call_and_validate(app=app)
    STATUSES[(user, case.operation.label, response.status_code)] += 1
    assert response.status_code < 500, (response.status_code, response.text[:500])


@schema.auth.apply(Rep1Token, refresh_interval=None)
@schema.parametrize()
@FUZZ
def test_every_operation_as_rep1(case, fuzz_app):
    """A sales rep: no 5xx anywhere, every response as documented."""
    _call(case, fuzz_app)


@admin_schema.auth.apply(AdminToken, refresh_interval=None)
@admin_schema.parametrize()
@FUZZ
def test_process_definitions_as_admin(case, fuzz_app):
    """The system admin may deploy: random uploads are refused with 422 naming the element, never a 5xx."""
    _call(case, fuzz_app)


def test_document_is_valid_openapi_and_lists_the_contract(fuzz_app):
    served = fuzz_app.test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200
    doc = served.get_json()
    assert doc == json.loads(json.dumps(openapi_document())), "the app serves openapi_document()"
    assert doc["openapi"].startswith("3.0.")
    # The official OpenAPI 3.0 meta-schema (as shipped with schemathesis).
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
              for e in jsonschema_rs.validator_for(OPENAPI_30).iter_errors(doc)]
    assert not errors, "not a valid OpenAPI 3.0 document:\n" + "\n".join(errors[:20])
    missing = [(m, p) for m, p in CONTRACT if m not in doc["paths"].get(p, {})]
    assert not missing, f"contract endpoints missing from the document: {missing}"
    ops = [op for item in doc["paths"].values() for m, op in item.items() if m != "parameters"]
    assert all({"200", "201", "204"} & set(op["responses"]) for op in ops)
    assert doc["paths"]["/process-definitions"]["post"]["responses"]["422"]


# Found by the fuzzer or by probing around what it found; each was a 500 or a response outside the document.
REGRESSIONS = [
    ("post", "/auth/token", {"username": "rep1\x00", "password": "x"}, 422),  # NUL: DataError on PostgreSQL
    ("post", "/auth/token", {"username": "rep1", "password": "\ud800"}, 422),  # lone surrogate: hasher crashed
    ("post", "/quotes", {"customer_id": 1, "list_amount": 10, "quote_amount": 1, "title": "a\x00"}, 422),
    ("post", "/quotes", {"customer_id": 1, "list_amount": 10, "quote_amount": 1, "product": "\ud800"}, 422),
    ("post", "/tasks/1/complete", {"data": {"k" * 101: 1}}, 422),  # nested field errors in ErrorResponse
    ("post", "/tasks/1/complete", {"data": {"decision": "approve"}, "comment": "a\x00"}, 422),
    # year 1 with a positive offset is before year 1 in UTC: OverflowError converting it
    ("post", "/activities", {"kind": "call", "occurred_at": "0001-01-01T00:00:00+00:01", "subject": "0"}, 422),
]


@pytest.mark.parametrize("method, path, body, status", REGRESSIONS,
                         ids=["token-nul", "token-surrogate", "quote-nul", "quote-surrogate", "nested-error",
                              "comment-nul", "activity-year-1-offset"])
def test_inputs_that_used_to_fail(fuzz_app, method, path, body, status):
    client = fuzz_app.test_client()
    r = getattr(client, method)(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {TOKENS['rep1']}"})
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    template = re.sub(r"/\d+", "/{task_id}", path)
    schema[template][method.upper()].validate_response(r)


def test_instance_with_open_tasks_conforms(fuzz_app):
    """GET /process-instances/{id} dumped its open tasks twice (a 500 on every running instance)."""
    client = fuzz_app.test_client()
    headers = {"Authorization": f"Bearer {TOKENS['rep1']}"}
    customer = next(c for c in client.get("/api/v1/customers", headers=headers).get_json()["items"]
                    if c["status"] == "approved")
    quote = client.post("/api/v1/quotes", headers=headers,
                        json={"customer_id": customer["id"], "list_amount": 10000, "quote_amount": 9000})
    assert quote.status_code == 201, quote.get_json()
    r = client.get(f"/api/v1/process-instances/{quote.get_json()['process_instance_id']}", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    body = r.get_json()
    assert body["open_tasks"] and body["open_tasks"][0]["created_at"].endswith("+00:00")
    schema["/process-instances/{instance_id}"]["GET"].validate_response(r)
