"""The simulation kernel: SimPy schedules, SpiffWorkflow runs the real models in memory.

Each case runs the variant's model of its case type as an in-memory ``BpmnWorkflow``
with Sagsflow's script engine (helpers, deadline timers, the letter service), under
:func:`processes.clock.use_clock` set to the simulated time, exactly as one engine step
of :class:`processes.engine.Engine` runs it (refresh timers, apply the action, run the
engine steps within one budget), and records milestones with the engine's own
:func:`processes.milestones.completed_marks`. Hand-off messages start the follow-on
process in the same case, other messages go to the case's instance waiting for them.

SimPy decides *when*: a new user task waits its scenario delay (or a share of the
deadline it has), then queues for a staff member of its role, who works on it for the
scenario's hours within Danish working days; a booking takes the first free
rehabiliteringsteam slot after the policy's booking lead time; a timer wakes its instance
when it falls due. The form values come from the same :class:`processes.history.FormFiller`
as the demo history, with the scenario's decision shares.

Deterministic for a seed: every draw comes from a generator seeded by the seed, the case
and what it decides; SimPy orders simultaneous events by their scheduling order.
"""
from __future__ import annotations

import copy
import gc
import itertools
import threading
import random
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import simpy
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from processes import compaction, milestones, projections
from processes.analytics import CaseFacts, DeadlineFact, InstanceFact, TaskFact, add_milestone, sort_facts
from processes.clock import FixedClock, use_clock
from processes.engine import _deadline_timers, engine_fault, model_fault
from processes.forms import check_form, validate_form
from processes.formdata import form_variants
from processes.history import FIRST_NAMES, LAST_NAMES, FormFiller
from processes.library import HANDOFF_PREFIX
from processes.scripting import (
    SagsflowScriptEngine, ScriptRejected, add_duration, budget, danish_date, is_working_day,
)
from processes.simulation.scenario import draw
from processes.simulation.variants import Variant
from processes.simulation.workflow import SimWorkflow, id_source, takes_task_ids
from processes.spiff_fixes import forget_removed_tasks

LOCAL = ZoneInfo("Europe/Copenhagen")
ESCALATION_PREFIX = "eskaler_"
FORM_ATTEMPTS = 6
# A timer is woken this long after it falls due (Spiff fires a timer once its time has
# passed; the persisted engine's clock steps just past it, the simulated one a second).
WAKE_AFTER = timedelta(seconds=1)
# Finished loop iterations leave the tree (processes/compaction.py) once it has grown by
# this many tasks since the last cut: the engine cuts at every step; the tree the steps
# walk stays as small within a few iterations, and the cut's own walk is paid rarely.
COMPACT_GROWTH = 30
# A step's budget: the engine's operation limits (deterministic), but a wall-time limit far
# above the engine's, so that a busy machine cannot turn a slow step into a model fault and
# change the results of a seed (a runaway loop still hits the operation limit).
STEP_SECONDS = 120.0


def _rng(seed: int, *parts: Any) -> random.Random:
    return random.Random(":".join(map(str, (seed, *parts))))


# ------------------------------------------------------------------ records
@dataclass
class Action:
    """A completed user task: what the agreement test replays through the persisted engine."""

    at: datetime
    case: int
    process_id: str
    bpmn_id: str
    values: dict


@dataclass
class SimTask:
    case: int
    instance: "SimInstance"
    guid: str
    bpmn_id: str
    name: str
    role: str
    created_at: datetime
    due_at: datetime | None = None
    rule: str | None = None
    closed_at: datetime | None = None
    state: str = "open"
    spiff: Any = field(default=None, repr=False)    # the READY Spiff task


@dataclass
class SimInstance:
    case: "SimCase"
    process_id: str
    wf: BpmnWorkflow
    loaded: Any
    started_at: datetime
    completed_at: datetime | None = None
    wake_version: int = 0
    last_due: datetime | None = None
    letters: list = field(default_factory=list)
    compacted_size: int = 0                            # tasks in the tree after the last compaction
    known: dict = field(default_factory=dict)          # guid -> SimTask of the open user tasks
    subscriptions: dict = field(default_factory=dict)  # guid -> (message name, waiting Spiff task)


