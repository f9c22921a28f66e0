"""Scenario tests of a model: dated walks written as data, run on the persisted engine.

A scenario is a JSON object (``docs/studio.md``)::

    {"name": "Første samtale inden 3 uger",
     "start": "2027-01-04",                        # the Danish date the case starts (09:00)
     "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
     "steps": [
       {"expect": {"task": "foerste_samtale", "role": "sagsbehandler", "due": "2027-01-25"}},
       {"at": "2027-01-11"},                       # move the clock to 09:00 that day
       {"complete": "foerste_samtale", "values": {"samtaledato": "2027-01-11"}},
       {"end_of": "2027-03-01"},                   # past midnight after that day: deadlines fire
       {"expect_absent": "foerste_samtale"},
       {"expect_letters": ["indkaldelse_samtale"]} # letters queued so far, in order (a prefix)
     ]}

Each scenario runs in its own throwaway installation (SQLite in a temporary folder) that
holds only the municipality under test: its policy and the models given, so a draft is
tested exactly as it would run. The studio runs a draft's scenarios; publishing runs them
all and refuses on any failure; ``tests/test_scenarios.py`` runs the shipped models' files
(``bpmn/scenarios/<municipality>/<case_type>.json``).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from processes import timekeeping
from processes.engine import Actor
from processes.errors import SagsflowError
from processes.library import BPMN_DIR, ParsedModel
from processes.models import Base, Outbox, ProcessInstance, Timer, User

LOCAL = ZoneInfo("Europe/Copenhagen")
SCENARIO_DIR = BPMN_DIR / "scenarios"
STEP_KINDS = ("expect", "at", "end_of", "complete", "expect_absent", "expect_letters")


def local_date(value: datetime) -> str:
    return value.astimezone(LOCAL).date().isoformat()


class Walk:
    """A citizen's case walked through the persisted engine, the way users would.

    Every action is its own engine step and transaction; dates are Danish calendar dates
    and the virtual clock moves with :meth:`at` and :meth:`end_of`. Users are the demo
    users ``<municipality>.<role>``."""

    def __init__(self, runtime, municipality: str, case_type: str, data: dict | None = None,
                 cpr: str = "010190-1234", name: str = "Test Borger"):
        self.rt, self.engine, self.municipality = runtime, runtime.engine, municipality
        first = self.engine.start_case(municipality, case_type, cpr, name, data or {})
        self.case_id = first.case_id

    # -- inspection -------------------------------------------------------------
    def ready(self, process: str | None = None) -> dict[str, str]:
        """Open tasks of the case: bpmn id -> role."""
        return {t.bpmn_id: t.role for t in self.engine.open_tasks(case_id=self.case_id)
                if process is None or t.process_id == process}

    def due(self, bpmn_id: str) -> str | None:
        task = self._open(bpmn_id)
        return local_date(task.due_at) if task.due_at else None

    def timers(self, process: str | None = None) -> dict[str, str]:
        with self.rt.sessions() as s:
            rows = s.execute(select(Timer.bpmn_id, Timer.due_at, ProcessInstance.process_id)
                             .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                             .where(Timer.case_id == self.case_id)).all()
        return {b: local_date(d) for b, d, p in rows if process is None or p == process}

    def letters(self) -> list[str]:
        with self.rt.sessions() as s:
            return list(s.scalars(select(Outbox.payload).where(Outbox.case_id == self.case_id)
                                  .order_by(Outbox.id)))

    def templates(self) -> list[str]:
        return [p["template"] for p in self.letters()]

    def instances(self) -> list[tuple[str, str]]:
        with self.rt.sessions() as s:
            return [(i.process_id, i.status) for i in s.scalars(
                select(ProcessInstance).where(ProcessInstance.case_id == self.case_id).order_by(ProcessInstance.id))]

    def today(self) -> str:
        with self.rt.sessions() as s:
            return local_date(timekeeping.now(s))

    # -- actions -----------------------------------------------------------------
    def _open(self, bpmn_id: str):
        tasks = [t for t in self.engine.open_tasks(case_id=self.case_id) if t.bpmn_id == bpmn_id]
        assert tasks, f"{bpmn_id} is not open; open: {self.ready()}"
        return tasks[0]

    def user(self, role: str) -> Actor:
        with self.rt.sessions() as s:
            return Actor.for_user(s.scalar(select(User).where(User.username == f"{self.municipality}.{role}")))

    def complete(self, bpmn_id: str, **form):
        task = self._open(bpmn_id)
        return self.engine.complete_task(task.id, form, self.user(task.role))

    def _move_to(self, target: datetime) -> None:
        with self.rt.sessions() as s:
            now = timekeeping.now(s)
        assert target >= now, f"cannot move the clock back from {now} to {target}"
        self.engine.advance_clock(target - now)

    def at(self, day: str, hour: int = 9) -> None:
        """Move the clock to ``hour`` o'clock Danish time on ``day``; due timers fire on the way."""
        self._move_to(datetime.combine(date.fromisoformat(day), time(hour), LOCAL))

    def end_of(self, day: str) -> None:
        """Move the clock to midnight after ``day``: every deadline falling on that day fires."""
        self._move_to(datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), LOCAL))


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    steps: int                 # steps that passed
    failure: str | None = None
    step: int | None = None    # the failing step (1-based), None for a problem before the steps
    element: str | None = None  # the BPMN element the failure concerns, for the canvas

    def as_dict(self) -> dict:
        return asdict(self)


