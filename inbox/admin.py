"""The administration area (issue 13): users and roles, policies within the law, the
audit log, and (for the national administrator) registering municipalities.

A municipality's administrator (``User.is_admin``) sees and changes only their own
municipality: a user, policy version or audit row of another municipality does not
exist for them (404); any other user gets 403. A national administrator
(``User.is_national_admin``, no municipality) registers municipalities and sees every
municipality's models and policy versions, and no municipality's users, cases or audit.
The domain work is in :mod:`processes.users`, :mod:`processes.policy_changes` and
:mod:`processes.municipalities`; this module only checks access and renders.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from inbox.access import current_actor, current_user, login_required, runtime
from inbox.security import wall_now
from processes import timekeeping, users
from processes.errors import Forbidden, InvalidInput
from processes.models import Municipality, User
from processes.roles import ROLES

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _admin() -> User:
    return users.require_admin(current_user())


def _national() -> User:
    user = current_user()
    if user is None or not user.is_national_admin or not user.active:
        raise Forbidden("this needs the national administrator")
    return user


@bp.route("/")
@login_required
def index():
    if current_user().is_national_admin:
        return redirect(url_for("admin.municipalities"))
    _admin()
    return redirect(url_for("admin.user_list"))


# ------------------------------------------------------------------ users and roles
def _roles_from_form() -> list[str]:
    return [r for r in request.form.getlist("roles") if r in ROLES]


@bp.route("/brugere", methods=["GET", "POST"])
@login_required
def user_list():
    """The municipality's users; the form creates one with a one-time password."""
    admin = _admin()
    errors, values, created, password, status = {}, {}, None, None, 200
    if request.method == "POST":
        values = {"username": request.form.get("username", ""), "full_name": request.form.get("full_name", ""),
                  "roles": _roles_from_form(), "is_admin": request.form.get("is_admin") == "ja"}
        try:
            with runtime().sessions.begin() as db:
                municipality = db.get(Municipality, admin.municipality_id)
                user, password = users.create_user(db, current_actor(), municipality, values["username"],
                                                   values["full_name"], values["roles"], timekeeping.now(db),
                                                   is_admin=values["is_admin"])
                created = user.username
            values = {}
        except InvalidInput as exc:
            errors, status = exc.errors, 422
    with runtime().sessions() as db:
        rows = users.users_of(db, admin.municipality_id)
    # The one-time password is rendered into this response only: never flashed (the
    # session cookie is signed, not encrypted) and never stored in clear.
    return render_template("admin/users.html", users=rows, roles=ROLES, errors=errors, values=values,
                           created=created, password=password), status


def _user_page(user_id: int, password: str | None = None, errors: dict | None = None):
    admin = _admin()
    with runtime().sessions() as db:
        user = users.user_for(db, admin, user_id)
        tokens = users.token_count(db, user, wall_now())
        sessions = users.session_count(db, user, wall_now())
    return render_template("admin/user.html", person=user, roles=ROLES, password=password, errors=errors or {},
                           tokens=tokens, sessions=sessions, is_self=user.id == admin.id), 422 if errors else 200


@bp.route("/brugere/<int:user_id>")
@login_required
def user_detail(user_id: int):
    return _user_page(user_id)


def _change(user_id: int, change, message: str):
    """Run ``change(db, user, now)`` on a user of the administrator's municipality."""
    admin = _admin()
    try:
        with runtime().sessions.begin() as db:
            result = change(db, users.user_for(db, admin, user_id), timekeeping.now(db))
    except InvalidInput as exc:
        return _user_page(user_id, errors=exc.errors or {"user": [exc.message]})
    if message:
        flash(message, "success")
    return result if result is not None else redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/brugere/<int:user_id>/roller", methods=["POST"])
@login_required
def user_roles(user_id: int):
    return _change(user_id, lambda db, user, now: users.set_roles(
        db, current_actor(), user, _roles_from_form(), now, is_admin=request.form.get("is_admin") == "ja"),
        _("Rollerne er gemt."))


@bp.route("/brugere/<int:user_id>/deaktiver", methods=["POST"])
@login_required
def user_deactivate(user_id: int):
    def change(db, user, now):
        released = users.deactivate(db, current_actor(), user, now, wall_now())
        flash(_("%(user)s er deaktiveret. %(n)s opgave(r) er lagt tilbage i rollernes indbakke, og teamlederen "
                "har fået besked.", user=user.username, n=len(released)), "success")
    return _change(user_id, change, "")


@bp.route("/brugere/<int:user_id>/aktiver", methods=["POST"])
@login_required
def user_reactivate(user_id: int):
    return _change(user_id, lambda db, user, now: users.reactivate(db, current_actor(), user, now),
                   _("Brugeren er aktiv igen."))


@bp.route("/brugere/<int:user_id>/engangskode", methods=["POST"])
@login_required
def user_password(user_id: int):
    """A new one-time password, shown once in this response (see :func:`user_list`)."""
    admin = _admin()
    with runtime().sessions.begin() as db:
        password = users.reset_password(db, current_actor(), users.user_for(db, admin, user_id),
                                        timekeeping.now(db), wall_now())
    return _user_page(user_id, password=password)


@bp.route("/brugere/<int:user_id>/log-ud", methods=["POST"])
@login_required
def user_end_access(user_id: int):
    def change(db, user, now):
        users.end_access(db, current_actor(), user, now, wall_now())
    return _change(user_id, change, _("Brugerens sessioner og API-nøgler er afsluttet."))


@bp.route("/brugere/<int:user_id>/fravaer", methods=["POST"])
@login_required
def user_absent(user_id: int):
    text = (request.form.get("until") or "").strip()
    try:
        until = date.fromisoformat(text) if text else None
    except ValueError:
        return _user_page(user_id, errors={"until": [_("Skriv en dato (ÅÅÅÅ-MM-DD).")]})
    return _change(user_id, lambda db, user, now: users.set_absent(db, current_actor(), user, until, now),
                   _("Fraværet er gemt.") if until else _("Brugeren er markeret som til stede."))
