"""Run a BPMN file to its first wait state with the CRM's engine, without the application's rules.

The spiff corpus check (tests/test_corpus_import.py) asks of a diagram written for SpiffWorkflow: does it run
here? It goes the way a deployed diagram goes (the hardened XML parser, `engine.validation`, the same
`SpiffBpmnParser` build, the sandboxed script engine, the same step guard and the state serialization)
but leaves out what only the CRM needs: the rule that user tasks sit in lanes named after roles
(`validation.problems(..., lanes=False)`), task rows, the database and connectors' side effects.

Each file ends in one outcome:
- WAITING: stopped at a wait state (a ready user/manual task, a timer, a message or signal to wait for);
- COMPLETED: ran to its end;
- NEEDS_DATA: a script or condition read a variable nobody set ("needs starting data: amount");
- REFUSED: the sandbox refused a script or expression (imports, print, del, comprehensions ...): correct;
- NOT_EXECUTABLE: validation lists why (drawing, call to a process in another file, unknown connector ...);
- FAILED: it started but stopped on another error, with the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import validation
from engine.safe_xml import DiagramError, parse_diagram_xml
from engine.sandbox import SandboxScriptEngine, SandboxViolation
from engine.state import dump_state

WAITING, COMPLETED, NEEDS_DATA, REFUSED, NOT_EXECUTABLE, FAILED = (
    "waiting", "completed", "needs data", "refused by the sandbox", "not executable", "failed")
OUTCOMES = (WAITING, COMPLETED, NEEDS_DATA, REFUSED, NOT_EXECUTABLE, FAILED)
MAX_ENGINE_STEPS = 500  # as engine.runtime: gateway loops stop silently past ~250 rounds (trap 6)
_SANDBOX_PREFIX = "expression not allowed"
_MISSING_NAME = re.compile(r"name '([^']+)' is not defined")
_MISSING_KEY = re.compile(r"KeyError: '([^']+)'|'([^']+)' (?:was )?not found in task data", re.IGNORECASE)


@dataclass
class RunResult:
    filename: str
    outcome: str
    reasons: list[dict] = field(default_factory=list)  # {"element", "message"}: why it stopped or was refused
    waiting_for: list[str] = field(default_factory=list)  # "user task review", "timer wait_a_day", ...

    @property
    def summary(self) -> str:
        if self.outcome == WAITING:
            return "waits for " + ", ".join(self.waiting_for)
        first = self.reasons[0] if self.reasons else {"element": "file", "message": ""}
        more = f" (+{len(self.reasons) - 1} more)" if len(self.reasons) > 1 else ""
        return f"{first['element']}: {first['message']}{more}" if self.reasons else ""


def run_to_first_wait(data: bytes, filename: str, known_roles: set[str] | frozenset[str] = frozenset()) -> RunResult:
    """Validate `data` (lane rule off), start it with no data and run it until it waits or ends.

    Never raises for a bad diagram or a failing step: every file gets an outcome and reasons.
    """
    try:
        root = parse_diagram_xml(data)
    except DiagramError as exc:
        return RunResult(filename, NOT_EXECUTABLE, exc.errors)
    process_ids, problems = validation.problems(root, filename, set(known_roles), lanes=False)
    if problems:
        refused = [p for p in problems if p["message"].startswith(_SANDBOX_PREFIX)]
        return RunResult(filename, REFUSED if refused else NOT_EXECUTABLE, refused or problems)
    parser, errors = validation.parse_specs(root, filename)
    if errors:  # problems() already parsed it the same way; kept for safety
        return RunResult(filename, NOT_EXECUTABLE, errors)
    key = process_ids[0]  # the process deploy would store
    try:
        workflow = BpmnWorkflow(parser.get_spec(key), parser.get_subprocess_specs(key),
                                script_engine=SandboxScriptEngine())
        for _ in range(MAX_ENGINE_STEPS):
            if not workflow.get_tasks(state=TaskState.READY, manual=False):
                break
            workflow.do_engine_steps()
        else:
            return RunResult(filename, FAILED, [{"element": key, "message": "too many engine steps (a loop?)"}])
        dump_state(workflow)  # the runtime saves the state at every wait: it must serialize
    except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome with its reason
        return _failure(filename, key, exc, workflow if "workflow" in locals() else None)
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if workflow.is_completed():
        if ready:  # trap 6: the iterator gave up, the process did not finish
            return RunResult(filename, FAILED, [{"element": key, "message": "the engine stopped in a loop"}])
        return RunResult(filename, COMPLETED)
    waiting = [f"{_kind(t.task_spec)} {t.task_spec.bpmn_id}" for t in ready]
    waiting += [f"{_event_kind(e.event_type)} {e.name or ''}".strip() for e in workflow.waiting_events()]
    if waiting:
        return RunResult(filename, WAITING, waiting_for=waiting)
    stuck = [t.task_spec.bpmn_id or t.task_spec.name for t in workflow.get_tasks(state=TaskState.ERROR)]
    return RunResult(filename, FAILED, [{"element": stuck[0] if stuck else key, "message":
                                         "stopped with nothing to wait for and without reaching its end"}])


def _failure(filename: str, key: str, exc: BaseException, workflow: BpmnWorkflow | None) -> RunResult:
    element = getattr(getattr(exc, "task", None), "task_spec", None)
    element = getattr(element, "bpmn_id", None) or getattr(exc, "task_id", None) or key
    collection = _missing_collection(workflow) if workflow is not None else None
    if collection:  # a multi-instance task over a collection nobody set (SpiffWorkflow fails with a TypeError)
        task_id, name = collection
        return RunResult(filename, NEEDS_DATA, [{"element": task_id, "message": f"needs starting data: {name}"}])
    chain = _chain(exc)
    violation = next((e for e in chain if isinstance(e, SandboxViolation)), None)
    if violation is not None:
        return RunResult(filename, REFUSED, [{"element": element, "message": f"{_SANDBOX_PREFIX}: {violation.reason}"}])
    text = " | ".join(str(e) for e in chain)
    missing = next((e.name for e in chain if isinstance(e, NameError) and getattr(e, "name", None)), None)
    match = _MISSING_NAME.search(text) or _MISSING_KEY.search(text)
    missing = missing or (next(g for g in match.groups() if g) if match else None)
    if missing:
        return RunResult(filename, NEEDS_DATA, [{"element": element, "message": f"needs starting data: {missing}"}])
    return RunResult(filename, FAILED, [{"element": element, "message": f"{type(exc).__name__}: {exc}"[:300]}])


def _missing_collection(workflow: BpmnWorkflow) -> tuple[str, str] | None:
    for task in workflow.get_tasks():
        data_input = getattr(task.task_spec, "data_input", None)
        name = getattr(data_input, "bpmn_id", None)
        if name and task.state != TaskState.COMPLETED and name not in task.data:
            return task.task_spec.bpmn_id or task.task_spec.name, name
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "exception", None)]
    return [e for e in seen if isinstance(e, BaseException)]


def _kind(task_spec) -> str:
    name = type(task_spec).__name__.replace("NoneTask", "Task")
    return re.sub(r"(?<!^)([A-Z])", lambda m: " " + m.group(1), name).lower()


def _event_kind(event_type: str) -> str:
    """'DurationTimerEventDefinition' -> 'timer', 'MultipleEventDefinition' -> 'one of several events'."""
    if "Time" in event_type:
        return "timer"
    if event_type == "MultipleEventDefinition":
        return "one of several events"
    return event_type.replace("EventDefinition", "").lower() or event_type
