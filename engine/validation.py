"""Deploy-time checks of a diagram. Every error names the element and says what to fix."""
from __future__ import annotations

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import connectors
from engine.safe_xml import DiagramError
from engine.sandbox import SandboxViolation, check_source

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiff": SPIFF}
HUMAN_TASKS = ("userTask", "manualTask", "task")

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
    errors = []
    for xpath, mode in EXPRESSION_PLACES:
        for node in root.xpath(xpath, namespaces=NS):
            text = (node.text or "").strip()
            if text:
                errors += _check(text, mode, _owner_id(node))
    for param in root.xpath(".//spiff:serviceTaskOperator/spiff:parameters/spiff:parameter", namespaces=NS):
        errors += _check(param.get("value", ""), "eval", _owner_id(param.getparent().getparent().getparent()))
    return errors


def _check(text: str, mode: str, element: str) -> list[dict]:
    try:
        check_source(text, mode)
    except SandboxViolation as exc:
        return [{"element": element, "message": f"expression not allowed: {exc.reason}"}]
    return []


def check_structure(root: etree._Element, process_ids: list[str], known_roles: set[str]) -> list[dict]:
    errors: list[dict] = []
    for pid in process_ids:
        process = root.find(f"bpmn:process[@id='{pid}']", NS)
        lane_of: dict[str, str] = {}
        for lane in process.iterfind(".//bpmn:lane", NS):
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                lane_of[(ref.text or "").strip()] = lane.get("name") or ""
        for kind in HUMAN_TASKS:
            for task in process.iterfind(f".//bpmn:{kind}", NS):
                tid = task.get("id")
                lane = lane_of.get(tid)
                if lane is None:
                    errors.append({"element": tid, "message": "a user task must sit in a lane named after a role"})
                elif lane not in known_roles:
                    errors.append({"element": tid, "message": f"lane '{lane}' is not a known role code"})
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
    flows = [f for f in process.iterfind("bpmn:sequenceFlow", NS) if f.get("sourceRef") == gid]
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
    except ValidationException as exc:
        return parser, [{"element": exc.id or "file", "message": str(exc).split(". ")[0]}]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Spiff surfaces some reference errors as bare Python errors (trap 8).
        return parser, [{"element": "file", "message": f"the diagram cannot be executed: {exc!r}"}]
    return parser, []


def validate(root: etree._Element, filename: str, known_roles: set[str]) -> list[str]:
    """Return the executable process ids, or raise DiagramError listing every problem found."""
    if root.tag != f"{{{BPMN}}}definitions":
        raise DiagramError([{"element": "file", "message": "not a BPMN 2.0 file (root must be bpmn:definitions)"}])
    process_ids = executable_process_ids(root)
    if not process_ids:
        raise DiagramError([{"element": "file", "message": "no executable process: set isExecutable=\"true\" on the process to run"}])
    errors = check_expressions(root) + check_structure(root, process_ids, known_roles)
    if errors:
        raise DiagramError(errors)
    _parser, errors = parse_specs(root, filename)
    if errors:
        raise DiagramError(errors)
    return process_ids
