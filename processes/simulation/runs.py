"""Stored simulation runs: what a leder asks for on the *Simulér* page, run by the worker.

A run (:class:`processes.models.SimulationRun`) holds what was asked (the variants, the
seed and the replications, and the scenario changes laid over the default scenario), its
state and progress, and when it is done its result: per variant the measures of every
replication (:func:`processes.simulation.runner.run_measures`, the analytics definitions)
and their intervals (:func:`processes.simulation.runner.summarise`), and the own
municipality's *actual* figures over the same case types (:mod:`processes.analytics`).

Life of a run: ``queued`` (created by :func:`create`) → ``running`` (claimed by a worker,
:func:`claim_next`) → ``done`` or ``failed`` (with the reason). A worker that stops
gracefully puts its run back in the queue; a run whose worker died (its heartbeat is
stale or says stopped) or that has reported nothing for :data:`RUN_STALE_AFTER` is put
back in the queue by the next worker (:func:`recover`), at most :data:`MAX_ATTEMPTS`
times, and then marked failed with the reason. So a run is never stuck silently.

A variant of a run is one of:

- ``{"kind": "own"|"other", "key": K}``: a registered municipality's models and policy in force;
- ``{"kind": "policy", "key": K, "changes": {PARAM: VALUE}}``: the own municipality with a
  proposed policy change (checked against the statutory bounds when the run is created and
  again when it runs);
- ``{"kind": "draft", "key": K, "draft_id": N, "case_type": T, "xml": ...}``: the own
  municipality with a studio draft (its XML as it was when the run was asked for) as the
  model of its case type.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from processes import analytics, timekeeping
from processes.catalogue import LoadedSpec
from processes.engine import Actor, Engine
from processes.errors import InvalidInput, NotFound
from processes.library import ModelInvalid, parse_model
from processes.models import Municipality, SimulationRun, WorkerHeartbeat
from processes.scripting import danish_date
from processes.simulation import runner
from processes.simulation.kernel import Simulation
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import Variant, resolve, with_policy

MAX_ATTEMPTS = 3                           # claims of one run before it is marked failed
RUN_STALE_AFTER = timedelta(minutes=10)    # no progress report for this long: its worker is hung
WORKER_STALE_AFTER = timedelta(seconds=30)  # as worker.status.STALE_AFTER: a worker without a beat
PROGRESS_EVERY = 0.5                       # seconds of wall time between progress writes
KINDS = ("own", "other", "policy", "draft")


class Interrupted(Exception):
    """The worker is stopping: the run goes back to the queue."""


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------ asking for a run
def create(session: Session, municipality_id: int, actor: Actor, title: str, variants: list[dict],
           scenario: dict, seed: int, replications: int) -> SimulationRun:
    """Queue a run (in the caller's transaction) and audit it as ``simulation.start``.
    The scenario changes are validated here (errors by field); the variants must belong
    to the municipality (own key, drafts) or be registered (others)."""
    load_scenario(scenario)  # raises InvalidInput naming the field
    own = session.get(Municipality, municipality_id)
    for variant in variants:
        if variant.get("kind") not in KINDS:
            raise InvalidInput(f"unknown variant kind {variant.get('kind')!r}")
        if variant["kind"] in ("own", "policy", "draft") and variant["key"] != own.key:
            raise InvalidInput("a policy change or a draft is simulated on the own municipality only")
        if variant["kind"] == "other" and session.scalar(
                select(Municipality.id).where(Municipality.key == variant["key"])) is None:
            raise NotFound(f"unknown municipality: {variant['key']}")
    if not variants:
        raise InvalidInput("choose at least one variant", {"variants": ["choose at least one variant"]})
    now = timekeeping.now(session)
    run = SimulationRun(municipality_id=municipality_id, created_by=actor.name, created_at=now, title=title[:200],
                        request={"variants": variants, "seed": seed, "replications": replications},
                        scenario=scenario, status="queued", progress=0.0, attempts=0)
    session.add(run)
    session.flush()
    Engine.audit(session, actor, "simulation.start", municipality_id, None, None,
                 {"run": run.id, "title": run.title, "variants": [_variant_text(v) for v in variants],
                  "seed": seed, "replications": replications, "scenario": scenario}, now)
    return run


def _variant_text(variant: dict) -> str:
    if variant["kind"] == "policy":
        return variant["key"] + ":" + ",".join(f"{k}={v}" for k, v in variant["changes"].items())
    if variant["kind"] == "draft":
        return f"{variant['key']}+draft:{variant['draft_id']}"
    return variant["key"]


def visible_run(session: Session, municipality_id: int, run_id: int) -> SimulationRun:
    """A run of the caller's municipality; another municipality's run does not exist for it."""
    run = session.get(SimulationRun, run_id)
    if run is None or run.municipality_id != municipality_id:
        raise NotFound(f"simulation run {run_id} not found")
    return run


def runs_of(session: Session, municipality_id: int, limit: int = 50) -> list[SimulationRun]:
    return list(session.scalars(select(SimulationRun).where(SimulationRun.municipality_id == municipality_id)
                                .order_by(SimulationRun.id.desc()).limit(limit)))


# ------------------------------------------------------------------ the worker's side
def recover(sessions, wall: datetime | None = None) -> list[tuple[int, str]]:
    """Runs left ``running`` by a worker that is gone (no heartbeat row, stopped, or
    silent for :data:`WORKER_STALE_AFTER`) or that reported nothing for
    :data:`RUN_STALE_AFTER`: back to the queue, or failed after :data:`MAX_ATTEMPTS`
    claims. Returns ``(run id, new status)``."""
    wall = wall or wall_now()
    changed = []
    with sessions.begin() as session:
        running = list(session.scalars(select(SimulationRun).where(SimulationRun.status == "running")))
        for run in running:
            beat = session.get(WorkerHeartbeat, run.worker_id) if run.worker_id else None
            worker_gone = (beat is None or beat.status != "running"
                           or wall - beat.last_tick_at > WORKER_STALE_AFTER)
            silent = run.heartbeat_at is None or wall - run.heartbeat_at > RUN_STALE_AFTER
            if not (worker_gone or silent):
                continue
            why = (f"worker {run.worker_id} stopped while running it" if worker_gone
                   else f"no progress from worker {run.worker_id} for {RUN_STALE_AFTER}")
            if run.attempts >= MAX_ATTEMPTS:
                values = {"status": "failed", "finished_at": wall, "worker_id": None,
                          "error": f"interrupted {run.attempts} times (last: {why}); not tried again"}
            else:
                values = {"status": "queued", "worker_id": None, "progress": 0.0,
                          "note": f"put back in the queue: {why}"}
            done = session.execute(update(SimulationRun).where(SimulationRun.id == run.id,
                                                               SimulationRun.status == "running",
                                                               SimulationRun.worker_id == run.worker_id)
                                   .values(**values).execution_options(synchronize_session=False))
            if done.rowcount == 1:
                changed.append((run.id, values["status"]))
                _audit_system(session, run, "simulation.failed" if values["status"] == "failed"
                              else "simulation.requeued", {"reason": why, "attempts": run.attempts})
    return changed


def claim_next(sessions, worker_id: str, wall: datetime | None = None) -> int | None:
    """Claim the oldest queued run for ``worker_id`` (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL; the conditional update makes a claim single on any database)."""
    wall = wall or wall_now()
    with sessions.begin() as session:
        run_id = session.scalar(select(SimulationRun.id).where(SimulationRun.status == "queued")
                                .order_by(SimulationRun.id).limit(1).with_for_update(skip_locked=True))
        if run_id is None:
            return None
        done = session.execute(update(SimulationRun).where(SimulationRun.id == run_id,
                                                           SimulationRun.status == "queued")
                               .values(status="running", worker_id=worker_id, attempts=SimulationRun.attempts + 1,
                                       started_at=wall, heartbeat_at=wall, progress=0.0, error=None)
                               .execution_options(synchronize_session=False))
        return run_id if done.rowcount == 1 else None


def _audit_system(session: Session, run: SimulationRun, action: str, detail: dict) -> None:
    Engine.audit(session, Actor.system("worker"), action, run.municipality_id, None, None,
                 {"run": run.id, **detail}, timekeeping.now(session))


def _report(sessions, run_id: int, worker_id: str, progress: float) -> bool:
    """Store the progress; False when the run is no longer this worker's."""
    with sessions.begin() as session:
        done = session.execute(update(SimulationRun).where(SimulationRun.id == run_id,
                                                           SimulationRun.worker_id == worker_id,
                                                           SimulationRun.status == "running")
                               .values(progress=round(min(max(progress, 0.0), 1.0), 4), heartbeat_at=wall_now())
                               .execution_options(synchronize_session=False))
        return done.rowcount == 1


def execute(sessions, run_id: int, worker_id: str, should_stop: Callable[[], bool] = lambda: False) -> str:
    """Run a claimed run to its end and store the result (or the reason it failed).
    Returns the final status (``done``, ``failed``, or ``queued`` when the worker stopped)."""
    with sessions() as session:
        run = session.get(SimulationRun, run_id)
        request, overrides, municipality_id = dict(run.request), dict(run.scenario), run.municipality_id
        now = timekeeping.now(session)
    last = [0.0]

    def progress(fraction: float) -> None:
        if should_stop():
            raise Interrupted()
        if time.monotonic() - last[0] >= PROGRESS_EVERY or fraction >= 1.0:
            last[0] = time.monotonic()
            if not _report(sessions, run_id, worker_id, fraction):
                raise Interrupted()  # taken from us (recovered by another worker)

    try:
        scenario = load_scenario(overrides)
        result = simulate(sessions, request, scenario, now, progress)
        with sessions() as session:
            result["actual"] = actual_figures(session, municipality_id, scenario, now)
    except Interrupted:
        with sessions.begin() as session:
            done = session.execute(update(SimulationRun).where(SimulationRun.id == run_id,
                                                               SimulationRun.worker_id == worker_id,
                                                               SimulationRun.status == "running")
                                   .values(status="queued", worker_id=None, progress=0.0,
                                           attempts=SimulationRun.attempts - 1,
                                           note="put back in the queue: the worker was stopped")
                                   .execution_options(synchronize_session=False))
            if done.rowcount:
                _audit_system(session, session.get(SimulationRun, run_id), "simulation.requeued",
                              {"reason": "the worker was stopped"})
        return "queued"
    except Exception as exc:  # noqa: BLE001 - a failed run says why; the worker goes on
        reason = _reason(exc)
        _finish(sessions, run_id, worker_id, status="failed", error=reason)
        return "failed"
    _finish(sessions, run_id, worker_id, status="done", result=result)
    return "done"


def _reason(exc: Exception) -> str:
    if isinstance(exc, (InvalidInput, NotFound)):
        details = getattr(exc, "errors", None) or {}
        parts = [f"{k}: {' '.join(map(str, v))}" for k, v in details.items()]
        return "; ".join([str(exc), *parts])
    return f"{type(exc).__name__}: {exc}"


def _finish(sessions, run_id: int, worker_id: str, status: str, result: dict | None = None,
            error: str | None = None) -> None:
    with sessions.begin() as session:
        done = session.execute(update(SimulationRun).where(SimulationRun.id == run_id,
                                                           SimulationRun.worker_id == worker_id,
                                                           SimulationRun.status == "running")
                               .values(status=status, result=result, error=error, finished_at=wall_now(),
                                       heartbeat_at=wall_now(), progress=1.0 if status == "done" else
                                       SimulationRun.progress)
                               .execution_options(synchronize_session=False))
        if done.rowcount:
            run = session.get(SimulationRun, run_id)
            _audit_system(session, run, f"simulation.{status}", {"error": error} if error else {})


def run_next(sessions, worker_id: str, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, str] | None:
    """What the worker's simulation job does each tick: recover orphaned runs, claim the
    oldest queued one and run it. Returns ``(run id, final status)`` or None if none was queued."""
    with sessions() as session:  # one short look when there is nothing to do (every few seconds)
        if session.scalar(select(SimulationRun.id).where(SimulationRun.status.in_(("queued", "running")))
                          .limit(1)) is None:
            return None
    recover(sessions)
    if should_stop():
        return None
    run_id = claim_next(sessions, worker_id)
    if run_id is None:
        return None
    return run_id, execute(sessions, run_id, worker_id, should_stop)


# ------------------------------------------------------------------ running the variants
def variant_of(sessions, spec: dict, now: datetime) -> Variant:
    """The :class:`Variant` a run's variant entry names (see the module doc)."""
    base = resolve(spec["key"], sessions=sessions, now=now)
    if spec["kind"] == "policy":
        return with_policy(base, dict(spec["changes"]), name=_variant_text(spec))
    if spec["kind"] == "draft":
        case_type = spec["case_type"]
        try:
            parsed = parse_model(spec["xml"].encode("utf-8"), f"{case_type}.bpmn", policy=base.policies.get(case_type),
                                 expected_process=case_type)
        except ModelInvalid as exc:
            raise InvalidInput(f"the draft {spec.get('title', spec['draft_id'])} has errors",
                               {"draft": [str(p) for p in exc.problems[:5]]}) from None
        models = dict(base.models)
        models[case_type] = LoadedSpec(parsed.spec, parsed.subprocess_specs, parsed.metadata, parsed.process_id)
        return Variant(_variant_text(spec), base.municipality, models, base.policies,
                       source=f"draft {spec['draft_id']}")
    return base


def simulate(sessions, request: dict, scenario: dict, now: datetime,
             progress: Callable[[float], None] = lambda f: None) -> dict:
    """Every variant of ``request``, ``replications`` times (seeds seed, seed+1, ...; the
    same for every variant, so they see the same load), one after another with progress
    over the whole; per variant the measures of each replication and their intervals, in
    the shape of :func:`processes.simulation.runner.simulate_variants`."""
    seed, replications = int(request["seed"]), int(request["replications"])
    warmup = scenario["period"].get("warmup_weeks", 0)
    if warmup * 7 >= scenario["period"].get("years", 1) * 365:
        raise InvalidInput("the warm-up is as long as the simulated period: nothing would be measured")
    variants = [variant_of(sessions, spec, now) for spec in request["variants"]]
    total = len(variants) * replications
    out = {"scenario": scenario.get("name"), "seed": seed, "replications": replications, "variants": []}
    for v, (spec, variant) in enumerate(zip(request["variants"], variants)):
        runs = []
        for r in range(replications):
            step = v * replications + r
            result = Simulation(variant, scenario, seed + r,
                                progress=lambda f, step=step: progress((step + f) / total)).run()
            runs.append({"seed": seed + r, "measures": runner.run_measures(result, warmup),
                         "stats": {"cases": len(result.cases), "engine_steps": result.engine_steps,
                                   "seconds": round(result.seconds, 2), "faults": result.faults[:20]}})
        out["variants"].append({"variant": _variant_text(spec), "label": spec.get("label") or _variant_text(spec),
                                "kind": spec["kind"], "key": spec["key"],
                                "summary": runner.summarise([r["measures"] for r in runs]), "runs": runs})
    return out


def arrival_case_type(scenario: dict) -> str | None:
    """The case type the simulated cases start as (None when several)."""
    types = list(scenario.get("arrivals", {}))
    return types[0] if len(types) == 1 else None


def actual_filters(scenario: dict, now: datetime) -> analytics.Filters:
    """The actual figures' filters: the standard period (12 months up to today) and the
    case type the simulated cases start as."""
    standard = analytics.make_filters(date.fromisoformat(danish_date(now)))
    return analytics.Filters(standard.start, standard.end, arrival_case_type(scenario))


def actual_figures(session: Session, municipality_id: int, scenario: dict, now: datetime) -> dict:
    """The own municipality's actual figures over the same case types as the simulation
    (:func:`actual_filters`), with the mean of each lead time as the simulation has it."""
    filters = actual_filters(scenario, now)
    facts = analytics.load_facts(session, [municipality_id])
    figures = runner.with_means(analytics.municipality_figures(facts, filters, now))
    return {"filters": analytics.filters_json(filters), "computed_at": now.isoformat(),
            "figures": runner.strip_internal(analytics.without_case_ids(figures))}


# ------------------------------------------------------------------ reading a result
def _mean(values: list) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return round(sum(values) / len(values), 4) if values else None


def average_figures(runs: list[dict]) -> dict:
    """A variant's figures in the shape of :func:`processes.analytics.measures` (what
    :func:`processes.analytics.comparison_rows` reads): each lead time's median, each
    compliance share, funnel and outcome share as the mean over the replications."""
    measures = [r["measures"] for r in runs]
    first = measures[0]
    lead_times = []
    for i, m in enumerate(first["lead_times"]):
        medians = [x["lead_times"][i]["median"] for x in measures if x["lead_times"][i]["median"]]
        value = _mean([q["value"] for q in medians])
        lead_times.append({"key": m["key"], "label": m["label"],
                           "median": None if value is None else {"value": round(value, 1),
                                                                 "at_least": any(q["at_least"] for q in medians)},
                           "mean": _mean([x["lead_times"][i].get("mean") for x in measures]),
                           "n": _mean([x["lead_times"][i]["n"] for x in measures])})
    rules = sorted({c["rule"] for x in measures for c in x["compliance"]})
    compliance = []
    for rule in rules:
        rows = [c for x in measures for c in x["compliance"] if c["rule"] == rule]
        compliance.append({"rule": rule, "label": rows[0]["label"], "statutory": rows[0]["statutory"],
                           "share_met": _mean([c["share_met"] for c in rows])})
    funnel = {"stages": [{"stage": s["stage"], "share": _mean([x["funnel"]["stages"][i]["share"] for x in measures])}
                         for i, s in enumerate(first["funnel"]["stages"])]}
    outcomes = {"outcomes": [{"outcome": o["outcome"],
                              "share": _mean([x["outcomes"]["outcomes"][i]["share"] for x in measures])}
                             for i, o in enumerate(first["outcomes"]["outcomes"])]}
    return {"cases": _mean([x["cases"] for x in measures]), "lead_times": lead_times, "compliance": compliance,
            "funnel": funnel, "outcomes": outcomes}
