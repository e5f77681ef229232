"""Audit records for every change (O6) and the persisted engine state (no embedded spec, versioned)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models.audit import AuditImmutable, AuditLog
from models.process import ProcessInstance
from tests.conftest import customer_ids


def _quote(api, amount=4000):
    return api.as_("rep1").post("/quotes", json={"customer_id": customer_ids(api, "rep1")[0], "list_amount": 10000,
                                                 "quote_amount": amount}).get_json()


def test_O6_every_change_is_audited(api, session):
    """O6: quote creation, process start, task completion and status change leave audit rows."""
    quote = _quote(api)
    tid = next(t["id"] for t in api.as_("mgr1").get("/tasks").get_json()["items"])
    api.as_("mgr1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "reject"}, "comment": "no"})
    actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    for expected in ("quote.create", "process.start", "task.complete", "quote.status"):
        assert expected in actions
    status_row = session.scalar(select(AuditLog).where(AuditLog.action == "quote.status"))
    assert status_row.entity_id == str(quote["id"])
    assert status_row.before == {"status": "pending"} and status_row.after == {"status": "rejected"}


def test_O6_audit_rows_cannot_be_changed_or_deleted(api, session):
    _quote(api)
    row = session.scalar(select(AuditLog).limit(1))
    row.action = "tampered"
    with pytest.raises(AuditImmutable):
        session.flush()
    session.rollback()
    session.delete(session.scalar(select(AuditLog).limit(1)))
    with pytest.raises(AuditImmutable):
        session.flush()


def test_instance_state_is_stored_without_the_spec_and_versioned(api, session):
    quote = _quote(api)
    inst = session.get(ProcessInstance, quote["process_instance_id"])
    state = json.loads(inst.state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert len(inst.state) < 8000
    v = inst.version
    tid = next(t["id"] for t in api.as_("mgr1").get("/tasks").get_json()["items"])
    api.as_("mgr1").post(f"/tasks/{tid}/complete", json={"data": {"decision": "approve"}})
    session.rollback()  # end the read snapshot
    assert session.get(ProcessInstance, inst.id).version > v


def test_a_stale_writer_gets_a_conflict_not_a_lost_update(app, api):
    """Optimistic version check: a writer holding an old copy of the instance cannot overwrite a newer one."""
    from sqlalchemy.orm.exc import StaleDataError

    quote = _quote(api)
    stale = app.extensions["session_factory"]()
    stale_inst = stale.get(ProcessInstance, quote["process_instance_id"])
    stale.commit()  # keep the loaded copy (version N), end the transaction
    tid = next(t["id"] for t in api.as_("mgr1").get("/tasks").get_json()["items"])
    assert api.as_("mgr1").post(f"/tasks/{tid}/claim").status_code == 200  # version N+1 elsewhere
    stale_inst.title = "overwrite"
    with pytest.raises(StaleDataError):
        stale.flush()
    stale.rollback()
    stale.close()


def test_state_of_an_unknown_serializer_version_is_refused(api, session):
    from engine.definitions import parsed_spec
    from engine.state import load_state

    quote = _quote(api)
    inst = session.get(ProcessInstance, quote["process_instance_id"])
    spec, subs = parsed_spec(inst.definition)
    state = json.loads(inst.state)
    state["serializer_version"] = "1.0"
    with pytest.raises(ValueError, match="serializer version"):
        load_state(json.dumps(state), spec, subs)
