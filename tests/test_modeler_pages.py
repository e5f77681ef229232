"""The modeler pages (/modeler/…, /dmn/…) and their session JSON endpoints: who may open them, the assets,
and the errors (every refusal is JSON naming the field or the element; never a 500)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine import design
from models.demo import DEMO_PASSWORD
from models.org import User
from models.process import ProcessDefinition, ProcessDraft

QUOTE_KEY = "quote_approval"


def login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302, r.data[:500]


def quote_definition_id(session) -> int:
    return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == QUOTE_KEY)
                          .order_by(ProcessDefinition.version.desc()))


def make_draft(app, username: str, definition_id: int | None = None, xml: bytes | None = None) -> int:
    """A draft created by `username` (in his design scope), from a version or from XML."""
    factory = app.extensions["session_factory"]
    with factory() as session:
        user = session.scalar(select(User).where(User.username == username))
        draft = design.create_draft(session, user, xml, filename="x.bpmn" if xml else "",
                                    base_definition_id=definition_id)
        session.commit()
        return draft.id


@pytest.fixture
def quote_draft(app, session) -> int:
    return make_draft(app, "designer1", quote_definition_id(session))


def test_pages_are_for_process_designers_only(app, client, quote_draft, session):
    """rep1 (no designer role) gets 403 on every page; designer1 (S1) opens his sector's draft."""
    login(client, "rep1")
    for path in (f"/modeler/drafts/{quote_draft}", "/modeler", "/modeler/new",
                 f"/modeler/open/{quote_definition_id(session)}", f"/dmn/drafts/{quote_draft}"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/modeler/open/{quote_definition_id(session)}").status_code == 403
    assert client.get("/modeler/api/catalog").status_code == 403
    assert client.get(f"/modeler/api/drafts/{quote_draft}").get_json()["message"]


def test_a_draft_of_another_sector_is_not_found(app, client, quote_draft):
    """designer3 designs S2: designer1's S1 draft does not exist for him (404), page and JSON alike."""
    login(client, "designer3")
    assert client.get(f"/modeler/drafts/{quote_draft}").status_code == 404
    r = client.get(f"/modeler/api/drafts/{quote_draft}")
    assert r.status_code == 404 and r.get_json()["message"]
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": "<x/>", "lock_version": 1})
    assert r.status_code == 404
    assert client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={}).status_code == 404


