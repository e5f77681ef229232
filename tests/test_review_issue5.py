"""Review of issue 5 (process design): authorization across scopes, hostile input on every new endpoint,
markup in diagram text, and nothing half-written. Each test names the hole it closes or guards."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from models.audit import AuditLog
from models.demo import DEMO_PASSWORD
from models.org import Sector
from models.process import ProcessDefinition, ProcessDraft, ProcessInstance
from tests.test_design_api import OLD_LIMIT, current_quote_definition, open_draft, save

DMN_KEY = "contract_route"


def login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302, r.data[:500]


def sector_id(app, code: str) -> int:
    with app.extensions["session_factory"]() as session:
        return session.scalar(select(Sector.id).where(Sector.code == code))


def counts(app) -> tuple[int, int]:
    with app.extensions["session_factory"]() as session:
        return (session.scalar(select(func.count()).select_from(ProcessDefinition)),
                session.scalar(select(func.count()).select_from(AuditLog)))


def publish_quote(api, user: str, limit: str = "0.6") -> dict:
    draft = open_draft(api, user)
    xml = api.as_(user).get(f"/drafts/{draft['id']}").get_json()["xml"]
    r = save(api, draft, xml.replace(OLD_LIMIT, f'decision == "approve" and discount &lt; {limit}<', 1), user)
    assert r.status_code == 200, r.get_json()
    published = api.as_(user).post(f"/drafts/{draft['id']}/publish", json={})
    assert published.status_code == 201, published.get_json()
    return published.get_json()


def dmn_version(app, key: str = DMN_KEY) -> ProcessDefinition:
    with app.extensions["session_factory"]() as session:
        row = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                             ProcessDefinition.kind == "dmn")
                             .order_by(ProcessDefinition.version))
        session.expunge(row)
        return row


# --- authorization --------------------------------------------------------------------------------

def test_sector_designer_cannot_reach_another_sectors_drafts_or_versions(app, api, client):
    """designer3 (S2) publishes an S2 version and keeps a draft; designer1 (S1) gets 404 for each of them on
    every read and write path (API and session endpoints), and 403 where he names S2's scope."""
    s2 = sector_id(app, "S2")
    v_s2 = publish_quote(api, "designer3")
    assert v_s2["sector_id"] == s2
    draft = open_draft(api, "designer3")
    d1 = api.as_("designer1")
    assert d1.get(f"/drafts/{draft['id']}").status_code == 404
    assert d1.put(f"/drafts/{draft['id']}", json={"xml": "<x/>", "lock_version": draft["lock_version"]}
                  ).status_code == 404
    assert d1.post(f"/drafts/{draft['id']}/validate").status_code == 404
    assert d1.post(f"/drafts/{draft['id']}/publish", json={}).status_code == 404
    assert d1.delete(f"/drafts/{draft['id']}").status_code == 404
    assert draft["id"] not in {d["id"] for d in d1.get("/drafts").get_json()["items"]}
    assert d1.get(f"/process-definitions/{v_s2['id']}/xml").status_code == 404
    assert d1.post("/drafts", json={"base_definition_id": v_s2["id"]}).status_code == 404
    v1 = next(v for v in api.as_("admin").get("/processes/quote_approval/versions").get_json()["items"]
              if v["version"] == 1)
    assert d1.get(f"/processes/compare?from={v1['id']}&to={v_s2['id']}").status_code == 404
    assert v_s2["id"] not in {v["id"] for v in d1.get("/processes/quote_approval/versions").get_json()["items"]}
    # naming S2's scope: a missing right
    assert d1.post("/processes/quote_approval/rollback", json={"version": 1, "sector_id": s2}).status_code == 403
    assert d1.post("/processes/quote_approval/migrations", json={"sector_id": s2}).status_code == 403
    # S2's own version, rolled back into S1's scope: not visible to him
    assert d1.post("/processes/quote_approval/rollback",
                   json={"version": v_s2["version"]}).status_code == 404

    login(client, "designer1")
    assert client.get(f"/processes/definitions/{v_s2['id']}.bpmn").status_code == 404
    assert client.get(f"/processes/compare?from={v1['id']}&to={v_s2['id']}").status_code == 404
    assert client.get(f"/modeler/drafts/{draft['id']}").status_code == 404
    assert client.get(f"/modeler/api/drafts/{draft['id']}").status_code == 404
    assert client.put(f"/modeler/api/drafts/{draft['id']}",
                      json={"xml": "<x/>", "lock_version": draft["lock_version"]}).status_code == 404
    assert client.post(f"/modeler/api/drafts/{draft['id']}/validate").status_code == 404
    assert client.post(f"/modeler/api/drafts/{draft['id']}/publish", json={}).status_code == 404
    assert client.post(f"/modeler/open/{v_s2['id']}").status_code == 404
    assert client.post("/processes/quote_approval/rollback",
                       data={"version": "1", "sector_id": str(s2)}).status_code == 403
    assert client.get(f"/processes/quote_approval/migrate?sector_id={s2}").status_code == 403
    with app.extensions["session_factory"]() as session:
        assert session.get(ProcessDraft, draft["id"]).lock_version == draft["lock_version"]
        assert session.scalar(select(func.count()).select_from(ProcessDefinition).where(
            ProcessDefinition.key == "quote_approval", ProcessDefinition.sector_id == sector_id(app, "S1"))) == 0


