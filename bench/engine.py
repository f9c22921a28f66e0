"""Benchmark: the engine step on PostgreSQL against the durable limit and against memory.

Two steps, each on N fleksjob cases (Bøgeby's configuration, the shared model):
- complete a task: the first talk (`foerste_samtale`) with its form;
- fire a timer: the 3-week deadline of the first talk, escalating to teamleder.

Three ways to run each step, measured in one run:
- in memory: the workflow lives in a Python object (SpiffWorkflow alone, no database);
- durable limit: the least any durable step does, on a one-table copy of the same
  instance states: lock the row, load the state, complete (or refresh timers), run,
  serialize, UPDATE, COMMIT (one row, raw driver, no projections, no audit);
- engine: Sagsflow's whole step: lock, clock, load, apply, run, save, projections
  (inbox, timers, subscriptions), audit, commit.
The durable limit and the engine run interleaved in blocks, so load on the (shared)
machine hits both alike. Prints rates and the ratios engine / durable limit (target
>= 0.7) and engine / in memory, then the CPU time per step of each: this process's
(``time.process_time``) and, when the server runs on this machine, its backends' (read
from /proc), which is where the remaining gap between the two lies.

    .venv/bin/python bench/engine.py [--cases 200] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import os
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
from processes.engine import Actor, _deadline_timers  # noqa: E402
from processes.forms import validate_form  # noqa: E402
from processes.library import BPMN_DIR, parse_file  # noqa: E402
from processes.models import HumanTask, User  # noqa: E402
from processes.policy import defaults  # noqa: E402
from processes.scripting import SagsflowScriptEngine  # noqa: E402
from processes.serialization import instance_from_json, instance_to_json  # noqa: E402

START = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)
FORM = {"samtaledato": "2027-01-04", "situation": "job"}
BLOCK = 20  # steps of one kind before switching to the other


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


class DurableLimit:
    """The least a durable step does, on ``durable_limit(id, state)`` rows copied from the
    engine's instances: one row lock, one load, the Spiff step, one serialize, one UPDATE,
    one COMMIT, through the raw driver connection."""

    def __init__(self, rt, instance_ids: list[int]):
        self.raw = rt.db.raw_connection()
        cur = self.raw.cursor()
        cur.execute("CREATE TABLE durable_limit (id integer PRIMARY KEY, state text NOT NULL)")
        cur.execute("INSERT INTO durable_limit SELECT id, state FROM process_instance WHERE id = ANY(%s)",
                    (instance_ids,))
        self.raw.commit()
        with rt.sessions() as s:
            version_id = s.scalar(text("SELECT model_version_id FROM process_instance WHERE id = :i"),
                                  {"i": instance_ids[0]})
            self.loaded = rt.engine._spec(s, version_id)
        self.form = self.loaded.metadata["tasks"]["foerste_samtale"]["form"]

    def step(self, instance_id: int, now: datetime, task_guid: str | None) -> None:
        cur = self.raw.cursor()
        cur.execute("SELECT state FROM durable_limit WHERE id = %s FOR UPDATE", (instance_id,))
        (state,) = cur.fetchone()
        engine = SagsflowScriptEngine(service=lambda *a: {}, deadline_timers=_deadline_timers(self.loaded),
                                      timers=self.loaded.metadata.get("timers"))
        wf = instance_from_json(state, self.loaded.spec, self.loaded.subprocess_specs, script_engine=engine)
        with use_clock(FixedClock(now)):
            wf.refresh_timers()
            if task_guid is not None:
                clean, _ = validate_form(self.form, FORM)
                task = wf.get_task_from_id(uuid.UUID(task_guid))
                task.set_data(**clean)
                task.run()
            wf.do_engine_steps()
        cur.execute("UPDATE durable_limit SET state = %s WHERE id = %s", (instance_to_json(wf), instance_id))
        self.raw.commit()

    def close(self):
        self.raw.close()


def persisted(url: str, n: int) -> dict:
    rt = setup.open_installation(url, start=START)
    engine = rt.engine
    with rt.sessions() as s:
        user = Actor.for_user(s.scalar(select(User).where(User.username == "boegeby.sagsbehandler")))
    for i in range(2 * n):
        engine.start_case("boegeby", "fleksjob", f"{i:010d}", f"Borger {i}",
                          {"overdragelse": {"visitationsdato": "2027-01-04"}})
    with rt.sessions() as s:
        rows = list(s.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.task_guid)
                              .where(HumanTask.bpmn_id == "foerste_samtale").order_by(HumanTask.id)))
    complete, fire = rows[:n], rows[n:]
    limit = DurableLimit(rt, [r.instance_id for r in rows])
    engine.fire_instance(fire[0].instance_id)  # warm the spec cache and connections
    limit.step(fire[0].instance_id, START, None)
    spent = {"engine complete": 0.0, "limit complete": 0.0, "engine fire": 0.0, "limit fire": 0.0}
    cpu = {key: 0.0 for key in spent}
    server = {key: 0.0 for key in spent}
    limit_pid = limit.raw.driver_connection.info.backend_pid
    with rt.sessions() as s:
        database = s.scalar(text("SELECT current_database()"))
    local = server_cpu([limit_pid]) is not None

    def backends(key) -> list[int]:
        """The server processes of the measured side: the limit's connection, or the
        engine's pooled connections."""
        if key.startswith("limit"):
            return [limit_pid]
        with rt.db.connect() as conn:
            pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database})
            return [p for p in pids if p != limit_pid]

    def timed(key, fn, *args):
        pids = backends(key)
        server_began = server_cpu(pids)
        cpu_began, began = time.process_time(), time.perf_counter()
        fn(*args)
        spent[key] += time.perf_counter() - began
        cpu[key] += time.process_time() - cpu_began
        if server_began is not None:
            server[key] += server_cpu(pids) - server_began

    with rt.sessions() as s:
        now = timekeeping.now(s)
    for at in range(0, n, BLOCK):
        block = complete[at:at + BLOCK]
        timed("engine complete", lambda: [engine.complete_task(r.id, FORM, user) for r in block])
        timed("limit complete", lambda: [limit.step(r.instance_id, now, r.task_guid) for r in block])
    with rt.sessions.begin() as s:
        timekeeping.set_virtual(s, START + timedelta(weeks=3, days=1))
    later = START + timedelta(weeks=3, days=1)
    for at in range(0, n, BLOCK):
        block = fire[at:at + BLOCK]
        timed("engine fire", lambda: [engine.fire_instance(r.instance_id) for r in block])
        timed("limit fire", lambda: [limit.step(r.instance_id, later, None) for r in block])
    limit.close()
    with rt.sessions() as s:
        escalations = s.scalar(text("SELECT count(*) FROM human_task WHERE bpmn_id = 'eskaler_foerste_samtale'"))
        limit_escalated = s.scalar(text("SELECT count(*) FROM durable_limit WHERE state LIKE :p"),
                                   {"p": "%eskaler_foerste_samtale%"})
    rt.close()
    rates = {key: n / seconds for key, seconds in spent.items()}
    rates["cpu"] = {key: seconds / n * 1000 for key, seconds in cpu.items()}
    rates["server"] = {key: seconds / n * 1000 for key, seconds in server.items()} if local else None
    rates["escalations"] = escalations
    rates["limit escalations"] = limit_escalated
    return rates


