"""Policy versions over time: show, set and history, and applying a change to running cases.

A policy version is never edited: a change is a new ``policy_version`` row with the date
from which new cases use it and who made it. A running case keeps the values it started
with (they were copied into its data) until an administrator applies the change to the
running cases of a case type. :func:`plan_apply` is the dry run: for every running
instance on an older version, which deadlines move and to when. :func:`apply` does it,
one engine step per instance (row locked, projections rewritten, ``policy.apply`` audited).

How a waiting deadline moves: a ``timeDuration`` timer keeps the moment it started
waiting (old deadline minus old duration, on the calendar) and gets the new duration from
there; a ``timeDate`` timer is evaluated again under the new policy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition, TimeDateEventDefinition, TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from processes import timekeeping
from processes.engine import Actor, Engine, mask_cpr, timer_expression_value
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from processes.library import policy_keys
from processes.models import Case, Municipality, PolicyVersion, ProcessInstance, User
from processes.policy import BY_KEY, CASE_TYPES, check_policy, defaults
from processes.scripting import (
    RestrictedEnvironment, SagsflowScriptEngine, end_of_danish_day, parse_duration,
)
from processes.serialization import instance_from_json

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR


# ------------------------------------------------------------------ values and versions
def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["fj_foerste_samtale=P2W", "fj_tidlig_opfoelgning=true"]`` as typed values."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key, text = key.strip(), text.strip()
        param = BY_KEY.get(key)
        if not sep or not key:
            raise InvalidInput(f"{pair!r}: expected KEY=VALUE")
        if param is None:
            raise InvalidInput(f"{key}: unknown policy parameter")
        if param.kind == "bool":
            if text.lower() not in ("true", "false", "ja", "nej"):
                raise InvalidInput(f"{key}: expected true or false, got {text!r}")
            values[key] = text.lower() in ("true", "ja")
        elif param.kind == "int":
            try:
                values[key] = int(text)
            except ValueError:
                raise InvalidInput(f"{key}: expected a whole number, got {text!r}") from None
        else:
            values[key] = text.upper() if param.kind == "duration" else text
    return values


def municipality_by_key(session: Session, key: str) -> Municipality:
    found = session.scalar(select(Municipality).where(Municipality.key == key))
    if found is None:
        raise NotFound(f"municipality {key!r} not found")
    return found


def require_admin(session: Session, municipality: Municipality, username: str) -> User:
    """Only an administrator of the municipality changes or applies its policy."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.municipality_id != municipality.id or not user.is_admin:
        raise Forbidden(f"{username!r} is not an administrator of {municipality.key}")
    return user


def local_midnight(day: date) -> datetime:
    """A Danish date as the moment it begins (midnight in Copenhagen), in UTC."""
    return datetime.combine(day, time(0), LOCAL_TZ).astimezone(timezone.utc)


def in_force(session: Session, municipality_id: int, case_type: str, when: datetime) -> PolicyVersion | None:
    return Engine.current_policy(session, municipality_id, case_type, when)


def set_policy(session: Session, municipality_key: str, values: dict[str, Any], effective_from: date,
               username: str, now: datetime, reason: str | None = None) -> list[PolicyVersion]:
    """Store a new version per case type touched by ``values``; refuse any loosened bound.

    The new version is the version in force on ``effective_from`` with ``values`` laid
    over it; new cases started from that date use it.
    """
    municipality = municipality_by_key(session, municipality_key)
    require_admin(session, municipality, username)
    if not values:
        raise InvalidInput("no values given (KEY=VALUE ...)")
    start = local_midnight(effective_from)
    base: dict[str, Any] = {}
    for case_type in {BY_KEY[k].case_type for k in values if k in BY_KEY}:
        version = in_force(session, municipality.id, case_type, start)
        base.update(version.values if version is not None else {})
    problems = check_policy(values, base)
    if problems:
        raise InvalidInput("; ".join(problems))
    created = []
    for case_type in CASE_TYPES:
        changes = {k: v for k, v in values.items() if BY_KEY[k].case_type == case_type}
        if not changes:
            continue
        # Dated before every version: build on the earliest, not on the bare defaults.
        base = in_force(session, municipality.id, case_type, start) or session.scalars(
            select(PolicyVersion).where(PolicyVersion.municipality_id == municipality.id,
                                        PolicyVersion.case_type == case_type)
            .order_by(PolicyVersion.effective_from, PolicyVersion.id).limit(1)).first()
        old = dict(base.values) if base is not None else defaults(case_type)
        new = dict(old, **changes)
        if new == old:
            continue
        version = PolicyVersion(municipality_id=municipality.id, case_type=case_type, effective_from=start,
                                values=new, changed_by=username, created_at=now)
        session.add(version)
        session.flush()
        Engine.audit(session, Actor(name=username), "policy.set", municipality.id, None, None,
                     {"case_type": case_type, "version": version.id, "effective_from": effective_from.isoformat(),
                      "changes": {k: [old.get(k), v] for k, v in changes.items() if old.get(k) != v},
                      **({"reason": reason} if reason else {})}, now)
        created.append(version)
    if not created:
        raise InvalidInput("the values are already in force; nothing to change")
    return created


