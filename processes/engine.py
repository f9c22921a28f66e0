"""The engine wrapper: one transaction per engine step, the same code for web and worker.

A step locks the instance row, loads the workflow (cached spec + instance state), applies
one action (complete a task, fire due timers, deliver a message) under the injected
clock, runs engine steps, saves the state and rewrites the projections (open human
tasks, timers, message subscriptions, next due time), and writes audit events, deadline
breaches, outbox rows and thrown messages, all before one COMMIT. No network I/O happens
inside the transaction; the outbox and the message table are drained afterwards.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import Integer, any_, bindparam, not_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, configure_mappers, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from processes import (
    absence, compaction, letters, milestones, notices, pausepoints, projections, reads, timekeeping,
)
from processes.catalogue import LoadedSpec, SpecCache, version_in_force
from processes.clock import FixedClock, use_clock
from processes.errors import Conflict, EngineFault, Forbidden, InvalidInput, ModelFault, NotFound, SagsflowError
from processes.forms import check_form, text_errors, validate_form
from processes.library import HANDOFF_PREFIX, RESERVED_DATA
from processes.policy import BY_KEY
from processes.models import (
    AuditEvent, Case, DeadlineEvent, HumanTask, Message, MessageSubscription, Milestone, Municipality,
    ModelVersion, Outbox, PolicyVersion, ProcessInstance, Timer, User,
)
from processes.scripting import SagsflowScriptEngine, ScriptRejected, budget, danish_date
from processes.spiff_fixes import forget_removed_tasks
from processes.serialization import (
    SERIALIZER_VERSION, SPIFF_VERSION, instance_from_json, instance_to_json,
)
from processes.timeline import ACTIONS as TIMELINE_ACTIONS
from processes.writes import AHEAD, NotOneRow, Writes

log = logging.getLogger("sagsflow.engine")
# PostgreSQL channel the worker LISTENs on; a step notifies it (delivered on COMMIT) when
# it leaves work for the worker soon: a timer due within this window, a message, a letter.
WORK_CHANNEL = "sagsflow_work"
WAKE_WORKERS_WITHIN = timedelta(seconds=60)
_NOTIFY_WORK = text(f"SELECT pg_notify('{WORK_CHANNEL}', '')")
# A citizen's name is stored in ``sag.citizen_name``: a longer one is refused, not cut.
CITIZEN_NAME_LENGTH = Case.__table__.c.citizen_name.type.length


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (with municipality and roles) or the system (worker, clock)."""

    name: str
    user_id: int | None = None
    municipality_id: int | None = None
    roles: frozenset[str] = frozenset()
    is_system: bool = False

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(name=name, is_system=True)

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(name=user.username, user_id=user.id, municipality_id=user.municipality_id,
                   roles=frozenset(user.role_keys))


@dataclass
class StepEffects:
    """What one step produced besides the new state (collected while Spiff runs)."""

    letters: list[tuple[str, str, str, dict]] = field(default_factory=list)  # guid, bpmn id, template, params
    started: float = field(default_factory=time.time)  # tasks changed since then completed in this step


