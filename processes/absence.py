"""Absence: while a case owner is away, the owner tasks of their cases go to a named
substitute (if they hold the task's role and are here) or to the role's shared inbox,
and come back to the owner when the absence is over.

A user is away from ``absent_from`` (or at once when it is not set) up to and including
``absent_until``, both Danish dates. A task handed on because of an absence remembers
whom it is held for (``HumanTask.held_for_id``), so :func:`sync` can give it back:

- tasks the engine opens for an away owner are handed on at once (:func:`owner_assignee`);
- tasks the owner had already claimed in their cases are handed on when the absence
  begins, and every held task goes back to the owner when it ends: :func:`sync`, run when
  an absence is set and by the worker on every poll (cheap: it reads only users with an
  absence and tasks that are held).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.models import Case, HumanTask, User
from processes.scripting import danish_date


def is_away(user: User, today: date | str) -> bool:
    """Whether ``user`` is away on ``today`` (a Danish date)."""
    today = date.fromisoformat(today) if isinstance(today, str) else today
    if user.absent_until is None or today > user.absent_until:
        return False
    return user.absent_from is None or user.absent_from <= today


def _can_take(user: User | None, role: str, municipality_id: int, today: date) -> bool:
    return (user is not None and user.active and role in user.role_keys
            and user.municipality_id == municipality_id and not is_away(user, today))


def owner_assignee(session: Session, owner: User | None, role: str, now: datetime) -> tuple[int | None, int | None]:
    """Who gets a new owner task: ``(claimed_by_id, held_for_id)``. The owner if they
    hold the role and are here; while they are away, their substitute (if able) or the
    role, the task held for the owner; otherwise the role."""
    if owner is None or not owner.active or role not in owner.role_keys:
        return None, None
    today = date.fromisoformat(danish_date(now))
    if not is_away(owner, today):
        return owner.id, None
    substitute = session.get(User, owner.substitute_id) if owner.substitute_id else None
    return (substitute.id if _can_take(substitute, role, owner.municipality_id, today) else None), owner.id


def sync(session: Session, now: datetime, municipality_id: int | None = None) -> dict[str, int]:
    """Hand on the claimed tasks of owners whose absence has begun, and give held tasks
    back to owners who are back; audited per task. Returns the counts."""
    from processes.engine import Actor, Engine  # the engine imports this module
    today = date.fromisoformat(danish_date(now))
    actor = Actor.system("absence")
    counts = {"handed_on": 0, "returned": 0}
    away_query = select(User).where(User.absent_until.is_not(None), User.absent_until >= today)
    held_query = select(HumanTask).where(HumanTask.held_for_id.is_not(None), HumanTask.state == "open")
    if municipality_id is not None:
        away_query = away_query.where(User.municipality_id == municipality_id)
        held_query = held_query.where(HumanTask.municipality_id == municipality_id)
    for owner in session.scalars(away_query):
        if not is_away(owner, today):
            continue
        tasks = session.scalars(select(HumanTask).join(Case, Case.id == HumanTask.case_id).where(
            Case.owner_id == owner.id, HumanTask.claimed_by_id == owner.id, HumanTask.state == "open",
            HumanTask.held_for_id.is_(None)).with_for_update())
        substitute = session.get(User, owner.substitute_id) if owner.substitute_id else None
        for task in tasks:
            taker = substitute if _can_take(substitute, task.role, owner.municipality_id, today) else None
            task.claimed_by_id, task.held_for_id = (taker.id if taker else None), owner.id
            task.revision += 1
            counts["handed_on"] += 1
            Engine.audit(session, actor, "task.absence_handover", task.municipality_id, task.case_id,
                         task.instance_id, {"task": task.bpmn_id, "owner": owner.username,
                                            "to": taker.username if taker else f"role:{task.role}"}, now)
    for task in session.scalars(held_query.with_for_update()):
        owner = session.get(User, task.held_for_id)
        if owner is not None and is_away(owner, today) and owner.active:
            continue
        back = owner is not None and owner.active and task.role in owner.role_keys
        if back:
            task.claimed_by_id = owner.id
        task.held_for_id = None
        task.revision += 1
        counts["returned"] += back
        Engine.audit(session, actor, "task.absence_return", task.municipality_id, task.case_id, task.instance_id,
                     {"task": task.bpmn_id, "owner": owner.username if owner else None, "returned": back}, now)
    return counts
