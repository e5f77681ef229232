"""Process design through the API: drafts, publish, versions, compare, rollback, scopes and permissions."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.audit import AuditLog
from models.process import ProcessDefinition, ProcessDraft
from tests.test_quote_approval import run_chain, submit

QUOTE_XML = (Path(__file__).resolve().parent.parent / "workflows" / "quote_approval.bpmn").read_text("utf-8")
OLD_LIMIT = 'decision == "approve" and discount &lt; 0.5<'
NEW_LIMIT = 'decision == "approve" and discount &lt; 0.6<'


def current_quote_definition(api, user="designer1") -> dict:
    items = api.as_(user).get("/processes").get_json()["items"]
    return next(p for p in items if p["key"] == "quote_approval")


def open_draft(api, user="designer1", definition_id=None) -> dict:
    definition_id = definition_id or current_quote_definition(api, user)["definition_id"]
    r = api.as_(user).post("/drafts", json={"base_definition_id": definition_id})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def save(api, draft, xml, user="designer1"):
    return api.as_(user).put(f"/drafts/{draft['id']}", json={"xml": xml, "lock_version": draft["lock_version"]})


def counts(app) -> tuple[int, int, int]:
    with app.extensions["session_factory"]() as session:
        return (session.scalar(select(func.count()).select_from(ProcessDefinition)),
                session.scalar(select(func.count()).select_from(ProcessDraft)),
                session.scalar(select(func.count()).select_from(AuditLog)))


def test_Q1_a_sector_designer_changes_the_limit_for_his_sector_only(api):
    """Q1 limits live in the diagram: designer1 (S1) publishes 6折 for the manager; S1's new quotes follow it,
    S2 and a quote submitted before keep the group's version 1."""
    before = submit(api, 5500)  # 5.5折, pending under version 1
    draft = open_draft(api)
    assert draft["executable"] and draft["problems"] == [] and draft["key"] == "quote_approval"
    detail = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()
    r = save(api, draft, detail["xml"].replace(OLD_LIMIT, NEW_LIMIT, 1))
    assert r.status_code == 200, r.get_json()
    published = api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={"comment": "经理审批到6折"})
    assert published.status_code == 201, published.get_json()
    v2 = published.get_json()
    assert v2["version"] == 2 and v2["sector_id"] is not None and v2["comment"] == "经理审批到6折"

    after = submit(api, 5500)
    assert run_chain(api, after) == ["mgr_approve", "pa_approve"]   # new limit: 5.5折 < 6折 escalates
    assert run_chain(api, before) == ["mgr_approve"]                # old instance keeps version 1

    versions = api.as_("designer1").get("/processes/quote_approval/versions").get_json()["items"]
    assert [(v["version"], v["current"], v["deployed_by_name"]) for v in versions] == [
        (2, True, "高峰"), (1, True, None)]
    s2 = api.as_("designer3").get("/processes/quote_approval/versions").get_json()["items"]
    assert [v["version"] for v in s2] == [1]  # S2 does not see S1's version


def test_compare_lists_the_changed_condition_and_ignores_layout(api):
    draft = open_draft(api, "admin")
    xml = api.as_("admin").get(f"/drafts/{draft['id']}").get_json()["xml"]
    changed = xml.replace(OLD_LIMIT, NEW_LIMIT, 1).replace('name="部门经理审批"', 'name="经理审批"', 1)
    changed = changed.replace('x="', 'x="1', 3)  # layout moves are not changes
    assert save(api, draft, changed, "admin").status_code == 200
    v2 = api.as_("admin").post(f"/drafts/{draft['id']}/publish", json={}).get_json()
    v1 = current_quote_definition(api, "rep1")
    assert v1["definition_id"] == v2["id"]  # group version: everyone's current
    first = next(v for v in api.as_("admin").get("/processes/quote_approval/versions").get_json()["items"]
                 if v["version"] == 1)
    diff = api.as_("rep1").get(f"/processes/compare?from={first['id']}&to={v2['id']}").get_json()
    changed_ids = {c["element"]: c for c in diff["changed"]}
    assert set(changed_ids) == {"f_mgr_escalate", "mgr_approve"}, diff
    cond = changed_ids["f_mgr_escalate"]["changes"][0]
    assert cond["field"] == "conditionExpression" and "0.5" in cond["before"] and "0.6" in cond["after"]
    assert diff["added"] == [] and diff["removed"] == []


