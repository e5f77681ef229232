"""O2/O3: every API endpoint × every demo role × both sectors.

The matrix is built from the app's own URL map, so an endpoint added later is covered without
editing this file: a user of sector 2 gets 404 for every sector-1 record on every path that names
one, lists never return another sector's rows, and no combination answers 5xx.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.base import Base
from models.demo import DEMO_USERS
from models.org import Sector
from tests.conftest import customer_ids

SECTOR2_USERS = [u for u, (_n, sector, _d, _g) in DEMO_USERS.items() if sector == "S2"]
SECTOR1_USERS = [u for u, (_n, sector, _d, _g) in DEMO_USERS.items() if sector == "S1"]
GROUP_USERS = [u for u, (_n, sector, _d, _g) in DEMO_USERS.items() if sector is None]

# path parameter -> table holding the record it names
PARAM_TABLES = {
    "quote_id": "quote", "task_id": "human_task", "instance_id": "process_instance", "customer_id": "customer",
    "contact_id": "contact", "lead_id": "lead", "opportunity_id": "opportunity", "activity_id": "activity",
    "attachment_id": "attachment", "case_id": "conflict_case", "conflict_case_id": "conflict_case",
    "import_id": "import_job", "job_id": "import_job", "move_id": "pool_move", "pool_move_id": "pool_move",
    "flag_id": "flag", "expense_claim_id": "expense_claim", "routing_rule_id": "lead_routing_rule",
    "change_id": "account_change",
    "task_attachment_id": "task_attachment", "delegation_id": "delegation", "notification_id": "notification",
    "execution_order_id": "execution_order", "implementation_order_id": "implementation_order",
    "contract_id": "contract", "draft_id": "process_draft", "definition_id": "process_definition",
}
# Lists a group-level process designer legitimately sees across sectors (drafts and sector versions).
DESIGN_LISTS = {"/api/v1/drafts", "/api/v1/processes", "/api/v1/process-definitions"}


def _api_rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _sector1_id(session, table_name: str) -> int | None:
    table = Base.metadata.tables.get(table_name)
    if table is None:
        return None
    s1 = session.scalar(select(Sector.id).where(Sector.code == "S1"))
    col = table.c.get("sector_id")
    stmt = select(table.c.id).order_by(table.c.id).limit(1)
    if col is not None:
        stmt = stmt.where(col == s1)
    elif table_name in ("human_task", "process_instance"):
        stmt = stmt.where(table.c.sector_id == s1)
    return session.scalar(stmt)


@pytest.fixture
def sector1_records(api, session):
    """A quote (with its instance and task) and whatever else the demo data has in sector 1."""
    cid = customer_ids(api, "rep1")[0]
    r = api.as_("rep1").post("/quotes", json={"customer_id": cid, "list_amount": 100, "quote_amount": 40})
    assert r.status_code == 201
    r = api.as_("rep1").post("/contracts", json={"customer_id": cid, "list_amount": 100, "amount": 60})
    assert r.status_code == 201
    quote_v1 = next(p for p in api.as_("designer1").get("/processes").get_json()["items"] if p["key"] == "quote_approval")
    draft = api.as_("designer1").post("/drafts", json={"base_definition_id": quote_v1["definition_id"]}).get_json()
    assert api.as_("designer1").post("/drafts", json={"base_definition_id": quote_v1["definition_id"]}).status_code == 201
    assert api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={}).status_code == 201  # an S1 version
    session.rollback()
    return {param: _sector1_id(session, table) for param, table in PARAM_TABLES.items()}


def _path(rule, ids) -> str | None:
    path = rule.rule
    for name in re.findall(r"<(?:\w+:)?(\w+)>", path):
        value = ids.get(name)
        if value is None:
            return None
        path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
    return path[len("/api/v1"):]


def test_O2_other_sector_users_get_404_for_every_record_path(app, api, sector1_records):
    """O2: for every API path naming a sector-1 record, sector-2 users learn nothing (404), never 5xx."""
    checked = 0
    for rule, method in _api_rules(app):
        if not rule.arguments:
            continue
        path = _path(rule, sector1_records)
        if path is None:
            continue
        for user in SECTOR2_USERS:
            r = api.as_(user)._call(method.lower(), path, json={})
            assert r.status_code < 500, (user, method, path, r.status_code)
            if method == "GET":
                assert r.status_code == 404, (user, method, path, r.status_code, r.get_data(as_text=True)[:200])
            else:
                assert r.status_code in (404, 422), (user, method, path, r.status_code)
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("user", SECTOR1_USERS + SECTOR2_USERS + GROUP_USERS)
def test_O2_O3_lists_never_show_another_sector_and_never_fail(app, api, session, sector1_records, user):
    """O2/O3: every list endpoint, as every demo role: no 5xx and rows only from the user's sector."""
    from models.org import User

    me = session.scalar(select(User).where(User.username == user))
    group_wide = "group_management" in me.role_codes
    for rule, method in _api_rules(app):
        if method != "GET" or rule.arguments:
            continue
        r = api.as_(user).get(rule.rule[len("/api/v1"):])
        assert r.status_code < 500, (user, rule.rule, r.status_code)
        if r.status_code != 200 or not r.is_json:
            continue
        body = r.get_json()
        items = body.get("items", []) if isinstance(body, dict) else []
        across = group_wide or (rule.rule in DESIGN_LISTS and None in {g.sector_id for g in me.grants
                                                                         if g.role_code == "process_designer"})
        for item in items:
            if isinstance(item, dict) and item.get("sector_id") is not None and not across:
                assert item["sector_id"] == me.sector_id, (user, rule.rule, item)


