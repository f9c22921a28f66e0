"""The inbox page, claiming and releasing tasks, saved filters and the teamleder's team view."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from inbox.access import (
    TEAMLEDER, current_actor, current_user, login_required, require_role, runtime, task_for,
)
from inbox.auth import _safe_next
from inbox.formatting import task_name
from inbox.queries import InboxQuery, inbox_page, process_choices
from processes import timekeeping
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from processes.models import SavedFilter, User, UserRole

bp = Blueprint("inbox", __name__)


def _page(team: bool):
    actor = current_actor()
    query = InboxQuery.from_args(request.args, current_app.config["INBOX_PAGE_SIZE"])
    if team:
        from dataclasses import replace
        query = replace(query, team=True)
    with runtime().sessions() as db:
        virtual_now = timekeeping.virtual_now(db)
        now = virtual_now or timekeeping.now(db)
        page = inbox_page(db, actor, query, now)
        processes = process_choices(db, actor)
        saved = list(db.scalars(select(SavedFilter).where(SavedFilter.user_id == actor.user_id)
                                .order_by(SavedFilter.name)))
        colleagues = _colleagues(db, actor.municipality_id) if team else {}
    return render_template("inbox.html", page=page, query=query, processes=processes, saved=saved,
                           team=team, colleagues=colleagues, now=now, virtual_clock=virtual_now is not None)


def _colleagues(db, municipality_id: int) -> dict[str, list[User]]:
    """Users of the municipality by role (whom a teamleder can give a task to)."""
    by_role: dict[str, list[User]] = {}
    users = db.scalars(select(User).where(User.municipality_id == municipality_id, User.active.is_(True))
                       .order_by(User.full_name))
    for user in users:
        for role in user.role_keys:
            by_role.setdefault(role, []).append(user)
    return by_role


@bp.route("/")
@login_required
def index():
    if current_user().is_national_admin:  # no municipality, so no inbox: their home is the register
        return redirect(url_for("admin.municipalities"))
    return _page(team=False)


@bp.route("/team")
@login_required
def team():
    require_role(current_actor(), TEAMLEDER)
    return _page(team=True)


def _back():
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/opgaver/<int:task_id>/tag", methods=["POST"])
@login_required
def claim(task_id: int):
    try:
        task = runtime().engine.claim_task(task_id, current_actor())
        flash(_("Du har taget opgaven »%(name)s«.", name=task_name(task)), "success")
    except Conflict:
        flash(_("Opgaven er allerede taget af en anden."), "error")
    return _back()


@bp.route("/opgaver/<int:task_id>/slip", methods=["POST"])
@login_required
def unclaim(task_id: int):
    try:
        task = runtime().engine.claim_task(task_id, current_actor(), unclaim=True)
        flash(_("Du har sluppet opgaven »%(name)s«.", name=task_name(task)), "success")
    except Conflict:
        flash(_("Opgaven er taget af en anden og kan ikke slippes."), "error")
    return _back()


@bp.route("/opgaver/<int:task_id>/fordel", methods=["POST"])
@login_required
def reassign(task_id: int):
    actor = current_actor()
    require_role(actor, TEAMLEDER)
    with runtime().sessions() as db:
        task_for(db, actor, task_id, need_role=False)  # another municipality's task: 404
        to_user = db.scalar(select(User).where(User.username == request.form.get("username", ""),
                                               User.municipality_id == actor.municipality_id))
    if to_user is None:
        raise NotFound("no such user")
    try:
        task = runtime().engine.reassign_task(task_id, to_user, actor)
        flash(_("Opgaven »%(name)s« er givet til %(user)s.", name=task_name(task), user=to_user.full_name), "success")
    except (Conflict, InvalidInput) as exc:
        flash(_("Opgaven kunne ikke fordeles: %(reason)s", reason=str(exc)), "error")
    return _back()


@bp.route("/filtre", methods=["POST"])
@login_required
def save_filter():
    name = (request.form.get("name") or "").strip()[:100]
    query = InboxQuery.from_args(request.form)
    if not name:
        flash(_("Giv filteret et navn."), "error")
    else:
        with runtime().sessions.begin() as db:
            existing = db.scalar(select(SavedFilter).where(SavedFilter.user_id == current_user().id,
                                                           SavedFilter.name == name))
            if existing is None:
                db.add(SavedFilter(user_id=current_user().id, name=name, query=query.filter_params(),
                                   created_at=timekeeping.now(db)))
            else:
                existing.query = query.filter_params()
        flash(_("Filteret »%(name)s« er gemt.", name=name), "success")
    return redirect(url_for("inbox.index", **query.filter_params()))


@bp.route("/filtre/<int:filter_id>/slet", methods=["POST"])
@login_required
def delete_filter(filter_id: int):
    with runtime().sessions.begin() as db:
        saved = db.get(SavedFilter, filter_id)
        if saved is None or saved.user_id != current_user().id:
            raise NotFound("no such filter")
        db.delete(saved)
    flash(_("Filteret er slettet."), "success")
    return redirect(url_for("inbox.index"))


@bp.route("/ur", methods=["POST"])
@login_required
def advance_clock():
    """Demo installations only: an administrator moves the virtual clock so a case reaches
    its next deadline or meeting (audited). An installation on the real clock refuses
    (ClockError, 400); anyone else gets 403."""
    from datetime import timedelta
    if not current_user().is_admin:
        raise Forbidden("only an administrator moves the demo clock")
    days = {"1d": 1, "1u": 7, "4u": 28}.get(request.form.get("step", ""))
    if days is None:
        raise InvalidInput("unknown step")
    runtime().engine.advance_clock(timedelta(days=days), actor=current_actor())
    flash(_("Demo-uret er flyttet %(days)s dage frem.", days=days), "success")
    return _back()
