"""The case page (everything about one citizen), starting a case, diagrams and letters."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from lxml import etree
from sqlalchemy import and_, or_, select

from inbox import vendor
from inbox.access import (
    STARTS_CASES, case_for, current_actor, instance_for, login_required, require_role, runtime,
)
from inbox.formatting import language, milestone_label
from inbox.queries import due_state, process_choices
from processes.engine import CITIZEN_NAME_LENGTH
from processes.errors import InvalidInput, NotFound
from processes.forms import text_errors
from processes.library import _SAFE_PARSER, _q
from processes.model_text import english_names, name_in
from processes.models import Document, User
from processes.roles import ROLES
from processes.scripting import danish_date
from processes.timeline import case_timeline

bp = Blueprint("cases", __name__)


def case_view(case_id: int, actor=None) -> dict:
    """The engine's case detail (the view is audited) plus users, letters and diagram marks;
    ``actor`` defaults to the signed-in user (the API passes its token's user)."""
    actor = actor or current_actor()
    lang = language()
    detail = runtime().engine.case_detail(case_id, actor, access=lambda db: case_for(db, actor, case_id))
    # the timeline from the rows the detail already read, then everyone it and the tasks name in one read
    detail["timeline"] = case_timeline(None, case_id, language=lang, loaded=detail)
    user_ids = ({t.completed_by_id for t in detail["tasks"]} | {t.claimed_by_id for t in detail["tasks"]}) - {None}
    names = ({e.actor for e in detail["timeline"]} | {e.detail.get("to") for e in detail["timeline"]}) - {None}
    with runtime().sessions() as db:
        named = list(db.scalars(select(User).where(or_(
            User.id.in_(user_ids),
            and_(User.municipality_id == detail["case"].municipality_id, User.username.in_(names))))))
        detail["documents"] = list(db.scalars(select(Document).where(Document.case_id == case_id)
                                              .order_by(Document.created_at, Document.id)))
        if "teamleder" in actor.roles:
            detail["colleagues"] = list(db.scalars(select(User).where(User.municipality_id == actor.municipality_id)
                                                   .order_by(User.full_name)))
    detail["users"] = {u.id: u for u in named if u.id in user_ids}
    detail["people"] = {u.username: u.full_name for u in named
                        if u.username in names and u.municipality_id == detail["case"].municipality_id}
    by_outbox = {d.outbox_id: d for d in detail["documents"] if d.outbox_id}
    detail["letter_rows"] = [(o, by_outbox.get(o.id)) for o in detail["letters"]]
    detail["loose_documents"] = [d for d in detail["documents"] if d.outbox_id not in {o.id for o in detail["letters"]}]
    marks = {}
    for instance in detail["instances"]:
        tasks = [t for t in detail["tasks"] if t.instance_id == instance.id]
        marks[instance.id] = {
            "current": sorted({t.bpmn_id for t in tasks if t.state == "open"}),
            "done": sorted({t.bpmn_id for t in tasks if t.state == "completed"}),
            "waiting": sorted({t.bpmn_id for t in detail["timers"]
                               if t.instance_id == instance.id and not t.attached_to}),
            # where a finished (or waiting) process last did something: the diagram opens there
            "last": [t.bpmn_id for t in sorted((t for t in tasks if t.state == "completed"),
                                               key=lambda t: (t.closed_at, t.id))[-1:]],
        }
    detail["marks"] = marks
    detail["due_state"] = lambda when: due_state(when, detail["now"])
    detail["today"] = danish_date(detail["now"])
    detail["milestone_label"] = milestone_label
    timer_names = {(i.id, bid): name_in(t, lang, bid) for i in detail["instances"]
                   for bid, t in (i.model_version.metadata_json or {}).get("timers", {}).items()}
    detail["timer_name"] = lambda instance_id, bpmn_id: timer_names.get((instance_id, bpmn_id), bpmn_id)
    return detail


@bp.route("/sager/<int:case_id>")
@login_required
def show(case_id: int):
    detail = case_view(case_id)
    locale = str(get_locale())
    return render_template("case.html", diagram_key=lambda version: diagram_key(version.sha256, locale),
                           viewer_url=url_for("vendor.bpmn_js", filename=vendor.ALLOWED[0]), **detail)


def diagram_key(sha256: str, locale: str) -> str:
    """The key of a model version's drawn diagram (the server keeps one per municipality and
    key; a browser keeps it under the municipality and key, diagram.js): the model's
    content, the language (lanes are named by role) and what draws it (the role names and
    the bpmn-js version), so a change to any of them draws it anew."""
    return f"{sha256[:20]}.{locale}.{_renderer()}"


@lru_cache(maxsize=1)
def _renderer() -> str:
    """A short fingerprint of the role names and the installed bpmn-js."""
    package = Path(current_app.config["BPMN_JS_DIR"]).parent / "package.json"
    version = json.loads(package.read_text(encoding="utf-8")).get("version", "") if package.is_file() else ""
    return hashlib.sha256(repr((sorted(ROLES.items()), version, DRAWING_FORMAT)).encode("utf-8")).hexdigest()[:10]


DRAWING_FORMAT = 2   # what diagram.js keeps of a drawing (2: marker-end kept; 1 lost its url("#..."))


@bp.route("/sager/<int:case_id>/ejer", methods=["POST"])
@login_required
def change_owner(case_id: int):
    """The teamleder gives the case to another caseworker (audited, shown on the case page)."""
    raw = (request.form.get("owner") or "").strip()
    runtime().engine.set_owner(case_id, int(raw) if raw.isdigit() else None, current_actor())
    flash(_("Sagsejeren er ændret."), "success")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/sager/<int:case_id>/forloeb/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(case_id: int, instance_id: int):
    """The instance's model for the diagram, its lanes named by the roles' names."""
    with runtime().sessions() as db:
        row = instance_for(db, current_actor(), case_id, instance_id)
        version_id = row.model_version_id
        xml = row.model_version.bpmn_xml
    return Response(_lanes_by_role_name(version_id, str(get_locale()), xml), mimetype="application/xml")


@lru_cache(maxsize=64)
def _lanes_by_role_name(version_id: int, locale: str, xml: str) -> bytes:
    """A model version is immutable, so its diagram is renamed once per language: lanes by
    their role's name, and in English every element by the English its model declares
    beside the Danish (``name_en``)."""
    root = etree.fromstring(xml.encode("utf-8"), parser=_SAFE_PARSER)
    for lane in root.iter(_q("bpmn:lane")):
        names = ROLES.get((lane.get("name") or "").strip())
        if names:
            lane.set("name", names[1] if locale == "en" else names[0])
    if locale == "en":
        english_names(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@bp.route("/sager/<int:case_id>/breve/<int:document_id>")
@login_required
def document(case_id: int, document_id: int):
    """A rendered letter, shown in a sandboxed frame on the letter page."""
    with runtime().sessions() as db:
        case_for(db, current_actor(), case_id)
        doc = db.get(Document, document_id)
        if doc is None or doc.case_id != case_id:
            raise NotFound(f"document {document_id} not found")
    if request.args.get("raw"):
        response = Response(doc.body, mimetype=doc.content_type or "text/html")
        # The letter's own styles may be inline, but no script runs, and only our letter page frames it.
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                                       "frame-ancestors 'self'")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    return render_template("document.html", case_id=case_id, doc=doc)


@bp.route("/sager/ny", methods=["GET", "POST"])
@login_required
def start():
    actor = current_actor()
    require_role(actor, STARTS_CASES)
    with runtime().sessions() as db:
        case_types = process_choices(db, actor)
        from processes.models import Municipality
        municipality = db.get(Municipality, actor.municipality_id)
    values = {"case_type": "rehabilitering" if "rehabilitering" in case_types else "", "cpr": "",
              "citizen_name": "", "age": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: (request.form.get(k) or "").strip() for k in values}
        errors = validate_start(values, case_types)
        if not errors:
            try:
                instance = runtime().engine.start_case(
                    municipality.key, values["case_type"], values["cpr"], values["citizen_name"],
                    actor=actor, age=int(values["age"]) if values["age"] else None)
            except InvalidInput as exc:
                errors = exc.errors or {"cpr": [str(exc)]}
            else:
                return redirect(url_for("cases.show", case_id=instance.case_id))
    return render_template("case_start.html", values=values, errors=errors, case_types=case_types), \
        (422 if errors else 200)


def validate_start(values: dict, case_types: list[str]) -> dict[str, list[str]]:
    """Field errors (Danish) for the start-a-case form; the API uses the same rules."""
    errors: dict[str, list[str]] = {}
    if values.get("case_type") not in case_types:
        errors["case_type"] = [_("Vælg en sagstype.")]
    digits = (values.get("cpr") or "").replace("-", "").strip()
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        errors["cpr"] = [_("CPR-nummeret skal have 10 cifre (DDMMÅÅ-XXXX).")]
    if not (values.get("citizen_name") or "").strip():
        errors["citizen_name"] = [_("Skriv borgerens navn.")]
    elif problems := text_errors(values["citizen_name"], CITIZEN_NAME_LENGTH):
        errors["citizen_name"] = problems
    age = values.get("age")
    if age not in (None, ""):
        try:
            if not 0 <= int(age) <= 130:
                raise ValueError
        except (TypeError, ValueError):
            errors["age"] = [_("Alderen skal være et helt tal mellem 0 og 130.")]
    return errors