def _iso(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


class Engine:
    """Runs Sagsflow's process instances against the database.

    ``sessions`` is a SQLAlchemy sessionmaker. Time comes from the database clock, or the
    virtual clock where the installation has one (:mod:`processes.timekeeping`).
    """

    # Finished loop iterations leave the stored task tree (processes/compaction.py); off
    # only to compare a compacted case with an uncompacted one.
    compact_state = True

    def __init__(self, sessions: sessionmaker[Session], specs: SpecCache | None = None):
        self.sessions = sessions
        self.specs = specs or SpecCache()

    @contextmanager
    def _step_transaction(self) -> Iterator[StepSession]:
        """One transaction of a completion or a fired timer (see :class:`StepSession`):
        committed when the block ends, rolled back when it raises."""
        with self.sessions.kw["bind"].begin() as connection:
            session = StepSession(connection)
            yield session
            session._flush()

    # ----------------------------------------------------------------- loading
    def _spec(self, session: Session, version_id: int) -> LoadedSpec:
        return self.specs.get(session, version_id)

    def _load(self, session: Session, row: ProcessInstance | LockedInstance, effects: StepEffects) -> tuple[BpmnWorkflow, LoadedSpec]:
        loaded = self._spec(session, row.model_version_id)
        engine = SagsflowScriptEngine(service=self._service_handler(effects),
                                      deadline_timers=_deadline_timers(loaded), timers=loaded.metadata.get("timers"))
        wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs,
                                row.serializer_version, script_engine=engine)
        return wf, loaded

    @staticmethod
    def _service_handler(effects: StepEffects):
        def handle(task, operation: str, params: dict):
            if operation != "letter":
                raise InvalidInput(f"unknown service operation {operation!r}")
            template = params.get("template")
            effects.letters.append((str(task.id), task.task_spec.bpmn_id, template,
                                    {k: _iso(v) for k, v in params.items()}))
            return {"queued": True, "template": template}
        return handle

    @staticmethod
    def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                              .with_for_update().execution_options(populate_existing=True)).first()
        if row is None:
            raise NotFound(f"process instance {instance_id} not found")
        return row

    @staticmethod
    def _lock_step(session: Session, instance_id: int | None = None,
                   task_id: int | None = None) -> tuple[LockedInstance, datetime, HumanTask | None]:
        """Lock and load an instance row and read the clock, in one statement; with
        ``task_id``, the instance of that task, and the task row too; NotFound if there is
        no such row.

        The instance comes back as a :class:`LockedInstance` (a plain object, outside the
        ORM session), the task as a detached :class:`HumanTask`. The task row is read, not
        locked (the lock order is instance, then task), so if the statement waited for
        the instance lock, the task may have changed since: check what is written against
        what was read (see :meth:`complete_task`)."""
        if instance_id is not None:
            found = _LOCK_INSTANCE.first(session, {"b_id": instance_id})
        else:
            found = _LOCK_TASK_INSTANCE.first(session, {"b_id": task_id})
        if found is None:
            raise NotFound(f"process instance {instance_id} not found" if instance_id is not None
                           else f"task {task_id} not found")
        row = LockedInstance(found)
        if instance_id is not None:
            return row, timekeeping.now_from_values(*found[_PI_WIDTH:]), None
        task = _detached_task(zip(_HT_KEYS, found[_PI_WIDTH:_PI_WIDTH + _HT_WIDTH]))
        return row, timekeeping.now_from_values(*found[_PI_WIDTH + _HT_WIDTH:]), task

    # ------------------------------------------------------------------ steps
    def run_step(self, session: Session, row: ProcessInstance | LockedInstance, now: datetime, actor: Actor,
                 action: Callable[[BpmnWorkflow], None] | None = None,
                 workflow: BpmnWorkflow | None = None, writes: Writes | None = None,
                 closes: str | None = None, due: list | None = None) -> BpmnWorkflow:
        """Run one step on a locked instance row inside the caller's transaction.

        The step's writes (state, changed projection rows, audit, milestones, letters,
        messages) are sent in one batch at the end; a caller passing ``writes`` adds its
        own rows to that batch and executes it itself. ``closes`` is the guid of a task
        row the caller closes itself (a completion): the step does not cancel it. A
        ``due`` list receives the timers that were due before the step (strictly before
        ``now``, oldest first), as :class:`projections.PendingTimer`."""
        effects = StepEffects()
        if workflow is None:
            wf, loaded = self._load(session, row, effects)
            before = projections.project(wf, loaded.metadata)
        else:  # a new instance (nothing projected yet), or one moved to another version
            wf, loaded = workflow, self._spec(session, row.model_version_id)
            wf.script_engine.service = self._service_handler(effects)
            wf.script_engine.deadline_timers = _deadline_timers(loaded)
            wf.script_engine.timers = loaded.metadata.get("timers") or {}
            before = projections.from_database(session, row.id) if row.state else projections.EMPTY
        if due is not None:
            due.extend(sorted((t for t in before.timers.values() if t.due_at < now), key=lambda t: t.due_at))
        # One budget for all model code of the step; every engine task costs from it too,
        # so a model looping through script tasks and gateways stops as well.
        with budget() as spent, use_clock(FixedClock(now)), step_errors():
            wf.refresh_timers()
            if action is not None:
                action(wf)
            wf.do_engine_steps(did_complete_task=lambda _task: spent.charge())
        batch = writes if writes is not None else Writes()
        try:
            self._save(session, row, wf, loaded, now, actor, effects, before, batch, closes)
        except (TypeError, ValueError, RecursionError) as exc:  # data the serializer refuses
            raise ModelFault(None, f"the case data cannot be stored ({type(exc).__name__}: {exc})") from None
        if writes is None:
            batch.execute(session)
        return wf

    def _save(self, session, row, wf, loaded, now, actor, effects, before: projections.Projection,
              writes: Writes, closes: str | None = None) -> None:
        # Take the thrown events out of the workflow before serializing it: the workflow
        # keeps them in its state until read, so a saved copy would throw them again at the
        # next step (an intermediate throw event followed by more steps).
        events = wf.get_events()
        after = projections.project(wf, loaded.metadata, completed_since=effects.started)
        values = {"serializer_version": SERIALIZER_VERSION, "spiff_version": SPIFF_VERSION, "updated_at": now,
                  "next_due_at": after.next_due_at}
        if wf.is_completed() and row.status != "completed":
            values.update(status="completed", completed_at=now)
            self.queue_audit(writes, actor, "instance.complete", row.municipality_id, row.case_id, row.id,
                        {"process": row.process_id}, now)
        self._write_timers(writes, row, wf, before, after, now)
        self._write_tasks(session, writes, row, loaded, before, after, now, closes)
        self._write_subscriptions(writes, row, before, after)
        self._record_milestones(writes, row, wf, loaded, now, actor, after.completed)
        thrown = 0
        for event in events:
            ed = event.event_definition
            if isinstance(ed, MessageEventDefinition):
                thrown += 1
                writes.insert(Message.__table__, {
                    "municipality_id": row.municipality_id, "case_id": row.case_id, "source_instance_id": row.id,
                    "name": ed.name, "payload": _json_ready(event.payload),
                    "correlations": _json_ready(event.correlations), "created_at": now,
                    "delivered_at": None, "target_instance_id": None, "error": None})
        writes.insert(Outbox.__table__, [{
            "municipality_id": row.municipality_id, "case_id": row.case_id, "instance_id": row.id,
            "kind": "letter", "idempotency_key": f"letter:{row.id}:{guid}", "created_at": now,
            "next_attempt_at": now, "sent_at": None, "last_error": None,
            "payload": {"template": template, "params": params, "process_id": row.process_id,
                        "bpmn_id": bpmn_id, "task_guid": guid, **self._letter_snapshot(wf, loaded, guid)}}
            for guid, bpmn_id, template, params in effects.letters], ignore_conflicts=True)
        # The rows so far go to the server now (where the caller allows it): it writes them
        # while this process serializes the state.
        writes.send(session)
        # Last, once everything above has read the finished tasks it needed: finished
        # loop iterations leave the live tree, so the state stays bounded (see compaction).
        if self.compact_state:
            compaction.compact(wf)
        values["state"] = instance_to_json(wf)
        writes.add(projections.SAVE_INSTANCE, {"b_id": row.id, **values})
        # The row object is what the caller sees; the UPDATE above is its flush.
        if isinstance(row, LockedInstance):
            for key, value in values.items():
                setattr(row, key, value)
            row.version += 1
        else:
            for key, value in values.items():
                set_committed_value(row, key, value)
            set_committed_value(row, "version", row.version + 1)
        session.info["messages_thrown"] = session.info.get("messages_thrown", 0) + thrown
        if session.get_bind().dialect.name == "postgresql" and (
                thrown or effects.letters
                or (row.next_due_at is not None and row.next_due_at - now <= WAKE_WORKERS_WITHIN)):
            writes.add(_NOTIFY_WORK)

    @staticmethod
    def _letter_snapshot(wf, loaded, guid: str) -> dict:
        """The data a letter is written from, taken when it is queued: its service task's
        data and the labels of the enum values the forms before it set. The worker renders
        the letter later, when the task may have left the live tree (compaction)."""
        try:
            task = wf.get_task_from_id(_uuid(guid))
        except TaskNotFoundException:
            return {}
        tasks_meta = (loaded.metadata or {}).get("tasks", {})
        return {"data": _json_ready(dict(task.data)), "labels": letters.enum_labels(wf, tasks_meta, before=task)}

    def _write_timers(self, writes, row, wf, before, after, now) -> None:
        """Write the timer rows that changed and record the deadlines that fired."""
        for guid, old in before.timers.items():
            if guid in after.timers:
                continue
            writes.add(projections.DROP_TIMER, {"b_instance": row.id, "b_guid": guid})
            try:
                task = wf.get_task_from_id(_uuid(guid)) if old.attached_to else None
            except TaskNotFoundException:
                # Spiff dropped the waiting timer's task (a loop back to an earlier step
                # rebuilt that branch): the timer was withdrawn, it did not fire.
                task = None
            if task is not None and task.state == TaskState.COMPLETED:
                writes.insert(DeadlineEvent.__table__, {
                    "municipality_id": row.municipality_id, "case_id": row.case_id, "instance_id": row.id,
                    "process_id": row.process_id, "bpmn_id": old.bpmn_id, "deadline_rule": old.deadline_rule,
                    "due_at": old.due_at, "fired_at": now, "task_guid": guid}, ignore_conflicts=True)
                self.queue_audit(writes, Actor.system("clock"), "deadline.breach", row.municipality_id, row.case_id,
                            row.id, {"timer": old.bpmn_id, "rule": old.deadline_rule,
                                     "due_at": old.due_at.isoformat()}, now)
        for guid, timer in after.timers.items():
            old = before.timers.get(guid)
            if old is None:
                writes.insert(Timer.__table__, {
                    "instance_id": row.id, "task_guid": guid, "municipality_id": row.municipality_id,
                    "case_id": row.case_id, "bpmn_id": timer.bpmn_id, "name": timer.name, "due_at": timer.due_at,
                    "deadline_rule": timer.deadline_rule, "attached_to": timer.attached_to})
            elif (old.due_at, old.name, old.deadline_rule) != (timer.due_at, timer.name, timer.deadline_rule):
                writes.add(projections.MOVE_TIMER, {"b_instance": row.id, "b_guid": guid, "due_at": timer.due_at,
                                                    "name": timer.name, "deadline_rule": timer.deadline_rule})

    def _write_tasks(self, session, writes, row, loaded, before, after, now, closes: str | None = None) -> None:
        tasks_meta = loaded.metadata.get("tasks", {})
        for guid in before.ready.keys() - after.ready.keys():
            if guid != closes:
                writes.add(projections.CANCEL_TASK, {"b_guid": guid, "b_now": now})
        owner: Any = _UNSET
        for guid, task in after.ready.items():
            due, rule = after.due.get(guid, (None, None))
            if guid in before.ready:
                # A fired deadline keeps its date on the task: it is now overdue.
                if due is not None and before.due.get(guid, (None, None))[0] != due:
                    writes.add(projections.MOVE_TASK_DUE, {"b_guid": guid, "due_at": due, "deadline_rule": rule})
                continue
            meta = tasks_meta.get(task.task_spec.bpmn_id, {})
            role = meta.get("role") or task.task_spec.lane
            assignee = held_for = None
            if meta.get("owner_task"):
                if owner is _UNSET:
                    case = session.get(Case, row.case_id)
                    owner = session.get(User, case.owner_id) if case.owner_id else None
                assignee, held_for = absence.owner_assignee(session, owner, role, now)
            # A field marked prefill opens with the value the process holds (the team's
            # interventions in the RF plan); the open task's data is that proposal.
            prefill = {f["id"]: task.data[f["id"]] for f in meta.get("form", [])
                       if f.get("prefill") and task.data.get(f["id"]) not in (None, "", [])}
            writes.insert(HumanTask.__table__, {
                "task_guid": guid, "instance_id": row.id, "case_id": row.case_id,
                "municipality_id": row.municipality_id, "process_id": row.process_id,
                "bpmn_id": task.task_spec.bpmn_id,
                "name": meta.get("name") or task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                "role": role, "state": "open", "due_at": due, "deadline_rule": rule, "created_at": now,
                "data": _json_ready(prefill) if prefill else None, "claimed_by_id": assignee, "held_for_id": held_for,
                "completed_by_id": None, "closed_at": None, "revision": 1})

    def _write_subscriptions(self, writes, row, before, after) -> None:
        for guid in before.subscriptions.keys() - after.subscriptions.keys():
            writes.add(projections.DROP_SUBSCRIPTION, {"b_instance": row.id, "b_guid": guid})
        for guid, (name, task) in after.subscriptions.items():
            if guid not in before.subscriptions:
                writes.insert(MessageSubscription.__table__, {
                    "instance_id": row.id, "task_guid": guid, "municipality_id": row.municipality_id,
                    "case_id": row.case_id, "message_name": name,
                    "correlation": _json_ready(task.task_spec.event_definition.details(task).correlations or {})})

    def _record_milestones(self, writes, row, wf, loaded, now, actor, completed: list) -> None:
        """Record a milestone for every marked flow node that completed in this step."""
        done = [(task, key, "", day) for task, key, day in milestones.completed_marks(
            wf, loaded.metadata.get("milestones"), 0.0, now, row.id, tasks=completed)]
        done += milestones.completed_item_marks(wf, loaded.metadata.get("item_milestones"), 0.0, now, row.id,
                                                tasks=completed)
        writes.insert(Milestone.__table__, [
            {"municipality_id": row.municipality_id, "case_id": row.case_id, "instance_id": row.id,
             "process_id": row.process_id, "bpmn_id": task.task_spec.bpmn_id, "task_guid": str(task.id),
             "key": key, "item": item, "date": day, "recorded_at": now, "actor": actor.name}
            for task, key, item, day in done], ignore_conflicts=True)  # recorded once per run, key and item

    @staticmethod
    def queue_audit(writes: Writes, actor: Actor, action: str, municipality_id, case_id, instance_id, detail, now,
                    recorded_at: datetime | None = None) -> None:
        """An audit event in a step's batch of writes (:meth:`audit` adds one to the session)."""
        writes.insert(AuditEvent.__table__, {"municipality_id": municipality_id, "case_id": case_id,
                                             "instance_id": instance_id, "actor": actor.name, "action": action,
                                             "detail": _json_ready(detail), "at": now, "recorded_at": recorded_at})

    def _set_owner(self, session, case: Case, user: User | None, actor: Actor, now, why: str) -> None:
        old = session.get(User, case.owner_id) if case.owner_id else None
        if (old.id if old else None) == (user.id if user else None):
            return
        case.owner_id = user.id if user else None
        self.audit(session, actor, "case.owner", case.municipality_id, case.id, None,
                   {"from": old.username if old else None, "to": user.username if user else None,
                    "why": why}, now)

    @staticmethod
    def audit(session, actor: Actor, action: str, municipality_id, case_id, instance_id, detail, now) -> None:
        session.add(AuditEvent(municipality_id=municipality_id, case_id=case_id, instance_id=instance_id,
                               actor=actor.name, action=action, detail=_json_ready(detail), at=now,
                               recorded_at=datetime.now(timezone.utc)))

    # ------------------------------------------------------------ operations
    def start_case(self, municipality_key: str, case_type: str, cpr: str, citizen_name: str,
                   data: dict | None = None, actor: Actor | None = None, age: int | None = None) -> ProcessInstance:
        """Start a process of ``case_type`` for a citizen; one case per citizen and municipality."""
        actor = actor or Actor.system()
        cpr = _check_cpr(cpr)
        if problems := text_errors(citizen_name, CITIZEN_NAME_LENGTH):
            raise InvalidInput("the citizen's name cannot be stored", {"citizen_name": problems})
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            municipality = session.scalar(select(Municipality).where(Municipality.key == municipality_key))
            if municipality is None or (actor.municipality_id not in (None, municipality.id)):
                raise NotFound(f"municipality {municipality_key!r} not found")
            case = session.scalar(select(Case).where(Case.municipality_id == municipality.id,
                                                     Case.cpr == cpr, Case.status == "open"))
            if case is None:
                case = Case(municipality_id=municipality.id, cpr=cpr, citizen_name=citizen_name, created_at=now)
                session.add(case)
                session.flush()
            if actor.user_id is not None and case.owner_id is None:
                self._set_owner(session, case, session.get(User, actor.user_id), actor, now, "case.start")
            row = self._start_instance(session, municipality, case, case_type, dict(data or {}),
                                       actor, now, borger={"navn": citizen_name, "alder": age})
            instance_id = row.id
        self.deliver_messages()
        return self.instance(instance_id)

    def _start_instance(self, session, municipality, case, case_type, data, actor, now, borger=None,
                        handoff=None) -> ProcessInstance:
        version_id = version_in_force(session, municipality.id, case_type, now)
        if version_id is None:
            raise NotFound(f"{municipality.key} has no model for case type {case_type!r}")
        version = session.get(ModelVersion, version_id)
        policy = self.current_policy(session, municipality.id, case_type, now)
        loaded = self._spec(session, version.id)
        engine = SagsflowScriptEngine(timers=loaded.metadata.get("timers"))
        wf = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=engine)
        forget_removed_tasks(wf)
        initial = {
            "policy": dict(policy.values) if policy else {},
            "sag": {"id": case.id, "kommune": municipality.key},
            "borger": borger or {"navn": case.citizen_name, "alder": None},
            "startdato": danish_date(now),
        }
        if handoff is not None:
            initial["overdragelse"] = handoff
        reserved = sorted(RESERVED_DATA & set(data))
        if reserved:
            raise InvalidInput("the case data sets values only Sagsflow sets",
                               {key: ["Sagsflow sets this value; it cannot be given."] for key in reserved})
        initial.update(data)
        wf.task_tree.data.update(initial)
        row = ProcessInstance(
            municipality_id=municipality.id, case_id=case.id, model_version_id=version.id,
            policy_version_id=policy.id if policy else None, process_id=version.process_id,
            status="running", state="", serializer_version=SERIALIZER_VERSION, spiff_version=SPIFF_VERSION,
            started_at=now, updated_at=now)
        session.add(row)
        session.flush()
        self.audit(session, actor, "case.start", municipality.id, case.id, row.id,
                   {"process": case_type, "model_version": version.version}, now)
        self.run_step(session, row, now, actor, workflow=wf)
        return row

    @staticmethod
    def current_policy(session, municipality_id: int, case_type: str, now: datetime) -> PolicyVersion | None:
        return session.scalars(
            select(PolicyVersion).where(PolicyVersion.municipality_id == municipality_id,
                                        PolicyVersion.case_type == case_type,
                                        PolicyVersion.effective_from <= now)
            .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()).limit(1)).first()

    def task(self, task_id: int, actor: Actor) -> HumanTask:
        """One task as ``actor`` may see it: NotFound outside their municipality,
        Forbidden without its role."""
        with self.sessions() as session:
            return self._task_for(session, task_id, actor)

    def _task_for(self, session, task_id: int, actor: Actor, lock: bool = False) -> HumanTask:
        query = select(HumanTask).where(HumanTask.id == task_id)
        if lock:
            query = query.with_for_update()
        return self._visible_task(session.scalars(query.execution_options(populate_existing=True)).first(),
                                  task_id, actor)

    @staticmethod
    def _visible_task(task: HumanTask | None, task_id: int, actor: Actor) -> HumanTask:
        if task is None or (not actor.is_system and task.municipality_id != actor.municipality_id):
            raise NotFound(f"task {task_id} not found")
        if not actor.is_system and task.role not in actor.roles and not _taken_over(task, actor):
            raise Forbidden(f"task {task_id} needs the role {task.role!r}")
        return task

    def complete_task(self, task_id: int, data: dict, actor: Actor, revision: int | None = None,
                      idempotency_key: str | None = None) -> HumanTask:
        """Complete an open user task with form data; exactly once, even under races.

        ``revision`` (optional) is the task revision the user's form was rendered from;
        a task changed meanwhile answers :class:`Conflict`.

        ``idempotency_key`` (optional) names this submission (the page puts a fresh one in
        every form it renders). A retry of a submission that was committed, say after the
        web process died before it could answer, is recognised by its key, the same user
        and the same data: it returns the task (with ``replayed`` set) and changes
        nothing. Without a matching key a completed task answers :class:`Conflict`.
        """
        try:
            return self._complete(task_id, data, actor, revision, idempotency_key, fresh=False)
        except Conflict:
            # The first try read the task in the statement that locked its instance: if it
            # waited for that lock, the task may have changed meanwhile. The second try
            # reads it again under the lock, so its answer (a conflict, a replay, or the
            # completion) is the true one.
            return self._complete(task_id, data, actor, revision, idempotency_key, fresh=True)

    def _complete(self, task_id: int, data: dict, actor: Actor, revision: int | None,
                  idempotency_key: str | None, fresh: bool) -> HumanTask:
        with self._step_transaction() as session:
            row, now, task = self._lock_step(session, task_id=task_id)
            task = self._task_for(session, task_id, actor) if fresh else self._visible_task(task, task_id, actor)
            if task.state != "open":
                if idempotency_key and self._is_replay(session, row, task, data, actor, idempotency_key):
                    self.audit(session, actor, "task.complete_replayed", task.municipality_id, task.case_id,
                               task.instance_id, {"task": task.bpmn_id, "task_id": task.id,
                                                  "idempotency_key": idempotency_key}, now)
                    task.replayed = True
                    return task
                raise Conflict(f"task {task_id} is no longer open ({task.state})")
            if revision is not None and revision != task.revision:
                raise Conflict(f"task {task_id} has changed since the form was opened")
            if task.claimed_by_id is not None and actor.user_id is not None and task.claimed_by_id != actor.user_id:
                raise Conflict(f"task {task_id} is claimed by another user")
            meta = self._spec(session, row.model_version_id).metadata.get("tasks", {}).get(task.bpmn_id, {})
            form = meta.get("form", [])
            clean, errors = validate_form(form, data, today=danish_date(now))
            if errors:
                raise InvalidInput("the form has errors", errors)
            if meta.get("takes_ownership") and actor.user_id is not None:
                # before the step, so the owner tasks it opens go to the new owner
                self._set_owner(session, session.get(Case, task.case_id), session.get(User, actor.user_id),
                                actor, now, f"task:{task.bpmn_id}")
                session.flush()
            guid = task.task_guid

            def apply(wf: BpmnWorkflow) -> None:
                spiff_task = wf.get_task_from_id(_uuid(guid))
                if spiff_task is None or spiff_task.state != TaskState.READY:
                    raise Conflict(f"task {task_id} is no longer open")
                check_errors = check_form(form, clean, spiff_task.data)
                if check_errors:
                    raise InvalidInput("the form has errors", check_errors)
                spiff_task.set_data(**clean)
                spiff_task.run()

            with Writes() as writes:
                # This task is completed, if it is still the open row the step read (the
                # step cancels the other tasks that are no longer ready).
                closed = {"state": "completed", "completed_by_id": actor.user_id, "closed_at": now, "data": clean}
                writes.add(projections.CLOSE_TASK, {"b_id": task.id, "b_revision": task.revision, **closed},
                           expect_one=f"task {task_id} has changed meanwhile")
                detail = {"task": task.bpmn_id, "name": task.name, "data": clean}
                if idempotency_key:
                    detail.update(task_id=task.id, idempotency_key=idempotency_key)
                self.queue_audit(writes, actor, "task.complete", task.municipality_id, task.case_id,
                                 task.instance_id, detail, now)
                writes.send(session)   # the server writes these while the step loads and runs
                self.run_step(session, row, now, actor, action=apply, writes=writes, closes=guid)

                def before_commit() -> None:
                    session._flush()
                    pausepoints.pause("complete.before_commit", session)
                try:
                    writes.execute(session, before_commit=before_commit)
                except NotOneRow as exc:
                    raise Conflict(str(exc)) from None
            for key, value in {**closed, "revision": task.revision + 2}.items():
                set_committed_value(task, key, value)
            thrown = session.info.pop("messages_thrown", 0)
        pausepoints.pause("complete.after_commit")
        if thrown:
            self.deliver_messages()
        return task

    def _is_replay(self, session, row, task: HumanTask, data: dict, actor: Actor, key: str) -> bool:
        """Was ``task`` completed by this very submission (same key, user and data)?"""
        if task.state != "completed" or task.completed_by_id != actor.user_id:
            return False
        form = self._spec(session, row.model_version_id).metadata.get("tasks", {}).get(task.bpmn_id, {}).get("form", [])
        clean, errors = validate_form(form, data)
        if errors or _json_ready(clean) != task.data:
            return False
        recorded = session.scalars(select(AuditEvent.detail).where(
            AuditEvent.instance_id == task.instance_id, AuditEvent.action == "task.complete"))
        return any(d.get("task_id") == task.id and d.get("idempotency_key") == key for d in recorded)

    def claim_task(self, task_id: int, actor: Actor, unclaim: bool = False) -> HumanTask:
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            task = self._task_for(session, task_id, actor, lock=True)
            if task.state != "open":
                raise Conflict(f"task {task_id} is no longer open ({task.state})")
            if unclaim:
                if task.claimed_by_id not in (None, actor.user_id) and "teamleder" not in actor.roles:
                    raise Conflict(f"task {task_id} is claimed by another user")
                task.claimed_by_id = None
            else:
                if task.claimed_by_id not in (None, actor.user_id):
                    raise Conflict(f"task {task_id} is already claimed by another user")
                task.claimed_by_id = actor.user_id
            task.revision += 1
            self.audit(session, actor, "task.unclaim" if unclaim else "task.claim", task.municipality_id,
                       task.case_id, task.instance_id, {"task": task.bpmn_id}, now)
            return task

    def reassign_task(self, task_id: int, to_user, actor: Actor) -> HumanTask:
        """A teamleder gives an open task to a user of the same municipality with its role, or
        to a teamleder (taking it over); the new holder is notified."""
        if "teamleder" not in actor.roles:
            raise Forbidden("only a teamleder can reassign tasks")
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            task = session.scalars(select(HumanTask).where(HumanTask.id == task_id).with_for_update()).first()
            if task is None or task.municipality_id != actor.municipality_id:
                raise NotFound(f"task {task_id} not found")
            if task.state != "open":
                raise Conflict(f"task {task_id} is no longer open ({task.state})")
            if to_user.municipality_id != actor.municipality_id or not to_user.active or not (
                    task.role in to_user.role_keys or "teamleder" in to_user.role_keys):
                raise InvalidInput(f"{to_user.username} cannot take a {task.role} task")
            task.claimed_by_id = to_user.id
            task.revision += 1
            self.audit(session, actor, "task.reassign", task.municipality_id, task.case_id, task.instance_id,
                       {"task": task.bpmn_id, "to": to_user.username}, now)
            notices.reassigned(session, task, to_user, actor, now)
            return task

    def set_owner(self, case_id: int, user_id: int | None, actor: Actor) -> Case:
        """A teamleder makes ``user_id`` the case owner (None: no owner); audited. The old
        owner's open tasks on the case move to the new owner where they hold the role,
        else they go back to the role."""
        if "teamleder" not in actor.roles:
            raise Forbidden("only a teamleder can change the case owner")
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).first()
            if case is None or case.municipality_id != actor.municipality_id:
                raise NotFound(f"case {case_id} not found")
            user = session.get(User, user_id) if user_id is not None else None
            if user_id is not None and (user is None or user.municipality_id != case.municipality_id
                                        or not user.active):
                raise InvalidInput("the new owner must be a user of the case's municipality",
                                   {"owner": ["Vælg en medarbejder i kommunen."]})
            old = case.owner_id
            self._set_owner(session, case, user, actor, now, "teamleder")
            if old is not None and old != user_id:
                for task in session.scalars(select(HumanTask).where(
                        HumanTask.case_id == case_id, HumanTask.state == "open", HumanTask.claimed_by_id == old)):
                    task.claimed_by_id = user.id if user is not None and task.role in user.role_keys else None
                    task.revision += 1
            return case

    def fire_due(self, session: Session, row: ProcessInstance | LockedInstance, now: datetime,
                 writes: Writes | None = None, due: list | None = None) -> BpmnWorkflow:
        """Fire the due timers of a locked instance (the worker's step); see :meth:`run_step`
        for ``writes`` and ``due``."""
        return self.run_step(session, row, now, Actor.system("worker"), writes=writes, due=due)

    @staticmethod
    def claim_due(session: Session, exclude: Iterable[int] = ()) -> tuple[LockedInstance, datetime] | None:
        """Lock the instance that has been due longest and is not locked by another
        transaction (``FOR UPDATE SKIP LOCKED``; see worker/timers.py), load it and read the
        clock, in one statement; None if nothing is due. Due means strictly before now:
        Spiff fires a timer only once its time has passed."""
        params: dict[str, Any] = {"b_exclude": list(exclude)}
        sqlite_now = None
        if session.get_bind().dialect.name != "postgresql":
            params["b_now"] = sqlite_now = datetime.now(timezone.utc)
        found = _CLAIM_DUE.first(session, params)
        if found is None:
            return None
        clock = found[_PI_WIDTH:]
        now = sqlite_now if sqlite_now is not None and clock[0] is None else timekeeping.now_from_values(*clock)
        return LockedInstance(found), now

    def fire_instance(self, instance_id: int) -> None:
        with self._step_transaction() as session:
            row, now, _ = self._lock_step(session, instance_id=instance_id)
            if row.status == "running":
                with Writes() as writes:
                    self.fire_due(session, row, now, writes=writes)
                    writes.execute(session, before_commit=session._flush)

    def due_instance_ids(self, session: Session, now: datetime, limit: int = 100,
                         exclude: Iterable[int] = ()) -> list[int]:
        """Instances with a timer due strictly before ``now``: SpiffWorkflow fires a timer
        only once its time has passed, so a timer due exactly now is not due yet."""
        query = select(ProcessInstance.id).where(ProcessInstance.next_due_at < now,
                                                 ProcessInstance.status == "running")
        excluded = list(exclude)
        if excluded:
            query = query.where(ProcessInstance.id.not_in(excluded))
        return list(session.scalars(query.order_by(ProcessInstance.next_due_at).limit(limit)))

    def fire_all_due(self) -> int:
        """Fire every instance that is due now, one transaction each; return how many.

        An instance whose step leaves its next due time unchanged (a model or engine
        fault) is fired once and then left alone here, so a fault cannot spin this loop.
        """
        fired = 0
        stuck: set[int] = set()
        while True:
            with self.sessions.begin() as session:
                now = timekeeping.now(session)
                ids = self.due_instance_ids(session, now, exclude=stuck)
                before = dict(session.execute(select(ProcessInstance.id, ProcessInstance.next_due_at)
                                              .where(ProcessInstance.id.in_(ids))).all())
            if not ids:
                break
            for instance_id in ids:
                try:
                    self.fire_instance(instance_id)
                except ModelFault as exc:  # rolled back; the other instances still fire
                    log.error("instance %s cannot fire: %s", instance_id, exc)
                    stuck.add(instance_id)
                    continue
                fired += 1
            with self.sessions() as session:
                after = dict(session.execute(select(ProcessInstance.id, ProcessInstance.next_due_at)
                                             .where(ProcessInstance.id.in_(ids))).all())
            for instance_id in ids:
                due = after.get(instance_id)
                if due is not None and due == before.get(instance_id) and due < now:
                    log.error("instance %s stays due at %s after firing", instance_id, due)
                    stuck.add(instance_id)
            self.deliver_messages()
        return fired

    def advance_clock(self, delta: timedelta, fire: bool = True, progress: Callable[[datetime], None] | None = None,
                      actor: Actor | None = None) -> datetime:
        """Move the virtual clock forward, firing timers in the order they fall due.

        Each due time is visited in turn (the clock stops just past it), so a deadline
        computed when an earlier timer fires counts from that timer's date, as it would
        on the real clock. The move is audited (``clock.advance``: who, from, to).
        """
        with self.sessions.begin() as session:
            start = timekeeping.now(session)
            target = start + delta
            timekeeping.require_virtual(session)
            self.audit(session, actor or Actor.system(), "clock.advance", actor.municipality_id if actor else None,
                       None, None, {"from": start, "to": target}, start)
        previous = None
        while fire:
            with self.sessions.begin() as session:
                next_due = session.scalar(
                    select(ProcessInstance.next_due_at).where(ProcessInstance.status == "running",
                                                              ProcessInstance.next_due_at.isnot(None))
                    .order_by(ProcessInstance.next_due_at).limit(1))
                current = timekeeping.now(session)
                if next_due is None or next_due >= target:
                    break
                if next_due == previous:
                    # The instance did not move past this due time: it is failing. Leave it
                    # to the worker's error handling rather than spin here.
                    log.error("instance due at %s did not fire; stopping the clock there", next_due)
                    break
                previous = next_due
                timekeeping.set_virtual(session, max(current, next_due + timekeeping.TICK))
            if progress:
                progress(next_due)
            self.fire_all_due()
        with self.sessions.begin() as session:
            timekeeping.set_virtual(session, max(target, timekeeping.now(session)))
        if fire:
            self.fire_all_due()
        return target

    # -------------------------------------------------------------- messages
    def deliver_messages(self, limit: int = 100) -> int:
        """Route undelivered messages within their case; return how many were delivered.

        Safe to call from many processes at once: a message another process is delivering
        is skipped, and each message is delivered at most once. Pages past messages that
        wait for a receiver, so they never starve newer ones.
        """
        delivered = 0
        after = 0
        while True:
            with self.sessions.begin() as session:
                pending = list(session.scalars(select(Message.id).where(Message.delivered_at.is_(None),
                                                                        Message.error.is_(None),
                                                                        Message.id > after)
                                               .order_by(Message.id).limit(limit)))
            for message_id in pending:
                try:
                    if self._deliver(message_id):
                        delivered += 1
                except (SagsflowError, WorkflowException) as exc:
                    # e.g. a hand-off to a case type the municipality has no model for: the
                    # message is parked with its reason for an administrator; the sender's
                    # step has committed and is not undone.
                    self._park_message(message_id, str(exc))
            if len(pending) < limit:
                return delivered
            after = pending[-1]

    def _park_message(self, message_id: int, reason: str) -> None:
        log.error("message %s cannot be delivered: %s", message_id, reason)
        with self.sessions.begin() as session:
            session.execute(update(Message).where(Message.id == message_id, Message.delivered_at.is_(None))
                            .values(error=reason[:2000]))

    def _deliver(self, message_id: int) -> bool:
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            message = session.scalars(select(Message).where(Message.id == message_id)
                                      .with_for_update(skip_locked=True)
                                      .execution_options(populate_existing=True)).first()
            if message is None or message.delivered_at is not None:
                return False
            if message.name.startswith(HANDOFF_PREFIX):
                case = session.get(Case, message.case_id)
                municipality = session.get(Municipality, message.municipality_id)
                case_type = message.name[len(HANDOFF_PREFIX):]
                row = self._start_instance(session, municipality, case, case_type, {}, Actor.system("handoff"),
                                           now, handoff=message.payload)
                message.target_instance_id = row.id
                message.delivered_at = now
                return True
            sub = session.scalars(select(MessageSubscription).where(
                MessageSubscription.case_id == message.case_id,
                MessageSubscription.message_name == message.name,
                MessageSubscription.instance_id != message.source_instance_id)
                .order_by(MessageSubscription.instance_id).limit(1)).first()
            if sub is None:
                return False  # stays queued until a receiver subscribes
            row = self.lock_instance(session, sub.instance_id)
            # Another message may have been delivered to this subscription while we waited
            # for the instance lock: deliver this one later rather than into the void.
            still_waiting = session.scalar(select(MessageSubscription.task_guid).where(
                MessageSubscription.instance_id == sub.instance_id,
                MessageSubscription.task_guid == sub.task_guid).execution_options(populate_existing=True))
            if still_waiting is None or row.status != "running":
                return False
            payload, correlations = message.payload, message.correlations

            def apply(wf: BpmnWorkflow) -> None:
                waiting = wf.get_task_from_id(_uuid(sub.task_guid))
                event = BpmnEvent(waiting.task_spec.event_definition, payload, correlations)
                wf.send_event(event)

            try:
                self.run_step(session, row, now, Actor.system("messages"), action=apply)
            except (WorkflowException, ModelFault) as exc:
                message.error = str(exc)
                return False
            message.target_instance_id = row.id
            message.delivered_at = now
            return True

    # --------------------------------------------------------------- queries
    def instance(self, instance_id: int) -> ProcessInstance:
        with self.sessions() as session:
            row = session.get(ProcessInstance, instance_id)
            if row is None:
                raise NotFound(f"process instance {instance_id} not found")
            return row

    def open_tasks(self, municipality_id: int | None = None, roles: Iterable[str] | None = None,
                   case_id: int | None = None) -> list[HumanTask]:
        with self.sessions() as session:
            query = select(HumanTask).where(HumanTask.state == "open")
            if municipality_id is not None:
                query = query.where(HumanTask.municipality_id == municipality_id)
            if roles is not None:
                query = query.where(HumanTask.role.in_(list(roles)))
            if case_id is not None:
                query = query.where(HumanTask.case_id == case_id)
            return list(session.scalars(query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)))

    def task_form(self, task: HumanTask) -> list[dict]:
        with self.sessions() as session:
            row = session.get(ProcessInstance, task.instance_id)
            return self._spec(session, row.model_version_id).metadata.get("tasks", {}).get(task.bpmn_id, {}).get("form", [])

    def case_detail(self, case_id: int, actor: Actor | None = None, access=None) -> dict:
        """Everything about one case: instances, history, open tasks, pending deadlines, letters.
        ``access(session)``, when given, is called first in the same transaction (the
        inbox's case access check: it raises before the view is audited, and returns the
        case row it read)."""
        actor = actor or Actor.system()
        with self.sessions.begin() as session:
            case = access(session) if access is not None else session.get(Case, case_id)
            if case is None or (not actor.is_system and case.municipality_id != actor.municipality_id):
                raise NotFound(f"case {case_id} not found")
            now = timekeeping.now(session)
            if not actor.is_system:
                self.audit(session, actor, "case.view", case.municipality_id, case.id, None, {}, now)
            instances = list(case.instances)   # loaded with the case (by id), with their model versions:
            versions = {v.id: v for v in session.scalars(
                select(ModelVersion).where(ModelVersion.id.in_({i.model_version_id for i in instances})))}
            for instance in instances:
                set_committed_value(instance, "model_version", versions[instance.model_version_id])
            tasks = list(session.scalars(select(HumanTask).where(HumanTask.case_id == case_id)
                                         .order_by(HumanTask.id)))
            timers = list(session.scalars(select(Timer).where(Timer.case_id == case_id).order_by(Timer.due_at)))
            letters = list(session.scalars(select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "letter")
                                           .order_by(Outbox.id)))
            breaches = list(session.scalars(select(DeadlineEvent).where(DeadlineEvent.case_id == case_id)
                                            .order_by(DeadlineEvent.due_at)))
            # the case's events (what the timeline shows), not who viewed or searched it
            audit = list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                                  AuditEvent.action.in_(list(TIMELINE_ACTIONS)))
                                         .order_by(AuditEvent.id)))
            municipality = session.get(Municipality, case.municipality_id)
            milestone_rows = milestones.case_milestones(session, case_id)
            targets = milestones.target_status(milestone_rows, self._target_values(session, case.municipality_id, now),
                                               now, {i.process_id for i in instances})
            owner = session.get(User, case.owner_id) if case.owner_id else None
            return {"case": case, "municipality": municipality, "instances": instances, "tasks": tasks,
                    "timers": timers, "letters": letters, "breaches": breaches, "audit": audit, "now": now,
                    "milestones": milestone_rows, "targets": targets, "owner": owner}

    def _target_values(self, session, municipality_id: int, now: datetime):
        """``key -> value`` of a municipality's current service targets (policy parameters):
        the policies in force for all its case types, read once (as :meth:`current_policy`
        picks them: the latest effective, then the latest written), when first asked."""
        current: dict[str | None, dict] = {}

        def value(key: str):
            if not current:
                current[None] = {}
                for policy in session.scalars(select(PolicyVersion).where(
                        PolicyVersion.municipality_id == municipality_id, PolicyVersion.effective_from <= now)
                        .order_by(PolicyVersion.effective_from, PolicyVersion.id)):
                    current[policy.case_type] = dict(policy.values)   # a later one replaces it
            return current.get(BY_KEY[key].case_type, {}).get(key)
        return value


