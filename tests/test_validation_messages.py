"""Validation messages (issue 5): every kind of problem is listed with the element it concerns and what to fix.

`engine.validation.problems` runs every check and lists every problem at once (a draft shows them all);
`validate` raises the same list for deploy. Each test below builds a small diagram (or mutates the shipped
quote approval) with one kind of problem and checks that the problem names the element and says what to do.
The last tests send hostile files through the draft import (POST /api/v1/drafts/import): each is refused
with a clear reason naming "file", and nothing is stored, not even half.
"""
from __future__ import annotations

import io
import re
import threading
import time

import pytest
from sqlalchemy import func, select

from engine import validation
from engine.definitions import WORKFLOWS_DIR
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError, parse_diagram_xml
from models.audit import AuditLog
from models.org import ROLES
from models.process import ProcessDraft

QUOTE = (WORKFLOWS_DIR / "quote_approval.bpmn").read_text("utf-8")
BPMN_NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
NAMESPACES = (f'{BPMN_NS} xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
              'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
KNOWN_ROLES = set(ROLES)


# --- building diagrams ------------------------------------------------------------------------------------

def definitions(body: str, extra: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NAMESPACES} id="defs" '
            f'targetNamespace="http://crm.example.cn/bpmn">{extra}{body}</bpmn:definitions>').encode()


def process(nodes: str, flows: list[tuple[str, str]] | None = None, *, lane: dict[str, str] | None = None,
            pid: str = "probe", executable: str | None = "true", extra: str = "") -> bytes:
    """A process of `nodes` joined by `flows` [(source, target)]; `lane` = {node id: lane name}."""
    flows = flows or []
    lanes = ""
    if lane:
        by_name: dict[str, list[str]] = {}
        for node, name in lane.items():
            by_name.setdefault(name, []).append(node)
        lanes = '<bpmn:laneSet id="lanes">' + "".join(
            f'<bpmn:lane id="lane_{i}" name="{name}">' + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>"
                                                                for n in nodes_) + "</bpmn:lane>"
            for i, (name, nodes_) in enumerate(by_name.items())) + "</bpmn:laneSet>"
    flag = f' isExecutable="{executable}"' if executable is not None else ""
    sequence = "".join(f'<bpmn:sequenceFlow id="f_{s}_{t}" sourceRef="{s}" targetRef="{t}" />' for s, t in flows)
    return definitions(f'<bpmn:process id="{pid}" name="Probe"{flag}>{lanes}{nodes}{sequence}</bpmn:process>', extra)


def around(node: str, node_id: str = "x", **kwargs) -> bytes:
    """start -> `node` (id x) -> end."""
    return process(f'<bpmn:startEvent id="start" />{node}<bpmn:endEvent id="end" />',
                   [("start", node_id), (node_id, "end")], **kwargs)


def user_task(task_id: str = "x") -> str:
    return f'<bpmn:userTask id="{task_id}" name="Review" />'


def problems_of(data: bytes, **kwargs) -> list[dict]:
    _ids, found = validation.problems(parse_diagram_xml(data), "probe.bpmn", KNOWN_ROLES, **kwargs)
    assert all(isinstance(p["element"], str) and p["element"] and isinstance(p["message"], str) and p["message"]
               for p in found), found
    return found


def problem(found: list[dict], element: str, *phrases: str) -> dict:
    """The problem naming `element` whose message holds every phrase."""
    matching = [p for p in found if p["element"] == element and all(ph in p["message"] for ph in phrases)]
    assert matching, f"no problem names {element!r} with {phrases}: {found}"
    return matching[0]


def quote(*replacements: tuple[str, str], pid: str = "qa_probe") -> bytes:
    text = QUOTE.replace('id="quote_approval" ', f'id="{pid}" ').replace('processRef="quote_approval"',
                                                                        f'processRef="{pid}"')
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


# --- the control, and everything at once ------------------------------------------------------------------

def test_a_correct_diagram_has_no_problems():
    assert problems_of(around(user_task(), lane={"x": "sales_rep"})) == []
    assert problems_of(quote()) == []


