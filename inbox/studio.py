"""The process designers' studio (issue 12): the model list, the editor, scenario runs,
publishing, comparing versions and importing .bpmn files.

Every page needs the role ``procesdesigner`` (403 otherwise) and shows only the user's
own municipality: drafts and municipal model versions of another municipality do not
exist for them (404); shared models are readable by every designer. The domain work is
in :mod:`processes.studio`; the browser code is built from ``tools/studio`` by
``npm run build:studio`` into ``inbox/static/build`` (not committed).
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from flask import (
    Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from inbox.access import current_actor, login_required, require_role, runtime
from inbox.formatting import case_type_name, iso_date, language
from processes import migration, studio, timekeeping
from processes.errors import Conflict, InvalidInput, NotFound
from processes.library import CASE_TYPES
from processes.models import ModelVersion, ProcessInstance

bp = Blueprint("studio", __name__, url_prefix="/studio")
MAX_UPLOAD = 2_000_000


def _designer():
    actor = current_actor()
    require_role(actor, studio.DESIGNER)
    return actor


def built() -> bool:
    return (Path(current_app.static_folder) / "build" / "editor.js").is_file()


@bp.route("/")
@login_required
def index():
    actor = _designer()
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        rows = studio.overview(db, actor.municipality_id, now)
    return render_template("studio/index.html", rows=rows, case_types=CASE_TYPES, now=now)


@bp.route("/katalog.json")
@login_required
def catalogue():
    _designer()
    return jsonify(studio.catalogue_for_editor(language()))


@bp.route("/kladder", methods=["POST"])
@login_required
def new_draft():
    actor = _designer()
    with runtime().sessions.begin() as db:
        now = timekeeping.now(db)
        case_type = request.form.get("case_type", "")
        # named in the designer's language by the case type's name (was "Kladde af <key>" in English too)
        title = _("Kladde af %(case_type)s", case_type=case_type_name(case_type).lower()) \
            if case_type in CASE_TYPES else None
        draft = studio.create_draft(db, actor.municipality_id, case_type, actor.name, now, title=title)
        draft_id = draft.id
    return redirect(url_for("studio.editor", draft_id=draft_id))


@bp.route("/importer", methods=["POST"])
@login_required
def import_file():
    """A .bpmn file from Camunda Modeler, bpmn.io or another tool becomes a draft; what
    Sagsflow does not run is listed per element on the editor page. A file that is not
    BPMN XML is refused with the reason (never a stack trace)."""
    actor = _designer()
    upload = request.files.get("fil")
    case_type = request.form.get("case_type", "")
    raw = upload.read(MAX_UPLOAD + 1) if upload else b""
    problem = None
    if not raw:
        problem = _("Vælg en .bpmn-fil.")
    elif len(raw) > MAX_UPLOAD:
        problem = _("Filen er for stor (højst %(n)s byte).", n=MAX_UPLOAD)
    else:
        try:
            xml = raw.decode("utf-8")
        except UnicodeDecodeError:
            problem = _("Filen er ikke UTF-8-tekst.")
        else:
            findings = studio.unsupported_elements(xml)
            if any(not f.element and f.severity == "error" for f in findings):
                problem = _("Filen kan ikke åbnes: %(reason)s", reason=findings[0].message)
    if case_type not in CASE_TYPES:
        problem = _("Vælg en sagstype.")
    if problem:
        flash(problem, "error")
        return redirect(url_for("studio.index"))
    with runtime().sessions.begin() as db:
        now = timekeeping.now(db)
        title = _("Importeret: %(name)s", name=Path(upload.filename or "model.bpmn").name)
        draft = studio.create_draft(db, actor.municipality_id, case_type, actor.name, now, xml=xml, title=title)
        draft_id = draft.id
        errors = sum(p["severity"] == "error" for p in draft.problems)
    flash(_("Filen er åbnet som kladde. %(n)s fejl skal rettes, før den kan udgives.", n=errors),
          "info" if errors == 0 else "error")
    return redirect(url_for("studio.editor", draft_id=draft_id))


def _texts() -> dict:
    return {
        "model": _("Modellen"), "show": _("Vis i diagrammet"), "no_problems": _("Ingen problemer."),
        "unsaved": _("Ændringer er ikke gemt."), "saving": _("Gemmer …"), "saved": _("Gemt. Ingen fejl."),
        "saved_with_errors": _("Gemt med %(n)s fejl."), "not_saved": _("Ikke gemt."),
        "scenario_json": _("Scenarierne er ikke gyldig JSON"), "running": _("Kører scenarietests …"),
        "passed": _("Bestået"), "failed": _("Fejlet"), "steps": _("trin"), "step": _("trin"),
        "tests_failed": _("%(n)s scenarier fejlede."), "tests_passed": _("Alle %(n)s scenarier bestod."),
        "opened": _("Modellen er åbnet."), "cannot_open": _("Modellen kan ikke åbnes"),
    }


@bp.route("/kladder/<int:draft_id>")
@login_required
def editor(draft_id: int):
    actor = _designer()
    with runtime().sessions() as db:
        draft = studio.draft_for(db, actor.municipality_id, draft_id)
        base = db.get(ModelVersion, draft.base_version_id) if draft.base_version_id else None
        today = timekeeping.now(db).astimezone(studio.LOCAL_TZ).date()
        data = {
            "csrf": generate_csrf(), "problems": draft.problems, "catalogue": studio.catalogue_for_editor(language()),
            "text": _texts(),
            "urls": {"xml": url_for("studio.draft_xml", draft_id=draft.id),
                     "save": url_for("studio.save", draft_id=draft.id),
                     "test": url_for("studio.run_tests", draft_id=draft.id)},
        }
    return render_template("studio/editor.html", draft=draft, base=base, data=data, built=built(),
                           today=today, scenarios=json.dumps(draft.scenarios, ensure_ascii=False, indent=2))


def _bpmn(xml: str, filename: str) -> Response:
    return Response(xml, mimetype="application/xml", headers={"Content-Disposition": f'inline; filename="{filename}"'})


@bp.route("/kladder/<int:draft_id>/model.bpmn")
@login_required
def draft_xml(draft_id: int):
    actor = _designer()
    with runtime().sessions() as db:
        draft = studio.draft_for(db, actor.municipality_id, draft_id)
        return _bpmn(draft.bpmn_xml, f"{draft.case_type}.bpmn")


def _json_body() -> dict:
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    body = {}
    if "xml" in request.form:
        body["xml"] = request.form["xml"]
    if "scenarios" in request.form:
        try:
            body["scenarios"] = json.loads(request.form["scenarios"])
        except ValueError:
            body["scenarios"] = request.form["scenarios"]
    return body


@bp.route("/kladder/<int:draft_id>/gem", methods=["POST"])
@login_required
def save(draft_id: int):
    """Save the draft as it is (errors allowed) and answer its problems as JSON."""
    actor = _designer()
    body = _json_body()
    xml = body.get("xml")
    if xml is not None and not isinstance(xml, str):
        return jsonify({"message": _("Modellen skal være XML-tekst.")}), 422
    try:
        with runtime().sessions.begin() as db:
            draft = studio.draft_for(db, actor.municipality_id, draft_id)
            problems = studio.save_draft(db, draft, actor.name, timekeeping.now(db), xml=xml,
                                         scenarios=body.get("scenarios"))
    except InvalidInput as exc:
        return jsonify({"message": "; ".join(" ".join(v) for v in exc.errors.values()) or str(exc),
                        "errors": exc.errors}), 422
    except Conflict:
        return jsonify({"message": _("Kladden er udgivet og kan ikke ændres.")}), 409
    return jsonify({"problems": problems, "errors": sum(p["severity"] == "error" for p in problems)})


@bp.route("/kladder/<int:draft_id>/test", methods=["POST"])
@login_required
def run_tests(draft_id: int):
    """Run the draft's scenarios (as last saved) and answer the results as JSON."""
    actor = _designer()
    with runtime().sessions() as db:
        draft = studio.draft_for(db, actor.municipality_id, draft_id)
        results = studio.run_draft_scenarios(db, draft, timekeeping.now(db))
    return jsonify({"results": results})


