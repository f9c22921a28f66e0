"""API tokens: random, shown once, stored as a SHA-256 digest in ``app_user.api_token_hash``.

A token has 256 bits of entropy, so a fast digest is enough (and lets the API find the
user by an indexed lookup); passwords, which are guessable, use argon2 instead.
"""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.models import User

PREFIX = "sf_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User) -> str:
    """Give ``user`` a new API token (the old one stops working) and return it."""
    token = PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = digest(token)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token or not token.startswith(PREFIX):
        return None
    return session.scalar(select(User).where(User.api_token_hash == digest(token)))