def history(session: Session, municipality_key: str) -> list[dict]:
    """Every version of every case type, oldest first, with what it changed and who."""
    municipality = municipality_by_key(session, municipality_key)
    rows = session.scalars(select(PolicyVersion).where(PolicyVersion.municipality_id == municipality.id)
                           .order_by(PolicyVersion.case_type, PolicyVersion.created_at, PolicyVersion.id))
    previous: dict[str, dict] = {}
    out = []
    for row in rows:
        before = previous.get(row.case_type, defaults(row.case_type))
        out.append({"id": row.id, "case_type": row.case_type, "effective_from": row.effective_from,
                    "changed_by": row.changed_by, "created_at": row.created_at,
                    "first": row.case_type not in previous,
                    "changes": {k: (before.get(k), v) for k, v in row.values.items() if before.get(k) != v}})
        previous[row.case_type] = row.values
    return out


# ------------------------------------------------------------------ running cases
@dataclass
class DeadlineMove:
    bpmn_id: str
    name: str
    old: datetime
    new: datetime


@dataclass
class InstanceChange:
    instance_id: int
    case_id: int
    citizen: str
    cpr: str  # masked
    from_version: int | None
    changed: dict[str, tuple[Any, Any]]
    moves: list[DeadlineMove] = field(default_factory=list)


def _all_tasks(wf):
    seen = set()
    for workflow in [wf, *wf.subprocesses.values()]:
        for task in workflow.tasks.values():
            if task.id not in seen:
                seen.add(task.id)
                yield task


def _evaluate(task, expression: str, data: dict, policy: dict) -> Any:
    """The waiting timer ``task``'s expression under ``policy``; a failure is a ModelFault
    naming the timer (the preview and the apply report it; nothing is changed)."""
    return timer_expression_value(RestrictedEnvironment(), task, expression, dict(data, policy=policy))


def _moves(wf, new_policy: dict, timers_meta: dict) -> tuple[dict[str, tuple[Any, Any]], list[tuple]]:
    """What changes for one workflow: changed keys, and (task, move, new event value) per timer."""
    changed: dict[str, tuple[Any, Any]] = {}
    moves = []
    for task in _all_tasks(wf):
        if task.state != TaskState.WAITING:
            continue
        ed = getattr(task.task_spec, "event_definition", None)
        if not isinstance(ed, TimerEventDefinition) or "policy" not in task.data:
            continue
        old_policy = task.data["policy"]
        keys = {k for k in policy_keys(ed.expression) if old_policy.get(k) != new_policy.get(k)}
        event_value = task.internal_data.get("event_value")
        if not keys or event_value is None:
            continue
        for k in keys:
            changed[k] = (old_policy.get(k), new_policy.get(k))
        old_due = TimerEventDefinition.get_datetime(event_value)
        if isinstance(ed, DurationTimerEventDefinition):
            old_duration = parse_duration(_evaluate(task, ed.expression, task.data, old_policy))
            new_duration = parse_duration(_evaluate(task, ed.expression, task.data, new_policy))
            began = old_due - TimerEventDefinition.get_timedelta_from_end(old_duration, old_due)
            new_due = began + TimerEventDefinition.get_timedelta_from_start(new_duration, began)
            new_value = new_due.isoformat()
        elif isinstance(ed, TimeDateEventDefinition):
            new_value = _evaluate(task, ed.expression, task.data, new_policy)
            new_due = TimerEventDefinition.get_datetime(new_value)
        else:
            continue  # cycle timers are not used by the library (docs/modelling.md)
        meta = timers_meta.get(task.task_spec.bpmn_id, {})
        if meta.get("deadline") and meta.get("attached_to"):  # a deadline ends at the end of its Danish day
            new_value = end_of_danish_day(new_due).isoformat()
            new_due = TimerEventDefinition.get_datetime(new_value)
        if new_due != old_due:
            move = DeadlineMove(task.task_spec.bpmn_id, meta.get("name") or task.task_spec.bpmn_id, old_due, new_due)
            moves.append((task, move, new_value))
    return changed, moves


def _rewrite_policy(wf, new_policy: dict) -> None:
    """Put the new values where the rest of the run reads them: the instance's root data,
    every unfinished task, and the finished tasks that unfinished ones inherit from."""
    for workflow in [wf, *wf.subprocesses.values()]:
        if "policy" in workflow.task_tree.data:
            workflow.task_tree.data["policy"] = dict(new_policy)
        if "policy" in workflow.data:
            workflow.data["policy"] = dict(new_policy)
    for task in _all_tasks(wf):
        live = not task.has_state(_FINISHED) or any(not c.has_state(_FINISHED) for c in task.children)
        if live and "policy" in task.data:
            task.data["policy"] = dict(new_policy)


