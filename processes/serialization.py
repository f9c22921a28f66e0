"""Spec and instance (de)serialization, wrapped in one place.

Specs are stored once per model version; an instance row stores only its own state
(tasks, data, events). Loading puts the cached spec objects back into the dictionary;
``from_dict`` passes non-dict values through, and it mutates its input, so a cached spec
*dict* must never be handed to it.
"""
from __future__ import annotations

import json
from importlib.metadata import version as package_version

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from processes.spiff_fixes import forget_removed_tasks, serializer_config


class InstanceConverter(BpmnWorkflowConverter):
    """Spiff's workflow converter without the specs: an instance row stores only its own
    state, so converting the (unchanging) spec on every save and dropping it again would
    be wasted work, most of a save's CPU time. Loading is Spiff's own."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
    serializer_config({**SPIFF_CONFIG, BpmnWorkflow: InstanceConverter})))
SERIALIZER_VERSION = SERIALIZER.VERSION
SPIFF_VERSION = package_version("SpiffWorkflow")


def _dumps(obj) -> str:
    registry = SERIALIZER.registry
    registry._encoder_mode = True
    try:
        return json.dumps(obj, cls=SERIALIZER._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def spec_to_json(spec, subprocess_specs: dict) -> str:
    return _dumps({
        "spec": SERIALIZER.to_dict(spec),
        "subprocess_specs": {name: SERIALIZER.to_dict(s) for name, s in subprocess_specs.items()},
    })


def spec_from_json(text: str):
    """Return ``(spec, subprocess_specs)`` restored from :func:`spec_to_json` output."""
    data = json.loads(text)
    spec = SERIALIZER.from_dict(data["spec"])
    subs = {name: SERIALIZER.from_dict(s) for name, s in data["subprocess_specs"].items()}
    return spec, subs


def instance_to_json(workflow: BpmnWorkflow) -> str:
    registry = SERIALIZER.registry
    registry._encoder_mode = True
    try:
        data = SERIALIZER.to_dict(workflow)
    finally:
        registry._encoder_mode = False
    return _dumps(data)


def instance_from_json(text: str, spec, subprocess_specs: dict, serializer_version: str = SERIALIZER_VERSION,
                       script_engine=None) -> BpmnWorkflow:
    data = json.loads(text)
    if serializer_version != SERIALIZER_VERSION:
        data[SERIALIZER.VERSION_KEY] = serializer_version
        SERIALIZER.migrate(data)
    data["spec"] = spec
    data["subprocess_specs"] = subprocess_specs
    workflow = SERIALIZER.from_dict(data)
    if script_engine is not None:
        workflow.script_engine = script_engine
    forget_removed_tasks(workflow)
    return workflow
