"""Replications and variants: run them (in parallel processes), measure each run with the
analytics functions (:func:`processes.analytics.measures`, the same definitions as the
actual figures) and give each measure an interval over the replications."""
from __future__ import annotations

import json
import math
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from processes import analytics
from processes.errors import InvalidInput
from processes.simulation.kernel import Result, Simulation
from processes.simulation.variants import Variant, resolve

# two-sided 95 % Student t quantiles by degrees of freedom (normal beyond 30)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    if df <= 0:
        return float("nan")
    keys = [k for k in sorted(_T95) if k <= df]
    return _T95[keys[-1]] if df <= 30 else 1.96


def interval(values: list[float]) -> dict:
    """Mean and 95 % confidence interval of one measure over the replications."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": round(mean, 2), "low": None, "high": None, "n": 1}
    half = t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": round(mean, 2), "low": round(mean - half, 2), "high": round(mean + half, 2), "n": len(values)}


def raw_measures(result: Result, warmup_weeks: int) -> dict:
    """The analytics measures of one run, over the cases whose intervals start after the
    warm-up, open intervals censored at the end of the period (with the distributions,
    so runs can be pooled by :func:`processes.analytics.merge`)."""
    filters = analytics.Filters(result.start.date() + timedelta(weeks=warmup_weeks), result.end.date())
    return analytics.measures(result.case_facts(), result.deadline_facts(), result.task_facts(),
                              result.instance_facts(), filters, result.end)


def with_means(figures: dict) -> dict:
    for measure in figures["lead_times"]:
        # the mean of the finished intervals, from the measure's own distribution (the
        # national evaluation reports means)
        done = [(days, n) for days, censored, n in measure.get("hist", []) if not censored]
        count = sum(n for _, n in done)
        measure["mean"] = round(sum(d * n for d, n in done) / count, 2) if count else None
    return figures


def run_measures(result: Result, warmup_weeks: int) -> dict:
    """:func:`raw_measures` with the mean of each lead time, without case ids and distributions."""
    return strip_internal(analytics.without_case_ids(with_means(raw_measures(result, warmup_weeks))))


def strip_internal(value):
    if isinstance(value, dict):
        return {k: strip_internal(v) for k, v in value.items() if k not in analytics.INTERNAL}
    if isinstance(value, list):
        return [strip_internal(v) for v in value]
    return value


@dataclass(frozen=True)
class Job:
    variant: str
    replication: int
    seed: int


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_=" else "_" for ch in name)


# Variants resolved in this process during one simulate_variants call (parsed models,
# policy): a process running several replications of a variant parses its models once.
# Emptied at every call, so a long-lived process sees changed models and policies.
_VARIANTS: dict[tuple, Variant] = {}


def variant_for(name: str, policy: dict | None = None, database_url: str | None = None) -> Variant:
    """The variant ``name`` (:func:`processes.simulation.variants.resolve`), parsed once per process."""
    key = (name, json.dumps(policy or {}, sort_keys=True, default=str), database_url)
    variant = _VARIANTS.get(key)
    if variant is None:
        sessions = None
        if database_url:
            from processes.runtime import open_runtime
            sessions = open_runtime(database_url).sessions
        variant = _VARIANTS[key] = resolve(name, sessions=sessions, policy=policy)
    return variant


def _run_job(job: Job, scenario: dict, cases, years, policy, database_url, out_dir=None) -> tuple[Job, dict, dict]:
    variant = variant_for(job.variant, policy, database_url)
    result = Simulation(variant, scenario, job.seed, cases=cases, years=years).run()
    stats = {"cases": len(result.cases), "engine_steps": result.engine_steps, "seconds": round(result.seconds, 2),
             "spiff_seconds": round(result.spiff_seconds, 2), "faults": result.faults[:20]}
    if out_dir is not None:
        from pathlib import Path

        from processes import eventlog
        log = event_log(result)
        stem = Path(out_dir) / f"{_safe(job.variant)}-seed{job.seed}"
        stats["event_logs"] = []
        for fmt, suffix in (("xes", "xes"), ("ocel", "jsonocel"), ("csv", "csv")):
            path = stem.with_suffix(f".{suffix}")
            path.write_bytes(eventlog.render(log, fmt))
            stats["event_logs"].append(str(path))
    return job, run_measures(result, scenario["period"].get("warmup_weeks", 0)), stats


def summarise(per_run: list[dict]) -> dict:
    """Intervals over the replications for each lead time (median and mean days),
    compliance share per rule, and the number of cases."""
    out: dict = {"cases": interval([r["cases"] for r in per_run]), "lead_times": [], "compliance": []}
    for i, measure in enumerate(per_run[0]["lead_times"]):
        values = [r["lead_times"][i] for r in per_run]
        out["lead_times"].append({
            "key": measure["key"], "label": measure["label"],
            "median": interval([(v["median"] or {}).get("value") for v in values]),
            "mean": interval([v.get("mean") for v in values]),
            "n": interval([v["n"] for v in values])})
    rules = sorted({c["rule"] for r in per_run for c in r["compliance"]})
    for rule in rules:
        rows = [next((c for c in r["compliance"] if c["rule"] == rule), None) for r in per_run]
        label = next(c["label"] for c in rows if c)
        out["compliance"].append({"rule": rule, "label": label,
                                  "share_met": interval([c["share_met"] for c in rows if c])})
    return out


def default_workers(jobs: int) -> int:
    """One process per core, no more than there are runs."""
    return max(1, min(jobs, os.cpu_count() or 1))


def simulate_variants(variants: list[str], scenario: dict, seed: int = 1, replications: int = 1,
                      workers: int = 1, cases: int | None = None, years: float | None = None,
                      policy: dict | None = None, database_url: str | None = None,
                      progress: Callable[[int, int], None] | None = None, out_dir=None) -> dict:
    """Every variant, ``replications`` times each (seed, seed+1, ...; the same seeds for
    every variant, so they see the same load); the measures per run and their intervals.
    With ``workers`` > 1 the runs go to that many processes (``default_workers``: one per core)."""
    span = years if years is not None else scenario["period"].get("years", 1)
    if scenario["period"].get("warmup_weeks", 0) * 7 >= span * 365:
        raise InvalidInput("the warm-up is as long as the simulated period: nothing would be measured",
                           {"period.warmup_weeks": [f"{scenario['period'].get('warmup_weeks', 0)} weeks is not "
                                                    f"shorter than {span} years"]})
    jobs = [Job(v, r, seed + r) for v in variants for r in range(replications)]
    _VARIANTS.clear()
    try:
        done = _run_jobs(jobs, scenario, workers, cases, years, policy, database_url, progress, out_dir)
    finally:
        _VARIANTS.clear()
    out = {"scenario": scenario.get("name"), "seed": seed, "replications": replications, "variants": []}
    for name in variants:
        runs = sorted((d for d in done if d[0].variant == name), key=lambda d: d[0].replication)
        out["variants"].append({"variant": name, "summary": summarise([m for _, m, _ in runs]),
                                "runs": [{"seed": j.seed, "stats": s, "measures": m} for j, m, s in runs]})
    return out


def _run_jobs(jobs, scenario, workers, cases, years, policy, database_url, progress, out_dir):
    done: list[tuple[Job, dict, dict]] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_job, job, scenario, cases, years, policy, database_url, out_dir) for job in jobs]
            for future in futures:
                done.append(future.result())
                if progress:
                    progress(len(done), len(jobs))
    else:
        for job in jobs:
            done.append(_run_job(job, scenario, cases, years, policy, database_url, out_dir))
            if progress:
                progress(len(done), len(jobs))
    return done


# ------------------------------------------------------------------ event logs
def event_log(result: Result):
    """A simulated run as an :class:`processes.eventlog.EventLog`, the same events the
    export reads from the engine's records (tasks opened, completed or withdrawn,
    processes started and ended, milestones, letters), so ``eventlog.render`` writes it
    in the same formats. Cases are named ``sim-<n>``; there are no citizens."""
    from processes import eventlog
    from processes.milestones import BY_KEY as MILESTONES
    log = eventlog.EventLog(result.municipality, f"Simulering: {result.variant}", result.end)
    instance_ids: dict[int, int] = {}
    for case in result.cases:
        log.cases[case.number] = (f"sim-{case.number}", case.created_at)
        for instance in case.instances:
            iid = instance_ids[id(instance)] = len(instance_ids) + 1
            log.instances[iid] = {"case_id": case.number, "process": instance.process_id,
                                  "status": "completed" if instance.completed_at else "running",
                                  "model_version": None, "started_at": instance.started_at}
            log.events.append(eventlog.LogEvent(case.number, iid, instance.process_id,
                                                f"Proces startet: {instance.process_id}", "complete",
                                                instance.started_at, "instance", order=iid))
            if instance.completed_at:
                log.events.append(eventlog.LogEvent(case.number, iid, instance.process_id,
                                                    f"Proces afsluttet: {instance.process_id}", "complete",
                                                    instance.completed_at, "instance", order=iid))
        for n, (key, day, at) in enumerate(case.milestones):
            label = MILESTONES[key].label if key in MILESTONES else key
            log.events.append(eventlog.LogEvent(case.number, None, MILESTONES[key].process if key in MILESTONES
                                                else None, f"Milepæl: {label}", "complete", at, "milestone",
                                                milestone_date=day.isoformat(), order=n))
    for number, task in enumerate(result.tasks, 1):
        iid = instance_ids[id(task.instance)]
        log.tasks[number] = {"case_id": task.case, "instance_id": iid, "name": task.name, "role": task.role,
                             "bpmn_id": task.bpmn_id, "created_at": task.created_at}
        common = dict(case_id=task.case, instance_id=iid, process=task.instance.process_id, activity=task.name,
                      kind="task", role=task.role, bpmn_id=task.bpmn_id, task_id=number)
        log.events.append(eventlog.LogEvent(lifecycle="schedule", time=task.created_at, order=2 * number, **common))
        if task.state in ("completed", "cancelled") and task.closed_at is not None:
            log.events.append(eventlog.LogEvent(
                lifecycle="complete" if task.state == "completed" else "withdraw", time=task.closed_at,
                order=2 * number + 1, resource=task.role if task.state == "completed" else None, **common))
    for n, (case, at, bpmn_id, template) in enumerate(result.letters):
        if case is not None:
            log.events.append(eventlog.LogEvent(case, None, None, f"Brev: {template}", "complete", at, "letter",
                                                bpmn_id=bpmn_id, order=n))
    log.events.sort(key=lambda e: (e.time, e.case_id, eventlog._STEP_ORDER[(e.kind, e.lifecycle, e.activity[:14])],
                                   e.order))
    for event in log.events:
        if event.resource and event.resource not in log.users:
            log.users[event.resource] = event.time
    return log
