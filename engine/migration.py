"""Move running instances of a process to its latest version, in bulk (issue 5).

`plan()` is the dry run: for every running instance of the designer's scope that is not on its sector's
latest version, it says whether the instance can move and, if not, why (each reason names the BPMN
element). An instance can move when

- every step it is at now (READY, WAITING or STARTED task) exists in the new version under the same id
  and as the same kind of element, and no step is in error;
- nothing already done was changed: every COMPLETED (or CANCELLED) step still exists with the same id and
  none of what decided the path after it (conditions, default flow, outgoing flows, scripts, connector,
  events …) was changed. Labels, documentation, the lane, the properties (form, due days) and the incoming
  flows of a step that is over do not matter any more and do not block;
- the same holds for every subprocess / call activity the instance is in or went through.

`migrate()` is the real run: each movable instance in its own transaction, its row locked, re-checked
under the lock, then moved with SpiffWorkflow's `migrate_workflow` (its current tasks keep their ids, so
the open human-task rows, their claims, comments and due dates stay), audited and written to the
instance's history. An instance that cannot move is not touched; one that fails is rolled back alone and
reported.

Scale: instances are read in keyset batches (two queries per batch: the list, then the states of the
candidates). The verdict depends only on the versions and on which steps are current or done, so it is
computed once per such "shape" from the stored JSON (no workflow is built for that), and one instance
per movable shape is moved in memory as a trial (reloaded from its serialized form) before the dry run
says it can move.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.diff import SpecDiff, migrate_workflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, lazyload

from engine import assignment, definitions, design, runtime, validation
from engine.errors import Conflict, EngineError, Forbidden, NotFound
from engine.sandbox import SandboxScriptEngine
from engine.state import dump_state, load_state
from models import audit, clock
from models.base import write_transaction
from models.org import User
from models.process import HumanTask, InstanceEvent, ProcessDefinition, ProcessInstance

log = logging.getLogger(__name__)

BATCH = 200               # instances read per query
DEFAULT_LIMIT = 1000      # instances listed per call unless the caller asks for more (API: up to MAX_LIMIT)
MAX_LIMIT = 10_000
MAX_INSTANCE_IDS = 1000
LISTED_STATUSES = ("running", "error")  # without instance_ids: what a designer expects to see

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
DONE = TaskState.COMPLETED | TaskState.CANCELLED

# Spec attributes (as SpiffWorkflow's serializer names them) of a finished step that no longer matter.
HARMLESS_DONE_FIELDS = frozenset({"bpmn_name", "description", "documentation", "lane", "extensions", "inputs",
                                  "lookahead"})
# Plain words for the attributes SpecDiff reports (English keys; the page translates them).
FIELD_LABELS = {
    "cond_task_specs": "condition", "default_task_spec": "default flow", "outputs": "outgoing flows",
    "name": "id", "bpmn_id": "id", "typename": "element type", "script": "script", "prescript": "pre-script",
    "postscript": "post-script", "operation_name": "connector", "operation_params": "connector parameters",
    "result_variable": "result variable", "event_definition": "event", "cancel_activity": "interrupting",
    "spec": "called process", "decision_ref": "decision table", "manual": "element type",
    "data_input_associations": "data inputs", "data_output_associations": "data outputs",
    "io_specification": "inputs and outputs", "task_spec": "loop settings", "cardinality": "loop settings",
    "data_input": "loop settings", "data_output": "loop settings", "input_item": "loop settings",
    "output_item": "loop settings", "condition": "loop settings", "test_before": "loop settings",
    "maximum": "loop settings", "choice": "condition", "main_child_task_spec": "boundary events",
    "split_task": "parallel split",
}

# Reason sentences, keyed by code; %(step)s is "bpmn_id (name)". English text is the message key (web/i18n).
REASON_TEXTS = {
    "status": "the instance is %(status)s: only running instances move",
    "on_target": "the instance is already on version %(version)s",
    "missing": "step %(step)s is not in version %(version)s",
    "renamed": "step %(step)s is not in version %(version)s (its place there is taken by %(other)s)",
    "kind": "step %(step)s is another kind of element in version %(version)s (%(before)s → %(after)s)",
    "error_task": "step %(step)s is in error: repair it before moving the instance",
    "done_removed": "completed step %(step)s is not in version %(version)s",
    "done_changed": "completed step %(step)s was changed in version %(version)s: %(fields)s",
    "subprocess_missing": "subprocess %(step)s is not in version %(version)s",
    "unreadable": "the stored state of the instance cannot be read: %(error)s",
    "trial": "moving it failed in a trial run: %(error)s",
}


@dataclass
class Reason:
    """Why an instance cannot move: a code, the BPMN element it concerns, and the sentence's values."""

    code: str
    element: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, gettext: Callable[..., str] | None = None) -> str:
        """The sentence; `gettext` (web.i18n.gettext) translates it and the field labels."""
        tr = gettext or (lambda s, **kw: s % kw if kw else s)
        values = {k: v for k, v in self.params.items() if k != "fields"}
        if "status" in values:
            values["status"] = tr(values["status"])
        if "fields" in self.params:
            values["fields"] = ", ".join(dict.fromkeys(tr(FIELD_LABELS.get(f, f)) for f in self.params["fields"]))
        return tr(REASON_TEXTS[self.code], **values)

    def as_dict(self) -> dict:
        return {"element": self.element, "message": self.text()}


