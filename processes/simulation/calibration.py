"""Calibration of the default scenario against the national evaluation (docs/simulation.md).

The national figures (digest-004 §2/§4, ``processes.md`` §5) are averages over the
country's municipalities, each with its own way of working. The simulator reproduces them
with the shared models as the reference municipalities run them (Aaby, Bøgeby,
Cederholm: ``bpmn/municipalities``), on the same case load, pooled as the national figure
is pooled (:func:`processes.analytics.merge`), as the mean of the finished intervals.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from processes import analytics
from processes.simulation.kernel import Simulation
from processes.simulation.runner import raw_measures, variant_for, with_means

# lead time key -> the national average in days
TARGETS = {"underskrift_moede": 81.0, "indstilling_afgoerelse": 12.0, "moede_foerste_indsats": 92.0}
TOLERANCE = 0.15
MUNICIPALITIES = ("aaby", "boegeby", "cederholm")


def _run(key: str, scenario: dict, seed: int, years: float | None) -> dict:
    result = Simulation(variant_for(key), scenario, seed, years=years).run()
    return raw_measures(result, scenario["period"].get("warmup_weeks", 0))


def calibration(scenario: dict, seed: int = 1, replications: int = 1, workers: int = 1,
                years: float | None = None, municipalities=MUNICIPALITIES) -> dict:
    """The pooled means of the calibrated lead times: ``{key: {"mean", "target", "n",
    "within"}}`` over ``replications`` runs of each municipality. Every run has its own
    seed (seed, seed+1, ...: the municipalities of a country do not see the same citizens)."""
    jobs = [(key, seed + r * len(municipalities) + i) for r in range(replications)
            for i, key in enumerate(municipalities)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            figures = list(pool.map(_run, *zip(*[(k, scenario, s, years) for k, s in jobs])))
    else:
        figures = [_run(k, scenario, s, years) for k, s in jobs]
    pooled = with_means(analytics.merge(figures))
    out = {}
    for measure in pooled["lead_times"]:
        if measure["key"] in TARGETS:
            target = TARGETS[measure["key"]]
            mean = measure["mean"]
            out[measure["key"]] = {"mean": mean, "target": target, "n": measure["finished"],
                                   "within": mean is not None and abs(mean - target) <= TOLERANCE * target}
    return out
