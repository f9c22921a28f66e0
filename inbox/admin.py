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

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select

from inbox.access import current_actor, current_user, login_required, runtime
from inbox.formatting import iso_date
from inbox.limits import DB_INT_MAX, page_number, unstorable
from inbox.security import wall_now
from processes import archives, municipalities as municipalities_core, policy_changes, timekeeping, users
from processes.engine import Engine
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from processes.library import ModelInvalid
from processes.models import AuditEvent, ModelVersion, Municipality, MunicipalModel, PolicyVersion, User
from processes.policy import BY_KEY, CASE_TYPES, CATALOGUE, check_value, defaults
from processes.roles import ROLES
from processes.scripting import danish_date

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
        colleagues = [u for u in users.users_of(db, admin.municipality_id) if u.id != user.id and u.active]
    return render_template("admin/user.html", person=user, roles=ROLES, password=password, errors=errors or {},
                           tokens=tokens, sessions=sessions, is_self=user.id == admin.id,
                           colleagues=colleagues), 422 if errors else 200


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
    """Away from/to with an optional substitute; owner tasks are handed on and come back."""
    days, errors = {}, {}
    for name in ("from", "until"):
        text = iso_date(request.form.get(name))
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError:
            errors[name] = [_("Skriv en dato som dd.mm.åååå.")]
    if errors:
        return _user_page(user_id, errors=errors)
    substitute_id = request.form.get("substitute", type=int)

    def change(db, user, now):
        substitute = users.user_for(db, _admin(), substitute_id) if substitute_id else None
        moved = users.set_absent(db, current_actor(), user, days["until"], now, start=days["from"],
                                 substitute=substitute)
        if days["until"]:
            flash(_("Fraværet er gemt. %(n)s opgave(r) er givet videre.", n=moved["handed_on"]), "success")
        else:
            flash(_("Brugeren er markeret som til stede. %(n)s opgave(r) er kommet tilbage.", n=moved["returned"]),
                  "success")
    return _change(user_id, change, "")


# ------------------------------------------------------------------ policies within the law
def _case_type(value: str | None) -> str:
    return value if value in CASE_TYPES else CASE_TYPES[0]


_UNITS = {"D": _l("%(n)s dage"), "W": _l("%(n)s uger"), "M": _l("%(n)s måneder"), "Y": _l("%(n)s år")}
_ONE = {"D": _l("1 dag"), "W": _l("1 uge"), "M": _l("1 måned"), "Y": _l("1 år")}


def duration_words(value) -> str:
    """``P3W`` as "3 uger" (simple one-unit durations; anything else as written)."""
    if isinstance(value, bool):
        return _("ja") if value else _("nej")
    if value is None:
        return _("ikke sat")
    match = re.fullmatch(r"P(\d+)([DWMY])", str(value))
    if not match:
        return str(value)
    n = int(match.group(1))
    return str(_ONE[match.group(2)]) if n == 1 else str(_UNITS[match.group(2)]) % {"n": n}


def _reasons(db, municipality_id: int) -> dict[int, str]:
    """Why each policy version was made (from its ``policy.set`` audit event)."""
    rows = db.scalars(select(AuditEvent).where(AuditEvent.municipality_id == municipality_id,
                                               AuditEvent.action == "policy.set"))
    return {e.detail.get("version"): e.detail.get("reason") for e in rows if e.detail.get("reason")}


@bp.route("/politik")
@login_required
def policy_catalogue():
    """Every parameter per case type: meaning, value in force, default, bound, rule, history."""
    admin = _admin()
    with runtime().sessions() as db:
        municipality = db.get(Municipality, admin.municipality_id)
        now = timekeeping.now(db)
        history = policy_changes.history(db, municipality.key)
        reasons = _reasons(db, municipality.id)
        sections = []
        for case_type in CASE_TYPES:
            current = policy_changes.in_force(db, municipality.id, case_type, now)
            values = current.values if current is not None else {}
            sections.append({
                "case_type": case_type, "current": current,
                "params": [(p, values.get(p.key, p.default)) for p in CATALOGUE if p.case_type == case_type],
                "history": [dict(row, reason=reasons.get(row["id"])) for row in history
                            if row["case_type"] == case_type],
            })
    return render_template("admin/policy.html", sections=sections, municipality=municipality, now=now)