_UNSET = object()
_PI, _HT = ProcessInstance.__table__, HumanTask.__table__
_PI_KEYS = tuple(c.key for c in _PI.columns)
_HT_KEYS = tuple(c.key for c in _HT.columns)
_PI_WIDTH, _HT_WIDTH = len(_PI_KEYS), len(_HT_KEYS)


_new_task: Callable[[], HumanTask] | None = None


def _detached_task(values: Iterable[tuple[str, Any]]) -> HumanTask:
    """A :class:`HumanTask` holding a row's column values as loaded (outside any session):
    what ``HumanTask(**values)`` gives, without the ORM's attribute events and change
    history for every column (about 0.04 ms of the 0.2-0.25 ms client CPU of a
    completion's lock-and-load, docs/benchmarks.md, engine steps, session 6)."""
    global _new_task
    if _new_task is None:
        configure_mappers()   # what the mapped class's own constructor would do first
        _new_task = HumanTask.__mapper__.class_manager.new_instance
    task = _new_task()
    task.__dict__.update(values)
    return task


class LockedInstance:
    """A locked ``process_instance`` row as a plain object: what :meth:`Engine._lock_step`
    loads, without the ORM's entity and identity-map bookkeeping. :meth:`Engine.run_step`
    takes it or a :class:`ProcessInstance`, and updates either after its write."""

    __slots__ = _PI_KEYS

    def __init__(self, values):
        for key, value in zip(_PI_KEYS, values):
            setattr(self, key, value)


