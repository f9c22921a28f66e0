"""Sign in and out (argon2 password hashes, server-side sessions, throttled failures),
API keys, and the language switch. See :mod:`inbox.security`."""
from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from inbox import security, tokens
from inbox.access import current_user, login_required, runtime
from inbox.i18n import LANGUAGES
from processes import timekeeping, users
from processes.engine import Actor, Engine
from processes.models import User

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()
# Verifying against a dummy hash for unknown users keeps the answer time the same, so
# response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not a password")


def check_password(username: str, password: str, address: str) -> tuple[User | None, timedelta]:
    """The user if the password is right, and how long this account or address must
    still wait (then the password is not checked). Failures are counted and audited."""
    username = username.strip()[:100]
    with runtime().sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == username))
        wait = security.login_wait(db, username, address)
        if wait > timedelta(0):
            security.record_refusal(db, username, address, wait, user)
            return None, wait
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            security.record_failure(db, username, address, user)
            return None, timedelta(0)
        if user is None or not user.password_hash or not user.active:
            security.record_failure(db, username, address, user)
            return None, timedelta(0)
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        security.record_success(db, username)
        Engine.audit(db, Actor.for_user(user), "user.login", user.municipality_id, None, None, {},
                     timekeeping.now(db))
        return user, timedelta(0)


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


# Roles whose work is not in the inbox: a user with only these starts on their own page.
OWN_SURFACE = (("leder", "analytics.overview"), ("procesdesigner", "studio.index"))


def landing(roles: set[str]) -> str:
    """Where a user starts after signing in: the inbox, unless none of their roles has
    tasks (a leder starts on the Overblik, a procesdesigner in the studio)."""
    if roles - {role for role, _ in OWN_SURFACE}:
        return url_for("inbox.index")
    return next((url_for(endpoint) for role, endpoint in OWN_SURFACE if role in roles), url_for("inbox.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        user, wait = check_password(request.form.get("username", ""), request.form.get("password", ""),
                                    (request.remote_addr or "ukendt")[:64])
        if user is not None:
            lang = session.get("lang")
            _close_session()
            with runtime().sessions.begin() as db:
                session["sid"] = security.open_session(db, user)
            if lang:
                session["lang"] = lang
            if user.must_change_password:
                return redirect(url_for("auth.change_password", next=request.args.get("next")))
            if user.municipality_id is None and not request.args.get("next"):
                return redirect(url_for("admin.municipalities"))  # a national administrator
            if not request.args.get("next"):
                return redirect(landing(user.role_keys))
            return redirect(_safe_next(request.args.get("next")))
        if wait:
            seconds = math.ceil(wait.total_seconds())
            error, status = _("For mange forkerte forsøg. Prøv igen om %(n)s sekunder.", n=seconds), 429
            response = make_response(render_template("login.html", error=error), status)
            response.headers["Retry-After"] = str(seconds)
            return response
        error, status = _("Forkert brugernavn eller adgangskode."), 401
    return render_template("login.html", error=error), status


def _close_session() -> None:
    """End the server-side session (its cookie stops working) and clear the cookie."""
    with runtime().sessions.begin() as db:
        security.close_session(db, session.get("sid"))
    session.clear()


@bp.route("/logout", methods=["POST"])
def logout():
    lang = session.get("lang")
    _close_session()
    if lang:
        session["lang"] = lang
    flash(_("Du er logget ud."), "info")
    return redirect(url_for("auth.login"))


_PASSWORD_REFUSED = {
    "too_short": _l("Adgangskoden skal have mindst %(n)s tegn."),
    "has_username": _l("Adgangskoden må ikke indeholde brugernavnet."),
    "unusable": _l("Adgangskoden kan ikke bruges."),
    "not_new": _l("Vælg en ny adgangskode, ikke engangskoden."),
}


@bp.route("/adgangskode", methods=["GET", "POST"])
@login_required
def change_password():
    """Choose one's own password; required after a one-time password (see
    :func:`inbox.access.login_required`)."""
    error = None
    if request.method == "POST":
        new, again = request.form.get("password", ""), request.form.get("password_again", "")
        if new != again:
            error = _("De to adgangskoder er ikke ens.")
        else:
            try:
                with runtime().sessions.begin() as db:
                    users.change_own_password(db, db.get(User, current_user().id), new, timekeeping.now(db))
            except users.PasswordRefused as exc:
                error = str(_PASSWORD_REFUSED[exc.reason]) % {"n": users.PASSWORD_MIN_LENGTH}
            else:
                flash(_("Din adgangskode er skiftet."), "success")
                return redirect(_safe_next(request.args.get("next")))
    return render_template("password.html", error=error, forced=current_user().must_change_password,
                           min_length=users.PASSWORD_MIN_LENGTH), 422 if error else 200


@bp.route("/sprog", methods=["POST"])
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/api-noegle", methods=["GET", "POST"])
@login_required
def api_token():
    """The signed-in user's API tokens; a new one is shown once."""
    token = None
    if request.method == "POST":
        name = (request.form.get("name") or "").strip()[:100] or _("API-nøgle")
        days = request.form.get("days", type=int)
        days = days if days in tokens.LIFETIMES else tokens.LIFETIME.days
        with runtime().sessions.begin() as db:
            user = db.get(User, current_user().id)
            token = tokens.issue_token(db, user, name, timedelta(days=days))
            Engine.audit(db, Actor.for_user(user), "user.token", user.municipality_id, None, None,
                         {"name": name, "days": days}, timekeeping.now(db))
    with runtime().sessions() as db:
        rows = tokens.tokens_of(db, current_user())
    return render_template("api_token.html", token=token, tokens=rows, state=tokens.token_state,
                           lifetimes=tokens.LIFETIMES, default_days=tokens.LIFETIME.days)


@bp.route("/api-noegle/<int:token_id>/tilbagekald", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    revoke(current_user(), token_id)
    flash(_("API-nøglen er tilbagekaldt."), "success")
    return redirect(url_for("auth.api_token"))


def revoke(user: User, token_id: int):
    """Revoke one of ``user``'s tokens (404 for any other id) and audit it."""
    with runtime().sessions.begin() as db:
        row = tokens.revoke_token(db, user, token_id)
        Engine.audit(db, Actor.for_user(user), "user.token_revoke", user.municipality_id, None, None,
                     {"token": row.id, "name": row.name}, timekeeping.now(db))
        return row
