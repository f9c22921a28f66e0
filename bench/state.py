"""Benchmark: does a long case's state grow without bound?

A fleksjob citizen stays on ledighedsydelse for 5 years with a contact talk every
3 months (plus the re-evaluations and anden aktør the model adds). Every talk goes
through the persisted engine on the virtual clock (tests/long_case.py). Prints the
stored state size, the number of tasks in it and the time to load it (deserialize with
the cached spec; the states of every year are kept and loaded in turn, best of 30
rounds, at the end of the run) at years 0-5, and the ratios year 5 / year 1 (target:
both within 1.5).

    .venv/bin/python bench/state.py [--url sqlite:///var/bench-state.sqlite3] [--no-compaction]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from processes import setup  # noqa: E402
from processes.models import ProcessInstance  # noqa: E402
from processes.serialization import instance_from_json  # noqa: E402
import long_case  # noqa: E402


def snapshot(rt, case_id: int) -> list[tuple]:
    """The case's stored states with their specs: ``(state, serializer version, loaded spec)``."""
    with rt.sessions() as s:
        rows = list(s.query(ProcessInstance).filter(ProcessInstance.case_id == case_id))
        return [(row.state, row.serializer_version, rt.engine._spec(s, row.model_version_id)) for row in rows]


def size_and_tasks(states: list[tuple]) -> tuple[int, int]:
    size = sum(len(state.encode()) for state, _v, _l in states)
    tasks = 0
    for state, _v, _l in states:
        data = json.loads(state)
        tasks += len(data["tasks"]) + sum(len(sp["tasks"]) for sp in data["subprocesses"].values())
    return size, tasks


def load_times(snapshots: list[list[tuple]], rounds: int = 30, repeat: int = 10) -> list[float]:
    """Milliseconds to load each snapshot, the best of ``rounds`` rounds that take the
    snapshots in turn (so a busy moment of the machine hits all of them alike)."""
    best = [float("inf")] * len(snapshots)
    for _ in range(rounds):
        for i, states in enumerate(snapshots):
            began = time.perf_counter()
            for _ in range(repeat):
                for state, version, loaded in states:
                    instance_from_json(state, loaded.spec, loaded.subprocess_specs, version)
            best[i] = min(best[i], (time.perf_counter() - began) / repeat * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None)
    parser.add_argument("--no-compaction", action="store_true", help="keep finished iterations in the tree")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/state.sqlite3"
    rt = setup.open_installation(url, start=long_case.START, users=False)
    rt.engine.compact_state = not args.no_compaction
    instance = long_case.start(rt)
    years, snapshots = [], []

    def each_month(month, talks):
        if month % 12 == 0:
            years.append((month // 12, talks))
            snapshots.append(snapshot(rt, instance.case_id))

    long_case.live(rt, instance.case_id, range(0, 61), each_month)
    times = load_times(snapshots)
    rows = [(year, held, *size_and_tasks(states), ms) for (year, held), states, ms in zip(years, snapshots, times)]
    print(f"compaction: {'off' if args.no_compaction else 'on'}")
    print(f"{'year':>4} {'talks held':>10} {'state bytes':>12} {'tasks':>6} {'load ms':>8}")
    for year, held, size, tasks, ms in rows:
        print(f"{year:>4} {held:>10} {size:>12} {tasks:>6} {ms:>8.2f}")
    one, five = rows[1], rows[-1]
    print(f"year 5 / year 1: {five[2] / one[2]:.2f}x bytes, {five[4] / one[4]:.2f}x load time (target <= 1.5)")
    rt.close()


if __name__ == "__main__":
    main()
