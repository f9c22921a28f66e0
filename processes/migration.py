"""Moving running cases to a published model version (issue 12, "instance migration"):
the dry run.

Built on SpiffWorkflow's own workflow diff (``SpiffWorkflow.bpmn.util.diff``): for every
running instance of a case type in a municipality that is not on the target version, the
instance is loaded from its row (nothing is saved), compared with the target version's
spec by :func:`~SpiffWorkflow.bpmn.util.diff.diff_workflow`, and each task it is waiting
in (a user task, a timer, a message) is reported as mapping to the same element
unchanged, to a changed element, or as removed. An instance waiting in a removed element
cannot migrate; one whose completed work was removed or changed is reported too.

:func:`migrate_instance` moves one instance in its own transaction on the locked row:
Spiff's ``migrate_workflow`` swaps the spec and resets only READY tasks, which become
READY again with the same ids, so the inbox rows and the waiting timers (start and due
date) stay as they are; the case moves, it does not advance. It is audited
(``case.migrate``, with the old and new version and the state before), and
:func:`revert_instance` puts the instance back while nothing has happened on the new
version (:func:`revert_case` finds it by case number, for the command line and the
API). It does not go through the engine's step (``Engine.run_step`` treats a given
workflow as a new instance), so the projections are not rewritten: a task whose name or
role the new version changed keeps the old name and role in the inbox until its next step.

A waiting timer whose element changed is recomputed from its original start (as
``policy apply`` does) in an engine step on the moved case, so the due dates shown follow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition, TimeDateEventDefinition, TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from processes import timekeeping
from processes.engine import step_errors, timer_expression_value
from processes.errors import Conflict, NotFound
from processes.models import AuditEvent, ModelVersion, ProcessInstance
from processes.clock import FixedClock, use_clock
from processes.scripting import (
    RestrictedEnvironment, SagsflowScriptEngine, budget, end_of_danish_day, parse_duration,
)
from processes.serialization import (
    SERIALIZER, SERIALIZER_VERSION, instance_from_json, instance_to_json, spec_from_json,
)

WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class Waiting:
    bpmn_id: str
    name: str
    outcome: str  # same | changed | removed


@dataclass
class InstanceReport:
    case_id: int
    instance_id: int
    from_version: int
    status: str  # clean | changed | blocked
    waiting: list[Waiting] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _named(task) -> bool:
    return getattr(task.task_spec, "bpmn_id", None) is not None


def _report(row: ProcessInstance, version: ModelVersion, wf, new_spec, new_subs) -> InstanceReport:
    top, subs = diff_workflow(SERIALIZER.registry, wf, new_spec, new_subs)
    report = InstanceReport(row.case_id, row.id, version.version, "clean")
    diffs = [(wf, top)] + [(wf.subprocesses[sp_id], d) for sp_id, d in subs.items()]
    for workflow, diff in diffs:
        if diff is None:
            report.reasons.append(f"the sub-process {workflow.spec.name!r} is not in the new version")
            report.status = "blocked"
            continue
        removed, changed = set(diff.removed), set(diff.changed)
        for task in workflow.get_tasks(state=WAITING, skip_subprocesses=True):
            if not _named(task):
                continue
            spec = task.task_spec
            outcome = "removed" if task in removed else "changed" if task in changed else "same"
            report.waiting.append(Waiting(spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, outcome))
            if outcome == "removed":
                report.status = "blocked"
                report.reasons.append(f"waits in {spec.bpmn_name or spec.bpmn_id!r} ({spec.bpmn_id}), "
                                      "which the new version removes")
            elif outcome == "changed" and report.status == "clean":
                report.status = "changed"
        for task in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True):
            if _named(task) and task in removed:
                report.reasons.append(f"completed {task.task_spec.bpmn_id!r}, which the new version removes")
                report.status = "blocked"
    return report


def dry_run(session: Session, municipality_id: int, case_type: str, version_id: int) -> list[InstanceReport]:
    """What moving every running instance of ``case_type`` in the municipality to
    ``version_id`` would do; nothing is changed."""
    target = session.get(ModelVersion, version_id)
    if target is None or target.process_id != case_type or target.municipality_id not in (None, municipality_id):
        raise ValueError(f"model version {version_id} is not a {case_type} version of this municipality")
    rows = session.scalars(select(ProcessInstance).where(
        ProcessInstance.municipality_id == municipality_id, ProcessInstance.process_id == case_type,
        ProcessInstance.status == "running", ProcessInstance.model_version_id != version_id)
        .order_by(ProcessInstance.id)).all()
    reports = []
    specs: dict[int, tuple] = {}
    for row in rows:
        version = session.get(ModelVersion, row.model_version_id)
        if version.id not in specs:
            specs[version.id] = spec_from_json(version.spec_json)
        old_spec, old_subs = specs[version.id]
        new_spec, new_subs = spec_from_json(target.spec_json)  # fresh: alignment must not touch shared objects
        wf = instance_from_json(row.state, old_spec, old_subs, row.serializer_version)
        reports.append(_report(row, version, wf, new_spec, new_subs))
    return reports


def _workflow(row: ProcessInstance, version: ModelVersion):
    spec, subs = spec_from_json(version.spec_json)
    engine = SagsflowScriptEngine(timers=version.metadata_json.get("timers"))
    return instance_from_json(row.state, spec, subs, row.serializer_version, script_engine=engine)


def _recompute(wf, changed_timers: dict[str, str], target: ModelVersion) -> list[dict]:
    """Set each changed waiting timer's due date from its original start under the new
    expression (as ``policy apply`` moves a deadline): a duration counts from when the
    timer was reached, a date is evaluated again; a tagged deadline ends at the end of
    its Danish day. Returns the moves."""
    moves = []
    meta = target.metadata_json.get("timers") or {}
    env = RestrictedEnvironment()
    for workflow in [wf, *wf.subprocesses.values()]:
        for task in workflow.tasks.values():
            old_expression = changed_timers.get(str(task.id))
            ed = getattr(task.task_spec, "event_definition", None)
            if old_expression is None or task.state != TaskState.WAITING or not isinstance(ed, TimerEventDefinition):
                continue
            event_value = task.internal_data.get("event_value")
            if event_value is None:
                continue
            old_due = TimerEventDefinition.get_datetime(event_value)
            data = dict(task.data)
            if isinstance(ed, DurationTimerEventDefinition):
                old_duration = parse_duration(timer_expression_value(env, task, old_expression, data))
                began = old_due - TimerEventDefinition.get_timedelta_from_end(old_duration, old_due)
                new_duration = parse_duration(timer_expression_value(env, task, ed.expression, data))
                new_due = began + TimerEventDefinition.get_timedelta_from_start(new_duration, began)
            elif isinstance(ed, TimeDateEventDefinition):
                new_due = TimerEventDefinition.get_datetime(timer_expression_value(env, task, ed.expression, data))
            else:
                continue
            info = meta.get(task.task_spec.bpmn_id, {})
            if info.get("deadline") and info.get("attached_to"):
                new_due = end_of_danish_day(new_due)
            if new_due != old_due:
                task.internal_data["event_value"] = new_due.isoformat()
                moves.append({"timer": task.task_spec.bpmn_id, "from": old_due.isoformat(), "to": new_due.isoformat()})
    return moves


def migrate_instance(engine, instance_id: int, version_id: int, actor) -> InstanceReport:
    """Move one running instance to ``version_id`` in one engine step, if the dry run
    allows it; audited with the old and new version. Raises Conflict if it cannot move."""
    with engine.sessions.begin() as session:
        now = timekeeping.now(session)
        row = engine.lock_instance(session, instance_id)
        target = session.get(ModelVersion, version_id)
        if row.status != "running" or target is None or target.process_id != row.process_id or \
                target.municipality_id not in (None, row.municipality_id):
            raise NotFound(f"no running {row.process_id} instance {instance_id} to move to version {version_id}")
        if row.model_version_id == version_id:
            raise Conflict("the instance is already on that version")
        old = session.get(ModelVersion, row.model_version_id)
        wf = _workflow(row, old)
        new_spec, new_subs = spec_from_json(target.spec_json)
        report = _report(row, old, wf, new_spec, new_subs)
        if report.status == "blocked":
            raise Conflict("the instance cannot move: " + "; ".join(report.reasons))
        before = {"state": row.state, "model_version_id": old.id, "serializer_version": row.serializer_version}
        top, subs = diff_workflow(SERIALIZER.registry, wf, new_spec, new_subs)
        # Changed deadlines are recomputed after the move from their original start: what
        # each waiting timer of a changed element read before (its expression and due date).
        changed_timers = {str(t.id): t.task_spec.event_definition.expression
                          for diff in [top, *[d for d in subs.values() if d is not None]] for t in diff.changed
                          if t.state == TaskState.WAITING
                          and isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)}
        # Only READY tasks are re-predicted: WAITING timers keep their start and due date.
        migrate_workflow(top, wf, new_spec, reset_mask=TaskState.READY)
        for sp_id, diff in subs.items():
            sub = wf.subprocesses[sp_id]
            migrate_workflow(diff, sub, new_subs[sub.spec.name], reset_mask=TaskState.READY)
        wf.subprocess_specs = new_subs
        # The reset READY tasks become READY again (the same task ids, so the inbox rows
        # and timers stay as they are); nothing else runs: the case moves, it does not advance.
        with budget(), use_clock(FixedClock(now)), step_errors():
            wf.do_engine_steps()
        row.state, row.serializer_version = instance_to_json(wf), SERIALIZER_VERSION
        row.model_version_id, row.updated_at = target.id, now
        session.flush()
        moved_deadlines = []
        if changed_timers:  # an engine step on the moved case rewrites the timers and due dates
            engine.run_step(session, row, now, actor,
                            action=lambda moved: moved_deadlines.extend(_recompute(moved, changed_timers, target)))
        instance_version = session.scalar(select(ProcessInstance.version).where(ProcessInstance.id == row.id))
        engine.audit(session, actor, "case.migrate", row.municipality_id, row.case_id, row.id, {
            "process": row.process_id, "from_version": old.version, "from_version_id": old.id,
            "to_version": target.version, "to_version_id": target.id, "status": report.status,
            "instance_version": instance_version, "deadlines": moved_deadlines, "before": before}, now)
    return report


def revert_instance(engine, instance_id: int, actor) -> int:
    """Put a migrated instance back on its previous version, while nothing has happened
    on the new one (no step since the migration). Returns the version id it is back on."""
    with engine.sessions.begin() as session:
        now = timekeeping.now(session)
        row = engine.lock_instance(session, instance_id)
        event = _last_migration(session, instance_id)
        if event is None or event.action != "case.migrate":
            raise Conflict("the instance has no migration to revert")
        if row.version != event.detail["instance_version"] or row.model_version_id != event.detail["to_version_id"]:
            raise Conflict("something has happened on the new version since the migration; it cannot be reverted")
        before = event.detail["before"]
        old = session.get(ModelVersion, before["model_version_id"])
        moved = {m["timer"]: m["from"] for m in event.detail.get("deadlines") or []}
        if moved:  # a step puts the recomputed deadlines back, so the due dates shown follow
            def restore(wf):
                for workflow in [wf, *wf.subprocesses.values()]:
                    for task in workflow.tasks.values():
                        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
                        if bpmn_id in moved and task.state == TaskState.WAITING:
                            task.internal_data["event_value"] = moved[bpmn_id]
            engine.run_step(session, row, now, actor, action=restore)
            row = engine.lock_instance(session, instance_id)  # the step wrote the row
        row.state, row.serializer_version, row.model_version_id = before["state"], before["serializer_version"], old.id
        row.updated_at = now
        engine.audit(session, actor, "case.migrate_revert", row.municipality_id, row.case_id, row.id, {
            "process": row.process_id, "from_version_id": event.detail["to_version_id"], "to_version_id": old.id}, now)
        return old.id


def _last_migration(session: Session, instance_id: int) -> AuditEvent | None:
    return session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action.in_(("case.migrate", "case.migrate_revert")))
        .order_by(AuditEvent.id.desc()).limit(1)).first()


def moved_to(session: Session, municipality_id: int, version_id: int) -> list[dict]:
    """Running instances moved to ``version_id`` whose last migration event is that move."""
    found = []
    rows = session.scalars(select(ProcessInstance).where(
        ProcessInstance.municipality_id == municipality_id, ProcessInstance.model_version_id == version_id,
        ProcessInstance.status == "running")).all()
    for row in rows:
        event = _last_migration(session, row.id)
        if event is not None and event.action == "case.migrate" and event.detail.get("to_version_id") == version_id:
            found.append({"case_id": row.case_id, "instance_id": row.id, "from_version": event.detail["from_version"]})
    return found


def revert_case(engine, municipality_id: int, case_id: int, actor) -> dict:
    """Put a case of the municipality that was moved to another version back on its
    previous version (the command line's and the API's revert, by case number).

    Raises NotFound when the municipality has no such case, Conflict when none of its
    running instances was moved or something has happened since the move. Returns
    ``{"case_id", "instance_id", "process", "from_version_id", "to_version_id"}``."""
    with engine.sessions() as session:
        rows = session.scalars(select(ProcessInstance).where(
            ProcessInstance.municipality_id == municipality_id, ProcessInstance.case_id == case_id)
            .order_by(ProcessInstance.id)).all()
        if not rows:
            raise NotFound(f"no case {case_id} in this municipality")
        moved = [(row.id, row.process_id, row.model_version_id) for row in rows if row.status == "running"
                 and (event := _last_migration(session, row.id)) is not None and event.action == "case.migrate"
                 and event.detail.get("to_version_id") == row.model_version_id]
    if not moved:
        raise Conflict(f"case {case_id} has no move to another model version to revert")
    instance_id, process, from_version_id = moved[-1]
    to_version_id = revert_instance(engine, instance_id, actor)
    return {"case_id": case_id, "instance_id": instance_id, "process": process,
            "from_version_id": from_version_id, "to_version_id": to_version_id}