def _form_values(case_type: str) -> tuple[dict, list[str]]:
    """The posted value of each parameter as the CLI's ``KEY=VALUE`` assignments."""
    shown, assignments = {}, []
    for param in (p for p in CATALOGUE if p.case_type == case_type):
        text = (request.form.get(param.key) or "").strip()
        shown[param.key] = text
        if text:
            assignments.append(f"{param.key}={text}")
    return shown, assignments


@bp.route("/politik/aendr", methods=["GET", "POST"])
@login_required
def policy_change():
    """Change a case type's policy: the CLI's parser and validation (nothing is stored
    on a problem), an effective date and a required reason; then the dry run."""
    admin = _admin()
    case_type = _case_type(request.values.get("sagstype"))
    errors: dict[str, list[str]] = {}
    with runtime().sessions() as db:
        municipality = db.get(Municipality, admin.municipality_id)
        now = timekeeping.now(db)
        current = policy_changes.in_force(db, municipality.id, case_type, now)
    in_force = {p.key: (current.values if current else {}).get(p.key, p.default)
                for p in CATALOGUE if p.case_type == case_type}
    shown = {k: _field_text(v) for k, v in in_force.items()}
    effective, reason = danish_date(now), ""
    if request.method == "POST":
        shown, assignments = _form_values(case_type)
        effective = (request.form.get("effective_from") or "").strip()
        reason = (request.form.get("reason") or "").strip()
        if not reason:
            errors["reason"] = [_("Skriv hvorfor politikken ændres.")]
        elif len(reason) > 1000 or unstorable(reason):
            errors["reason"] = [_("Begrundelsen kan højst have 1000 tegn.")]
        try:
            day = date.fromisoformat(iso_date(effective))
        except ValueError:
            errors["effective_from"] = [_("Skriv en dato som dd.mm.åååå.")]
        values = {}
        try:
            values = policy_changes.parse_assignments(assignments)
        except InvalidInput as exc:
            errors.setdefault("values", []).append(str(exc))
        changed = {k: v for k, v in values.items() if in_force.get(k) != v}
        for key, value in changed.items():
            problem = check_value(BY_KEY[key], value)
            if problem:
                errors[key] = [problem]
        if not changed and "values" not in errors:
            errors["values"] = [_("Ingen værdier er ændret.")]
        if not errors:
            try:
                with runtime().sessions.begin() as db:
                    created = policy_changes.set_policy(db, municipality.key, changed, day, admin.username,
                                                        timekeeping.now(db), reason)
                    version = created[0].id
            except InvalidInput as exc:  # what only the whole policy shows (keys against each other)
                errors["values"] = [str(exc)]
            else:
                flash(_("Version %(v)s er gemt og gælder for nye sager fra %(day)s. Se herunder, hvad den betyder "
                        "for de kørende sager.", v=version, day=day.isoformat()), "success")
                return redirect(url_for("admin.policy_apply", sagstype=case_type))
    params = [p for p in CATALOGUE if p.case_type == case_type]
    return render_template("admin/policy_change.html", case_type=case_type, params=params, shown=shown,
                           in_force=in_force, current=current, errors=errors, effective=effective, reason=reason,
                           case_types=CASE_TYPES), 422 if errors else 200


