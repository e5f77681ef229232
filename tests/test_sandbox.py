"""Escape tests for the expression sandbox (architecture rule: trap 1 in spiffworkflow-notes.md).

Everything a diagram holds (conditions, scripts, DMN cells, timers, service parameters)
is Python written by whoever uploads it; none of it may reach the server.
"""
from __future__ import annotations

import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.safe_xml import parse_diagram_xml
from engine.sandbox import (
    SandboxEnvironment,
    SandboxScriptEngine,
    SandboxViolation,
    check_dmn_input_entry,
    check_source,
)

DATA = {"x": 1, "y": True, "z": 2, "d": {"k": 5}, "items": [1, 2], "s": "abc"}

ESCAPE_EXPRESSIONS = [
    "__import__('os').system('id')",
    "().__class__.__mro__[1].__subclasses__()",
    "''.__class__",
    "(x for x in []).gi_frame.f_back",
    "[].__class__.__base__",
    "(lambda: 1)()",
    "[c for c in ().__class__.__bases__[0].__subclasses__()]",
    "{k: 1 for k in 'ab'}",
    '"{0.__class__}".format(1)',
    "'{}'.format_map(d)",
    "getattr(1, '__class__')",
    "eval('1')",
    "exec('x=1')",
    "compile('1', 'f', 'eval')",
    "open('/etc/passwd')",
    "globals()",
    "vars()",
    "locals()",
    "type(1)",
    "breakpoint()",
    "dir()",
    "help",
    "__builtins__",
    "f\"{x.__class__}\"",
    "f\"{x!r:{s}}\"",
    "(w := 1)",
    "d.gi_frame",
    "s.upper",  # bound methods may only be called, not passed around
    "dict.mro()",
    "max.__self__",
    "items[0]()",
    "len(*items)",
    "dict(**d)",
    "{**d}",
    "b'bytes'",
    "x.real",
]


@pytest.mark.parametrize("expression", ESCAPE_EXPRESSIONS)
def test_escape_expressions_are_refused(expression: str) -> None:
    """sandbox / trap 1: attribute walks, frames, builtins and code objects are refused before running."""
    with pytest.raises(SandboxViolation) as info:
        SandboxEnvironment().evaluate(expression, dict(DATA))
    assert info.value.expression == expression
    assert info.value.reason and str(info.value) == info.value.reason
    with pytest.raises(SandboxViolation):
        check_source(expression, "eval")


ESCAPE_SCRIPTS = [
    "import os",
    "from os import system",
    "def f():\n    pass",
    "class A:\n    pass",
    "while True:\n    pass",
    "try:\n    x = 1\nexcept Exception:\n    pass",
    "with d:\n    pass",
    "del x",
    "global x",
    "async def f():\n    pass",
    "raise ValueError()",
    "x: int = 1",
    "len = 3",
    "x = 1\nos = __import__('os')",
    "for __x in items:\n    pass",
    "d.__class__ = 1",
    "x = [y for y in items]",
    "x = (lambda: 1)",
]


@pytest.mark.parametrize("script", ESCAPE_SCRIPTS)
def test_escape_scripts_are_refused(script: str) -> None:
    """sandbox / trap 1: statements that define code, import or loop unboundedly are refused."""
    context = dict(DATA)
    with pytest.raises(SandboxViolation):
        SandboxEnvironment().execute(script, context)
    assert context == DATA  # nothing written back


def test_violation_messages_are_clear() -> None:
    """sandbox / trap 1: the reason names what was refused, in English."""
    cases = {
        "''.__class__": "attribute names starting with '_' are not allowed: __class__",
        "__import__('os')": "names starting with '_' are not allowed: __import__",
        "(lambda: 1)()": "lambda expressions are not allowed",
        "type(1)": "calling 'type' is not allowed",
        '"{0.__class__}".format(1)': "attribute or method '.format' is not allowed",
    }
    for expression, reason in cases.items():
        with pytest.raises(SandboxViolation) as info:
            check_source(expression, "eval")
        assert info.value.reason == reason
    with pytest.raises(SandboxViolation, match="syntax error on line 2") as info:
        check_source("x = 1\ny = (", "exec")
    assert info.value.lineno == 2


def test_payload_never_runs(tmp_path: Path) -> None:
    """sandbox / trap 1: the os.system payload is refused and the marker file is never created."""
    marker = tmp_path / "marker"
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"().__class__.__base__.__subclasses__()[0].__init__.__globals__['sys'].modules['os'].system('touch {marker}')",
    ]
    for payload in payloads:
        with pytest.raises(SandboxViolation):
            SandboxEnvironment().evaluate(payload, {})
        with pytest.raises(SandboxViolation):
            SandboxEnvironment().execute(f"x = {payload}", {})
    assert not marker.exists()


