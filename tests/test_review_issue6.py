"""Review of issue 6 (reports, ranking, usage and login monitoring): hostile input, the walls between scopes,
figures at month boundaries, Excel and page escaping, job re-runs. Real SQLite and PostgreSQL (TEST_DB).

Each test carries the rule it protects (A1–A3, P1, P2, U1, U2, O2–O6)."""
from __future__ import annotations

import json
import re
import time
from datetime import date, datetime

import pytest
from sqlalchemy import select

from models.org import Department, Sector, User
from models.reports import ranking as rk
from tests.test_pages import login

MARCH = date(2030, 3, 1)
NOW = datetime(2030, 4, 10, 2, 0)  # 2030-04-10 10:00 Beijing: March is closed
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGES = ("/reports", "/reports/ranking", "/reports/usage", "/reports/logins")


def ids(session) -> dict[str, int]:
    return {u.username: u.id for u in session.scalars(select(User))}


def dept_id(session, code: str) -> int:
    return session.scalar(select(Department.id).where(Department.code == code))


def sector_id(session, code: str) -> int:
    return session.scalar(select(Sector.id).where(Sector.code == code))


def weights(session, sector: int) -> dict:
    return rk.ranking_settings(session, sector)["weights"]


# ---- P1 ranking settings: hostile values ------------------------------------------------------------------------
HUGE = 10 ** 400  # a JSON integer Python parses exactly; float() of it overflows


HOSTILE_BODIES = [
    ({"weights": {"new_customers": HUGE}}, "weights.new_customers"),
    ({"weights": {"new_customers": -HUGE}}, "weights.new_customers"),
    ({"weights": {"new_customers": 1e308 * 10}}, "weights.new_customers"),   # Infinity
    ({"weights": {"new_customers": float("nan")}}, "weights.new_customers"),
    ({"weights": {"new_customers": "5"}}, "weights.new_customers"),
    ({"weights": {"new_customers": True}}, "weights.new_customers"),
    ({"weights": {"new_customers": {"a": 1}}}, "weights.new_customers"),
    ({"weights": {"new_customers": [1]}}, "weights.new_customers"),
    ({"weights": {"bogus": 1}}, "weights.bogus"),
    ({"weights": [1, 2]}, "weights"),
    ({"weights": {k: 0 for k in rk.WEIGHTED}}, "weights"),
    ({"top_n": HUGE}, "top_n"),
    ({"top_n": 2.5}, "top_n"),
    ({"top_n": 3.0}, "top_n"),
    ({"top_n": "3"}, "top_n"),
    ({"top_n": False}, "top_n"),
    ({"top_n": None}, "top_n"),
    ({"top_n": {"$gt": 1}}, "top_n"),
    ({"bottom_months": 0}, "bottom_months"),
    ({"bottom_months": 13}, "bottom_months"),
    ({"min_new_customers": -1}, "min_new_customers"),
    ({"nope": 1}, "nope"),
    ([1, 2], "_body"),
    ("text", "_body"),

]


def test_P1_ranking_settings_api_refuses_hostile_values_with_422_naming_the_field(api, session):
    """P1 settings API: floats, NaN, Infinity, huge integers, strings, booleans, objects, unknown keys → 422 naming
    the field, never a 500, and nothing is written (all or nothing)."""
    before = rk.ranking_settings(session, sector_id(session, "S1"))
    for body, field in HOSTILE_BODIES:
        raw = json.dumps(body, allow_nan=True)  # NaN / Infinity as Python's json writes them
        r = api.as_("salesmgmt1").put("/reports/ranking/settings", data=raw,
                                      headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.get_data(as_text=True)[:300])
        assert field in r.get_json()["errors"], body
    session.rollback()
    assert rk.ranking_settings(session, sector_id(session, "S1")) == before