class StepSession:
    """What a completion or a fired timer needs of a session, on a Core connection.

    Those steps talk to the database through the connection alone (the lock-and-load
    statement, the write batch, the commit), and an ORM session's own transaction and
    pool handling cost about as much client CPU again as psycopg's commit
    (docs/benchmarks.md, engine steps, session 5). ``connection()``, ``get_bind()`` and
    ``info`` are answered here; anything else (a replay's audit row, an owner lookup, a
    spec not cached yet) goes to an ORM session made on first use, in the same
    transaction, and flushed before the commit; writes sent ahead on the connection
    (:meth:`Writes.send`) have their results read first."""

    def __init__(self, connection):
        self._connection = connection
        self._orm: Session | None = None
        self.info: dict = {}

    def connection(self):
        return self._connection

    def get_bind(self):
        return self._connection.engine

    def __getattr__(self, name: str):
        ahead = self.__dict__["info"].get(AHEAD)
        if ahead is not None:   # writes sent ahead: their results first, then the connection is free
            ahead.collect()
        if self._orm is None:
            self._orm = Session(bind=self._connection, expire_on_commit=False)
        return getattr(self._orm, name)

    def _flush(self) -> None:
        if self._orm is not None:
            self._orm.flush()
            self._orm.close()


# The step's first statement (columns: instance, [task], clock; see Engine._lock_step).
_LOCK_INSTANCE = reads.Read(lambda dialect: select(*_PI.columns, *timekeeping.clock_columns(dialect))
                            .where(_PI.c.id == bindparam("b_id")).with_for_update(of=_PI))
