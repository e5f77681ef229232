"""Deploying BPMN: POST /api/v1/process-definitions (admin only) and `engine.definitions.deploy`.

A diagram is code that business staff upload, so deploy is a security boundary:
- sandbox / trap 1: every expression place (gateway conditions, script tasks, spiff pre/post
  scripts, service-task parameters, timers) is checked against the sandbox's allow-list, so
  `__import__('os').system(...)` is refused at upload, before anything can run it;
- XXE / trap 3: DOCTYPE/ENTITY (file:///etc/passwd, billion laughs), oversized and malformed
  files are refused by the hardened parser before SpiffWorkflow sees them.
Every refusal is a 422 whose errors name the element (or "file") and say what to fix, and
nothing is stored: no process_definition row and no audit row.

The corpus tests run the public MIWG and SpiffWorkflow files through `deploy`: each one either
deploys or is refused with a DiagramError, never another exception (which would be a 500).
"""
from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

from engine.definitions import WORKFLOWS_DIR, deploy
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError, diagram_text, parse_diagram_xml
from models.audit import AuditLog
from models.process import ProcessDefinition
from tests.conftest import CORPUS_DIR

CORPUS = CORPUS_DIR
QUOTE_APPROVAL = (WORKFLOWS_DIR / "quote_approval.bpmn").read_text(encoding="utf-8")
BPMN_NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
SPIFF_NS = 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
XSI_NS = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


# --- building diagrams ------------------------------------------------------------------------

def renamed(pid: str, text: str = QUOTE_APPROVAL) -> str:
    """The shipped quote approval diagram as a new process `pid` (so it does not touch quote_approval)."""
    return text.replace('id="quote_approval" ', f'id="{pid}" ').replace(
        'processRef="quote_approval"', f'processRef="{pid}"')


def with_condition(expr: str) -> bytes:
    """quote approval as `qa_hostile`, with the condition on the manager's "reject" flow replaced."""
    text = renamed("qa_hostile")
    new, n = re.subn(r'(<bpmn:sequenceFlow id="f_mgr_rejected"[^>]*>\s*<bpmn:conditionExpression[^>]*>)[^<]*',
                     lambda m: m.group(1) + _esc(expr), text)
    assert n == 1
    return new.encode()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def diagram(node: str, *, lane: str | None = None, pid: str = "deploy_probe", executable: str = "true") -> bytes:
    """start -> `node` (id "x") -> end; with `lane`, node x sits in a lane of that name."""
    lanes = (f'<bpmn:laneSet id="lanes"><bpmn:lane id="lane_1" name="{lane}">'
             '<bpmn:flowNodeRef>x</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>') if lane is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {BPMN_NS} {SPIFF_NS} {XSI_NS} id="defs" targetNamespace="http://crm.example.cn/bpmn">
  <bpmn:process id="{pid}" name="Deploy probe" isExecutable="{executable}">
    {lanes}
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {node}
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="x" />
    <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def script_task(code: str) -> bytes:
    return diagram(f'<bpmn:scriptTask id="x" name="Script" scriptFormat="python">'
                   f"<bpmn:script>{_esc(code)}</bpmn:script></bpmn:scriptTask>")


def pre_script(code: str) -> bytes:
    return diagram(f'<bpmn:userTask id="x" name="Review"><bpmn:extensionElements>'
                   f"<spiffworkflow:preScript>{_esc(code)}</spiffworkflow:preScript>"
                   f"</bpmn:extensionElements></bpmn:userTask>", lane="sales_rep")


def service_task(value: str, connector: str = "crm.set_quote_status") -> bytes:
    return diagram(f'<bpmn:serviceTask id="x" name="Set status"><bpmn:extensionElements>'
                   f'<spiffworkflow:serviceTaskOperator id="{connector}" resultVariable="result">'
                   f'<spiffworkflow:parameters><spiffworkflow:parameter id="status" type="str" value="{_esc(value)}" />'
                   f"</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
                   f"</bpmn:extensionElements></bpmn:serviceTask>")