def test_every_problem_is_listed_at_once_not_only_the_first_stage():
    """Before, validation stopped at the first failing stage (ids, then expressions, then structure, then the
    parser); a draft now lists everything, and deploy's DiagramError carries the same list."""
    data = quote(('value="&#34;approved&#34;"', 'value="__import__(&#34;os&#34;)"'),  # expression
                 ('<bpmn:lane id="lane_vice_president" name="副总裁 (vice_president)">',
                  '<bpmn:lane id="lane_vice_president" name="ghost_role">'),  # structure: lane
                 ('<bpmn:exclusiveGateway id="gw_pa" name="助理意见与折扣" default="f_pa_approved">',
                  '<bpmn:exclusiveGateway id="gw_pa" name="助理意见与折扣">'))  # structure: gateway
    found = problems_of(data)
    problem(found, "set_approved", "expression not allowed")
    problem(found, "vp_approve", "lane 'ghost_role' is not a known role code")
    problem(found, "gw_pa", "f_pa_approved", "need a condition")
    with pytest.raises(DiagramError) as refused:
        validation.validate(parse_diagram_xml(data), "probe.bpmn", KNOWN_ROLES)
    assert refused.value.errors == found


def test_a_huge_drawing_gives_a_bounded_list():
    tasks = "".join(f'<bpmn:task id="t{i}" />' for i in range(300))
    found = problems_of(process('<bpmn:startEvent id="start" />' + tasks, [("start", "t0")], executable="false"))
    assert len(found) == validation.MAX_PROBLEMS
    assert found[-1]["element"] == "file" and "more problems" in found[-1]["message"]


# --- not executable, because ... ------------------------------------------------------------------------

@pytest.mark.parametrize("flag, said", [("false", 'has isExecutable="false"'), (None, "does not set isExecutable")])
def test_a_drawing_says_not_executable_because_for_each_process_and_lists_the_rest(flag, said):
    data = process('<bpmn:startEvent id="start" /><bpmn:task id="draw_task" /><bpmn:endEvent id="end" />',
                   [("start", "draw_task"), ("draw_task", "end")], pid="drawn", executable=flag)
    found = problems_of(data)
    first = found[0]
    assert first["element"] == "drawn"
    assert first["message"].startswith("not executable, because process 'drawn' (Probe) " + said)
    assert 'set isExecutable="true"' in first["message"]
    problem(found, "draw_task", "must sit in a lane named after a role")  # checked as if it were to run


def test_a_file_without_any_process_says_so():
    data = definitions('<bpmn:collaboration id="c"><bpmn:participant id="p" name="Customer" /></bpmn:collaboration>')
    assert problems_of(data) == [{"element": "file", "message": problems_of(data)[0]["message"]}]
    assert problems_of(data)[0]["message"].startswith("not executable, because the file contains no <process>")


def test_a_drawing_without_problems_of_its_own_still_meets_spiffworkflows_parser():
    """A drawing our checks pass is built by SpiffWorkflow as if executable, so its only problem is the flag."""
    found = problems_of(around(user_task(), lane={"x": "sales_rep"}, executable="false"))
    assert [p["element"] for p in found] == ["probe"]


# --- flow ----------------------------------------------------------------------------------------------------

def test_a_task_with_several_outgoing_flows_must_use_a_gateway():
    data = process('<bpmn:startEvent id="start" /><bpmn:userTask id="x" /><bpmn:endEvent id="a" />'
                   '<bpmn:endEvent id="b" />', [("start", "x"), ("x", "a"), ("x", "b")], lane={"x": "sales_rep"})
    found = problem(problems_of(data), "x", "may not have several outgoing flows", "f_x_a, f_x_b", "add a gateway")
    assert found["message"].startswith("a user task may not")


def test_a_start_event_and_a_parallel_gateway_may_split():
    data = process('<bpmn:startEvent id="start" /><bpmn:parallelGateway id="split" /><bpmn:endEvent id="a" />'
                   '<bpmn:endEvent id="b" />', [("start", "split"), ("split", "a"), ("split", "b")])
    assert problems_of(data) == []


