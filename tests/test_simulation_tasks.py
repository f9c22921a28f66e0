"""The simulator's task class (processes/simulation/workflow.py ``SimTask``, docs/simulation.md
"Speed"): every task of a simulated workflow is one, it changes state as Spiff's task does,
logs as Spiff's task does when ``spiff.task`` logs, and a run with it is the run without it."""
from __future__ import annotations

import logging

from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from processes.simulation import workflow
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve
from processes.simulation.workflow import SimTask, SimWorkflow
from test_simulation_walks import SCENARIO, fingerprint


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
    scenario = load_scenario(SCENARIO)
    for key in ("boegeby", "aaby"):
        fast = Simulation(resolve(key), scenario, 5, cases=12).run()
        with monkeypatch.context() as m:
            m.setattr(workflow, "SimTask", PlainTask)
            plain = Simulation(resolve(key), scenario, 5, cases=12).run()
        assert not fast.faults
        assert len(fast.actions) > 150
        assert fingerprint(fast) == fingerprint(plain)


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