def server_cpu(pids: list[int]) -> float | None:
    """User + system CPU seconds of these server processes, or None where /proc does not
    show them (the server runs elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="an admin URL; the benchmark creates and drops its own database")
    args = parser.parse_args()
    name = f"sagsflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        mem_complete, mem_fire = in_memory(args.cases)
        rates = persisted(args.url.rsplit("/", 1)[0] + f"/{name}", args.cases)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"cases per step: {args.cases}; escalations by fired timers: engine {rates['escalations']},"
          f" durable limit {rates['limit escalations']}")
    print(f"{'step':16} {'in memory/s':>11} {'durable limit/s':>15} {'engine/s':>9}"
          f" {'engine/limit':>12} {'engine/memory':>13}")
    for label, mem, kind in (("complete a task", mem_complete, "complete"), ("fire a timer", mem_fire, "fire")):
        lim, eng = rates[f"limit {kind}"], rates[f"engine {kind}"]
        print(f"{label:16} {mem:11.0f} {lim:15.0f} {eng:9.0f} {eng / lim:12.2f} {eng / mem:13.3f}")
    print(f"CPU ms per step  {'engine client':>13} {'limit client':>12} {'engine server':>13} {'limit server':>12}")
    for label, kind in (("complete a task", "complete"), ("fire a timer", "fire")):
        cpu, server = rates["cpu"], rates["server"]
        on_server = (f" {server['engine ' + kind]:13.2f} {server['limit ' + kind]:12.2f}" if server
                     else f" {'n/a':>13} {'n/a':>12}")
        print(f"{label:16} {cpu['engine ' + kind]:13.2f} {cpu['limit ' + kind]:12.2f}{on_server}")


if __name__ == "__main__":
    main()
