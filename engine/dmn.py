"""Decision tables (DMN) as versioned definitions, called by business rule tasks.

A DMN file holds one decision with one decision table (SpiffWorkflow 3.2.0 parses one decision
per file). Its cells are Python expressions, not FEEL, and SpiffWorkflow's DMNEngine combines
them with the input expression before evaluating (see `_runtime_sources`):

- a cell containing `?` (outside quotes): `?` is replaced by `dmninputexpr`, the input
  expression is evaluated and passed in as `dmninputexpr` (`0.45 < ? <= 0.5`);
- a cell that parses as an expression: `(input) == (cell)` (`"standard"`, `200000`);
- otherwise the cell is glued to the input without a space: `amount` + `<= 200000`.

Every one of those forms, every input expression and every output entry is checked here by the
sandbox's allow-list at publish, and at runtime SpiffWorkflow evaluates them with the workflow's
script engine, which is always `SandboxScriptEngine` (engine.runtime._script_engine): a cell
cannot run code on either path.

Supported hit policies: UNIQUE (SpiffWorkflow returns the first matching rule; it does not check
that rules do not overlap), FIRST (the first matching rule) and COLLECT without aggregation (each
output becomes the list of the matching rules' values). Others are refused at publish, naming the
decision: SpiffWorkflow would silently treat them as FIRST.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import re

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import definitions
from engine.safe_xml import DMN_NAMESPACES, DiagramError, diagram_text, parse_diagram_xml
from engine.sandbox import SandboxViolation, check_source
from engine.validation import PROCESS_ID
from models import audit, clock
from models.process import ProcessDefinition

HIT_POLICIES = ("UNIQUE", "FIRST", "COLLECT")
MAX_NAME = 200  # process_definition.name
# DMNEngine.evaluate: a `?` outside quotes stands for the input value.
_QUESTION_MARK = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")
_OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
_CELL_HINT = 'write a Python test such as < 0.45, "standard", 0.45 < ? <= 0.5 or ? in ("a", "b"); "-" or empty = any'


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if _local(c) == name]


def _text(node: etree._Element | None) -> str | None:
    """The <text> of an entry or expression, as SpiffWorkflow reads it (not stripped)."""
    if node is None:
        return None
    text = next((c for c in node if _local(c) == "text"), None)
    return None if text is None else text.text


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _sandbox_problem(source: str, mode: str = "eval") -> str | None:
    try:
        check_source(source, mode)
    except SandboxViolation as exc:
        return exc.reason
    return None


def _runtime_sources(input_expr: str, cell: str) -> list[str]:
    """The expressions DMNEngine.evaluate will run for this input entry (SpiffWorkflow 3.2.0)."""
    marked = _QUESTION_MARK.sub("dmninputexpr", cell)
    if "dmninputexpr" in marked:
        return [input_expr, marked]
    try:
        ast.parse(cell, mode="eval")
    except SyntaxError:
        return [input_expr + cell]
    except ValueError:  # null bytes: refused by the sandbox check of the cell itself
        return [cell]
    return [f"({input_expr}) == ({cell})"]


def problems(root: etree._Element, filename: str) -> tuple[str, str, list[dict]]:
    """(decision id, decision name, problems) of a DMN file; problems name the decision, input, rule or cell."""
    if root.tag not in {f"{{{ns}}}definitions" for ns in DMN_NAMESPACES}:
        return "", "", [{"element": "file", "message": "not a DMN file (root must be a DMN <definitions>)"}]
    decisions = [d for d in root.iter() if _local(d) == "decision"]
    if not decisions:
        return "", "", [{"element": "file", "message": "the file contains no <decision>; add a decision with a "
                                                       "decision table"}]
    first = decisions[0]
    key, name = first.get("id") or "", (first.get("name") or first.get("id") or "")
    errors: list[dict] = []
    if len(decisions) > 1:
        errors.append({"element": decisions[1].get("id") or "file", "message":
                       f"one decision per file: this file also has {', '.join(repr(d.get('id')) for d in decisions[1:5])}; "
                       "put each decision table in its own file"})
    if not PROCESS_ID.fullmatch(key):
        errors.append({"element": _shown(key) or "file", "message":
                       f"decision id '{_shown(key)}' is not usable: use 1 to 100 letters, digits, '_', '-' or '.', "
                       "starting with a letter or '_'" if key else "the decision has no id; give it one "
                       "(business rule tasks call it by this id)"})
    if len(name) > MAX_NAME:
        errors.append({"element": key or "file", "message":
                       f"decision name is {len(name)} characters long; the limit is {MAX_NAME}"})
    errors += _table_problems(first, key or "decision")
    if not errors:
        errors += _spiff_problems(root, filename, key)
    return key, name[:MAX_NAME], errors


def _table_problems(decision: etree._Element, did: str) -> list[dict]:
    tables = _children(decision, "decisionTable")
    others = [_local(c) for c in decision if _local(c) in ("literalExpression", "invocation", "context", "relation")]
    if others or len(tables) != 1:
        return [{"element": did, "message": "a decision must hold exactly one decision table (other decision kinds "
                                            "such as literal expressions are not supported)"}]
    table = tables[0]
    errors: list[dict] = []
    if not table.get("id"):
        errors.append({"element": did, "message": "the decision table has no id"})
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy not in HIT_POLICIES:
        errors.append({"element": did, "message": f"hit policy {policy} is not supported; use one of "
                                                  f"{', '.join(HIT_POLICIES)}"})
    if table.get("aggregation"):
        errors.append({"element": did, "message": f"aggregation {table.get('aggregation')} is not supported; "
                                                  "use COLLECT without aggregation (a list of values)"})
    inputs: list[tuple[str, str]] = []  # (id, expression)
    outputs: list[str] = []
    for child in table:
        kind = _local(child)
        if not kind:
            continue  # comments
        if kind not in ("input", "output", "rule", "description", "extensionElements"):
            errors.append({"element": child.get("id") or did, "message": f"<{kind}> in a decision table is not "
                                                                        "supported"})
        elif kind in ("description", "extensionElements"):
            errors.append({"element": did, "message": f"<{kind}> directly in the decision table is not supported "
                                                      "by the engine; remove it"})
        elif kind == "input":
            errors += _input_problems(child, did, inputs)
        elif kind == "output":
            errors += _output_problems(child, did, outputs)
    if not inputs and not errors:
        errors.append({"element": did, "message": "the decision table has no input column"})
    if not outputs and not errors:
        errors.append({"element": did, "message": "the decision table has no output column"})
    if errors:
        return errors
    rules = _children(table, "rule")
    if not rules:
        errors.append({"element": did, "message": "the decision table has no rule"})
    for number, rule in enumerate(rules, 1):
        errors += _rule_problems(rule, number, did, inputs, outputs)
    return errors


def _input_problems(node: etree._Element, did: str, inputs: list[tuple[str, str]]) -> list[dict]:
    iid = node.get("id")
    label = node.get("label") or iid or ""
    if not iid:
        return [{"element": did, "message": f"input column '{label}' has no id"}]
    expressions = _children(node, "inputExpression")
    expr = _text(expressions[0]) if expressions else None
    if not expr or not expr.strip():
        return [{"element": iid, "message": f"input column '{label}' has no input expression; write the value to "
                                            "test in Python, e.g. amount or contract[\"amount\"]"}]
    inputs.append((iid, expr))
    reason = _sandbox_problem(expr)
    if reason:
        return [{"element": iid, "message": f"input expression '{_shown(expr)}' of column '{label}' is not allowed: "
                                            f"{reason}"}]
    return []


def _output_problems(node: etree._Element, did: str, outputs: list[str]) -> list[dict]:
    oid = node.get("id")
    name = node.get("name") or ""
    if not oid:
        return [{"element": did, "message": f"output column '{name or node.get('label') or ''}' has no id"}]
    outputs.append(oid)
    parts = name.split(".")
    if not name:
        return [{"element": oid, "message": f"output column '{node.get('label') or oid}' has no name; name it after "
                                            "the process variable it sets, e.g. route"}]
    if not _OUTPUT_NAME.fullmatch(name) or "typename" in parts:
        return [{"element": oid, "message": f"output column name '{_shown(name)}' is not usable: it becomes a "
                                            "process variable; use a Python name such as route or approver "
                                            "(not starting with '_', not 'typename')"}]
    return []


def _rule_problems(rule: etree._Element, number: int, did: str, inputs: list[tuple[str, str]],
                   outputs: list[str]) -> list[dict]:
    rid = rule.get("id")
    if not rid:
        return [{"element": did, "message": f"rule {number} has no id"}]
    ins, outs = _children(rule, "inputEntry"), _children(rule, "outputEntry")
    errors: list[dict] = []
    if len(ins) != len(inputs) or len(outs) != len(outputs):
        return [{"element": rid, "message": f"rule {number} has {len(ins)} input and {len(outs)} output cells; the "
                                            f"table has {len(inputs)} input and {len(outputs)} output columns"}]
    for (iid, expr), entry in zip(inputs, ins, strict=True):
        cell = _text(entry)
        where = f"rule {number} ({rid}), column {iid}"
        if not entry.get("id"):
            errors.append({"element": rid, "message": f"{where}: the cell has no id"})
            continue
        if cell is None or cell == "-" or cell == "":
            continue
        if not cell.strip():
            errors.append({"element": rid, "message": f"{where}: the cell holds only spaces; leave it empty or write "
                                                      "'-' for any value"})
            continue
        for source in _runtime_sources(expr, cell):
            reason = _sandbox_problem(source)
            if reason and source == expr + cell and (expr[-1:].isalnum() or expr[-1:] == "_") and cell[0].isalpha():
                errors.append({"element": rid, "message": f"{where}: cell '{_shown(cell)}' is joined to the input "
                                                          f"without a space ('{_shown(source)}'); write it with ? "
                                                          f"for the input, e.g. ? {_shown(cell)}"})
                break
            if reason:
                what = "is not valid Python" if reason.startswith("syntax error") else "is not allowed"
                errors.append({"element": rid, "message": f"{where}: cell '{_shown(cell)}' {what} ({reason}); "
                                                          f"{_CELL_HINT}"})
                break
    for oid, entry in zip(outputs, outs, strict=True):
        text = _text(entry)
        if not entry.get("id"):
            errors.append({"element": rid, "message": f"rule {number} ({rid}), output {oid}: the cell has no id"})
            continue
        if not text:
            continue
        reason = _sandbox_problem(text)
        if reason:
            what = "is not valid Python" if reason.startswith("syntax error") else "is not allowed"
            errors.append({"element": rid, "message": f"rule {number} ({rid}), output {oid}: '{_shown(text)}' {what} "
                                                      f"({reason}); write a value such as \"manager\" or 0.45"})
    return errors


def _spiff_problems(root: etree._Element, filename: str, key: str) -> list[dict]:
    """Parse through SpiffWorkflow's DMN parser (what a business rule task will load)."""
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    tree = copy.deepcopy(root)
    etree.strip_tags(tree, etree.Comment)  # SpiffWorkflow's DMN parser fails on comments in a table
    parser = SpiffBpmnParser()
    try:
        parser.add_dmn_xml(tree, filename=filename)
        engine = parser.get_engine(key, tree)
        if not engine.decision_table.rules:
            return [{"element": key, "message": "the decision table has no rule"}]
    except ValidationException as exc:
        return [{"element": key, "message": str(exc).strip().split(". ")[0] or "the decision table cannot be read"}]
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a refusal, not a 500
        return [{"element": key, "message": f"the decision table cannot be read: {exc!r}"[:500]}]
    return []