@pytest.mark.parametrize("gateway", ["exclusiveGateway", "inclusiveGateway"])
def test_a_gateway_whose_flows_lack_conditions(gateway):
    data = process(f'<bpmn:startEvent id="start" /><bpmn:{gateway} id="gw" /><bpmn:endEvent id="a" />'
                   '<bpmn:endEvent id="b" />', [("start", "gw"), ("gw", "a"), ("gw", "b")])
    found = problem(problems_of(data), "gw", "f_gw_a, f_gw_b", "need a condition", "default flow")
    assert 'decision == "approve"' in found["message"]  # an example of what to write


def test_a_process_without_a_start_event():
    found = problems_of(process(f'{user_task()}<bpmn:endEvent id="end" />', [("x", "end")], lane={"x": "sales_rep"}))
    problem(found, "probe", "no start event", "add one")


@pytest.mark.parametrize("inner, said", [
    ('<bpmn:task id="inner" />', "needs exactly one start event inside it; it has 0"),
    (('<bpmn:startEvent id="s2" /><bpmn:task id="inner" />'
      '<bpmn:sequenceFlow id="g" sourceRef="s2" targetRef="inner" />'), "needs an end event inside it"),
], ids=["no-start", "no-end"])
def test_a_subprocess_without_start_or_end(inner, said):
    found = problems_of(around(f'<bpmn:subProcess id="x">{inner}</bpmn:subProcess>'), lanes=False)
    problem(found, "x", said)


def test_a_sequence_flow_to_nowhere_or_across_a_subprocess_border():
    data = process('<bpmn:startEvent id="start" /><bpmn:subProcess id="sub"><bpmn:startEvent id="s2" />'
                   '<bpmn:endEvent id="e2" /><bpmn:sequenceFlow id="inside" sourceRef="s2" targetRef="end" />'
                   '</bpmn:subProcess><bpmn:endEvent id="end" />', [("start", "sub"), ("sub", "ghost")])
    found = problems_of(data)
    problem(found, "f_sub_ghost", "leads to 'ghost', which is not in this file")
    problem(found, "inside", "cannot cross a subprocess border")


def test_an_element_the_engine_does_not_run():
    data = around('<bpmn:complexGateway id="x" />')
    problem(problems_of(data), "x", "a complex gateway is not supported", "use an inclusive gateway")


def test_elements_sharing_an_id():
    data = around('<bpmn:task id="x" /><bpmn:task id="x" />')
    problem(problems_of(data, lanes=False), "x", "2 elements share the id 'x'", "give each its own id")


@pytest.mark.parametrize("pid", ["has space", "q" * 101, "o'neil"])
def test_an_unusable_process_id(pid):
    found = problems_of(around(user_task(), lane={"x": "sales_rep"}, pid=pid.replace("'", "&apos;")))
    assert "process id" in found[0]["message"] and "letters, digits" in found[0]["message"]


# --- events --------------------------------------------------------------------------------------------------

def test_a_timer_without_a_time():
    data = around('<bpmn:intermediateCatchEvent id="x"><bpmn:timerEventDefinition id="x_def" />'
                  "</bpmn:intermediateCatchEvent>")
    found = problem(problems_of(data), "x", "the timer has no time")  # the event, not its definition
    assert '"PT2H"' in found["message"] and "in quotes" in found["message"]