def _field_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@bp.route("/politik/anvend", methods=["GET", "POST"])
@login_required
def policy_apply():
    """The dry run of moving a case type's running cases onto the policy in force now
    (each case, each deadline that moves, old and new date); applying it needs a second
    confirmation and is audited per case (``policy.apply``)."""
    admin = _admin()
    case_type = _case_type(request.values.get("sagstype"))
    error = None
    with runtime().sessions() as db:
        key = db.get(Municipality, admin.municipality_id).key
    if request.method == "POST":
        target, _plans = policy_changes.plan_apply(runtime().engine, key, case_type)
        if request.form.get("bekraeft") != "ja":
            error = _("Sæt kryds for at bekræfte, at de kørende sager skal flyttes.")
        elif request.form.get("version", type=int) != target.id:
            error = _("Politikken i kraft er ændret, siden prøvekørslen blev vist. Se den nye prøvekørsel.")
        else:
            target, done = policy_changes.apply(runtime().engine, key, case_type, admin.username)
            flash(_("%(n)s kørende sag(er) er flyttet til version %(v)s.", n=len(done), v=target.id), "success")
            return redirect(url_for("admin.policy_catalogue", _anchor=f"sagstype-{case_type}"))
    target, plans = policy_changes.plan_apply(runtime().engine, key, case_type)
    with runtime().sessions.begin() as db:  # who saw which cases in the dry run
        Engine.audit(db, current_actor(), "policy.dry_run", admin.municipality_id, None, None,
                     {"case_type": case_type, "version": target.id, "cases": [p.case_id for p in plans]},
                     timekeeping.now(db))
        later = list(db.scalars(select(PolicyVersion).where(
            PolicyVersion.municipality_id == admin.municipality_id, PolicyVersion.case_type == case_type,
            PolicyVersion.effective_from > timekeeping.now(db)).order_by(PolicyVersion.effective_from)))
    return render_template("admin/policy_apply.html", case_type=case_type, target=target, plans=plans,
                           later=later, error=error, case_types=CASE_TYPES), 422 if error else 200


def _version(db, admin: User, version_id: int) -> PolicyVersion:
    found = db.get(PolicyVersion, version_id)
    if found is None or found.municipality_id != admin.municipality_id:
        raise NotFound(f"policy version {version_id} not found")
    return found


@bp.route("/politik/versioner/<int:policy_version_id>")
@login_required
def policy_version(policy_version_id: int):
    """One version beside another of the same case type (``?med=<id>``; by default the
    version before it, or the defaults for the first)."""
    admin = _admin()
    with runtime().sessions() as db:
        version = _version(db, admin, policy_version_id)
        siblings = list(db.scalars(select(PolicyVersion).where(
            PolicyVersion.municipality_id == admin.municipality_id, PolicyVersion.case_type == version.case_type)
            .order_by(PolicyVersion.effective_from, PolicyVersion.id)))
        other_id = request.args.get("med", type=int)
        if other_id is not None:
            other = _version(db, admin, other_id)
            if other.case_type != version.case_type:
                raise NotFound(f"policy version {other_id} is not a {version.case_type} version")
        else:
            index = siblings.index(version)
            other = siblings[index - 1] if index > 0 else None
        reasons = _reasons(db, admin.municipality_id)
    left = other.values if other is not None else defaults(version.case_type)
    rows = [(p, left.get(p.key, p.default), version.values.get(p.key, p.default))
            for p in CATALOGUE if p.case_type == version.case_type]
    return render_template("admin/policy_version.html", version=version, other=other, rows=rows,
                           siblings=siblings, reasons=reasons)


@bp.route("/politik/sammenlign")
@login_required
def policy_compare():
    """This municipality's values in force beside the defaults and another municipality's
    (policy values are not personal data)."""
    admin = _admin()
    case_type = _case_type(request.args.get("sagstype"))
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        own = db.get(Municipality, admin.municipality_id)
        others = list(db.scalars(select(Municipality).where(Municipality.id != own.id).order_by(Municipality.name)))
        other = next((m for m in others if m.key == request.args.get("kommune")), others[0] if others else None)
        mine = policy_changes.in_force(db, own.id, case_type, now)
        theirs = policy_changes.in_force(db, other.id, case_type, now) if other is not None else None
    rows = [(p, (mine.values if mine else {}).get(p.key, p.default), p.default,
             (theirs.values if theirs else {}).get(p.key, p.default) if other is not None else None)
            for p in CATALOGUE if p.case_type == case_type]
    return render_template("admin/policy_compare.html", rows=rows, own=own, other=other, others=others,
                           case_type=case_type, case_types=CASE_TYPES)