def analyse(data: bytes, filename: str) -> tuple[str, str, list[dict]]:
    """problems() for raw bytes: an unreadable file is a problem too, never an exception."""
    try:
        root = parse_diagram_xml(data)
    except DiagramError as exc:
        return "", "", exc.errors
    return problems(root, filename)


def publish(session: Session, data: bytes, *, filename: str, actor_id: int | None, sector_id: int | None = None,
            comment: str | None = None, source_version: int | None = None) -> ProcessDefinition:
    """Store a decision table as the next version of its decision id (kind "dmn"), audited.

    Versions share the (key, version) numbering with BPMN keys, so the version is the max over the key + 1;
    a decision id used by a process is refused. Publishing bytes identical to the scope's current version
    returns it.

    Binding: a BPMN version is bound to the exact DMN versions it was deployed with (dmn_refs), so a running
    instance keeps its table. To make NEW instances use a new table, every current BPMN version that calls this
    decision and would now resolve it differently is republished as a new BPMN version (same XML, dmn_refs
    updated, comment "decision table <key> v<N>"): for a group table, the group's versions and each sector's own
    versions that fall back to the group table; for a sector's table, that sector's current versions (a group
    version used by the sector becomes the sector's own version). We chose republishing over resolving the table
    when an instance starts because it keeps "what runs" = one immutable, listed, comparable version, and
    rollback of a process brings back its tables too.
    """
    root = parse_diagram_xml(data)
    key, name, errors = problems(root, filename)
    if errors:
        raise DiagramError(errors)
    clash = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                              ProcessDefinition.kind != "dmn").limit(1))
    if clash is not None:
        raise DiagramError([{"element": key, "message": f"'{key}' is already the id of a process; give the decision "
                                                        "another id"}])
    checksum = hashlib.sha256(data).hexdigest()
    scope = ProcessDefinition.sector_id.is_(None) if sector_id is None else ProcessDefinition.sector_id == sector_id
    latest = session.scalar(select(ProcessDefinition).where(
        ProcessDefinition.kind == "dmn", ProcessDefinition.key == key, scope).order_by(
        ProcessDefinition.version.desc()).limit(1))
    if latest is not None and latest.checksum == checksum and source_version is None:
        return latest  # a rollback (source_version) is always a new version, as for processes
    version = (session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key)) or 0) + 1
    definition = ProcessDefinition(
        key=key, version=version, name=name or key, filename=definitions.clean_filename(filename, "upload.dmn"),
        bpmn_xml=diagram_text(data), checksum=checksum, deployed_by=actor_id, deployed_at=clock.now(),
        kind="dmn", sector_id=sector_id, comment=comment, source_version=source_version,
    )
    session.add(definition)
    session.flush()
    republished = _rebind(session, definition, actor_id)
    audit.record(session, actor_id=actor_id, action="decision_table.publish", entity_type="process_definition",
                 entity_id=definition.id, sector_id=sector_id,
                 after={"key": key, "version": version, "checksum": checksum, "sector_id": sector_id,
                        "source_version": source_version, "republished": [{"key": d.key, "version": d.version} for d in republished]})
    return definition