@dataclass
class SimCase:
    number: int
    case_type: str
    created_at: datetime
    instances: list[SimInstance] = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    milestones: list[tuple[str, date, datetime]] = field(default_factory=list)   # key, date, recorded at
    recorded: set = field(default_factory=set)
    # per item (an intervention, ``milestone_items:<key>``): key, item, date, recorded at
    item_milestones: list[tuple[str, str, date, datetime]] = field(default_factory=list)
    inbox: list = field(default_factory=list)       # messages waiting for a receiver
    cpr: str = ""
    name: str = ""
    age: int = 0


@dataclass
class Result:
    variant: str
    municipality: str
    seed: int
    start: datetime
    end: datetime
    cases: list[SimCase]
    tasks: list[SimTask]
    actions: list[Action]
    letters: list[tuple[int, datetime, str, str]]     # case, when, bpmn id, template
    faults: list[str]
    engine_steps: int
    spiff_seconds: float          # wall seconds inside SpiffWorkflow's calls (refresh_timers, run, engine steps)
    seconds: float
    spiff_cpu_seconds: float = 0.0   # the process's CPU seconds inside the same calls

    # the analytics facts: the same rows the persisted engine writes
    def case_facts(self) -> list[CaseFacts]:
        out = []
        for case in self.cases:
            facts = CaseFacts(case.number, self.municipality, case.case_type)
            for key, day, _at in case.milestones:
                facts.dates.setdefault(key, []).append(day)
            for key, item, day, _at in case.item_milestones:
                add_milestone(facts, key, day, item)
            sort_facts(facts)
            out.append(facts)
        return out

    def deadline_facts(self) -> list[DeadlineFact]:
        return [DeadlineFact(t.case, self.municipality, t.rule, t.due_at, t.state, t.closed_at)
                for t in self.tasks if t.due_at is not None and t.rule]

    def task_facts(self) -> list[TaskFact]:
        return [TaskFact(t.case, self.municipality, t.role, t.bpmn_id, t.instance.process_id, t.created_at,
                         t.closed_at, t.state, t.due_at) for t in self.tasks]

    def instance_facts(self) -> list[InstanceFact]:
        return [InstanceFact(c.number, self.municipality, i.process_id, i.started_at, i.completed_at)
                for c in self.cases for i in c.instances]


# ------------------------------------------------------------------ calendar
class WorkCalendar:
    """Danish working days (weekends, public holidays, a role's closed days) and hours."""

    def __init__(self, scenario: dict):
        cal = scenario.get("calendar", {})
        hour, minute = (int(x) for x in cal.get("workday_start", "08:00").split(":"))
        self.day_start = time(hour, minute)
        self.hours = float(cal.get("hours_per_day", 7.4))

    @staticmethod
    def working(day: date, weekdays=None, closed=frozenset()) -> bool:
        if weekdays is not None and day.weekday() not in weekdays:
            return False
        return is_working_day(day) and day.isoformat() not in closed

    def next_working(self, day: date, weekdays=None, closed=frozenset()) -> date:
        while not self.working(day, weekdays, closed):
            day += timedelta(days=1)
        return day

    def opening(self, day: date) -> datetime:
        return datetime.combine(day, self.day_start, LOCAL)

    def work_until(self, start: datetime, hours: float, weekdays=None, closed=frozenset()) -> datetime:
        """When ``hours`` of work starting at ``start`` end, within working hours."""
        current = start.astimezone(LOCAL)
        remaining = max(0.0, hours)
        while True:
            day = current.date()
            if not self.working(day, weekdays, closed):
                current = self.opening(self.next_working(day, weekdays, closed))
                continue
            opens = self.opening(day)
            closes = opens + timedelta(hours=self.hours)
            if current < opens:
                current = opens
            if current >= closes:
                current = self.opening(self.next_working(day + timedelta(days=1), weekdays, closed))
                continue
            available = (closes - current).total_seconds() / 3600
            if remaining <= available:
                return current + timedelta(hours=remaining)
            remaining -= available
            current = self.opening(self.next_working(day + timedelta(days=1), weekdays, closed))