def timer(expr: str) -> bytes:
    return diagram(f'<bpmn:intermediateCatchEvent id="x" name="Wait"><bpmn:timerEventDefinition>'
                   f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{_esc(expr)}</bpmn:timeDuration>'
                   f"</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")


def user_task(lane: str | None) -> bytes:
    return diagram('<bpmn:userTask id="x" name="Review" />', lane=lane)


def gateway_without_default() -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {BPMN_NS} id="defs" targetNamespace="http://crm.example.cn/bpmn">
  <bpmn:process id="gateway_probe" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="gw" name="Which way?" />
    <bpmn:endEvent id="end_a" />
    <bpmn:endEvent id="end_b" />
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f_a" sourceRef="gw" targetRef="end_a" />
    <bpmn:sequenceFlow id="f_b" sourceRef="gw" targetRef="end_b" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def _bpmn_prolog(prolog: str, body: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
            f'<bpmn:definitions {BPMN_NS} id="d">{body}</bpmn:definitions>').encode()


XXE = _bpmn_prolog('<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
                   '<bpmn:process id="p" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation>'
                   "</bpmn:process>")
BILLION_LAUGHS = _bpmn_prolog(
    "<!DOCTYPE d [\n<!ENTITY lol \"lol\">\n"
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n", "<bpmn:documentation>&lol9;</bpmn:documentation>")
OVERSIZED = renamed("qa_big").replace(
    "<bpmn:documentation>", "<bpmn:documentation>" + "x" * (MAX_DIAGRAM_BYTES + 1024), 1).encode()


# --- the API ----------------------------------------------------------------------------------

def upload(api, user: str, data: bytes, filename: str = "diagram.bpmn"):
    return api.as_(user).post("/process-definitions", data={"file": (io.BytesIO(data), filename)},
                              content_type="multipart/form-data")


def stored(app) -> tuple[int, int]:
    """(process_definition rows, audit rows): a refused upload changes neither."""
    session = app.extensions["session_factory"]()
    try:
        return (session.scalar(select(func.count()).select_from(ProcessDefinition)),
                session.scalar(select(func.count()).select_from(AuditLog)))
    finally:
        session.close()


def refused(api, app, data: bytes, *, user: str = "admin", filename: str = "diagram.bpmn") -> list[dict]:
    """Upload as `user`; assert 422, well-formed errors and nothing stored; return the errors."""
    api.token(user)  # issuing the token writes an audit row: do it before counting
    before = stored(app)
    r = upload(api, user, data, filename)
    assert r.status_code == 422, (r.status_code, r.get_data(as_text=True)[:1000])
    errors = r.get_json()["errors"]
    assert errors and all(isinstance(e["element"], str) and e["element"] and isinstance(e["message"], str)
                          and e["message"] for e in errors), errors
    assert "root:" not in r.get_data(as_text=True)  # nothing of /etc/passwd ever comes back
    assert stored(app) == before, "a refused upload stored something"
    return errors


def deployed(api, data: bytes, filename: str = "diagram.bpmn") -> dict:
    r = upload(api, "admin", data, filename)
    assert r.status_code == 201, (r.status_code, r.get_json())
    body = r.get_json()
    assert set(body) >= {"key", "version"}
    return body


def _error_for(errors: list[dict], element: str) -> dict:
    matching = [e for e in errors if e["element"] == element]
    assert matching, f"no error names {element!r}: {errors}"
    return matching[0]


# --- valid diagrams and versions --------------------------------------------------------------

def test_valid_diagram_deploys_then_versions(api, app):
    data = renamed("quote_approval_copy").encode()
    api.token("admin")
    defs, audits = stored(app)
    first = deployed(api, data, "quote_approval_copy.bpmn")
    assert (first["key"], first["version"]) == ("quote_approval_copy", 1)
    assert stored(app) == (defs + 1, audits + 1)  # one row and its audit record

    changed = data.replace('name="部门经理审批"'.encode(), 'name="部门经理审批（新）"'.encode())
    assert changed != data
    second = deployed(api, changed, "quote_approval_copy.bpmn")
    assert (second["key"], second["version"]) == ("quote_approval_copy", 2)

    again = deployed(api, changed, "quote_approval_copy.bpmn")  # identical bytes: no new version
    assert (again["key"], again["version"], again.get("id")) == ("quote_approval_copy", 2, second.get("id"))
    assert stored(app) == (defs + 2, audits + 2)

    listed = api.as_("admin").get("/process-definitions").get_json()["items"]
    assert sorted(d["version"] for d in listed if d["key"] == "quote_approval_copy") == [1, 2]


@pytest.mark.parametrize("user", ["rep1", "mgr1"])
def test_only_the_system_admin_may_deploy(api, app, user):
    api.token(user)
    before = stored(app)
    r = upload(api, user, renamed("quote_approval_by_" + user).encode())
    assert r.status_code == 403, r.get_json()
    assert stored(app) == before


def test_upload_without_file_field_names_file(api, app):
    api.token("admin")
    before = stored(app)
    r = api.as_("admin").post("/process-definitions", data={"other": "x"}, content_type="multipart/form-data")
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["element"] == "file"
    assert stored(app) == before


# --- sandbox / trap 1: code in every expression place is refused at upload -------------------

# place: (diagram builder, a harmless value that deploys, the element the error must name)
EXPRESSION_PLACES = {
    "gateway-condition": (with_condition, 'decision == "reject"', "f_mgr_rejected"),
    "script-task": (script_task, "x = 1", "x"),
    "spiff-prescript": (pre_script, "x = 1", "x"),
    "service-task-parameter": (service_task, '"approved"', "x"),
    "timer": (timer, '"PT1H"', "x"),
}


@pytest.mark.parametrize("place", list(EXPRESSION_PLACES))
def test_harmless_expression_deploys(api, place):
    """sandbox / trap 1, the control: the same diagram with a plain expression is accepted."""
    build, harmless, _element = EXPRESSION_PLACES[place]
    deployed(api, build(harmless))


@pytest.mark.parametrize("place", list(EXPRESSION_PLACES))
def test_sandbox_escape_is_refused(api, app, place, tmp_path):
    """sandbox / trap 1: `__import__('os').system(...)` anywhere in a diagram is a 422 naming the element."""
    build, _harmless, element = EXPRESSION_PLACES[place]
    marker = tmp_path / "pwned"
    errors = refused(api, app, build(f"__import__('os').system('touch {marker}')"))
    error = _error_for(errors, element)
    assert error["message"].startswith("expression not allowed") and "__import__" in error["message"]
    assert not marker.exists()


@pytest.mark.parametrize("code", [
    "open('/etc/passwd').read()",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "import os",
    "getattr(decision, '__class__')",
    "eval('1')",
])
def test_other_escapes_in_a_script_task_are_refused(api, app, code):
    """sandbox / trap 1: builtins, dunder walks, lambdas, imports and eval are not in the allow-list."""
    error = _error_for(refused(api, app, script_task(code)), "x")
    assert error["message"].startswith("expression not allowed")


# --- XXE / trap 3 and other files that are not diagrams ---------------------------------------

@pytest.mark.parametrize("data, message", [
    (XXE, "DOCTYPE and ENTITY declarations are not allowed"),
    (BILLION_LAUGHS, "DOCTYPE and ENTITY declarations are not allowed"),
    (OVERSIZED, "the limit is"),
    (b'<?xml version="1.0"?><bpmn:definitions ' + BPMN_NS.encode() + b"><bpmn:process", "malformed XML"),
    (b"", "the file is empty"),
    (b"<html><body>not a diagram</body></html>", "expected BPMN 2.0 or DMN <definitions>"),
    ((CORPUS / "spiff" / "dmn-data__unique_hit.dmn").read_bytes() if (CORPUS / "spiff").is_dir() else b"<x/>",
     "DMN decision file"),
], ids=["xxe-file-etc-passwd", "billion-laughs", "oversized", "malformed", "empty", "not-bpmn-root", "dmn-file"])
def test_hostile_or_foreign_file_is_refused(api, app, data, message):
    """XXE / trap 3: entity declarations, bombs, oversized and malformed files never reach SpiffWorkflow."""
    if message == "DMN decision file" and not (CORPUS / "spiff").is_dir():
        pytest.skip("corpus not available")
    errors = refused(api, app, data)
    assert errors[0]["element"] == "file"
    assert message in errors[0]["message"], errors


# --- diagrams that cannot run here -----------------------------------------------------------

def test_user_task_in_unknown_lane_is_refused(api, app):
    error = _error_for(refused(api, app, user_task("ghost_role")), "x")
    assert "lane 'ghost_role' is not a known role code" in error["message"]
    assert "sales_rep" in error["message"]  # says which roles exist


def test_user_task_without_lane_is_refused(api, app):
    error = _error_for(refused(api, app, user_task(None)), "x")
    assert "must sit in a lane" in error["message"]


@pytest.mark.parametrize("lane", ["sales_rep", "部门经理 (dept_manager)"])
def test_user_task_in_a_known_lane_deploys(api, lane):
    """A lane is a role code, or a readable label with the code in brackets (engine.assignment.lane_role)."""
    deployed(api, user_task(lane))


def test_service_task_with_unknown_connector_is_refused(api, app):
    error = _error_for(refused(api, app, service_task('"approved"', connector="shell.exec")), "x")
    assert "unknown connector 'shell.exec'" in error["message"] and "crm.set_quote_status" in error["message"]


def test_gateway_with_unconditioned_flows_and_no_default_is_refused(api, app):
    error = _error_for(refused(api, app, gateway_without_default()), "gw")
    assert "need a condition" in error["message"] and "f_a" in error["message"]


def test_diagram_without_executable_process_is_refused(api, app):
    errors = refused(api, app, renamed("qa_drawing").replace('isExecutable="true"', 'isExecutable="false"').encode())
    assert errors[0]["element"] == "qa_drawing"  # the process that is not executable is named
    message = errors[0]["message"]
    assert message.startswith("not executable, because") and "'qa_drawing'" in message
    assert 'isExecutable="false"' in message and 'set isExecutable="true"' in message


def test_call_activity_to_a_process_not_in_the_file_is_refused(api, app):
    node = '<bpmn:callActivity id="x" name="Sub" calledElement="not_here" />'
    error = _error_for(refused(api, app, diagram(node)), "x")
    assert "calls process 'not_here', which is not in this file" in error["message"]


def test_user_task_in_a_labelled_unknown_lane_is_refused(api, app):
    error = _error_for(refused(api, app, user_task("幽灵 (ghost_role)")), "x")
    assert "is not a known role code" in error["message"]


@pytest.mark.parametrize("pid", ["qa'x", "q" * 101, "has space", ""], ids=["quote", "too-long", "space", "empty"])
def test_unusable_process_id_is_refused(api, app, pid):
    """Ids become the definition key (100 characters) and were once put into an XPath (a 500 on a quote)."""
    errors = refused(api, app, diagram('<bpmn:userTask id="x" />', lane="sales_rep", pid=_esc(pid)))
    assert "process id" in errors[0]["message"]


def test_overlong_process_name_is_refused(api, app):
    data = renamed("qa_long_name").replace('name="报价审批" isExecutable', f'name="{"名" * 201}" isExecutable')
    error = _error_for(refused(api, app, data.encode()), "qa_long_name")
    assert "the limit is 200" in error["message"]


def test_control_characters_in_the_file_name_are_refused(api, app):
    """A NUL in the multipart file name was stored as is: a 500 on PostgreSQL."""
    errors = refused(api, app, renamed("qa_nul").encode(), filename="a\x00b.bpmn")
    assert errors[0] == {"element": "file", "message": "the file name contains control characters"}


@pytest.mark.parametrize("encoding", ["utf-16", "iso-8859-1"])
def test_diagram_in_another_encoding_deploys(api, encoding):
    text = renamed("qa_" + encoding.replace("-", "_")).replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    if encoding == "iso-8859-1":  # keep only what Latin-1 can hold, with one non-ASCII letter
        text = re.sub(r"[^\x00-\xff]+", "x", text).replace('name="x" isExecutable', 'name="Größe" isExecutable')
    deployed(api, text.encode(encoding))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "iso-8859-1"])
