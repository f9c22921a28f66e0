"""Who may see and do what. Every page and endpoint goes through these checks.

- A task or case of another municipality does not exist for the user: :class:`NotFound`
  (404), so ids of other municipalities leak nothing.
- A task needs one of the user's roles (403 otherwise).
- A case is visible to the users of its municipality who hold a role that has, or had,
  a task in the case or that a task of the case's models names (a role on the case
  type), to the user who started it, and to a teamleder (403 otherwise).
- A task is readable by whoever holds its role, by a teamleder (any task of the
  team), and, once it is done, by whoever may see its case (earlier steps).
"""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, redirect, request, session as web_session, url_for
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from inbox.security import session_user_id
from processes.engine import Actor
from processes.errors import Forbidden, NotFound
from processes.models import AuditEvent, Case, HumanTask, ModelVersion, ProcessInstance, User

TEAMLEDER = "teamleder"
LEDER = "leder"  # managers: figures (inbox/analytics.py), never task forms
STARTS_CASES = "sagsbehandler"


def runtime():
    return current_app.extensions["sagsflow"]


def current_user() -> User | None:
    """The signed-in user: the cookie's session token must name an open server-side
    session (:mod:`inbox.security`), so a cookie kept after signing out is worthless."""
    if "user" not in g:
        with runtime().sessions() as session:
            user_id = session_user_id(session, web_session.get("sid"))
            user = session.get(User, user_id) if user_id is not None else None
            g.user = user if user is not None and user.active else None
    return g.user


def current_actor() -> Actor:
    return Actor.for_user(current_user())


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if user.must_change_password and request.endpoint != "auth.change_password":
            return redirect(url_for("auth.change_password", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapper


def task_for(session: Session, actor: Actor, task_id: int, need_role: bool = True) -> HumanTask:
    task = session.get(HumanTask, task_id, populate_existing=True)
    if task is None or task.municipality_id != actor.municipality_id:
        raise NotFound(f"task {task_id} not found")
    if need_role and task.role not in actor.roles:
        raise Forbidden(f"task {task_id} needs the role {task.role!r}")
    return task


def case_for(session: Session, actor: Actor, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None or case.municipality_id != actor.municipality_id:
        raise NotFound(f"case {case_id} not found")
    if TEAMLEDER in actor.roles:
        return case
    involved = session.scalar(select(exists().where(HumanTask.case_id == case_id,
                                                    HumanTask.role.in_(sorted(actor.roles)))))
    if not involved:
        involved = session.scalar(select(exists().where(AuditEvent.case_id == case_id,
                                                        AuditEvent.action == "case.start",
                                                        AuditEvent.actor == actor.name)))
    if not involved:
        involved = bool(actor.roles & case_type_roles(session, case_id))
    if not involved:
        raise Forbidden(f"case {case_id} has no task for your roles")
    return case


def case_type_roles(session: Session, case_id: int) -> set[str]:
    """The roles the tasks of the case's process models name (the roles on its case types)."""
    roles: set[str] = set()
    versions = select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case_id)
    for meta in session.scalars(select(ModelVersion.metadata_json).where(ModelVersion.id.in_(versions))):
        roles.update(t.get("role") for t in (meta or {}).get("tasks", {}).values())
    return roles


def readable_task(session: Session, actor: Actor, task_id: int) -> HumanTask:
    """A task ``actor`` may open: with its role, as the team's teamleder, or a finished
    task of a case they may see (404 outside the municipality, 403 otherwise)."""
    task = task_for(session, actor, task_id, need_role=False)
    if task.role in actor.roles or TEAMLEDER in actor.roles:
        return task
    if task.state == "open":
        raise Forbidden(f"task {task_id} needs the role {task.role!r}")
    case_for(session, actor, task.case_id)
    return task


def instance_for(session: Session, actor: Actor, case_id: int, instance_id: int) -> ProcessInstance:
    case_for(session, actor, case_id)
    row = session.get(ProcessInstance, instance_id)
    if row is None or row.case_id != case_id:
        raise NotFound(f"process instance {instance_id} not found")
    return row


def require_role(actor: Actor, role: str) -> None:
    if role not in actor.roles:
        raise Forbidden(f"this needs the role {role!r}")