def test_O3_system_admin_sees_no_business_data(api):
    """O3: the system admin manages settings, not customers: business lists are empty for him."""
    for path in ("/customers", "/quotes"):
        r = api.as_("admin").get(path)
        assert r.status_code == 200 and r.get_json()["items"] == []


def test_O3_group_management_reads_every_sector(api):
    """O3: group management (VP and above) reads all sectors."""
    sectors = {c["sector_id"] for c in api.as_("grouplead").get("/customers?limit=200").get_json()["items"]}
    assert len(sectors) >= 2


# Paths naming a report rather than a record (web/api/reports.py): walked for every report and every demo user.
REPORT_RULES = ("/reports/{name}", "/reports/{name}/export")


@pytest.mark.parametrize("user", SECTOR1_USERS + SECTOR2_USERS + GROUP_USERS)
def test_O2_O3_reports_only_in_your_own_scopes(app, api, session, user):
    """O2/O3 applied to reports: every report path, as every demo role: the other sector's scope is 404, a user
    without any report scope gets 403, the default scope answers (200, or 404 for a report not made for its
    level), never 5xx."""
    from models.reports.tables import REPORTS

    sectors = {s.code: s.id for s in session.scalars(select(Sector))}
    home = DEMO_USERS[user][1]
    others = [code for code in sectors if code != home] if home else []
    assert {rule.rule for rule, _m in _api_rules(app)} >= {"/api/v1" + p.replace("{name}", "<name>")
                                                           for p in REPORT_RULES}
    for name in REPORTS:
        r = api.as_(user).get(f"/reports/{name}")
        assert r.status_code in (200, 403, 404), (user, name, r.status_code, r.get_data(as_text=True)[:200])
        if r.status_code == 403:
            continue  # no report scope at all (admin, finance…): every report path says so
        for path in REPORT_RULES:
            for code in others:
                r = api.as_(user).get(path.format(name=name) + f"?scope=sector:{sectors[code]}")
                assert r.status_code == 404, (user, name, path, code, r.status_code)
    first = next(iter(REPORTS))
    r = api.as_(user).get(f"/reports/{first}/export")
    assert r.status_code in (200, 403, 404), (user, r.status_code)
