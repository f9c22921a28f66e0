"""Heartbeats and the operator's view: lag, queue sizes, workers and their last tick.

Lag is measured in the installation's time (virtual or real): how long the oldest timer
of a running instance has been overdue. Heartbeats are wall-clock time, because "is the
worker alive" is a question about the machine, not about case time.
"""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes import timekeeping
from processes.models import Message, Outbox, ProcessInstance, SimulationRun, Timer, WorkerHeartbeat

STALE_AFTER = timedelta(seconds=30)


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


def beat(sessions, worker_id: str, started_at: datetime, steps: int, status: str = "running") -> None:
    """Record that ``worker_id`` is alive (or stopped) and how many steps it has run."""
    with sessions.begin() as session:
        row = session.get(WorkerHeartbeat, worker_id)
        if row is None:
            import os
            row = WorkerHeartbeat(worker_id=worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                                  started_at=started_at, last_tick_at=wall_now(), steps=0)
            session.add(row)
        row.last_tick_at = wall_now()
        row.steps = steps
        row.status = status


def collect(session: Session) -> dict:
    """Everything ``sagsflow worker --status`` shows, as plain data."""
    now = timekeeping.now(session)
    running = ProcessInstance.status == "running"
    oldest = session.execute(
        select(Timer.due_at, Timer.name, Timer.case_id).join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
        .where(running, Timer.due_at < now).order_by(Timer.due_at).limit(1)).first()
    overdue_timers = session.scalar(select(func.count()).select_from(Timer).join(
        ProcessInstance, ProcessInstance.id == Timer.instance_id).where(running, Timer.due_at < now))
    due_instances = session.scalar(select(func.count(ProcessInstance.id)).where(
        running, ProcessInstance.next_due_at < now))
    deferred = session.scalar(select(func.count(func.distinct(ProcessInstance.id))).join(
        Timer, Timer.instance_id == ProcessInstance.id).where(
        running, Timer.due_at < now, ProcessInstance.next_due_at > now))
    messages = session.scalar(select(func.count(Message.id)).where(Message.delivered_at.is_(None),
                                                                   Message.error.is_(None)))
    message_errors = session.scalar(select(func.count(Message.id)).where(Message.error.isnot(None),
                                                                         Message.delivered_at.is_(None)))
    outbox = dict(session.execute(select(Outbox.kind, func.count(Outbox.id)).where(Outbox.sent_at.is_(None))
                                  .group_by(Outbox.kind)).all())
    failing = list(session.scalars(select(Outbox).where(Outbox.sent_at.is_(None), Outbox.last_error.isnot(None))
                                   .order_by(Outbox.id).limit(20)))
    simulations = dict(session.execute(select(SimulationRun.status, func.count(SimulationRun.id))
                                       .where(SimulationRun.status.in_(("queued", "running")))
                                       .group_by(SimulationRun.status)).all())
    wall = wall_now()
    workers = []
    for hb in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.started_at)):
        age = wall - hb.last_tick_at
        state = hb.status if hb.status != "running" or age <= STALE_AFTER else "stale"
        workers.append({"worker_id": hb.worker_id, "pid": hb.pid, "hostname": hb.hostname, "status": state,
                        "last_tick_at": hb.last_tick_at, "seconds_since_tick": round(age.total_seconds(), 1),
                        "steps": hb.steps})
    return {
        "now": now, "virtual_clock": timekeeping.is_virtual(session),
        "lag_seconds": (now - oldest.due_at).total_seconds() if oldest else 0.0,
        "oldest_overdue": {"due_at": oldest.due_at, "timer": oldest.name, "case_id": oldest.case_id} if oldest else None,
        "overdue_timers": overdue_timers, "due_instances": due_instances, "deferred_after_error": deferred,
        "messages_pending": messages, "messages_failed": message_errors,
        "outbox_pending": outbox,
        "simulations": {"queued": simulations.get("queued", 0), "running": simulations.get("running", 0)},
        "outbox_failing": [{"id": o.id, "kind": o.kind, "case_id": o.case_id, "attempts": o.attempts,
                            "next_attempt_at": o.next_attempt_at, "error": o.last_error} for o in failing],
        "workers": workers,
        "last_tick_at": max((w["last_tick_at"] for w in workers), default=None),
    }


def _fmt(value) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def render(status: dict) -> str:
    """Plain-text report for an operator's terminal."""
    lines = [f"clock:      {_fmt(status['now'])} ({'virtual' if status['virtual_clock'] else 'real'})"]
    oldest = status["oldest_overdue"]
    lag = f"{status['lag_seconds']:.1f} s" + (
        f" (oldest overdue: {oldest['timer']}, case {oldest['case_id']}, due {_fmt(oldest['due_at'])})" if oldest else "")
    lines += [f"lag:        {lag}",
              f"due:        {status['due_instances']} instance(s), {status['overdue_timers']} overdue timer(s),"
              f" {status['deferred_after_error']} deferred after an error",
              f"messages:   {status['messages_pending']} pending, {status['messages_failed']} failed",
              "outbox:     " + (", ".join(f"{k} {v}" for k, v in sorted(status["outbox_pending"].items()))
                                or "empty")]
    for item in status["outbox_failing"]:
        lines.append(f"  failing #{item['id']} {item['kind']} case {item['case_id']}: {item['attempts']} attempt(s),"
                     f" next {_fmt(item['next_attempt_at'])}: {item['error']}")
    lines.append(f"simulation: {status['simulations']['queued']} run(s) queued, "
                 f"{status['simulations']['running']} running (the Simulér page)")
    lines.append(f"last tick:  {_fmt(status['last_tick_at']) if status['last_tick_at'] else 'never'}")
    lines.append(f"workers:    {len(status['workers'])}")
    for w in status["workers"]:
        lines.append(f"  {w['worker_id']:40} {w['status']:8} last tick {w['seconds_since_tick']:>7} s ago,"
                     f" {w['steps']} step(s)")
    return "\n".join(lines)
