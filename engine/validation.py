"""Checks of a diagram before it may run. Every problem names the element and says what to fix.

`problems()` runs every check it can and returns every problem found (a draft lists them all, a drawing
from another tool says "not executable, because ..." with one item per reason); `validate()` is the
raising wrapper deploy uses. SpiffWorkflow's own parser runs last, and only on a diagram our checks passed:
it stops at its first error, words it for programmers, and some inputs make it loop forever (a data
association inside a subprocess whose data object is declared two levels up), so each problem it knows of
is looked for here first.
"""
from __future__ import annotations

import ast
import copy
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import connectors, form_builder, timer_values
from engine.assignment import lane_role
from engine.safe_xml import DMN_NAMESPACES, DiagramError
from engine.sandbox import SandboxViolation, check_source

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiff": SPIFF}
HUMAN_TASKS = ("userTask", "manualTask", "task")
# A process id becomes the definition key (String(100)) and is used in lookups: keep it a plain identifier.
PROCESS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
MAX_PROCESS_NAME = 200  # process_definition.name
TIMER_PLACES = ("timeDuration", "timeDate", "timeCycle")
# An ISO 8601 duration, cycle or date written bare (PT2H, R3/PT1H, 2025-01-01T09:00:00Z): Spiff evaluates
# timer expressions as Python, so these must be quoted strings.
_BARE_ISO_TIMER = re.compile(r"(R\d*/)?P(\d|T\d)[\w.,:/-]*|\d{4}-\d{2}-\d{2}([T ][\w.:+-]*)?")

GATEWAYS = ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway")
# Only these may split the flow; SpiffWorkflow refuses several outgoing flows on anything else.
MAY_SPLIT = frozenset({*GATEWAYS, "startEvent", "boundaryEvent"})
CONTAINERS = ("process", "subProcess", "transaction", "adHocSubProcess")
FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
    "subProcess", "adHocSubProcess", "transaction", "callActivity", "startEvent", "endEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "implicitThrowEvent", *GATEWAYS,
    "choreographyTask", "subChoreography", "callChoreography",
})
SUPPORTED_NODES = frozenset(etree.QName(tag).localname for tag in
                            {**SpiffBpmnParser.PARSER_CLASSES, **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES})
UNSUPPORTED_HINTS = {
    "complexGateway": "use an inclusive gateway with a condition on each outgoing flow",
    "choreographyTask": "a choreography cannot run: model the process of one participant instead",
    "subChoreography": "a choreography cannot run: model the process of one participant instead",
    "callChoreography": "a choreography cannot run: model the process of one participant instead",
    "implicitThrowEvent": "use an intermediate throw event",
}
# What a catch event can wait for (SpiffWorkflow's IntermediateCatchEventParser and BoundaryEventParser).
CATCHES = ("messageEventDefinition", "signalEventDefinition", "timerEventDefinition", "conditionalEventDefinition")
BOUNDARY_CATCHES = (*CATCHES, "errorEventDefinition", "escalationEventDefinition", "cancelEventDefinition")
# (event definition, its reference attribute, the element of the file it must name)
EVENT_REFS = (("messageEventDefinition", "messageRef", "message"), ("signalEventDefinition", "signalRef", "signal"),
              ("errorEventDefinition", "errorRef", "error"), ("escalationEventDefinition", "escalationRef", "escalation"))
# Elements a problem may name: the ones a modeler shows (an event definition or a condition has no shape).
SHAPES = FLOW_NODES | {"sequenceFlow", "process", "lane", "participant", "collaboration", "dataObjectReference",
                       "dataStoreReference", "dataStore", "message", "signal", "error", "escalation",
                       "correlationProperty", "textAnnotation"}
MAX_PROBLEMS = 100  # a 20,000-element drawing must not produce a 20,000-item list
# Real files have a handful of processes (pools); thousands of tiny ones only cost time (each is built).
MAX_PROCESSES = 100
TIMER_HINT = ('set a duration such as "PT2H", a date such as "2025-01-01T09:00:00+08:00" or a cycle such as '
              '"R3/PT1H" (in quotes: timer values are Python expressions)')
_KIND_NAMES = {"subProcess": "subprocess", "adHocSubProcess": "ad-hoc subprocess", "task": "task"}