@bp.route("/kladder/<int:draft_id>/udgiv", methods=["POST"])
@login_required
def publish(draft_id: int):
    actor = _designer()
    try:
        effective = date.fromisoformat(iso_date(request.form.get("effective_from", "")))
    except ValueError:
        effective = None
    comment = request.form.get("comment", "")
    with runtime().sessions.begin() as db:
        draft = studio.draft_for(db, actor.municipality_id, draft_id)
        now = timekeeping.now(db)
        if effective is None:
            flash(_("Angiv datoen, modellen gælder fra."), "error")
            return redirect(url_for("studio.editor", draft_id=draft_id))
        try:
            publication, results = studio.publish(db, draft, actor.name, effective, comment, now)
        except InvalidInput as exc:
            for messages in exc.errors.values():
                for message in messages:
                    flash(message, "error")
            return redirect(url_for("studio.editor", draft_id=draft_id))
        except Conflict:
            flash(_("Kladden er allerede udgivet."), "error")
            return redirect(url_for("studio.editor", draft_id=draft_id))
        if publication is None:
            failed = [r for r in results if not r["passed"]]
            flash(_("Modellen er ikke udgivet: %(reason)s", reason="; ".join(
                f"{r['name']}: {r['failure']}" for r in failed)), "error")
            return redirect(url_for("studio.editor", draft_id=draft_id))
        version = db.get(ModelVersion, publication.model_version_id)
        flash(_("Version %(v)s af %(case_type)s er udgivet og gælder for nye sager fra %(date)s.",
                v=version.version, case_type=draft.case_type, date=effective.isoformat()), "success")
        version_id = version.id
    return redirect(url_for("studio.version_diff", version_id=version_id))


