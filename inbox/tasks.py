"""The task page: the form the BPMN model defines, validated on the server.

The form carries the task's ``revision``; a submission rendered from an older revision
(the task was completed, claimed, reassigned or changed meanwhile) is refused with a
conflict message and never completes the task twice (:meth:`Engine.complete_task`).
It also carries a fresh ``idempotency_key``: when the browser re-sends a submission whose
answer was lost (the web process died after the commit), the task is not completed again
and the user sees it done, not a conflict.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from inbox.access import TEAMLEDER, current_actor, login_required, readable_task, runtime
from inbox.pages import _colleagues
from inbox.formatting import iso_date, language, role_name, task_name
from inbox.queries import due_state
from processes import task_context, timekeeping
from processes.engine import Engine
from processes.errors import Conflict, InvalidInput
from processes.model_text import localize_errors, localize_form
from processes.models import Case, HumanTask, User

bp = Blueprint("tasks", __name__)


def form_input(form: list[dict], values) -> dict:
    """Read the posted fields of a model form; an unticked checkbox is ``False``.

    A list field posts its rows as ``<field>-<row>-<column>`` (``indsatser-0-maal``);
    they become a list of dicts in row order (blank rows are dropped by validation)."""
    data = {}
    for spec in form:
        if spec["type"] == "list":
            data[spec["id"]] = _list_input(spec, values)
        elif spec["type"] == "boolean":
            data[spec["id"]] = values.get(spec["id"]) in ("true", "on", "1")
        elif spec["type"] == "date":
            data[spec["id"]] = iso_date(values.get(spec["id"], ""))
        else:
            data[spec["id"]] = values.get(spec["id"], "")
    return data


def _list_input(spec: dict, values) -> list[dict]:
    prefix = spec["id"] + "-"
    numbers = set()
    for key in values.keys():
        index = key[len(prefix):].split("-", 1)[0] if key.startswith(prefix) else ""
        if index.isdigit() and int(index) < 1000:
            numbers.add(int(index))
    rows = []
    for number in sorted(numbers):
        row = {}
        for item in spec.get("items", []):
            raw = values.get(f"{prefix}{number}-{item['id']}")
            if item["type"] == "boolean":
                row[item["id"]] = raw in ("true", "on", "1")
            else:
                row[item["id"]] = iso_date(raw or "") if item["type"] == "date" else (raw or "")
        rows.append(row)
    return rows


def load_task_view(task_id: int, audit: bool = True) -> dict:
    """The task with its case, claimer and form, and what it shows of the case (the model's
    declared fields and milestones, letters and documents, recent history); the view is
    written to the audit log."""
    actor = current_actor()
    engine = runtime().engine
    lang = language()
    with runtime().sessions.begin() as db:
        task = readable_task(db, actor, task_id)
        case = db.get(Case, task.case_id)
        claimer = db.get(User, task.claimed_by_id) if task.claimed_by_id else None
        completer = db.get(User, task.completed_by_id) if task.completed_by_id else None
        now = timekeeping.now(db)
        shown = task_context.shown_items(db, task, language=lang)
        papers = task_context.case_papers(db, task.case_id)
        history = task_context.recent_history(db, task.case_id)
        escalation = task_context.escalation(db, task, now, language=lang) if TEAMLEDER in actor.roles else None
        colleagues = _colleagues(db, actor.municipality_id) if TEAMLEDER in actor.roles else {}
        holders = {t.claimed_by_id for t, _days in escalation.late} if escalation else set()
        people = {u.id: u for u in db.scalars(select(User).where(User.id.in_(
            ({t.completed_by_id for t in history} | holders) - {None})))}
        if audit:
            Engine.audit(db, actor, "task.view", task.municipality_id, task.case_id, task.instance_id,
                         {"task": task.bpmn_id}, now)
    form = engine.task_form(task)
    return {"task": task, "case": case, "claimer": claimer, "completer": completer, "now": now,
            "due": due_state(task.due_at, now), "shown": shown, "papers": papers, "history": history,
            "people": people, "form": localize_form(form, lang), "model_form": form, "escalation": escalation,
            "colleagues": colleagues,
            "can_complete": task.role in actor.roles or (TEAMLEDER in actor.roles
                                                          and task.claimed_by_id == actor.user_id)}


def _next_tasks(case_id: int, before: set[int]) -> list[HumanTask]:
    return [t for t in runtime().engine.open_tasks(case_id=case_id) if t.id not in before]


@bp.route("/opgaver/<int:task_id>", methods=["GET", "POST"])
@login_required
def show(task_id: int):
    view = load_task_view(task_id, audit=request.method == "GET")
    task = view["task"]
    values: dict = {spec["id"]: spec.get("default") for spec in view["form"]}
    if task.data:   # what was entered, or for an open task the values its prefill fields propose
        values.update(task.data)
    errors: dict = {}
    conflict = None
    status = 200
    if request.method == "POST":
        values = form_input(view["form"], request.form)
        try:
            revision = int(request.form.get("revision", ""))
        except ValueError:
            revision = -1
        before = {t.id for t in runtime().engine.open_tasks(case_id=task.case_id)}
        try:
            done = runtime().engine.complete_task(task_id, values, current_actor(), revision=revision,
                                                  idempotency_key=request.form.get("idempotency_key", "")[:100] or None)
        except InvalidInput as exc:
            errors, status = _web_errors(localize_errors(view["model_form"], exc.errors, language())), 422
        except Conflict:
            conflict, status = _("Opgaven er blevet ændret, mens du havde den åben: en anden har taget, "
                                 "fordelt eller afsluttet den. Se opgaven igen, før du indsender."), 409
            view = load_task_view(task_id, audit=False)
        else:
            _flash_next(done, [] if done.replayed else _next_tasks(done.case_id, before))
            return redirect(url_for("inbox.index"))
    return render_template("task.html", values=values, errors=errors, conflict=conflict,
                           idempotency_key=secrets.token_urlsafe(16), **view), status


def _web_errors(errors: dict) -> dict:
    """The form's messages as the web form needs them: its date fields take Danish dates."""
    return {key: [m.replace("(ÅÅÅÅ-MM-DD)", _("(dd.mm.åååå)")) for m in messages] for key, messages in errors.items()}


def _flash_next(done: HumanTask, new: list[HumanTask]) -> None:
    mine = current_actor().roles
    flash(_("Opgaven »%(name)s« er afsluttet.", name=task_name(done)), "success")
    if done.replayed:
        return
    for t in new:
        where = _("din indbakke") if t.role in mine else _("indbakken for %(role)s", role=role_name(t.role))
        flash(_("Næste opgave: »%(name)s« er lagt i %(where)s.", name=task_name(t), where=where), "info")
    if not new:
        flash(_("Der er ingen ny opgave endnu: sagen venter på andre opgaver, en frist eller en hændelse."), "info")
