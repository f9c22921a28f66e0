"""The simulator's own work made cheaper (docs/simulation.md "Speed"): the inline
projection walk, the completion check without Spiff's iterator, form validations
remembered field by field. Each gives what the earlier code gave, on live trees and for a whole run."""
from __future__ import annotations

from processes import projections
from processes.forms import validate_form
from processes.simulation import kernel
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import resolve

from test_simulation_walks import SCENARIO, assert_same_runs, fingerprint


def project_by_walk(wf, metadata, completed_since=None):
    """The earlier ``projections.project``: the same per-task tests over ``walk``."""
    from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
    from SpiffWorkflow.util.task import TaskState

    timers_meta = metadata.get("timers", {})
    result = projections.Projection()
    ready = []
    for task, finished_path in projections.walk(wf):
        state = task.state
        if state == TaskState.WAITING:
            ed = getattr(task.task_spec, "event_definition", None)
            if isinstance(ed, TimerEventDefinition):
                value = ed.details(task).value
                if not value:
                    continue
                spec = task.task_spec
                meta = timers_meta.get(spec.bpmn_id, {})
                guid = str(task.id)
                result.timers[guid] = projections.PendingTimer(
                    guid, spec.bpmn_id, meta.get("name") or spec.bpmn_name or spec.bpmn_id,
                    TimerEventDefinition.get_datetime(value), meta.get("deadline"), meta.get("attached_to"))
            elif isinstance(ed, MessageEventDefinition):
                result.subscriptions[str(task.id)] = (ed.name, task)
        elif state == TaskState.READY:
            if task.task_spec.manual:
                ready.append(task)
        elif (state == TaskState.COMPLETED and completed_since is not None and finished_path
              and task.last_state_change >= completed_since):
            result.completed.append(task)
    for task in ready:
        guid = str(task.id)
        result.ready[guid] = task
        due = projections._due(wf, task, result.timers)
        if due is not None:
            result.due[guid] = due
    return result


def as_lists(view: projections.Projection) -> tuple:
    """Everything of a projection, in order (dicts as item lists, tasks by identity)."""
    return (list(view.timers.items()), [(g, id(t)) for g, t in view.ready.items()], list(view.due.items()),
            [(g, name, id(t)) for g, (name, t) in view.subscriptions.items()], [id(t) for t in view.completed])


def test_project_gives_what_the_walk_gave_on_live_trees():
    """After every engine step of a run (hand-offs, sub-processes, timers, messages), for
    each ``completed_since`` the engine and the simulator pass."""
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    step = sim._step
    seen = {"steps": 0, "timers": 0, "ready": 0, "subscriptions": 0, "completed": 0}

    def checked(instance, action=None):
        step(instance, action)
        wf, meta = instance.wf, instance.loaded.metadata
        for since in (None, 0.0, kernel._time.time() - 1e-3):
            view = projections.project(wf, meta, completed_since=since)
            assert as_lists(view) == as_lists(project_by_walk(wf, meta, completed_since=since))
            for key in ("timers", "ready", "subscriptions", "completed"):
                seen[key] += bool(getattr(view, key))
        seen["steps"] += 1

    sim._step = checked
    sim.run()
    # (no model of these variants waits for a message in this load: compared, not required)
    assert seen["steps"] > 200 and all(seen[k] for k in ("timers", "ready", "completed"))


def test_is_completed_gives_spiffs_answer_and_sets_completed_as_spiff_does():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    step = sim._step
    answers = {True: 0, False: 0}

    def checked(instance, action=None):
        step(instance, action)
        wf = instance.wf
        before = wf.completed
        fast = kernel._is_completed(wf)
        after = wf.completed
        wf.completed = before
        assert fast == wf.is_completed() and after == wf.completed
        answers[fast] += 1

    sim._step = checked
    sim.run()
    assert answers[True] > 0 and answers[False] > 100


def test_remembered_validations_are_validate_forms_answers():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=12)
    form = [{"id": "ja", "type": "boolean"}, {"id": "antal", "type": "long"},
            {"id": "dato", "type": "date", "past_only": True}, {"id": "rækker", "type": "list", "items": []}]
    cases = [{"ja": True, "antal": 1}, {"ja": 1, "antal": True}, {"ja": 1.0, "antal": 1.0},
             {"ja": "x"}, {"dato": "2027-03-01"}, {"ukendt": 1}, {"rækker": [{"a": 1}]}, {"rækker": "x"}]
    for today in ("2027-02-01", "2027-04-01"):
        for values in cases + cases:   # each twice: the second from memory
            clean, failed = sim._validate(form, values, today)
            expected, errors = validate_form(form, values, today=today)
            assert (clean, failed) == (expected, bool(errors)), (values, today)
    again, _ = sim._validate(form, {"ja": True, "antal": 1}, "2027-02-01")
    again["rækker"].append("changed")
    assert sim._validate(form, {"ja": True, "antal": 1}, "2027-02-01")[0]["rækker"] == []