def test_diagram_text_reads_what_the_parser_read(encoding):
    """safe_xml.diagram_text: the text to store, parseable again as UTF-8."""
    text = f'<?xml version="1.0" encoding="ENC"?>\n<bpmn:definitions {BPMN_NS} id="d"><bpmn:process id="p" name="Größe"/>' \
           "</bpmn:definitions>"
    declared = {"utf-8-sig": "UTF-8", "utf-16-le": "UTF-16"}.get(encoding, encoding.upper())
    data = text.replace("ENC", declared).encode(encoding)
    root = parse_diagram_xml(data)
    again = etree.fromstring(diagram_text(data).encode("utf-8"))
    assert again[0].get("name") == root[0].get("name") == "Größe"


# --- robustness: mutated diagrams either deploy or are refused cleanly ------------------------

TRICKY = ["", "'", '"', "x" * 300, "__import__('os')", "${approved}", "= approved", "PT1H", "true", "1e309",
          "\u202e", "名", "-1", "quote_approval", "start", "end_approved", "f_mgr", "gw_mgr", "lane_sales_rep"]


@pytest.mark.parametrize("element", ["mgr_approve", "gw_mgr", "set_approved"])
def test_an_element_with_an_empty_id_is_refused_with_a_named_error(app, element):
    """Found by the mutation test below: an empty id made an error that named no element."""
    session = app.extensions["session_factory"]()
    root = etree.fromstring(renamed("qa_empty_id").encode("utf-8"))
    node = next(n for n in root.iter() if n.get("id") == element)
    node.set("id", "")
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    try:
        with pytest.raises(DiagramError) as caught:
            deploy(session, data, filename="empty-id.bpmn", actor_id=None)
    finally:
        session.rollback()
        session.close()
    assert caught.value.errors and all(e["element"] and e["message"] for e in caught.value.errors)