def check_format(scenarios) -> list[str]:
    """Problems with the scenarios' format (not their outcome), in plain words."""
    if not isinstance(scenarios, list):
        return ["the scenarios must be a JSON list of objects"]
    problems = []
    for n, scenario in enumerate(scenarios, 1):
        where = f"scenario {n}"
        if not isinstance(scenario, dict):
            problems.append(f"{where}: not an object")
            continue
        where = f"scenario {n} ({scenario.get('name') or 'no name'})"
        if not isinstance(scenario.get("name"), str) or not scenario["name"].strip():
            problems.append(f"{where}: needs a name")
        try:
            date.fromisoformat(str(scenario.get("start")))
        except ValueError:
            problems.append(f"{where}: start must be a date YYYY-MM-DD")
        if not isinstance(scenario.get("data", {}), dict):
            problems.append(f"{where}: data must be an object")
        steps = scenario.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append(f"{where}: needs a list of steps")
            continue
        for i, step in enumerate(steps, 1):
            kinds = [k for k in (step if isinstance(step, dict) else {}) if k in STEP_KINDS]
            if len(kinds) != 1:
                problems.append(f"{where}, step {i}: one of {', '.join(STEP_KINDS)} per step, got {step!r}")
            elif kinds[0] in ("at", "end_of"):
                try:
                    date.fromisoformat(str(step[kinds[0]]))
                except ValueError:
                    problems.append(f"{where}, step {i}: {kinds[0]} must be a date YYYY-MM-DD")
            elif kinds[0] == "expect" and not (isinstance(step["expect"], dict) and step["expect"].get("task")):
                problems.append(f"{where}, step {i}: expect needs a task")
            elif kinds[0] == "complete" and not isinstance(step.get("values", {}), dict):
                problems.append(f"{where}, step {i}: values must be an object")
    return problems


@dataclass
class Sandbox:
    """What a scenario runs against: one municipality, its policy per case type and its
    models (the draft for the case type under test, the versions in force for the rest)."""

    key: str
    name: str
    policies: dict[str, dict]
    models: dict[str, ParsedModel]


def _installation(folder: Path, sandbox: Sandbox, start: datetime):
    from processes.municipalities import MunicipalityConfig, register
    from processes.runtime import open_runtime
    from processes.setup import seed_demo_users, seed_roles
    rt = open_runtime(f"sqlite:///{folder / 'scenario.sqlite3'}")
    Base.metadata.create_all(rt.db)
    with rt.sessions.begin() as session:
        timekeeping.enable_virtual(session, start)
        seed_roles(session)
        session.flush()
        config = MunicipalityConfig(
            sandbox.key, sandbox.name, datetime(2000, 1, 1, tzinfo=timezone.utc), {},
            {ct: sandbox.policies.get(ct, {}) for ct in sandbox.models},
            {ct: (parsed, False) for ct, parsed in sandbox.models.items()}, folder)
        register(session, config, start, changed_by="scenario")
        seed_demo_users(session, start)
    return rt


