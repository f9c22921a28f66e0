"""Finding a case: search by CPR number, name or case number, and "Mine sager" (the
cases one owns, ``sag.owner_id``).

Searches stay inside the user's municipality and find only the cases the user may open
(the rule of :func:`inbox.access.case_for`: a teamleder every case; others the cases
whose models give their roles a task, where their roles had a task, or that they
started). Every search is audited (``case.search``: what was searched and which cases
came back), as every case view is (``case.view``). Lists show the CPR number masked.
"""
from __future__ import annotations

import re

from flask import Blueprint, render_template, request
from sqlalchemy import and_, exists, func, or_, select

from inbox.access import TEAMLEDER, current_actor, login_required, runtime
from processes import timekeeping
from processes.engine import Actor, Engine
from processes.models import AuditEvent, Case, HumanTask, ModelVersion, MunicipalModel, ProcessInstance, User

bp = Blueprint("case_search", __name__)

MAX_RESULTS = 50
QUERY_LENGTH = 100
_CPR = re.compile(r"^\s*(\d{6})-?(\d{4})\s*$")
_CASE_NUMBER = re.compile(r"^\s*(\d{1,9})\s*$")


def parse_query(text: str) -> tuple[str, str] | None:
    """``(kind, value)``: ``cpr`` (DDMMÅÅ-XXXX), ``case`` (a case number) or ``name``
    (at least two characters); None when there is nothing to search for."""
    text = (text or "").strip()[:QUERY_LENGTH]
    if match := _CPR.match(text):
        return "cpr", f"{match.group(1)}-{match.group(2)}"
    if match := _CASE_NUMBER.match(text):
        return "case", match.group(1)
    if len(text) >= 2:
        return "name", text
    return None


def visible_cases(session, actor: Actor):
    """The SQL condition: cases of the actor's municipality that the actor may open."""
    mine = Case.municipality_id == actor.municipality_id
    if TEAMLEDER in actor.roles:
        return mine
    roles = sorted(actor.roles)
    case_types = [mm.case_type for mm, meta in session.execute(
        select(MunicipalModel, ModelVersion.metadata_json).join(ModelVersion, ModelVersion.id == MunicipalModel.model_version_id)
        .where(MunicipalModel.municipality_id == actor.municipality_id))
        if actor.roles & {t.get("role") for t in (meta or {}).get("tasks", {}).values()}]
    return and_(mine, or_(
        exists().where(ProcessInstance.case_id == Case.id, ProcessInstance.process_id.in_(case_types)),
        exists().where(HumanTask.case_id == Case.id, HumanTask.role.in_(roles)),
        exists().where(AuditEvent.case_id == Case.id, AuditEvent.action == "case.start",
                       AuditEvent.actor == actor.name)))


def _rows(session, cases: list[Case]) -> list[dict]:
    """Each case with its processes, owner, open tasks and next deadline."""
    ids = [c.id for c in cases]
    processes: dict[int, list[str]] = {}
    for case_id, process_id in session.execute(select(ProcessInstance.case_id, ProcessInstance.process_id)
                                               .where(ProcessInstance.case_id.in_(ids)).order_by(ProcessInstance.id)):
        processes.setdefault(case_id, []).append(process_id)
    open_tasks = dict(session.execute(select(HumanTask.case_id, func.count()).where(
        HumanTask.case_id.in_(ids), HumanTask.state == "open").group_by(HumanTask.case_id)).all())
    next_due = dict(session.execute(select(HumanTask.case_id, func.min(HumanTask.due_at)).where(
        HumanTask.case_id.in_(ids), HumanTask.state == "open").group_by(HumanTask.case_id)).all())
    owners = dict(session.execute(select(User.id, User.full_name).where(
        User.id.in_({c.owner_id for c in cases} - {None}))).all())
    return [{"case": c, "processes": processes.get(c.id, []), "owner": owners.get(c.owner_id),
             "open_tasks": open_tasks.get(c.id, 0), "next_due": next_due.get(c.id)} for c in cases]


@bp.route("/sager/soeg")
@login_required
def search():
    actor = current_actor()
    text = (request.args.get("q") or "")[:QUERY_LENGTH]
    query = parse_query(text)
    rows, too_many = [], False
    if query is not None:
        kind, value = query
        with runtime().sessions.begin() as db:
            where = visible_cases(db, actor)
            if kind == "cpr":
                where = and_(where, Case.cpr == value)
            elif kind == "case":
                where = and_(where, Case.id == int(value))
            else:
                where = and_(where, func.lower(Case.citizen_name).contains(value.lower(), autoescape=True))
            found = list(db.scalars(select(Case).where(where).order_by(Case.citizen_name, Case.id)
                                    .limit(MAX_RESULTS + 1)))
            too_many = len(found) > MAX_RESULTS
            found = found[:MAX_RESULTS]
            Engine.audit(db, actor, "case.search", actor.municipality_id, None, None,
                         {"kind": kind, "query": value, "cases": [c.id for c in found]}, timekeeping.now(db))
            rows = _rows(db, found)
    return render_template("case_search.html", q=text, searched=query is not None, rows=rows, too_many=too_many,
                           max_results=MAX_RESULTS)


@bp.route("/sager/mine")
@login_required
def mine():
    """The cases the signed-in user owns, open first, by next deadline."""
    actor = current_actor()
    with runtime().sessions() as db:
        owned = list(db.scalars(select(Case).where(Case.owner_id == actor.user_id,
                                                   Case.municipality_id == actor.municipality_id)
                                .order_by(Case.status.desc(), Case.citizen_name, Case.id)))
        rows = _rows(db, owned)
        now = timekeeping.now(db)
    rows.sort(key=lambda r: (r["case"].status != "open", r["next_due"] is None, r["next_due"] or now))
    return render_template("case_mine.html", rows=rows, now=now)
