"""Background processing: due timers, message delivery, the outbox, deadline escalation.

Each worker process runs the same poll loop (:mod:`worker.service`) against the shared
database. Correctness lives in the database, never in the scheduler: a due instance is
claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and fired in the same transaction
(:mod:`worker.timers`), letters and notifications are delivered after commit with
idempotency keys (:mod:`worker.outbox`), deadlines falling due soon or breached raise
notifications (:mod:`worker.escalation`), and every process reports a heartbeat that
``sagsflow worker --status`` reads (:mod:`worker.status`).
"""