def _policy_of(wf) -> dict:
    return dict(wf.task_tree.data.get("policy") or {})


def _running(session: Session, municipality: Municipality, case_type: str, target: PolicyVersion):
    query = (select(ProcessInstance).where(ProcessInstance.municipality_id == municipality.id,
                                           ProcessInstance.process_id == case_type,
                                           ProcessInstance.status == "running")
             .order_by(ProcessInstance.id))
    return [row for row in session.scalars(query) if row.policy_version_id != target.id]


def _target(session: Session, municipality: Municipality, case_type: str, now: datetime) -> PolicyVersion:
    if case_type not in CASE_TYPES:
        raise InvalidInput(f"unknown case type {case_type!r}")
    target = in_force(session, municipality.id, case_type, now)
    if target is None:
        raise NotFound(f"{municipality.key} has no policy for {case_type}")
    return target


def _change_for(row: ProcessInstance, case: Case, wf, target: PolicyVersion, timers_meta: dict) -> tuple:
    old_policy = _policy_of(wf)
    changed = {k: (old_policy.get(k), v) for k, v in target.values.items() if old_policy.get(k) != v}
    timer_changed, moves = _moves(wf, target.values, timers_meta)
    changed.update(timer_changed)
    change = InstanceChange(row.id, case.id, case.citizen_name, mask_cpr(case.cpr), row.policy_version_id,
                            changed, [m for _, m, _ in moves])
    return change, moves


def plan_apply(engine: Engine, municipality_key: str, case_type: str) -> tuple[PolicyVersion, list[InstanceChange]]:
    """The dry run: every running instance on an older version and how its deadlines move."""
    with engine.sessions() as session:
        municipality = municipality_by_key(session, municipality_key)
        target = _target(session, municipality, case_type, timekeeping.now(session))
        plans = []
        for row in _running(session, municipality, case_type, target):
            loaded = engine.specs.get(session, row.model_version_id)
            wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version,
                                    script_engine=SagsflowScriptEngine())
            change, _ = _change_for(row, session.get(Case, row.case_id), wf, target, loaded.metadata.get("timers", {}))
            plans.append(change)
        session.expunge_all()
        return target, plans


def apply(engine: Engine, municipality_key: str, case_type: str, username: str) -> tuple[PolicyVersion, list[InstanceChange]]:
    """Move every running instance of ``case_type`` onto the policy in force now.

    One transaction per instance through :meth:`Engine.run_step`: the row is locked,
    ``policy`` is rewritten in the instance data, waiting timers that read a changed key
    get their new deadline, the projections (timers, task due dates) are rewritten and
    ``policy.apply`` is audited with the old and new value of every moved deadline.
    """
    with engine.sessions() as session:
        municipality = municipality_by_key(session, municipality_key)
        user = require_admin(session, municipality, username)
        actor = Actor.for_user(user)
        target = _target(session, municipality, case_type, timekeeping.now(session))
        ids = [row.id for row in _running(session, municipality, case_type, target)]
        target_id, target_values = target.id, dict(target.values)
    done = []
    for instance_id in ids:
        with engine.sessions.begin() as session:
            now = timekeeping.now(session)
            row = engine.lock_instance(session, instance_id)
            if row.status != "running" or row.policy_version_id == target_id:
                continue
            current = in_force(session, row.municipality_id, case_type, now)
            if current is None or current.id != target_id:
                raise Conflict("the policy in force changed while applying; run the command again")
            case = session.get(Case, row.case_id)
            timers_meta = engine.specs.get(session, row.model_version_id).metadata.get("timers", {})
            result: list[InstanceChange] = []

            def action(wf, case=case, row=row, timers_meta=timers_meta, result=result):
                change, moves = _change_for(row, case, wf, current, timers_meta)
                for task, _move, new_value in moves:
                    task.internal_data["event_value"] = new_value
                _rewrite_policy(wf, target_values)
                wf.refresh_timers()  # a deadline moved into the past falls due in this step
                result.append(change)

            engine.run_step(session, row, now, actor, action=action)
            change = result[0]
            row.policy_version_id = target_id
            engine.audit(session, actor, "policy.apply", row.municipality_id, row.case_id, row.id, {
                "case_type": case_type, "from_version": change.from_version, "to_version": target_id,
                "changed": {k: list(v) for k, v in change.changed.items()},
                "deadlines": [{"timer": m.bpmn_id, "name": m.name, "old": m.old.isoformat(),
                               "new": m.new.isoformat()} for m in change.moves]}, now)
            done.append(change)
    engine.deliver_messages()
    with engine.sessions() as session:
        return session.get(PolicyVersion, target_id), done