class MeetingSlots:
    """Rehabiliteringsteam slots: fixed weekdays, every n-th week, n cases a day; a booking
    takes the first free slot on or after the earliest allowed day."""

    def __init__(self, scenario: dict, start: date, calendar: WorkCalendar):
        meetings = scenario.get("meetings", {})
        self.weekdays = set(meetings.get("weekdays", [3]))
        self.every = int(meetings.get("every_weeks", 1))
        self.per_day = int(meetings.get("slots_per_day", 7))
        self.start, self.calendar = start, calendar
        self.booked: dict[date, int] = {}
        self.days: list[date] = []
        # the waiting list at the start: that many weeks of meetings are already full
        full_until = start + timedelta(weeks=int(meetings.get("waiting_list_weeks", 0)))
        day = start
        while day < full_until:
            if self._meeting_day(day):
                self.booked[day] = self.per_day
            day += timedelta(days=1)

    def _meeting_day(self, day: date) -> bool:
        week = (day - self.start).days // 7
        return day.weekday() in self.weekdays and week % self.every == 0 and is_working_day(day)

    def book(self, earliest: date) -> date:
        day = earliest
        while not (self._meeting_day(day) and self.booked.get(day, 0) < self.per_day):
            day += timedelta(days=1)
        self.booked[day] = self.booked.get(day, 0) + 1
        return day


