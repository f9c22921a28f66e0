"""Every letter of every model, rendered from the data the model really holds there.

The explorer walks each BPMN model under ``bpmn/`` (shared and municipal, the shared ones
under the default policy, with each boolean policy switch turned, and under each
municipality's policy that uses them) through SpiffWorkflow on a fixed clock:
from each state it completes each READY user task with generated form values (one
variant per enum option and per boolean value, so every branch a form can choose is
taken) or lets the next timer fall due. States are deduplicated by their open tasks and
pending timers, so loops end. When a letter service task runs, the explorer keeps what
the engine would give the letter renderer: the task's data and the labels of the enum
values from the forms that set them.

Hand-off payloads are not invented: a model is started with no hand-off (a case a user
starts) and with each payload the other models really throw at it during exploration.

Use :func:`explore_letters` (cached per test session); ``tests/test_letters_complete.py``
renders each sample and fails on an empty placeholder.
"""
from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from processes.clock import FixedClock, use_clock
from processes.formdata import form_variants
from processes.forms import check_form, validate_form
from processes.letters import enum_labels
from processes.library import parse_file
from processes.policy import BY_KEY, CATALOGUE, defaults
from processes.scripting import SagsflowScriptEngine

ROOT = Path(__file__).resolve().parents[1]
BPMN = ROOT / "bpmn"
LOCAL = ZoneInfo("Europe/Copenhagen")
START = datetime(2027, 1, 4, 9, tzinfo=LOCAL)   # a Monday
# Hand-offs feed each other (rehabilitering -> fleksjob -> rehabilitering ...): explore in
# this order, twice, so a payload thrown late still seeds its target.
ORDER = ("sygedagpenge", "rehabilitering", "ressourceforloeb", "fleksjob", "foertidspension")
MIN_WALKS = 12          # walks even after every letter task is reached: more paths, more data variants
MAX_WALKS = 40          # walks per model run and hand-off payload (most runs reach every letter in a few)
MAX_STEPS = 120         # actions per walk
TIMER_SHARE = 0.2       # how often a walk lets time pass while tasks are open
RANDOM_SEED = 8         # walks are reproducible
SAMPLES_PER_LETTER = 24  # distinct enum choices kept per letter task (different paths, different data)
ESCALATION_PREFIX = "eskaler_"


@dataclass(frozen=True)
class LetterSample:
    """One letter task reached in one model run."""

    model: str            # path under bpmn/, e.g. "shared/fleksjob.bpmn"
    municipality: str     # whose policy: "standard" (catalogue defaults), "standard+<switch>" (one
                          # boolean policy switch turned), or a municipality key
    bpmn_id: str
    template: str
    data: dict = field(compare=False, hash=False)
    labels: dict = field(compare=False, hash=False)


@dataclass
class ModelRun:
    model: str
    municipality: str
    case_type: str
    path: Path
    policy: dict


def _municipalities() -> dict[str, dict]:
    out = {}
    for config_path in sorted((BPMN / "municipalities").glob("*/municipality.json")):
        out[config_path.parent.name] = json.loads(config_path.read_text(encoding="utf-8"))
    return out


def _policy(case_type: str, config: dict | None) -> dict:
    values = defaults(case_type)
    for key, value in ((config or {}).get("policy", {}).get("values", {})).items():
        param = BY_KEY.get(key)
        if param is not None and param.case_type == case_type:
            values[key] = value
    return values


def model_runs() -> list[ModelRun]:
    """Every model file under the policies it runs with."""
    runs = []
    configs = _municipalities()
    for path in sorted((BPMN / "shared").glob("*.bpmn")):
        case_type = path.stem
        runs.append(ModelRun(f"shared/{path.name}", "standard", case_type, path, _policy(case_type, None)))
        # each policy switch turned the other way: a path a municipality may choose any day
        for param in CATALOGUE:
            if param.case_type == case_type and param.kind == "bool":
                policy = {**_policy(case_type, None), param.key: not param.default}
                runs.append(ModelRun(f"shared/{path.name}", f"standard+{param.key}", case_type, path, policy))
        for key, config in configs.items():
            if config.get("models", {}).get(case_type) == "shared":
                runs.append(ModelRun(f"shared/{path.name}", key, case_type, path, _policy(case_type, config)))
    for key, config in configs.items():
        for case_type, ref in config.get("models", {}).items():
            if ref != "shared":
                path = BPMN / "municipalities" / key / ref
                runs.append(ModelRun(f"municipalities/{key}/{ref}", key, case_type, path, _policy(case_type, config)))
    return runs


