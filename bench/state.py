"""Benchmark: does a long case's state grow without bound?

A fleksjob citizen stays on ledighedsydelse for 5 years with a contact talk every
3 months (plus the re-evaluations and anden aktør the model adds). Every talk goes
through the persisted engine on the virtual clock. Prints the stored state size and the
time to load it (deserialize with the cached spec) at year 0, 1, 2 and 5.

    .venv/bin/python bench/state.py [--url sqlite:///var/bench-state.sqlite3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from processes import setup  # noqa: E402
from processes.engine import Actor  # noqa: E402
from processes.models import ProcessInstance  # noqa: E402
from processes.serialization import instance_from_json  # noqa: E402
from long_case import START, answer  # noqa: E402

def measure(rt, instance_id: int) -> tuple[int, float]:
    with rt.sessions() as s:
        row = s.get(ProcessInstance, instance_id)
        loaded = rt.engine._spec(s, row.model_version_id)
        began = time.perf_counter()
        for _ in range(20):
            instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
        return len(row.state.encode()), (time.perf_counter() - began) / 20 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/state.sqlite3"
    rt = setup.open_installation(url, start=START, users=False)
    engine, actor = rt.engine, Actor.system("bench")
    instance = engine.start_case("boegeby", "fleksjob", "0101901234", "Borger",
                                 {"overdragelse": {"visitationsdato": "2027-01-04"}})
    rows, talks = [], 0
    for month in range(0, 61):
        if month in (0, 12, 24, 60):
            size, ms = measure(rt, instance.id)
            rows.append((month // 12, talks, size, ms))
        for task in engine.open_tasks(case_id=instance.case_id):
            if task.bpmn_id == "jobsoegning":  # completing it means a job was found: stay on LY
                continue
            if task.bpmn_id == "ly_kontaktsamtale" and month % 3:  # a talk every 3 months
                continue
            today = (START + timedelta(days=30 * month)).date().isoformat()
            engine.complete_task(task.id, answer(engine.task_form(task), today), actor)
            talks += task.bpmn_id == "ly_kontaktsamtale"
        engine.advance_clock(timedelta(days=30))
    print(f"{'year':>4} {'talks held':>10} {'state bytes':>12} {'load ms':>8}")
    for year, held, size, ms in rows:
        print(f"{year:>4} {held:>10} {size:>12} {ms:>8.2f}")
    print(f"growth year 1 -> 5: {rows[-1][2] / rows[1][2]:.1f}x bytes, {rows[-1][3] / rows[1][3]:.1f}x load time")
    rt.close()


if __name__ == "__main__":
    main()