# ------------------------------------------------------------------ the simulation
class Simulation:
    def __init__(self, variant: Variant, scenario: dict, seed: int, cases: int | None = None,
                 years: float | None = None, progress: Callable[[float], None] | None = None,
                 arrivals_at: list[tuple[datetime, str]] | None = None, compact_state: bool = True,
                 workflow_class: type[BpmnWorkflow] | None = None):
        # the class of each instance's workflow: the simulator's SimWorkflow unless given;
        # bench/simulate.py runs its baseline with SpiffWorkflow's stock BpmnWorkflow
        self.workflow_class = workflow_class or SimWorkflow
        # the simulator's workflows take their tasks' ids from one generator per run,
        # seeded by the run's seed (not os.urandom per task; see workflow.id_source)
        self._workflow_kwargs = ({"task_ids": id_source(_rng(seed, "task ids"))}
                                 if takes_task_ids(self.workflow_class) else {})
        self.compact_state = compact_state  # as the persisted engine (Engine.compact_state)
        self.variant, self.scenario, self.seed = variant, scenario, seed
        period = scenario.get("period", {})
        self.start = datetime.combine(date.fromisoformat(scenario["start"]), time(8), LOCAL)
        self.years = years if years is not None else float(period.get("years", 1))
        self._utc_start = self.start.astimezone(timezone.utc)
        self.end = datetime.combine(self.start.date() + timedelta(days=round(365.25 * self.years)), time(8), LOCAL)
        self.max_cases = cases if cases is not None else period.get("cases")
        self.progress = progress
        self.arrivals_at = arrivals_at
        self.env = simpy.Environment()
        self.calendar = WorkCalendar(scenario)
        self.meetings = MeetingSlots(scenario, self.start.date(), self.calendar)
        durations = scenario["durations"]
        self.at_once = set(durations.get("at_once", ()))
        self.task_durations = durations.get("tasks", {})
        self.work_hours = durations.get("work_hours", {})
        self.replies = scenario.get("delays", {}).get("replies", {})
        self.letter_days = int(scenario.get("delays", {}).get("letter_days", 0))
        self.staff: dict[str, simpy.Resource] = {}
        self.staff_calendar: dict[str, tuple] = {}
        for role, spec in scenario.get("staff", {}).items():
            self.staff[role] = simpy.Resource(self.env, capacity=spec["count"])
            self.staff_calendar[role] = (set(spec["weekdays"]) if "weekdays" in spec else None,
                                         frozenset(spec.get("closed", ())))
        self.cases: list[SimCase] = []
        self.tasks: list[SimTask] = []
        self.actions: list[Action] = []
        self.letters: list = []
        self.faults: list[str] = []
        self.engine_steps = 0
        self.spiff_seconds = 0.0
        self.spiff_cpu_seconds = 0.0
        self._deadline_timer_ids = {ct: _deadline_timers(m) for ct, m in variant.models.items()}
        self._validated: dict[tuple, tuple[Any, bool]] = {}   # a field's answer, see _validate
        self._form_fields: dict[int, tuple] = {}                # a form's fields, see _validate

    # -------------------------------------------------------------- time
    # in UTC: arithmetic on Copenhagen wall-clock times would be an hour off across DST
    def now(self) -> datetime:
        return self._utc_start + timedelta(days=self.env.now)

    def _at(self, when: datetime) -> float:
        return max(0.0, (when.astimezone(timezone.utc) - self._utc_start).total_seconds() / 86400)

    def _wait_until(self, when: datetime):
        return self.env.timeout(max(0.0, self._at(when) - self.env.now))

    # -------------------------------------------------------------- engine step
    def _script_engine(self, instance: SimInstance | None, loaded, case_type: str) -> SagsflowScriptEngine:
        def service(task, operation: str, params: dict):
            self.letters.append((instance.case.number if instance else None, self.now(),
                                 task.task_spec.bpmn_id, params.get("template")))
            return {"queued": True, "template": params.get("template")}
        return SagsflowScriptEngine(service=service, deadline_timers=self._deadline_timer_ids[case_type],
                                    timers=loaded.metadata.get("timers"))

    def _step(self, instance: SimInstance, action: Callable[[BpmnWorkflow], None] | None = None) -> None:
        """One engine step, as :meth:`processes.engine.Engine.run_step` runs it: Spiff's
        calls within one budget, then one walk of the tree for what the step changed
        (:func:`processes.projections.project`: open user tasks, timers, message
        subscriptions, the tasks completed in the step, whose milestones are dated by
        :func:`processes.milestones.completed_marks`), then the finished loop iterations
        leave the tree (:func:`processes.compaction.compact`), as in the persisted engine."""
        now = self.now()
        wf = instance.wf
        started = _time.time()
        began, began_cpu = _time.perf_counter(), _time.process_time()
        steps = 0

        def counted(_task):
            nonlocal steps
            steps += 1
            spent.charge()

        _prune_events(wf)
        with budget(seconds=STEP_SECONDS) as spent, use_clock(FixedClock(now)):
            try:
                wf.refresh_timers()
                if action is not None:
                    action(wf)
                    _prune_events(wf)
                wf.do_engine_steps(did_complete_task=counted)
            except (WorkflowException, ScriptRejected, RecursionError, MemoryError, AttributeError) as exc:
                # an AttributeError is Spiff's own failure (see docs/simulation.md), not the model's
                fault = engine_fault(exc) if isinstance(exc, AttributeError) else model_fault(exc)
                self.faults.append(f"case {instance.case.number} {instance.process_id}: {fault}")
                return
        self.spiff_seconds += _time.perf_counter() - began
        self.spiff_cpu_seconds += _time.process_time() - began_cpu
        self.engine_steps += steps
        meta = instance.loaded.metadata
        view = projections.project(wf, meta, completed_since=started)
        case = instance.case
        for task, key, day in milestones.completed_marks(wf, meta.get("milestones"), started, now,
                                                        instance.process_id, tasks=view.completed):
            if task.id not in case.recorded:
                case.recorded.add(task.id)
                case.milestones.append((key, day, now))
        for task, key, item, day in milestones.completed_item_marks(wf, meta.get("item_milestones"), started, now,
                                                                    instance.process_id, tasks=view.completed):
            if (task.id, key, item) not in case.recorded:
                case.recorded.add((task.id, key, item))
                case.item_milestones.append((key, item, day, now))
        if instance.completed_at is None and _is_completed(wf):
            instance.completed_at = now
        events = wf.get_events()
        if self.compact_state:
            size = len(wf.tasks) + sum(len(sub.tasks) for sub in wf.subprocesses.values())
            if size > instance.compacted_size + COMPACT_GROWTH:
                compaction.compact(wf)
                instance.compacted_size = len(wf.tasks) + sum(len(sub.tasks) for sub in wf.subprocesses.values())
        for event in events:
            if isinstance(event.event_definition, MessageEventDefinition):
                self._message(instance, event)
        self._project(instance, view)

    def _message(self, source: SimInstance, event) -> None:
        ed, case = event.event_definition, source.case
        if ed.name.startswith(HANDOFF_PREFIX):
            case_type = ed.name[len(HANDOFF_PREFIX):]
            if case_type in self.variant.models:
                self._start_instance(case, case_type, handoff=event.payload)
            else:
                self.faults.append(f"case {case.number}: no model for hand-off {case_type}")
            return
        for instance in case.instances:
            if instance is source or instance.completed_at is not None:
                continue
            for name, task in instance.subscriptions.values():
                if name == ed.name and task.state == TaskState.WAITING:
                    payload, correlations = event.payload, event.correlations
                    self._step(instance, lambda wf, t=task: wf.send_event(
                        BpmnEvent(t.task_spec.event_definition, payload, correlations)))
                    return
        case.inbox.append(event)

    def _project(self, instance: SimInstance, view: projections.Projection) -> None:
        """New user tasks get a worker process; the earliest timer wakes the instance."""
        instance.subscriptions = view.subscriptions
        meta_tasks = instance.loaded.metadata.get("tasks", {})
        known, ready = instance.known, view.ready
        now = self.now()
        for guid in [g for g in known if g not in ready]:
            sim_task = known.pop(guid)
            if sim_task.state == "open":
                sim_task.state, sim_task.closed_at = "cancelled", now
        for guid, task in ready.items():
            if guid in known:
                continue
            spec = task.task_spec
            tmeta = meta_tasks.get(spec.bpmn_id, {})
            due, rule = view.due.get(guid, (None, None))
            sim_task = SimTask(instance.case.number, instance, guid, spec.bpmn_id,
                               tmeta.get("name") or spec.bpmn_name or spec.bpmn_id,
                               tmeta.get("role") or spec.lane, now, due, rule, spiff=task)
            known[guid] = sim_task
            self.tasks.append(sim_task)
            self.env.process(self._work(sim_task))
        instance.wake_version += 1
        earliest = view.next_due_at
        if earliest is not None and instance.completed_at is None:
            if earliest < now - WAKE_AFTER and earliest == instance.last_due:
                # the timer did not fire when woken after it fell due: a model fault, not a loop
                self.faults.append(f"case {instance.case.number} {instance.process_id}: a timer due {earliest} "
                                   "does not fire")
                return
            instance.last_due = earliest
            self.env.process(self._wake(instance, instance.wake_version, earliest + WAKE_AFTER))

    def _wake(self, instance: SimInstance, version: int, when: datetime):
        yield self._wait_until(when)
        if instance.wake_version == version and instance.completed_at is None:
            self._step(instance)

    # -------------------------------------------------------------- cases
    def _start_instance(self, case: SimCase, case_type: str, handoff: dict | None = None) -> SimInstance:
        loaded = self.variant.models[case_type]
        instance = SimInstance(case, loaded.process_id, None, loaded, self.now())
        engine = self._script_engine(instance, loaded, case_type)
        wf = self.workflow_class(loaded.spec, loaded.subprocess_specs, script_engine=engine, **self._workflow_kwargs)
        forget_removed_tasks(wf)
        initial = {
            "policy": dict(self.variant.policies.get(case_type, {})),
            "sag": {"id": case.number, "kommune": self.variant.municipality},
            "borger": {"navn": case.name, "alder": case.age},
            "startdato": danish_date(self.now()),
        }
        if handoff is not None:
            initial["overdragelse"] = handoff
        wf.task_tree.data.update(initial)
        instance.wf = wf
        case.instances.append(instance)
        self._step(instance)
        return instance

    def _citizen(self, rng: random.Random, number: int) -> tuple[str, str, int]:
        age = rng.randint(25, 62)
        born = date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
        return f"{born:%d%m%y}-{9000 + number % 1000:04d}", f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} (simuleret)", age

    def start_case(self, case_type: str) -> SimCase:
        number = len(self.cases) + 1
        rng = _rng(self.seed, "citizen", number)
        cpr, name, age = self._citizen(rng, number)
        case = SimCase(number, case_type, self.now(), cpr=cpr, name=name, age=age)
        self.cases.append(case)
        self._start_instance(case, case_type)
        return case

    def _arrivals(self, case_type: str, spec: dict):
        rng = _rng(self.seed, "arrivals", case_type)
        per_day = spec["per_week"] / 7
        poisson = spec.get("distribution", "poisson") == "poisson"
        moment = self.start
        while True:
            gap = rng.expovariate(per_day) if poisson else 1 / per_day
            moment = moment + timedelta(days=gap)
            # citizens' cases start on working days, in working hours
            day = self.calendar.next_working(moment.astimezone(LOCAL).date())
            at = max(moment, self.calendar.opening(day)) if day == moment.astimezone(LOCAL).date() \
                else self.calendar.opening(day) + timedelta(minutes=rng.randint(0, 240))
            if at >= self.end:
                return
            yield self._wait_until(at)
            if self.max_cases is not None and len(self.cases) >= self.max_cases:
                return
            self.start_case(case_type)

    def _fixed_arrivals(self):
        for at, case_type in self.arrivals_at:
            yield self._wait_until(at)
            self.start_case(case_type)

    # -------------------------------------------------------------- tasks
    def _duration(self, bpmn_id: str, kind: str):
        spec = self.task_durations.get(bpmn_id, {})
        return spec.get(kind)

    def _planned(self, task: SimTask, rng: random.Random) -> datetime:
        """When the task is taken up: at once, a share of its deadline, or after its wait."""
        durations = self.scenario["durations"]
        opened = task.created_at.astimezone(LOCAL)
        if task.bpmn_id in self.at_once or (task.bpmn_id == "skriv_indstilling" and "på mødet" in task.name):
            return opened
        if task.due_at is not None and not task.bpmn_id.startswith(ESCALATION_PREFIX):
            share = rng.uniform(*(self._duration(task.bpmn_id, "deadline_share") or durations["deadline_share"]))
            day = (opened + (task.due_at - task.created_at) * share).date()
        else:
            wait = durations["escalation_wait"] if task.bpmn_id.startswith(ESCALATION_PREFIX) else (
                self._duration(task.bpmn_id, "wait") or durations["default_wait"])
            day = opened.date() + timedelta(days=round(draw(rng, wait)))
        reply = self.replies.get(task.bpmn_id)
        if reply is not None:  # the task waits for an outside party's answer to a letter
            day = max(day, opened.date() + timedelta(days=self.letter_days + round(draw(rng, reply))))
        day = self.calendar.next_working(max(day, opened.date()))
        return max(opened, self.calendar.opening(day))

    def _hours(self, task: SimTask, rng: random.Random) -> float:
        spec = self._duration(task.bpmn_id, "work") or self.work_hours.get(task.role) or self.work_hours.get("default")
        return draw(rng, spec) if spec is not None else 0.0

    def _work(self, task: SimTask):
        rng = _rng(self.seed, "task", task.case, task.instance.process_id, task.bpmn_id, len(self.tasks))
        planned = self._planned(task, rng)
        yield self._wait_until(planned)
        if task.state != "open":
            return
        if task.bpmn_id in self.at_once or task.role not in self.staff:
            self._complete(task, rng)
            return
        weekdays, closed = self.staff_calendar[task.role]
        with self.staff[task.role].request() as request:
            yield request
            if task.state != "open":
                return
            begin = self.now()
            if not self.calendar.working(begin.astimezone(LOCAL).date(), weekdays, closed) or \
                    begin.astimezone(LOCAL).time() < self.calendar.day_start:
                begin = self.calendar.work_until(begin, 0, weekdays, closed)
            finish = self.calendar.work_until(begin, self._hours(task, rng), weekdays, closed)
            yield self._wait_until(finish)
            if task.state == "open":
                self._complete(task, rng)

    def _booking_lead(self) -> int:
        today = danish_date(self.now())
        lead = self.variant.policy_value("rehab_booking_frist") or "P14D"
        return (date.fromisoformat(danish_date(add_duration(today, lead))) - date.fromisoformat(today)).days

    def _validate(self, form: list[dict], values: dict, today: str) -> tuple[dict, bool]:
        """``validate_form(form, values, today=today)`` as ``(clean, has errors)``, field
        by field for values that are all scalars. ``validate_form`` loads each field by
        itself (a marshmallow field of its own, no schema-level rule; a list field's rows;
        ``past_only``), so the form's answer is every field's answer, as
        ``validate_form([field], {id: value})`` gives it, in the form's order, and an error
        in any field is the form's error (it then answers ``{}``). A field's answer is a
        pure function of the field (the model's own, kept by the variant), its value and,
        for a ``past_only`` field, today: remembered (the filler draws the same choices
        again and again). A date field's string, which differs from one completion to the
        next, is not: marshmallow's ``Date`` field is ``date.fromisoformat`` (no validator,
        see forms._field), so the answer is the date's ISO string, an error only after
        today for ``past_only``; a string it refuses goes to ``validate_form``. Values with
        a key that is not a field of the form, or a form with a field id twice, go to
        ``validate_form`` whole. Returns a new dict (list values copied)."""
        if not all(type(v) in _SCALAR_VALUES for v in values.values()):
            clean, errors = validate_form(form, values, today=today)
            return clean, bool(errors)
        known = self._form_fields.get(id(form))
        if known is None:
            ids = [spec["id"] for spec in form]
            parts = [(spec["id"], [spec], bool(spec.get("past_only")), spec["type"] == "date") for spec in form]
            known = self._form_fields[id(form)] = (form, parts, frozenset(ids) if len(set(ids)) == len(ids) else None)
        _form, parts, ids = known   # (the form is kept so that its id cannot be reused)
        if ids is None or not ids.issuperset(values):
            clean, errors = validate_form(form, values, today=today)
            return clean, bool(errors)
        memo, clean = self._validated, {}
        for fid, field_form, past_only, is_date in parts:
            if fid in values:
                value = values[fid]
                if is_date and type(value) is str and value:
                    try:
                        answer = _fromisoformat(value).isoformat()
                    except ValueError:
                        pass
                    else:
                        if past_only and today and answer > today:
                            return {}, True
                        clean[fid] = answer
                        continue
                key = (id(field_form), type(value), value, today if past_only else None)
            else:
                key = (id(field_form), _ABSENT, None, None)
            found = memo.get(key)
            if found is None:
                field_clean, errors = validate_form(field_form, {fid: value} if fid in values else {}, today=today)
                found = memo[key] = (field_clean.get(fid), bool(errors))
            answer, failed = found
            if failed:
                return {}, True
            clean[fid] = answer if type(answer) in _SCALAR_VALUES else copy.deepcopy(answer)
        return clean, False

    def _complete(self, task: SimTask, rng: random.Random) -> None:
        instance, case = task.instance, task.instance.case
        spiff_task = task.spiff
        if spiff_task.state != TaskState.READY or spiff_task.workflow.tasks.get(spiff_task.id) is not spiff_task:
            task.state, task.closed_at = "cancelled", self.now()  # dropped by a loop back: the task is gone
            return
        now = self.now()
        today = danish_date(now)
        form = instance.loaded.metadata.get("tasks", {}).get(task.bpmn_id, {}).get("form", [])
        books = any(f["id"] == "moededato" for f in form)
        filler = FormFiller(rng, today, case.memory, self._booking_lead() if books else 0,
                            self.scenario.get("decisions"), task=task.bpmn_id)
        prefill = {f["id"]: spiff_task.data[f["id"]] for f in form
                   if f.get("prefill") and spiff_task.data.get(f["id"]) not in (None, "", [])}
        # tried one by one (the first is nearly always accepted); no later draw uses this rng
        attempts = itertools.chain((filler.fill(form, prefill) for _ in range(FORM_ATTEMPTS)),
                                   _later(lambda: form_variants(form, today)))
        meeting = None
        for values in attempts:
            if "moededato" in values:
                if meeting is None:
                    meeting = self.meetings.book(date.fromisoformat(today) + timedelta(days=self._booking_lead()))
                values = dict(values, moededato=meeting.isoformat())
            clean, errors = self._validate(form, values, today)
            if errors or check_form(form, clean, spiff_task.data):
                continue

            def apply(_wf, clean=clean):
                spiff_task.set_data(**clean)
                spiff_task.run()

            task.state, task.closed_at = "completed", now
            instance.known.pop(task.guid, None)
            self.actions.append(Action(now, case.number, instance.process_id, task.bpmn_id, dict(values)))
            case.memory.update(values)
            self._step(instance, apply)
            return
        self.faults.append(f"case {case.number}: no form values accepted for {task.bpmn_id}")

    # -------------------------------------------------------------- run
    def _ticker(self):
        total = self._at(self.end)
        while True:
            yield self.env.timeout(7)
            if self.progress:
                self.progress(min(1.0, self.env.now / total))

    def run(self) -> Result:
        with young_collections_only():
            return self._run()

    def _run(self) -> Result:
        began = _time.perf_counter()
        if self.arrivals_at is not None:
            self.env.process(self._fixed_arrivals())
        else:
            for case_type, spec in self.scenario["arrivals"].items():
                if case_type in self.variant.models:
                    self.env.process(self._arrivals(case_type, spec))
        if self.progress:
            self.env.process(self._ticker())
        self.env.run(until=self._at(self.end))
        if self.progress:
            self.progress(1.0)
        return Result(self.variant.name, self.variant.municipality, self.seed, self.start, self.end, self.cases,
                      self.tasks, self.actions, self.letters, self.faults, self.engine_steps, self.spiff_seconds,
                      _time.perf_counter() - began, spiff_cpu_seconds=self.spiff_cpu_seconds)


