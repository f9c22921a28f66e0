"""Benchmark: the what-if simulator (processes/simulation, docs/simulation.md).

Runs ``--cases`` rehabilitering cases arriving over ``--years`` years through one
variant (default: 2,000 cases over 5 years through Bøgeby) in one process and prints

- the wall time of the run (target: ≤ 60 s for 2,000 cases over 5 years);
- simulated engine steps per second (Spiff task completions per wall second of the whole
  run: kernel, form filling, projections, milestones included), and plain SpiffWorkflow
  steps per second in the same run (the same steps per second spent inside SpiffWorkflow's
  own calls: refresh_timers, the task's run, do_engine_steps), and their ratio
  (target ≥ 0.8: the simulator adds little around SpiffWorkflow).

    .venv/bin/python bench/simulate.py [--cases 2000] [--years 5] [--variant boegeby] [--seed 1]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processes.simulation.kernel import Simulation  # noqa: E402
from processes.simulation.scenario import load_scenario  # noqa: E402
from processes.simulation.variants import resolve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument("--variant", default="boegeby")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_week = args.cases / (args.years * 52.18)
    # The load is the bench's own, not the calibrated default's: Poisson arrivals and team
    # meetings twice a week with no waiting list, enough slots for 2,000 cases in 5 years.
    scenario = load_scenario({"period": {"years": args.years, "warmup_weeks": 0},
                              "arrivals": {"rehabilitering": {"per_week": round(per_week, 3),
                                                              "distribution": "poisson"}},
                              "meetings": {"weekdays": [1, 3], "every_weeks": 1, "slots_per_day": 7,
                                           "waiting_list_weeks": 0}})
    variant = resolve(args.variant)
    began = time.perf_counter()
    result = Simulation(variant, scenario, args.seed, cases=args.cases).run()
    wall = time.perf_counter() - began
    steps = result.engine_steps
    simulated = steps / wall
    plain = steps / result.spiff_seconds if result.spiff_seconds else float("nan")
    print(f"variant {args.variant}: {len(result.cases)} cases over {args.years} years, "
          f"{len(result.actions)} task completions, {steps} engine steps, faults {len(result.faults)}")
    for fault in result.faults[:3]:
        print(f"  fault: {fault}")
    print(f"wall time {wall:.1f} s (target <= 60 s for 2000 cases / 5 years)")
    print(f"simulated engine steps/s {simulated:.0f}; plain SpiffWorkflow steps/s in the same run {plain:.0f}; "
          f"ratio {simulated / plain:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
