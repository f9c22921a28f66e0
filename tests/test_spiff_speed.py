"""The faster task-spec code of processes/spiff_fixes.py (docs/simulation.md "Speed"): it
decides what the slower code it replaces decides, on live trees of the simulator and of
plain ``BpmnWorkflow``, and a simulation with it is the simulation without it, action for
action."""
from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

from processes import spiff_fixes
from processes.simulation import kernel
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve
from processes.spiff_fixes import ParallelGateway, SpiffEndJoin, _EndJoin
from test_simulation_walks import FILTERS, SCENARIO, assert_same_runs


def _count(counter: dict, key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def _run_checked(monkeypatch, join_class, checked, workflow_class: str) -> None:
    """A two-year Bøgeby run (12 cases) with ``checked`` as ``join_class``'s threshold
    check, on SimWorkflow or on plain BpmnWorkflow; the run has no fault."""
    monkeypatch.setattr(join_class, "_check_threshold_unstructured", checked)
    if workflow_class == "plain":
        monkeypatch.setattr(kernel, "SimWorkflow", BpmnWorkflow)
    result = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12).run()
    assert not result.faults


def test_parsed_processes_end_in_the_faster_end_join():
    for key in ("boegeby", "aaby"):
        for loaded in resolve(key).models.values():
            for spec in (loaded.spec, *loaded.subprocess_specs.values()):
                assert type(spec.task_specs[f"{spec.name}.EndJoin"]) is _EndJoin


@pytest.mark.parametrize("workflow_class", ["sim", "plain"])
def test_the_end_join_decides_as_spiffs_on_live_trees(monkeypatch, workflow_class):
    seen: dict = {}
    fast = _EndJoin._check_threshold_unstructured

    def checked(self, my_task):
        decision = fast(self, my_task)
        assert decision == SpiffEndJoin._check_threshold_unstructured(self, my_task)
        _count(seen, "fires" if decision else "waits")
        if my_task.workflow is not my_task.workflow.top_workflow:
            _count(seen, "sub-process")
        return decision

    _run_checked(monkeypatch, _EndJoin, checked, workflow_class)
    assert seen.get("fires", 0) > 10 and seen.get("waits", 0) > 100 and seen.get("sub-process", 0) > 0, seen


@pytest.mark.parametrize("workflow_class", ["sim", "plain"])
def test_the_join_decides_as_with_spiffs_walks_on_live_trees(monkeypatch, workflow_class):
    """Every threshold check of every parallel join in a two-year run: the same decision
    and the same instances, in the same order, as ``get_tasks(spec_name=…)``."""
    seen: dict = {}
    fast = ParallelGateway._check_threshold_unstructured

    def checked(self, my_task):
        decision = fast(self, my_task)
        assert decision == self._check_threshold_by_walks(my_task)
        instances = spiff_fixes._instances(my_task.workflow, self.name)
        assert instances is not None
        assert instances == my_task.workflow.get_tasks(spec_name=self.name)
        _count(seen, "fires" if decision else "waits")
        if len(instances) > 1:
            _count(seen, "several instances")
        return decision

    _run_checked(monkeypatch, ParallelGateway, checked, workflow_class)
    assert seen.get("fires", 0) > 20 and seen.get("waits", 0) > 20 and seen.get("several instances", 0) > 5, seen


def test_a_run_with_the_faster_joins_is_the_run_with_spiffs_walks(monkeypatch):
    assert_same_runs(monkeypatch, [
        (ParallelGateway, "_check_threshold_unstructured", ParallelGateway._check_threshold_by_walks),
        (_EndJoin, "_check_threshold_unstructured", SpiffEndJoin._check_threshold_unstructured)], seed=11)


def test_stored_specs_load_into_the_faster_classes():
    from processes.serialization import spec_from_json, spec_to_json

    loaded = resolve("boegeby").models["rehabilitering"]
    spec, subprocess_specs = spec_from_json(spec_to_json(loaded.spec, loaded.subprocess_specs))
    for each in (spec, *subprocess_specs.values()):
        assert type(each.task_specs[f"{each.name}.EndJoin"]) is _EndJoin
    assert any(type(s) is ParallelGateway for s in spec.task_specs.values())


def test_walk_order_is_spiffs_walk_on_live_trees():
    """Before and after every engine step of a two-year run with sub-processes: for every
    filter, from the root and from inner tasks, the tasks and order of Spiff's BPMN walk."""
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    seen: dict = {}
    step = sim._step

    def compare(wf):
        for w in (wf, *wf.subprocesses.values()):
            # Workflow.is_completed's walk
            unfinished = next(TaskIterator(w.task_tree, state=TaskState.NOT_FINISHED_MASK), None) is not None
            assert spiff_fixes.unfinished_task(w) == unfinished
            _count(seen, "unfinished" if unfinished else "finished")
            for kwargs in FILTERS:
                state = kwargs.get("state", TaskState.ANY_MASK)
                expected = list(BpmnTaskIterator(w.task_tree, **kwargs))
                assert spiff_fixes.walk_order(w, None, state, None, kwargs.get("manual")) == expected
                assert w.get_tasks(**kwargs) == expected
                _count(seen, f"{min(len(expected), 4)} found")
                if w is not wf:
                    _count(seen, "sub-process")
            for task in list(w.tasks.values())[::5]:
                for kwargs in ({"spec_name": task.task_spec.name}, {"state": TaskState.NOT_FINISHED_MASK}):
                    expected = list(BpmnTaskIterator(task, **kwargs))
                    assert spiff_fixes.walk_order(w, task, kwargs.get("state", TaskState.ANY_MASK),
                                                  kwargs.get("spec_name")) == expected
                    assert w.get_tasks(task, **kwargs) == expected
                    _count(seen, "inner")

    def checked(instance, action=None):
        compare(instance.wf)
        step(instance, action)
        compare(instance.wf)

    sim._step = checked
    assert not sim.run().faults
    assert all(seen.get(f"{n} found", 0) > 100 for n in range(4)) and seen["sub-process"] > 50, seen
    assert seen.get("finished", 0) > 5 and seen.get("unfinished", 0) > 100, seen