DOS_EXPRESSIONS = [
    "9**9**9",
    "2**10**6",
    "'a'*10**9",
    "[0]*10**9",
    "10**9*'a'",
    "[[0]*1000]*1000*1000",
    "list(range(10**12))",
    "range(10**12)",
    "round(1, -10**9)",
    "'%999999999d' % 1",
    "f\"{x:999999999}\"",
    "(s*100000).replace('', s*100000)",
    "('a'*1000000).join([s]*100)",
    "sum([items]*1000, [])",
    "str([s*100000]*100)",
    "f\"{[s*100000]*100}\"",
]


@pytest.mark.parametrize("expression", DOS_EXPRESSIONS)
def test_resource_bombs_are_refused(expression: str) -> None:
    """sandbox / trap 1: one-step memory/CPU bombs raise instead of allocating."""
    with pytest.raises(SandboxViolation):
        SandboxEnvironment().evaluate(expression, dict(DATA))


def test_source_size_and_nesting_are_bounded() -> None:
    """sandbox / trap 1: huge or absurdly nested sources are refused instead of crashing the checker."""
    for source, reason in [
        ("x + " * 3000 + "x", "longer than 10,000 characters"),
        ("x" + "+x" * 1500, "more than 2,000 syntax nodes"),
        ("-" * 900 + "1", "nested too deeply"),
        ("(" * 300 + "1" + ")" * 300, "syntax error"),
        ("1" * 5000, "syntax error"),
    ]:
        with pytest.raises(SandboxViolation, match=reason):
            SandboxEnvironment().evaluate(source, {"x": 1})


def test_loops_are_bounded() -> None:
    """sandbox / trap 1: nested loops hit the iteration budget; appending inside a loop cannot extend it."""
    with pytest.raises(SandboxViolation, match="iterations") as info:
        SandboxEnvironment().execute("for i in range(10000):\n    for j in range(10000):\n        pass", {})
    assert info.value.lineno == 2
    context = {"items": [1, 2]}
    SandboxEnvironment().execute("for i in items:\n    items.append(i)", context)
    assert context["items"] == [1, 2, 1, 2]


def test_shared_structure_bomb_is_refused() -> None:
    """sandbox / trap 1: a structure doubling by shared references cannot be left in task data."""
    context: dict = {}
    with pytest.raises(SandboxViolation, match="larger than"):
        SandboxEnvironment().execute("l = [1]\nfor i in range(60):\n    l = [l, l]", context)
    assert context == {}


def test_task_data_cannot_smuggle_builtins() -> None:
    """sandbox / trap 1: task data cannot replace the allow-listed functions or the empty builtins."""
    context = {"len": "not a function", "__builtins__": __builtins__}
    assert SandboxEnvironment().evaluate("len(items)", {**context, "items": [1, 2, 3]}) == 3
    with pytest.raises(NameError):
        SandboxEnvironment().evaluate("[id, zip]", context)  # real builtins stay out of reach


@pytest.mark.parametrize(("expression", "expected"), [
    ("discount < 0.5", True),
    ('decision == "approve"', True),
    ("amount <= 200000 and standard_template", True),
    ("x if y else z", 1),
    ("len(items) > 0", True),
    ("max(a, b)", 7),
    ('"gold" in tags', True),
    ('data.get("k", 1)', 1),
    ('data.get("missing") is None', True),
    ('f"{name} ordered {qty} at {price:.2f}"', "Ann ordered 3 at 2.50"),
    ("round(price * qty, 1)", 7.5),
    ("sorted(tags)[0].upper()", "GOLD"),
    ("sum([1, 2.5])", 3.5),
    ("'P3D'", "P3D"),
    ("2 ** 10", 1024),
    ("1.05 ** 360 > 1", True),
    ("list(range(3))", [0, 1, 2]),
    ("[a, b][1:]", [7]),
    ('{"a": a}["a"]', 3),
    ('created >= "2024-01-01T00:00:00"', True),
    ('", ".join(tags)', "gold, vip"),
    ("'x' * 3", "xxx"),
    ("int('42') + float('0.5')", 42.5),
    ("not y or any([False, True])", True),
])
def test_typical_diagram_expressions(expression: str, expected: object) -> None:
    """sandbox / trap 1: the expressions real diagrams use still work."""
    data = {
        "discount": 0.3, "decision": "approve", "amount": 150000, "standard_template": True,
        "x": 1, "y": True, "z": 2, "items": [1], "a": 3, "b": 7, "tags": ["gold", "vip"],
        "data": {}, "name": "Ann", "qty": 3, "price": 2.5, "created": "2024-03-05T10:00:00",
    }
    assert SandboxEnvironment().evaluate(expression, data) == expected


