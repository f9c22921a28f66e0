"""The simulator's new tasks (processes/simulation/workflow.py, docs/simulation.md "Speed"):
their data merged from the parent by ``merge_data``, Spiff's ``DeepMerge.merge`` with the
same results in the same objects (values, order, and which objects are shared with the
parent), and their ids drawn from the run's seeded generator. Each is held to Spiff's
code per call, on live trees, and a whole run with them is the run without them."""
from __future__ import annotations

import copy
import random
import uuid
from collections import OrderedDict

from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from processes.simulation import kernel, workflow
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve
from processes.simulation.workflow import SimTask, SimWorkflow, TaskId, id_source, merge_data
from test_simulation_walks import SCENARIO, assert_same_runs

_CONTAINERS = (dict, list, set, tuple)


def _objects(value, path=(), found=None) -> dict:
    """id -> first path of every container object reachable from ``value`` (the objects
    are kept alive with it, so that no id is reused by an object made later)."""
    found = {} if found is None else found
    if isinstance(value, _CONTAINERS):
        found.setdefault(id(value), _Kept(path, value))
        items = value.items() if isinstance(value, dict) else enumerate(value) if not isinstance(value, set) else ()
        for key, item in items:
            _objects(item, (*path, key), found)
    return found


class _Kept(tuple):
    """A path, equal to it, keeping its object alive."""

    def __new__(cls, path, value):
        kept = super().__new__(cls, path)
        kept.value = value
        return kept


def _sharing(result, a_objects: dict, b_objects: dict, path=()) -> list:
    """For each container in ``result``: its path, type and where it comes from (the path
    of the object of ``a`` or ``b`` it is, or new): the aliasing to compare."""
    out = [(path, type(result).__name__, ("a", a_objects.get(id(result))) if id(result) in a_objects else
            ("b", b_objects.get(id(result))) if id(result) in b_objects else "new")]
    if isinstance(result, dict):
        for key, item in result.items():
            if isinstance(item, _CONTAINERS):
                out += _sharing(item, a_objects, b_objects, (*path, key))
    elif isinstance(result, list):
        for key, item in enumerate(result):
            if isinstance(item, _CONTAINERS):
                out += _sharing(item, a_objects, b_objects, (*path, key))
    return out


def assert_merges_as_spiff(a, b) -> None:
    """``merge_data(a, b)`` gives what ``DeepMerge.merge`` gives on a copy of the same pair
    (copied together, so objects shared between ``a`` and ``b`` stay shared): equal values
    in the same key order, ``a`` itself returned (changed in place), the same objects of
    ``a`` and ``b`` in the same places, and ``b`` unchanged in both."""
    spiff_a, spiff_b = copy.deepcopy((a, b))
    a_objects, b_objects = _objects(a), _objects(b)
    spiff_a_objects, spiff_b_objects = _objects(spiff_a), _objects(spiff_b)
    b_before = copy.deepcopy(b)
    try:
        expected = DeepMerge.merge(spiff_a, spiff_b)
    except Exception as error:   # Spiff's merge fails on some lists of dicts: so must ours, alike
        try:
            merge_data(a, b)
        except Exception as ours:
            assert (type(ours), str(ours)) == (type(error), str(error))
            assert repr(a) == repr(spiff_a) and repr(b) == repr(spiff_b)
            return
        raise AssertionError(f"no {error!r}")
    got = merge_data(a, b)
    assert (got is a) == (expected is spiff_a)
    assert got == expected and repr(got) == repr(expected)
    assert _sharing(got, a_objects, b_objects) == _sharing(expected, spiff_a_objects, spiff_b_objects)
    assert b == b_before == spiff_b


def test_merge_data_merges_as_spiff_on_chosen_cases():
    shared = {"x": [1]}
    cases = [
        ({}, {}),
        ({}, {"a": 1, "s": "t", "n": None, "f": 1.5, "t": (1, [2]), "b": True}),
        ({}, {"d": {"e": {"f": [1, {"g": 2}]}}, "l": [1, [2], {"h": 3}], "s": {1, 2}}),
        ({}, {"od": OrderedDict(k=[1]), "by": bytearray(b"x"), "fs": frozenset({1})}),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": 1, "z": 0}, {"a": 2, "b": [1]}),
        ({"d": {"x": 1, "y": [1]}}, {"d": {"x": 2, "z": {"q": 1}}}),
        ({"d": {"x": 1}}, {"d": {"x": 1}}),
        ({"l": [1, 2, 3]}, {"l": [3, 4]}),
        ({"l": [{"a": 1}, 2]}, {"l": [{"b": 2}, 2, {"c": 3}]}),
        ({"l": [1]}, {"l": {"not": "a list"}}),
        ({"d": {"x": 1}}, {"d": [1]}),
        ({"s": {1}}, {"s": {2}}),
        ({"a": shared}, {"a": shared, "b": shared}),
        ({"a": 1}, {1: "int key", "a": {"n": shared}}),
        ({True: 1}, {1: 2}),
    ]
    for a, b in cases:
        assert_merges_as_spiff(a, b)
    same = {"a": [1], "b": {"c": 2}}
    assert merge_data(same, same) is same and same == {"a": [1], "b": {"c": 2}}
    ordered = OrderedDict(a=1)
    assert merge_data(ordered, {"b": [2]}) is ordered and list(ordered.items()) == [("a", 1), ("b", [2])]


