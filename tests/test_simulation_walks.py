"""The simulator's fast tree walks (processes/simulation/workflow.py, docs/simulation.md
"Speed"): they yield what SpiffWorkflow's own iterators yield, and a run with them is the
run with Spiff's own walks, action for action."""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskIterator, TaskState

from processes.simulation import kernel, workflow
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve
from processes.simulation.workflow import SimSubWorkflow, SimWorkflow

# long enough for hand-offs (ressourceforløb, førtidspension with its expanded sub-process)
SCENARIO = {"period": {"years": 2, "warmup_weeks": 0},
            "arrivals": {"rehabilitering": {"per_week": 0.4, "distribution": "poisson"}},
            "meetings": {"waiting_list_weeks": 0}}

FILTERS = [{}, {"state": TaskState.READY}, {"state": TaskState.READY, "manual": False},
           {"state": TaskState.WAITING}, {"state": TaskState.COMPLETED}, {"state": TaskState.NOT_FINISHED_MASK},
           {"state": TaskState.FINISHED_MASK}, {"state": TaskState.PREDICTED_MASK}]


def fingerprint(result) -> list:
    return ([(c.number, c.case_type, sorted((k, d) for k, d, _ in c.milestones),
              sorted((k, i, d) for k, i, d, _ in c.item_milestones),
              [(i.process_id, i.started_at, i.completed_at) for i in c.instances]) for c in result.cases]
            + [(a.at, a.case, a.process_id, a.bpmn_id, repr(sorted(a.values.items()))) for a in result.actions]
            + [(t.case, t.bpmn_id, t.created_at, t.closed_at, t.state, t.due_at) for t in result.tasks]
            + [result.engine_steps, result.faults, result.letters])


def assert_same_runs(monkeypatch, earlier: list[tuple[object, str, object]], seed: int) -> list:
    """For Bøgeby and Aaby: a run of 12 cases with the code as it stands equals the run
    with each ``(owner, attribute, value)`` of ``earlier`` set (the earlier code): the
    same actions at the same moments, milestones, tasks, letters, engine steps and
    faults. Returns the current code's results."""
    scenario = load_scenario(SCENARIO)
    results = []
    for key in ("boegeby", "aaby"):
        now = Simulation(resolve(key), scenario, seed, cases=12).run()
        with monkeypatch.context() as m:
            for owner, attribute, value in earlier:
                m.setattr(owner, attribute, value)
            before = Simulation(resolve(key), scenario, seed, cases=12).run()
        assert not now.faults
        assert len(now.actions) > 150
        assert fingerprint(now) == fingerprint(before)
        results.append(now)
    return results


def test_a_run_with_the_fast_walks_is_the_run_with_spiffs_own_walks(monkeypatch):
    for fast in assert_same_runs(monkeypatch, [(kernel, "SimWorkflow", BpmnWorkflow)], seed=7):
        assert {i.process_id for c in fast.cases for i in c.instances} > {"rehabilitering"}


def test_the_fast_walks_yield_what_spiffs_iterators_yield_on_live_trees():
    """Before and after every engine step of a run, every walk of the workflow and its
    sub-processes, by each filter, from the root and from inner tasks."""
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    seen = {"walks": 0, "sub": 0, "waiting": 0, "children": 0}
    step = sim._step

    def compare(wf):
        assert type(wf) is SimWorkflow
        for w in (wf, *wf.subprocesses.values()):
            if w is not wf:
                assert type(w) is SimSubWorkflow
                seen["sub"] += 1
            for kwargs in FILTERS:
                assert list(w.get_tasks_iterator(**kwargs)) == list(BpmnTaskIterator(w.task_tree, **kwargs))
                assert w.get_tasks(**kwargs) == list(BpmnTaskIterator(w.task_tree, **kwargs))
                seen["walks"] += 1
            task_filter = BpmnTaskFilter(state=TaskState.READY, manual=False)
            assert list(w.get_tasks_iterator(task_filter=task_filter)) == \
                list(BpmnTaskIterator(w.task_tree, task_filter=task_filter))
            # update_waiting_tasks's walk: Spiff's plain iterator, not into sub-processes
            waiting = list(workflow._iterator(w, None, {"state": TaskState.WAITING}, bpmn=False))
            assert waiting == list(TaskIterator(w.task_tree, state=TaskState.WAITING))
            assert list(workflow._waiting(w.task_tree)) == waiting
            seen["waiting"] += len(waiting)
            # SimTask.children: Task.children's list, the same tasks in the same order
            for task in w.tasks.values():
                assert task.children == Task.children.fget(task)
                seen["children"] += len(task._children)
            for task in list(w.tasks.values())[::7]:
                name = task.task_spec.name
                assert list(w.get_tasks_iterator(task, spec_name=name)) == \
                    list(BpmnTaskIterator(task, spec_name=name))

    def checked(instance, action=None):
        compare(instance.wf)
        step(instance, action)
        compare(instance.wf)

    sim._step = checked
    result = sim.run()
    assert not result.faults
    assert seen["walks"] > 5000 and seen["sub"] > 0 and seen["waiting"] > 100 and seen["children"] > 10000, seen


def test_other_iterator_arguments_go_to_spiffs_own_iterator():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=1)
    sim.run()
    wf = sim.cases[0].instances[0].wf
    assert isinstance(wf.get_tasks_iterator(end_at_spec="Start"), BpmnTaskIterator)
    assert isinstance(wf.get_tasks_iterator(state=TaskState.COMPLETED, depth_first=False), BpmnTaskIterator)
    assert not isinstance(wf.get_tasks_iterator(state=TaskState.COMPLETED), BpmnTaskIterator)


def _earlier_update_waiting_tasks(self) -> None:
    """The earlier ``update_waiting_tasks``: the general walk of ``_iterator``."""
    for task in workflow._iterator(self, None, {"state": TaskState.WAITING}, bpmn=False):
        task.task_spec._update(task)


def test_a_run_with_the_waiting_walk_and_children_by_map_is_the_run_with_the_earlier_code(monkeypatch):
    assert_same_runs(monkeypatch, [(workflow._FastWalks, "update_waiting_tasks", _earlier_update_waiting_tasks),
                                   (workflow.SimTask, "children", Task.children)], seed=11)


def test_children_by_map_sets_and_misses_as_spiffs():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=1)
    sim.run()
    wf = sim.cases[0].instances[0].wf
    task = next(t for t in wf.tasks.values() if len(t._children) > 1)
    kids = task.children
    task.children = kids[::-1]
    assert task._children == [k.id for k in kids[::-1]] and task.children == Task.children.fget(task)
    task.children = kids
    task._children.append("not an id of the tree")       # Spiff's lookup gives None for it
    assert task.children == Task.children.fget(task) == [*kids, None]
    task._children.pop()