def test_sector_designer_publishes_only_in_his_sector_never_group_level(app, api, client):
    """Every publishing path of designer1 (draft publish, rollback, import, page upload) stores an S1 version."""
    s1 = sector_id(app, "S1")
    assert publish_quote(api, "designer1")["sector_id"] == s1
    r = api.as_("designer1").post("/processes/quote_approval/rollback", json={"version": 1})
    assert r.status_code == 201 and r.get_json()["sector_id"] == s1
    xml = api.as_("admin").get(f"/process-definitions/{r.get_json()['id']}/xml").get_data()
    r = api.as_("designer1").post("/drafts/import", data={"files": [(io.BytesIO(xml), "q.bpmn")]},
                                  content_type="multipart/form-data")
    assert r.status_code == 201
    with app.extensions["session_factory"]() as session:
        assert session.get(ProcessDraft, r.get_json()["items"][0]["draft_id"]).sector_id == s1
    login(client, "designer1")
    r = client.post("/processes", data={"file": (io.BytesIO(xml.replace(b"0.5<", b"0.55<", 1)), "q.bpmn")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    with app.extensions["session_factory"]() as session:
        group = session.scalars(select(ProcessDefinition.version).where(
            ProcessDefinition.key == "quote_approval", ProcessDefinition.sector_id.is_(None))).all()
    assert group == [1]


def test_non_designer_reaches_no_write_path(app, api, client):
    """rep1 designs nothing: 403 on every design write, API and pages."""
    rep = api.as_("rep1")
    definition_id = current_quote_definition(api, "rep1")["definition_id"]
    assert rep.post("/drafts", json={"base_definition_id": definition_id}).status_code == 403
    assert rep.post("/drafts/import", data={"files": [(io.BytesIO(b"<x/>"), "a.bpmn")]},
                    content_type="multipart/form-data").status_code == 403
    assert rep.post("/processes/quote_approval/rollback", json={"version": 1}).status_code == 403
    assert rep.post("/processes/quote_approval/migrations", json={}).status_code == 403
    assert rep.post("/design/check-expression", json={"expression": "1"}).status_code == 403
    assert rep.get("/design/catalog").status_code == 403
    login(client, "rep1")
    assert client.post("/modeler/api/check-expression", json={"expression": "1"}).status_code == 403
    assert client.get("/modeler/api/catalog").status_code == 403
    assert client.post("/modeler/new", data={"kind": "bpmn", "key": "x", "name": "x"}).status_code == 403
    assert client.post(f"/modeler/open/{definition_id}").status_code == 403
    assert client.post("/processes/import", data={"files": [(io.BytesIO(b"<x/>"), "a.bpmn")]},
                       content_type="multipart/form-data").status_code == 403
    assert client.post("/processes/quote_approval/rollback", data={"version": "1"}).status_code == 403
    assert client.post("/processes/quote_approval/migrate", data={"instance_id": "1"}).status_code == 403


def test_migration_never_moves_another_sectors_instance(app, api):
    """designer1 lists S2's instance ids: they are neither listed nor moved."""
    from tests.test_quote_approval import submit

    submit(api, 5500, user="rep3")  # an S2 instance on v1
    publish_quote(api, "admin")  # group v2: every v1 instance is a candidate
    s2 = sector_id(app, "S2")
    with app.extensions["session_factory"]() as session:
        others = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.sector_id == s2)))
    assert others
    with app.extensions["session_factory"]() as session:
        before = {i.id: (i.definition_id, i.state) for i in session.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_(others)))}
    r = api.as_("designer1").post("/processes/quote_approval/migrations",
                                  json={"dry_run": False, "instance_ids": others})
    assert r.status_code in (200, 404), r.get_json()
    if r.status_code == 200:
        assert not {i["instance_id"] for i in r.get_json()["items"]} & set(others)
    with app.extensions["session_factory"]() as session:
        after = {i.id: (i.definition_id, i.state) for i in session.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_(others)))}
    assert after == before


