"""Template helpers: dates in Copenhagen time, role and case-type names, due states."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import format_date, format_datetime, get_locale, lazy_gettext as _l

from processes.engine import mask_cpr
from processes.roles import ROLES

CASE_TYPES = {
    "rehabilitering": _l("Rehabilitering"),
    "ressourceforloeb": _l("Ressourceforløb"),
    "fleksjob": _l("Fleksjob"),
    "foertidspension": _l("Førtidspension"),
    "sygedagpenge": _l("Sygedagpenge"),
}
DUE_LABELS = {
    "overskredet": _l("Overskredet"),
    "snart": _l("Snart"),
    "ok": _l("I god tid"),
    "ingen": _l("Ingen frist"),
}
STATE_LABELS = {
    "open": _l("Åben"), "completed": _l("Afsluttet"), "cancelled": _l("Annulleret"),
    "running": _l("I gang"),
}


def role_name(key: str) -> str:
    names = ROLES.get(key)
    if names is None:
        return key
    return names[1] if str(get_locale()) == "en" else names[0]


def case_type_name(key: str) -> str:
    return str(CASE_TYPES.get(key, key))


def local_date(value: datetime | None) -> str:
    return format_date(value, "medium") if value else ""


def local_datetime(value: datetime | None) -> str:
    return format_datetime(value, "d. MMM y HH:mm" if str(get_locale()) == "da" else "d MMM y HH:mm") \
        if value else ""


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=local_date, datetime=local_datetime, mask_cpr=mask_cpr, role=role_name,
        case_type=case_type_name, due_label=lambda s: str(DUE_LABELS.get(s, s)),
        state_label=lambda s: str(STATE_LABELS.get(s, s)))
    from inbox.access import current_user
    app.jinja_env.globals.update(ROLES=ROLES, CASE_TYPES=CASE_TYPES, DUE_LABELS=DUE_LABELS,
                                 current_user=current_user, get_locale=get_locale)
    app.jinja_env.add_extension("jinja2.ext.do")