@bp.app_template_filter("duration_words")
def _duration_words_filter(value) -> str:
    return duration_words(value)


# ------------------------------------------------------------------ audit log (read-only)
AUDIT_PAGE_SIZE = 100
AUDIT_EXPORT_LIMIT = 100_000


@dataclass
class AuditFilter:
    """The audit page's filters, read from the query string; ``errors`` per field."""

    user: str = ""
    case: int | None = None
    action: str = ""
    start: date | None = None
    end: date | None = None
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> "AuditFilter":
        found = cls(user=(args.get("bruger") or "").strip()[:100], action=(args.get("handling") or "").strip()[:100])
        case = (args.get("sag") or "").strip()
        if case:
            if case.isascii() and case.isdigit() and int(case) <= DB_INT_MAX:
                found.case = int(case)
            else:
                found.errors["sag"] = [_("Sagsnummeret skal være et tal.")]
        for name, attribute in (("fra", "start"), ("til", "end")):
            text = iso_date(args.get(name))
            if text:
                try:
                    setattr(found, attribute, date.fromisoformat(text))
                except ValueError:
                    found.errors[name] = [_("Skriv en dato som dd.mm.åååå.")]
        return found

    def args(self) -> dict:
        return {k: v for k, v in (("bruger", self.user), ("sag", self.case), ("handling", self.action),
                                  ("fra", self.start), ("til", self.end)) if v not in ("", None)}

    def where(self, municipality_id: int) -> list:
        """SQL conditions: always the municipality's own rows only."""
        conditions = [AuditEvent.municipality_id == municipality_id]
        if self.user:
            conditions.append(AuditEvent.actor == self.user)
        if self.case is not None:
            conditions.append(AuditEvent.case_id == self.case)
        if self.action:
            conditions.append(AuditEvent.action == self.action)
        if self.start:
            conditions.append(AuditEvent.at >= policy_changes.local_midnight(self.start))
        if self.end:
            conditions.append(AuditEvent.at < policy_changes.local_midnight(self.end + timedelta(days=1)))
        return conditions


def _audit_rows(admin: User, found: AuditFilter, limit: int, offset: int = 0) -> tuple[list[AuditEvent], int]:
    with runtime().sessions() as db:
        where = found.where(admin.municipality_id)
        total = db.scalar(select(func.count(AuditEvent.id)).where(*where))
        rows = list(db.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                               .limit(limit).offset(offset)))
    return rows, total


def _audit_actions(admin: User) -> list[str]:
    with runtime().sessions() as db:
        return list(db.scalars(select(AuditEvent.action).where(AuditEvent.municipality_id == admin.municipality_id)
                               .distinct().order_by(AuditEvent.action)))


def detail_text(detail) -> str:
    return json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)