# --- hostile input ----------------------------------------------------------------------------------

def test_rollback_of_a_decision_table_version_publishes_it_again(app, api):
    """Rolling back a DMN version answered 500 (dmn.publish took no source_version)."""
    table = dmn_version(app)
    r = api.as_("admin").post(f"/processes/{DMN_KEY}/rollback", json={"version": table.version})
    assert r.status_code == 201, r.get_data(as_text=True)[:500]
    body = r.get_json()
    assert body["version"] > table.version
    with app.extensions["session_factory"]() as session:
        row = session.get(ProcessDefinition, body["id"])
        assert row.kind == "dmn" and row.source_version == table.version


@pytest.mark.parametrize("field,value", [("sector_id", "²"), ("sector_id", "9" * 30), ("version", "9" * 30),
                                         ("version", "²"), ("sector_id", "999999")])
def test_page_rollback_with_odd_numbers_is_never_500(app, client, field, value):
    """Non-ASCII digits and numbers beyond any id in the rollback form: a refusal, never a 500."""
    login(client, "admin")
    form = {"version": "1", field: value}
    before = counts(app)
    r = client.post("/processes/quote_approval/rollback", data=form)
    assert r.status_code in (302, 403, 404, 422), r.status_code
    if field == "sector_id":
        assert counts(app) == before  # no version for a sector that does not exist


def test_api_rollback_into_a_missing_sector_is_refused(app, api):
    api.token("admin")
    before = counts(app)
    r = api.as_("admin").post("/processes/quote_approval/rollback", json={"version": 1, "sector_id": 999999})
    assert r.status_code in (404, 422), r.get_json()
    assert counts(app) == before


@pytest.mark.parametrize("query", ["from=99999999999999999999999&to=1", "from=1&to=99999999999999999999",
                                   "from=%C2%B2&to=1", "from=-1&to=1"])
def test_page_compare_with_odd_ids_is_never_500(app, client, query):
    login(client, "designer1")
    r = client.get(f"/processes/compare?{query}")
    assert r.status_code in (302, 404), r.status_code


@pytest.mark.parametrize("query", ["sector_id=%C2%B2", "after_id=%C2%B2", "sector_id=99999999999999999999"])
def test_migration_page_with_non_ascii_digits_is_never_500(app, client, query):
    login(client, "admin")
    assert client.get(f"/processes/quote_approval/migrate?{query}").status_code in (200, 404)
    r = client.post("/processes/quote_approval/migrate", data={"instance_id": ["²", "1"], "sector_id": "²"})
    assert r.status_code in (200, 404)