def letter_tasks(run: ModelRun) -> dict[str, str]:
    """The model's letter tasks: bpmn id -> template (what the explorer must reach)."""
    return dict(parse_file(run.path, policy=run.policy).metadata["letters"])


# --------------------------------------------------------------------------- exploration
class _Explorer:
    def __init__(self, run: ModelRun):
        self.run = run
        parsed = parse_file(run.path, policy=run.policy)
        self.spec, self.subs = parsed.spec, parsed.subprocess_specs
        self.tasks_meta = parsed.metadata["tasks"]
        self.enum_fields = {f["id"] for task in self.tasks_meta.values() for f in task.get("form", [])
                            if f.get("type") == "enum" and not f["id"].startswith("eskalering")}
        self._choices: dict[str, set] = {}
        self.samples: dict[str, list[LetterSample]] = {}
        self.thrown: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self._wf: BpmnWorkflow | None = None

    def _service(self, task, operation, params):
        bpmn_id = task.task_spec.bpmn_id
        kept = self.samples.setdefault(bpmn_id, [])
        # one sample per combination of the enum choices that led here (e.g. a refusal of
        # førtidspension and of fleksjob read different fields), up to a cap
        choice = tuple(sorted((k, v) for k, v in task.data.items() if k in self.enum_fields and isinstance(v, str)))
        if choice not in self._choices.setdefault(bpmn_id, set()) and len(kept) < SAMPLES_PER_LETTER:
            self._choices[bpmn_id].add(choice)
            kept.append(LetterSample(
                self.run.model, self.run.municipality, bpmn_id, params.get("template"),
                json.loads(json.dumps(task.data, default=str)),
                enum_labels(self._wf, self.tasks_meta, before=task)))
        return {"queued": True}

    def _engine(self) -> SagsflowScriptEngine:
        return SagsflowScriptEngine(service=self._service)

    def _settle(self, wf: BpmnWorkflow, clock: FixedClock) -> None:
        self._wf = wf
        with use_clock(clock):
            wf.do_engine_steps()
            wf.refresh_timers()
            wf.do_engine_steps()
        for event in wf.get_events():
            if isinstance(event.event_definition, MessageEventDefinition):
                self.thrown.append((event.event_definition.name, dict(event.payload or {})))

    @staticmethod
    def _timers(wf: BpmnWorkflow) -> list[tuple[datetime, str]]:
        out = []
        for task in wf.get_tasks(state=TaskState.WAITING):
            ed = getattr(task.task_spec, "event_definition", None)
            if isinstance(ed, TimerEventDefinition):
                value = ed.details(task).value
                if value:
                    out.append((datetime.fromisoformat(value), task.task_spec.bpmn_id))
        return sorted(out)

    @staticmethod
    def _ready(wf: BpmnWorkflow) -> list:
        """READY user tasks worth acting on: escalations (a teamleder acknowledging a missed
        deadline) lead to no letter and would crowd out the real choices."""
        return [t for t in wf.get_tasks(state=TaskState.READY, manual=True)
                if not t.task_spec.bpmn_id.startswith(ESCALATION_PREFIX)]

    def _walk(self, seed: dict, rng: random.Random, tried: dict) -> None:
        """One walk from the start: complete the least-tried (task, form variant) among the
        open tasks, or let time pass to a pending timer, until the case ends or the walk is long."""
        clock = FixedClock(START)
        wf = BpmnWorkflow(self.spec, self.subs, script_engine=self._engine())
        wf.task_tree.data.update(
            policy=dict(self.run.policy), sag={"id": 1, "kommune": self.run.municipality},
            borger={"navn": "Test Borger", "alder": 45}, startdato=START.date().isoformat(),
            overdragelse=json.loads(json.dumps(seed)))
        self._settle(wf, clock)
        for _ in range(MAX_STEPS):
            if wf.is_completed():
                return
            today = clock.now().astimezone(LOCAL).date().isoformat()
            choices = []
            for task in self._ready(wf):
                form = self.tasks_meta.get(task.task_spec.bpmn_id, {}).get("form", [])
                for index, values in enumerate(form_variants(form, today)):
                    # what a user could submit: the form's own validation and checks, as the engine applies them
                    clean, errors = validate_form(form, values, today=today)
                    if errors or check_form(form, clean, task.data):
                        continue
                    choices.append((tried.get((task.task_spec.bpmn_id, index), 0), rng.random(), task, index, clean))
            timers = self._timers(wf)
            if timers and (not choices or rng.random() < TIMER_SHARE):
                # time passes up to any pending timer (far clocks, 4½ years, are reached too),
                # visiting each due time on the way in turn, as the engine's clock does
                target = max(rng.choice(timers)[0], clock.now())
                try:
                    while timers and timers[0][0] <= target and not wf.is_completed():
                        clock.set(max(timers[0][0], clock.now()) + timedelta(seconds=1))
                        self._settle(wf, clock)
                        timers = self._timers(wf)
                except Exception as exc:  # noqa: BLE001 - reported; this walk ends
                    self.errors.append(f"timer at {clock.now().isoformat()}: {type(exc).__name__}: {exc}")
                    return
                continue
            if not choices:
                return
            _, _, task, index, values = min(choices, key=lambda c: (c[0], c[1]))
            tried[(task.task_spec.bpmn_id, index)] = tried.get((task.task_spec.bpmn_id, index), 0) + 1
            task.data.update(values)
            try:
                with use_clock(clock):
                    task.run()
                self._settle(wf, clock)
            except Exception as exc:  # noqa: BLE001 - reported; this walk ends
                self.errors.append(f"{task.task_spec.bpmn_id} {values}: {type(exc).__name__}: {exc}")
                return

    def explore(self, seed: dict, goal: set[str] | None = None) -> None:
        """Walk until every letter task in ``goal`` is reached (and at least MIN_WALKS times)
        or the walks run out."""
        rng = random.Random(RANDOM_SEED)
        tried: dict = {}
        for walk in range(MAX_WALKS):
            self._walk(seed, rng, tried)
            if walk + 1 >= MIN_WALKS and goal is not None and goal <= set(self.samples):
                return


