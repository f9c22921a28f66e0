"""Demo history: a year of cases run through the real engine on the virtual clock.

A new demo installation starts its virtual clock about a year before the demo date and
this driver plays the caseworkers until the demo date: every working day citizens' cases
arrive, each open task is completed by the demo user of its role after a plausible delay
with plausible form values, and the clock moves forward through the engine
(:meth:`processes.engine.Engine.advance_clock`), which fires due timers and delivers
messages as the worker would. Everything in the database is written by the engine's own
operations (start a case, complete a task, move the clock); the driver writes no rows.
Each working day the clock moves to 08:00 through ``advance_clock`` (audited as
``historik``); the day's completions follow a few minutes apart, the clock ticking on
between them in one transaction when nothing falls due meanwhile (else ``advance_clock``
again). Between days the caller may run the worker's outbox (``after_day``), so letters
become case documents on the day they are written.

The delays and choices are the same in every municipality, so the differences in the
figures come from the municipalities' models and policies (``docs/municipalities.md``):
Aaby decides at the meeting, Bøgeby hears the citizen in writing (14 days) and decides in
a separate unit, Cederholm screens every case before booking a meeting 21 days ahead.

Deterministic for a seed: every random draw comes from a generator seeded by the seed
and the thing it decides (a day's arrivals, a task's delay and form values).
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from processes import timekeeping
from processes.db import unsynced_commits
from processes.engine import Actor, Engine
from processes.errors import Conflict, InvalidInput, ModelFault, NotFound
from processes.formdata import base_value, form_variants, item_value
from processes.models import HumanTask, Municipality, ProcessInstance, User
from processes.scripting import add_duration, danish_date
from processes.simulation.scenario import default_scenario

log = logging.getLogger("sagsflow.history")
LOCAL = ZoneInfo("Europe/Copenhagen")
MUNICIPALITIES = ("aaby", "boegeby", "cederholm")
HISTORY_WEEKS = 53          # the history starts this many weeks before the demo date: over 12 months
DEFAULT_SEED = 2027
# New cases a month per municipality and case type (the others start by hand-off).
ARRIVALS = {"rehabilitering": 4.0, "sygedagpenge": 0.6}
DRIVER = "historik"         # the clock moves are audited as the system actor of this name
FIRST_SLOT = dtime(8, 30)   # the working day's first completion; later ones a few minutes apart
SLOT_MINUTES = 6

# --------------------------------------------------------------------------- delays
# The tables of what caseworkers and citizens do are the default simulation scenario's
# (processes/simulation/default_scenario.json, docs/simulation.md): one copy, read here.
# Calendar days from a task's opening to its completion, for tasks without a deadline.
# Tasks with a deadline are done somewhere between 30 % and 110 % of the time it allows,
# so most deadlines are met and some are missed (and escalated) as in real life.
_SCENARIO = default_scenario()
AT_ONCE = frozenset(_SCENARIO["durations"]["at_once"])
DELAYS: dict[str, tuple[int, int]] = {task: tuple(spec["wait"]) for task, spec in
                                      _SCENARIO["durations"]["tasks"].items() if "wait" in spec}
DEFAULT_DELAY = tuple(_SCENARIO["durations"]["default_wait"])
ESCALATION_DELAY = tuple(_SCENARIO["durations"]["escalation_wait"])
DEADLINE_SHARE = tuple(_SCENARIO["durations"]["deadline_share"])

# --------------------------------------------------------------------------- choices
# Weighted choices for the fields where the first option is not simply the usual one,
# the probability that a yes/no field is yes, dates that lie ahead and numbers.
CHOICES: dict[str, dict[str, float]] = _SCENARIO["decisions"]["choices"]
FLAGS: dict[str, float] = _SCENARIO["decisions"]["flags"]
DATE_OFFSETS: dict[str, int | None] = _SCENARIO["decisions"]["date_offsets"]
NUMBERS: dict[str, tuple[int, int]] = {k: tuple(v) for k, v in _SCENARIO["decisions"]["numbers"].items()}
INDSATSER = (
    ("Afklare arbejdsevnen", "Virksomhedspraktik", "Jobcentret"),
    ("Stabil hverdag", "Mentorstøtte", "Anden aktør"),
    ("Mindre smerter", "Smerteforløb", "Regionen"),
    ("Bedre psykisk trivsel", "Psykologforløb", "Psykolog"),
    ("Fastholde kontakt til arbejdsmarkedet", "Jobklub", "Jobcentret"),
    ("Afklare uddannelsesmuligheder", "Uddannelsesvejledning", "VUC"),
)
FIRST_NAMES = ("Anne", "Bent", "Charlotte", "Dorte", "Erik", "Frida", "Gitte", "Hans", "Ida", "Jens", "Karen",
               "Lars", "Mette", "Niels", "Ole", "Pia", "Rasmus", "Signe", "Torben", "Ulla", "Vibeke")
LAST_NAMES = ("Holm", "Jensen", "Kjær", "Lund", "Madsen", "Nielsen", "Olsen", "Poulsen", "Rasmussen",
              "Sørensen", "Thomsen", "Vestergaard")


@dataclass
class HistoryResult:
    start: datetime
    end: datetime
    cases: int = 0
    completed: int = 0
    refused: int = 0          # submissions the engine refused (form checks); another draw followed
    failed: list[str] = field(default_factory=list)  # tasks left open after every draw was refused
    seconds: float = 0.0


def history_start(demo_start: datetime) -> datetime:
    """08:00 Danish time :data:`HISTORY_WEEKS` weeks before the demo date (same weekday)."""
    day = demo_start.astimezone(LOCAL).date() - timedelta(weeks=HISTORY_WEEKS)
    return datetime.combine(day, dtime(8), LOCAL)


def _rng(seed: int, *parts: Any) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _weighted(rng: random.Random, weights: dict[str, float], options: list[str]) -> str:
    pairs = [(o, weights.get(o, 0)) for o in options if weights.get(o, 0) > 0]
    if not pairs:
        return rng.choice(options)
    return rng.choices([o for o, _ in pairs], [w for _, w in pairs])[0]


class FormFiller:
    """Plausible values for a task's form: the usual choice most of the time, the
    alternatives as often as :data:`CHOICES` and :data:`FLAGS` say, dates today unless
    they lie ahead, and lists of interventions whose statuses move on over time."""

    def __init__(self, rng: random.Random, today: str, memory: dict[str, Any], booking_lead: int = 14,
                 decisions: dict | None = None, task: str | None = None):
        self.rng, self.today, self.memory, self.booking_lead = rng, today, memory, booking_lead
        decisions = decisions or {}
        self.choices = decisions.get("choices", CHOICES)
        self.flags = decisions.get("flags", FLAGS)
        self.date_offsets = decisions.get("date_offsets", DATE_OFFSETS)
        self.numbers = decisions.get("numbers", NUMBERS)
        self.task = task        # a scenario may set a field for one task: "task_id.field_id"

    def _table(self, table: dict, fid: str) -> Any:
        if self.task is not None and f"{self.task}.{fid}" in table:
            return table[f"{self.task}.{fid}"]
        return table.get(fid)

    def _day(self, offset: int) -> str:
        return (date.fromisoformat(self.today) + timedelta(days=offset)).isoformat()

    def fill(self, form: list[dict], prefill: dict | None) -> dict:
        values = {}
        for spec in form:
            values[spec["id"]] = self.value(spec, (prefill or {}).get(spec["id"]))
        # a decision normally follows the indstilling (a different one must go back to the team)
        if "afgoerelse" in values and "enig_i_indstilling" in values:
            options = [o["id"] for o in next(s for s in form if s["id"] == "afgoerelse")["options"]]
            indstilling = self.memory.get("indstilling")
            if values["enig_i_indstilling"] and indstilling in options:
                values["afgoerelse"] = indstilling
            values["enig_i_indstilling"] = values["afgoerelse"] == indstilling
        if "afgoerelse" in values and values["afgoerelse"] is not None:
            refusal = f"afslag_{self.memory.get('ansoegt_om')}"
            options = [o["id"] for o in next(s for s in form if s["id"] == "afgoerelse")["options"]]
            if refusal in options:
                values["afgoerelse"] = refusal
        return values

    def value(self, spec: dict, proposed: Any = None) -> Any:
        fid, kind, rng = spec["id"], spec["type"], self.rng
        if kind == "enum":
            options = [o["id"] for o in spec["options"]]
            weights = self._table(self.choices, fid)
            if weights is not None:
                return _weighted(rng, weights, options)
            if fid == "afgoerelse" and self.memory.get("indstilling") in options:
                return self.memory["indstilling"]
            return options[0] if len(options) == 1 or rng.random() < 0.85 else rng.choice(options[1:])
        if kind == "boolean":
            if spec.get("check"):
                return True
            share = self._table(self.flags, fid)
            if share is not None:
                return rng.random() < share
            return base_value(spec, self.today)
        if kind == "date":
            if fid == "moededato":  # the first free meeting after the booking lead time
                return self._day(self.booking_lead + rng.randint(0, 14))
            offset = self.date_offsets.get(fid, 0)
            return None if offset is None else self._day(offset)
        if kind == "long" and fid in self.numbers:
            low, high = self.numbers[fid]
            return max(spec.get("min", low), min(spec.get("max", high), rng.randint(low, high)))
        if kind == "list":
            return self.rows(spec, proposed)
        return base_value(spec, self.today)

    def rows(self, spec: dict, proposed: Any) -> list[dict]:
        items = {i["id"]: i for i in spec.get("items", [])}
        if not items:
            return []
        if isinstance(proposed, list) and proposed:
            rows = [dict(r) for r in proposed]
        else:
            rows = []
            for number, (goal, what, who) in enumerate(self.rng.sample(INDSATSER, self.rng.randint(1, 3)), 1):
                row = {k: item_value(i) for k, i in items.items()}
                row.update({k: v for k, v in (("maal", goal), ("indsats", what), ("leverandoer", who),
                                              ("raekkefoelge", number), ("mentor", self.rng.random() < 0.3))
                            if k in items})
                rows.append(row)
        if "status" in items:
            for row in rows:
                self._advance(row)
        return rows

    def _advance(self, row: dict) -> None:
        """Move an intervention on: a new one is granted, planned, started or refused; a
        granted or planned one starts once its planned start has come (or by chance)."""
        status, rng = row.get("status"), self.rng
        if status in ("startet", "afslaaet"):
            return
        if row.get("planlagt_start"):
            if row["planlagt_start"] <= self.today or rng.random() < 0.3:
                row.update(status="startet", faktisk_start=self.today)
            return
        draw = rng.random()
        if draw < 0.35:
            row.update(status="startet", faktisk_start=self.today)
        elif draw < 0.95:
            row.update(status="bevilget" if draw < 0.8 else "planlagt", planlagt_start=self._day(rng.randint(7, 75)))
        else:
            row.update(status="afslaaet", afslag_begrundelse="Tilbuddet er ikke relevant nu")


class HistoryDriver:
    """Plays the caseworkers of ``municipalities`` from the clock's current time to ``until``."""

    def __init__(self, engine: Engine, seed: int = DEFAULT_SEED, municipalities: tuple[str, ...] = MUNICIPALITIES,
                 arrivals: dict[str, float] | None = None, after_day: Callable[[], None] | None = None):
        self.engine, self.sessions, self.seed = engine, engine.sessions, seed
        self.municipalities = municipalities
        self.arrivals = ARRIVALS if arrivals is None else arrivals
        self.after_day = after_day
        self.actor = Actor.system(DRIVER)
        self.planned: dict[int, date] = {}
        self.memory: dict[int, dict] = {}          # case id -> the values the driver submitted on it
        self.given_up: set[int] = set()
        self._actors: dict[tuple[int, str], Actor] = {}
        self._users: dict[int, Actor] = {}
        self._forms: dict[tuple[int, str], list] = {}
        self._citizens = 0
        self._leads: dict[int, int] = {}

    # ------------------------------------------------------------------ setup
    def _load(self) -> None:
        with self.sessions() as session:
            self.ids = {m.key: m.id for m in session.scalars(
                select(Municipality).where(Municipality.key.in_(self.municipalities)))}
            self.municipality_ids = set(self.ids.values())
            missing = set(self.municipalities) - set(self.ids)
            if missing:
                raise NotFound(f"municipalities not registered: {', '.join(sorted(missing))}")
            for user in session.scalars(select(User).where(User.municipality_id.in_(self.ids.values()))):
                actor = Actor.for_user(user)
                self._users[user.id] = actor
                key = next(k for k, v in self.ids.items() if v == user.municipality_id)
                if user.username.startswith(f"{key}.") and user.username[len(key) + 1:] in actor.roles:
                    self._actors[(user.municipality_id, user.username[len(key) + 1:])] = actor

    # ------------------------------------------------------------------- clock
    def _now(self) -> datetime:
        with self.sessions() as session:
            return timekeeping.now(session)

    def _move_to(self, when: datetime) -> None:
        """Move the clock through the engine: audited, firing what falls due on the way."""
        now = self._now()
        if when > now:
            self.engine.advance_clock(when - now, actor=self.actor)

    def _tick(self, when: datetime) -> None:
        """Move the clock a few minutes on within the working day. When nothing falls due
        before ``when`` this is the engine's own clock move without the firing loop (one
        transaction); otherwise the full :meth:`_move_to`."""
        with self.sessions.begin() as session:
            now = timekeeping.now(session)
            if when <= now:
                return
            next_due = session.scalar(select(func.min(ProcessInstance.next_due_at)).where(
                ProcessInstance.status == "running"))
            if next_due is None or next_due >= when:
                timekeeping.set_virtual(session, when)
                return
        self._move_to(when)

    # ------------------------------------------------------------------ cases
    def _citizen(self, rng: random.Random) -> tuple[str, str, int]:
        """A fictional citizen: made-up name and CPR-shaped number (serial 9xxx, never a demo's)."""
        self._citizens += 1
        age = rng.randint(25, 62)
        born = date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
        cpr = f"{born:%d%m%y}-{9000 + self._citizens % 1000:04d}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} (historik)"
        return cpr, name, age

    def _arrivals(self, day: date, result: HistoryResult) -> None:
        for key in self.municipalities:
            for case_type, per_month in self.arrivals.items():
                rng = _rng(self.seed, "arrivals", key, case_type, day)
                # a working day's share of the month's cases, as independent trials
                count = sum(rng.random() < per_month / 21 / 3 for _ in range(3))
                for _ in range(count):
                    cpr, name, age = self._citizen(rng)
                    try:
                        self.engine.start_case(key, case_type, cpr, name, {}, self._actors.get(
                            (self.ids[key], "sagsbehandler"), self.actor), age=age)
                    except Conflict:
                        continue
                    result.cases += 1

    # ------------------------------------------------------------------ tasks
    def _plan(self, task: HumanTask, today: date) -> date:
        if task.id in self.planned:
            return self.planned[task.id]
        rng = _rng(self.seed, "delay", task.id)
        opened = task.created_at.astimezone(LOCAL)
        if task.bpmn_id in AT_ONCE or (task.bpmn_id == "skriv_indstilling" and "på mødet" in task.name):
            day = opened.date()
        elif task.due_at is not None and not task.bpmn_id.startswith("eskaler_"):
            span = task.due_at - task.created_at
            day = (opened + span * rng.uniform(*DEADLINE_SHARE)).date()
        else:
            low, high = ESCALATION_DELAY if task.bpmn_id.startswith("eskaler_") else DELAYS.get(
                task.bpmn_id, DEFAULT_DELAY)
            day = opened.date() + timedelta(days=rng.randint(low, high))
        day = max(day, today)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        self.planned[task.id] = day
        return day

    def _booking_lead(self, municipality_id: int, today: str) -> int:
        """Days from today to the earliest meeting the municipality's booking lead time allows."""
        if municipality_id in self._leads:
            return self._leads[municipality_id]
        with self.sessions() as session:
            policy = self.engine.current_policy(session, municipality_id, "rehabilitering", timekeeping.now(session))
        lead = (policy.values if policy else {}).get("rehab_booking_frist") or "P14D"
        days = (date.fromisoformat(danish_date(add_duration(today, lead))) - date.fromisoformat(today)).days
        self._leads[municipality_id] = days     # the policy in force when the history starts
        return days

    def _form(self, task: HumanTask) -> list[dict]:
        key = (task.instance_id, task.bpmn_id)
        if key not in self._forms:
            self._forms[key] = self.engine.task_form(task)
        return self._forms[key]

    def _complete(self, task: HumanTask, result: HistoryResult, today: str) -> None:
        actor = self._users.get(task.claimed_by_id) or self._actors.get((task.municipality_id, task.role))
        if actor is None:
            self.given_up.add(task.id)
            result.failed.append(f"{task.bpmn_id} (case {task.case_id}): no demo user with role {task.role}")
            return
        form = self._form(task)
        memory = self.memory.setdefault(task.case_id, {})
        rng = _rng(self.seed, "form", task.id)
        filler = FormFiller(rng, today, memory, self._booking_lead(task.municipality_id, today))
        attempts = [filler.fill(form, task.data) for _ in range(6)] + form_variants(form, today)
        for values in attempts:
            try:
                self.engine.complete_task(task.id, values, actor)
            except InvalidInput as exc:
                if "moededato" in (getattr(exc, "errors", None) or {}):
                    values = dict(values, moededato=_later_meeting(values.get("moededato"), today))
                    try:
                        self.engine.complete_task(task.id, values, actor)
                    except InvalidInput:
                        result.refused += 1
                        continue
                else:
                    result.refused += 1
                    continue
            except (Conflict, NotFound):
                return              # cancelled meanwhile (a boundary event, another path)
            except ModelFault as exc:
                log.error("history: %s on case %s fails: %s", task.bpmn_id, task.case_id, exc)
                break
            memory.update(values)
            result.completed += 1
            return
        self.given_up.add(task.id)
        result.failed.append(f"{task.bpmn_id} (case {task.case_id})")

    def _work(self, day: date, result: HistoryResult) -> None:
        """Complete the tasks planned for today, in rounds: a task that opens today and is
        done at once (the decision at the meeting) follows in the next round."""
        slot = datetime.combine(day, FIRST_SLOT, LOCAL)
        done: set[int] = set()
        for _round in range(6):
            due = [task for task in self.engine.open_tasks()
                   if task.municipality_id in self.municipality_ids and task.id not in self.given_up
                   and task.id not in done and self._plan(task, day) <= day]
            if not due:
                return
            step = timedelta(minutes=min(SLOT_MINUTES, max(1, 240 // len(due))))
            for task in due:
                self._tick(slot)
                slot += step
                done.add(task.id)
                self._complete(task, result, day.isoformat())

    # -------------------------------------------------------------------- run
    def run(self, until: datetime, progress: Callable[[str, int, int, HistoryResult], None] | None = None
            ) -> HistoryResult:
        """Drive the cases day by day until ``until``; ``progress(month, done, total, result)``
        is called when a month is finished."""
        with unsynced_commits(self.sessions.kw["bind"]):
            return self._run(until, progress)

    def _run(self, until: datetime, progress) -> HistoryResult:
        began = time.monotonic()
        self._load()
        start = self._now()
        result = HistoryResult(start=start, end=until)
        day, last = start.astimezone(LOCAL).date(), until.astimezone(LOCAL).date()
        months = _months(day, last)
        while day < last:
            self._move_to(max(datetime.combine(day, dtime(8), LOCAL), self._now()))
            if day.weekday() < 5:
                self._arrivals(day, result)
                self._work(day, result)
                if self.after_day:      # the weekend's letters go out on Monday
                    self.after_day()
            following = day + timedelta(days=1)
            if progress and (following.month != day.month or following >= last):
                progress(f"{day:%Y-%m}", months.index(f"{day:%Y-%m}") + 1, len(months), result)
            day = following
        self._move_to(until)
        if self.after_day:
            self.after_day()
        result.seconds = time.monotonic() - began
        return result


def _later_meeting(current: str | None, today: str) -> str:
    base = date.fromisoformat(current or today)
    return (base + timedelta(days=7)).isoformat()


def _months(first: date, last: date) -> list[str]:
    out, day = [], first.replace(day=1)
    while day < last:
        out.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return out