def test_compare_of_a_process_with_a_decision_table_is_refused(app, api):
    table = dmn_version(app)
    process = current_quote_definition(api, "admin")["definition_id"]
    r = api.as_("admin").get(f"/processes/compare?from={process}&to={table.id}")
    assert r.status_code == 422


def test_a_process_cannot_take_the_id_of_a_decision_table(app, api):
    """A BPMN process whose id is a decision id would share its version numbers: rollback, compare and the
    versions list would mix a process with a table. Publishing is refused naming the process."""
    xml = api.as_("admin").get(
        f"/process-definitions/{current_quote_definition(api, 'admin')['definition_id']}/xml").get_data(as_text=True)
    clash = xml.replace('id="quote_approval"', f'id="{DMN_KEY}"').replace('bpmnElement="quote_approval"',
                                                                         f'bpmnElement="{DMN_KEY}"')
    before = counts(app)
    r = api.as_("admin").post("/drafts", json={"xml": clash, "filename": "clash.bpmn"})
    assert r.status_code == 201
    r = api.as_("admin").post(f"/drafts/{r.get_json()['id']}/publish", json={})
    assert r.status_code == 422, r.get_json()
    assert any(e["element"] == DMN_KEY for e in r.get_json()["errors"])
    assert counts(app)[0] == before[0]


@pytest.mark.parametrize("body", [{"expression": "1\x00"}, {"expression": "x" * 20_000},
                                  {"expression": "(" * 5000}, {"expression": 5}, {"expression": "1", "mode": "x"},
                                  {"expression": "().__class__.__bases__[0].__subclasses__()"},
                                  {"expression": "import os", "mode": "exec"}, []])
def test_check_expression_never_500(app, api, client, body):
    r = api.as_("designer1").post("/design/check-expression", json=body)
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:300]
    if r.status_code == 200 and isinstance(body, dict) and "__" in str(body.get("expression")):
        assert r.get_json()["ok"] is False
    login(client, "designer1")
    r = client.post("/modeler/api/check-expression", json=body)
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:300]


@pytest.mark.parametrize("body", [{"xml": None, "lock_version": 0}, {"xml": "<a/>", "lock_version": -1},
                                  {"xml": "<a/>", "lock_version": 2**70}, {"xml": "<a/>", "lock_version": "1"},
                                  {"xml": "\x00", "lock_version": 1}, {"xml": ["x"], "lock_version": 1},
                                  "text", {"xml": "<a/>", "lock_version": 1.5}])
def test_draft_save_with_wrong_types_is_422(app, api, client, body):
    draft = open_draft(api, "designer1")
    r = api.as_("designer1").put(f"/drafts/{draft['id']}", json=body)
    assert r.status_code in (409, 422), r.get_data(as_text=True)[:300]
    login(client, "designer1")
    r = client.put(f"/modeler/api/drafts/{draft['id']}", json=body)
    assert r.status_code in (409, 422), r.get_data(as_text=True)[:300]


@pytest.mark.parametrize("path", ["/drafts/١", "/drafts/0", "/drafts/99999999999999999999",
                                  "/processes/a%2Fb/versions", "/processes/%E6%B5%81%E7%A8%8B/versions",
                                  "/processes/%00/versions", "/process-definitions/²/xml"])
def test_odd_path_parameters_are_404(api, client, path):
    assert api.as_("designer1").get(path).status_code == 404
    if path.startswith("/processes/"):
        key = path.split("/")[2]
        assert api.as_("designer1").post(f"/processes/{key}/rollback", json={"version": 1}).status_code == 404
        assert api.as_("designer1").post(f"/processes/{key}/migrations", json={}).status_code == 404
        login(client, "designer1")
        assert client.get(path).status_code == 404
        assert client.post(f"/processes/{key}/rollback", data={"version": "1"}).status_code == 404
        assert client.get(f"/processes/{key}/migrate").status_code == 404