# The audit page names the known keys of an event's details in words (any other key as it
# is written); the CSV keeps the raw JSON.
DETAIL_LABELS = {
    "user": _l("Bruger"), "username": _l("Brugernavn"), "roles": _l("Roller"), "admin": _l("Administrator"),
    "national": _l("National"), "task": _l("Opgave"), "task_id": _l("Opgave-id"), "name": _l("Navn"),
    "why": _l("Årsag"), "reason": _l("Begrundelse"), "released_tasks": _l("Frigivne opgaver"),
    "from": _l("Fra"), "to": _l("Til"), "until": _l("Indtil"), "substitute": _l("Stedfortræder"),
    "owner": _l("Ejer"), "returned": _l("Givet tilbage"), "process": _l("Forløb"),
    "case_type": _l("Sagstype"), "case_id": _l("Sag"), "instance_id": _l("Procesinstans"),
    "version": _l("Version"), "from_version": _l("Fra version"), "to_version": _l("Til version"),
    "from_version_id": _l("Fra version (id)"), "to_version_id": _l("Til version (id)"),
    "model_version": _l("Modelversion"), "model_version_id": _l("Modelversion (id)"),
    "instance_version": _l("Forløbets version"), "status": _l("Status"), "before": _l("Før"),
    "deadlines": _l("Frister"), "timer": _l("Tidsfrist"), "rule": _l("Regel"), "due_at": _l("Frist"),
    "effective_from": _l("Gælder fra"), "changes": _l("Ændringer"), "changed": _l("Ændret"),
    "draft": _l("Kladde"), "imported": _l("Importeret"), "comment": _l("Kommentar"),
    "scenarios": _l("Scenarier"), "data": _l("Indsendte oplysninger"), "idempotency_key": _l("Gentagelsesnøgle"),
    "kind": _l("Slags"), "query": _l("Søgning"), "cases": _l("Sager"), "total": _l("I alt"),
    "filters": _l("Filtre"), "rows": _l("Rækker"), "notifications": _l("Beskeder"), "via": _l("Via"),
    "days": _l("Dage"), "token": _l("API-nøgle"), "tokens": _l("API-nøgler"), "sessions": _l("Sessioner"),
    "address": _l("Adresse"), "scope": _l("Omfang"), "failures": _l("Fejlede forsøg"),
    "wait_seconds": _l("Ventetid (sekunder)"), "run": _l("Kørsel"), "title": _l("Titel"),
    "key": _l("Nøgle"), "bytes": _l("Bytes"), "stored_bytes": _l("Gemte bytes"), "dropped": _l("Fjernet"),
    "models": _l("Modeller"), "policy": _l("Politik"),
}
# A CPR number anywhere in a detail (a search for one, a form field) is shown masked.
_CPR_IN_TEXT = re.compile(r"(?<!\d)(\d{6})-?\d{4}(?!\d)")


class DetailItem(NamedTuple):
    """One of an audit event's details on the page: ``label`` (``named``: in words, else the
    key as written) and ``value`` (``said``: a word of the page's language, else the value
    as recorded)."""
    label: str
    named: bool
    value: str
    said: bool


def _detail_value(value) -> tuple[str, bool]:
    """A detail's value and whether it is a word: lists joined, nested details as "key: value"."""
    if value is None:
        return "–", True
    if isinstance(value, bool):
        return (_("Ja") if value else _("Nej")), True
    if isinstance(value, (list, dict)) and not value:
        return _("ingen"), True
    if isinstance(value, list):
        return ", ".join(_detail_value(v)[0] for v in value), False
    if isinstance(value, dict):
        return "; ".join(f"{item.label}: {item.value}" for item in detail_items(value)), False
    return _CPR_IN_TEXT.sub(r"\1-XXXX", str(value)), False


def detail_items(detail) -> list[DetailItem]:
    """An audit event's details for the page, in key order."""
    return [DetailItem(str(DETAIL_LABELS.get(key, key)), key in DETAIL_LABELS, *_detail_value(value))
            for key, value in sorted((detail or {}).items())]


@bp.route("/revision")
@login_required
def audit():
    """The municipality's audit log, newest first, filtered by user, case, action and
    period. There is no route that changes or deletes a row (and the database refuses
    it: migration 0008)."""
    admin = _admin()
    found = AuditFilter.from_args(request.args)
    page = page_number(request.args.get("side"))
    rows, total = ([], 0) if found.errors else _audit_rows(admin, found, AUDIT_PAGE_SIZE,
                                                           (page - 1) * AUDIT_PAGE_SIZE)
    actions = _audit_actions(admin)
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    return render_template("admin/audit.html", rows=rows, total=total, actions=actions, found=found, page=page,
                           pages=pages, detail_items=detail_items), 422 if found.errors else 200


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text (a leading =, +, - or @ would be a formula)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