@dataclass
class PlanItem:
    instance_id: int
    title: str
    status: str
    sector_id: int | None
    from_definition_id: int
    from_version: int
    to_definition_id: int
    to_version: int
    can_move: bool = False
    reasons: list[Reason] = field(default_factory=list)
    moved: bool = False
    error: str | None = None


@dataclass
class MigrationPlan:
    key: str
    to: ProcessDefinition                       # the latest version of the requested scope
    items: list[PlanItem] = field(default_factory=list)
    up_to_date: int = 0                         # running instances of the scope already on their latest version
    next_after_id: int | None = None            # more instances after this id (call again with after_id)
    dry_run: bool = True

    @property
    def movable(self) -> int:
        return sum(1 for i in self.items if i.can_move)

    @property
    def moved(self) -> int:
        return sum(1 for i in self.items if i.moved)

    @property
    def failed(self) -> int:
        return sum(1 for i in self.items if i.error)

    @property
    def skipped(self) -> int:
        """Instances left where they are because they cannot move (failures are counted in `failed`)."""
        return sum(1 for i in self.items if not i.can_move and not i.error)


class _Refused(EngineError):
    """Under the lock the instance turned out not to be movable (any more)."""

    status = 409

    def __init__(self, reasons: list[Reason]):
        super().__init__("; ".join(r.text() for r in reasons))
        self.reasons = reasons


# ------------------------------------------------------------------------------------------------ analysis

_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)  # converts specs to dicts for SpecDiff


