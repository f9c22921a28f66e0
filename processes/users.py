"""Users and their roles, managed by a municipality's administrator (web and CLI alike).

Every change is audited with who made it. A municipality's administrator manages only
the users of their own municipality (any other user does not exist for them:
:class:`NotFound`). Passwords are argon2 hashes; an administrator never chooses a
user's password but sets a random one-time password that the user must replace at the
next sign-in (:attr:`User.must_change_password`).

Deactivating a user ends their sessions and API tokens at once, returns the open tasks
they had claimed to their role's shared inbox, and tells the municipality's teamleder
(a notification written in the same transaction).
"""
from __future__ import annotations

import re
import secrets
from datetime import date, datetime

from argon2 import PasswordHasher
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from processes import absence, notices
from processes.engine import Actor, Engine
from processes.errors import Forbidden, InvalidInput, NotFound
from processes.models import ApiToken, HumanTask, LoginSession, Municipality, Notification, User, UserRole
from processes.roles import ROLES

PASSWORD_MIN_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,99}$")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class PasswordRefused(InvalidInput):
    """A password the user chose is refused; ``reason`` is one of ``too_short``,
    ``has_username``, ``unusable``, ``not_new`` (the pages word it in the user's language)."""

    def __init__(self, reason: str):
        super().__init__(f"password refused: {reason}", {"password": [reason]})
        self.reason = reason


def password_problem(username: str, password: str) -> str | None:
    """Why a password a user chose is refused (a :class:`PasswordRefused` reason), or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return "too_short"
    if username.lower() in password.lower():
        return "has_username"
    if "\x00" in password or len(password) > 200:
        return "unusable"
    return None


def one_time_password() -> str:
    """A random password to hand over once (16 characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def require_admin(user: User | None) -> User:
    """The signed-in user if they administer a municipality (403 otherwise)."""
    if user is None or not user.is_admin or user.municipality_id is None or not user.active:
        raise Forbidden("this needs a municipality's administrator")
    return user


def user_for(session: Session, admin: User, user_id: int) -> User:
    """A user of the administrator's municipality; any other id is 404."""
    found = session.get(User, user_id)
    if found is None or admin.municipality_id is None or found.municipality_id != admin.municipality_id:
        raise NotFound(f"user {user_id} not found")
    return found


def by_username(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    if found is None:
        raise NotFound(f"unknown user {username!r}")
    return found


def users_of(session: Session, municipality_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.municipality_id == municipality_id)
                                .order_by(User.username)))


def token_count(session: Session, user: User, wall_now: datetime) -> int:
    """How many of the user's API tokens still work."""
    return len(list(session.scalars(select(ApiToken.id).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > wall_now))))


def session_count(session: Session, user: User, wall_now: datetime) -> int:
    """How many browser sessions of the user are open."""
    return len(list(session.scalars(select(LoginSession.id).where(
        LoginSession.user_id == user.id, LoginSession.expires_at > wall_now))))


def _check_roles(roles) -> list[str]:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(unknown)}", {"roles": ["Ukendt rolle."]})
    return roles


def create_user(session: Session, actor: Actor, municipality: Municipality | None, username: str, full_name: str,
                roles, now: datetime, is_admin: bool = False, national: bool = False) -> tuple[User, str]:
    """A new user with a one-time password (returned, shown once; never stored in clear).

    ``national`` makes a national administrator (no municipality, no roles)."""
    username = (username or "").strip().lower()
    full_name = (full_name or "").strip()
    errors: dict[str, list[str]] = {}
    if not USERNAME.match(username):
        errors["username"] = ["Brugernavnet skal være 3-100 tegn: små bogstaver, tal, punktum, bindestreg."]
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = ["Brugernavnet er i brug."]
    if not full_name or len(full_name) > 200 or "\x00" in full_name:
        errors["full_name"] = ["Skriv navnet (højst 200 tegn)."]
    if errors:
        raise InvalidInput(f"user {username!r} not created", errors)
    if national and (municipality is not None or roles):
        raise InvalidInput("a national administrator has no municipality and no roles")
    if not national and municipality is None:
        raise InvalidInput("a user belongs to a municipality")
    roles = _check_roles(roles)
    password = one_time_password()
    user = User(municipality_id=municipality.id if municipality else None, username=username, full_name=full_name,
                password_hash=hash_password(password), is_admin=is_admin and not national,
                is_national_admin=national, active=True, must_change_password=True, created_at=now)
    user.roles = [UserRole(role_key=r) for r in roles]
    session.add(user)
    session.flush()
    Engine.audit(session, actor, "user.create", user.municipality_id, None, None,
                 {"user": username, "roles": roles, "admin": user.is_admin, "national": national}, now)
    return user, password


def set_roles(session: Session, actor: Actor, user: User, roles, now: datetime, is_admin: bool | None = None) -> None:
    """Give ``user`` exactly ``roles`` (and, if given, the administrator flag); audited."""
    roles = _check_roles(roles)
    old = sorted(user.role_keys)
    detail = {"user": user.username, "from": old, "to": roles}
    if is_admin is not None and is_admin != user.is_admin:
        if not is_admin and actor.user_id == user.id:
            raise InvalidInput("you cannot remove your own administrator right",
                               {"is_admin": ["Du kan ikke fjerne din egen administratorret."]})
        detail["admin"] = [user.is_admin, is_admin]
        user.is_admin = is_admin
    if old == roles and "admin" not in detail:
        return
    keep = [r for r in user.roles if r.role_key in roles]
    user.roles = keep + [UserRole(role_key=r) for r in roles if r not in {k.role_key for k in keep}]
    Engine.audit(session, actor, "user.roles", user.municipality_id, None, None, detail, now)