_CLAIM_DUE = reads.Read(
    lambda dialect: select(*_PI.columns, *timekeeping.clock_columns(dialect))
    .where(_PI.c.status == "running", _PI.c.next_due_at < timekeeping.now_expression(dialect),
           not_(_PI.c.id == any_(bindparam("b_exclude", type_=ARRAY(Integer)))) if dialect == "postgresql"
           else _PI.c.id.not_in(bindparam("b_exclude", expanding=True)))
    .order_by(_PI.c.next_due_at).limit(1).with_for_update(skip_locked=True, of=_PI))
_LOCK_TASK_INSTANCE = reads.Read(
    lambda dialect: select(*_PI.columns, *_HT.columns, *timekeeping.clock_columns(dialect))
    .select_from(_PI.join(_HT, _HT.c.instance_id == _PI.c.id))
    .where(_HT.c.id == bindparam("b_id")).with_for_update(of=_PI))


def _deadline_timers(loaded: LoadedSpec) -> frozenset[str]:
    """Deadlines: boundary timers tagged ``deadline``. They end at the end of the Danish
    day (docs/modelling.md). A tagged timer that is not attached to an activity (a
    notice that opens a task "6 weeks before the end") fires at its exact time."""
    return frozenset(bid for bid, t in loaded.metadata.get("timers", {}).items()
                     if t.get("deadline") and t.get("attached_to"))


