"""Delivering the outbox after commit: letters become case documents, notifications
land in inboxes. Exactly once per idempotency key, retried with backoff, never blocking.

A delivery claims one undelivered row (``FOR UPDATE SKIP LOCKED``), hands it to the
transport for its kind inside a savepoint and marks it sent, all in one transaction. The
transports here write to the database in that same transaction, keyed by the outbox
row (``document.outbox_id`` and ``notification.outbox_id`` are unique), so a worker
killed mid-delivery leaves nothing behind and the retry writes it once. A transport to
an outside system (digital post) must pass ``idempotency_key`` on so the receiver can
drop a repeat after a crash between its answer and our commit.

A failed delivery records the error, counts the attempt and waits (1 min, 2, 4 … at most
6 h) before the next; after :data:`ALERT_AFTER` failures the municipality's
administrators get a notification. The case itself has moved on long before: the
outbox is written by the step and read only here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from processes import pausepoints, timekeeping
from processes.catalogue import SpecCache
from processes.letters import render_letter
from processes.models import Document, Notification, Outbox
from processes.notices import queue_notification

log = logging.getLogger("sagsflow.worker.outbox")
LOCAL = ZoneInfo("Europe/Copenhagen")
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)
ALERT_AFTER = 3


class Transport(Protocol):
    """Delivers one outbox row; raises to signal a failure worth retrying."""

    def deliver(self, session: Session, item: Outbox, now: datetime) -> None: ...


class CaseDocuments:
    """Letters: rendered from the case and stored as a document of the case."""

    def __init__(self, specs: SpecCache):
        self.specs = specs

    def deliver(self, session: Session, item: Outbox, now: datetime) -> None:
        if session.scalar(select(Document.id).where(Document.outbox_id == item.id)) is not None:
            return
        letter = render_letter(session, self.specs, item, now.astimezone(LOCAL).date())
        session.add(Document(municipality_id=item.municipality_id, case_id=item.case_id,
                             instance_id=item.instance_id, outbox_id=item.id, template=letter.template,
                             title=letter.title, body=letter.body, content_type="text/html", created_at=now))
        session.flush()


class InboxNotifications:
    """Notifications: a row in the inbox of a role (or of one user) in the municipality."""

    def deliver(self, session: Session, item: Outbox, now: datetime) -> None:
        if session.scalar(select(Notification.id).where(Notification.outbox_id == item.id)) is not None:
            return
        p = item.payload or {}
        session.add(Notification(municipality_id=item.municipality_id, recipient_role=p["recipient_role"],
                                 user_id=p.get("user_id"), case_id=item.case_id, task_id=p.get("task_id"),
                                 kind=p["kind"], title=p["title"], body=p.get("body", ""), args=p.get("args"),
                                 outbox_id=item.id,
                                 created_at=now))
        session.flush()


def default_transports(specs: SpecCache) -> dict[str, Transport]:
    return {"letter": CaseDocuments(specs), "notification": InboxNotifications()}


@dataclass
class Delivery:
    outbox_id: int
    kind: str
    ok: bool
    attempts: int
    error: str | None = None


def backoff(attempts: int) -> timedelta:
    return min(RETRY_FIRST * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def deliver_next(sessions, transports: dict[str, Transport]) -> Delivery | None:
    """Deliver the undelivered outbox row that has waited longest; None if there is none."""
    with sessions.begin() as session:
        now = timekeeping.now(session)
        item = session.scalars(
            select(Outbox).where(Outbox.sent_at.is_(None),
                                 or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now))
            .order_by(Outbox.next_attempt_at, Outbox.id).limit(1)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
        if item is None:
            return None
        item.attempts = (item.attempts or 0) + 1
        transport = transports.get(item.kind)
        try:
            if transport is None:
                raise LookupError(f"no transport for outbox kind {item.kind!r}")
            with session.begin_nested():
                transport.deliver(session, item, now)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never fatal
            error = f"{exc.__class__.__name__}: {exc}"[:2000]
            item.last_error = error
            item.next_attempt_at = now + backoff(item.attempts)
            log.warning("delivery failed", extra={"event": "delivery_failed", "outbox_id": item.id,
                                                  "kind": item.kind, "attempts": item.attempts, "error": error})
            if item.attempts == ALERT_AFTER:
                queue_notification(session, f"delivery_failed:{item.id}", item.municipality_id, now,
                                   kind="delivery_failed", recipient_role="admin", case_id=item.case_id,
                                   args={"attempts": item.attempts, "channel": item.kind, "item": item.id,
                                         "error": error})
            return Delivery(item.id, item.kind, False, item.attempts, error)
        item.sent_at = now
        item.last_error = None
        pausepoints.pause("worker.deliver", session)
        return Delivery(item.id, item.kind, True, item.attempts)