def test_a_timer_written_bare_must_be_quoted():
    data = around('<bpmn:intermediateCatchEvent id="x"><bpmn:timerEventDefinition id="x_def">'
                  '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT2H</bpmn:timeDuration>'
                  "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
    problem(problems_of(data), "x", "timer value PT2H must be a Python expression", '"PT2H"')


@pytest.mark.parametrize("definition, said", [
    ("", "give it a timer, a message, a signal or a condition"),
    ('<bpmn:linkEventDefinition id="l" name="go" />', "link events are not supported"),
], ids=["empty", "link"])
def test_a_catch_event_that_waits_for_nothing(definition, said):
    data = around(f'<bpmn:intermediateCatchEvent id="x">{definition}</bpmn:intermediateCatchEvent>')
    problem(problems_of(data), "x", "does not wait for anything the engine knows", said)


def test_a_conditional_event_without_a_condition():
    data = around('<bpmn:intermediateCatchEvent id="x"><bpmn:conditionalEventDefinition id="c" />'
                  "</bpmn:intermediateCatchEvent>")
    problem(problems_of(data), "x", "has no condition", "amount > 1000")


@pytest.mark.parametrize("kind, attr", [("message", "messageRef"), ("signal", "signalRef"),
                                        ("error", "errorRef"), ("escalation", "escalationRef")])
def test_an_event_referring_to_an_undeclared_message_or_signal(kind, attr):
    tag = "intermediateThrowEvent" if kind in ("signal", "escalation", "message") else "endEvent"
    data = process(f'<bpmn:startEvent id="start" /><bpmn:{tag} id="x"><bpmn:{kind}EventDefinition id="d" '
                   f'{attr}="ghost_{kind}" /></bpmn:{tag}><bpmn:endEvent id="end" />',
                   [("start", "x")] + ([("x", "end")] if tag != "endEvent" else []),
                   extra="", pid="probe")
    data = data.replace(b"<bpmn:process", f'<bpmn:{kind} id="known_{kind}" name="k" /><bpmn:process'.encode(), 1)
    found = problem(problems_of(data), "x", f"refers to {kind} 'ghost_{kind}', which is not declared in this file")
    assert f'<bpmn:{kind} id="ghost_{kind}"' in found["message"] and f"known_{kind}" in found["message"]


def test_a_boundary_event_attached_to_nothing():
    data = around(user_task() + '<bpmn:boundaryEvent id="b" attachedToRef="ghost"><bpmn:timerEventDefinition>'
                  '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>',
                  lane={"x": "sales_rep"})
    problem(problems_of(data), "b", "attached to 'ghost'", "attach it to a task or subprocess")


# --- tasks ---------------------------------------------------------------------------------------------------

def test_a_user_task_outside_the_lanes():
    found = problem(problems_of(around(user_task())), "x", "a user task must sit in a lane named after a role")
    assert "sales_rep" in found["message"]  # the roles that exist


@pytest.mark.parametrize("lane, said", [("ghost_role", "lane 'ghost_role' is not a known role code"),
                                        ("", "has no name; name it after a role")], ids=["unknown", "unnamed"])
def test_a_user_task_in_a_lane_that_is_not_a_role(lane, said):
    found = problem(problems_of(around(user_task(), lane={"x": lane})), "x", said)
    assert "dept_manager" in found["message"]


@pytest.mark.parametrize("kind, said", [("manualTask", "a manual task"),
                                        ("task", "a plain task (a step done by a person)")])
def test_manual_and_plain_tasks_need_a_lane_too(kind, said):
    problem(problems_of(around(f'<bpmn:{kind} id="x" />')), "x", said, "must sit in a lane")


def test_the_lane_rule_can_be_left_out_for_the_corpus_run():
    assert problems_of(around(user_task()), lanes=False) == []


def test_a_service_task_without_a_connector():
    problem(problems_of(around('<bpmn:serviceTask id="x" />')), "x", "must name a connector")


def test_a_service_task_with_an_unknown_connector_or_wrong_parameters():
    def service(connector: str, params: str) -> bytes:
        return around(f'<bpmn:serviceTask id="x"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator '
                      f'id="{connector}"><spiffworkflow:parameters>{params}</spiffworkflow:parameters>'
                      "</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>")
    problem(problems_of(service("bamboohr/GetPayRate", "")), "x", "unknown connector 'bamboohr/GetPayRate'",
            "crm.set_quote_status")
    found = problems_of(service("crm.set_quote_status", '<spiffworkflow:parameter id="colour" value="1" />'))
    problem(found, "x", "has no parameter(s) ['colour']")
    problem(found, "x", "needs parameter(s) ['status']")


@pytest.mark.parametrize("called, said", [("not_here", "calls process 'not_here', which is not in this file"),
                                          ("", "does not say which process it calls")], ids=["missing", "unset"])
def test_a_call_activity_to_a_missing_process(called, said):
    problem(problems_of(around(f'<bpmn:callActivity id="x" calledElement="{called}" />')), "x", said)


def test_a_script_task_without_a_script():
    problem(problems_of(around('<bpmn:scriptTask id="x" />')), "x", "has no script", "make it a plain task")


@pytest.mark.parametrize("characteristics, said", [
    ("<bpmn:multiInstanceLoopCharacteristics />", "needs a loop cardinality"),
    (("<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality>"
      "<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef></bpmn:multiInstanceLoopCharacteristics>"), "keep one"),
    ("<bpmn:standardLoopCharacteristics />", "a loop needs a loop condition"),
    ('<bpmn:standardLoopCharacteristics loopMaximum="many" />', "must be a whole number"),
], ids=["mi-nothing", "mi-both", "loop-nothing", "loop-maximum"])
def test_loop_and_multi_instance_settings(characteristics, said):
    data = around(f'<bpmn:userTask id="x">{characteristics}</bpmn:userTask>', lane={"x": "sales_rep"})
    problem(problems_of(data), "x", said)


# --- data ------------------------------------------------------------------------------------------------------

def test_data_stores_are_named_with_what_to_do_instead():
    data = process('<bpmn:startEvent id="start" /><bpmn:dataStoreReference id="store_ref" dataStoreRef="store" />'
                   '<bpmn:endEvent id="end" />', [("start", "end")],
                   extra='<bpmn:dataStore id="store" name="Customer DB" />')
    found = problems_of(data)
    problem(found, "store_ref", "data store", "process variables")
    problem(found, "store", "data store 'Customer DB'", "remove it")


@pytest.mark.parametrize("ref, said", [("ghost", "which is not a data object reference"),
                                       ("obj", "which is a data object itself")])
def test_a_data_association_to_something_that_is_not_a_data_object_reference(ref, said):
    data = around(f'<bpmn:dataObject id="obj" /><bpmn:task id="x"><bpmn:dataOutputAssociation id="a">'
                  f"<bpmn:targetRef>{ref}</bpmn:targetRef></bpmn:dataOutputAssociation></bpmn:task>")
    problem(problems_of(data, lanes=False), "x", said, "data object reference")


def test_a_data_object_declared_two_levels_up_is_refused_instead_of_hanging():
    """SpiffWorkflow 3.2.0 loops forever on this (it looks for the data object in the subprocess, then in its
    parent, then in the parent again ...): deploy used to hang. Our check names the task first."""
    inner = ('<bpmn:subProcess id="sub2"><bpmn:startEvent id="s3" /><bpmn:task id="deep">'
             '<bpmn:dataOutputAssociation id="a"><bpmn:targetRef>ref</bpmn:targetRef></bpmn:dataOutputAssociation>'
             '</bpmn:task><bpmn:endEvent id="e3" /><bpmn:sequenceFlow id="g1" sourceRef="s3" targetRef="deep" />'
             '<bpmn:sequenceFlow id="g2" sourceRef="deep" targetRef="e3" /></bpmn:subProcess>')
    sub = ('<bpmn:subProcess id="x"><bpmn:startEvent id="s2" />' + inner + '<bpmn:endEvent id="e2" />'
           '<bpmn:sequenceFlow id="h1" sourceRef="s2" targetRef="sub2" />'
           '<bpmn:sequenceFlow id="h2" sourceRef="sub2" targetRef="e2" /></bpmn:subProcess>')
    data = around('<bpmn:dataObject id="top" /><bpmn:dataObjectReference id="ref" dataObjectRef="top" />' + sub)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(problems_of(data, lanes=False)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert result, "validation did not return (SpiffWorkflow's data object lookup loops)"
    problem(result[0], "deep", "data object 'top'", "not declared in this subprocess or the one around it")


# --- expressions -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, hint", [
    ("${approved}", "JUEL expression (Camunda)"),
    ("= approved", "FEEL expression"),
    ("approved ==", "conditions, timers and scripts are Python"),
], ids=["juel", "feel", "broken-python"])
def test_an_expression_from_another_tool(expression, hint):
    data = quote(('decision == "reject"', expression.replace("&", "&amp;")))
    found = problem(problems_of(data), "f_mgr_rejected", "is not valid Python", hint)
    assert "amount > 1000" in found["message"] or "decision ==" in found["message"]