@bp.route("/revision.csv")
@login_required
def audit_csv():
    """The filtered audit log as CSV (UTF-8 with BOM for spreadsheets); the export is audited."""
    admin = _admin()
    found = AuditFilter.from_args(request.args)
    if found.errors:
        raise InvalidInput("invalid audit filter", found.errors)
    rows, total = _audit_rows(admin, found, AUDIT_EXPORT_LIMIT)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["id", "tidspunkt", "bruger", "handling", "sag", "procesinstans", "detaljer"])
    for row in rows:
        writer.writerow([row.id, row.at.isoformat(), _cell(row.actor), _cell(row.action), row.case_id or "",
                         row.instance_id or "", _cell(detail_text(row.detail))])
    with runtime().sessions.begin() as db:
        Engine.audit(db, current_actor(), "audit.export", admin.municipality_id, None, None,
                     {"filters": {k: str(v) for k, v in found.args().items()}, "rows": len(rows), "total": total},
                     timekeeping.now(db))
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=revisionslog.csv"
    return response


# ------------------------------------------------------------------ municipalities (national)
def _overview(db) -> list[dict]:
    """Every municipality with its models per case type and its policy versions."""
    out = []
    for municipality in db.scalars(select(Municipality).order_by(Municipality.name)):
        models = db.execute(select(MunicipalModel.case_type, ModelVersion).join(
            ModelVersion, ModelVersion.id == MunicipalModel.model_version_id)
            .where(MunicipalModel.municipality_id == municipality.id).order_by(MunicipalModel.case_type)).all()
        versions = list(db.scalars(select(PolicyVersion).where(PolicyVersion.municipality_id == municipality.id)
                                   .order_by(PolicyVersion.case_type, PolicyVersion.effective_from, PolicyVersion.id)))
        out.append({"municipality": municipality, "models": models, "versions": versions})
    return out


@bp.route("/kommuner", methods=["GET", "POST"])
@login_required
def municipalities():
    """The national administrator: every municipality's models and policy versions, and
    registering one by uploading its folder as a zip (validated as ``sagsflow
    municipality add`` validates a folder; nothing is stored on any problem)."""
    national = _national()
    problems, registered, status, warnings = [], None, 200, []
    created = None  # (municipality key, username, one-time password) of a new administrator
    admin_errors: dict = {}
    if request.method == "POST" and request.form.get("handling") == "administrator":
        # A municipality's administrator (the first one of a new municipality, or another):
        # the national administrator creates the account; it manages the rest itself.
        key = request.form.get("kommune", "")
        try:
            with runtime().sessions.begin() as db:
                municipality = db.scalar(select(Municipality).where(Municipality.key == key))
                if municipality is None:
                    raise NotFound(f"municipality {key!r} not found")
                user, password = users.create_user(db, current_actor(), municipality,
                                                   request.form.get("username", ""),
                                                   request.form.get("full_name", ""), [], timekeeping.now(db),
                                                   is_admin=True)
                created = (key, user.username, password)
        except InvalidInput as exc:
            admin_errors, status = {"kommune": key, **exc.errors}, 422
    elif request.method == "POST":
        upload = request.files.get("mappe")
        update = request.form.get("opdater") == "ja"
        if upload is None or not upload.filename:
            problems, status = [_("Vælg en zip-fil med kommunens mappe.")], 422
        else:
            name = Path(upload.filename).name[:200] or "upload.zip"
            try:
                config = archives.load_zip(upload.read(), name)
                with runtime().sessions.begin() as db:
                    municipalities_core.register(db, config, timekeeping.now(db), changed_by=national.username,
                                                 update=update)
                registered = config
                # not errors: texts without English (docs/modelling.md "English") show in Danish
                warnings = [str(w) for model, _shared in config.models.values() for w in model.warnings]
            except ModelInvalid as exc:
                problems, status = [str(p) for p in exc.problems], 422
            except Conflict:
                problems = [_("%(file)s: key: kommunen %(key)s findes allerede; sæt kryds i »Opdatér en "
                              "eksisterende kommune« for at ændre den.", file=name, key=config.key)]
                status = 409
    with runtime().sessions() as db:
        overview = _overview(db)
    return render_template("admin/municipalities.html", overview=overview, problems=problems,
                           registered=registered, defaults=defaults, created=created,
                           admin_errors=admin_errors, warnings=warnings), status