def _diff_page(old_label, new_label, old_xml, new_xml, old_policy, new_policy, urls) -> dict:
    return {"old_label": old_label, "new_label": new_label, "rows": studio.diff_facts(old_xml, new_xml),
            "policy_rows": studio.policy_diff(old_xml, new_xml, old_policy, new_policy), "built": built(),
            "data": {"urls": urls, "text": {"cannot_open": _("Modellen kan ikke åbnes")}}}


def _version_label(version: ModelVersion) -> str:
    scope = _("fælles") if version.municipality_id is None else _("egen")
    return _("%(case_type)s version %(v)s (%(scope)s)", case_type=version.process_id, v=version.version, scope=scope)


@bp.route("/kladder/<int:draft_id>/diff")
@login_required
def draft_diff(draft_id: int):
    """The draft against the version in force."""
    actor = _designer()
    with runtime().sessions() as db:
        draft = studio.draft_for(db, actor.municipality_id, draft_id)
        now = timekeeping.now(db)
        in_force_id = studio.version_in_force(db, actor.municipality_id, draft.case_type, now)
        in_force = db.get(ModelVersion, in_force_id)
        policy_now = studio.policy_values(db, actor.municipality_id, draft.case_type, now)
        old_policy = studio.policy_values(db, actor.municipality_id, draft.case_type,
                                          studio.version_date(db, in_force, actor.municipality_id))
        page = _diff_page(_version_label(in_force) + " – " + _("i kraft"), draft.title, in_force.bpmn_xml,
                          draft.bpmn_xml, old_policy, policy_now,
                          {"old": url_for("studio.version_xml", version_id=in_force.id),
                           "new": url_for("studio.draft_xml", draft_id=draft.id)})
    return render_template("studio/diff.html", **page)


@bp.route("/versioner/<int:version_id>/model.bpmn")
@login_required
def version_xml(version_id: int):
    actor = _designer()
    with runtime().sessions() as db:
        version = studio.visible_version(db, actor.municipality_id, version_id)
        return _bpmn(version.bpmn_xml, f"{version.process_id}-v{version.version}.bpmn")