def test_merge_data_merges_as_spiff_on_random_data():
    rng = random.Random(3)

    def value(depth):
        kind = rng.randrange(8 if depth < 3 else 4)
        return [lambda: rng.randrange(3), lambda: rng.choice("xyz"), lambda: None, lambda: rng.random() < 0.5,
                lambda: {rng.choice("abcd"): value(depth + 1) for _ in range(rng.randrange(4))},
                lambda: [value(depth + 1) for _ in range(rng.randrange(4))],
                lambda: {rng.randrange(3) for _ in range(rng.randrange(3))},
                lambda: tuple(value(depth + 1) for _ in range(2))][kind]()

    for _ in range(3000):
        b = {rng.choice("abcdef"): value(0) for _ in range(rng.randrange(6))}
        a = {} if rng.random() < 0.4 else {rng.choice("abcdef"): value(0) for _ in range(rng.randrange(6))}
        if a and b and rng.random() < 0.3:       # some values shared between the task and its parent
            key = rng.choice(list(b))
            a[key] = b[key]
        assert_merges_as_spiff(a, b)


def test_new_tasks_take_their_parents_data_as_spiff_on_live_trees(monkeypatch):
    """Every ``_inherit_data`` of a run: the task's data merged as Spiff merges it, the
    parent's data unchanged."""
    seen = {"calls": 0, "empty": 0, "nested": 0}

    def checked(self):
        a, b = self.data, self.parent.data
        seen["calls"] += 1
        seen["empty"] += not a
        seen["nested"] += any(isinstance(v, (dict, list)) for v in b.values())
        assert_merges_as_spiff(a, b)   # merges a in place, as the task's method would
        self.data = a

    monkeypatch.setattr(SimTask, "_inherit_data", checked)
    result = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=6).run()
    assert not result.faults
    assert seen["calls"] > 1000 and seen["empty"] > 500 and seen["nested"] > 500, seen


def _twins():
    loaded = resolve("boegeby").models["rehabilitering"]
    spiffs, ours = (SimWorkflow(loaded.spec, loaded.subprocess_specs) for _ in range(2))
    return spiffs, ours


def test_a_new_child_is_spiffs_child_made_a_sim_task_with_a_new_id():
    spiffs, ours = _twins()
    for state in (TaskState.MAYBE, TaskState.LIKELY, TaskState.FUTURE, TaskState.READY):
        made = []
        for wf, add in ((spiffs, Task._add_child), (ours, SimTask._add_child)):
            parent = list(wf.tasks.values())[1]
            parent.thread_id = 7
            spec = parent.task_spec.outputs[0]
            child = add(parent, spec, state)
            made.append((wf, parent, child))
        (swf, sparent, schild), (owf, oparent, ochild) = made
        assert type(schild) is type(ochild) is SimTask and type(ochild.id) is TaskId
        assert list(owf.tasks)[-1] is ochild.id and oparent._children[-1] is ochild.id
        assert ochild.parent is oparent and ochild.workflow is owf
        for name in ("_state", "triggered", "task_spec", "thread_id", "data", "internal_data"):
            assert getattr(ochild, name) == getattr(schild, name), name
        assert [t.task_spec.name for t in owf.tasks.values()] == [t.task_spec.name for t in swf.tasks.values()]
    # a predicted task cannot take a definite child, as in Spiff
    for wf, add in ((spiffs, Task._add_child), (ours, SimTask._add_child)):
        predicted = next(t for t in wf.tasks.values() if t._state & TaskState.PREDICTED_MASK)
        try:
            add(predicted, predicted.task_spec, TaskState.READY)
        except WorkflowException as error:
            assert "non-predicted child" in str(error)
        else:
            raise AssertionError("no error")


def test_task_ids_from_the_generator_are_version_4_uuids_unique_in_a_run_and_the_same_for_a_seed():
    new = id_source(random.Random(1))
    ids = [new() for _ in range(20000)]
    assert len({i.int for i in ids}) == len(ids)
    parsed = uuid.UUID(str(ids[0]))
    assert (parsed.version, parsed.variant, ids[0].is_safe) == (4, uuid.RFC_4122, uuid.SafeUUID.unknown)
    assert [i.int for i in ids[:5]] == [i.int for i in (lambda n: [n() for _ in range(5)])(id_source(random.Random(1)))]

    def guids(seed):
        sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), seed, cases=8)
        sim.run()
        return [str(t.id) for c in sim.cases for i in c.instances
                for w in (i.wf, *i.wf.subprocesses.values()) for t in w.tasks.values()]

    first = guids(4)
    assert len(first) > 500 and len(set(first)) == len(first)
    assert guids(4) == first and not set(guids(5)) & set(first)


def test_a_run_with_new_tasks_ids_and_data_is_the_run_with_spiffs(monkeypatch):
    assert_same_runs(monkeypatch, [(SimTask, "_add_child", Task._add_child),
                                   (SimTask, "_inherit_data", Task._inherit_data),
                                   (kernel, "takes_task_ids", lambda cls: False)], seed=9)
