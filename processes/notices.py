"""Notifications as outbox rows: written in the transaction that causes them (a step, a
reassignment, the escalation scan) and delivered after commit by the worker, which
creates the ``notification`` row (``worker/outbox.py``). The idempotency key makes each
notice once, however often the cause is seen."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.models import Outbox

# ``recipient_role`` of a note to one user only (``user_id``): no role holds it.
PERSONAL = ""
LOCAL = ZoneInfo("Europe/Copenhagen")


def N_(text: str) -> str:
    """Mark ``text`` for translation without translating it (Babel extracts ``N_("...")``:
    ``scripts/translations``): the worker writes the Danish, the web app translates."""
    return text


# The title and body of each kind of notice: Danish with placeholders, filled from the
# notice's ``args`` (raw values: ISO dates, keys, names). The Danish text is stored with
# the note (``title``, ``body``: the REST API and older readers show it); the web app
# renders the same texts in the reader's language from ``args`` with :func:`render`
# (``inbox/notifications.py``; the English is in ``inbox/translations/en_notifications.py``).
TEXTS: dict[str, tuple[str, str]] = {
    "due_soon": (N_("Frist nærmer sig: %(task)s"), N_("Fristen udløber %(due)s (sag %(case)s).")),
    "task_overdue": (N_("Fristen er overskredet: %(task)s"),
                     N_("Fristen udløb %(due)s (sag %(case)s). Opgaven er stadig åben.")),
    "deadline_breach": (N_("Frist overskredet: %(rule)s"),
                        N_("Fristen udløb %(due)s (sag %(case)s, %(case_type)s).")),
    "target_breach": (N_("Servicemål overskredet: %(target)s"),
                      N_("Målet var %(due)s (sag %(case)s, start %(start)s).")),
    "target_soon": (N_("Servicemål nærmer sig: %(target)s"), N_("Målet er %(due)s (sag %(case)s).")),
    "task_reassigned": (N_("Opgave givet til dig: %(task)s"),
                        N_("%(actor)s har givet dig opgaven (sag %(case)s).")),
    "delivery_failed": (N_("Levering mislykkedes %(attempts)s gange (%(channel)s)"),
                        N_("Udgående %(channel)s #%(item)s: %(error)s")),
    "user_deactivated": (N_("%(user)s (%(username)s) er deaktiveret"),
                         N_("%(count)s opgave(r), som %(user)s havde taget, er lagt tilbage i rollernes "
                            "fælles indbakke%(released)s")),
}


def _danish_datetime(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(LOCAL).strftime("%d.%m.%Y kl. %H:%M")


def _danish_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%d.%m.%Y")


def _danish_rule(key: str) -> str:
    from processes.policy import BY_KEY
    rule = BY_KEY.get(key)
    return rule.label if rule else key


def _danish_case_type(key: str) -> str:
    from processes.policy import CASE_TYPE_NAMES
    return CASE_TYPE_NAMES.get(key, key)


def danish_target(key: str) -> str:
    from processes.milestones import TARGET_BY_KEY
    target = TARGET_BY_KEY.get(key)
    return target.label if target else key


def _danish_role(key: str) -> str:
    from processes.roles import ROLES
    return ROLES.get(key, (key,))[0]


def released_text(released: list, task: Callable[[list], str], role: Callable[[str], str]) -> str:
    """The tasks a deactivation put back in the roles' inboxes, ``[process, bpmn id, name,
    role]`` each: ``": »name« (role), …."`` or ``"."``."""
    if not released:
        return "."
    return ": " + ", ".join(f"»{task(t)}« ({role(t[3])})" for t in released) + "."


def render(kind: str, args: dict[str, Any], *, translate: Callable[[str], str] = str,
           datetime_text: Callable[[str], str] = _danish_datetime, date_text: Callable[[str], str] = _danish_date,
           rule: Callable[[str], str] = _danish_rule, case_type: Callable[[str], str] = _danish_case_type,
           target: Callable[[str], str] = danish_target, task: Callable[[str], str] = str,
           released_task: Callable[[list], str] = lambda t: t[2],
           role: Callable[[str], str] = _danish_role) -> tuple[str, str]:
    """A notice's title and body from its kind and ``args``; Danish with the defaults, the
    reader's language with the web app's translation and formatters."""
    values = dict(args)
    if "released" in values:
        values["released"] = released_text(values["released"], released_task, role)
    if "due" in values:
        values["due"] = (datetime_text if "T" in str(values["due"]) else date_text)(values["due"])
    if values.get("start"):
        values["start"] = date_text(values["start"])
    for key, fn in (("rule", rule), ("case_type", case_type), ("target", target), ("task", task)):
        if key in values:
            values[key] = fn(values[key])
    title, body = TEXTS[kind]
    return translate(title) % values, translate(body) % values


def queue_notification(session: Session, key: str, municipality_id: int, now: datetime, *, kind: str,
                       recipient_role: str, args: dict[str, Any], case_id: int | None = None,
                       task_id: int | None = None, user_id: int | None = None) -> bool:
    """Add a notification of ``kind`` (one of :data:`TEXTS`) to the outbox unless one with
    ``key`` exists; True if added. The Danish title and body are rendered now; ``args``
    travel with them so that each reader sees the note in their language."""
    if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is not None:
        return False
    title, body = render(kind, args)
    session.add(Outbox(municipality_id=municipality_id, case_id=case_id, kind="notification",
                       idempotency_key=key, created_at=now, next_attempt_at=now,
                       payload={"kind": kind, "recipient_role": recipient_role, "user_id": user_id,
                                "task_id": task_id, "title": title, "body": body, "args": args}))
    return True


def reassigned(session: Session, task, to_user, actor, now: datetime) -> bool:
    """Tell the new holder that a task was given to them (once per reassignment: the key
    carries the task's new revision); nothing when they took it themselves."""
    if actor.user_id == to_user.id:
        return False
    return queue_notification(
        session, f"reassign:{task.id}:{task.revision}", task.municipality_id, now, kind="task_reassigned",
        recipient_role=PERSONAL, user_id=to_user.id, case_id=task.case_id, task_id=task.id,
        args={"task": task.name, "actor": actor.name, "case": task.case_id})