def test_script_writes_back_into_context() -> None:
    """sandbox / trap 1: scripts assign task data like TaskDataEnvironment, minus helpers and builtins."""
    context = {"price": 2.5, "qty": 4, "lines": []}
    SandboxEnvironment().execute(
        'total = price * qty\nstatus = "ok"\nlines.append(total)\nif total > 5:\n    big = True\n'
        "count = 0\nfor line in lines:\n    count += 1\nmeta = {}\nmeta['n'] = count",
        context,
    )
    assert context == {"price": 2.5, "qty": 4, "lines": [10.0], "total": 10.0, "status": "ok",
                       "big": True, "count": 1, "line": 10.0, "meta": {"n": 1}}


def test_external_context_is_not_written_back() -> None:
    """sandbox / trap 1: external context (data objects, DMN input) is readable but not copied into task data."""
    context = {"a": 1}
    SandboxEnvironment().execute("b = a + ext", context, {"ext": 2})
    assert context == {"a": 1, "b": 3}
    assert SandboxEnvironment().evaluate("dmninputexpr < 0.45", {}, {"dmninputexpr": 0.3}) is True
    with pytest.raises(ValueError, match="overwrites"):
        SandboxEnvironment().execute("b = 1", {"ext": 1}, {"ext": 2})


def test_extra_trusted_functions() -> None:
    """sandbox / trap 1: application functions can be added by name; unknown calls stay refused."""
    env = SandboxEnvironment({"today": lambda: "2024-01-01"})
    assert env.evaluate("today()", {}) == "2024-01-01"
    with pytest.raises(SandboxViolation):
        SandboxEnvironment().evaluate("today()", {})
    with pytest.raises(ValueError):
        SandboxEnvironment({"_hidden": print})


def test_validate_keeps_syntax_error_for_dmn() -> None:
    """sandbox / trap 1: validate() raises SyntaxError for unary tests (DMNEngine.needs_eq relies on it)."""
    engine = SandboxScriptEngine()
    with pytest.raises(SyntaxError):
        engine.validate("< 0.45")
    engine.validate("v < 0.45")
    engine.validate('"a", "b"')
    with pytest.raises(SandboxViolation):
        engine.validate("''.__class__")
    check_dmn_input_entry(">= 100")
    check_dmn_input_entry('"gold"')
    with pytest.raises(SandboxViolation):
        check_dmn_input_entry("< ''.__class__")


def test_engine_only_accepts_sandbox_environment() -> None:
    """sandbox / trap 1: the engine cannot be built around the unrestricted TaskDataEnvironment."""
    from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment

    with pytest.raises(TypeError):
        SandboxScriptEngine(environment=TaskDataEnvironment())


# --- end to end through SpiffWorkflow ------------------------------------------------

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)

GATEWAY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {ns} id="defs" targetNamespace="http://example.com/bpmn">
  <bpmn:process id="gw" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="set" />
    <bpmn:scriptTask id="set" name="Set amount">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>amount = 150</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="set" targetRef="gate" />
    <bpmn:exclusiveGateway id="gate" name="Big?" default="to_b">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>to_a</bpmn:outgoing><bpmn:outgoing>to_b</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_a" sourceRef="gate" targetRef="route_a">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_b" sourceRef="gate" targetRef="route_b" />
    <bpmn:scriptTask id="route_a" name="A">
      <bpmn:incoming>to_a</bpmn:incoming><bpmn:outgoing>fa</bpmn:outgoing>
      <bpmn:script>route = "a"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="route_b" name="B">
      <bpmn:incoming>to_b</bpmn:incoming><bpmn:outgoing>fb</bpmn:outgoing>
      <bpmn:script>route = "b"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="fa" sourceRef="route_a" targetRef="end" />
    <bpmn:sequenceFlow id="fb" sourceRef="route_b" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>fa</bpmn:incoming><bpmn:incoming>fb</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(bpmn: str, process_id: str, engine: SandboxScriptEngine, dmn: str | None = None) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(parse_diagram_xml(bpmn.encode()), filename=f"{process_id}.bpmn")
    if dmn is not None:
        parser.add_dmn_xml(parse_diagram_xml(dmn.encode()), filename=f"{process_id}.dmn")
    return BpmnWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id), script_engine=engine)