def test_an_expression_the_sandbox_refuses():
    data = quote(('decision == "reject"', "__import__('os').system('id')"))
    problem(problems_of(data), "f_mgr_rejected", "expression not allowed", "__import__")


# --- what SpiffWorkflow says is said in plain words ------------------------------------------------------------

@pytest.mark.parametrize("spiff, plain", [
    ("Multiple outgoing flows are not supported for tasks of type", "use a gateway"),
    ("Time Specification Error. Unknown Time Specification", "the timer has no time"),
    ("Data Store with name Customer DB has no implementation", "data stores are not supported"),
    ("TypeError(\"NodeParser.raise_validation_exception() got an unexpected keyword argument 'node'\")",
     "not declared in this file"),
    ("Something new. With details", "Something new"),
])
def test_spiffworkflow_messages_are_translated(spiff, plain):
    assert plain in validation._spiff_message(spiff)


# --- hostile files through the draft import: refused, named "file", nothing stored -----------------------------

def _stored(app) -> tuple[int, int]:
    with app.extensions["session_factory"]() as session:
        return (session.scalar(select(func.count()).select_from(ProcessDraft)),
                session.scalar(select(func.count()).select_from(AuditLog)))


def _import(api, files: list[tuple[bytes, str]], user: str = "designer1"):
    return api.as_(user).post("/drafts/import", data={"files": [(io.BytesIO(d), n) for d, n in files]},
                              content_type="multipart/form-data")