# (xpath, mode): every place a diagram can hold an expression or a script.
EXPRESSION_PLACES = (
    (".//bpmn:conditionExpression", "eval"),
    (".//bpmn:timeDuration", "eval"),
    (".//bpmn:timeDate", "eval"),
    (".//bpmn:timeCycle", "eval"),
    (".//bpmn:loopCardinality", "eval"),
    (".//bpmn:completionCondition", "eval"),
    (".//bpmn:scriptTask/bpmn:script", "exec"),
    (".//spiff:preScript", "exec"),
    (".//spiff:postScript", "exec"),
    (".//spiff:messagePayload", "eval"),
    (".//spiff:payloadExpression", "eval"),
    (".//bpmn:standardLoopCharacteristics/bpmn:loopCondition", "eval"),
    (".//bpmn:conditionalEventDefinition/bpmn:condition", "eval"),
    (".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression", "eval"),
    (".//spiff:processVariableCorrelation/spiff:expression", "eval"),
)


def _owner_id(node: etree._Element) -> str:
    """The id of the element a problem concerns: the nearest one a modeler shows (the event, not its
    timer definition), else the nearest one with an id."""
    fallback = None
    while node is not None:
        if isinstance(node.tag, str) and node.get("id"):
            if etree.QName(node).localname in SHAPES:
                return node.get("id")
            fallback = fallback or node.get("id")
        node = node.getparent()
    return fallback or "file"


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _kind(node: etree._Element) -> str:
    """'userTask' -> 'user task', 'subProcess' -> 'subprocess'."""
    local = _local(node)
    return _KIND_NAMES.get(local) or re.sub(r"(?<!^)([A-Z])", lambda m: " " + m.group(1).lower(), local)