def test_designer_opens_his_draft_with_the_modeler_and_the_catalog(app, client, quote_draft):
    login(client, "designer1")
    r = client.get(f"/modeler/drafts/{quote_draft}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "/vendor/bpmn-modeler.js" in html and "modeler/panel.js" in html
    assert 'name="csrf-token"' in html
    assert "保存草稿" in html and "校验" in html and "发布" in html
    data = re.search(r'<script type="application/json" id="modeler-data">(.*?)</script>', html, re.DOTALL).group(1)
    assert "</" not in data  # the JSON cannot close the script element
    catalog = client.get("/modeler/api/catalog").get_json()
    assert {"dept_manager", "president_assistant"} <= {r["code"] for r in catalog["roles"]}
    assert "crm.set_quote_status" in {c["name"] for c in catalog["connectors"]}
    assert "custom" in catalog["forms"] and "approval" in catalog["forms"]
    assert catalog["field_types"] == ["text", "textarea", "number", "date", "choice", "boolean"]
    body = client.get(f"/modeler/api/drafts/{quote_draft}").get_json()
    assert body["key"] == QUOTE_KEY and "f_mgr_escalate" in body["xml"]
    # the English page
    assert "Save draft" in client.get(f"/modeler/drafts/{quote_draft}?lang=en").get_data(as_text=True)


def test_modeler_assets_are_served(client):
    for name in ("bpmn-modeler.js", "dmn-modeler.js", "dmn-js-decision-table.css", "dmn-font.css", "bpmn-js.css"):
        r = client.get(f"/vendor/{name}")
        assert r.status_code == 200, name
        r.close()
    assert client.get("/vendor/package.json").status_code == 404
    for name in ("modeler/common.js", "modeler/panel.js", "modeler/spiff-moddle.js", "modeler/bpmn-page.js",
                 "modeler/dmn-page.js", "modeler/modeler.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        r.close()


def test_open_a_version_creates_a_draft_and_redirects_to_it(app, client, session):
    """GET /modeler/open/<id> asks; the POST creates the draft (in the designer's sector) and redirects."""
    definition_id = quote_definition_id(session)
    login(client, "designer1")
    page = client.get(f"/modeler/open/{definition_id}")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    r = client.post(f"/modeler/open/{definition_id}")
    assert r.status_code == 302
    draft_id = int(re.search(r"/modeler/drafts/(\d+)$", r.headers["Location"]).group(1))
    session.rollback()  # a fresh snapshot: the draft was written by the request
    draft = session.get(ProcessDraft, draft_id)
    assert draft.base_definition_id == definition_id and draft.key == QUOTE_KEY
    assert draft.sector_id == session.scalar(select(User.sector_id).where(User.username == "designer1"))
    assert client.post("/modeler/open/999999").status_code == 404
    # the draft now shows on the open page and in the drafts list
    assert f"/modeler/drafts/{draft_id}" in client.get(f"/modeler/open/{definition_id}").get_data(as_text=True)
    assert f"/modeler/drafts/{draft_id}" in client.get("/modeler").get_data(as_text=True)


def test_new_diagram_form(app, client, session):
    login(client, "admin")
    assert client.get("/modeler/new").status_code == 200
    r = client.post("/modeler/new", data={"kind": "bpmn", "key": "9bad", "name": "x"})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.get_data(as_text=True)
    r = client.post("/modeler/new", data={"kind": "bpmn", "key": "leave_request", "name": "请假 <审批> & \"x\""})
    assert r.status_code == 302
    session.rollback()
    draft = session.get(ProcessDraft, int(r.headers["Location"].rsplit("/", 1)[1]))
    assert draft.kind == "bpmn" and draft.key == "leave_request" and draft.name == '请假 <审批> & "x"'
    assert draft.sector_id is None  # admin designs for the whole group
    r = client.post("/modeler/new", data={"kind": "dmn", "key": "discount_limits", "name": "折扣限额"})
    assert r.status_code == 302 and "/dmn/drafts/" in r.headers["Location"]
    session.rollback()
    dmn = session.get(ProcessDraft, int(r.headers["Location"].rsplit("/", 1)[1]))
    assert dmn.kind == "dmn" and dmn.key == "discount_limits"
    # each editor sends the other kind to its own page
    assert client.get(f"/modeler/drafts/{dmn.id}").headers["Location"].endswith(f"/dmn/drafts/{dmn.id}")
    assert client.get(f"/dmn/drafts/{draft.id}").headers["Location"].endswith(f"/modeler/drafts/{draft.id}")


def test_session_json_endpoints_answer_errors_as_json(app, client, quote_draft):
    """Not signed in: 401; bad bodies: 422 naming the field; stale lock: 409; bad XML: 422 naming the problem."""
    assert client.get("/modeler/api/catalog").status_code == 401
    login(client, "designer1")
    r = client.post("/modeler/api/check-expression", data="nope", content_type="application/json")
    assert r.status_code == 422 and "_body" in r.get_json()["errors"]
    r = client.post("/modeler/api/check-expression", json={"expression": "x", "mode": "run"})
    assert r.status_code == 422 and "mode" in r.get_json()["errors"]
    r = client.post("/modeler/api/check-expression", json={"expression": 'decision == "approve" and discount < 0.6'})
    assert r.get_json() == {"ok": True, "message": None}
    r = client.post("/modeler/api/check-expression", json={"expression": "discount <"})
    assert r.status_code == 200 and r.get_json()["ok"] is False and r.get_json()["message"]
    r = client.post("/modeler/api/check-expression", json={"expression": "__import__('os').system('id')"})
    assert r.get_json()["ok"] is False

    draft = client.get(f"/modeler/api/drafts/{quote_draft}").get_json()
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": draft["xml"]})
    assert r.status_code == 422 and "lock_version" in r.get_json()["errors"]
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": "<not xml", "lock_version": draft["lock_version"]})
    assert r.status_code == 422 and r.get_json()["errors"][0]["element"]
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": draft["xml"], "lock_version": draft["lock_version"]})
    assert r.status_code == 200 and r.get_json()["lock_version"] != draft["lock_version"]
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": draft["xml"], "lock_version": draft["lock_version"]})
    assert r.status_code == 409 and r.get_json()["message"]
    assert client.get("/modeler/api/drafts/999999").status_code == 404
    r = client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={"comment": 5})
    assert r.status_code == 422 and "comment" in r.get_json()["errors"]


def test_validate_lists_problems_and_publish_refuses_naming_the_element(app, client, quote_draft):
    login(client, "designer1")
    draft = client.get(f"/modeler/api/drafts/{quote_draft}").get_json()
    broken = draft["xml"].replace("discount &lt; 0.5", "discount &lt;")
    r = client.put(f"/modeler/api/drafts/{quote_draft}", json={"xml": broken, "lock_version": draft["lock_version"]})
    assert r.status_code == 200
    r = client.post(f"/modeler/api/drafts/{quote_draft}/validate")
    assert r.status_code == 200
    body = r.get_json()
    assert body["executable"] is False
    assert "f_mgr_escalate" in {p["element"] for p in body["problems"]}
    r = client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={"comment": "broken"})
    assert r.status_code == 422
    assert "f_mgr_escalate" in {e["element"] for e in r.get_json()["errors"]}


