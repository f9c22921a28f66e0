"""The engine writes only the projection rows that changed, computed from the workflow
before and after the step (no reads of the projection tables). These tests hold that
short cut to the full answer: after every step of a long case, the open tasks, timers
and message subscriptions in the database are exactly what the stored state projects;
and the engine's single tree walk visits what Spiff's own iterators visit."""
from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

import long_case
from processes import projections
from processes.models import HumanTask, MessageSubscription, ProcessInstance, Timer
from processes.serialization import instance_from_json


def _stored(rt, case_id):
    with rt.sessions() as s:
        for row in s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)):
            loaded = rt.engine._spec(s, row.model_version_id)
            wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
            tasks = {(t.task_guid, t.due_at) for t in s.scalars(select(HumanTask).where(
                HumanTask.instance_id == row.id, HumanTask.state == "open"))}
            timers = {(t.task_guid, t.due_at) for t in s.scalars(select(Timer).where(Timer.instance_id == row.id))}
            subs = {t.task_guid for t in s.scalars(select(MessageSubscription).where(
                MessageSubscription.instance_id == row.id))}
            yield row, loaded, wf, tasks, timers, subs


def test_projection_rows_match_the_stored_state_after_every_step(runtime):
    instance = long_case.start(runtime)
    checked = []

    def check(month, _talks):
        for row, loaded, wf, tasks, timers, subs in _stored(runtime, instance.case_id):
            expected = projections.project(wf, loaded.metadata)
            assert tasks == {(g, expected.due.get(g, (None,))[0]) for g in expected.ready}, month
            assert timers == {(g, t.due_at) for g, t in expected.timers.items()}, month
            assert subs == set(expected.subscriptions), month
            assert row.next_due_at == expected.next_due_at, month
            checked.append(len(tasks) + len(timers))
    long_case.live(runtime, instance.case_id, range(0, 10), check)
    assert sum(checked) > 20  # the case had open tasks and timers to compare


def test_the_walk_visits_what_spiffs_iterators_visit(sqlite_runtime):
    instance = long_case.start(sqlite_runtime)
    visited = []

    def check(month, _talks):
        for _row, _loaded, wf, *_ in _stored(sqlite_runtime, instance.case_id):
            walked = list(projections.walk(wf))
            assert [t.id for t, _ in walked if t.state == TaskState.WAITING] == \
                [t.id for t in wf.get_tasks(state=TaskState.WAITING)]
            assert [t.id for t, _ in walked if t.state == TaskState.READY and t.task_spec.manual] == \
                [t.id for t in wf.get_tasks(state=TaskState.READY, manual=True)]
            assert [t.id for t, reach in walked if t.state == TaskState.COMPLETED and reach] == \
                [t.id for t in wf.get_tasks(state=TaskState.COMPLETED)]
            visited.append(len(walked))
    long_case.live(sqlite_runtime, instance.case_id, range(0, 14), check)
    assert max(visited) > 30  # a tree with loop history (compacted: the live part and a margin)
