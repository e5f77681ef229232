"""Process design: drafts, validation, publishing, rollback and version comparison.

A draft is what a designer edits (or imported from another tool); it never runs. Publishing validates it
and stores the next version: running instances stay on theirs, new ones take the new one. Designers of a
sector publish versions for that sector (they take precedence there); group-level designers publish for all.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import connectors, definitions, dmn, form_builder, forms, validation
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.safe_xml import DMN_NAMESPACES, DiagramError, diagram_text, parse_diagram_xml
from models import audit, clock
from models.org import Role, Sector, User
from models.process import ProcessDefinition, ProcessDraft, ProcessInstance

DESIGNER_ROLE = "process_designer"
DMN_ROOTS = frozenset(f"{{{ns}}}definitions" for ns in DMN_NAMESPACES)


# --- who may design what ----------------------------------------------------------------------

def design_scopes(user: User) -> set[int | None]:
    """The scopes a user designs in: None = the whole group, else sector ids."""
    return {g.sector_id for g in user.grants if g.role_code == DESIGNER_ROLE}


def is_designer(user: User) -> bool:
    return bool(design_scopes(user))


def may_design(user: User, sector_id: int | None) -> bool:
    scopes = design_scopes(user)
    return None in scopes or (sector_id is not None and sector_id in scopes)


def home_scope(user: User) -> int | None:
    """Where a designer's new drafts belong: the group for group-level designers, else his sector."""
    scopes = design_scopes(user)
    if not scopes:
        raise Forbidden("only process designers may edit processes")
    if None in scopes:
        return None
    return user.sector_id if user.sector_id in scopes else min(s for s in scopes if s is not None)


def _require_scope(user: User, sector_id: int | None) -> None:
    if not may_design(user, sector_id):
        raise Forbidden("only a process designer of this scope may change it (group-level designers: any scope)")


# --- analysis -----------------------------------------------------------------------------------

@dataclass
class Analysis:
    kind: str = "bpmn"
    key: str = ""
    name: str = ""
    executable: bool = False
    problems: list[dict] = field(default_factory=list)


def analyse(session: Session, data: bytes, filename: str, sector_id: int | None = None) -> Analysis:
    """What a diagram is and everything wrong with it, for the scope it would be published in.

    Never raises for a bad diagram. Business rule tasks are checked against the decision tables published
    for that scope.
    """
    try:
        root = parse_diagram_xml(data)
    except DiagramError as exc:
        return Analysis(problems=exc.errors)
    if root.tag in DMN_ROOTS:
        key, name, problems = dmn.problems(root, filename)
        return Analysis("dmn", key, name, not problems, problems)
    known_roles = set(session.scalars(select(Role.code)))
    bound = definitions.bound_decisions(session, root, sector_id)
    process_ids, problems = validation.problems(root, filename, known_roles,
                                                decisions=definitions.decision_sources(bound))
    processes = root.findall("bpmn:process", validation.NS)
    first = validation.find_process(root, process_ids[0]) if process_ids else (processes[0] if processes else None)
    key = (first.get("id") or "") if first is not None else ""
    name = (first.get("name") or key) if first is not None else ""
    if not key:  # a collaboration without processes: still name the draft after something
        key = ""
        name = name or (root.get("name") or root.get("id") or "")
    return Analysis("bpmn", key[:100] if validation.PROCESS_ID.fullmatch(key or "-") else "", name[:200],
                    bool(process_ids) and not problems, problems)


# --- drafts -------------------------------------------------------------------------------------

def visible_drafts(session: Session, user: User, *, limit: int = 50, offset: int = 0) -> list[ProcessDraft]:
    scopes = design_scopes(user)
    if not scopes:
        raise Forbidden("only process designers see drafts")
    stmt = select(ProcessDraft).where(ProcessDraft.published_definition_id.is_(None))
    if None not in scopes:
        stmt = stmt.where(ProcessDraft.sector_id.in_([s for s in scopes if s is not None]))
    return list(session.scalars(stmt.order_by(ProcessDraft.updated_at.desc(), ProcessDraft.id.desc())
                                .limit(limit).offset(offset)))


def visible_draft(session: Session, user: User, draft_id: int) -> ProcessDraft:
    draft = session.get(ProcessDraft, draft_id)
    if draft is None or not may_design(user, draft.sector_id):  # others learn nothing about it, not even that it exists
        raise NotFound(f"draft {draft_id} not found")
    return draft


def _apply(draft: ProcessDraft, data: bytes, analysis: Analysis) -> None:
    draft.kind, draft.key, draft.name = analysis.kind, analysis.key, analysis.name
    draft.executable, draft.problems = analysis.executable, json.dumps(analysis.problems, ensure_ascii=False)
    draft.xml = diagram_text(data)


