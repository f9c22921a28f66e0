"""Notifications as outbox rows: written in the transaction that causes them (a step, a
reassignment, the escalation scan) and delivered after commit by the worker, which
creates the ``notification`` row (``worker/outbox.py``). The idempotency key makes each
notice once, however often the cause is seen."""
from __future__ import annotations

import re
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


# ------------------------------------------------------------- notes before ``args``
# Notes written before migration 0016 kept only their Danish title and body. For the kinds
# whose text shows every value it was made from, the values can be read back out of the
# text (migration 0018), so the note is shown in the reader's language like a newer one.
# A deactivation note cannot be: its list of tasks shows their names and roles, not the
# processes and task ids the English names are found by (older notes also listed at most 20).
RECOVERABLE = ("due_soon", "task_overdue", "deadline_breach", "target_breach", "target_soon", "task_reassigned",
               "delivery_failed")
_DANISH_DATE = r"\d{2}\.\d{2}\.\d{4}"
_FIELD = {"due": rf"{_DANISH_DATE}(?: kl\. \d{{2}}:\d{{2}})?",
          "start": rf"{_DANISH_DATE}|\d{{4}}-\d{{2}}-\d{{2}}",  # ISO in the notes written before 0016
          "case": r"[1-9]\d*", "attempts": r"[1-9]\d*", "item": r"[1-9]\d*"}


def _text_pattern(text: str) -> re.Pattern:
    """A notice text as a pattern: each ``%(name)s`` a group of the value's shape (free
    text for the names, the title's on one line)."""
    parts = re.split(r"%\((\w+)\)s", text)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_FIELD.get(part, '.+')})"
                              for i, part in enumerate(parts)), re.DOTALL)


def _key_of(label: str, labels: dict[str, str]) -> str | None:
    """The one key with ``label``; the text itself if no key has it (rendered as is); None
    if several have it."""
    keys = [key for key, text in labels.items() if text == label]
    return keys[0] if len(keys) == 1 else (label if not keys else None)


def recover_args(kind: str, title: str, body: str) -> dict[str, Any] | None:
    """The ``args`` a note of ``kind`` was made from, read back from its Danish ``title``
    and ``body``; None unless they are certain: the texts match the kind's texts, each
    label names one key, and :func:`render` of the values gives the same title and body
    (with the earlier ISO start date of a service-target note as the only difference)."""
    from processes.milestones import TARGET_BY_KEY
    from processes.policy import BY_KEY, CASE_TYPE_NAMES
    if kind not in RECOVERABLE:
        return None
    matches = [_text_pattern(text).fullmatch(stored) for text, stored in zip(TEXTS[kind], (title, body or ""))]
    if None in matches or "\n" in title:
        return None
    found: dict[str, str] = {}
    for match in matches:
        for name, value in match.groupdict().items():
            if found.setdefault(name, value) != value:
                return None
    args: dict[str, Any] = {}
    for name, value in found.items():
        if name in ("case", "attempts", "item"):
            args[name] = int(value)
        elif name == "due":
            if " kl. " in value:
                args[name] = datetime.strptime(value, "%d.%m.%Y kl. %H:%M").replace(tzinfo=LOCAL).isoformat()
            else:
                args[name] = datetime.strptime(value, "%d.%m.%Y").date().isoformat()
        elif name == "start":
            args[name] = value if "-" in value else datetime.strptime(value, "%d.%m.%Y").date().isoformat()
        elif name == "case_type":
            args[name] = _key_of(value, CASE_TYPE_NAMES)
        elif name == "target":
            args[name] = _key_of(value, {key: target.label for key, target in TARGET_BY_KEY.items()})
        elif name == "rule":  # two case types' rules may share a label: the note's case type decides
            case_type = _key_of(found.get("case_type", ""), CASE_TYPE_NAMES)
            args[name] = _key_of(value, {key: rule.label for key, rule in BY_KEY.items()
                                         if case_type not in CASE_TYPE_NAMES or rule.case_type == case_type})
        else:
            args[name] = value
    if None in args.values():
        return None
    expected = render(kind, args)
    if "start" in found and "-" in found["start"]:  # the start date as the note wrote it then
        expected = (expected[0], expected[1].replace(f"start {_danish_date(args['start'])})", f"start {found['start']})"))
    return args if expected == (title, body or "") else None