def test_rollback_publishes_an_earlier_version_again(api, app):
    draft = open_draft(api, "admin")
    xml = api.as_("admin").get(f"/drafts/{draft['id']}").get_json()["xml"]
    save(api, draft, xml.replace(OLD_LIMIT, NEW_LIMIT, 1), "admin")
    assert api.as_("admin").post(f"/drafts/{draft['id']}/publish", json={}).status_code == 201
    r = api.as_("admin").post("/processes/quote_approval/rollback", json={"version": 1})
    assert r.status_code == 201, r.get_json()
    v3 = r.get_json()
    assert (v3["version"], v3["source_version"]) == (3, 1)
    assert run_chain(api, submit(api, 5500)) == ["mgr_approve"]  # the 5折 limit is back
    items = api.as_("admin").get("/processes/quote_approval/versions").get_json()["items"]
    assert [(v["version"], v["current"]) for v in items] == [(3, True), (2, False), (1, False)]
    assert api.as_("admin").post("/processes/quote_approval/rollback", json={"version": 9}).status_code == 404


def test_a_draft_that_cannot_run_is_kept_with_its_problems(api):
    broken = QUOTE_XML.replace(OLD_LIMIT, 'decision == "approve" and discount &lt; <', 1)
    r = api.as_("designer1").post("/drafts", json={"xml": broken, "filename": "quote.bpmn"})
    assert r.status_code == 201, r.get_json()
    draft = r.get_json()
    assert draft["executable"] is False
    assert [p["element"] for p in draft["problems"]] == ["f_mgr_escalate"]
    r = api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={})
    assert r.status_code == 422 and r.get_json()["errors"][0]["element"] == "f_mgr_escalate"
    checked = api.as_("designer1").post(f"/drafts/{draft['id']}/validate").get_json()
    assert checked["executable"] is False and checked["problems"][0]["element"] == "f_mgr_escalate"


def test_a_stale_save_is_refused_and_nothing_is_lost(api):
    draft = open_draft(api)
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    first = save(api, draft, xml.replace(OLD_LIMIT, NEW_LIMIT, 1))
    assert first.status_code == 200 and first.get_json()["lock_version"] == draft["lock_version"] + 1
    stale = save(api, draft, xml)
    assert stale.status_code == 409
    stored = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    assert NEW_LIMIT in stored


@pytest.mark.parametrize(("body", "field"), [
    ({"xml": "<not-xml"}, "file"),
    ({"xml": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'}, "file"),
    ({}, "xml"),
    ({"xml": 3}, "xml"),
    ({"base_definition_id": 999999}, None),
])
def test_bad_draft_input_is_refused_naming_the_field(api, app, body, field):
    api.token("designer1")  # logging in is audited; the refused draft must not be
    before = counts(app)
    r = api.as_("designer1").post("/drafts", json=body)
    assert r.status_code in (404, 422), r.get_json()
    if field == "file":
        assert r.get_json()["errors"][0]["element"] == "file"
    elif field:
        assert field in r.get_json()["errors"]
    assert counts(app) == before


def test_only_designers_edit_and_only_in_their_scope(api):
    for user in ("rep1", "mgr1", "sectorhead1"):
        assert api.as_(user).get("/drafts").status_code == 403
        assert api.as_(user).post("/drafts", json={"xml": QUOTE_XML}).status_code == 403
        assert api.as_(user).get("/design/catalog").status_code == 403
        assert api.as_(user).post("/processes/quote_approval/rollback", json={"version": 1}).status_code == 403
    s1_draft = open_draft(api, "designer1")
    assert api.as_("designer3").get(f"/drafts/{s1_draft['id']}").status_code == 404
    assert api.as_("designer3").post(f"/drafts/{s1_draft['id']}/publish", json={}).status_code == 404
    assert s1_draft["id"] not in [d["id"] for d in api.as_("designer3").get("/drafts").get_json()["items"]]
    assert api.as_("admin").get(f"/drafts/{s1_draft['id']}").status_code == 200  # group-level designer
    # a sector designer cannot publish for another sector or for the group
    r = api.as_("designer3").post("/processes/quote_approval/rollback",
                                  json={"version": 1, "sector_id": s1_draft["sector_id"]})
    assert r.status_code == 403


def test_every_change_is_audited(api, app):
    api.token("designer1")
    _defs, _drafts, audits = counts(app)
    draft = open_draft(api)
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    save(api, draft, xml.replace(OLD_LIMIT, NEW_LIMIT, 1))
    api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={})
    with app.extensions["session_factory"]() as session:
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id).offset(audits)))
    assert actions == ["process_draft.create", "process_draft.update", "process_definition.deploy",
                       "process_draft.publish"]