def _chain(err: BaseException) -> list[BaseException]:
    seen = []
    while err is not None and err not in seen:
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def test_gateway_condition_escape_fails_in_workflow(tmp_path: Path) -> None:
    """sandbox / trap 1: a hostile gateway condition stops the workflow and never runs."""
    marker = tmp_path / "marker"
    condition = f"__import__('os').system('touch {marker}') == 0"
    wf = _workflow(GATEWAY_BPMN.format(ns=NS, condition=escape(condition)), "gw", SandboxScriptEngine())
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert any(isinstance(e, SandboxViolation) for e in _chain(info.value))
    assert "__import__" in str(info.value) and "sandbox" in str(info.value)
    assert not marker.exists()
    assert not wf.is_completed()


def test_gateway_benign_condition_runs_to_end() -> None:
    """sandbox / trap 1: the same diagram with a plain condition runs to the end through the sandbox."""
    wf = _workflow(GATEWAY_BPMN.format(ns=NS, condition=escape("amount > 100")), "gw", SandboxScriptEngine())
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.last_task.data["route"] == "a"


def test_hostile_script_task_fails_with_line_number(tmp_path: Path) -> None:
    """sandbox / trap 1: a script task payload is refused, with the line reported."""
    marker = tmp_path / "marker"
    bpmn = GATEWAY_BPMN.format(ns=NS, condition="True").replace(
        "amount = 150", escape(f"amount = 150\nx = __import__('os').system('touch {marker}')"))
    wf = _workflow(bpmn, "gw", SandboxScriptEngine())
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert info.value.line_number == 2
    assert isinstance(info.value.__cause__, SandboxViolation)
    assert not marker.exists()


DMN_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {ns} id="defs" targetNamespace="http://example.com/bpmn">
  <bpmn:process id="rules" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide" />
    <bpmn:businessRuleTask id="decide" name="Who approves">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>approval</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn" name="DRD" namespace="http://example.com/dmn">
  <decision id="approval" name="Approval">
    <decisionTable id="table">
      <input id="in_discount" label="Discount">
        <inputExpression id="ie_discount" typeRef="number"><text>discount</text></inputExpression>
      </input>
      <input id="in_tier" label="Tier">
        <inputExpression id="ie_tier" typeRef="string"><text>tier</text></inputExpression>
      </input>
      <output id="out_approver" label="Approver" name="approver" typeRef="string" />
      <rule id="r0">
        <inputEntry id="r0_d"><text>{first_cell}</text></inputEntry>
        <inputEntry id="r0_t"><text>{tier_cell}</text></inputEntry>
        <outputEntry id="r0_o"><text>"none"</text></outputEntry>
      </rule>
      <rule id="r1">
        <inputEntry id="r1_d"><text>&lt; 0.45</text></inputEntry>
        <inputEntry id="r1_t"><text></text></inputEntry>
        <outputEntry id="r1_o"><text>"sales"</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2_d"><text>&lt; 0.5</text></inputEntry>
        <inputEntry id="r2_t"><text></text></inputEntry>
        <outputEntry id="r2_o"><text>"manager"</text></outputEntry>
      </rule>
      <rule id="r3">
        <inputEntry id="r3_d"><text>&gt;= 0.5</text></inputEntry>
        <inputEntry id="r3_t"><text></text></inputEntry>
        <outputEntry id="r3_o"><text>"director"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def _decide(discount: float, tier: str, first_cell: str = "&lt; 0.1", tier_cell: str = '"gold"') -> BpmnWorkflow:
    dmn = DMN.format(first_cell=first_cell, tier_cell=tier_cell)
    wf = _workflow(DMN_BPMN.format(ns=NS), "rules", SandboxScriptEngine(), dmn)
    wf.get_tasks(state=TaskState.READY)[0].data.update(discount=discount, tier=tier)
    wf.do_engine_steps()
    return wf


@pytest.mark.parametrize(("discount", "tier", "approver"), [
    (0.05, "gold", "none"),
    (0.05, "silver", "sales"),
    (0.3, "gold", "sales"),
    (0.47, "silver", "manager"),
    (0.5, "gold", "director"),
    (0.9, "silver", "director"),
])
def test_dmn_business_rule_task_runs_in_sandbox(discount: float, tier: str, approver: str) -> None:
    """sandbox / trap 1: DMN unary tests (`< 0.45`, `>= 0.5`, `"gold"`) run through the sandbox engine."""
    wf = _decide(discount, tier)
    assert wf.is_completed()
    assert wf.last_task.data["approver"] == approver