def _readable(data: bytes) -> None:
    """A draft must at least be XML we can store and show; anything else is refused, nothing stored."""
    parse_diagram_xml(data)  # raises DiagramError naming the problem (file too big, DOCTYPE, not XML …)


def create_draft(session: Session, user: User, data: bytes | None, *, filename: str = "",
                 base_definition_id: int | None = None, source: str = "modeler",
                 sector_id: int | None = ...) -> ProcessDraft:  # type: ignore[assignment]
    """A new draft from uploaded bytes, or (no bytes) a copy of a published version to edit."""
    scope = home_scope(user) if sector_id is ... else sector_id
    _require_scope(user, scope)
    base = None
    if base_definition_id is not None:
        base = session.get(ProcessDefinition, base_definition_id)
        if base is None or not _definition_visible(user, base):
            raise NotFound(f"process definition {base_definition_id} not found")
        if data is None:
            data = base.bpmn_xml.encode("utf-8")
            filename = filename or base.filename
    if data is None:
        raise InvalidData({"xml": ["send the diagram XML, or base_definition_id to edit a published version"]})
    _readable(data)
    analysis = analyse(session, data, filename or "diagram.bpmn", scope)
    now = clock.now()
    draft = ProcessDraft(sector_id=scope, base_definition_id=base.id if base else None, source=source,
                         filename=definitions.clean_filename(
                             filename or "", "decision.dmn" if analysis.kind == "dmn" else "diagram.bpmn"), created_by=user.id, created_at=now,
                         updated_by=user.id, updated_at=now)
    _apply(draft, data, analysis)
    session.add(draft)
    session.flush()
    audit.record(session, actor_id=user.id, action="process_draft.create", entity_type="process_draft",
                 entity_id=draft.id, sector_id=scope,
                 after={"key": draft.key, "kind": draft.kind, "source": source, "executable": draft.executable,
                        "base_definition_id": draft.base_definition_id})
    return draft


def update_draft(session: Session, user: User, draft_id: int, data: bytes, lock_version: int) -> ProcessDraft:
    draft = visible_draft(session, user, draft_id)
    if draft.published_definition_id is not None:
        raise Conflict("this draft was published; open the process again to change it")
    if draft.lock_version != lock_version:
        raise Conflict("someone else saved this draft meanwhile; reload it to see their changes")
    _readable(data)
    before = {"key": draft.key, "executable": draft.executable}
    _apply(draft, data, analyse(session, data, draft.filename, draft.sector_id))
    draft.updated_by, draft.updated_at = user.id, clock.now()
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("someone else saved this draft meanwhile; reload it to see their changes") from exc
    audit.record(session, actor_id=user.id, action="process_draft.update", entity_type="process_draft",
                 entity_id=draft.id, sector_id=draft.sector_id, before=before,
                 after={"key": draft.key, "executable": draft.executable})
    return draft


def delete_draft(session: Session, user: User, draft_id: int) -> None:
    draft = visible_draft(session, user, draft_id)
    audit.record(session, actor_id=user.id, action="process_draft.delete", entity_type="process_draft",
                 entity_id=draft.id, sector_id=draft.sector_id, before={"key": draft.key, "kind": draft.kind})
    session.delete(draft)
    session.flush()


def validate_draft(session: Session, user: User, draft_id: int) -> Analysis:
    draft = visible_draft(session, user, draft_id)
    analysis = analyse(session, draft.xml.encode("utf-8"), draft.filename, draft.sector_id)
    draft.executable = analysis.executable
    draft.problems = json.dumps(analysis.problems, ensure_ascii=False)
    return analysis


def publish_draft(session: Session, user: User, draft_id: int, comment: str | None = None) -> ProcessDefinition:
    """Validate and store the draft as the next version of its process (or decision table) in its scope."""
    draft = visible_draft(session, user, draft_id)
    _require_scope(user, draft.sector_id)
    if draft.published_definition_id is not None:
        raise Conflict("this draft was already published")
    data = draft.xml.encode("utf-8")
    if draft.kind == "dmn":
        definition = dmn.publish(session, data, filename=draft.filename, actor_id=user.id,
                                 sector_id=draft.sector_id, comment=comment)
    else:
        base = session.get(ProcessDefinition, draft.base_definition_id) if draft.base_definition_id else None
        definition = definitions.deploy(session, data, filename=draft.filename, actor_id=user.id,
                                        sector_id=draft.sector_id, comment=comment,
                                        source_version=base.version if base else None)
    draft.published_definition_id = definition.id
    audit.record(session, actor_id=user.id, action="process_draft.publish", entity_type="process_draft",
                 entity_id=draft.id, sector_id=draft.sector_id,
                 after={"definition_id": definition.id, "key": definition.key, "version": definition.version})
    return definition


