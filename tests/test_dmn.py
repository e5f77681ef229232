"""Decision tables (DMN) as versioned definitions called by business rule tasks (issue 5).

Publish checks (each kind of problem named), binding of business rule tasks at deploy, evaluation through
the table, new table versions for new instances while running ones keep theirs, the sandbox for every
cell, and K1 (the contract route) through workflows/contract_route.dmn.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select

from engine import definitions, dmn, runtime
from engine.errors import ProcessError
from engine.safe_xml import DiagramError, parse_diagram_xml
from models import audit
from models.org import Sector, User
from models.process import HumanTask, ProcessDefinition
from tests.test_contract_approval import decide, instance, open_steps, submit

ROOT = Path(__file__).resolve().parent.parent

TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs" name="DRD" namespace="http://t">
  <decision id="{decision_id}" name="审批人">
    <decisionTable id="table" hitPolicy="{hit_policy}">
      <input id="in_amount" label="Amount">
        <inputExpression id="in_amount_expr" typeRef="number"><text>{input_expr}</text></inputExpression>
      </input>
      <output id="out_approver" label="Approver" name="approver" typeRef="string" />
      <rule id="r_small">
        <inputEntry id="r_small_in"><text>{small_cell}</text></inputEntry>
        <outputEntry id="r_small_out"><text>{small_out}</text></outputEntry>
      </rule>
      <rule id="r_other">
        <inputEntry id="r_other_in"><text>-</text></inputEntry>
        <outputEntry id="r_other_out"><text>"director"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def table(limit: int = 1000, *, decision_id: str = "approver_rule", hit_policy: str = "FIRST",
          input_expr: str = "amount", small_cell: str | None = None, small_out: str = '"manager"') -> bytes:
    cell = small_cell if small_cell is not None else f"<= {limit}"
    return TABLE.format(decision_id=decision_id, hit_policy=hit_policy, input_expr=escape(input_expr),
                        small_cell=escape(cell), small_out=escape(small_out)).encode()


PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://t">
  <bpmn:process id="{pid}" name="决策表测试" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_rep" name="sales_rep"><bpmn:flowNodeRef>prepare</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_mgr" name="dept_manager">
        <bpmn:flowNodeRef>by_manager</bpmn:flowNodeRef><bpmn:flowNodeRef>by_director</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="prepare" name="准备">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="form" value="acknowledge" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:businessRuleTask id="decide" name="谁审批">
      {decision_ext}
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:exclusiveGateway id="gw" default="f_dir"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f_mgr</bpmn:outgoing><bpmn:outgoing>f_dir</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="by_manager" name="经理审批"><bpmn:incoming>f_mgr</bpmn:incoming>
      <bpmn:outgoing>f_end1</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="by_director" name="总监审批"><bpmn:incoming>f_dir</bpmn:incoming>
      <bpmn:outgoing>f_end2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f_end1</bpmn:incoming><bpmn:incoming>f_end2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="decide" />
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="gw" />
    <bpmn:sequenceFlow id="f_mgr" sourceRef="gw" targetRef="by_manager">
      <bpmn:conditionExpression>approver == "manager"</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_dir" sourceRef="gw" targetRef="by_director" />
    <bpmn:sequenceFlow id="f_end1" sourceRef="by_manager" targetRef="end" />
    <bpmn:sequenceFlow id="f_end2" sourceRef="by_director" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def process(pid: str = "dmn_route", decision: str | None = "approver_rule") -> bytes:
    ext = ("" if decision is None else
           f"<bpmn:extensionElements><spiffworkflow:calledDecisionId>{decision}</spiffworkflow:calledDecisionId>"
           "</bpmn:extensionElements>")
    return PROCESS.format(pid=pid, decision_ext=ext).encode()


def problems_of(data: bytes) -> list[dict]:
    return dmn.problems(parse_diagram_xml(data), "t.dmn")[2]


def user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


def start(session, key: str, amount: float, starter: str = "rep1") -> int:
    rep = user(session, starter)
    inst = runtime.start_instance(session, key, actor=rep, data={"amount": amount}, title="t",
                                  sector_id=rep.sector_id, department_id=rep.department_id)
    session.commit()
    return inst.id


def step(session, instance_id: int) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance_id,
                                                                  HumanTask.status == "open")))


def finish_prepare(session, instance_id: int, by: str = "rep1") -> list[str]:
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                        HumanTask.bpmn_id == "prepare", HumanTask.status == "open"))
    runtime.complete_task(session, task_id, user(session, by), {})
    session.commit()
    return step(session, instance_id)


# ---------------------------------------------------------------- publish checks

def test_dmn_good_table_has_no_problems_and_publishes():
    key, name, problems = dmn.problems(parse_diagram_xml(table()), "t.dmn")
    assert (key, name, problems) == ("approver_rule", "审批人", [])


def test_dmn_shipped_table_has_no_problems():
    data = (ROOT / "workflows" / "contract_route.dmn").read_bytes()
    assert dmn.problems(parse_diagram_xml(data), "contract_route.dmn")[:1] == ("contract_route",)
    assert dmn.problems(parse_diagram_xml(data), "contract_route.dmn")[2] == []


@pytest.mark.parametrize("policy", ["UNIQUE", "FIRST", "COLLECT", "first"])
def test_dmn_supported_hit_policies(policy):
    assert problems_of(table(hit_policy=policy)) == []


@pytest.mark.parametrize("policy", ["PRIORITY", "ANY", "RULE ORDER", "OUTPUT ORDER"])
def test_dmn_unsupported_hit_policy_names_the_decision(policy):
    problems = problems_of(table(hit_policy=policy))
    assert problems == [{"element": "approver_rule", "message":
                         f"hit policy {policy} is not supported; use one of UNIQUE, FIRST, COLLECT"}]


def test_dmn_collect_with_aggregation_is_refused():
    data = table(hit_policy="COLLECT").replace(b'hitPolicy="COLLECT"', b'hitPolicy="COLLECT" aggregation="SUM"')
    [problem] = problems_of(data)
    assert problem["element"] == "approver_rule" and "aggregation SUM" in problem["message"]


@pytest.mark.parametrize("cell", ["__import__('os').system('id')", "().__class__.__mro__", "< ().__class__",
                                  "? in [c for c in ().__class__.__subclasses__()]", "< amount.__class__"])
def test_dmn_unsafe_input_cell_names_the_rule(cell):
    """sandbox / trap 1: an input cell that could escape is refused at publish, naming rule and column."""
    [problem] = problems_of(table(small_cell=cell))
    assert problem["element"] == "r_small"
    assert "rule 1 (r_small), column in_amount" in problem["message"] and "is not allowed" in problem["message"]


@pytest.mark.parametrize("out", ["__import__('os')", "().__class__.__mro__[1].__subclasses__()", "open('/etc/passwd')"])
def test_dmn_unsafe_output_cell_names_the_rule(out):
    [problem] = problems_of(table(small_out=out))
    assert problem["element"] == "r_small" and "output out_approver" in problem["message"]
    assert "is not allowed" in problem["message"]


def test_dmn_unsafe_input_expression_names_the_column():
    [problem] = problems_of(table(input_expr="amount.__class__"))
    assert problem["element"] == "in_amount" and "is not allowed" in problem["message"]


@pytest.mark.parametrize("cell", ["<= <= 5", "< (1, 2", "'unclosed"])
def test_dmn_syntax_error_cell_is_named(cell):
    [problem] = problems_of(table(small_cell=cell))
    assert problem["element"] == "r_small" and "is not valid Python" in problem["message"]
    assert "? in (" in problem["message"]  # the hint shows the Python way to write a list test


def test_dmn_glued_in_test_is_refused_with_the_question_mark_hint():
    """`in (...)` is glued to the input without a space (`amountin (...)`): refused, hint `? in (...)`."""
    [problem] = problems_of(table(small_cell='in ("a", "b")'))
    assert "joined to the input without a space ('amountin (" in problem["message"]
    assert '? in ("a", "b")' in problem["message"]
    assert problems_of(table(small_cell='? in (100, 200)')) == []
    assert problems_of(table(small_cell="0 < ? <= 1000")) == []


def test_dmn_missing_decision_id_is_named():
    data = table().replace(b'<decision id="approver_rule"', b"<decision")
    problems = problems_of(data)
    assert problems[0]["element"] == "file" and "has no id" in problems[0]["message"]


def test_dmn_structure_problems_are_named():
    no_decision = b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="x" namespace="n"/>'
    assert "no <decision>" in problems_of(no_decision)[0]["message"]
    two = table().replace(b"</definitions>", b'<decision id="second"><decisionTable id="t2"/></decision></definitions>')
    assert any(p["element"] == "second" and "one decision per file" in p["message"] for p in problems_of(two))
    bad_output = table().replace(b'name="approver"', b'name="typename"')
    assert problems_of(bad_output)[0]["element"] == "out_approver"
    no_expression = table().replace(b"<text>amount</text>", b"<text></text>")
    assert problems_of(no_expression)[0]["element"] == "in_amount"
    missing_cell = table().replace(b'<inputEntry id="r_other_in"><text>-</text></inputEntry>', b"")
    assert problems_of(missing_cell)[0]["element"] == "r_other"
    spaces = table(small_cell="   ")
    assert "only spaces" in problems_of(spaces)[0]["message"]


def test_dmn_publish_refuses_with_named_errors(session):
    with pytest.raises(DiagramError) as info:
        dmn.publish(session, table(hit_policy="PRIORITY"), filename="t.dmn", actor_id=None)
    assert info.value.errors[0]["element"] == "approver_rule"
    assert session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "approver_rule")) is None
    with pytest.raises(DiagramError) as info:  # a decision may not take a process's id
        dmn.publish(session, table(decision_id="contract_approval"), filename="t.dmn", actor_id=None)
    assert "already the id of a process" in info.value.errors[0]["message"]


def test_dmn_publish_versions_and_audit(session):
    v1 = dmn.publish(session, table(1000), filename="t.dmn", actor_id=None, comment="first")
    assert (v1.kind, v1.key, v1.version, v1.sector_id, v1.comment) == ("dmn", "approver_rule", 1, None, "first")
    assert dmn.publish(session, table(1000), filename="t.dmn", actor_id=None).id == v1.id  # identical: no copy
    v2 = dmn.publish(session, table(2000), filename="t.dmn", actor_id=None)
    assert v2.version == 2
    actions = list(session.scalars(select(audit.AuditLog.action).where(
        audit.AuditLog.entity_type == "process_definition", audit.AuditLog.entity_id.in_([str(v1.id), str(v2.id)]))))
    assert actions == ["decision_table.publish", "decision_table.publish"]
    assert definitions.latest_definition(session, "approver_rule", kind="dmn").id == v2.id


# ---------------------------------------------------------------- binding at deploy

def test_bpmn_unknown_called_decision_is_refused_naming_the_task(session):
    with pytest.raises(DiagramError) as info:
        definitions.deploy(session, process(decision="no_such_table"), filename="p.bpmn", actor_id=None)
    assert info.value.errors == [{"element": "decide", "message": "calls decision table 'no_such_table', which is "
                                                                  "not published; publish the decision table first"}]


def test_bpmn_business_rule_task_without_decision_is_refused(session):
    with pytest.raises(DiagramError) as info:
        definitions.deploy(session, process(decision=None), filename="p.bpmn", actor_id=None)
    assert info.value.errors[0]["element"] == "decide" and "calledDecisionId" in info.value.errors[0]["message"]


def test_bpmn_deploy_binds_the_latest_table_and_dedupes(session):
    table_v1 = dmn.publish(session, table(1000), filename="t.dmn", actor_id=None)
    p1 = definitions.deploy(session, process(), filename="p.bpmn", actor_id=None)
    assert json.loads(p1.dmn_refs) == [table_v1.id]
    assert definitions.deploy(session, process(), filename="p.bpmn", actor_id=None).id == p1.id  # same XML + table


def test_sector_table_falls_back_to_group(session):
    s1 = session.scalar(select(Sector.id).where(Sector.code == "S1"))
    group = dmn.publish(session, table(1000), filename="t.dmn", actor_id=None)
    in_s1 = definitions.deploy(session, process(), filename="p.bpmn", actor_id=None, sector_id=s1)
    assert json.loads(in_s1.dmn_refs) == [group.id]  # no S1 table: the group's


# ---------------------------------------------------------------- running through the table

@pytest.mark.parametrize(("amount", "expected"), [(500, ["by_manager"]), (1000, ["by_manager"]),
                                                  (1000.5, ["by_director"]), (99999, ["by_director"])])
def test_business_rule_task_routes_through_the_table(session, amount, expected):
    dmn.publish(session, table(1000), filename="t.dmn", actor_id=None)
    definitions.deploy(session, process(), filename="p.bpmn", actor_id=None)
    session.commit()
    iid = start(session, "dmn_route", amount)
    assert finish_prepare(session, iid) == expected


def test_new_table_version_changes_new_instances_running_keep_theirs(session):
    """A new DMN version republishes its callers: new instances use it, a running one keeps the old table."""
    admin = user(session, "admin")
    old_table = dmn.publish(session, table(1000), filename="t.dmn", actor_id=admin.id)
    p1 = definitions.deploy(session, process(), filename="p.bpmn", actor_id=admin.id)
    session.commit()
    running = start(session, "dmn_route", 1500)  # waits at `prepare`, on p1 (old table)
    new_table = dmn.publish(session, table(2000), filename="t.dmn", actor_id=admin.id, comment="limit 2000")
    session.commit()
    p2 = definitions.latest_definition(session, "dmn_route")
    assert p2.version > p1.version and p2.bpmn_xml == p1.bpmn_xml
    assert json.loads(p2.dmn_refs) == [new_table.id] and json.loads(p1.dmn_refs) == [old_table.id]
    assert p2.comment == f"decision table approver_rule v{new_table.version}" and p2.deployed_by == admin.id
    newer = start(session, "dmn_route", 1500)
    assert finish_prepare(session, running) == ["by_director"]  # 1500 > 1000 (its table)
    assert finish_prepare(session, newer) == ["by_manager"]     # 1500 <= 2000 (the new table)
    logged = session.scalar(select(audit.AuditLog.after).where(audit.AuditLog.action == "decision_table.publish",
                                                               audit.AuditLog.entity_id == str(new_table.id)))
    assert logged["republished"] == [{"key": "dmn_route", "version": p2.version}]


def test_sector_table_rebinds_only_that_sector(session):
    s1, s2 = (session.scalar(select(Sector.id).where(Sector.code == c)) for c in ("S1", "S2"))
    dmn.publish(session, table(1000), filename="t.dmn", actor_id=None)
    group_version = definitions.deploy(session, process(), filename="p.bpmn", actor_id=None)
    s1_table = dmn.publish(session, table(5000), filename="t.dmn", actor_id=None, sector_id=s1)
    session.commit()
    in_s1 = definitions.latest_definition(session, "dmn_route", sector_id=s1)
    assert in_s1.sector_id == s1 and json.loads(in_s1.dmn_refs) == [s1_table.id]
    assert definitions.latest_definition(session, "dmn_route", sector_id=s2).id == group_version.id
    assert finish_prepare(session, start(session, "dmn_route", 3000, "rep1")) == ["by_manager"]   # S1: 5000
    assert finish_prepare(session, start(session, "dmn_route", 3000, "rep3"), "rep3") == ["by_director"]  # S2


# ---------------------------------------------------------------- sandbox (trap 1)

def _store_unchecked_table(session, data: bytes) -> ProcessDefinition:
    """A table that never went through publish (as if the stored XML had been tampered with)."""
    row = ProcessDefinition(key="approver_rule", version=1, name="x", filename="t.dmn", bpmn_xml=data.decode(),
                            checksum=hashlib.sha256(data).hexdigest(), kind="dmn")
    session.add(row)
    session.flush()
    return row


@pytest.mark.parametrize(("cell", "out"), [
    ("__import__('os').system('touch {marker}') == 0", '"manager"'),
    ("< ().__class__.__mro__[1].__subclasses__()[0]('{marker}')", '"manager"'),
    ("<= 1000", "open('{marker}', 'w')"),
    ("<= 1000", "().__class__.__mro__[1].__subclasses__()"),
])
def test_dmn_escape_is_refused_at_publish_and_cannot_run(session, tmp_path, cell, out):
    """sandbox / trap 1: a hostile DMN cell is refused at publish, and a stored one cannot run either."""
    marker = tmp_path / "marker"
    hostile = table(small_cell=cell.format(marker=marker), small_out=out.format(marker=marker))
    with pytest.raises(DiagramError) as info:
        dmn.publish(session, hostile, filename="t.dmn", actor_id=None)
    assert info.value.errors[0]["element"] == "r_small" and "is not allowed" in info.value.errors[0]["message"]
    _store_unchecked_table(session, hostile)
    definitions.deploy(session, process(), filename="p.bpmn", actor_id=None)  # binds the stored table
    session.commit()
    iid = start(session, "dmn_route", 500)
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.bpmn_id == "prepare"))
    with pytest.raises(ProcessError) as run:
        runtime.complete_task(session, task_id, user(session, "rep1"), {})
    session.rollback()
    assert "not allowed" in str(run.value) and "谁审批" in str(run.value)  # refused by the sandbox, task named
    assert not marker.exists()
    assert step(session, iid) == ["prepare"]  # nothing moved


# ---------------------------------------------------------------- K1 through workflows/contract_route.dmn

def test_K1_contract_route_is_the_shipped_table(session):
    """K1: setup published contract_route before contract_approval, which is bound to it."""
    route = definitions.latest_definition(session, "contract_route", kind="dmn")
    approval = definitions.latest_definition(session, "contract_approval")
    assert (route.version, approval.version) == (1, 1)
    assert json.loads(approval.dmn_refs) == [route.id]
    again = definitions.deploy_shipped(session)  # nothing changed: nothing new
    assert {d.id for d in again} >= {route.id, approval.id}
    assert definitions.latest_definition(session, "contract_approval").version == 1


def test_K1_new_table_version_moves_the_limit_for_new_contracts_only(api, session):
    """K1 via the table: raising the amount limit to 300,000 in a new contract_route version sends a new
    250,000 contract to the department manager; a contract submitted before keeps its table, also when it is
    sent back and resubmitted (the route is decided again, by version 1's table)."""
    older = submit(api, 250000, 400000)                             # 250,000 > 200,000: countersign
    assert open_steps(api, older) == ["sm_opinion"]
    data = (ROOT / "workflows" / "contract_route.dmn").read_bytes().replace(b"&lt;= 200000", b"&lt;= 300000")
    admin = user(session, "admin")
    v2 = dmn.publish(session, data, filename="contract_route.dmn", actor_id=admin.id, comment="K1 limit 300,000")
    session.commit()
    assert v2.version == 2
    approval = definitions.latest_definition(session, "contract_approval")
    assert approval.version == 2 and json.loads(approval.dmn_refs) == [v2.id]
    newer = submit(api, 250000, 400000)
    assert open_steps(api, newer) == ["mgr_decide"]
    assert instance(api, newer)["definition_version"] == 2
    decide(api, older, "sm_opinion", "reject", "请修改")
    decide(api, older, "revise", "resubmit")
    assert instance(api, older)["definition_version"] == 1 and open_steps(api, older) == ["sm_opinion"]


def test_caller_that_no_longer_validates_blocks_the_new_table_with_a_clear_message(session):
    """A calling process version that would now be refused (here: a lane whose role no longer exists) is named."""
    table_v1 = dmn.publish(session, table(1000), filename="t.dmn", actor_id=None)
    xml = process().decode().replace('name="dept_manager"', 'name="retired_role"')
    session.add(ProcessDefinition(key="dmn_route", version=1, name="x", filename="p.bpmn", bpmn_xml=xml,
                                  checksum=hashlib.sha256(xml.encode()).hexdigest(), kind="bpmn",
                                  dmn_refs=json.dumps([table_v1.id])))
    session.flush()
    with pytest.raises(DiagramError) as info:
        dmn.publish(session, table(2000), filename="t.dmn", actor_id=None)
    assert info.value.errors[0]["element"] == "by_manager"
    assert info.value.errors[0]["message"].startswith("process dmn_route version 1 calls this decision table and "
                                                      "cannot be republished with it: lane 'retired_role'")
