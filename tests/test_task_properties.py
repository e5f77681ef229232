"""Task properties a designer sets in the modeler: due date in working days and the task's own reminder."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import deadline_jobs, definitions, runtime
from engine.safe_xml import DiagramError
from models.org import User
from models.process import HumanTask

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://t">
  <bpmn:process id="reminder_check" name="提醒" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="dept_manager"><bpmn:flowNodeRef>ok</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ok" name="审批">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="due_days" value="{due}" />
        <spiffworkflow:property name="remind_hours" value="{remind}" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ok" />
    <bpmn:sequenceFlow id="f2" sourceRef="ok" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _start(session, remind: str) -> HumanTask:
    definitions.deploy(session, DIAGRAM.format(due="3", remind=remind).encode(), filename="r.bpmn", actor_id=None)
    rep1 = session.scalar(select(User).where(User.username == "rep1"))
    instance = runtime.start_instance(session, "reminder_check", actor=rep1, data={}, title="提醒",
                                      sector_id=rep1.sector_id, department_id=rep1.department_id)
    session.commit()
    return session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))


def test_the_diagrams_reminder_hours_decide_when_the_task_reminds(app, session):
    """remind_hours=48 on the task: no reminder 49 h before the due date, one 47 h before (the sector's
    setting, 24 h, would not have reminded yet)."""
    task = _start(session, "48")
    assert task.due_at is not None and task.remind_at == task.due_at - timedelta(hours=48)
    early = deadline_jobs.task_deadlines(session, task.due_at - timedelta(hours=49))
    assert task.id not in early["reminded_tasks"]
    later = deadline_jobs.task_deadlines(session, task.due_at - timedelta(hours=47))
    session.commit()
    assert task.id in later["reminded_tasks"]
    again = deadline_jobs.task_deadlines(session, task.due_at - timedelta(hours=46))
    assert task.id not in again["reminded_tasks"]  # once


def test_without_reminder_hours_the_sector_setting_applies(app, session):
    task = _start(session, "")
    assert task.remind_at is None
    assert task.id not in deadline_jobs.task_deadlines(session, task.due_at - timedelta(hours=25))["reminded_tasks"]
    assert task.id in deadline_jobs.task_deadlines(session, task.due_at - timedelta(hours=23))["reminded_tasks"]


@pytest.mark.parametrize(("due", "remind"), [("3", "soon"), ("3", "-1"), ("x", "4"), ("3", "²"), ("999", "4")])
def test_bad_due_or_reminder_values_are_refused_naming_the_task(session, due, remind):
    with pytest.raises(DiagramError) as refused:
        definitions.deploy(session, DIAGRAM.format(due=due, remind=remind).encode(), filename="r.bpmn",
                           actor_id=None)
    assert any(e["element"] == "ok" and "must be a whole number" in e["message"] for e in refused.value.errors)