def test_the_catalog_offers_what_the_engine_understands(api):
    catalog = api.as_("designer1").get("/design/catalog").get_json()
    assert {"dept_manager", "president_assistant", "process_designer"} <= {r["code"] for r in catalog["roles"]}
    assert "crm.set_quote_status" in {c["name"] for c in catalog["connectors"]}
    assert {"approval", "custom"} <= set(catalog["forms"])
    ok = api.as_("designer1").post("/design/check-expression", json={"expression": "discount < 0.6"}).get_json()
    bad = api.as_("designer1").post("/design/check-expression",
                                    json={"expression": "().__class__.__mro__"}).get_json()
    assert ok == {"ok": True, "message": None}
    assert bad["ok"] is False and bad["message"]


# --- pages -----------------------------------------------------------------------------------------

def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def test_the_designer_lands_on_processes_and_sees_versions_compare_and_rollback(client, api):
    assert login(client, "designer1").endswith("/processes")
    page = client.get("/processes").get_data(as_text=True)
    assert "quote_approval" in page and "在建模器中打开" in page and "导入流程图" in page
    draft = open_draft(api)
    xml = api.as_("designer1").get(f"/drafts/{draft['id']}").get_json()["xml"]
    save(api, draft, xml.replace(OLD_LIMIT, NEW_LIMIT, 1))
    api.as_("designer1").post(f"/drafts/{draft['id']}/publish", json={"comment": "六折"})
    versions = client.get("/processes/quote_approval/versions").get_data(as_text=True)
    assert "v2" in versions and "六折" in versions and "高峰" in versions and "回滚到此版本" not in versions.split("v2")[0]
    items = api.as_("designer1").get("/processes/quote_approval/versions").get_json()["items"]
    ids = {v["version"]: v["id"] for v in items}
    compare = client.get(f"/processes/compare?from={ids[1]}&to={ids[2]}").get_data(as_text=True)
    assert "f_mgr_escalate" in compare and "0.6" in compare
    r = client.post("/processes/quote_approval/rollback", data={"version": "1", "sector_id": str(items[0]["sector_id"])})
    assert r.status_code == 302
    after = api.as_("designer1").get("/processes/quote_approval/versions").get_json()["items"]
    assert (after[0]["version"], after[0]["source_version"]) == (3, 1)


def test_import_page_stores_drawings_as_drafts_and_lists_why_they_cannot_run(client, app):
    login(client, "designer1")
    drawing = QUOTE_XML.replace('isExecutable="true"', 'isExecutable="false"')
    r = client.post("/processes/import", data={"files": [
        (io.BytesIO(drawing.encode()), "drawing.bpmn"), (io.BytesIO(b"not xml"), "junk.bpmn")]},
        content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "drawing.bpmn" in page and "不可执行" in page and "未保存" in page
    assert "not executable" in page
    assert counts(app)[1] == 1  # the drawing is a draft; the junk file is not stored


def test_pages_refuse_those_who_may_not(client, api):
    login(client, "rep1")
    assert client.get("/processes").status_code == 200  # everyone sees the processes that apply to him
    assert "导入流程图" not in client.get("/processes").get_data(as_text=True)
    assert client.post("/processes/import", data={}).status_code == 403
    assert client.post("/processes/quote_approval/rollback", data={"version": "1"}).status_code == 403
    assert client.get("/processes/nope/versions").status_code == 404
    assert client.get("/processes/compare?from=1&to=999999").status_code == 404


def test_import_page_refuses_more_files_than_it_takes_rather_than_dropping_some(client, app):
    login(client, "designer1")
    files = [(io.BytesIO(QUOTE_XML.encode()), f"q{i}.bpmn") for i in range(51)]
    r = client.post("/processes/import", data={"files": files}, content_type="multipart/form-data")
    assert r.status_code == 422 and "at most 50 files" in r.get_data(as_text=True)
    assert counts(app)[1] == 0