class _Analyser:
    """Caches for one call: definitions, targets per sector, spec diffs and verdicts per instance shape."""

    def __init__(self, session: Session, key: str):
        self.session, self.key = session, key
        self._definitions: dict[int, ProcessDefinition] = {}
        self._targets: dict[int | None, ProcessDefinition | None] = {}
        self._diffs: dict[tuple, SpecDiff] = {}
        self._verdicts: dict[tuple, list[Reason]] = {}
        self._trials: dict[tuple, str | None] = {}

    def definition(self, definition_id: int) -> ProcessDefinition:
        row = self._definitions.get(definition_id)
        if row is None:
            row = self._definitions[definition_id] = self.session.get(ProcessDefinition, definition_id)
        return row

    def target(self, sector_id: int | None) -> ProcessDefinition | None:
        if sector_id not in self._targets:
            self._targets[sector_id] = definitions.latest_definition(self.session, self.key, sector_id=sector_id,
                                                                     required=False)
        return self._targets[sector_id]

    def spec_diff(self, old: ProcessDefinition, new: ProcessDefinition, scope: str | None) -> SpecDiff | None:
        """The diff of the top process (scope None) or of one subprocess spec; None when it is not in `new`."""
        key = (old.id, old.checksum, new.id, new.checksum, scope)
        if key not in self._diffs:
            old_spec, old_deps = definitions.parsed_spec(old)
            new_spec, new_deps = definitions.parsed_spec(new)
            if scope is None:
                self._diffs[key] = SpecDiff(_REGISTRY, old_spec, new_spec)
            elif scope in new_deps and scope in old_deps:
                self._diffs[key] = SpecDiff(_REGISTRY, old_deps[scope], new_deps[scope])
            else:
                self._diffs[key] = None
        return self._diffs[key]

    def verdict(self, state: str, old: ProcessDefinition, new: ProcessDefinition) -> tuple[tuple, list[Reason]]:
        """(shape, reasons) for a stored state; no reasons = it can move."""
        try:
            shape = _shape(state)
        except (ValueError, KeyError, TypeError) as exc:
            return ("unreadable",), [Reason("unreadable", None, {"error": str(exc)[:200]})]
        key = (old.id, new.id, shape)
        if key not in self._verdicts:
            self._verdicts[key] = self._check(shape, old, new)
        return key, self._verdicts[key]

    def _check(self, shape: tuple, old: ProcessDefinition, new: ProcessDefinition) -> list[Reason]:
        old_spec, old_deps = definitions.parsed_spec(old)
        new_spec, new_deps = definitions.parsed_spec(new)
        reasons: list[Reason] = []
        for scope, tasks, owner in shape:
            if scope is None:
                before, after = old_spec, new_spec
            else:
                before, after = old_deps.get(scope), new_deps.get(scope)
                if before is None or after is None:
                    step = _step_label(_find_spec(old_spec, old_deps, owner)) if owner else scope
                    reasons.append(Reason("subprocess_missing", owner or scope,
                                          {"step": step, "version": new.version}))
                    continue
            diff = self.spec_diff(old, new, scope)
            reasons.extend(_check_scope(diff, before, after, tasks, new.version))
        return _unique(reasons)

    def trial(self, key: tuple, state: str, old: ProcessDefinition, new: ProcessDefinition) -> str | None:
        """Move one instance of this shape in memory and reload it: None when that works, else the error."""
        if key not in self._trials:
            try:
                workflow = load_state(state, *definitions.parsed_spec(old))
                workflow.script_engine = SandboxScriptEngine(connector_caller=_no_connector)
                _migrate_in_memory(self, workflow, old, new)
                load_state(dump_state(workflow), *definitions.parsed_spec(new))
                self._trials[key] = None
            except Exception as exc:  # any failure means "cannot move", reported as such
                log.info("trial migration of %s v%s -> v%s failed", self.key, old.version, new.version,
                         exc_info=True)
                self._trials[key] = f"{type(exc).__name__}: {exc}"[:300]
        return self._trials[key]


def _no_connector(_task, name, _params):
    raise Conflict(f"connector {name} would run while the instance is moved")


def _shape(state: str) -> tuple:
    """The steps that matter, from the stored JSON: ((scope, ((spec name, kind), …), owner task spec), …).

    scope None = the process itself, else a subprocess spec name; owner = the spec name of the task that
    runs the subprocess; kind: "active", "done" or "error". Predicted tasks do not matter (they are redone).
    """
    data = json.loads(state)
    names = {}  # task id -> spec name, over every scope (to name a subprocess's owner task)
    scopes = [(None, data)] + [(sp["spec"], sp) for sp in data.get("subprocesses", {}).values()]
    for _scope, body in scopes:
        for tid, task in body["tasks"].items():
            names[tid] = task["task_spec"]
    sp_owner = {sp_id: names.get(sp_id) for sp_id in data.get("subprocesses", {})}
    result = []
    for sp_id, (scope, body) in zip([None, *data.get("subprocesses", {})], scopes, strict=True):
        steps = set()
        for task in body["tasks"].values():
            state_ = int(task["state"])
            kind = ("error" if state_ & TaskState.ERROR else "active" if state_ & ACTIVE
                    else "done" if state_ & DONE else None)
            if kind:
                steps.add((task["task_spec"], kind))
        result.append((scope, tuple(sorted(steps)), sp_owner.get(sp_id) if sp_id else None))
    return tuple(sorted(result, key=lambda r: (r[0] or "", r[2] or "", r[1])))


