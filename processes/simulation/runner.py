"""Replications and variants: run them (in parallel processes), measure each run with the
analytics functions (:func:`processes.analytics.measures`, the same definitions as the
actual figures) and give each measure an interval over the replications."""
from __future__ import annotations

import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from processes import analytics
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


def run_measures(result: Result, warmup_weeks: int) -> dict:
    """The analytics measures of one run, over the cases whose intervals start after the
    warm-up, open intervals censored at the end of the period."""
    filters = analytics.Filters(result.start.date() + timedelta(weeks=warmup_weeks), result.end.date())
    figures = analytics.measures(result.case_facts(), result.deadline_facts(), result.task_facts(),
                                 result.instance_facts(), filters, result.end)
    for measure in figures["lead_times"]:
        # the mean of the finished intervals, from the measure's own distribution (the
        # national evaluation reports means)
        done = [(days, n) for days, censored, n in measure.get("hist", []) if not censored]
        count = sum(n for _, n in done)
        measure["mean"] = round(sum(d * n for d, n in done) / count, 2) if count else None
    return strip_internal(analytics.without_case_ids(figures))


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


def _run_job(job: Job, scenario: dict, cases, years, policy, database_url) -> tuple[Job, dict, dict]:
    sessions = None
    if database_url:
        from processes.runtime import open_runtime
        sessions = open_runtime(database_url).sessions
    variant = resolve(job.variant, sessions=sessions, policy=policy)
    result = Simulation(variant, scenario, job.seed, cases=cases, years=years).run()
    stats = {"cases": len(result.cases), "engine_steps": result.engine_steps, "seconds": round(result.seconds, 2),
             "spiff_seconds": round(result.spiff_seconds, 2), "faults": result.faults[:20]}
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


def simulate_variants(variants: list[str], scenario: dict, seed: int = 1, replications: int = 1,
                      workers: int = 1, cases: int | None = None, years: float | None = None,
                      policy: dict | None = None, database_url: str | None = None,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Every variant, ``replications`` times each (seed, seed+1, ...; the same seeds for
    every variant, so they see the same load); the measures per run and their intervals."""
    jobs = [Job(v, r, seed + r) for v in variants for r in range(replications)]
    done: list[tuple[Job, dict, dict]] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_job, job, scenario, cases, years, policy, database_url) for job in jobs]
            for future in futures:
                done.append(future.result())
                if progress:
                    progress(len(done), len(jobs))
    else:
        for job in jobs:
            done.append(_run_job(job, scenario, cases, years, policy, database_url))
            if progress:
                progress(len(done), len(jobs))
    out = {"scenario": scenario.get("name"), "seed": seed, "replications": replications, "variants": []}
    for name in variants:
        runs = sorted((d for d in done if d[0].variant == name), key=lambda d: d[0].replication)
        out["variants"].append({"variant": name, "summary": summarise([m for _, m, _ in runs]),
                                "runs": [{"seed": j.seed, "stats": s, "measures": m} for j, m, s in runs]})
    return out
