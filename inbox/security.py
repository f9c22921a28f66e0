"""Sign-in security: server-side sessions, failed-login throttling, response headers.

- A signed-in browser holds a random session token in its (signed) cookie; the server
  keeps the token's SHA-256 digest in ``login_session``. Signing out deletes the row, so
  a cookie captured before that stops working; a session also ends after
  :data:`SESSION_LIFETIME`.
- Failed sign-ins are counted per account and per client address over :data:`WINDOW`.
  From the ``slow_after``-th failure on, the next try must wait (1, 2, 4 … seconds, at most
  :data:`MAX_DELAY`); at ``lock_after`` failures the account or address is locked for
  :data:`LOCKOUT`. A refused try does not check the password. Every failure, refusal
  and lock is written to the audit log.
- Every response carries a Content-Security-Policy without inline script, frame-ancestors
  ``'none'``, ``nosniff`` and a Referrer-Policy; over HTTPS the session cookie is
  ``Secure`` and HSTS is sent.

Security times use the wall clock (:func:`wall_now`), never an installation's virtual
case clock, which a demo moves by weeks.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from processes.engine import Actor, Engine
from processes.models import LoginFailure, LoginSession, User

SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MAX_DELAY = timedelta(seconds=60)


@dataclass(frozen=True)
class Limit:
    slow_after: int
    lock_after: int


ACCOUNT = Limit(slow_after=3, lock_after=10)
ADDRESS = Limit(slow_after=20, lock_after=30)


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ------------------------------------------------------------- login sessions
def open_session(db: Session, user: User) -> str:
    """Record a new sign-in of ``user``; return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = wall_now()
    db.add(LoginSession(id=digest(token), user_id=user.id, created_at=now, expires_at=now + SESSION_LIFETIME))
    return token


def session_user_id(db: Session, token: str | None) -> int | None:
    """The user signed in with ``token``, if the session is still open."""
    if not token or not isinstance(token, str):
        return None
    row = db.get(LoginSession, digest(token))
    if row is None or row.expires_at <= wall_now():
        return None
    return row.user_id


def close_session(db: Session, token: str | None) -> None:
    if token and isinstance(token, str):
        db.execute(delete(LoginSession).where(LoginSession.id == digest(token)))


# ------------------------------------------------------------ login throttling
def _wait(db: Session, column, value: str, limit: Limit, now: datetime) -> tuple[timedelta, int]:
    """How long ``value`` (an account or address) must wait, and how many failures it had
    within :data:`WINDOW` before its last one (so a lock lasts its full :data:`LOCKOUT`)."""
    last = db.scalar(select(func.max(LoginFailure.at))
                     .where(column == value, LoginFailure.at > now - WINDOW - LOCKOUT))
    if last is None:
        return timedelta(0), 0
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    count = db.scalar(select(func.count()).where(column == value, LoginFailure.at > last - WINDOW))
    if count < limit.slow_after:
        return timedelta(0), count
    if count >= limit.lock_after:
        return last + LOCKOUT - now, count
    return last + min(MAX_DELAY, timedelta(seconds=2 ** (count - limit.slow_after))) - now, count


def login_wait(db: Session, username: str, address: str) -> timedelta:
    """How long this account and address must wait before the password is checked."""
    now = wall_now()
    by_account, _ = _wait(db, LoginFailure.username, username, ACCOUNT, now)
    by_address, _ = _wait(db, LoginFailure.address, address, ADDRESS, now)
    return max(by_account, by_address, timedelta(0))


def record_failure(db: Session, username: str, address: str, user: User | None) -> None:
    """Count a failed sign-in and audit it (and the lock it causes, if any)."""
    now = wall_now()
    db.execute(delete(LoginFailure).where(LoginFailure.at < now - WINDOW - LOCKOUT))
    db.add(LoginFailure(username=username, address=address, at=now))
    db.flush()
    detail = {"username": username, "address": address}
    municipality_id = user.municipality_id if user is not None else None
    Engine.audit(db, Actor.system("login"), "user.login_failed", municipality_id, None, None, detail, now)
    for column, value, limit, scope in ((LoginFailure.username, username, ACCOUNT, "account"),
                                        (LoginFailure.address, address, ADDRESS, "address")):
        _, count = _wait(db, column, value, limit, now)
        if count == limit.lock_after:
            Engine.audit(db, Actor.system("login"), "user.login_locked", municipality_id, None, None,
                         dict(detail, scope=scope, failures=count, until=now + LOCKOUT), now)


def record_refusal(db: Session, username: str, address: str, wait: timedelta, user: User | None) -> None:
    Engine.audit(db, Actor.system("login"), "user.login_throttled",
                 user.municipality_id if user is not None else None, None, None,
                 {"username": username, "address": address, "wait_seconds": math.ceil(wait.total_seconds())},
                 wall_now())


def record_success(db: Session, username: str) -> None:
    """A correct password clears the account's failures (not the address's)."""
    db.execute(delete(LoginFailure).where(LoginFailure.username == username))


# ------------------------------------------------------------ response headers
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def register(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.after_request(_headers)