def test_dmn_comma_list_is_a_tuple_not_any_of() -> None:
    """sandbox / trap 1: DMN cells are Python, not FEEL: `"gold", "silver"` compares with a tuple.

    SpiffWorkflow turns a cell that parses as an expression into `(input) == (cell)`, so a
    comma list never matches a string. Other cells are glued on without a space
    (`tier` + `in (...)` gives `tierin (...)`), so write `? in ("gold", "silver")`.
    """
    assert _decide(0.05, "gold", tier_cell='"gold", "silver"').last_task.data["approver"] == "sales"
    assert _decide(0.05, "gold", tier_cell='? in ("gold", "silver")').last_task.data["approver"] == "none"
    with pytest.raises(WorkflowTaskException, match="tierin"):
        _decide(0.05, "gold", tier_cell='in ("gold", "silver")')


def test_dmn_hostile_cell_is_refused(tmp_path: Path) -> None:
    """sandbox / trap 1: a DMN input cell cannot run code either."""
    marker = tmp_path / "marker"
    with pytest.raises(WorkflowTaskException) as info:
        _decide(0.3, "gold", first_cell=escape(f"__import__('os').system('touch {marker}')"))
    assert any(isinstance(e, SandboxViolation) for e in _chain(info.value))
    assert not marker.exists()


SERVICE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {ns} id="defs" targetNamespace="http://example.com/bpmn">
  <bpmn:process id="svc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call" />
    <bpmn:serviceTask id="call" name="Echo">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="echo" resultVariable="echo_result">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="message" type="str" value="{value}" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _service(value: str, caller) -> BpmnWorkflow:
    wf = _workflow(SERVICE_BPMN.format(ns=NS, value=escape(value, {'"': "&quot;"})), "svc",
                   SandboxScriptEngine(connector_caller=caller))
    wf.get_tasks(state=TaskState.READY)[0].data["name"] = "Ann"
    return wf


def test_service_task_calls_connector() -> None:
    """sandbox / trap 1: service parameters are sandboxed expressions; the connector result lands in task data."""
    calls = []

    def caller(task, operation, params):
        calls.append((task.task_spec.bpmn_id, operation, params))
        return {"echo": params["message"]["value"], "n": 1}

    wf = _service("'hello ' + name", caller)
    wf.do_engine_steps()
    assert wf.is_completed()
    assert calls == [("call", "echo", {"message": {"value": "hello Ann", "type": "str"}})]
    assert wf.last_task.data["echo_result"] == {"echo": "hello Ann", "n": 1}


def test_service_task_errors_are_clear() -> None:
    """sandbox / trap 1 (and trap 8): connector failures become WorkflowTaskException naming the operation."""
    def boom(task, operation, params):
        raise RuntimeError("CRM is down")

    with pytest.raises(WorkflowTaskException, match="'echo' failed: RuntimeError: CRM is down"):
        _service("name", boom).do_engine_steps()
    with pytest.raises(WorkflowTaskException, match="not JSON"):
        _service("name", lambda task, op, params: {1, 2}).do_engine_steps()
    with pytest.raises(WorkflowTaskException, match="no connector"):
        _service("name", None).do_engine_steps()
    with pytest.raises(WorkflowTaskException) as info:
        _service("name.__class__", lambda task, op, params: {}).do_engine_steps()
    assert any(isinstance(e, SandboxViolation) for e in _chain(info.value))


@pytest.mark.parametrize("script", [
    # each step is under the per-value limit; together they would take hundreds of GB
    "l = []\nfor i in range(2000):\n    l.append(list(range(10000)) * 100)",
    # hashing or comparing a shared tuple tree of 2**70 leaves never finishes
    "a = (1,)\nfor i in range(70):\n    a = (a, a)\ns = set([a])",
    "a = (1,)\nfor i in range(70):\n    a = (a, a)\nd = {a: 1}",
    "a = [1]\nb = [1]\nfor i in range(70):\n    a = [a, a]\n    b = [b, b]\nc = a == b",
    "s = 'x' * 900000\nt = ''\nfor i in range(100):\n    t = s.upper()",
])
def test_work_adding_up_across_steps_is_refused(script: str) -> None:
    """sandbox / trap 1: a per-run work budget stops denial of service built from many small steps."""
    started = time.perf_counter()
    context: dict = {}
    with pytest.raises(SandboxViolation, match="work|larger than"):
        SandboxEnvironment().execute(script, context)
    assert context == {}
    assert time.perf_counter() - started < 10


def test_ordinary_scripts_stay_within_the_budget() -> None:
    context: dict = {"items": [{"amount": i} for i in range(1000)]}
    SandboxEnvironment().execute(
        "total = 0\nfor item in items:\n    total = total + item.get('amount', 0)\n"
        "a, b = 1, 2\nok = (a, b) == (1, 2) and {'k': [1, 2]} != {}", context)
    assert context["total"] == 499500 and context["ok"] is True
