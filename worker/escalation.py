"""Deadline escalation seen from the inboxes.

The model does the escalation itself: a deadline is a timer boundary event on the task,
and when it fires the engine records a ``deadline_event`` (the breach) and the model's
escalation path runs (typically a task in the teamleder lane). This module adds the
notifications around it:

- **due soon**: an open task whose deadline falls within :data:`DUE_SOON` is marked by a
  ``due_soon`` notification to the task's role (and the user who claimed it);
- **breach**: every ``deadline_event`` gets a ``deadline_breach`` notification to the
  municipality's teamleder.

Both go through the outbox keyed ``due_soon:<task guid>`` and ``breach:<timer guid>``,
so each is sent once however many workers scan. On PostgreSQL one worker scans at a
time (a transaction-level advisory lock); the others skip the scan.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, literal, select, text
from sqlalchemy.orm import Session

from processes import timekeeping
from processes.models import DeadlineEvent, HumanTask, Outbox
from processes.policy import BY_KEY
from worker.outbox import queue_notification

DUE_SOON = timedelta(days=3)
BATCH = 500
_ADVISORY_KEY = 0x5A65_5343  # "ZeSC": the escalation scan
LOCAL = ZoneInfo("Europe/Copenhagen")


def _local(value: datetime) -> str:
    return value.astimezone(LOCAL).strftime("%d.%m.%Y kl. %H:%M")


def scan(sessions) -> dict[str, int]:
    """Queue due-soon and breach notifications not yet queued; return how many of each."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY}):
            return {"due_soon": 0, "breach": 0}
        now = timekeeping.now(session)
        return {"due_soon": _due_soon(session, now), "breach": _breaches(session, now)}


def _due_soon(session: Session, now: datetime) -> int:
    key = literal("due_soon:") + HumanTask.task_guid
    tasks = session.scalars(
        select(HumanTask).where(HumanTask.state == "open", HumanTask.due_at > now,
                                HumanTask.due_at <= now + DUE_SOON,
                                ~exists().where(Outbox.idempotency_key == key))
        .order_by(HumanTask.due_at).limit(BATCH))
    count = 0
    for task in tasks:
        count += queue_notification(
            session, f"due_soon:{task.task_guid}", task.municipality_id, now, kind="due_soon",
            recipient_role=task.role, user_id=task.claimed_by_id, case_id=task.case_id, task_id=task.id,
            title=f"Frist nærmer sig: {task.name}",
            body=f"Fristen udløber {_local(task.due_at)} (sag {task.case_id}).")
    return count


def _breaches(session: Session, now: datetime) -> int:
    key = literal("breach:") + DeadlineEvent.task_guid
    events = session.scalars(
        select(DeadlineEvent).where(~exists().where(Outbox.idempotency_key == key))
        .order_by(DeadlineEvent.id).limit(BATCH))
    count = 0
    for event in events:
        rule = BY_KEY.get(event.deadline_rule or "")
        what = rule.label if rule else event.bpmn_id
        count += queue_notification(
            session, f"breach:{event.task_guid}", event.municipality_id, now, kind="deadline_breach",
            recipient_role="teamleder", case_id=event.case_id,
            title=f"Frist overskredet: {what}",
            body=f"Fristen udløb {_local(event.due_at)} (sag {event.case_id}, {event.process_id}).")
    return count