def _rebind(session: Session, decision: ProcessDefinition, actor_id: int | None) -> list[ProcessDefinition]:
    """Republish the current BPMN versions that call `decision.key` so new instances use the new table."""
    keys = list(session.scalars(select(ProcessDefinition.key).where(ProcessDefinition.kind == "bpmn").distinct()
                                .order_by(ProcessDefinition.key)))
    if decision.sector_id is None:
        scopes: list[int | None] = [None, *session.scalars(
            select(ProcessDefinition.sector_id).where(ProcessDefinition.kind == "bpmn",
                                                      ProcessDefinition.sector_id.is_not(None)).distinct())]
    else:
        scopes = [decision.sector_id]
    calling = set(session.scalars(select(ProcessDefinition.id).where(ProcessDefinition.kind == "dmn",
                                                                     ProcessDefinition.key == decision.key)))
    label = f"decision table {decision.key} v{decision.version}"
    republished = []
    for scope in scopes:
        for key in keys:
            current = definitions.latest_definition(session, key, sector_id=scope, required=False)
            if current is None or (scope is not None and decision.sector_id is None and current.sector_id is None):
                continue  # a sector on the group version: rebinding the group version serves it
            if not calling & set(json.loads(current.dmn_refs or "[]")):
                continue
            try:
                new = definitions.deploy(session, current.bpmn_xml.encode("utf-8"), filename=current.filename,
                                         actor_id=actor_id, sector_id=scope, comment=label)
            except DiagramError as exc:  # e.g. a role its lanes name was removed since it was published
                raise DiagramError([{"element": e["element"], "message": f"process {current.key} version "
                                     f"{current.version} calls this decision table and cannot be republished with "
                                     f"it: {e['message']}"} for e in exc.errors]) from exc
            if new.id != current.id:
                republished.append(new)
    return republished


def decision_table_summary(definition: ProcessDefinition) -> dict:
    """Inputs, outputs and hit policy of a stored table (for catalogs and pages)."""
    root = etree.fromstring(definition.bpmn_xml.encode("utf-8"), definitions.trusted_parser())
    table = next((t for t in root.iter() if _local(t) == "decisionTable"), None)
    if table is None:
        return {"inputs": [], "outputs": [], "hit_policy": None}
    inputs = [{"id": i.get("id"), "label": i.get("label") or "", "expression": _text(_children(i, "inputExpression")[0])
               if _children(i, "inputExpression") else None} for i in _children(table, "input")]
    outputs = [{"id": o.get("id"), "name": o.get("name") or "", "label": o.get("label") or ""}
               for o in _children(table, "output")]
    return {"inputs": inputs, "outputs": outputs, "hit_policy": (table.get("hitPolicy") or "UNIQUE").upper()}
