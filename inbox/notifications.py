"""Notifications in the web app: the "Beskeder" page, the unread count in the top
navigation, and marking notes read. The worker writes them (``worker/escalation.py``,
``worker/outbox.py``); this module only reads them and records that they were read.

Who sees a notification (always only in the user's own municipality):

- the user it names (``user_id``),
- every user holding its ``recipient_role``,
- for ``recipient_role == "admin"``: the municipality's administrators (``is_admin``);
  ``recipient_role == ""`` is a note to the named user only (a task given to them).

Any other id, another municipality's included, answers 404: a note not addressed to you
does not exist for you. The read state is the note's (``read_at``), like a task in a
role's queue: a note to a role is read for the role once one holder has dealt with it.
Marking read is written to the audit log with the user.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, gettext as _, lazy_gettext as _l
from marshmallow import Schema, fields, validate
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from inbox.access import current_user, login_required, runtime
from inbox.auth import _safe_next
from inbox.formatting import (case_type_name, language, local_datetime, local_day, role_name, rule_name,
                              task_name)
from inbox.limits import MAX_PAGE, page_number
from processes import notices, timekeeping
from processes.engine import Actor, Engine
from processes.errors import NotFound
from processes.models import HumanTask, Notification, User

bp = Blueprint("notifications", __name__)

ADMINISTRATORS = "admin"
PER_PAGE = 50
KIND_LABELS = {
    "due_soon": _l("Frist nærmer sig"),
    "deadline_breach": _l("Frist overskredet"),
    "target_soon": _l("Servicemål nærmer sig"),
    "target_breach": _l("Servicemål overskredet"),
    "delivery_failed": _l("Levering mislykkedes"),
    "user_deactivated": _l("Bruger deaktiveret"),
    "task_reassigned": _l("Opgave givet til dig"),
    "task_overdue": _l("Din frist er overskredet"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def note_texts(note: Notification, task: HumanTask | None) -> tuple[str, str]:
    """A note's title and body in the page's language: rendered from what it was made of
    (``args``) when the note keeps it; else the Danish it was stored with, and in English
    a note about a task is titled by the task's English name (the kind's label beside it
    says what happened to it)."""
    if note.args is None or note.kind not in notices.TEXTS:
        return (task_name(task) if task is not None and language() == "en" else note.title), note.body

    def task_text(danish: str) -> str:
        return task_name(task) if task is not None and task.name == danish else danish

    def released_task(row: list) -> str:
        process_id, bpmn_id, danish = row[0], row[1], row[2]
        return task_name(SimpleNamespace(process_id=process_id, bpmn_id=bpmn_id, name=danish,
                                         municipality_id=note.municipality_id))

    title, body = notices.render(
        note.kind, note.args, translate=gettext,
        datetime_text=lambda text: local_datetime(datetime.fromisoformat(text)),
        date_text=lambda text: local_day(text), rule=rule_name, case_type=lambda key: case_type_name(key).lower(),
        target=rule_name if language() == "en" else notices.danish_target, task=task_text,
        released_task=released_task, role=role_name)
    return title, body


def addressed_to(user: User):
    """The SQL condition: notifications ``user`` may see."""
    recipients = [Notification.user_id == user.id]
    roles = sorted(user.role_keys - {ADMINISTRATORS})
    if roles:
        recipients.append(Notification.recipient_role.in_(roles))
    if user.is_admin:
        recipients.append(Notification.recipient_role == ADMINISTRATORS)
    return and_(Notification.municipality_id == user.municipality_id, or_(*recipients))


def unread_count(db: Session, user: User) -> int:
    return db.scalar(select(func.count(Notification.id))
                     .where(addressed_to(user), Notification.read_at.is_(None))) or 0


@dataclass
class NotificationPage:
    items: list[Notification]
    total: int
    unread: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def notification_page(db: Session, user: User, page: int = 1, per_page: int = PER_PAGE,
                      unread_only: bool = False) -> NotificationPage:
    """The user's notifications, newest first."""
    where = [addressed_to(user)] + ([Notification.read_at.is_(None)] if unread_only else [])
    total = db.scalar(select(func.count(Notification.id)).where(*where)) or 0
    items = list(db.scalars(select(Notification).where(*where)
                            .order_by(Notification.created_at.desc(), Notification.id.desc())
                            .limit(per_page).offset((page - 1) * per_page)))
    return NotificationPage(items, total, unread_count(db, user), page, per_page)