def _check_scope(diff: SpecDiff, before, after, tasks: Iterable[tuple[str, str]], version: int) -> list[Reason]:
    reasons = []
    for name, kind in tasks:
        spec = before.task_specs.get(name)
        if spec is None:
            reasons.append(Reason("unreadable", name, {"error": f"step {name} is not in its own version"}))
            continue
        internal = getattr(spec, "bpmn_id", None) is None  # Start, End, joins and splits SpiffWorkflow adds
        element = spec.bpmn_id or name.split(".")[0]
        values = {"step": _step_label(spec) if not internal else element, "version": version}
        new = after.task_specs.get(name)
        if kind == "error":
            reasons.append(Reason("error_task", element, values))
        elif kind == "active":
            if new is None:
                other = diff.alignment.get(spec)
                if other is not None and not internal:
                    reasons.append(Reason("renamed", element, {**values, "other": _step_label(other)}))
                else:
                    reasons.append(Reason("missing", element, values))
            elif type(new).__name__ != type(spec).__name__:
                reasons.append(Reason("kind", element, {**values, "before": type(spec).__name__,
                                                        "after": type(new).__name__}))
        elif new is None:
            if internal:  # e.g. the split of a step's boundary events: the step's events were changed
                reasons.append(Reason("done_changed", element, {**values, "fields": ["main_child_task_spec"]}))
            else:
                reasons.append(Reason("done_removed", element, values))
        elif not internal:
            fields = [f for f in diff.comparisons.get(spec, []) if f not in HARMLESS_DONE_FIELDS]
            if fields:
                reasons.append(Reason("done_changed", element, {**values, "fields": fields}))
    return reasons


def _step_label(spec) -> str:
    if spec is None:
        return "?"
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None)
    return f"{bpmn_id} ({name})" if name and name != bpmn_id else bpmn_id


def _find_spec(spec, deps: dict, name: str):
    if name in spec.task_specs:
        return spec.task_specs[name]
    return next((d.task_specs[name] for d in deps.values() if name in d.task_specs), None)


def _unique(reasons: list[Reason]) -> list[Reason]:
    seen, result = set(), []
    for reason in reasons:
        key = (reason.code, reason.element, reason.text())
        if key not in seen:
            seen.add(key)
            result.append(reason)
    return result


# ------------------------------------------------------------------------------------------------ moving

