"""Process definitions are versioned data: deploy validates first, then stores key + version + XML."""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from engine import validation
from engine.errors import NotFound
from engine.safe_xml import DiagramError, diagram_text, parse_diagram_xml
from models import audit, clock
from models.org import Role
from models.process import ProcessDefinition

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"


def deploy(session: Session, data: bytes, *, filename: str, actor_id: int | None, sector_id: int | None = None,
           source_version: int | None = None, comment: str | None = None) -> ProcessDefinition:
    """Validate a BPMN file and store it as the next version of its process. Nothing is stored on error.

    `sector_id` None publishes for the whole group; a sector's version is what that sector's new
    instances start on. Deploying bytes identical to the current version of that scope, bound to the same
    decision tables, returns it.

    Business rule tasks are bound here: each calledDecisionId must name a published decision table (the
    scope's latest, else the group's); the version stores their definition ids in `dmn_refs`, so running
    instances keep the tables they started with (engine.dmn.publish republishes callers for new tables).
    """
    root = parse_diagram_xml(data)
    known_roles = set(session.scalars(select(Role.code)))
    bound = bound_decisions(session, root, sector_id)
    process_ids = validation.validate(root, filename, known_roles, decisions=decision_sources(bound))
    key = process_ids[0]
    if session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key, ProcessDefinition.kind == "dmn")
                      .limit(1)) is not None:  # versions are numbered per key: a process and a table cannot share one
        raise DiagramError([{"element": key, "message": f"'{key}' is already the id of a decision table; give the "
                                                        "process another id"}])
    checksum = hashlib.sha256(data).hexdigest()
    dmn_refs = json.dumps(sorted(d.id for d in bound.values())) if bound else None
    latest = _latest_in_scope(session, key, sector_id)
    if (latest is not None and latest.checksum == checksum and (latest.dmn_refs or None) == dmn_refs
            and source_version is None):
        return latest
    version = (session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key)) or 0) + 1
    process = validation.find_process(root, key)
    definition = ProcessDefinition(
        key=key, version=version, name=(process.get("name") or key)[:200], filename=clean_filename(filename),
        bpmn_xml=diagram_text(data), checksum=checksum, deployed_by=actor_id, deployed_at=clock.now(),
        kind="bpmn", sector_id=sector_id, source_version=source_version, comment=comment, dmn_refs=dmn_refs,
    )
    session.add(definition)
    session.flush()
    audit.record(session, actor_id=actor_id, action="process_definition.deploy", entity_type="process_definition",
                 entity_id=definition.id, sector_id=sector_id,
                 after={"key": key, "version": version, "checksum": checksum, "sector_id": sector_id,
                        "source_version": source_version, "decisions": {k: d.version for k, d in bound.items()}})
    return definition


def bound_decisions(session: Session, root: etree._Element, sector_id: int | None) -> dict[str, ProcessDefinition]:
    """The published decision table each business rule task calls: the scope's latest, else the group's."""
    found = {}
    for decision_id in validation.called_decision_ids(root):
        row = latest_definition(session, decision_id, sector_id=sector_id, required=False, kind="dmn")
        if row is not None:
            found[decision_id] = row
    return found


def decision_sources(bound: dict[str, ProcessDefinition]) -> dict[str, tuple[etree._Element, str]]:
    """{decision id: (parsed DMN root, filename)} for validation.validate / parse_specs."""
    return {k: (etree.fromstring(d.bpmn_xml.encode("utf-8"), trusted_parser()), d.filename) for k, d in bound.items()}


def clean_filename(filename: str, default: str = "upload.bpmn") -> str:
    cleaned = "".join(ch for ch in filename if ch.isprintable()).strip()
    return (cleaned or default)[:200]



def deploy_shipped(session: Session, actor_id: int | None = None) -> list[ProcessDefinition]:
    """Deploy every `workflows/*.dmn`, then every `workflows/*.bpmn` (their business rule tasks call the
    tables); version 1 on a new database, unchanged files add nothing."""
    from engine import dmn

    tables = [dmn.publish(session, path.read_bytes(), filename=path.name, actor_id=actor_id)
              for path in sorted(WORKFLOWS_DIR.glob("*.dmn"))]
    return tables + [deploy(session, path.read_bytes(), filename=path.name, actor_id=actor_id)
                     for path in sorted(WORKFLOWS_DIR.glob("*.bpmn"))]


def latest_definition(session: Session, key: str, *, sector_id: int | None = None, required: bool = True,
                      kind: str = "bpmn") -> ProcessDefinition | None:
    """The version new instances start on: the sector's own latest version, else the group's latest."""
    row = _latest_in_scope(session, key, sector_id, kind) if sector_id is not None else None
    if row is None:
        row = _latest_in_scope(session, key, None, kind)
    if row is None and required:
        raise NotFound(f"no published process '{key}'")
    return row


def _latest_in_scope(session: Session, key: str, sector_id: int | None, kind: str = "bpmn") -> ProcessDefinition | None:
    scope = ProcessDefinition.sector_id.is_(None) if sector_id is None else ProcessDefinition.sector_id == sector_id
    return session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.kind == kind, ProcessDefinition.key == key, scope,
                                        ProcessDefinition.status == "published")
        .order_by(ProcessDefinition.version.desc()).limit(1)
    )


# Parsed specs per definition id, per thread: SpiffWorkflow attaches handlers to specs for
# loops and multi-instance tasks, so one parsed spec is not shared between threads (trap 13).
_local = threading.local()


def parsed_spec(definition: ProcessDefinition):
    cache: dict = getattr(_local, "specs", None) or {}
    _local.specs = cache
    # Keyed by id AND checksum: a database that was wiped (tests) or restored may give an id to another diagram;
    # the same holds for the bound decision tables, whose XML is added before the spec is built.
    tables = _bound_tables(definition)
    key = (definition.id, definition.checksum, tuple((t.id, t.checksum) for t in tables))
    hit = cache.get(key)
    if hit is None:
        root = etree.fromstring(definition.bpmn_xml.encode("utf-8"), trusted_parser())
        _parser, _ = validation.parse_specs(root, definition.filename,
                                            decision_sources({t.key: t for t in tables}).values())
        hit = (_parser.get_spec(definition.key), _parser.get_subprocess_specs(definition.key))
        cache[key] = hit
    return hit


def _bound_tables(definition: ProcessDefinition) -> list[ProcessDefinition]:
    """The decision tables a version is bound to (one primary-key query, XML deferred); none for most."""
    ids = json.loads(definition.dmn_refs or "[]")
    if not ids:
        return []
    session = object_session(definition)
    if session is None:
        raise RuntimeError(f"process definition {definition.id} is detached: its decision tables cannot be loaded")
    return list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(ids),
                                                                ProcessDefinition.kind == "dmn")
                                .order_by(ProcessDefinition.id)))


def trusted_parser() -> etree.XMLParser:
    # Stored XML passed validation at deploy; still never resolve entities or touch the network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)

