"""Deploy-time checks of a diagram. Every error names the element and says what to fix."""
from __future__ import annotations

import re

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import connectors
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
    while node is not None:
        if node.get("id"):
            return node.get("id")
        node = node.getparent()
    return "file"


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
            errors += _check(text, mode, _owner_id(node))
    for param in root.xpath(".//spiff:serviceTaskOperator/spiff:parameters/spiff:parameter", namespaces=NS):
        errors += _check(param.get("value", ""), "eval", _owner_id(param.getparent().getparent().getparent()))
    return errors


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
    return errors


def not_executable_message(root: etree._Element) -> str:
    """Why a file has nothing to run. Most BPMN files in the wild are drawings (isExecutable="false")."""
    processes = root.findall("bpmn:process", NS)
    if not processes:
        return ("not executable, because the file contains no <process> (only diagrams, collaborations or "
                "choreographies); a deployable file has a process with isExecutable=\"true\"")
    described = []
    for process in processes[:5]:
        label = f"process '{process.get('id')}'" + (f" ({process.get('name')})" if process.get("name") else "")
        flag = process.get("isExecutable")
        described.append(f"{label} does not set isExecutable" if flag is None
                         else f"{label} has isExecutable=\"{flag}\"")
    if len(processes) > 5:
        described.append(f"and {len(processes) - 5} more")
    return (f"not executable, because no process is marked isExecutable=\"true\": {'; '.join(described)}. "
            "This is a drawing; to run it, set isExecutable=\"true\" on the process and complete it for execution "
            "(user tasks in lanes named after roles, conditions on gateway flows, connectors on service tasks)")


def check_structure(root: etree._Element, process_ids: list[str], known_roles: set[str]) -> list[dict]:
    errors: list[dict] = []
    all_process_ids = {p.get("id") for p in root.iterfind("bpmn:process", NS)}
    known_list = f" (known roles: {', '.join(sorted(known_roles))})"

    def known() -> str:  # the list of roles once per file, not after every task
        nonlocal known_list
        shown, known_list = known_list, ""
        return shown

    for pid in process_ids:
        process = find_process(root, pid)
        lane_of: dict[str, etree._Element] = {}
        for lane in process.iterfind(".//bpmn:lane", NS):
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                lane_of[(ref.text or "").strip()] = lane
        for kind in HUMAN_TASKS:
            for task in process.iterfind(f".//bpmn:{kind}", NS):
                tid = task.get("id") or f"{kind} '{task.get('name') or ''}' without an id"
                lane = lane_of.get(task.get("id"))
                name = (lane.get("name") or "").strip() if lane is not None else None
                if lane is None:
                    errors.append({"element": tid, "message": f"a user task must sit in a lane named after a role"
                                                              f"{known()}"})
                elif not name:
                    errors.append({"element": tid, "message": f"lane '{lane.get('id')}' has no name; name it after "
                                                              f"a role{known()}"})
                elif lane_role(name) not in known_roles:  # the rule the runtime assigns tasks by
                    errors.append({"element": tid, "message": f"lane '{name}' is not a known role code; name it "
                                                              f"'dept_manager' or '部门经理 (dept_manager)'{known()}"})
        for call in process.iterfind(".//bpmn:callActivity", NS):
            called = call.get("calledElement") or ""
            if called not in all_process_ids:
                errors.append({"element": call.get("id"), "message":
                               f"calls process '{called}', which is not in this file; a file is deployed on its "
                               "own, so put the called process in the same file"})
        for task in process.iterfind(".//bpmn:serviceTask", NS):
            errors += _check_service_task(task)
        for gw in process.iterfind(".//bpmn:exclusiveGateway", NS):
            errors += _check_gateway(process, gw)
        for store in process.iterfind(".//bpmn:dataStoreReference", NS):
            errors.append({"element": store.get("id"), "message": "data stores are not supported"})
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


def _check_gateway(process: etree._Element, gw: etree._Element) -> list[dict]:
    gid = gw.get("id")
    container = gw.getparent()  # the process, or the subprocess the gateway sits in
    flows = [f for f in container.iterfind("bpmn:sequenceFlow", NS) if f.get("sourceRef") == gid]
    if len(flows) < 2:
        return []
    default = gw.get("default")
    missing = [f.get("id") for f in flows if f.get("id") != default and f.find("bpmn:conditionExpression", NS) is None]
    if missing:
        return [{"element": gid, "message": f"outgoing flows {missing} need a condition, or mark one as the default"}]
    return []


def parse_specs(root: etree._Element, filename: str) -> tuple[SpiffBpmnParser, list[dict]]:
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_xml(root, filename=filename)
        for pid in executable_process_ids(root):
            parser.get_spec(pid)
            parser.get_subprocess_specs(pid)  # call activities must resolve now, not when an instance starts
    except ValidationException as exc:
        message = str(exc).strip().split(". ")[0].strip() or "the diagram cannot be executed"
        return parser, [{"element": exc.id or "file", "message": message}]
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a refusal, not a 500
        # Spiff surfaces some reference errors as bare Python errors (trap 8).
        return parser, [{"element": "file", "message": f"the diagram cannot be executed: {exc!r}"[:500]}]
    return parser, []


def validate(root: etree._Element, filename: str, known_roles: set[str]) -> list[str]:
    """Return the executable process ids, or raise DiagramError listing every problem found."""
    if root.tag in {f"{{{ns}}}definitions" for ns in DMN_NAMESPACES}:
        raise DiagramError([{"element": "file", "message": "this is a DMN decision file; only BPMN process "
                                                           "diagrams (.bpmn) can be deployed"}])
    if root.tag != f"{{{BPMN}}}definitions":
        raise DiagramError([{"element": "file", "message": "not a BPMN 2.0 file (root must be bpmn:definitions)"}])
    if any(ord(c) < 32 or c == "\x7f" for c in filename):
        raise DiagramError([{"element": "file", "message": "the file name contains control characters"}])
    errors = check_processes(root)
    if errors:
        raise DiagramError(_named(errors))
    process_ids = executable_process_ids(root)
    if not process_ids:
        raise DiagramError([{"element": "file", "message": not_executable_message(root)}])
    errors = check_expressions(root) + check_structure(root, process_ids, known_roles)
    if errors:
        raise DiagramError(_named(errors))
    _parser, errors = parse_specs(root, filename)
    if errors:
        raise DiagramError(_named(errors))
    return process_ids


def _named(errors: list[dict]) -> list[dict]:
    """Every error names an element; one whose id is missing or empty is still named."""
    return [{**e, "element": e.get("element") or "an element without an id"} for e in errors]