def _taken_over(task: HumanTask, actor: Actor) -> bool:
    """A teamleder who took a task over (reassigned it to themselves) may do it without
    holding its role (issue 14: the teamleder acts where the problem is)."""
    return "teamleder" in actor.roles and actor.user_id is not None and task.claimed_by_id == actor.user_id


def model_fault(exc: BaseException) -> ModelFault:
    """A Spiff or sandbox error as a :class:`ModelFault` naming the BPMN element."""
    spec = getattr(exc, "task_spec", None)
    element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    cause = (exc.__cause__ or exc.__context__) if isinstance(exc, WorkflowException) else exc
    if cause is None:
        detail = str(exc)
    elif isinstance(cause, ScriptRejected):
        detail = str(cause)
    else:
        detail = f"{type(cause).__name__}: {cause}"
    message = str(exc.args[0]) if isinstance(exc, WorkflowException) and exc.args else ""
    if message.startswith("Error evaluating expression"):
        detail += f" ({message[0].lower()}{message[1:]})"
    line = getattr(exc, "line_number", None)
    if line:
        detail += f" (line {line})"
    return ModelFault(element, detail)


@contextmanager
def step_errors() -> Iterator[None]:
    """Spiff's work in a step raises Sagsflow's errors only: a failure of model code
    (Spiff wraps a script's or an expression's exception in a WorkflowException; the
    sandbox's refusals, recursion, memory) is a :class:`ModelFault` naming the element;
    an action's own refusal (a conflict, invalid form data) passes as it is; any other
    exception is Spiff's or Sagsflow's own failure, an :class:`EngineFault` with the
    exception as its cause (its traceback stays in the log)."""
    try:
        yield
    except (WorkflowException, ScriptRejected, RecursionError, MemoryError) as exc:
        raise model_fault(exc) from None
    except SagsflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - not the model's fault: Spiff's or ours
        raise engine_fault(exc) from exc