def test_mutated_quote_approval_is_deployed_or_refused_cleanly(app):
    """Random single edits of the shipped diagram: never an exception other than DiagramError."""
    session = app.extensions["session_factory"]()
    base = etree.fromstring(renamed("qa_mutant").encode("utf-8"))
    count = len(list(base.iter()))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(index=st.integers(0, count - 1), op=st.sampled_from(["drop", "drop-attr", "set-attr", "text"]),
           value=st.sampled_from(TRICKY), pick=st.integers(0, 10))
    def mutate_and_deploy(index, op, value, pick):
        root = etree.fromstring(etree.tostring(base))
        node = list(root.iter())[index]
        attrs = list(node.attrib)
        if op == "drop" and node.getparent() is not None:
            node.getparent().remove(node)
        elif op == "drop-attr" and attrs:
            del node.attrib[attrs[pick % len(attrs)]]
        elif op == "set-attr" and attrs:
            node.set(attrs[pick % len(attrs)], value)
        elif op == "text":
            node.text = value
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        try:
            deploy(session, data, filename="mutant.bpmn", actor_id=None)
            session.flush()
        except DiagramError as exc:
            assert exc.errors and all(e["element"] and e["message"] for e in exc.errors), exc.errors
        finally:
            session.rollback()

    try:
        mutate_and_deploy()
    finally:
        session.close()