def test_new_diagram_name_with_control_characters_is_422(app, client):
    """The page form put the name into the XML: a control character made it unreadable (500)."""
    login(client, "designer1")
    for name in ("a\x01b", "a\x00b", "a\x1fb"):
        r = client.post("/modeler/new", data={"kind": "bpmn", "key": "k1", "name": name})
        assert r.status_code == 422, (name, r.status_code)


def test_import_limits_and_hostile_files(app, api):
    d1 = api.as_("designer1")
    many = [(io.BytesIO(b"<x/>"), f"f{i}.bpmn") for i in range(51)]
    assert d1.post("/drafts/import", data={"files": many}, content_type="multipart/form-data").status_code == 422
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b"<definitions>&b;</definitions>")
    r = d1.post("/drafts/import", data={"files": [(io.BytesIO(deep), "deep.bpmn"), (io.BytesIO(bomb), "bomb.dmn"),
                                                  (io.BytesIO(b"\xff\xfe\x00"), "bin.bpmn")]},
                content_type="multipart/form-data")
    assert r.status_code == 201
    assert [i["draft_id"] for i in r.get_json()["items"]] == [None, None, None]
    assert all(i["problems"] for i in r.get_json()["items"])


def _dmn(rules: int) -> bytes:
    body = "".join(f'<rule id="r{i}"><inputEntry id="r{i}i"><text>&lt; {i}</text></inputEntry>'
                   f'<outputEntry id="r{i}o"><text>"v{i}"</text></outputEntry></rule>' for i in range(rules))
    return (f'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="big" name="big" '
            f'namespace="x"><decision id="big_table" name="big"><decisionTable id="t" hitPolicy="FIRST">'
            f'<input id="in1" label="amount"><inputExpression id="ie1" typeRef="number"><text>amount</text>'
            f'</inputExpression></input><output id="o1" name="route" typeRef="string"/>{body}</decisionTable>'
            f'</decision></definitions>').encode()


def test_decision_table_with_10k_rules_is_refused_not_500(app, api):
    r = api.as_("designer1").post("/drafts", json={"xml": _dmn(10_000).decode()})
    assert r.status_code in (201, 422), r.get_data(as_text=True)[:300]
    if r.status_code == 201:
        r = api.as_("designer1").post(f"/drafts/{r.get_json()['id']}/publish", json={})
        assert r.status_code in (201, 422)


def test_dmn_cells_cannot_escape_the_sandbox(app, api):
    """A cell or input expression reaching dunders or imports is refused at publish, naming the rule/column."""
    xml = _dmn(2).decode()
    for bad in ('().__class__.__base__', '__import__("os").system("id")', 'open("/etc/passwd")'):
        for variant in (xml.replace("&lt; 1", bad.replace('"', "&quot;"), 1),
                        xml.replace("<text>amount</text>", f"<text>{bad}</text>", 1),
                        xml.replace('"v0"', bad, 1)):
            r = api.as_("designer1").post("/drafts", json={"xml": variant})
            assert r.status_code == 201
            draft = r.get_json()
            assert not draft["executable"], (bad, draft)
            r = api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={})
            assert r.status_code == 422


def test_a_failed_publish_leaves_nothing_written_and_the_draft_unchanged(app, api, client):
    """A draft whose condition the sandbox refuses is stored with its problem; publishing it (API and session
    endpoint) answers 422 naming the flow and writes no definition, no audit row, and leaves the draft as it was."""
    draft = open_draft(api, "designer1")
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    r = save(api, draft, xml.replace(OLD_LIMIT, '__import__("os").system("id")<', 1))
    assert r.status_code == 200 and not r.get_json()["executable"]
    saved = r.get_json()
    login(client, "designer1")
    before = counts(app)
    r = api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={})
    assert r.status_code == 422, r.get_json()
    assert any(e["element"] == "f_mgr_escalate" for e in r.get_json()["errors"]), r.get_json()
    r = client.post(f"/modeler/api/drafts/{draft['id']}/publish", json={})
    assert r.status_code == 422
    assert counts(app) == before
    again = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()
    assert again["lock_version"] == saved["lock_version"] and again["published_definition_id"] is None