def notification_for(db: Session, user: User, notification_id: int) -> Notification:
    note = db.scalar(select(Notification).where(Notification.id == notification_id, addressed_to(user)))
    if note is None:
        raise NotFound(f"notification {notification_id} not found")
    return note


def mark_read(db: Session, user: User, notification_id: int | None = None) -> int:
    """Mark one notification (404 unless addressed to ``user``) or all of the user's
    unread ones as read; audit it; return how many changed."""
    now = timekeeping.now(db)
    if notification_id is not None:
        note = notification_for(db, user, notification_id)
        ids, case_id = ([note.id] if note.read_at is None else []), note.case_id
    else:
        ids = list(db.scalars(select(Notification.id).where(addressed_to(user), Notification.read_at.is_(None))))
        case_id = None
    if not ids:
        return 0
    db.execute(update(Notification).where(Notification.id.in_(ids), Notification.read_at.is_(None))
               .values(read_at=now).execution_options(synchronize_session=False))
    Engine.audit(db, Actor.for_user(user), "notification.read", user.municipality_id, case_id, None,
                 {"notifications": ids}, now)
    return len(ids)


@bp.app_context_processor
def _navigation():
    def unread_notifications() -> int:
        user = current_user()
        if user is None:
            return 0
        with runtime().sessions() as db:
            return unread_count(db, user)
    return {"unread_notifications": unread_notifications, "notification_kind": kind_label}


@bp.app_template_filter("note_texts")
def _note_texts(note: Notification, tasks: dict) -> tuple[str, str]:
    return note_texts(note, tasks.get(note.task_id))


@bp.route("/beskeder")
@login_required
def index():
    page = page_number(request.args.get("side"))
    with runtime().sessions() as db:
        result = notification_page(db, current_user(), page)
        # The tasks the notes are about: their names in the reader's language title them.
        ids = {note.task_id for note in result.items if note.task_id}
        tasks = {t.id: t for t in db.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))} if ids else {}
    return render_template("notifications.html", page=result, note_tasks=tasks)


def _back():
    return redirect(_safe_next(request.form.get("next") or url_for("notifications.index")))


@bp.route("/beskeder/<int:notification_id>/laest", methods=["POST"])
@login_required
def read(notification_id: int):
    with runtime().sessions.begin() as db:
        mark_read(db, current_user(), notification_id)
    flash(_("Beskeden er markeret som læst."), "success")
    return _back()


@bp.route("/beskeder/laest", methods=["POST"])
@login_required
def read_all():
    with runtime().sessions.begin() as db:
        mark_read(db, current_user())
    flash(_("Alle dine beskeder er markeret som læst."), "success")
    return _back()


# ---------------------------------------------------------------- REST API schemas
class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "due_soon, deadline_breach, target_soon, target_breach or delivery_failed"})
    kind_label = fields.Function(lambda n: kind_label(n.kind), metadata={"description": "The kind in words"})
    title = fields.String(metadata={"description": "Danish, as written by the worker"})
    body = fields.String()
    recipient_role = fields.String(metadata={"description": "A role key, `admin`: the administrators, "
                                                            "or empty: only the named user"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "Also addressed to this user"})
    case_id = fields.Integer(allow_none=True)
    task_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True, metadata={"description": "Null while unread"})


class NotificationListArgs(Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread notifications."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=PER_PAGE, validate=validate.Range(min=1, max=200))


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    total = fields.Integer()
    unread = fields.Integer(metadata={"description": "All my unread notifications (for a badge)"})
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class MarkedReadSchema(Schema):
    marked = fields.Integer(metadata={"description": "How many changed from unread to read"})
    unread = fields.Integer()