def rollback(session: Session, user: User, key: str, version: int, sector_id: int | None,
             comment: str | None = None) -> ProcessDefinition:
    """Publish an earlier version again as the newest one of the scope (running instances are untouched)."""
    _process_key(key)
    _require_scope(user, sector_id)
    if sector_id is not None and session.get(Sector, sector_id) is None:
        raise NotFound(f"sector {sector_id} not found")
    earlier = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                             ProcessDefinition.version == version))
    if earlier is None or not _definition_visible(user, earlier):
        raise NotFound(f"process {key} has no version {version}")
    note = comment or f"rollback to version {version}"
    data = earlier.bpmn_xml.encode("utf-8")
    if earlier.kind == "dmn":
        definition = dmn.publish(session, data, filename=earlier.filename, actor_id=user.id, sector_id=sector_id,
                                 comment=note, source_version=version)
    else:
        definition = definitions.deploy(session, data, filename=earlier.filename, actor_id=user.id,
                                        sector_id=sector_id, source_version=version, comment=note)
    audit.record(session, actor_id=user.id, action="process_definition.rollback", entity_type="process_definition",
                 entity_id=definition.id, sector_id=sector_id,
                 after={"key": key, "version": definition.version, "from_version": version})
    return definition


# --- listing ------------------------------------------------------------------------------------

def _definition_visible(user: User, definition: ProcessDefinition) -> bool:
    """Group-level versions are visible to everyone; a sector's own versions to that sector (and the group)."""
    return definition.sector_id is None or user.sector_id is None or definition.sector_id == user.sector_id


def visible_definition(session: Session, user: User, definition_id: int) -> ProcessDefinition:
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None or not _definition_visible(user, definition):
        raise NotFound(f"process definition {definition_id} not found")
    return definition


def _scope_filter(user: User):
    if user.sector_id is None:
        return True
    return (ProcessDefinition.sector_id.is_(None)) | (ProcessDefinition.sector_id == user.sector_id)


def _instance_scope(user: User):
    """Running counts: a sector's users count their sector's instances only (others' are not theirs to know)."""
    return True if user.sector_id is None else ProcessInstance.sector_id == user.sector_id


def current_processes(session: Session, user: User) -> list[dict]:
    """One row per (kind, key, scope): its newest version, how many versions, running instances of the key."""
    latest = (select(ProcessDefinition.kind, ProcessDefinition.key, ProcessDefinition.sector_id,
                     func.max(ProcessDefinition.version).label("version"), func.count().label("versions"))
              .where(_scope_filter(user)).group_by(ProcessDefinition.kind, ProcessDefinition.key,
                                                   ProcessDefinition.sector_id).subquery())
    running = (select(ProcessInstance.process_key, func.count().label("n"))
               .where(ProcessInstance.status == "running", _instance_scope(user))
               .group_by(ProcessInstance.process_key).subquery())
    stmt = (select(ProcessDefinition, latest.c.versions, func.coalesce(running.c.n, 0))
            .join(latest, (latest.c.key == ProcessDefinition.key) & (latest.c.version == ProcessDefinition.version))
            .outerjoin(running, running.c.process_key == ProcessDefinition.key)
            .order_by(ProcessDefinition.kind, ProcessDefinition.key, ProcessDefinition.sector_id.is_not(None)))
    return [{"key": d.key, "kind": d.kind, "name": d.name, "sector_id": d.sector_id, "version": d.version,
             "definition_id": d.id, "versions": versions, "running": n, "deployed_at": d.deployed_at}
            for d, versions, n in session.execute(stmt)]


def _process_key(key: str) -> str:
    """A key from a URL: one that no process can have (NUL, slashes, too long …) names nothing: 404."""
    if not validation.PROCESS_ID.fullmatch(key or ""):
        raise NotFound(f"process {key[:100]!r} not found")
    return key


def versions(session: Session, user: User, key: str) -> list[dict]:
    _process_key(key)
    running = (select(ProcessInstance.definition_id, func.count().label("n"))
               .where(ProcessInstance.status == "running", _instance_scope(user))
               .group_by(ProcessInstance.definition_id).subquery())
    stmt = (select(ProcessDefinition, User.display_name, func.coalesce(running.c.n, 0))
            .outerjoin(User, User.id == ProcessDefinition.deployed_by)
            .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
            .where(ProcessDefinition.key == key, _scope_filter(user))
            .order_by(ProcessDefinition.version.desc()))
    rows = list(session.execute(stmt))
    if not rows:
        raise NotFound(f"process {key} not found")
    current: dict[int | None, int] = {}
    for d, _name, _n in rows:
        current.setdefault(d.sector_id, d.version)
    return [{"id": d.id, "key": d.key, "version": d.version, "kind": d.kind, "name": d.name,
             "sector_id": d.sector_id, "deployed_by": d.deployed_by, "deployed_by_name": name,
             "deployed_at": d.deployed_at, "source_version": d.source_version, "comment": d.comment,
             "running": n, "current": current[d.sector_id] == d.version} for d, name, n in rows]