def _migrate_in_memory(analyser: _Analyser, workflow, old: ProcessDefinition, new: ProcessDefinition) -> None:
    """Point the workflow at the new version's specs; current tasks keep their ids, data and timers."""
    new_spec, new_deps = definitions.parsed_spec(new)
    current = {task.id: (task.state, task.data, dict(task.internal_data), task.task_spec.name)
               for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)}
    scopes = [(workflow, None, new_spec)] + [(sp, sp.spec.name, new_deps.get(sp.spec.name))
                                              for sp in workflow.subprocesses.values()]
    same_event = set()  # current tasks whose event (a timer's duration …) is unchanged: they keep its state
    for wf, scope, target in scopes:
        if target is None:
            raise Conflict(f"subprocess {scope} is not in version {new.version}")
        diff = analyser.spec_diff(old, new, scope)
        alignment = {}
        for task in wf.tasks.values():
            spec = task.task_spec
            aligned = target.task_specs.get(spec.name) or (diff.alignment.get(spec) if diff else None)
            alignment[task] = aligned
            if task.id in current and aligned is not None and diff is not None \
                    and "event_definition" not in (diff.comparisons.get(spec) or ()):
                same_event.add(task.id)
        migrate_workflow(SimpleNamespace(alignment=alignment), wf, target)
    workflow.subprocess_specs = new_deps
    # reset_branch gave the current tasks their parent's data and dropped their internal data (a timer's
    # deadline would restart from now): put both back where the task is the same step in the same state.
    # A timer whose definition changed starts again from now, on the new definition.
    for task_id, (state, data, internal, name) in current.items():
        task = workflow.get_task_from_id(task_id)
        if task is None or task.state != state or task.task_spec.name != name:
            continue
        task.data = data
        if task_id in same_event:
            task.internal_data = internal
    _verify(workflow, new.version)


def _verify(workflow, version: int) -> None:
    """Every task must now run on a spec of the new version, and nothing may run by itself at once."""
    for wf in (workflow, *workflow.subprocesses.values()):
        specs = wf.spec.task_specs
        for task in wf.tasks.values():
            if specs.get(task.task_spec.name) is not task.task_spec:
                raise Conflict(f"step {task.task_spec.name} could not be placed in version {version}")
    automatic = [t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
    if automatic:
        names = ", ".join(sorted({t.task_spec.bpmn_id or t.task_spec.name for t in automatic}))
        raise Conflict(f"step {names} would run at once in version {version}")


def _move(session: Session, analyser: _Analyser, user: User, instance: ProcessInstance,
          new: ProcessDefinition) -> None:
    """Move one locked instance (the caller commits). Raises _Refused when it cannot move."""
    old = analyser.definition(instance.definition_id)
    reasons = _status_reasons(instance, new)
    if not reasons:
        _key, reasons = analyser.verdict(instance.state, old, new)
    if reasons:
        raise _Refused(reasons)
    workflow = runtime._load(session, instance, user.id)
    _migrate_in_memory(analyser, workflow, old, new)
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    all_kept = _keep_task_rows(session, instance, ready)
    instance.definition = new
    instance.definition_id = new.id
    if not all_kept:  # rows to open or to cancel (the runtime's own rule); usually every row is kept
        runtime._sync_tasks(session, instance, ready, user.id)
    instance.state = dump_state(workflow)
    instance.next_timer_at = runtime._next_timer(workflow)
    load_state(instance.state, *definitions.parsed_spec(new))  # what is written can be read back
    session.add(InstanceEvent(instance=instance, at=clock.now(), actor_id=user.id, kind="migrated",
                              comment=f"v{old.version} → v{new.version}"))
    audit.record(session, actor_id=user.id, action="process_instance.migrate", entity_type="process_instance",
                 entity_id=instance.id, sector_id=instance.sector_id,
                 before={"definition_id": old.id, "version": old.version},
                 after={"definition_id": new.id, "version": new.version,
                        "open_tasks": sorted(str(t.task_spec.bpmn_id) for t in ready)})
    session.flush()


def _keep_task_rows(session: Session, instance: ProcessInstance, ready: list) -> bool:
    """Open rows follow their step: a step re-created with a new id keeps its row (claim, comments, due
    date stay); a row's name, form, role and escalation come from the new version.

    True when the open rows are exactly the READY manual tasks (nothing to open or cancel)."""
    rows = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.status == "open")
                                .options(lazyload(HumanTask.instance)).order_by(HumanTask.id)))
    by_id = {str(t.id): t for t in ready}
    taken = {r.spiff_task_id for r in rows if r.spiff_task_id in by_id}
    for row in rows:
        task = by_id.get(row.spiff_task_id)
        if task is None:
            task = next((t for tid, t in by_id.items() if tid not in taken and t.task_spec.bpmn_id == row.bpmn_id),
                        None)
            if task is None:
                continue
            row.spiff_task_id = str(task.id)
            taken.add(row.spiff_task_id)
        if row.kind != "task":
            continue  # parked with the submitter (驳回): its own role and assignee
        spec = task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        row.name = (spec.bpmn_name or spec.bpmn_id)[:200]
        row.form = props.get("form", "approval")
        row.role_code = assignment.lane_role(spec.lane)
        row.escalate_to = props.get("escalate_to") or None
    return {r.spiff_task_id for r in rows} == set(by_id) and len(rows) == len(by_id)