# --- the corpus: real diagrams from many tools ------------------------------------------------

def _corpus_files() -> list[Path]:
    return sorted(p for d in ("miwg", "spiff") if (CORPUS / d).is_dir() for p in (CORPUS / d).iterdir()
                  if p.suffix in (".bpmn", ".dmn"))


def test_corpus_deploys_or_is_refused_cleanly(app, capsys):
    """Every MIWG and SpiffWorkflow file: deployed, or DiagramError naming element and message (never a 500)."""
    files = _corpus_files()
    if not files:
        pytest.skip(f"corpus not available at {CORPUS}")
    session = app.extensions["session_factory"]()
    counts: Counter[tuple[str, str]] = Counter()
    outcome: dict[str, list[dict] | None] = {}
    unexpected = []
    try:
        for path in files:
            try:
                deploy(session, path.read_bytes(), filename=path.name, actor_id=None)
                session.flush()
                outcome[path.name] = None
                counts[(path.parent.name, "deployed")] += 1
            except DiagramError as exc:
                outcome[path.name] = exc.errors
                counts[(path.parent.name, "refused")] += 1
                bad = [e for e in exc.errors if not (isinstance(e.get("element"), str) and e["element"].strip()
                                                     and isinstance(e.get("message"), str) and e["message"].strip())]
                if bad or not exc.errors:
                    unexpected.append(f"{path.name}: malformed errors {exc.errors}")
            except Exception as exc:  # noqa: BLE001 - the point: collect every escape, not just the first
                unexpected.append(f"{path.name}: {type(exc).__name__}: {exc}"[:500])
            finally:
                session.rollback()
    finally:
        session.close()
    with capsys.disabled():
        print("\ncorpus deploy: " + ", ".join(f"{d} {k} {n}" for (d, k), n in sorted(counts.items())))
    assert not unexpected, "\n".join(unexpected)
    assert sum(counts.values()) == len(files)

    # Drawings (isExecutable="false" or unset) say so, and why.
    for name, errors in outcome.items():
        if errors and errors[0]["element"] == "file" and "executable" in errors[0]["message"]:
            assert errors[0]["message"].startswith("not executable, because"), (name, errors)
    drawings = [n for n, e in outcome.items() if e and e[0]["message"].startswith("not executable, because")]
    assert len(drawings) >= 100, "most MIWG files are drawings"
    # The files upstream marks invalid are refused; parents of call activities are refused on their own.
    for name in ("bpmn-data-Invalid-Workflows__No-Start-Event.bpmn",
                 "bpmn-data-Invalid-Workflows__non-executable-process.bpmn", "bpmn-data__standard_loop_invalid.bpmn",
                 "bpmn-data__io_spec_parent.bpmn", "spiff-data__prescript_postscript_parent.bpmn"):
        if name in outcome:
            assert outcome[name], f"{name} should be refused"
    for name in ("bpmn-data__io_spec_parent.bpmn", "spiff-data__prescript_postscript_parent.bpmn"):
        if name in outcome:
            assert any("which is not in this file" in e["message"] for e in outcome[name]), outcome[name]


def test_shipped_workflows_deploy(app, api):
    """The diagrams in workflows/ pass the same checks (setup deployed them; deploying again adds nothing)."""
    shipped = sorted(WORKFLOWS_DIR.glob("*.bpmn"))
    assert shipped
    session = app.extensions["session_factory"]()
    try:
        for path in shipped:
            definition = deploy(session, path.read_bytes(), filename=path.name, actor_id=None)
            assert definition.version == 1, path.name
    finally:
        session.rollback()
        session.close()
    keys = {d["key"] for d in api.as_("admin").get("/process-definitions").get_json()["items"]}
    assert "quote_approval" in keys
