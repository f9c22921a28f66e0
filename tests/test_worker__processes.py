"""Many worker processes against one PostgreSQL: every due timer fires exactly once,
a worker killed with SIGKILL loses and duplicates nothing, SIGTERM stops a worker after
its current step, and a caseworker racing the deadline timer ends in one consistent state.

The workers are real ``sagsflow worker`` processes; the cases are created with the
engine in two helper processes (the 2-core machine creates ~100 cases a second).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from processes import timekeeping
from processes.engine import Actor
from processes.errors import Conflict
from processes.models import (
    AuditEvent, DeadlineEvent, Document, HumanTask, Message, MessageSubscription, Notification, Outbox,
    ProcessInstance, Timer, WorkerHeartbeat,
)
from conftest import empty_schema
from test_worker import PAST_FIRST_TALK, vaerkby
from worker.timers import fire_next

ROOT = Path(__file__).resolve().parent.parent
SAGSFLOW = [sys.executable, "-m", "sagsflow.cli"]
CREATE = """
import sys
from processes.runtime import open_runtime
rt = open_runtime(sys.argv[1])
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    rt.engine.start_case("vaerkby", "fleksjob", f"{i:06d}1234", f"Borger {i}")
"""


@pytest.fixture
def pg(pg_database_url):
    rt = vaerkby(empty_schema(pg_database_url))
    yield rt
    rt.close()


def create_cases(rt, n: int, first: int = 0, procs: int = 2) -> None:
    bounds = [first + n * k // procs for k in range(procs + 1)]
    helpers = [subprocess.Popen([sys.executable, "-c", CREATE, rt.url, str(a), str(b)], cwd=ROOT)
               for a, b in zip(bounds, bounds[1:])]
    assert [p.wait(timeout=300) for p in helpers] == [0] * procs


@pytest.fixture
def start_workers(tmp_path):
    """Start ``sagsflow worker`` processes; any still running at the end are killed."""
    started: list[subprocess.Popen] = []

    def start(rt, n: int) -> list[subprocess.Popen]:
        new = [subprocess.Popen([*SAGSFLOW, "--database-url", rt.url, "worker", "--interval", "0.2"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"worker{len(started) + k}.log", "w"))
               for k in range(n)]
        started.extend(new)
        return new

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def move_clock(rt, delta) -> None:
    with rt.sessions.begin() as session:
        timekeeping.set_virtual(session, timekeeping.now(session) + delta)


def scalar(rt, query):
    with rt.sessions() as session:
        return session.scalar(query)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def drained(rt):
    def check():
        with rt.sessions() as session:
            now = timekeeping.now(session)
            due = session.scalar(select(func.count(ProcessInstance.id)).where(
                ProcessInstance.status == "running", ProcessInstance.next_due_at < now))
            unsent = session.scalar(select(func.count(Outbox.id)).where(Outbox.sent_at.is_(None)))
            breaches = session.scalar(select(func.count(DeadlineEvent.id)))
            notified = session.scalar(select(func.count(Notification.id)).where(Notification.kind == "deadline_breach"))
            return due == 0 and unsent == 0 and breaches == notified
    return check


def stop(workers) -> list[int]:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    return [w.wait(timeout=30) for w in workers]


def assert_each_fired_once(rt, n: int) -> None:
    """Instance states, tasks and outbox rows of ``n`` breached first talks: one of each."""
    with rt.sessions() as session:
        fires = session.execute(select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.action == "timer.fire").group_by(AuditEvent.instance_id)).all()
        assert len(fires) == n and {c for _, c in fires} == {1}
        assert session.scalar(select(func.count(DeadlineEvent.id))) == n
        escalations = session.execute(select(HumanTask.instance_id, func.count()).where(
            HumanTask.bpmn_id == "eskalering", HumanTask.state == "open").group_by(HumanTask.instance_id)).all()
        assert len(escalations) == n and {c for _, c in escalations} == {1}
        assert session.scalar(select(func.count(HumanTask.id)).where(
            HumanTask.bpmn_id == "samtale", HumanTask.state == "open")) >= n
        assert session.scalar(select(func.count(Timer.task_guid))) == 0
        letters = session.scalar(select(func.count(Outbox.id)).where(
            Outbox.kind == "letter", Outbox.payload["template"].as_string() == "forsinkelse"))
        assert letters == n
        assert session.scalar(select(func.count(Outbox.id)).where(Outbox.sent_at.is_(None))) == 0
        documents = session.execute(select(Document.outbox_id, func.count()).group_by(Document.outbox_id)).all()
        assert {c for _, c in documents} == {1}
        assert len(documents) == session.scalar(select(func.count(Outbox.id)).where(Outbox.kind == "letter"))
        breaches = session.scalar(select(func.count(Notification.id)).where(Notification.kind == "deadline_breach"))
        assert breaches == n


def test_four_workers_fire_two_thousand_timers_and_messages_exactly_once(pg, start_workers):
    n, waiting = 2000, 100
    began = time.monotonic()
    create_cases(pg, n + waiting)
    print(f"created {n + waiting} cases in {time.monotonic() - began:.1f} s")
    with pg.sessions() as session:
        ids = list(session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)))
    receivers, timers = ids[:waiting], ids[waiting:]
    talks = {t.instance_id: t.id for t in pg.engine.open_tasks() if t.instance_id in set(receivers)}
    for instance_id in receivers:  # the talk was held: these wait for the citizen's answer
        pg.engine.complete_task(talks[instance_id], {"udfald": "afholdt"}, Actor.system())
    with pg.sessions.begin() as session:
        now = timekeeping.now(session)
        for instance_id, source in zip(receivers, timers):
            row = session.get(ProcessInstance, instance_id)
            for _ in range(2):  # two answers, one receiver: exactly one is delivered
                session.add(Message(municipality_id=row.municipality_id, case_id=row.case_id,
                                    source_instance_id=source, name="svar_modtaget", payload={}, correlations={},
                                    created_at=now))
    move_clock(pg, PAST_FIRST_TALK)

    began = time.monotonic()
    workers = start_workers(pg, 4)
    wait_until(drained(pg), 600, "the workers to clear the due timers")
    print(f"4 workers cleared {n} timers in {time.monotonic() - began:.1f} s")
    wait_until(lambda: scalar(pg, select(func.count(Message.id)).where(Message.delivered_at.isnot(None)))
               == waiting, 60, "messages")
    assert stop(workers) == [0, 0, 0, 0]

    assert_each_fired_once(pg, n)
    with pg.sessions() as session:
        per_worker = Counter(a.detail["worker"] for a in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "timer.fire")))
        assert len(per_worker) == 4, per_worker  # all four took a share
        assert session.scalar(select(func.count(ProcessInstance.id)).where(
            ProcessInstance.id.in_(receivers), ProcessInstance.status == "completed")) == waiting
        assert session.scalar(select(func.count(Message.id)).where(Message.delivered_at.is_(None))) == waiting
        assert session.scalar(select(func.count(MessageSubscription.task_guid))) == 0
        delivered = session.execute(select(Message.target_instance_id, func.count()).where(
            Message.delivered_at.isnot(None)).group_by(Message.target_instance_id)).all()
        assert sorted(t for t, _ in delivered) == receivers and {c for _, c in delivered} == {1}
        beats = session.scalars(select(WorkerHeartbeat)).all()
        assert len(beats) == 4 and {b.status for b in beats} == {"stopped"}
        assert sum(b.steps for b in beats) == n


def test_sigkill_loses_nothing_and_sigterm_finishes_the_step(pg, start_workers, tmp_path):
    n = 600
    create_cases(pg, n)
    move_clock(pg, PAST_FIRST_TALK)
    workers = start_workers(pg, 4)
    fired = lambda: scalar(pg, select(func.count(AuditEvent.id)).where(AuditEvent.action == "timer.fire"))  # noqa: E731
    wait_until(lambda: fired() >= n // 5, 300, "a fifth of the timers to fire")
    workers[0].send_signal(signal.SIGKILL)
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: fired() >= n // 2, 300, "half of the timers to fire")
    workers[1].send_signal(signal.SIGTERM)
    assert workers[1].wait(timeout=15) == 0  # finished its step, claimed no new one
    assert fired() < n, "the burst was over before SIGTERM; the test proves nothing"
    log = (tmp_path / "worker1.log").read_text()
    assert '"event": "signal"' in log and '"event": "stop"' in log
    wait_until(drained(pg), 600, "the remaining workers to clear the due timers")
    assert stop(workers[2:]) == [0, 0]

    assert_each_fired_once(pg, n)
    with pg.sessions() as session:
        statuses = sorted(b.status for b in session.scalars(select(WorkerHeartbeat)))
        assert statuses == ["running", "stopped", "stopped", "stopped"]  # the killed one never said goodbye
        locks = session.scalar(text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                                    "WHERE a.datname = current_database() AND l.locktype = 'tuple'"))
        assert locks == 0


def _locks_awaited(rt) -> int:
    """How many sessions of this database wait for a lock another one holds."""
    with rt.sessions() as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND wait_event_type = 'Lock'"))


def test_caseworker_completing_as_the_deadline_fires_ends_consistent(pg, tmp_path, monkeypatch):
    """Each round a caseworker completes the first talk just as its deadline falls due and
    a worker claims the instance. In the first rounds one side is made to go first (it is
    held at a pause point inside its transaction while the other starts), so both orders
    are run every time; the rest are free races. Every round ends in the same state."""
    firsts = ["worker", "caseworker", "worker", "caseworker"] + [None] * 8
    # one case a day, so each round has exactly one due timer (deadlines end at the end of
    # their Danish day: cases a minute apart would all fall due at the same moment)
    for i in range(len(firsts)):
        pg.engine.start_case("vaerkby", "fleksjob", f"{i:06d}5678", f"Borger {i}")
        move_clock(pg, timedelta(days=1))
    with pg.sessions() as session:
        instances = list(session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)))
    assert len(instances) == len(firsts)
    outcomes = []
    for row, first in zip(instances, firsts):
        with pg.sessions.begin() as session:
            timekeeping.set_virtual(session, row.next_due_at + timekeeping.TICK)
        task, = [t for t in pg.engine.open_tasks(case_id=row.case_id) if t.bpmn_id == "samtale"]
        barrier = threading.Barrier(2 if first is None else 1)
        results = {}

        def caseworker():
            barrier.wait()
            try:
                pg.engine.complete_task(task.id, {"udfald": "afholdt"}, Actor.system("sagsbehandler"))
                results["complete"] = "ok"
            except Conflict as exc:
                results["complete"] = f"conflict: {exc}"

        def worker():
            barrier.wait()
            results["fired"] = fire_next(pg.engine, "race")

        sides = {"caseworker": threading.Thread(target=caseworker), "worker": threading.Thread(target=worker)}
        if first is None:
            for t in sides.values():
                t.start()
        else:  # hold `first` inside its transaction (its lock taken), then start the other
            point = "worker.step" if first == "worker" else "complete.before_commit"
            pause_dir = tmp_path / f"round{row.id}"
            pause_dir.mkdir()
            monkeypatch.setenv("SAGSFLOW_TEST_PAUSE", point)
            monkeypatch.setenv("SAGSFLOW_TEST_PAUSE_DIR", str(pause_dir))
            sides[first].start()
            wait_until(lambda: (pause_dir / f"{point}.paused").exists(), 60, f"the {first} to hold the instance")
            monkeypatch.delenv("SAGSFLOW_TEST_PAUSE")
            second = "caseworker" if first == "worker" else "worker"
            sides[second].start()
            if second == "worker":  # SKIP LOCKED: the held instance is not claimed, nothing waits
                sides["worker"].join(30)
                assert results["fired"] is None
            else:  # the caseworker waits for the instance lock until the worker commits
                wait_until(lambda: _locks_awaited(pg) == 1, 60, "the caseworker to wait for the lock")
            (pause_dir / f"{point}.release").touch()
        for t in sides.values():
            t.join(30)
        assert results["complete"] == "ok"
        outcomes.append("worker" if results["fired"] is not None else "caseworker")
        if first is not None:
            assert outcomes[-1] == first
        with pg.sessions() as session:
            where = lambda model: model.instance_id == row.id  # noqa: E731
            states = dict(session.execute(select(HumanTask.bpmn_id, HumanTask.state).where(where(HumanTask))).all())
            assert states == {"samtale": "completed", "eskalering": "open"}
            assert session.scalar(select(func.count(DeadlineEvent.id)).where(where(DeadlineEvent))) == 1
            templates = sorted(session.scalars(select(Outbox.payload["template"].as_string()).where(
                where(Outbox), Outbox.kind == "letter")))
            assert templates == ["forsinkelse", "indkaldelse_samtale"]
            assert session.scalar(select(func.count(Timer.task_guid)).where(where(Timer))) == 0
            assert session.scalar(select(func.count(MessageSubscription.task_guid)).where(
                where(MessageSubscription))) == 1
            fires = session.scalar(select(func.count(AuditEvent.id)).where(
                AuditEvent.instance_id == row.id, AuditEvent.action == "timer.fire"))
            assert fires == (1 if outcomes[-1] == "worker" else 0)
            fresh = session.get(ProcessInstance, row.id)
            assert fresh.status == "running" and fresh.next_due_at is None
    assert len(outcomes) == len(firsts) and {"worker", "caseworker"} <= set(outcomes)
    print("race winners:", {w: outcomes.count(w) for w in set(outcomes)})
