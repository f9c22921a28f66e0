"""Benchmark: persisted engine steps on PostgreSQL against the same steps in memory.

Two steps, each on N fleksjob cases (Bøgeby's configuration, the shared model):
- complete a task: the first talk (`foerste_samtale`) with its form;
- fire a timer: the 3-week deadline of the first talk, escalating to teamleder.

In memory the workflow lives in a Python object (SpiffWorkflow alone, no database); the
persisted step is the whole engine step: lock, load, apply, run, save, projections,
audit, commit. Prints throughput for both and their ratio (target: persisted >= 50%).

    .venv/bin/python bench/engine.py [--cases 300] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from processes import setup, timekeeping  # noqa: E402
from processes.clock import FixedClock, use_clock  # noqa: E402
from processes.engine import Actor  # noqa: E402
from processes.forms import validate_form  # noqa: E402
from processes.library import BPMN_DIR, parse_file  # noqa: E402
from processes.models import HumanTask, User  # noqa: E402
from processes.policy import defaults  # noqa: E402
from processes.scripting import SagsflowScriptEngine  # noqa: E402

START = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)
FORM = {"samtaledato": "2027-01-20", "situation": "job"}


def in_memory(n: int) -> tuple[float, float]:
    model = parse_file(BPMN_DIR / "shared" / "fleksjob.bpmn", policy=defaults("fleksjob"))
    form = model.metadata["tasks"]["foerste_samtale"]["form"]
    clock = FixedClock(START)
    workflows = []
    with use_clock(clock):
        for i in range(2 * n):
            wf = BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=SagsflowScriptEngine(lambda *a: {}))
            wf.task_tree.data.update(policy=defaults("fleksjob"), sag={"id": i}, borger={"navn": "X"},
                                     startdato="2027-01-04", overdragelse={"visitationsdato": "2027-01-04"})
            wf.do_engine_steps()
            workflows.append(wf)
    complete_wfs, timer_wfs = workflows[:n], workflows[n:]
    began = time.perf_counter()
    with use_clock(clock):
        for wf in complete_wfs:
            clean, _ = validate_form(form, FORM)
            task = wf.get_next_task(state=TaskState.READY, spec_name="foerste_samtale")
            task.set_data(**clean)
            task.run()
            wf.do_engine_steps()
    complete_rate = n / (time.perf_counter() - began)
    clock.set(START + timedelta(weeks=3, days=1))
    began = time.perf_counter()
    with use_clock(clock):
        for wf in timer_wfs:
            wf.refresh_timers()
            wf.do_engine_steps()
    fire_rate = n / (time.perf_counter() - began)
    assert all(any(t.task_spec.bpmn_id == "eskaler_foerste_samtale"
                   for t in wf.get_tasks(state=TaskState.READY)) for wf in timer_wfs)
    return complete_rate, fire_rate


def persisted(url: str, n: int) -> tuple[float, float, int]:
    rt = setup.open_installation(url, start=START)
    engine = rt.engine
    with rt.sessions() as s:
        user = Actor.for_user(s.scalar(select(User).where(User.username == "boegeby.sagsbehandler")))
    for i in range(2 * n):
        engine.start_case("boegeby", "fleksjob", f"{i:010d}", f"Borger {i}",
                          {"overdragelse": {"visitationsdato": "2027-01-04"}})
    with rt.sessions() as s:
        task_ids = list(s.scalars(select(HumanTask.id).where(HumanTask.bpmn_id == "foerste_samtale")
                                  .order_by(HumanTask.id)))[:n]
        instance_ids = list(s.scalars(select(HumanTask.instance_id).where(HumanTask.bpmn_id == "foerste_samtale")
                                      .order_by(HumanTask.id)))[n:]
    engine.fire_instance(instance_ids[0])  # warm the spec cache and connections
    began = time.perf_counter()
    for task_id in task_ids:
        engine.complete_task(task_id, FORM, user)
    complete_rate = n / (time.perf_counter() - began)
    with rt.sessions.begin() as s:
        timekeeping.set_virtual(s, START + timedelta(weeks=3, days=1))
    began = time.perf_counter()
    for instance_id in instance_ids:
        engine.fire_instance(instance_id)
    fire_rate = n / (time.perf_counter() - began)
    with rt.sessions() as s:
        escalations = s.scalar(text("SELECT count(*) FROM human_task WHERE bpmn_id = 'eskaler_foerste_samtale'"))
    rt.close()
    return complete_rate, fire_rate, escalations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="an admin URL; the benchmark creates and drops its own database")
    args = parser.parse_args()
    name = f"sagsflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        mem_complete, mem_fire = in_memory(args.cases)
        db_complete, db_fire, escalations = persisted(args.url.rsplit("/", 1)[0] + f"/{name}", args.cases)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"cases per step: {args.cases}; escalations created by fired timers: {escalations}")
    print(f"{'step':18} {'in memory/s':>12} {'PostgreSQL/s':>13} {'ratio':>7}")
    for label, mem, db in (("complete a task", mem_complete, db_complete), ("fire a timer", mem_fire, db_fire)):
        print(f"{label:18} {mem:12.0f} {db:13.0f} {db / mem:7.0%}")


if __name__ == "__main__":
    main()
