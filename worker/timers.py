"""Firing due timers: claim one due instance, fire it, commit; one transaction each.

The claim is ``SELECT … FOR UPDATE SKIP LOCKED`` on the instance row itself (PostgreSQL
re-checks the predicate on the locked row version), so with many workers each due
instance is taken by exactly one of them, and a caseworker's request holding the row
makes the worker skip it rather than wait. On SQLite the ``BEGIN IMMEDIATE`` of every
transaction serializes writers and the clause is left out. A worker killed mid-step
leaves no trace: its transaction rolls back and the instance is due again.

Due means strictly before "now", as Spiff fires a timer only strictly after its time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from processes import pausepoints, timekeeping
from processes.engine import Actor, Engine
from processes.errors import ModelFault
from processes.models import AuditEvent, ProcessInstance
from processes.writes import Writes

log = logging.getLogger("sagsflow.worker.timers")

# After a failing step the instance waits before the next try: 1 min, 2, 4 … at most 1 h.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


@dataclass
class Fired:
    """What one claim did. ``due_at`` is the oldest timer that was due when it fired."""

    instance_id: int
    ok: bool
    now: datetime
    due_at: datetime | None = None
    timers: list[str] = field(default_factory=list)
    progressed: bool = True
    error: str | None = None


def fire_next(engine: Engine, worker_id: str, exclude: set[int] | frozenset = frozenset()) -> Fired | None:
    """Claim one due instance and fire its due timers in one transaction.

    One statement claims the instance, loads it and reads the clock
    (:meth:`Engine.claim_due`); the step's writes and the ``timer.fire`` audit event go in
    one batch. Returns None when nothing is due. A step that fails is rolled back,
    recorded in the audit log, and the instance is tried again later with backoff; the
    error never stops the worker or other cases.
    """
    instance_id = None
    try:
        with engine.sessions.begin() as session:
            claimed = engine.claim_due(session, exclude)
            if claimed is None:
                return None
            row, now = claimed
            instance_id = row.id
            before = row.next_due_at
            due: list = []
            with Writes() as writes:
                engine.fire_due(session, row, now, writes=writes, due=due)
                fired = Fired(instance_id, True, now, due[0].due_at if due else before, [t.bpmn_id for t in due],
                              progressed=row.next_due_at != before or row.status != "running")
                engine.queue_audit(writes, Actor.system("worker"), "timer.fire", row.municipality_id, row.case_id,
                                   row.id, {"timers": fired.timers, "due_at": fired.due_at, "worker": worker_id},
                                   now, recorded_at=datetime.now(timezone.utc))

                def before_commit() -> None:
                    session.flush()
                    pausepoints.pause("worker.step", session)
                writes.execute(session, before_commit=before_commit)
        return fired
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the worker
        if instance_id is None:
            raise
        error = f"{exc.__class__.__name__}: {exc}"
        # A model's own fault (ModelFault names the element) needs no traceback in the log.
        log.error("step failed", extra={"event": "step_failed", "instance_id": instance_id, "error": error},
                  exc_info=not isinstance(exc, ModelFault))
        return _defer(engine, instance_id, error, worker_id)


def _defer(engine: Engine, instance_id: int, error: str, worker_id: str) -> Fired:
    """Record a failed step and push the instance's next try out with backoff."""
    with engine.sessions.begin() as session:
        now = timekeeping.now(session)
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                              .with_for_update(skip_locked=True)
                              .execution_options(populate_existing=True)).first()
        if row is None:  # someone else holds it now; they will see the same error
            return Fired(instance_id, False, now, error=error, progressed=False)
        failures = session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.case_id == row.case_id, AuditEvent.instance_id == instance_id,
            AuditEvent.action == "worker.step_failed", AuditEvent.at >= row.updated_at)) or 0
        delay = min(RETRY_FIRST * (2 ** failures), RETRY_MAX)
        row.next_due_at = now + delay
        engine.audit(session, Actor.system("worker"), "worker.step_failed", row.municipality_id, row.case_id,
                     row.id, {"error": error[:2000], "retry_at": row.next_due_at, "worker": worker_id}, now)
    return Fired(instance_id, False, now, error=error, progressed=False)