def test_publish_through_the_session_endpoint_makes_a_sector_version(app, client, session, quote_draft):
    login(client, "designer1")
    draft = client.get(f"/modeler/api/drafts/{quote_draft}").get_json()
    xml = draft["xml"].replace("discount &lt; 0.5", "discount &lt; 0.6")
    assert client.put(f"/modeler/api/drafts/{quote_draft}",
                      json={"xml": xml, "lock_version": draft["lock_version"]}).status_code == 200
    r = client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={"comment": "Q1 limit 6折"})
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert out["key"] == QUOTE_KEY and out["version"] >= 2 and out["comment"] == "Q1 limit 6折"
    assert out["versions_url"] == f"/processes/{QUOTE_KEY}/versions"
    session.rollback()
    definition = session.get(ProcessDefinition, out["id"])
    assert definition.sector_id == session.scalar(select(User.sector_id).where(User.username == "designer1"))
    # a published draft is closed: saving or publishing it again is a conflict
    assert client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={}).status_code == 409


def test_csrf_is_required_for_the_json_writes(app, migrated):
    """With CSRF on (as in production), a write without the X-CSRFToken header is refused."""
    from tests.conftest import fresh_app

    app = fresh_app(migrated, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": "designer1", "password": DEMO_PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    r = client.post("/modeler/api/check-expression", json={"expression": "1"})
    assert r.status_code == 400
    html = client.get("/modeler").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/modeler/api/check-expression", json={"expression": "1"}, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.get_json()["ok"] is True
    app.extensions["db_engine"].dispose()


def test_every_modeler_route_as_every_kind_of_user_never_fails(app, client, quote_draft):
    """Each /modeler and /dmn route (built from the URL map, so new ones are covered) with an S1 draft and an
    S1 version: a sales rep 403, an S2 designer 404 (nothing of S1 exists for him), never a 5xx."""
    login(client, "designer1")
    draft = client.get(f"/modeler/api/drafts/{quote_draft}").get_json()
    keep = make_draft(app, "designer1", draft["base_definition_id"])  # a second S1 draft that stays unpublished
    r = client.post(f"/modeler/api/drafts/{quote_draft}/publish", json={})
    assert r.status_code == 201
    ids = {"draft_id": keep, "definition_id": r.get_json()["id"]}  # an S1 version
    client.post("/logout")
    rules = [(rule, m) for rule in app.url_map.iter_rules() if rule.rule.startswith(("/modeler", "/dmn"))
             for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert len(rules) >= 12
    for username, expected in (("rep1", {403}), ("designer3", {404}), ("designer1", {200, 201, 302, 422})):
        with app.test_client() as c:
            login(c, username)
            for rule, method in rules:
                path = rule.rule
                for name, value in ids.items():
                    path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
                r = getattr(c, method.lower())(path, json={} if method != "GET" else None)
                assert r.status_code < 500, (username, method, path, r.status_code)
                if username == "designer3" and not rule.arguments:
                    continue  # his own lists and forms
                if method == "POST" and path == "/modeler/new":
                    continue  # form posts answer 422 for an empty form
                assert r.status_code in expected, (username, method, path, r.status_code, r.get_data(as_text=True)[:200])