def test_field_by_field_validations_are_validate_forms_answers_on_the_models_forms():
    """Every form of Bøgeby's and Aaby's models, with the filler's values, with a field
    left out, blank, None, of another type or another date, today before and after the
    dates: the answer field by field is ``validate_form``'s (clean values, their order,
    whether it failed), the first time and from memory."""
    import random

    from processes.history import FormFiller

    rng, checked, failed_seen = random.Random(3), 0, 0
    odd = [True, 1, 1.5, "x" * 5000, "2030-01-01", "2027-02-30", "20270203", "2027-W05-3", "2027-2-3",
           " 2027-02-03", "١٢٣٤-٠٢-٠٣", "ja", "nej", "true", "0", "-1", ""]
    for key in ("boegeby", "aaby"):
        sim = Simulation(resolve(key), load_scenario(SCENARIO), 7, cases=1)
        for loaded in sim.variant.models.values():
            for meta in loaded.metadata.get("tasks", {}).values():
                form = meta.get("form") or []
                if not form:
                    continue
                for today in ("2027-02-01", "2027-02-03", "2031-06-30"):
                    filled = FormFiller(random.Random(checked), today, {}, 14).fill(form, {})
                    scalar = {k: v for k, v in filled.items() if not isinstance(v, (list, dict))}
                    variants = [scalar, {}, {**scalar, "ukendt": 1}]
                    for spec in form:
                        fid = spec["id"]
                        variants += [{**scalar, fid: None}, {k: v for k, v in scalar.items() if k != fid},
                                     *({**scalar, fid: value} for value in rng.sample(odd, 4))]
                    for values in variants + variants:
                        got = sim._validate(form, values, today)
                        clean, errors = validate_form(form, values, today=today)
                        assert got == (clean, bool(errors)), (form, values, today)
                        assert list(got[0]) == list(clean)
                        checked += 1
                        failed_seen += bool(errors)
    assert checked > 1000 and 100 < failed_seen < checked - 100


def test_a_date_field_answers_as_validate_form_for_any_string():
    sim = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 7, cases=1)
    form = [{"id": "d", "type": "date", "past_only": True}, {"id": "e", "type": "date", "required": True}]
    strings = ["2027-02-01", "2027-02-02", "2028-02-29", "2027-02-29", "2027-13-01", "20270202", "2027-W05-2",
               "2027-033", "2027-2-2", "2027-02-02T10:00", " 2027-02-02", "2027-02-02 ", "१२३४-०२-०३",
               "0001-01-01", "9999-12-31", "x", "", None]
    for today in ("2027-02-01", "", None):
        for d in strings:
            for e in strings:
                values = {"d": d, "e": e}
                clean, errors = validate_form(form, values, today=today)
                assert sim._validate(form, values, today) == (clean, bool(errors)), (values, today)


def test_a_run_is_the_run_with_the_earlier_code(monkeypatch):
    """Projection by walk, Spiff's is_completed and validate_form at every completion:
    the same actions at the same moments, milestones, tasks, letters and engine steps."""
    assert_same_runs(monkeypatch, [
        (projections, "project", project_by_walk),
        (kernel, "_is_completed", lambda wf: wf.is_completed()),
        (Simulation, "_validate", lambda self, form, values, today: (lambda c, e: (c, bool(e)))(
            *validate_form(form, values, today=today)))], seed=7)


def test_the_benchs_baseline_runs_stock_bpmnworkflow_with_the_same_results():
    from SpiffWorkflow.bpmn import BpmnWorkflow

    from processes.simulation.workflow import SimWorkflow

    scenario = load_scenario(SCENARIO)
    sim = Simulation(resolve("boegeby"), scenario, 7, cases=4).run()
    base = Simulation(resolve("boegeby"), scenario, 7, cases=4, workflow_class=BpmnWorkflow).run()
    assert {type(i.wf) for c in sim.cases for i in c.instances} == {SimWorkflow}
    assert {type(i.wf) for c in base.cases for i in c.instances} == {BpmnWorkflow}
    assert sim.engine_steps > 100 and fingerprint(sim) == fingerprint(base)


def test_a_run_makes_no_full_collection_and_restores_the_collector():
    """While a run lasts the collector makes young collections only (full collections of
    the run's long-lived trees took a fifth of a 2,000-case run); afterwards the caller's
    thresholds are back."""
    import gc

    seen, collected = [], []

    def on_collect(phase, info):
        if phase == "start" and gc.get_threshold() == kernel.RUN_THRESHOLDS:
            collected.append(info["generation"])  # a collection inside the run

    simulation = Simulation(resolve("boegeby"), load_scenario(SCENARIO), 3, cases=30,
                            progress=lambda f: seen.append(gc.get_threshold()))
    saved = gc.get_threshold()
    gc.set_threshold(555, 7, 3)  # a full collection every 3 middle ones: several in a run
    gc.callbacks.append(on_collect)
    try:
        result = simulation.run()
        during = list(collected)
        after = gc.get_threshold()
    finally:
        gc.callbacks.remove(on_collect)
        gc.set_threshold(*saved)
    assert result.engine_steps > 0 and seen
    assert set(seen) == {kernel.RUN_THRESHOLDS}
    assert during and 2 not in during  # young collections ran, no full one
    assert after == (555, 7, 3)


def test_runs_in_threads_restore_the_collector_when_the_last_ends():
    import gc
    import threading

    saved = gc.get_threshold()
    gc.set_threshold(600, 9, 4)
    try:
        entered, leave = threading.Event(), threading.Event()

        def other():
            with kernel.young_collections_only():
                entered.set()
                leave.wait(10)

        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(10)
        with kernel.young_collections_only():
            assert gc.get_threshold() == kernel.RUN_THRESHOLDS
        assert gc.get_threshold() == kernel.RUN_THRESHOLDS  # the other run still goes on
        leave.set()
        thread.join(10)
        assert gc.get_threshold() == (600, 9, 4)
    finally:
        gc.set_threshold(*saved)