def _element(node: etree._Element) -> str:
    return node.get("id") or f"{_local(node)} '{node.get('name') or ''}' without an id"


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _listed(ids: list, limit: int = 10) -> str:
    """'f1, f2, f3' (at most `limit`, then 'and N more')."""
    shown = ", ".join(_shown(str(i), 60) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def executable_process_ids(root: etree._Element) -> list[str]:
    return [p.get("id") for p in root.findall("bpmn:process", NS) if p.get("isExecutable", "false") == "true"]


def check_expressions(root: etree._Element) -> list[dict]:
    """Every expression and script must pass the sandbox's allow-list (trap 1) before it is stored."""
    errors = []
    for xpath, mode in EXPRESSION_PLACES:
        for node in root.xpath(xpath, namespaces=NS):
            text = (node.text or "").strip()
            if not text:
                continue
            if etree.QName(node).localname in TIMER_PLACES and _BARE_ISO_TIMER.fullmatch(text):
                errors.append({"element": _owner_id(node), "message":
                               f"timer value {text} must be a Python expression: write it as a quoted string, "
                               f"\"{text}\""})
                continue
            found = _check(text, mode, _owner_id(node))
            if not found and etree.QName(node).localname in TIMER_PLACES:
                found = _timer_literal(etree.QName(node).localname, text, _owner_id(node))
            errors += found
    for param in root.xpath(".//spiff:serviceTaskOperator/spiff:parameters/spiff:parameter", namespaces=NS):
        errors += _check(param.get("value", ""), "eval", _owner_id(param.getparent().getparent().getparent()))
    return errors


def _timer_literal(kind: str, text: str, element: str) -> list[dict]:
    """A timer written as a literal is checked now (a value from process data is checked when it is computed)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    reason = timer_values.problem(kind, value)
    return [{"element": element, "message": f"timer: {reason}"}] if reason else []


def _check(text: str, mode: str, element: str) -> list[dict]:
    try:
        check_source(text, mode)
    except SandboxViolation as exc:
        if exc.reason.startswith("syntax error"):
            return [{"element": element, "message": _syntax_message(text, exc.reason)}]
        return [{"element": element, "message": f"expression not allowed: {exc.reason}"}]
    return []


def _syntax_message(text: str, reason: str) -> str:
    shown = text if len(text) <= 80 else text[:77] + "..."
    if text.startswith(("${", "#{")):
        hint = "this looks like a JUEL expression (Camunda); write Python, e.g. approved or amount > 1000"
    elif text.startswith("="):
        hint = "this looks like a FEEL expression; write Python, e.g. approved or amount > 1000"
    else:
        hint = "conditions, timers and scripts are Python, e.g. decision == \"approve\" or \"PT2H\""
    return f"'{shown}' is not valid Python ({reason}): {hint}"


def find_process(root: etree._Element, pid: str) -> etree._Element | None:
    """The <process> with this id (no XPath built from diagram text)."""
    return next((p for p in root.iterfind("bpmn:process", NS) if p.get("id") == pid), None)


def check_processes(root: etree._Element) -> list[dict]:
    """Process ids and names must fit the definition table and be plain identifiers."""
    errors = []
    for process in root.iterfind("bpmn:process", NS):
        pid = process.get("id") or ""
        if not PROCESS_ID.fullmatch(pid):
            shown = pid if len(pid) <= 60 else pid[:57] + "..."
            errors.append({"element": shown or "file", "message":
                           f"process id '{shown}' is not usable: use 1 to 100 letters, digits, '_', '-' or '.', "
                           "starting with a letter or '_'"})
        name = process.get("name") or ""
        if len(name) > MAX_PROCESS_NAME:
            errors.append({"element": pid[:100] or "file", "message":
                           f"process name is {len(name)} characters long; the limit is {MAX_PROCESS_NAME}"})
    ids = Counter(n.get("id") for n in root.iter() if isinstance(n.tag, str) and n.get("id")
                  and etree.QName(n).namespace == BPMN)
    for element, count in ids.items():
        if count > 1:
            errors.append({"element": _shown(element, 100), "message":
                           f"{count} elements share the id '{_shown(element)}': give each its own id"})
    return errors


def not_executable_problems(root: etree._Element) -> list[dict]:
    """Why a file has nothing to run, one item per process. Most BPMN files in the wild are drawings."""
    processes = root.findall("bpmn:process", NS)
    if not processes:
        return [{"element": "file", "message": "not executable, because the file contains no <process> (only "
                                               "diagrams, collaborations or choreographies): there is nothing to run"}]
    found = []
    for process in processes:
        pid = process.get("id") or ""
        label = f"process '{_shown(pid)}'" + (f" ({_shown(process.get('name'))})" if process.get("name") else "")
        flag = process.get("isExecutable")
        why = "does not set isExecutable" if flag is None else f'has isExecutable="{_shown(flag, 20)}"'
        found.append({"element": pid[:100] or "file", "message":
                      f"not executable, because {label} {why}: it is a drawing. To run it, set "
                      'isExecutable="true" on the process and fix the problems listed with it'})
    return found


def check_structure(root: etree._Element, process_ids: list[str], known_roles: set[str], *,
                    lanes: bool = True) -> list[dict]:
    """Everything the engine needs of the processes `process_ids`. `lanes=False` skips the application's rule
    that user tasks sit in lanes named after roles (the corpus run of engine.corpus_run)."""
    errors: list[dict] = []
    processes: dict[str, etree._Element] = {}
    for p in root.iterfind("bpmn:process", NS):
        processes.setdefault(p.get("id"), p)  # the first, as find_process
    elements: dict[str, etree._Element] = {}
    for node in root.iter():
        if isinstance(node.tag, str) and node.get("id"):
            elements.setdefault(node.get("id"), node)
    all_ids = set(elements)
    defined = {target: {n.get("id") for n in root.iter(f"{{{BPMN}}}{target}")}
               for _tag, _attr, target in EVENT_REFS}
    known_list = f" (known roles: {', '.join(sorted(known_roles))})"

    def known() -> str:  # the list of roles once per file, not after every task
        nonlocal known_list
        shown, known_list = known_list, ""
        return shown

    for pid in process_ids:
        process = processes.get(pid)
        if process is None:
            continue
        flows_from: dict[str, list[etree._Element]] = defaultdict(list)
        for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
            flows_from[flow.get("sourceRef") or ""].append(flow)
        if lanes:
            errors += _check_lanes(process, known_roles, known)
        for container in (process, *(n for n in process.iter() if _local(n) in CONTAINERS[1:])):
            errors += _check_container(container, all_ids)
        for call in process.iterfind(".//bpmn:callActivity", NS):
            called = (call.get("calledElement") or "").strip()
            if not called:
                errors.append({"element": _element(call), "message":
                               "the call activity does not say which process it calls: set calledElement to the "
                               "id of a process in this file"})
            elif called not in processes:
                errors.append({"element": _element(call), "message":
                               f"calls process '{_shown(called)}', which is not in this file; a file is deployed on "
                               "its own, so put the called process in the same file"})
        for task in process.iterfind(".//bpmn:serviceTask", NS):
            errors += _check_service_task(task)
        for kind in ("exclusiveGateway", "inclusiveGateway"):
            for gw in process.iterfind(f".//bpmn:{kind}", NS):
                errors += _check_gateway(gw, flows_from.get(gw.get("id") or "", []))
        for store in process.iterfind(".//bpmn:dataStoreReference", NS):
            errors.append({"element": _element(store), "message":
                           "uses a data store, which the engine does not support: keep the data in process "
                           "variables, or read and write it with a service task (connector); remove the data store"})
        errors += _check_events(process, defined)
        errors += _check_activities(process)
        errors += _check_data_associations(root, process, elements)
    for store in root.iter(f"{{{BPMN}}}dataStore"):
        errors.append({"element": _element(store), "message":
                       f"data store '{_shown(store.get('name') or store.get('id') or '')}' is declared, but the "
                       "engine has no data stores: remove it (keep the data in process variables)"})
    return errors


def _check_lanes(process: etree._Element, known_roles: set[str], known) -> list[dict]:
    """The runtime gives a human task to the role its lane is named after (engine.assignment.lane_role)."""
    errors = []
    lane_of: dict[str, etree._Element] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[(ref.text or "").strip()] = lane
    for kind in HUMAN_TASKS:
        what = {"userTask": "a user task", "manualTask": "a manual task",
                "task": "a plain task (a step done by a person)"}[kind]
        for task in process.iterfind(f".//bpmn:{kind}", NS):
            tid = task.get("id") or f"{kind} '{task.get('name') or ''}' without an id"
            lane = lane_of.get(task.get("id"))
            name = (lane.get("name") or "").strip() if lane is not None else None
            if lane is None:
                errors.append({"element": tid, "message": f"{what} must sit in a lane named after a role, so "
                                                          f"the engine knows who does it{known()}"})
            elif not name:
                errors.append({"element": tid, "message": f"lane '{lane.get('id')}' has no name; name it after "
                                                          f"a role{known()}"})
            elif lane_role(name) not in known_roles:  # the rule the runtime assigns tasks by
                errors.append({"element": tid, "message": f"lane '{_shown(name)}' is not a known role code; name it "
                                                          f"'dept_manager' or '部门经理 (dept_manager)'{known()}"})
    return errors


def _check_container(container: etree._Element, all_ids: set[str]) -> list[dict]:
    """Start and end events, supported elements, where each sequence flow goes and who may split the flow."""
    errors: list[dict] = []
    nodes = {n.get("id"): n for n in container if _local(n) in FLOW_NODES}
    outgoing: dict[str, list[str]] = defaultdict(list)
    for flow in container.iterfind("bpmn:sequenceFlow", NS):
        outgoing[flow.get("sourceRef") or ""].append(flow.get("id") or "?")
        target = flow.get("targetRef") or ""
        if not target:
            errors.append({"element": _element(flow), "message": "the sequence flow has no target: connect it"})
        elif target not in nodes:
            where = ("is not in this file" if target not in all_ids else
                     "is not in the same process or subprocess (a sequence flow cannot cross a subprocess border)")
            errors.append({"element": _element(flow), "message": f"the sequence flow leads to '{_shown(target)}', "
                                                                 f"which {where}"})
    for nid, node in nodes.items():
        local = _local(node)
        if local not in SUPPORTED_NODES:
            hint = UNSUPPORTED_HINTS.get(local, "replace it with a task, event or gateway the engine runs")
            errors.append({"element": _element(node), "message": f"a {_kind(node)} is not supported by the "
                                                                 f"engine: {hint}"})
        elif local not in MAY_SPLIT and len(outgoing.get(nid or "", [])) > 1:
            errors.append({"element": _element(node), "message":
                           f"a {_kind(node)} may not have several outgoing flows ({_listed(outgoing[nid])}): "
                           "add a gateway after it (parallel to take every path, exclusive with conditions to "
                           "take one)"})
        if local == "boundaryEvent":
            attached = node.get("attachedToRef") or ""
            if attached not in nodes:
                errors.append({"element": _element(node), "message":
                               f"the boundary event is attached to '{_shown(attached)}', which is not an activity "
                               "of the same process or subprocess: attach it to a task or subprocess"})
            elif (node.find("bpmn:cancelEventDefinition", NS) is not None
                  and _local(nodes[attached]) != "transaction"):
                errors.append({"element": _element(node), "message":
                               "a cancel event can only be attached to a transaction"})
    starts = sum(_local(n) == "startEvent" for n in nodes.values())
    ends = sum(_local(n) == "endEvent" for n in nodes.values())
    local = _local(container)
    if local == "process" and not starts:
        errors.append({"element": _element(container), "message":
                       "the process has no start event: add one where the process begins"})
    elif local in ("subProcess", "transaction") and starts != 1:
        errors.append({"element": _element(container), "message":
                       f"a {_kind(container)} needs exactly one start event inside it; it has {starts}"})
    elif local in ("subProcess", "transaction") and not ends:
        errors.append({"element": _element(container), "message":
                       f"a {_kind(container)} needs an end event inside it"})
    elif local == "adHocSubProcess" and (starts or ends):
        errors.append({"element": _element(container), "message":
                       "an ad-hoc subprocess may not contain start or end events: remove them"})
    return errors


def _check_events(process: etree._Element, defined: dict[str, set[str]]) -> list[dict]:
    """Catch events wait for something; timers have a time; references name what the file declares."""
    errors: list[dict] = []
    for node in process.iter(f"{{{BPMN}}}intermediateCatchEvent", f"{{{BPMN}}}boundaryEvent"):
        kinds = {_local(c) for c in node if _local(c).endswith("EventDefinition")}
        allowed = CATCHES if _local(node) == "intermediateCatchEvent" else BOUNDARY_CATCHES
        if not kinds & set(allowed):
            if "linkEventDefinition" in kinds:
                hint = "link events are not supported: connect the two ends with a sequence flow"
            elif _local(node) == "boundaryEvent":
                hint = "give it a timer, a message, a signal, an error, an escalation or a condition"
            else:
                hint = "give it a timer, a message, a signal or a condition to wait for, or remove it"
            errors.append({"element": _element(node), "message": f"the {_kind(node)} does not wait for anything "
                                                                 f"the engine knows: {hint}"})
    for timer in process.iter(f"{{{BPMN}}}timerEventDefinition"):
        if not any(_local(c) in TIMER_PLACES and (c.text or "").strip() for c in timer):
            errors.append({"element": _owner_id(timer.getparent()), "message": f"the timer has no time: {TIMER_HINT}"})
    for cond in process.iter(f"{{{BPMN}}}conditionalEventDefinition"):
        if not any(_local(c) == "condition" and (c.text or "").strip() for c in cond):
            errors.append({"element": _owner_id(cond.getparent()), "message":
                           "the conditional event has no condition: write one in Python, e.g. amount > 1000"})
    refs = [(d, d.get(attr), target) for tag, attr, target in EVENT_REFS for d in process.iter(f"{{{BPMN}}}{tag}")]
    refs += [(t, t.get("messageRef"), "message") for t in process.iter(f"{{{BPMN}}}sendTask", f"{{{BPMN}}}receiveTask")]
    for node, ref, target in refs:
        if ref is None or (ref == "" and target == "message") or ref in defined[target]:
            continue  # a message event without messageRef uses the event's name
        names = sorted(i for i in defined[target] if i)[:10]
        have = f" (this file declares: {', '.join(names)})" if names else ""
        errors.append({"element": _owner_id(node if _local(node) in SHAPES else node.getparent()), "message":
                       f"refers to {target} '{_shown(ref)}', which is not declared in this file: declare "
                       f'<bpmn:{target} id="{_shown(ref)}" name="..."/> or pick one that is{have}'})
    return errors


def _check_activities(process: etree._Element) -> list[dict]:
    """Multi-instance and loop settings, and script tasks with a script."""
    errors: list[dict] = []
    for node in process.iter():
        local = _local(node)
        if local not in FLOW_NODES:
            continue
        multi = node.find("bpmn:multiInstanceLoopCharacteristics", NS)
        if multi is not None:
            count = multi.find("bpmn:loopCardinality", NS) is not None
            collection = multi.find("bpmn:loopDataInputRef", NS) is not None
            if not count and not collection:
                errors.append({"element": _element(node), "message":
                               f"a multi-instance {_kind(node)} needs a loop cardinality (how many times, e.g. 3 or "
                               "len(items)) or a collection to run once per item (loopDataInputRef)"})
            elif count and collection:
                errors.append({"element": _element(node), "message":
                               f"a multi-instance {_kind(node)} has both a loop cardinality and a collection: "
                               "keep one"})
        loop = node.find("bpmn:standardLoopCharacteristics", NS)
        if loop is not None:
            maximum = (loop.get("loopMaximum") or "").strip()
            condition = (loop.findtext("bpmn:loopCondition", "", NS) or "").strip()
            if not maximum and not condition:
                errors.append({"element": _element(node), "message":
                               "a loop needs a loop condition (when to stop) or a loopMaximum (how many rounds)"})
            elif maximum and not re.fullmatch(r"\d{1,6}", maximum):
                errors.append({"element": _element(node), "message":
                               f"loopMaximum '{_shown(maximum, 20)}' must be a whole number of rounds"})
        if local == "scriptTask" and not (node.findtext("bpmn:script", "", NS) or "").strip():
            errors.append({"element": _element(node), "message":
                           "the script task has no script: write the Python it runs, or make it a plain task"})
    return errors


def _check_data_associations(root: etree._Element, process: etree._Element,
                             elements: dict[str, etree._Element]) -> list[dict]:
    """A data association reads or writes a data object declared in its (sub)process or the one around it.
    SpiffWorkflow 3.2.0 looks no further, and loops forever when the object is declared two levels up."""
    errors: list[dict] = []
    if process.find(".//bpmn:dataInputAssociation", NS) is None and \
            process.find(".//bpmn:dataOutputAssociation", NS) is None:
        return errors
    object_refs: dict[str, etree._Element] = {}
    for ref in root.iter(f"{{{BPMN}}}dataObjectReference"):
        object_refs.setdefault(ref.get("id"), ref)
    store_refs = {ref.get("id") for ref in root.iter(f"{{{BPMN}}}dataStoreReference")}
    for node in process.iter():
        if _local(node) not in FLOW_NODES:
            continue
        for place in ("bpmn:dataInputAssociation/bpmn:sourceRef", "bpmn:dataOutputAssociation/bpmn:targetRef"):
            for ref_node in node.iterfind(place, NS):
                name = (ref_node.text or "").strip()
                if name in store_refs:
                    continue  # reported as a data store
                ref = object_refs.get(name)
                if ref is None:
                    what = _local(elements[name]) if name in elements else ""
                    kind = {"dataInput": "an input of an I/O specification",
                            "dataOutput": "an output of an I/O specification",
                            "dataObject": "a data object itself"}.get(what, "not a data object reference")
                    errors.append({"element": _element(node), "message":
                                   f"its data association refers to '{_shown(name)}', which is {kind}: the engine "
                                   "moves data only through data object references, so connect the association "
                                   "to one (or remove it)"})
                    continue
                container = node.getparent()
                scopes = [container]
                if _local(container) != "process" and container.getparent() is not None:
                    scopes.append(container.getparent())
                declared = {o.get("id") for scope in scopes for o in scope.iterfind("bpmn:dataObject", NS)}
                if ref.get("dataObjectRef") not in declared:
                    where = "this process" if len(scopes) == 1 else f"this {_kind(container)} or the one around it"
                    errors.append({"element": _element(node), "message":
                                   f"its data association uses data object "
                                   f"'{_shown(ref.get('dataObjectRef') or '')}', which is not declared in {where}: "
                                   "declare the data object there"})
    return errors


def _check_service_task(task: etree._Element) -> list[dict]:
    tid = task.get("id")
    op = task.find("bpmn:extensionElements/spiff:serviceTaskOperator", NS)
    if op is None:
        return [{"element": tid, "message": "a service task must name a connector (serviceTaskOperator)"}]
    conn = connectors.REGISTRY.get(op.get("id", ""))
    if conn is None:
        known = ", ".join(sorted(connectors.REGISTRY))
        return [{"element": tid, "message": f"unknown connector '{op.get('id')}'; known: {known}"}]
    given = {p.get("id") for p in op.iterfind("spiff:parameters/spiff:parameter", NS)}
    errors = []
    if given - set(conn.params):
        errors.append({"element": tid, "message": f"connector {conn.name} has no parameter(s) {sorted(given - set(conn.params))}"})
    if set(conn.params) - given:
        errors.append({"element": tid, "message": f"connector {conn.name} needs parameter(s) {sorted(set(conn.params) - given)}"})
    return errors


def _check_gateway(gw: etree._Element, flows: list[etree._Element]) -> list[dict]:
    """`flows`: the sequence flows leaving the gateway."""
    gid = gw.get("id")
    if len(flows) < 2:
        return []
    default = gw.get("default")
    missing = [f.get("id") for f in flows if f.get("id") != default and f.find("bpmn:conditionExpression", NS) is None]
    if missing:
        return [{"element": gid or _element(gw), "message":
                 f"outgoing flows {_listed(missing)} need a condition (e.g. decision == \"approve\"), "
                 "or mark one of them as the gateway's default flow"}]
    return []


# SpiffWorkflow's wording -> what to do (our own checks normally find these first).
SPIFF_MESSAGES = (
    ("Non-default exclusive outgoing sequence flow without condition",
     "the flow leaves a gateway without a condition: give it a condition or make it the gateway's default flow"),
    ("Multiple outgoing flows are not supported", "a task may not have several outgoing flows (use a gateway)"),
    ("No start event found", "the process has no start event: add one where the process begins"),
    ("Exactly one start event is required", "a subprocess needs exactly one start event inside it"),
    ("Must contain an End event", "a subprocess needs an end event inside it"),
    ("Time Specification", f"the timer has no time the engine understands: {TIMER_HINT}"),
    ("A Service Task must have an operator", "a service task must name a connector (serviceTaskOperator)"),
    ("has no implementation", "data stores are not supported: remove the data store"),
    ("Data Store", "data stores are not supported: remove the data store"),
    ("There is no support implemented for this task type", "this kind of element is not supported by the engine"),
    ("Cannot resolve data", "a data association refers to something that is not a data object of this process"),
    ("unexpected keyword argument 'node'",
     "an event refers to a message, signal, error or escalation that is not declared in this file"),
    ("Unsupported Catch Event", "the catch event does not wait for anything the engine knows"),
    ("Duplicate process ID", "two processes have the same id: give each its own"),
    ("RecursionError", ("the flow is too long for the engine to build (hundreds of steps in a row): split it "
                        "into subprocesses or call activities")),
)


def _spiff_message(text: str) -> str:
    for marker, message in SPIFF_MESSAGES:
        if marker in text:
            return message
    return _shown(text.strip().split(". ")[0].strip(), 300) or "the diagram cannot be executed"


def parse_specs(root: etree._Element, filename: str,
                decisions: Iterable[tuple[etree._Element, str]] = (),
                process_ids: Iterable[str] | None = None) -> tuple[SpiffBpmnParser, list[dict]]:
    """Build every executable process (or `process_ids`); `decisions` = (DMN root, filename) of the tables it is
    bound to. Never raises for a bad diagram: the first problem SpiffWorkflow meets is returned."""
    parser = SpiffBpmnParser()
    try:
        for dmn_root, dmn_filename in decisions:
            parser.add_dmn_xml(dmn_root, filename=dmn_filename)
        parser.add_bpmn_xml(root, filename=filename)
        for pid in executable_process_ids(root) if process_ids is None else process_ids:
            parser.get_spec(pid)
            parser.get_subprocess_specs(pid)  # call activities must resolve now, not when an instance starts
    except ValidationException as exc:
        return parser, [{"element": exc.id or "file", "message": _spiff_message(str(exc))}]
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a refusal, not a 500
        # Spiff surfaces some reference errors as bare Python errors (trap 8).
        return parser, [{"element": "file", "message": f"the diagram cannot be executed: {exc!r}"[:500]}]
    return parser, []


def problems(root: etree._Element, filename: str, known_roles: set[str],
             decisions: Mapping[str, tuple[etree._Element, str]] | None = None, *,
             lanes: bool = True) -> tuple[list[str], list[dict]]:
    """(executable process ids, every problem found). Never raises for a bad diagram.

    Every check runs and every problem is listed. A file with no executable process is a drawing: its list
    starts with "not executable, because ..." for each process, and the processes are checked as if they
    were to run, so the list says everything to fix. `decisions` as for `validate`; `lanes=False` skips the
    application's lane rule (engine.corpus_run).
    """
    if root.tag in {f"{{{ns}}}definitions" for ns in DMN_NAMESPACES}:
        return [], [{"element": "file", "message": "this is a DMN decision file; only BPMN process "
                                                   "diagrams (.bpmn) can be deployed"}]
    if root.tag != f"{{{BPMN}}}definitions":
        return [], [{"element": "file", "message": "not a BPMN 2.0 file (root must be bpmn:definitions)"}]
    if any(ord(c) < 32 or c == "\x7f" for c in filename):
        return [], [{"element": "file", "message": "the file name contains control characters"}]
    count = len(root.findall("bpmn:process", NS))
    if count > MAX_PROCESSES:
        return [], [{"element": "file", "message": f"the file has {count:,} processes; the limit is "
                                                   f"{MAX_PROCESSES}: split it into several files"}]
    process_ids = executable_process_ids(root)
    checked = process_ids or [p.get("id") for p in root.iterfind("bpmn:process", NS) if p.get("id")]
    drawing = [] if process_ids else not_executable_problems(root)
    found = (check_processes(root) + check_expressions(root)
             + check_structure(root, checked, known_roles, lanes=lanes)
             + check_designer_settings(root, checked, decisions or {}))
    if not found and checked:
        # Only a diagram our checks passed meets SpiffWorkflow's parser (see the module docstring).
        target = root if process_ids else _as_executable(root)
        _parser, errors = parse_specs(target, filename, (decisions or {}).values(), process_ids=checked)
        found += errors
    return process_ids, _capped(_unique(_named(drawing + found)))


def validate(root: etree._Element, filename: str, known_roles: set[str],
             decisions: Mapping[str, tuple[etree._Element, str]] | None = None) -> list[str]:
    """Return the executable process ids, or raise DiagramError listing every problem found.

    `decisions` maps each published decision id a business rule task may call to its (DMN root, filename)
    (engine.definitions.bound_decisions + decision_sources); a call to any other decision is an error.
    """
    process_ids, found = problems(root, filename, known_roles, decisions)
    if found:
        raise DiagramError(found)
    return process_ids


def _as_executable(root: etree._Element) -> etree._Element:
    """A copy of a drawing with every process marked executable, to hear what SpiffWorkflow says of it."""
    copied = copy.deepcopy(root)
    for process in copied.iterfind("bpmn:process", NS):
        process.set("isExecutable", "true")
    return copied


def _unique(errors: list[dict]) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    return [e for e in errors if (key := (e["element"], e["message"])) not in seen and not seen.add(key)]


def _capped(errors: list[dict]) -> list[dict]:
    if len(errors) <= MAX_PROBLEMS:
        return errors
    return [*errors[:MAX_PROBLEMS - 1], {"element": "file", "message": f"and {len(errors) - MAX_PROBLEMS + 1} more "
                                                                       "problems: fix these first"}]


# --- business rule tasks and designer-defined forms (engine.dmn / engine.form_builder) -------------------

def called_decision_ids(root: etree._Element) -> list[str]:
    """The decision ids the business rule tasks of a BPMN file call (spiffworkflow:calledDecisionId)."""
    found: list[str] = []
    for node in root.iterfind(".//bpmn:businessRuleTask/bpmn:extensionElements/spiff:calledDecisionId", NS):
        decision_id = (node.text or "").strip()
        if decision_id and decision_id not in found:
            found.append(decision_id)
    return found


def check_designer_settings(root: etree._Element, process_ids: list[str],
                            decisions: Mapping[str, object]) -> list[dict]:
    """Business rule tasks call published decision tables; designer-defined user-task forms are well-formed."""
    errors: list[dict] = []
    for pid in process_ids:
        process = find_process(root, pid)
        for task in process.iterfind(".//bpmn:businessRuleTask", NS):
            tid = task.get("id") or f"businessRuleTask '{task.get('name') or ''}' without an id"
            node = task.find("bpmn:extensionElements/spiff:calledDecisionId", NS)
            decision_id = (node.text or "").strip() if node is not None else ""
            if not decision_id:
                errors.append({"element": tid, "message": "a business rule task must name the decision table it "
                                                          "calls (calledDecisionId)"})
            elif decision_id not in decisions:
                errors.append({"element": tid, "message": f"calls decision table '{decision_id}', which is not "
                                                          "published; publish the decision table first"})
        for kind in HUMAN_TASKS:
            for task in process.iterfind(f".//bpmn:{kind}", NS):
                tid = task.get("id") or f"{kind} '{task.get('name') or ''}' without an id"
                props = {p.get("name"): p.get("value") for p in task.iterfind(
                    "bpmn:extensionElements/spiff:properties/spiff:property", NS)}
                errors += form_builder.problems(tid, props)
                errors += _number_properties(tid, props)
    return errors


# Task properties that count: name -> the largest sensible value (working days, hours).
NUMBER_PROPERTIES = {"due_days": 365, "remind_hours": 24 * 365}


def _number_properties(tid: str, props: dict) -> list[dict]:
    errors = []
    for name, limit in NUMBER_PROPERTIES.items():
        value = (props.get(name) or "").strip()
        if value and not (value.isascii() and value.isdigit() and int(value) <= limit):
            errors.append({"element": tid, "message": f"property {name} must be a whole number from 0 to {limit}, "
                                                      f"not '{_shown(value)}'"})
    return errors


def _named(errors: list[dict]) -> list[dict]:
    """Every error names an element; one whose id is missing or empty is still named."""
    return [{**e, "element": e.get("element") or "an element without an id"} for e in errors]
