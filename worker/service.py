"""The worker process: an APScheduler tick drives a poll that drains due work.

Each poll fires due instances one transaction at a time (:mod:`worker.timers`), delivers
messages between instances, queues deadline notifications (:mod:`worker.escalation`),
delivers the outbox (:mod:`worker.outbox`) and writes a heartbeat. Beside the poll, a job
of its own refreshes the managers' analytics snapshot and a thread of its own runs the
leders' what-if simulation runs (:mod:`processes.simulation.runs`: one at a time, put
back in the queue when the worker stops). APScheduler runs with its in-memory job store
only, as the tick: business timers live in the database. On the real clock the worker
schedules its next tick at the next due time, and on PostgreSQL it also LISTENs on
:data:`processes.engine.WORK_CHANNEL` so a step that leaves work due soon wakes it at once.

SIGTERM or SIGINT (or ``stop_event``) stops it gracefully: the current step finishes,
no new one is claimed, and the heartbeat says "stopped".

Entry points: :func:`run_worker` (blocking; ``sagsflow worker``), :func:`start_background`
(a thread in the calling process; ``sagsflow run``), :meth:`Worker.poll_once`
(``sagsflow worker --once``, tests).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, make_url, select

from processes import absence, analytics, timekeeping
from processes.engine import WORK_CHANNEL
from processes.models import ProcessInstance
from processes.runtime import Runtime, open_runtime
from processes.simulation import runs as simulation_runs
from worker import escalation, status
from worker.outbox import Transport, default_transports, deliver_next
from worker.timers import fire_next

log = logging.getLogger("sagsflow.worker")
BEAT_EVERY = 5.0  # seconds of wall time between heartbeats inside a long poll
SIMULATION_EVERY = 2.0  # seconds between looks for a queued simulation run


class Worker:
    """One worker: the poll cycle, its schedule and its heartbeat."""

    def __init__(self, runtime: Runtime, interval: float = 1.0, worker_id: str | None = None,
                 transports: dict[str, Transport] | None = None, stop_event: threading.Event | None = None):
        self.rt = runtime
        self.engine = runtime.engine
        self.interval = interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.transports = transports or default_transports(self.engine.specs)
        self.stop_event = stop_event or threading.Event()
        self.started_at = status.wall_now()
        self.steps = 0
        self.totals: Counter = Counter()
        self._again = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._last_beat = 0.0
        self._stuck: set[int] = set()

    # ------------------------------------------------------------------ poll
    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def poll_once(self) -> Counter:
        """Drain what is due now: timers, messages, notifications, outbox. Return counts."""
        stats: Counter = Counter()
        self._stuck = set()
        self._fire_due(stats)
        if not self.stopping:
            stats["messages"] += self.engine.deliver_messages()
        if not self.stopping:
            with self.rt.sessions.begin() as session:  # owners away or back (processes.absence)
                moved = absence.sync(session, timekeeping.now(session))
            stats.update({f"absence_{k}": v for k, v in moved.items() if v})
        while not self.stopping:
            queued = escalation.scan(self.rt.sessions)
            for kind, count in queued.items():
                stats[f"queued_{kind}"] += count
            if max(queued.values()) < escalation.BATCH:
                break
        while not self.stopping:
            # Deadlines first: a timer falling due while letters go out does not wait for them.
            self._fire_due(stats)
            delivery = deliver_next(self.rt.sessions, self.transports)
            if delivery is None:
                break
            stats[f"{delivery.kind}_sent" if delivery.ok else f"{delivery.kind}_failed"] += 1
            self._maybe_beat()
        self._beat()
        self.totals.update(stats)
        if any(stats.values()):
            log.info("poll", extra={"event": "poll", "worker_id": self.worker_id, **dict(stats)})
        return stats

    def _fire_due(self, stats: Counter) -> None:
        """Fire due instances, one transaction each, until none is due (or we are stopping)."""
        while not self.stopping:
            fired = fire_next(self.engine, self.worker_id, self._stuck)
            if fired is None:
                return
            self.steps += 1
            if not fired.progressed:
                self._stuck.add(fired.instance_id)
            stats["fired" if fired.ok else "failed"] += 1
            if fired.ok:
                self._log_fired(fired)
            self._maybe_beat()

    def _log_fired(self, fired) -> None:
        if log.isEnabledFor(logging.DEBUG):
            # On the real clock this is the fire latency as a citizen would see it:
            # from the due time to the commit of the step that acted on it.
            lag = (status.wall_now() - fired.due_at).total_seconds() if fired.due_at else None
            log.debug("timer fired", extra={"event": "fired", "worker_id": self.worker_id,
                                            "instance_id": fired.instance_id, "timers": ",".join(fired.timers),
                                            "due_at": fired.due_at.isoformat() if fired.due_at else None,
                                            "latency_ms": round(lag * 1000, 1) if lag is not None else None})

    def _maybe_beat(self) -> None:
        if time.monotonic() - self._last_beat >= BEAT_EVERY:
            self._beat()

    def _beat(self, state: str = "running") -> None:
        status.beat(self.rt.sessions, self.worker_id, self.started_at, self.steps, state)
        self._last_beat = time.monotonic()

    def refresh_analytics(self) -> int:
        """Recompute the managers' snapshot when the day changed or it is 15 minutes old
        (``processes.analytics.refresh``); its own job, so a long refresh never delays
        timers. Returns the rows written (0: nothing to do, or another worker does it)."""
        try:
            with self.rt.sessions.begin() as session:
                now, wall = timekeeping.now(session), status.wall_now()
                if not analytics.needs_refresh(session, now, wall):
                    return 0
                rows = analytics.refresh(session, now, wall)
            if rows:
                log.info("analytics refreshed", extra={"event": "analytics", "worker_id": self.worker_id, "rows": rows})
            return rows
        except Exception:  # noqa: BLE001 - figures can wait; the worker must go on
            log.exception("analytics refresh failed", extra={"event": "analytics_failed", "worker_id": self.worker_id})
            return 0

    def run_simulation(self):
        """Run one queued simulation run of the *Simulér* page, after putting back in the
        queue (or failing) runs whose worker died (``processes.simulation.runs.run_next``).
        Its own thread (:meth:`_simulation_loop`), so a long run never delays timers; a
        stop puts the run back in the queue. Returns ``(run id, status)`` or None when
        nothing was queued."""
        try:
            if self._last_beat == 0.0:
                self._beat()  # the run names this worker: let others see it is alive
            done = simulation_runs.run_next(self.rt.sessions, self.worker_id, lambda: self.stopping)
            if done:
                log.info("simulation run", extra={"event": "simulation", "worker_id": self.worker_id,
                                                  "run": done[0], "status": done[1]})
            return done
        except Exception:  # noqa: BLE001 - the worker must go on
            log.exception("simulation job failed", extra={"event": "simulation_failed", "worker_id": self.worker_id})
            return None

    def _simulation_loop(self) -> None:
        """Run queued simulation runs one after another; look again every few seconds."""
        while not self.stopping:
            if self.run_simulation() is None:
                self.stop_event.wait(SIMULATION_EVERY)

    # -------------------------------------------------------------- schedule
    def _tick(self) -> None:
        try:
            while not self.stopping:
                self._again.clear()
                self.poll_once()
                if not self._again.is_set():
                    break
            if not self.stopping:
                self._schedule_next()
        except Exception:  # noqa: BLE001 - a lost database connection must not kill the loop
            log.exception("poll failed", extra={"event": "poll_failed", "worker_id": self.worker_id})

    def _schedule_next(self) -> None:
        """On the real clock, tick again at the next due time if it comes before the interval."""
        with self.rt.sessions() as session:
            if timekeeping.is_virtual(session):
                return  # virtual time moves only when someone moves it; the interval catches that
            now = timekeeping.now(session)
            query = select(func.min(ProcessInstance.next_due_at)).where(ProcessInstance.status == "running")
            if self._stuck:
                query = query.where(ProcessInstance.id.notin_(list(self._stuck)))
            next_due = session.scalar(query)
        if next_due is None:
            return
        delay = (next_due - now).total_seconds()
        if delay < self.interval:
            # A millisecond past the due time: Spiff fires only strictly after it.
            self._run_at(datetime.now(timezone.utc) + timedelta(seconds=max(delay, 0) + 0.001))

    def _run_at(self, when: datetime) -> None:
        if self._scheduler is not None and self._scheduler.running:
            job = self._scheduler.get_job("poll")
            if job is not None:
                job.modify(next_run_time=when)

    def wake(self) -> None:
        """Poll now (or once more, if a poll is running)."""
        self._again.set()
        self._run_at(datetime.now(timezone.utc))

    def _listen(self) -> None:
        """Wake on NOTIFY from steps that leave work due soon (PostgreSQL only)."""
        import psycopg
        url = make_url(self.rt.url)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self.stopping:
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {WORK_CHANNEL}")
                    while not self.stopping:
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                log.warning("listen failed; retrying", extra={"event": "listen_failed", "error": str(exc)})
                self.stop_event.wait(2.0)

    # ------------------------------------------------------------------- run
    def run(self) -> Counter:
        """Tick until stopped; return the totals."""
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1), "analytics": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}, timezone=timezone.utc)
        self._scheduler.add_job(self._tick, IntervalTrigger(seconds=self.interval, timezone=timezone.utc),
                                id="poll", next_run_time=datetime.now(timezone.utc))
        self._scheduler.add_job(self.refresh_analytics, IntervalTrigger(seconds=60, timezone=timezone.utc),
                                id="analytics", executor="analytics", next_run_time=datetime.now(timezone.utc))
        self._scheduler.start()
        simulations = threading.Thread(target=self._simulation_loop, name="sagsflow-simulation", daemon=True)
        simulations.start()
        listener = None
        if self.rt.db.dialect.name == "postgresql":
            listener = threading.Thread(target=self._listen, name="sagsflow-listen", daemon=True)
            listener.start()
        log.info("worker started", extra={"event": "start", "worker_id": self.worker_id,
                                          "interval": self.interval, "database": self.rt.db.dialect.name})
        try:
            self.stop_event.wait()
        finally:
            self.stop_event.set()
            self._scheduler.shutdown(wait=True)  # lets the current step finish
            simulations.join(timeout=30.0)  # a running simulation goes back to the queue at its next report
            if listener is not None:
                listener.join(timeout=2.0)
            try:
                self._beat("stopped")
            except Exception:  # noqa: BLE001 - the database may be gone; the stop is still clean
                log.warning("could not record the stop", extra={"event": "stop_unrecorded"}, exc_info=True)
            log.info("worker stopped", extra={"event": "stop", "worker_id": self.worker_id,
                                              "steps": self.steps, **dict(self.totals)})
        return self.totals


def run_worker(url: str | None = None, stop_event: threading.Event | None = None, interval: float = 1.0,
               once: bool = False, handle_signals: bool | None = None) -> Counter:
    """Run a worker against ``url`` (default: ``SAGSFLOW_DATABASE_URL``) until stopped.

    With ``once``, run one poll (drain what is due now) and return. Signal handlers for
    SIGTERM and SIGINT are installed when called from the main thread.
    """
    runtime = open_runtime(url)
    try:
        worker = Worker(runtime, interval=interval, stop_event=stop_event)
        if once:
            stats = worker.poll_once()
            worker._beat("stopped")
            return stats
        if handle_signals is None:
            handle_signals = threading.current_thread() is threading.main_thread()
        if handle_signals:
            def stop(signum, _frame):
                log.info("signal received; finishing the current step",
                         extra={"event": "signal", "signal": signal.Signals(signum).name})
                worker.stop_event.set()
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        return worker.run()
    finally:
        runtime.close()


class BackgroundWorker:
    """A worker running in a thread of this process; ``stop()`` ends it gracefully."""

    def __init__(self, url: str | None, interval: float):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=run_worker, name="sagsflow-worker", daemon=True,
                                       kwargs={"url": url, "stop_event": self.stop_event, "interval": interval,
                                               "handle_signals": False})
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


def start_background(url: str | None = None, interval: float = 1.0) -> BackgroundWorker:
    """Start a worker in a background thread (for ``sagsflow run``); call ``.stop()`` at exit."""
    return BackgroundWorker(url, interval)