@dataclass
class Exploration:
    samples: list[LetterSample]
    expected: dict[tuple[str, str], dict[str, str]]   # (model, municipality) -> {letter task: template}
    errors: list[str]                                  # model steps that raised, with the form values


@functools.lru_cache(maxsize=1)
def explore_letters() -> Exploration:
    """Every model run, started with no hand-off and with each payload other models throw
    at its case type; the letters each reached (cached for the test session)."""
    runs = sorted(model_runs(), key=lambda r: ORDER.index(r.case_type) if r.case_type in ORDER else len(ORDER))
    seeds: dict[str, dict[tuple, dict]] = {ct: {(): {}} for ct in ORDER}
    done: set[tuple] = set()
    result = Exploration([], {}, [])
    for _ in range(2):
        for run in runs:
            expected = result.expected.setdefault((run.model, run.municipality), letter_tasks(run))
            for key, payload in list(seeds.get(run.case_type, {}).items()):
                if (run.model, run.municipality, key) in done:
                    continue
                done.add((run.model, run.municipality, key))
                explorer = _Explorer(run)
                explorer.explore(payload, goal=set(expected))
                for kept in explorer.samples.values():
                    result.samples.extend(kept)
                result.errors.extend(f"{run.model} ({run.municipality}, hand-off {sorted(payload)}): {e}"
                                     for e in explorer.errors)
                for name, thrown in explorer.thrown:
                    target = name[len("start_"):] if name.startswith("start_") else None
                    if target in seeds:
                        seeds[target].setdefault(tuple(sorted(thrown)), thrown)
    return result