# --- markup in diagram text ---------------------------------------------------------------------------

XSS = '<img src=x onerror=alert(1)>'


def test_diagram_text_is_escaped_on_every_page(app, api, client):
    """Names, element names, filenames and problems carrying markup are shown as text."""
    draft = open_draft(api, "admin")
    xml = api.as_("admin").get(f"/drafts/{draft['id']}").get_json()["xml"]
    evil = xml.replace('name="部门经理审批"', 'name="&lt;img src=x onerror=alert(1)&gt;"', 1)
    assert save(api, draft, evil, "admin").status_code == 200
    v2 = api.as_("admin").post(f"/drafts/{draft['id']}/publish", json={"comment": XSS}).get_json()
    v1 = next(v for v in api.as_("admin").get("/processes/quote_approval/versions").get_json()["items"]
              if v["version"] == 1)
    bad = api.as_("admin").post("/drafts/import", data={"files": [(io.BytesIO(
        f'<definitions id="{XSS}"/>'.encode()), f"{XSS}.bpmn")]}, content_type="multipart/form-data")
    assert bad.status_code == 201
    login(client, "admin")
    for url in (f"/processes/compare?from={v1['id']}&to={v2['id']}", "/processes/quote_approval/versions",
                "/processes", "/modeler", f"/modeler/drafts/{draft['id']}"):
        html = client.get(url).get_data(as_text=True)
        assert XSS not in html, url
    r = client.post("/processes/import", data={"files": [(io.BytesIO(b"<x/>"), f"{XSS}.bpmn")]},
                    content_type="multipart/form-data")
    assert XSS not in r.get_data(as_text=True)
    r = client.get(f"/processes/definitions/{v2['id']}.bpmn")
    assert r.mimetype == "text/plain" and "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    r = api.as_("admin").get(f"/process-definitions/{v2['id']}/xml")
    assert r.mimetype == "application/xml" and "sandbox" in r.headers["Content-Security-Policy"]


def test_modeler_page_data_cannot_close_its_script_tag(app, api, client):
    r = api.as_("designer1").post("/drafts", json={"xml": '<definitions id="a"></script><script>alert(1)</script>"/>'})
    assert r.status_code in (201, 422)
    draft = open_draft(api, "designer1")
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    evil = xml.replace('name="部门经理审批"', 'name="&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"', 1)
    assert save(api, draft, evil).status_code == 200
    login(client, "designer1")
    html = client.get(f"/modeler/drafts/{draft['id']}").get_data(as_text=True)
    data = re.search(r'<script type="application/json" id="modeler-data">(.*?)</script>', html, re.DOTALL).group(1)
    assert "<script>" not in data and "</script" not in data.lower()


def test_running_counts_cover_the_own_sector_only(app, api):
    """The process list and the versions list counted every sector's running instances: an S1 user learnt
    how many quotes S2 had pending. Now S1 counts S1's, the group sees all."""
    from tests.test_quote_approval import submit

    submit(api, 5500, user="rep3")  # S2
    s1 = sector_id(app, "S1")
    with app.extensions["session_factory"]() as session:
        mine = session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.process_key == "quote_approval", ProcessInstance.status == "running",
            ProcessInstance.sector_id == s1))
        everyone = session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.process_key == "quote_approval", ProcessInstance.status == "running"))
    assert everyone > mine
    assert current_quote_definition(api, "designer1")["running"] == mine
    assert current_quote_definition(api, "admin")["running"] == everyone
    versions = api.as_("designer1").get("/processes/quote_approval/versions").get_json()["items"]
    assert sum(v["running"] for v in versions) == mine