def test_P1_ranking_settings_api_mixed_valid_and_invalid_writes_nothing(api, session):
    """P1: a valid field next to an invalid one: 422 and the valid one is not written either."""
    before = rk.ranking_settings(session, sector_id(session, "S1"))
    r = api.as_("salesmgmt1").put("/reports/ranking/settings",
                                  json={"top_n": 5, "weights": {"new_customers": HUGE}})
    assert r.status_code == 422
    session.rollback()
    assert rk.ranking_settings(session, sector_id(session, "S1")) == before


def _form(values: dict) -> dict:
    cfg = {k: str(v) for k, v in {"min_new_customers": 20, "min_new_opportunities": 5, "top_n": 3, "agent_top_n": 10,
                                  "bottom_n": 3, "agent_bottom_n": 10, "bottom_months": 3, "presales_n": 5,
                                  "agent_presales_n": 10}.items()}
    cfg.update({f"weights.{k}": "10" for k in rk.WEIGHTED})
    cfg.update(values)
    return cfg


def test_P1_ranking_settings_form_refuses_huge_or_odd_numbers_quickly(client, session):
    """P1 settings page: a weight typed as 1e400 or 1e99999999 is refused (422 naming it) at once — it was a
    500 (float overflow) or kept the worker busy for minutes building a 10**99999999 integer."""
    login(client, "salesmgmt1")
    before = weights(session, sector_id(session, "S1"))
    for text in ("1e400", "1e99999999", "-1e99999999", "9" * 400, "NaN", "Infinity", "-0.5", "１e400", "0x10",
                 "\x00"):
        started = time.monotonic()
        r = client.post("/reports/ranking/settings", data=_form({"weights.new_customers": text}))
        assert time.monotonic() - started < 5, text
        assert r.status_code == 422, (text, r.status_code)
        assert 'id="weights-new_customers-error"' in r.get_data(as_text=True)
    session.rollback()
    assert weights(session, sector_id(session, "S1")) == before


def test_P1_ranking_settings_form_accepts_decimal_weights(client, session):
    """P1: a decimal weight on the form is kept as typed (2.5), an integral one as a whole number."""
    login(client, "salesmgmt1")
    r = client.post("/reports/ranking/settings", data=_form({"weights.new_customers": "2.5",
                                                             "weights.phone_visits": "1e1"}))
    assert r.status_code == 302
    session.rollback()
    got = weights(session, sector_id(session, "S1"))
    assert got["new_customers"] == 2.5 and got["phone_visits"] == 10


def test_P1_ranking_settings_form_needs_the_csrf_token(migrated):
    """P1 / O6: with CSRF on (as in production) the settings form without its token is refused, nothing saved."""
    from tests.conftest import fresh_app

    app = fresh_app(migrated, WTF_CSRF_ENABLED=True)
    try:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = client.post("/login", data={"username": "salesmgmt1", "password": "demo12345", "csrf_token": token})
        assert r.status_code == 302
        r = client.post("/reports/ranking/settings", data=_form({"top_n": "7"}))
        assert r.status_code == 400
        session = app.extensions["session_factory"]()
        assert rk.ranking_settings(session, sector_id(session, "S1"))["top_n"] == 3
        html = client.get("/reports/ranking/settings").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        r = client.post("/reports/ranking/settings", data=_form({"top_n": "7", "csrf_token": token}))
        assert r.status_code == 302
        session.rollback()
        assert rk.ranking_settings(session, sector_id(session, "S1"))["top_n"] == 7
        session.close()
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("username", ["rep1", "mgr1", "sectorhead1", "mgr3", "admin", "grouplead"])
def test_P1_ranking_settings_only_for_sales_management_and_sector_admin(client, api, username):
    """P1: everybody else gets 403 on the page, the form and the API."""
    login(client, username)
    assert client.get("/reports/ranking/settings").status_code == 403
    assert client.post("/reports/ranking/settings", data=_form({})).status_code == 403
    assert api.as_(username).put("/reports/ranking/settings", json={"top_n": 1}).status_code == 403
