"""An inclusive join inside a loop (processes/spiff_fixes.py, ``InclusiveGateway``): it
fires when the current iteration's branches have arrived, not as soon as the first one
of the second iteration does (SpiffWorkflow 3.2.0's own rule sees only the first
iteration's instances from then on). The studio lets a designer draw this; no shipped
model has one. Checked on Spiff's workflow as the engine runs it (spec and state through
the engine's serializer between steps) and on the simulator's workflow."""
from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway as SpiffInclusiveGateway
from SpiffWorkflow.util.task import TaskState

from processes.serialization import instance_from_json, instance_to_json, spec_from_json, spec_to_json
from processes.simulation.workflow import SimWorkflow
from processes.spiff_fixes import InclusiveGateway, Parser

# A review loop: an inclusive split opens the checks the data asks for (b is the default,
# taken when neither a nor c is asked for), an inclusive join waits for the opened ones,
# then the result is looked at and the loop goes round again while ``again`` is true.
LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
                  targetNamespace="http://sagsflow.example/test">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="merge"/>
    <bpmn:exclusiveGateway id="merge"/>
    <bpmn:sequenceFlow id="f1" sourceRef="merge" targetRef="plan"/>
    <bpmn:userTask id="plan"/>
    <bpmn:sequenceFlow id="f2" sourceRef="plan" targetRef="split"/>
    <bpmn:inclusiveGateway id="split" default="fb"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="a"><bpmn:conditionExpression>take_a</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="b"/>
    <bpmn:sequenceFlow id="fc" sourceRef="split" targetRef="c"><bpmn:conditionExpression>take_c</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:userTask id="a"/>
    <bpmn:userTask id="b"/>
    <bpmn:userTask id="c"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="b" targetRef="join"/>
    <bpmn:sequenceFlow id="fc2" sourceRef="c" targetRef="join"/>
    <bpmn:inclusiveGateway id="join"/>
    <bpmn:sequenceFlow id="f3" sourceRef="join" targetRef="result"/>
    <bpmn:userTask id="result"/>
    <bpmn:sequenceFlow id="f4" sourceRef="result" targetRef="again"/>
    <bpmn:exclusiveGateway id="again" default="fend"/>
    <bpmn:sequenceFlow id="floop" sourceRef="again" targetRef="merge"><bpmn:conditionExpression>again</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fend" sourceRef="again" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def parsed():
    parser = Parser()
    parser.add_bpmn_str(LOOP.encode())
    return parser.get_spec("review"), parser.get_subprocess_specs("review")


class Case:
    """The review process; ``stored``: through the engine's serializer after every step
    (the spec as a model version stores it, the state as a case row does)."""

    def __init__(self, workflow_class=BpmnWorkflow, stored: bool = False):
        self.spec, self.subs = parsed()
        if stored:
            self.spec, self.subs = spec_from_json(spec_to_json(self.spec, self.subs))
        self.stored = stored
        self.wf = workflow_class(self.spec, self.subs)
        self.wf.do_engine_steps()
        self._store()

    def _store(self):
        if self.stored:
            self.wf = instance_from_json(instance_to_json(self.wf), self.spec, self.subs)

    def ready(self) -> set[str]:
        return {t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.READY)}

    def complete(self, bpmn_id: str, **data) -> set[str]:
        task = next(t for t in self.wf.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == bpmn_id)
        task.set_data(**data)
        task.run()
        self.wf.do_engine_steps()
        self._store()
        return self.ready()


def round_trip(case: Case, opened: tuple[str, ...], again: bool) -> None:
    """One turn of the loop: plan (opening ``opened``), complete them in order, checking
    that the result waits for the last one, then look at the result."""
    assert case.ready() == {"plan"}
    ready = case.complete("plan", take_a="a" in opened, take_c="c" in opened)
    assert ready == set(opened)
    for position, check in enumerate(opened):
        ready = case.complete(check)
        if position < len(opened) - 1:
            assert ready == set(opened[position + 1:]), f"the join fired after {check} with {opened} opened"
        else:
            assert ready == {"result"}
    case.complete("result", again=again)


KINDS = [pytest.param(BpmnWorkflow, False, id="spiff"),
         pytest.param(BpmnWorkflow, True, id="stored-by-the-engine"),
         pytest.param(SimWorkflow, False, id="simulator")]


@pytest.mark.parametrize("workflow_class, stored", KINDS)
def test_the_join_waits_for_every_opened_check_in_every_turn(workflow_class, stored):
    case = Case(workflow_class, stored)
    round_trip(case, ("a", "c"), again=True)
    round_trip(case, ("a", "c"), again=True)   # Spiff's own join: 'result' after a alone
    round_trip(case, ("c", "a"), again=False)
    assert case.wf.is_completed()


@pytest.mark.parametrize("workflow_class, stored", KINDS)
def test_each_turn_waits_for_the_checks_that_turn_opened(workflow_class, stored):
    case = Case(workflow_class, stored)
    round_trip(case, ("a", "c"), again=True)
    round_trip(case, ("b",), again=True)   # the default flow alone
    round_trip(case, ("a",), again=True)   # fewer than the first time: no wait for c
    round_trip(case, ("c", "a"), again=False)
    assert case.wf.is_completed()
    assert case.ready() == set()


def test_parsed_and_stored_specs_use_the_fixed_join():
    spec, subs = parsed()
    restored, _ = spec_from_json(spec_to_json(spec, subs))
    for each in (spec, restored):
        joins = [s for s in each.task_specs.values() if isinstance(s, SpiffInclusiveGateway)]
        assert {s.bpmn_id for s in joins} == {"split", "join"}
        assert all(type(s) is InclusiveGateway for s in joins)


def test_spiffs_own_join_fires_early_in_the_second_turn(monkeypatch):
    """What the fix is for: without it, the second turn's join fires when the first
    opened check is done (so this test fails if SpiffWorkflow's rule changes)."""
    monkeypatch.setattr(InclusiveGateway, "_check_threshold_unstructured",
                        SpiffInclusiveGateway._check_threshold_unstructured)
    case = Case()
    round_trip(case, ("a", "c"), again=True)
    case.complete("plan", take_a=True, take_c=True)
    assert case.complete("a") == {"c", "result"}