@bp.route("/versioner/<int:version_id>/diff")
@login_required
def version_diff(version_id: int):
    """A version against another (``?mod=<id>``), by default the one before it: the
    municipality's previous own version, else the version in force before it."""
    actor = _designer()
    with runtime().sessions() as db:
        version = studio.visible_version(db, actor.municipality_id, version_id)
        other_id = request.args.get("mod", type=int)
        if other_id is not None:
            other = studio.visible_version(db, actor.municipality_id, other_id)
        else:
            other = studio.previous_version(db, version, actor.municipality_id)
        munic = actor.municipality_id
        policy_new = studio.policy_values(db, munic, version.process_id, studio.version_date(db, version, munic))
        policy_old = studio.policy_values(db, munic, other.process_id, studio.version_date(db, other, munic))
        page = _diff_page(_version_label(other), _version_label(version), other.bpmn_xml, version.bpmn_xml,
                          policy_old, policy_new,
                          {"old": url_for("studio.version_xml", version_id=other.id),
                           "new": url_for("studio.version_xml", version_id=version.id)})
        # what moving the running cases to this version would do (a dry run; nothing moves)
        page["migration"] = migration.dry_run(db, munic, version.process_id, version.id)
        page["target"], page["target_id"] = _version_label(version), version.id
        page["can_move"] = studio.version_in_force(db, munic, version.process_id, timekeeping.now(db)) == version.id
        page["moved_here"] = migration.moved_to(db, munic, version.id)
    return render_template("studio/diff.html", **page)


@bp.route("/versioner/<int:version_id>/flyt", methods=["POST"])
@login_required
def migrate(version_id: int):
    """Move running cases to this version: one (``instance_id``) or all that can, each in
    its own transaction; only to the version in force for new cases."""
    actor = _designer()
    with runtime().sessions() as db:
        version = studio.visible_version(db, actor.municipality_id, version_id)
        in_force = studio.version_in_force(db, actor.municipality_id, version.process_id, timekeeping.now(db))
        reports = migration.dry_run(db, actor.municipality_id, version.process_id, version.id)
    back = redirect(url_for("studio.version_diff", version_id=version_id))
    if in_force != version.id:
        flash(_("Sager flyttes kun til den version, der gælder for nye sager."), "error")
        return back
    wanted = request.form.get("instance_id", type=int)
    moved, refused = [], []
    for report in reports:
        if wanted is not None and report.instance_id != wanted:
            continue
        try:
            migration.migrate_instance(runtime().engine, report.instance_id, version.id, actor)
            moved.append(report.case_id)
        except (Conflict, NotFound):
            refused.append(report.case_id)
    if moved:
        flash(_("Flyttet til version %(v)s: sag %(cases)s.", v=version.version, cases=", ".join(map(str, moved))),
              "success")
    if refused:
        flash(_("Kan ikke flyttes: sag %(cases)s.", cases=", ".join(map(str, refused))), "error")
    if not moved and not refused:
        flash(_("Ingen sager at flytte."), "info")
    return back


@bp.route("/versioner/<int:version_id>/fortryd", methods=["POST"])
@login_required
def revert(version_id: int):
    """Put a case moved to this version back on its previous one (while nothing has happened)."""
    actor = _designer()
    with runtime().sessions() as db:
        studio.visible_version(db, actor.municipality_id, version_id)
        row = db.get(ProcessInstance, request.form.get("instance_id", type=int) or 0)
        found = row is not None and row.municipality_id == actor.municipality_id and row.model_version_id == version_id
    if not found:
        flash(_("Ingen flyttet sag at føre tilbage."), "error")
    else:
        try:
            migration.revert_instance(runtime().engine, row.id, actor)
            flash(_("Sag %(case)s er ført tilbage til sin tidligere version.", case=row.case_id), "success")
        except Conflict:
            flash(_("Sag %(case)s kan ikke føres tilbage: der er sket noget på den nye version.", case=row.case_id),
                  "error")
    return redirect(url_for("studio.version_diff", version_id=version_id))