def timer_expression_value(env, task, expression: str, data: dict):
    """A timer expression's value evaluated outside a step (a migration or a policy change
    moving a waiting deadline): model code, so its failure (a misspelt attribute, a missing
    name, a sandbox refusal) is a :class:`ModelFault` naming the timer, as in a step."""
    try:
        return env.evaluate(expression, data)
    except ScriptRejected as exc:
        raise ModelFault(task.task_spec.bpmn_id, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any failure of model code is the model's
        raise ModelFault(task.task_spec.bpmn_id, f"{type(exc).__name__}: {exc}") from exc


def engine_fault(exc: BaseException) -> EngineFault:
    """An exception of Spiff's or Sagsflow's own code in a step as an :class:`EngineFault`."""
    return EngineFault(f"{type(exc).__name__}: {exc}")


def _uuid(value: str):
    from uuid import UUID
    return UUID(value)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_ready(v) for v in value]
    return _iso(value)


def _check_cpr(cpr: str) -> str:
    digits = cpr.replace("-", "").strip()
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):  # not Arabic-Indic digits
        raise InvalidInput(f"CPR number must be 10 digits (DDMMÅÅ-XXXX), got {cpr!r}")
    return f"{digits[:6]}-{digits[6:]}"


def mask_cpr(cpr: str) -> str:
    """``010190-1234`` becomes ``010190-XXXX``: lists never show the full number."""
    return cpr[:7] + "XXXX" if len(cpr) >= 7 else "XXXXXX-XXXX"
