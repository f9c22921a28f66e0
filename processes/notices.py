"""Notifications as outbox rows: written in the transaction that causes them (a step, a
reassignment, the escalation scan) and delivered after commit by the worker, which
creates the ``notification`` row (``worker/outbox.py``). The idempotency key makes each
notice once, however often the cause is seen."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.models import Outbox

# ``recipient_role`` of a note to one user only (``user_id``): no role holds it.
PERSONAL = ""


def queue_notification(session: Session, key: str, municipality_id: int, now: datetime, *, kind: str,
                       recipient_role: str, title: str, body: str = "", case_id: int | None = None,
                       task_id: int | None = None, user_id: int | None = None) -> bool:
    """Add a notification to the outbox unless one with ``key`` exists; True if added."""
    if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is not None:
        return False
    session.add(Outbox(municipality_id=municipality_id, case_id=case_id, kind="notification",
                       idempotency_key=key, created_at=now, next_attempt_at=now,
                       payload={"kind": kind, "recipient_role": recipient_role, "user_id": user_id,
                                "task_id": task_id, "title": title, "body": body}))
    return True


def reassigned(session: Session, task, to_user, actor, now: datetime) -> bool:
    """Tell the new holder that a task was given to them (once per reassignment: the key
    carries the task's new revision); nothing when they took it themselves."""
    if actor.user_id == to_user.id:
        return False
    return queue_notification(
        session, f"reassign:{task.id}:{task.revision}", task.municipality_id, now, kind="task_reassigned",
        recipient_role=PERSONAL, user_id=to_user.id, case_id=task.case_id, task_id=task.id,
        title=f"Opgave givet til dig: {task.name}",
        body=f"{actor.name} har givet dig opgaven (sag {task.case_id}).")
