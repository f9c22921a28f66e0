"""The simulator's task class (processes/simulation/workflow.py ``SimTask``, docs/simulation.md
"Speed"): every task of a simulated workflow is one, it changes state as Spiff's task does,
logs as Spiff's task does when ``spiff.task`` logs, and a run with it is the run without it."""
from __future__ import annotations

import logging
import uuid

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from processes.simulation import workflow
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve
from processes.simulation.workflow import SimTask, SimWorkflow
from test_simulation_walks import SCENARIO, assert_same_runs


class PlainTask(Task):
    """Spiff's task under another name: what the workflow's tasks were before SimTask."""


def test_every_task_of_a_simulated_workflow_is_a_sim_task():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    sim.run()
    kinds = {type(t) for c in sim.cases for i in c.instances for w in (i.wf, *i.wf.subprocesses.values())
             for t in w.tasks.values()}
    assert kinds == {SimTask}
    assert any(i.wf.subprocesses for c in sim.cases for i in c.instances)


def test_a_run_with_sim_tasks_is_the_run_with_spiffs_tasks(monkeypatch):
    assert_same_runs(monkeypatch, [(workflow, "SimTask", PlainTask)], seed=5)


def test_state_changes_log_as_spiffs_when_spiff_task_logs(caplog):
    loaded = resolve("boegeby").models["rehabilitering"]
    wf = SimWorkflow(loaded.spec, loaded.subprocess_specs)
    task = next(t for t in wf.tasks.values() if t._state == TaskState.MAYBE)
    assert type(task) is SimTask
    records = []
    for cls in (Task, SimTask):
        task.__class__ = cls
        task._state = TaskState.MAYBE
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="spiff.task"):
            task._set_state(TaskState.LIKELY)
            task._set_state(TaskState.LIKELY)
        assert task._state == TaskState.LIKELY
        records.append([(r.levelno, r.getMessage(), r.task_spec, r.state, r.parent) for r in caplog.records])
    assert records[0] == records[1] and len(records[0]) == 2
    # without a logger that takes the records, the state and the time of the change still move
    task._state = TaskState.MAYBE
    before = task.last_state_change
    with caplog.at_level(logging.WARNING, logger="spiff.task"):
        caplog.clear()
        task._set_state(TaskState.FUTURE)
    assert task._state == TaskState.FUTURE and task.last_state_change >= before and not caplog.records


def _ids_held(wf) -> list:
    """Every task id a simulated workflow holds: its dict's keys, each task's own id, parent
    and children, the event manager's keys and the sub-processes' keys and parent ids."""
    top = wf.top_workflow
    held = list(top.event_manager.tasks) + list(top.subprocesses)
    for w in (top, *top.subprocesses.values()):
        held += list(w.tasks) + [t.id for t in w.tasks.values()]
        held += [t._parent for t in w.tasks.values() if t._parent is not None]
        held += [c for t in w.tasks.values() for c in t._children]
        held += [w.parent_task_id] if w is not top else []
    return held


def test_every_task_id_a_simulated_workflow_holds_is_a_task_id_of_one_of_its_tasks():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    sim.run()
    held = [x for c in sim.cases for i in c.instances for x in _ids_held(i.wf)]
    assert len(held) > 1000
    assert {type(x) for x in held} == {workflow.TaskId}
    for c in sim.cases:
        for i in c.instances:
            top = i.wf
            by_id = {id(t.id): t for w in (top, *top.subprocesses.values()) for t in w.tasks.values()}
            # each id held is the very object of a live task (no copies, so identity is equality)
            assert all(id(x) in by_id for x in _ids_held(top))
            for w in (top, *top.subprocesses.values()):
                assert all(w.tasks[k] is t and k is t.id for k, t in w.tasks.items())
    # a new workflow's first tasks too, in Spiff's order of the dict
    loaded = resolve("boegeby").models["rehabilitering"]
    wf = SimWorkflow(loaded.spec, loaded.subprocess_specs)
    assert {type(x) for x in _ids_held(wf)} == {workflow.TaskId}
    assert [t.task_spec.name for t in wf.tasks.values()] == \
        [t.task_spec.name for t in BpmnWorkflow(loaded.spec, loaded.subprocess_specs).tasks.values()]


def test_task_ids_keep_spiffs_value_and_text_and_equal_only_themselves():
    value = uuid.uuid4()
    tid = workflow.task_id(value)
    assert (str(tid), tid.hex, tid.int, tid.version) == (str(value), value.hex, value.int, value.version)
    assert tid == tid and tid != workflow.task_id(value) and hash(tid) == hash(tid)
    assert {tid: 1}.get(tid) == 1 and {tid: 1}.get(workflow.task_id(value)) is None


def test_a_run_with_task_ids_is_the_run_with_spiffs_uuids(monkeypatch):
    assert_same_runs(monkeypatch, [(workflow, "task_id", lambda value: value),   # ids stay Spiff's UUIDs
                                   (workflow, "TaskId", uuid.UUID),
                                   (SimTask, "_add_child", Task._add_child),
                                   (workflow._FastWalks, "_rekey", lambda self: None)], seed=5)