def _step(walk: Walk, step: dict) -> str | None:
    """Run one step; returns the element it concerns. Raises AssertionError on a mismatch."""
    if "at" in step:
        walk.at(step["at"])
    elif "end_of" in step:
        walk.end_of(step["end_of"])
    elif "complete" in step:
        bpmn_id = step["complete"]
        assert bpmn_id in walk.ready(), f"task {bpmn_id!r} is not open (open: {', '.join(walk.ready()) or 'none'})"
        walk.complete(bpmn_id, **(step.get("values") or {}))
        return bpmn_id
    elif "expect" in step:
        want = step["expect"]
        bpmn_id = want["task"]
        ready = walk.ready()
        assert bpmn_id in ready, f"expected task {bpmn_id!r} to be open on {walk.today()}; open: {', '.join(ready) or 'none'}"
        if "role" in want:
            assert ready[bpmn_id] == want["role"], f"task {bpmn_id!r} is in role {ready[bpmn_id]!r}, expected {want['role']!r}"
        if "due" in want:
            due = walk.due(bpmn_id)
            assert due == want["due"], f"task {bpmn_id!r} is due {due or 'never'}, expected {want['due'] or 'no due date'}"
        return bpmn_id
    elif "expect_absent" in step:
        bpmn_id = step["expect_absent"]
        assert bpmn_id not in walk.ready(), f"task {bpmn_id!r} is open on {walk.today()}, expected it not to be"
        return bpmn_id
    elif "expect_letters" in step:
        want, got = list(step["expect_letters"]), walk.templates()
        assert got[:len(want)] == want, f"letters {got}, expected them to start with {want}"
    return None


def run_scenario(sandbox: Sandbox, case_type: str, scenario: dict) -> ScenarioResult:
    name = scenario.get("name") or "?"
    problems = check_format([scenario])
    if problems:
        return ScenarioResult(name, False, 0, "; ".join(problems))
    start = datetime.combine(date.fromisoformat(scenario["start"]), time(9), LOCAL).astimezone(timezone.utc)
    done, element = 0, None
    with tempfile.TemporaryDirectory(prefix="sagsflow-scenario-") as folder:
        rt = _installation(Path(folder), sandbox, start)
        try:
            try:
                walk = Walk(rt, sandbox.key, case_type, scenario.get("data") or {})
            except (SagsflowError, ValueError) as exc:
                return ScenarioResult(name, False, 0, f"the case does not start: {exc}")
            for i, step in enumerate(scenario["steps"], 1):
                element = step.get("complete") or step.get("expect_absent") or (step.get("expect") or {}).get("task")
                try:
                    _step(walk, step)
                except AssertionError as exc:
                    return ScenarioResult(name, False, done, str(exc), i, element)
                except SagsflowError as exc:
                    detail = getattr(exc, "errors", None)
                    text = f"{exc}" + (f": {json.dumps(detail, ensure_ascii=False)}" if detail else "")
                    return ScenarioResult(name, False, done, text, i, getattr(exc, "element", None) or element)
                done += 1
        finally:
            rt.close()
    return ScenarioResult(name, True, done)


def run_scenarios(sandbox: Sandbox, case_type: str, scenarios: list) -> list[ScenarioResult]:
    problems = check_format(scenarios)
    if problems:
        return [ScenarioResult("format", False, 0, p) for p in problems]
    return [run_scenario(sandbox, case_type, s) for s in scenarios]


def shipped_file(municipality: str, case_type: str) -> Path:
    return SCENARIO_DIR / municipality / f"{case_type}.json"


def shipped(municipality: str, case_type: str) -> list:
    """The scenarios that ship with the reference municipality's model of ``case_type``."""
    path = shipped_file(municipality, case_type)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