def _status_reasons(instance: ProcessInstance, new: ProcessDefinition) -> list[Reason]:
    if instance.status != "running":
        return [Reason("status", None, {"status": instance.status})]
    if instance.definition_id == new.id:
        return [Reason("on_target", None, {"version": new.version})]
    return []


# ------------------------------------------------------------------------------------------------ public

def _scope(session: Session, user: User, key: str, sector_id: int | None) -> tuple[set, ProcessDefinition]:
    scopes = design.design_scopes(user)
    if not scopes:
        raise Forbidden("only process designers may migrate process instances")
    if not validation.PROCESS_ID.fullmatch(key or ""):
        raise NotFound(f"no published process '{key[:100]}'")
    if sector_id is not None and not design.may_design(user, sector_id):
        raise Forbidden(f"you do not design the processes of sector {sector_id}")
    home = sector_id if sector_id is not None else (None if None in scopes else design.home_scope(user))
    target = definitions.latest_definition(session, key, sector_id=home, required=False)
    if target is None and home is not None:
        target = definitions.latest_definition(session, key, required=False)
    if target is None:
        raise NotFound(f"no published process '{key}'")
    return scopes, target


def _candidates(session: Session, key: str, scopes: set, sector_id: int | None, instance_ids: list[int] | None,
                after_id: int | None) -> Iterator[list]:
    """Batches of (id, title, status, sector_id, definition_id) rows, by id, without the states."""
    cols = (ProcessInstance.id, ProcessInstance.title, ProcessInstance.status, ProcessInstance.sector_id,
            ProcessInstance.definition_id)
    stmt = select(*cols).where(ProcessInstance.process_key == key)
    if None not in scopes:
        stmt = stmt.where(ProcessInstance.sector_id.in_(sorted(s for s in scopes if s is not None)))
    if sector_id is not None:
        stmt = stmt.where(ProcessInstance.sector_id == sector_id)
    if instance_ids is not None:
        stmt = stmt.where(ProcessInstance.id.in_(sorted(set(instance_ids))))
    else:
        stmt = stmt.where(ProcessInstance.status.in_(LISTED_STATUSES))
    last = after_id or 0
    while True:
        rows = list(session.execute(stmt.where(ProcessInstance.id > last).order_by(ProcessInstance.id).limit(BATCH)))
        if not rows:
            return
        yield rows
        last = rows[-1].id
        if len(rows) < BATCH:
            return


