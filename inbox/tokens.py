"""API tokens: random, shown once, stored as a SHA-256 digest in ``api_token``.

A token has 256 bits of entropy, so a fast digest is enough (and lets the API find the
user by an indexed lookup); passwords, which are guessable, use argon2 instead. A user
may hold several tokens (one per system that uses the API); each expires (90 days unless
chosen otherwise) and can be listed and revoked on the API key page or in the API.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from inbox import security
from processes.errors import NotFound
from processes.models import ApiToken, User

PREFIX = "sf_"
LIFETIME = timedelta(days=90)
LIFETIMES = (30, 90, 365)  # the choices (days) on the API key page


def issue_token(session: Session, user: User, name: str = "API-nøgle", lifetime: timedelta = LIFETIME) -> str:
    """Give ``user`` a new API token that expires after ``lifetime``; return it (shown once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = security.wall_now()
    session.add(ApiToken(user_id=user.id, token_hash=security.digest(token), name=name[:100], created_at=now,
                         expires_at=now + lifetime))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The user of a valid token: known, not revoked and not expired."""
    if not token or not token.startswith(PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == security.digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= security.wall_now():
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones too, marked as such)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (repeating it changes nothing); others' ids are 404."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"API token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = security.wall_now()
    return row


def token_state(row: ApiToken) -> str:
    """``aktiv``, ``udloebet`` (expired) or ``tilbagekaldt`` (revoked)."""
    if row.revoked_at is not None:
        return "tilbagekaldt"
    return "udloebet" if row.expires_at <= security.wall_now() else "aktiv"