# The collector's thresholds while a simulation runs: a young collection every 10,000
# allocations (Python's default 700 runs one every few engine steps), a middle one every
# 20 of those, and no full collection (see :func:`young_collections_only`).
RUN_THRESHOLDS = (10_000, 20, 1_000_000)
_collector_lock = threading.Lock()
_collector_users = 0
_collector_saved: tuple[int, int, int] | None = None


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Python's cyclic garbage collector without full collections while a run lasts.

    A run keeps every case's task tree (the result holds them) and the trees grow for the
    whole simulated period, so most objects are long-lived and live to the end. Python's
    full collections walk all of them: on 2,000 cases over 5 years, 21 full collections
    took 11.8 s of a 60 s run (docs/benchmarks.md). Young collections still free the
    short-lived cycles a step makes (Spiff's predicted branches it drops, its events).
    Cyclic garbage that outlives them stays until the run ends and the thresholds are
    restored; the run's memory is bounded by what it keeps anyway. Runs in threads of one
    process nest: the first to enter sets the thresholds, the last to leave restores them.
    """
    global _collector_users, _collector_saved
    with _collector_lock:
        if _collector_users == 0:
            _collector_saved = gc.get_threshold()
            gc.set_threshold(*RUN_THRESHOLDS)
        _collector_users += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_users -= 1
            if _collector_users == 0 and _collector_saved is not None:
                gc.set_threshold(*_collector_saved)
                _collector_saved = None


_SCALAR_VALUES = frozenset({str, int, float, bool, type(None)})
_ABSENT = object()     # a field the values leave out (see Simulation._validate)
_fromisoformat = date.fromisoformat


_NOT_FINISHED = TaskState.NOT_FINISHED_MASK
_SMALL_TREE = 1000     # Spiff's iterator's depth limit cannot bite below this many tasks


def _is_completed(wf: BpmnWorkflow) -> bool:
    """``wf.is_completed()`` without Spiff's iterator while the workflow has an unfinished
    task: Spiff's ``TaskIterator(state=NOT_FINISHED_MASK)`` descends into every task (all
    states are at least MAYBE) of the workflow's own tree (not its sub-processes) until
    its depth limit, which cannot bite below :data:`_SMALL_TREE` tasks; so "not
    completed" is "a task of the tree is unfinished". Otherwise Spiff's own method
    answers, and sets ``wf.completed`` as it does."""
    if wf.completed:
        return True
    tasks = wf.tasks
    if len(tasks) < _SMALL_TREE:
        stack = [wf.task_tree]
        pop, push = stack.pop, stack.append
        while stack:
            task = pop()
            if task._state & _NOT_FINISHED:
                return False
            for child in task._children:
                push(tasks[child])
    return wf.is_completed()


def _prune_events(wf: BpmnWorkflow) -> None:
    """Forget waiting event tasks that are no longer in the task tree (a loop back rebuilt
    their branch). The persisted engine never sees them, because its workflow is read from
    the stored state at every step; a workflow kept in memory would try to update them."""
    for manager in {id(w.event_manager): w.event_manager for w in (wf, *wf.subprocesses.values())
                    if hasattr(w, "event_manager")}.values():
        for task_id, task in list(manager.tasks.items()):
            if task.parent is None or task.workflow.tasks.get(task_id) is not task:
                manager.tasks.pop(task_id, None)


def _later(make):
    yield from make()


def simulate(variant: Variant, scenario: dict, seed: int, **kwargs) -> Result:
    return Simulation(variant, scenario, seed, **kwargs).run()