def test_publishing_a_draft_someone_saved_meanwhile_is_409_and_writes_nothing(app, api, monkeypatch):
    """Two designers on one draft: B saves while A publishes the version A loaded. A's write of the draft hit
    the lock_version check (StaleDataError) outside any handler: 500, now 409 with nothing written."""
    import web.errors
    from engine import design
    from engine.errors import Conflict
    from models.org import User

    draft = open_draft(api, "designer1")
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    with app.extensions["session_factory"]() as session:  # A's request
        user = session.scalar(select(User).where(User.username == "designer1"))
        loaded = session.get(ProcessDraft, draft["id"])
        assert loaded.xml
        session.commit()
        assert save(api, draft, xml.replace(OLD_LIMIT, 'decision == "approve" and discount &lt; 0.55<', 1)
                    ).status_code == 200  # B saves
        before = counts(app)
        monkeypatch.setattr(web.errors, "db", lambda: session)
        with app.test_request_context(), pytest.raises(Conflict):
            web.errors.run_write(lambda: design.publish_draft(session, user, draft["id"]))
    assert counts(app) == before
    again = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()
    assert again["published_definition_id"] is None and again["lock_version"] == draft["lock_version"] + 1


# --- timers: a value SpiffWorkflow would loop over for ever is refused (review, High) ----------------------

TIMER_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://t">
  <bpmn:process id="timer_bound" name="t" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="dept_manager"><bpmn:flowNodeRef>ok</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ok" name="审批"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="ok"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="late_def"><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ok" />
    <bpmn:sequenceFlow id="f2" sourceRef="ok" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("value", ['"P9999999999999Y"', '"P99999999D"', '"PT-5H"', '"garbage"', '"P101Y"', '""',
                                   '"R999999999/PT1H"', '"R/2027-01-01T00:00:00Z/P9999999999Y"'])
def test_timer_values_beyond_bounds_are_refused_at_publish(session, value):
    """A literal timer value is parsed at publish: unparsable or longer than 100 years → refused naming the
    boundary event (SpiffWorkflow would loop once per month of it when an instance reaches the timer)."""
    from engine import definitions
    from engine.safe_xml import DiagramError

    with pytest.raises(DiagramError) as refused:
        definitions.deploy(session, TIMER_DIAGRAM.format(value=value, kind="timeCycle" if value.startswith('"R') else "timeDuration").encode(), filename="t.bpmn", actor_id=None)
    assert any(e["element"] == "late" for e in refused.value.errors), refused.value.errors


@pytest.mark.parametrize("value", ['"P9999999999999Y"', "10**100", '"P" + "9" * 20 + "M"'])
def test_timer_values_computed_at_run_time_are_bounded_by_the_sandbox(session, value):
    """A timer value computed from data is checked when the sandbox evaluates it: the start is refused with a
    ProcessError (422) naming the timer, in well under a second, instead of hanging the worker."""
    import time

    from sqlalchemy import select as _select

    from engine import definitions, runtime
    from engine.errors import EngineError
    from models.org import User

    expr = f"limit if False else {value}"  # not a literal: publish cannot know it
    definitions.deploy(session, TIMER_DIAGRAM.format(value=expr, kind="timeDuration").encode(), filename="t.bpmn", actor_id=None)
    session.commit()
    rep1 = session.scalar(_select(User).where(User.username == "rep1"))
    began = time.monotonic()
    with pytest.raises(EngineError) as refused:
        runtime.start_instance(session, "timer_bound", actor=rep1, data={"limit": 1}, sector_id=rep1.sector_id,
                               department_id=rep1.department_id)
    session.rollback()
    assert time.monotonic() - began < 5
    assert "late" in str(refused.value) and "timer" in str(refused.value)


def test_ordinary_timers_still_publish_and_run(session):
    from sqlalchemy import select as _select

    from engine import definitions, runtime
    from models.org import User

    definitions.deploy(session, TIMER_DIAGRAM.format(value='"P3D"', kind="timeDuration").encode(), filename="t.bpmn", actor_id=None)
    rep1 = session.scalar(_select(User).where(User.username == "rep1"))
    instance = runtime.start_instance(session, "timer_bound", actor=rep1, data={}, sector_id=rep1.sector_id,
                                      department_id=rep1.department_id)
    assert instance.status == "running" and instance.next_timer_at is not None
