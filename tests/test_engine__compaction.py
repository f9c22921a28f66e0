"""Bounded case state (issue 15, item 2): finished loop iterations leave the live task
tree (processes/compaction.py). The same long fleksjob case runs in two installations,
one with compaction and one without; everything a user or the worker sees must be the
same month by month (open tasks and their deadlines, timers, milestones, breaches,
letters as rendered, the audit trail), also through a policy change and a move to
another model version. The compacted state round-trips through save and restore at
every year, and its size stops growing."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

import long_case
from conftest import make_runtime
from processes import compaction, migration, policy_changes, timekeeping
from processes.catalogue import register_model, version_in_force
from processes.engine import Actor
from processes.engine import _json_ready
from processes.letters import letter_data, render_letter
from processes.library import parse_model
from processes.models import (
    AuditEvent, DeadlineEvent, HumanTask, Milestone, ModelVersion, Municipality, Outbox, ProcessInstance, Timer,
)
from processes.serialization import instance_from_json, instance_to_json
from test_migration import extra_task_elsewhere


def _pair(tmp_path):
    compacted = make_runtime(f"sqlite:///{tmp_path / 'compacted.sqlite3'}")
    full = make_runtime(f"sqlite:///{tmp_path / 'full.sqlite3'}")
    full.engine.compact_state = False
    return compacted, full


def _seen(rt, case_id) -> dict:
    """What users and the worker see of a case (no ids, no guids)."""
    with rt.sessions() as s:
        def rows(query):
            return sorted(tuple(r) for r in s.execute(query))
        return {
            "tasks": rows(select(HumanTask.bpmn_id, HumanTask.state, HumanTask.due_at, HumanTask.role,
                                 HumanTask.revision).where(HumanTask.case_id == case_id)),
            "timers": rows(select(Timer.bpmn_id, Timer.due_at).where(Timer.case_id == case_id)),
            "milestones": rows(select(Milestone.key, Milestone.date).where(Milestone.case_id == case_id)),
            "breaches": rows(select(DeadlineEvent.bpmn_id, DeadlineEvent.due_at).where(DeadlineEvent.case_id == case_id)),
            "audit": rows(select(AuditEvent.action, AuditEvent.actor, AuditEvent.at).where(
                AuditEvent.case_id == case_id)),
            "instances": rows(select(ProcessInstance.process_id, ProcessInstance.status, ProcessInstance.next_due_at)
                              .where(ProcessInstance.case_id == case_id)),
        }


def _letters(rt, case_id) -> list:
    with rt.sessions() as s:
        items = s.scalars(select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "letter")
                          .order_by(Outbox.created_at, Outbox.payload["template"].as_string())).all()
        return [render_letter(s, rt.engine.specs, item, date(2032, 1, 1)).body for item in items]


def _tasks_in_state(rt, case_id) -> int:
    with rt.sessions() as s:
        total = 0
        for state in s.scalars(select(ProcessInstance.state).where(ProcessInstance.case_id == case_id)):
            data = json.loads(state)
            total += len(data["tasks"]) + sum(len(sp["tasks"]) for sp in data["subprocesses"].values())
        return total


def test_a_long_case_is_the_same_compacted_or_not_and_its_state_stops_growing(tmp_path):
    compacted, full = _pair(tmp_path)
    cases = (long_case.start(compacted).case_id, long_case.start(full).case_id)
    sizes = {}
    for year in range(5):
        months = range(12 * year, 12 * year + 12)
        for month in months:  # month by month: the two installations must agree at every step
            long_case.live(compacted, cases[0], range(month, month + 1))
            long_case.live(full, cases[1], range(month, month + 1))
            assert _seen(compacted, cases[0]) == _seen(full, cases[1]), f"month {month}"
        sizes[year + 1] = (_tasks_in_state(compacted, cases[0]), _tasks_in_state(full, cases[1]))
        _round_trip(compacted, cases[0])
    assert _letters(compacted, cases[0]) == _letters(full, cases[1])
    assert len(_letters(compacted, cases[0])) >= 1
    # a letter is written from the data its task saw, stored when it was queued: the
    # same as reading that task from the uncompacted state (where it still is)
    with compacted.sessions() as a, full.sessions() as b:
        stored = [o.payload for o in a.scalars(select(Outbox).where(Outbox.case_id == cases[0]).order_by(Outbox.id))]
        old_way = [letter_data(b, full.engine.specs, o.instance_id, o.payload["task_guid"])
                   for o in b.scalars(select(Outbox).where(Outbox.case_id == cases[1]).order_by(Outbox.id))]
    assert [(p["data"], p["labels"]) for p in stored] == [(_json_ready(d), l) for d, l in old_way]
    # the uncompacted tree grows with every talk, the compacted one does not
    assert sizes[5][1] > 2 * sizes[1][1]
    assert sizes[5][0] <= sizes[1][0]
    compacted.close(), full.close()


def _round_trip(rt, case_id):
    """Save and restore: the restored workflow serializes to the stored state, byte for byte."""
    with rt.sessions() as s:
        for row in s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)):
            loaded = rt.engine._spec(s, row.model_version_id)
            wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
            assert instance_to_json(wf) == row.state
            again = instance_from_json(instance_to_json(wf), loaded.spec, loaded.subprocess_specs)
            assert [t.id for t in again.get_tasks()] == [t.id for t in wf.get_tasks()]


def test_a_policy_change_applies_the_same_to_a_compacted_case(tmp_path):
    compacted, full = _pair(tmp_path)
    cases = (long_case.start(compacted).case_id, long_case.start(full).case_id)
    long_case.live(compacted, cases[0], range(0, 26))
    long_case.live(full, cases[1], range(0, 26))
    results = []
    for rt in (compacted, full):
        with rt.sessions.begin() as s:
            now = timekeeping.now(s)
            policy_changes.set_policy(s, "boegeby", {"fj_ly_kontakt_interval": "P2M"}, now.date(),
                                      "boegeby.admin", now)
        _version, done = policy_changes.apply(rt.engine, "boegeby", "fleksjob", "boegeby.admin")
        results.append([(c.changed, [(m.bpmn_id, m.old, m.new) for m in c.moves]) for c in done])
    assert results[0] == results[1]
    assert any(moves for _changed, moves in results[0])  # the contact talk's deadline moved
    assert _seen(compacted, cases[0]) == _seen(full, cases[1])
    long_case.live(compacted, cases[0], range(26, 32))
    long_case.live(full, cases[1], range(26, 32))
    assert _seen(compacted, cases[0]) == _seen(full, cases[1])
    compacted.close(), full.close()


def test_moving_a_compacted_case_to_another_model_version_works_as_before(tmp_path):
    compacted, full = _pair(tmp_path)
    cases = (long_case.start(compacted).case_id, long_case.start(full).case_id)
    long_case.live(compacted, cases[0], range(0, 20))
    long_case.live(full, cases[1], range(0, 20))
    assert _tasks_in_state(compacted, cases[0]) < _tasks_in_state(full, cases[1])  # something was compacted
    reports = []
    for rt, case_id in zip((compacted, full), cases):
        with rt.sessions.begin() as s:
            municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == "boegeby"))
            shared = s.get(ModelVersion, version_in_force(s, municipality_id, "fleksjob", timekeeping.now(s)))
            target = register_model(s, parse_model(extra_task_elsewhere(shared.bpmn_xml).encode(),
                                                   "boegeby/fleksjob.bpmn", expected_process="fleksjob"),
                                    municipality_id, timekeeping.now(s)).id
        with rt.sessions() as s:
            instance_id = s.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case_id,
                                                                   ProcessInstance.process_id == "fleksjob"))
            dry = migration.dry_run(s, municipality_id, "fleksjob", target)
        report = migration.migrate_instance(rt.engine, instance_id, target, Actor.system("boegeby.procesdesigner"))
        reports.append(([(r.status, sorted((w.bpmn_id, w.outcome) for w in r.waiting)) for r in dry],
                        report.status))
    assert reports[0] == reports[1]
    assert reports[0][1] == "clean"
    assert _seen(compacted, cases[0]) == _seen(full, cases[1])
    long_case.live(compacted, cases[0], range(20, 26))
    long_case.live(full, cases[1], range(20, 26))
    assert _seen(compacted, cases[0]) == _seen(full, cases[1])
    compacted.close(), full.close()


def test_whether_a_process_merges_branches_is_known_per_spec_object_not_per_id(monkeypatch):
    """A spec collected and another made at the same address must not inherit its answer
    (an id-keyed cache did; every id is the same here)."""
    from processes.library import BPMN_DIR, parse_file
    monkeypatch.setattr(compaction, "id", lambda _obj: 1, raising=False)
    merging = parse_file(BPMN_DIR / "shared" / "rehabilitering.bpmn").spec
    plain = parse_file(BPMN_DIR / "shared" / "sygedagpenge.bpmn").spec
    assert compaction._merges_branches(merging) is True
    assert compaction._merges_branches(plain) is False