XXE = definitions("").replace(b"<bpmn:definitions", b'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                              b"\n<bpmn:definitions", 1).replace(b"</bpmn:definitions>",
                                                                 b"<bpmn:documentation>&xxe;</bpmn:documentation>"
                                                                 b"</bpmn:definitions>")
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
          + b"".join(f'<!ENTITY a{i} "{("&a" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
                     for i in range(1, 10))
          + b"]>\n<bpmn:definitions " + BPMN_NS.encode() + b">&a9;</bpmn:definitions>")
HOSTILE = {
    "xxe": (XXE, "DOCTYPE and ENTITY declarations are not allowed"),
    "billion-laughs": (LAUGHS, "DOCTYPE and ENTITY declarations are not allowed"),
    "huge": (around(user_task(), lane={"x": "sales_rep"}).replace(
        b"<bpmn:process", b"<bpmn:documentation>" + b"x" * (MAX_DIAGRAM_BYTES + 10) + b"</bpmn:documentation>"
        b"<bpmn:process", 1), "the limit is"),
    "not-xml": (b"PK\x03\x04 this is a zip, not a diagram", "malformed XML"),
    "empty": (b"", "the file is empty"),
    "wrong-root": (b"<html><body>hello</body></html>", "expected BPMN 2.0 or DMN <definitions>"),
    "utf-32": ("<bpmn:definitions/>".encode("utf-32"), "UTF-32"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_upload_through_the_draft_import_is_refused_and_nothing_is_stored(api, app, name):
    data, said = HOSTILE[name]
    api.token("designer1")
    before = _stored(app)
    r = _import(api, [(data, f"{name}.bpmn")])
    assert r.status_code in (201, 422), (r.status_code, r.get_data(as_text=True)[:500])
    body = r.get_data(as_text=True)
    assert "root:" not in body  # nothing of /etc/passwd comes back
    if r.status_code == 201:
        [item] = r.get_json()["items"]
        assert item["draft_id"] is None and item["executable"] is False
        problems = item["problems"]
    else:
        problems = r.get_json().get("errors") or [{"element": "file", "message": r.get_json()["message"]}]
    assert problems[0]["element"] == "file" and said in problems[0]["message"], problems
    assert _stored(app) == before, "a refused file stored something"


def test_a_hostile_file_among_good_ones_is_refused_alone(api, app):
    api.token("designer1")
    drafts, _audits = _stored(app)
    r = _import(api, [(quote(pid="qa_good_1"), "a.bpmn"), (XXE, "xxe.bpmn"), (quote(pid="qa_good_2"), "b.bpmn")])
    assert r.status_code == 201, r.get_json()
    items = r.get_json()["items"]
    assert [i["draft_id"] is not None for i in items] == [True, False, True]
    assert [i["executable"] for i in items] == [True, False, True]
    assert _stored(app)[0] == drafts + 2


def test_a_dmn_file_named_bpmn_is_recognised_as_a_decision_table(api):
    """A DMN file given as .bpmn is stored as what it is (kind dmn), never parsed as a process."""
    dmn = (b'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
           b'id="d" name="D" namespace="x"><decision id="dec" name="Dec"><decisionTable id="t">'
           b'<input id="i" label="amount"><inputExpression id="ie" typeRef="number"><text>amount</text>'
           b'</inputExpression></input><output id="o" name="level" typeRef="string" />'
           b'<rule id="r"><inputEntry id="e"><text>&gt; 100</text></inputEntry><outputEntry id="oe"><text>"high"</text>'
           b"</outputEntry></rule></decisionTable></decision></definitions>")
    r = _import(api, [(dmn, "decision.bpmn")])
    assert r.status_code == 201, r.get_json()
    [item] = r.get_json()["items"]
    assert item["kind"] == "dmn" and item["draft_id"] is not None, item
    with pytest.raises(DiagramError) as refused:  # and deploy, which takes processes only, says what it is
        validation.validate(parse_diagram_xml(dmn), "decision.bpmn", KNOWN_ROLES)
    assert "this is a DMN decision file" in refused.value.errors[0]["message"]


def test_import_problems_match_what_validate_says_later(api):
    """The problems stored with an imported draft are the ones POST /drafts/{id}/validate gives."""
    data = around(user_task() + '<bpmn:serviceTask id="svc" />', lane={"x": "ghost_role"})
    r = _import(api, [(data, "probe.bpmn")])
    [item] = r.get_json()["items"]
    assert item["executable"] is False
    assert {p["element"] for p in item["problems"]} >= {"x", "svc"}
    checked = api.as_("designer1").post(f"/drafts/{item['draft_id']}/validate").get_json()
    assert checked["problems"] == item["problems"]
    assert re.search(r"lane 'ghost_role'", checked["problems"][0]["message"] + checked["problems"][1]["message"])


# --- cost: a hostile file must not keep a worker busy ---------------------------------------------------------

def test_too_many_processes_are_refused_before_any_work():
    data = definitions("".join(f'<bpmn:process id="p{i}" isExecutable="true"><bpmn:startEvent id="s{i}" />'
                               "</bpmn:process>" for i in range(validation.MAX_PROCESSES + 1)))
    assert problems_of(data) == [{"element": "file", "message": f"the file has {validation.MAX_PROCESSES + 1} "
                                  f"processes; the limit is {validation.MAX_PROCESSES}: split it into several files"}]


@pytest.mark.parametrize("shape", ["processes", "gateways", "chain"])
def test_checking_a_large_file_takes_seconds_not_minutes(shape):
    """Found while building the checks: indexes rebuilt per process made 6,000 tiny processes take 200 s."""
    if shape == "processes":
        body = "".join(f'<bpmn:process id="p{i}"><bpmn:startEvent id="s{i}" /><bpmn:task id="t{i}" />'
                       f'<bpmn:sequenceFlow id="f{i}" sourceRef="s{i}" targetRef="t{i}" /></bpmn:process>'
                       for i in range(validation.MAX_PROCESSES))
    elif shape == "gateways":
        body = ('<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" />'
                + "".join(f'<bpmn:exclusiveGateway id="g{i}" />' for i in range(4000))
                + "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="g{i % 50}" targetRef="g{i}" />'
                          for i in range(4000)) + "</bpmn:process>")
    else:  # a chain too long for SpiffWorkflow's recursive build
        body = ('<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" />'
                '<bpmn:sequenceFlow id="fs" sourceRef="s" targetRef="t0" />'
                + "".join(f'<bpmn:intermediateThrowEvent id="t{i}" />' for i in range(5000))
                + "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="t{i}" targetRef="t{i + 1}" />'
                          for i in range(4999)) + "</bpmn:process>")
    started = time.monotonic()
    found = problems_of(definitions(body))
    assert time.monotonic() - started < 10
    assert found and len(found) <= validation.MAX_PROBLEMS
    if shape == "gateways":
        assert "and 70 more need a condition" in problem(found, "g0", "need a condition")["message"]
    if shape == "chain":
        assert "too long for the engine to build" in found[0]["message"]