def plan(session: Session, user: User, key: str, sector_id: int | None = None,
         instance_ids: list[int] | None = None, *, limit: int = DEFAULT_LIMIT, after_id: int | None = None,
         _analyser: _Analyser | None = None) -> MigrationPlan:
    """The dry run: per instance of the designer's scope not on its latest version, can it move, and why not.

    403 for a user who designs no processes (or not the given sector), 404 for an unknown process key.
    Without `instance_ids`, running (and erroneous) instances are listed, up to `limit`; `next_after_id`
    says where to go on. With `instance_ids`, those of them the designer may migrate are listed whatever
    their status. Changes nothing.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    scopes, target = _scope(session, user, key, sector_id)
    analyser = _analyser or _Analyser(session, key)
    result = MigrationPlan(key=key, to=target)
    last_seen = after_id or 0
    for rows in _candidates(session, key, scopes, sector_id, instance_ids, after_id):
        wanted = []
        for row in rows:
            if len(result.items) + len(wanted) >= limit:
                result.next_after_id = last_seen
                break
            last_seen = row.id
            new = analyser.target(row.sector_id)
            if new is None:
                continue
            if row.definition_id == new.id and row.status == "running" and instance_ids is None:
                result.up_to_date += 1
                continue
            wanted.append((row, new))
        states = {iid: state for iid, state in session.execute(select(ProcessInstance.id, ProcessInstance.state)
                                                              .where(ProcessInstance.id.in_([r.id for r, _n in wanted])))}
        for row, new in wanted:
            result.items.append(_plan_item(analyser, row, new, states[row.id]))
        if result.next_after_id is not None:
            break
    return result


def _plan_item(analyser: _Analyser, row, new: ProcessDefinition, state: str) -> PlanItem:
    old = analyser.definition(row.definition_id)
    item = PlanItem(instance_id=row.id, title=row.title, status=row.status, sector_id=row.sector_id,
                    from_definition_id=old.id, from_version=old.version, to_definition_id=new.id,
                    to_version=new.version)
    item.reasons = _status_reasons(SimpleNamespace(status=row.status, definition_id=row.definition_id), new)
    if not item.reasons:
        shape_key, item.reasons = analyser.verdict(state, old, new)
        if not item.reasons:
            error = analyser.trial(shape_key, state, old, new)
            if error:
                item.reasons = [Reason("trial", None, {"error": error})]
    item.can_move = not item.reasons
    return item


def migrate(session: Session, user: User, key: str, sector_id: int | None = None,
            instance_ids: list[int] | None = None, *, limit: int = DEFAULT_LIMIT,
            after_id: int | None = None) -> MigrationPlan:
    """The real run: plan, then move each movable instance in its own transaction (row locked, re-checked).

    Instances that cannot move are untouched; a failure rolls back that instance only and is reported in
    its item's `error`. The caller must not hold a transaction it wants to keep: each instance commits.
    """
    analyser = _Analyser(session, key)
    result = plan(session, user, key, sector_id, instance_ids, limit=limit, after_id=after_id, _analyser=analyser)
    result.dry_run = False
    for item in result.items:
        if not item.can_move:
            continue
        try:
            with write_transaction(session):
                instance = runtime.lock_instance(session, item.instance_id)
                new = definitions.latest_definition(session, key, sector_id=instance.sector_id)
                _move(session, analyser, user, instance, new)
                session.commit()
            item.moved, item.to_definition_id, item.to_version = True, new.id, new.version
        except _Refused as exc:
            session.rollback()
            item.can_move, item.reasons = False, exc.reasons
        except (OperationalError, Conflict) as exc:
            session.rollback()
            item.error = str(exc) if isinstance(exc, Conflict) else "the instance is busy; retry"
            log.warning("migration of process instance %s deferred: %s", item.instance_id, exc)
        except Exception as exc:  # one broken instance must not stop the others
            session.rollback()
            item.error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("migration of process instance %s failed", item.instance_id, exc_info=True)
    return result


def item_json(item: PlanItem, gettext: Callable[..., str] | None = None) -> dict:
    return {"instance_id": item.instance_id, "title": item.title, "status": item.status,
            "sector_id": item.sector_id, "from_version": item.from_version, "to_version": item.to_version,
            "can_move": item.can_move, "reasons": [r.text(gettext) for r in item.reasons],
            "problems": [{"element": r.element, "message": r.text(gettext)} for r in item.reasons],
            "moved": item.moved, "error": item.error}


def plan_json(result: MigrationPlan) -> dict:
    return {"dry_run": result.dry_run, "to": {"definition_id": result.to.id, "version": result.to.version},
            "items": [item_json(i) for i in result.items], "movable": result.movable, "moved": result.moved,
            "skipped": result.skipped, "failed": result.failed, "up_to_date": result.up_to_date,
            "next_after_id": result.next_after_id}

