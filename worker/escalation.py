"""Deadline escalation seen from the inboxes.

The model does the escalation itself: a deadline is a timer boundary event on the task,
and when it fires the engine records a ``deadline_event`` (the breach) and the model's
escalation path runs (typically a task in the teamleder lane). This module adds the
notifications around it:

- **due soon**: an open task whose deadline falls within :data:`DUE_SOON` is marked by a
  ``due_soon`` notification to the task's role (and the user who claimed it);
- **breach**: every ``deadline_event`` gets a ``deadline_breach`` notification to the
  municipality's teamleder;
- **overdue**: an open task whose deadline has passed gets a ``task_overdue`` note to
  the user who has it (else its role), so the caseworker hears it too;
- **service targets** (``processes.milestones``: a municipality's ``maal_*`` policy
  values between two milestones) warn the same way: ``target_soon`` to the target's
  role and the case owner within :data:`DUE_SOON` of the due date, ``target_breach`` to
  the teamleder (and the owner) when the due date has passed without the end milestone.

They go through the outbox keyed ``due_soon:<task guid>``, ``breach:<timer guid>``,
``overdue:<task guid>``,
``target_soon:<case>:<target>`` and ``target_breach:<case>:<target>``,
so each is sent once however many workers scan. On PostgreSQL one worker scans at a
time (a transaction-level advisory lock); the others skip the scan.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, literal, select, text
from sqlalchemy.orm import Session, aliased

from processes import milestones, timekeeping
from processes.models import Case, DeadlineEvent, HumanTask, Milestone, Municipality, Outbox, PolicyVersion, \
    ProcessInstance
from processes.policy import BY_KEY, duration_length
from processes.notices import PERSONAL, queue_notification

DUE_SOON = timedelta(days=3)
BATCH = 500
_ADVISORY_KEY = 0x5A65_5343  # "ZeSC": the escalation scan
LOCAL = ZoneInfo("Europe/Copenhagen")


def scan(sessions) -> dict[str, int]:
    """Queue due-soon and breach notifications not yet queued; return how many of each."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY}):
            return {"due_soon": 0, "breach": 0, "overdue": 0, "target_soon": 0, "target_breach": 0}
        now = timekeeping.now(session)
        counts = {"due_soon": _due_soon(session, now), "breach": _breaches(session, now),
                  "overdue": _overdue(session, now)}
        counts.update(_service_targets(session, now))
        return counts


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
            args={"task": task.name, "due": task.due_at.isoformat(), "case": task.case_id})
    return count


def _overdue(session: Session, now: datetime) -> int:
    """Tell the holder of an open task that its deadline has passed: the user who has
    it (only them), else its role. The teamleder hears of it as a breach."""
    key = literal("overdue:") + HumanTask.task_guid
    tasks = session.scalars(
        select(HumanTask).where(HumanTask.state == "open", HumanTask.due_at <= now,
                                ~exists().where(Outbox.idempotency_key == key))
        .order_by(HumanTask.due_at).limit(BATCH))
    count = 0
    for task in tasks:
        count += queue_notification(
            session, f"overdue:{task.task_guid}", task.municipality_id, now, kind="task_overdue",
            recipient_role=PERSONAL if task.claimed_by_id else task.role, user_id=task.claimed_by_id,
            case_id=task.case_id, task_id=task.id,
            args={"task": task.name, "due": task.due_at.isoformat(), "case": task.case_id})
    return count


def _breaches(session: Session, now: datetime) -> int:
    key = literal("breach:") + DeadlineEvent.task_guid
    events = session.scalars(
        select(DeadlineEvent).where(~exists().where(Outbox.idempotency_key == key))
        .order_by(DeadlineEvent.id).limit(BATCH))
    count = 0
    for event in events:
        count += queue_notification(
            session, f"breach:{event.task_guid}", event.municipality_id, now, kind="deadline_breach",
            recipient_role="teamleder", case_id=event.case_id,
            args={"rule": event.deadline_rule if event.deadline_rule in BY_KEY else event.bpmn_id,
                  "due": event.due_at.isoformat(), "case": event.case_id, "case_type": event.process_id})
    return count


def _current_policy(session: Session, municipality_id: int, case_type: str, now: datetime) -> dict:
    row = session.scalars(
        select(PolicyVersion).where(PolicyVersion.municipality_id == municipality_id,
                                    PolicyVersion.case_type == case_type, PolicyVersion.effective_from <= now)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()).limit(1)).first()
    return dict(row.values) if row else {}


def _service_targets(session: Session, now: datetime) -> dict[str, int]:
    """Queue the service-target notices not yet queued (see the module docstring).

    Candidates are found in SQL (open cases of the municipalities that set the target,
    with a process of its case type, whose start milestone is early enough to fall due
    within :data:`DUE_SOON`, without the end milestone and not yet reported as missed);
    each is then judged by :func:`processes.milestones.target_status`, the one definition
    the case page uses too. The candidates are few at any time (cases within days of
    the due date, or past it and not yet reported), so they are not batched."""
    counts = {"target_soon": 0, "target_breach": 0}
    for municipality_id in session.scalars(select(Municipality.id).order_by(Municipality.id)):
        for target in milestones.SERVICE_TARGETS:
            duration = _current_policy(session, municipality_id, target.case_type, now).get(target.key)
            if not duration:
                continue
            # Earliest start that can be due within DUE_SOON: a generous bound (a month
            # is at least 28 days); target_status decides exactly.
            shortest = duration_length(duration)
            latest_start = (now + DUE_SOON - shortest + timedelta(days=4)).date()
            start, end = aliased(Milestone), aliased(Milestone)
            missed_key = (literal("target_breach:") + cast(start.case_id, String) + literal(f":{target.key}"))
            candidates = session.execute(
                select(start.case_id, func.min(start.date))
                .join(Case, Case.id == start.case_id)
                .where(start.municipality_id == municipality_id, start.key == target.start,
                       Case.status == "open",
                       exists().where(ProcessInstance.case_id == start.case_id,
                                      ProcessInstance.process_id == target.case_type),
                       ~exists().where(end.case_id == start.case_id, end.key == target.end),
                       ~exists().where(Outbox.idempotency_key == missed_key))
                .group_by(start.case_id).having(func.min(start.date) <= latest_start)
                .order_by(start.case_id)).all()
            for case_id, _first in candidates:
                case = session.get(Case, case_id)
                rows = milestones.case_milestones(session, case_id)
                status = [t for t in milestones.target_status(rows, {target.key: duration}.get, now,
                                                              {target.case_type})
                          if t["key"] == target.key]
                if not status:
                    continue
                _target_notice(session, case, target, status[0], now, counts)
    return counts


def _target_notice(session: Session, case: Case, target, status: dict, now: datetime,
                   counts: dict[str, int]) -> None:
    due = status["due"]
    if status["state"] == "overdue":
        counts["target_breach"] += queue_notification(
            session, f"target_breach:{case.id}:{target.key}", case.municipality_id, now, kind="target_breach",
            recipient_role="teamleder", user_id=case.owner_id, case_id=case.id,
            args={"target": target.key, "due": due, "case": case.id, "start": status["start"]})
    elif status["state"] == "open" and due <= (now + DUE_SOON).astimezone(LOCAL).date().isoformat():
        counts["target_soon"] += queue_notification(
            session, f"target_soon:{case.id}:{target.key}", case.municipality_id, now, kind="target_soon",
            recipient_role=target.role, user_id=case.owner_id, case_id=case.id,
            args={"target": target.key, "due": due, "case": case.id})