# --- comparison ---------------------------------------------------------------------------------

def compare(session: Session, user: User, from_id: int, to_id: int) -> dict:
    """Elements added, removed and changed between two versions (layout-only moves are not changes)."""
    older, newer = visible_definition(session, user, from_id), visible_definition(session, user, to_id)
    if older.key != newer.key:
        raise InvalidData({"to": [f"compare two versions of one process: {older.key} and {newer.key} differ"]})
    before, after = _elements(older.bpmn_xml), _elements(newer.bpmn_xml)
    changed = []
    for eid in sorted(set(before) & set(after)):
        changes = [{"field": k, "before": before[eid].get(k), "after": after[eid].get(k)}
                   for k in sorted(set(before[eid]) | set(after[eid])) if before[eid].get(k) != after[eid].get(k)]
        if changes:
            changed.append({"element": eid, "type": after[eid]["type"], "name": after[eid].get("name"),
                            "changes": changes})

    def listed(ids, source):
        return [{"element": eid, "type": source[eid]["type"], "name": source[eid].get("name")} for eid in sorted(ids)]

    return {"from": {"id": older.id, "version": older.version}, "to": {"id": newer.id, "version": newer.version},
            "added": listed(set(after) - set(before), after), "removed": listed(set(before) - set(after), before),
            "changed": changed}


_SKIP_TAGS = {"incoming", "outgoing", "flowNodeRef", "extensionElements", "documentation", "text"}


def _elements(xml: str) -> dict[str, dict]:
    """A flat description of every element with an id outside the diagram interchange (layout) part."""
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                 load_dtd=False, remove_comments=True))
    out: dict[str, dict] = {}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        qname = etree.QName(node)
        eid = node.get("id")
        if not eid or "DI" in (qname.namespace or "") or qname.localname in _SKIP_TAGS:
            continue
        if any("DI" in (etree.QName(a).namespace or "") for a in node.iterancestors() if isinstance(a.tag, str)):
            continue
        desc: dict = {"type": qname.localname}
        desc.update({etree.QName(k).localname: v for k, v in node.attrib.items() if k != "id"})
        for child in node:
            if not isinstance(child.tag, str):
                continue
            cname = etree.QName(child).localname
            if child.get("id") and cname not in ("conditionExpression",):
                continue  # an element of its own
            if cname == "extensionElements":
                desc.update(_extensions(child))
            elif cname in ("flowNodeRef", "incoming", "outgoing"):
                continue
            elif len(child) == 0:
                desc[cname] = (child.text or "").strip()
            else:
                desc[cname] = etree.tostring(child, encoding="unicode", with_tail=False).strip()
        if qname.localname == "lane":
            desc["tasks"] = ", ".join(sorted((r.text or "").strip() for r in node
                                             if isinstance(r.tag, str) and etree.QName(r).localname == "flowNodeRef"))
        out[eid] = desc
    return out


def _extensions(ext: etree._Element) -> dict:
    out: dict = {}
    for node in ext.iter():
        if not isinstance(node.tag, str) or node is ext:
            continue
        local = etree.QName(node).localname
        if local == "property" and node.get("name"):
            out[f"property {node.get('name')}"] = node.get("value")
        elif local == "serviceTaskOperator":
            out["connector"] = node.get("id")
        elif local == "parameter" and node.get("id"):
            out[f"parameter {node.get('id')}"] = node.get("value")
        elif local in ("calledDecisionId", "preScript", "postScript", "instructionsForEndUser"):
            out[local] = (node.text or "").strip()
    return out



def catalog(session: Session, user: User) -> dict:
    """What the modeler's properties panel offers: roles, connectors with their parameters, task forms,
    the decision tables of the designer's scope and the field types of a designer-defined form."""
    roles = [{"code": r.code, "name_zh": r.name_zh, "name_en": r.name_en}
             for r in session.scalars(select(Role).order_by(Role.code))]
    conns = [{"name": c.name, "description": c.description, "params": {k: t.__name__ for k, t in c.params.items()}}
             for c in sorted(connectors.REGISTRY.values(), key=lambda c: c.name)]
    decisions = [{"key": p["key"], "name": p["name"], "version": p["version"], "sector_id": p["sector_id"]}
                 for p in current_processes(session, user) if p["kind"] == "dmn"]
    return {"roles": roles, "connectors": conns, "forms": sorted([*forms.FORMS, "custom"]),
            "decisions": decisions, "field_types": list(form_builder.FIELD_TYPES)}
