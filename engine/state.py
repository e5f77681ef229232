"""Serialize a workflow's state without its spec, and restore it against a cached parsed spec.

SpiffWorkflow's default serializer embeds the whole spec in every instance (about two thirds of
the bytes, and most of the load time). The spec is already stored once per definition version,
so instances keep only their task tree and data.
"""
from __future__ import annotations

import threading
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

_restore_specs = threading.local()


class _StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict) -> BpmnWorkflow:
        spec, subprocess_specs = _restore_specs.value
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_config = dict(SPIFF_CONFIG)
_config[BpmnWorkflow] = _StateOnlyWorkflowConverter
_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config))


def dump_state(workflow: BpmnWorkflow) -> str:
    return _serializer.serialize_json(workflow)


def load_state(state: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    # Older serializer versions go through SpiffWorkflow migrations that eval() timer expressions
    # outside the sandbox; we only ever wrote the current version, so anything else is refused.
    version = _serializer.get_version(state)
    if version != _serializer.VERSION:
        raise ValueError(f"stored state has serializer version {version!r}, expected {_serializer.VERSION!r}")
    _restore_specs.value = (spec, subprocess_specs)
    try:
        return _serializer.deserialize_json(state)
    finally:
        _restore_specs.value = None