def end_access(session: Session, actor: Actor, user: User, now: datetime, wall_now: datetime) -> dict:
    """End every browser session and revoke every API token of ``user``; audited."""
    sessions = session.execute(delete(LoginSession).where(LoginSession.user_id == user.id)).rowcount
    tokens = session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=wall_now)).rowcount
    detail = {"user": user.username, "sessions": sessions, "tokens": tokens}
    Engine.audit(session, actor, "user.access_ended", user.municipality_id, None, None, detail, now)
    return detail


def deactivate(session: Session, actor: Actor, user: User, now: datetime, wall_now: datetime) -> list[HumanTask]:
    """Stop ``user``: no sign-in, sessions and tokens ended, claimed open tasks back to
    their role's inbox, the teamleder told. Returns the tasks released."""
    if actor.user_id == user.id:
        raise InvalidInput("you cannot deactivate yourself", {"user": ["Du kan ikke deaktivere dig selv."]})
    if not user.active:
        return []
    user.active = False
    end_access(session, actor, user, now, wall_now)
    released = list(session.scalars(select(HumanTask).where(HumanTask.claimed_by_id == user.id,
                                                            HumanTask.state == "open")
                                    .order_by(HumanTask.id).with_for_update()))
    for task in released:
        task.claimed_by_id = None
        task.revision += 1
        Engine.audit(session, actor, "task.unclaim", task.municipality_id, task.case_id, task.instance_id,
                     {"task": task.bpmn_id, "why": "user.deactivate", "user": user.username}, now)
    Engine.audit(session, actor, "user.deactivate", user.municipality_id, None, None,
                 {"user": user.username, "released_tasks": [t.id for t in released]}, now)
    if user.municipality_id is not None:
        # Written here, not through the outbox: nothing leaves the system, and the note
        # must exist exactly when the deactivation does.
        args = {"user": user.full_name, "username": user.username, "count": len(released),
                "released": [[t.process_id, t.bpmn_id, t.name, t.role] for t in released[:20]]}
        title, body = notices.render("user_deactivated", args)
        session.add(Notification(municipality_id=user.municipality_id, recipient_role="teamleder",
                                 kind="user_deactivated", title=title, body=body, args=args, created_at=now))
    return released


def reactivate(session: Session, actor: Actor, user: User, now: datetime) -> None:
    if user.active:
        return
    user.active = True
    Engine.audit(session, actor, "user.reactivate", user.municipality_id, None, None, {"user": user.username}, now)


def reset_password(session: Session, actor: Actor, user: User, now: datetime, wall_now: datetime) -> str:
    """A new one-time password (returned, shown once); the user's sessions and tokens end."""
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    end_access(session, actor, user, now, wall_now)
    Engine.audit(session, actor, "user.password_reset", user.municipality_id, None, None,
                 {"user": user.username}, now)
    return password


def change_own_password(session: Session, user: User, new_password: str, now: datetime) -> None:
    """The user chooses their own password (after a one-time one); audited."""
    problem = password_problem(user.username, new_password)
    if problem:
        raise PasswordRefused(problem)
    try:
        _hasher.verify(user.password_hash or "", new_password)
        same = True
    except Exception:  # noqa: BLE001 - any failure to verify means it differs
        same = False
    if same:
        raise PasswordRefused("not_new")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    Engine.audit(session, Actor.for_user(user), "user.password_changed", user.municipality_id, None, None,
                 {"user": user.username}, now)


def set_absent(session: Session, actor: Actor, user: User, until: date | None, now: datetime,
               start: date | None = None, substitute: User | None = None) -> dict[str, int]:
    """Mark ``user`` away from ``start`` (None: at once) up to and including ``until``
    (None: present), with an optional substitute of the same municipality. Owner tasks
    of their cases go to the substitute or the role meanwhile and come back after
    (:mod:`processes.absence`, run here at once and by the worker). Audited."""
    if until is not None and start is not None and start > until:
        raise InvalidInput("the absence ends before it starts", {"from": ["Fraværet slutter, før det begynder."]})
    if substitute is not None and (substitute.id == user.id or substitute.municipality_id != user.municipality_id
                                   or not substitute.active):
        raise InvalidInput("the substitute must be another active user of the municipality",
                           {"substitute": ["Vælg en anden aktiv medarbejder i kommunen som stedfortræder."]})
    user.absent_until = until
    user.absent_from = start if until is not None else None
    user.substitute_id = substitute.id if substitute is not None and until is not None else None
    Engine.audit(session, actor, "user.absent", user.municipality_id, None, None,
                 {"user": user.username, "from": start.isoformat() if start and until else None,
                  "until": until.isoformat() if until else None,
                  "substitute": substitute.username if substitute is not None and until else None}, now)
    session.flush()
    return absence.sync(session, now, user.municipality_id)
