"""Sign in and out (argon2 password hashes, signed session cookie) and the language switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from inbox.access import current_user, login_required, runtime
from inbox.i18n import LANGUAGES
from processes import timekeeping
from processes.engine import Actor, Engine
from processes.models import User

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()
# Verifying against a dummy hash for unknown users keeps the answer time the same, so
# response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not a password")


def check_password(username: str, password: str) -> User | None:
    with runtime().sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == username.strip()))
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.password_hash:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        Engine.audit(db, Actor.for_user(user), "user.login", user.municipality_id, None, None, {},
                     timekeeping.now(db))
        return user


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the inbox.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so
    ``/\t/evil.example`` or ``/\\evil.example`` would leave the site: only a plain path
    of printable characters without a scheme or host is followed.
    """
    if (target and target.startswith("/") and target.isprintable()
            and "\\" not in target and " " not in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not parts.path.startswith("//"):
            return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = check_password(request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            lang = session.get("lang")
            session.clear()
            session["user_id"] = user.id
            if lang:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")))
        error = _("Forkert brugernavn eller adgangskode.")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Du er logget ud."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/sprog", methods=["POST"])
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/api-noegle", methods=["GET", "POST"])
@login_required
def api_token():
    """Issue an API token for the signed-in user; it is shown once."""
    from inbox.tokens import issue_token
    token = None
    if request.method == "POST":
        with runtime().sessions.begin() as db:
            user = db.get(User, current_user().id)
            token = issue_token(db, user)
            Engine.audit(db, Actor.for_user(user), "user.token", user.municipality_id, None, None, {},
                         timekeeping.now(db))
    return render_template("api_token.html", token=token)
