"""Template helpers: dates in Copenhagen time, role and case-type names, due states."""
from __future__ import annotations

import re

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from flask import Flask, g, url_for
from flask_babel import get_locale, get_translations, lazy_gettext as _l

from processes.engine import mask_cpr
from processes.roles import ROLES

LOCAL = ZoneInfo("Europe/Copenhagen")
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
    return _text(CASE_TYPES[key]) if key in CASE_TYPES else str(key)


def _text(lazy) -> str:
    """A ``_l()`` text in the locale in force, with the request's translations
    (:func:`_translations`): the case page names a process on every timeline row."""
    args = getattr(lazy, "_args", None)
    if not args or getattr(lazy, "_kwargs", None) or len(args) != 1:
        return str(lazy)
    return _translations().ugettext(args[0])


def local_date(value: datetime | None) -> str:
    if not value:
        return ""
    return _date_text(value.astimezone(LOCAL).date(), str(get_locale()))


@lru_cache(maxsize=4096)
def _date_text(day: date, locale: str) -> str:
    # Formatting with Babel costs more than the inbox query; an inbox page shows few
    # distinct dates, so each is formatted once per language.
    return babel_format_date(day, "medium", locale=locale)


@lru_cache(maxsize=256)
def url_pattern(endpoint: str, key: str) -> str:
    """``url_for(endpoint, key=…)`` as a ``str.format`` pattern: a table of tasks builds
    its links without one ``url_for`` per row."""
    return url_for(endpoint, **{key: _SENTINEL}).replace(str(_SENTINEL), "{}")


_SENTINEL = 987654321


def labels() -> dict:
    """Role, case-type, due-state and state names in the current language (once per page)."""
    return {"role": {k: role_name(k) for k in ROLES}, "case_type": {k: str(v) for k, v in CASE_TYPES.items()},
            "due": {k: str(v) for k, v in DUE_LABELS.items()}}


def local_day(value) -> str:
    """A calendar date (a ``date`` or an ISO date text, as case data holds it) in the
    page's language; other text is shown as it is."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:  # a datetime text is shown on its Danish day, never cut to its UTC date
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return local_date(value)
    return _date_text(value, str(get_locale()))


_DANISH_DATE = re.compile(r"^\s*(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})\s*$")


def iso_date(text: str | None) -> str:
    """A date typed the Danish way (``31.01.2027``, ``31-1-2027``, ``31/1/2027``) as ISO
    text; anything else unchanged (stripped), for the caller's validation to judge."""
    match = _DANISH_DATE.match(text or "")
    if match is None:
        return (text or "").strip()
    day, month, year = (int(g) for g in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}"


def date_input(value) -> str:
    """An ISO date as a date field shows it (``31.01.2027``); other text (what the user
    typed into a refused form) as it is."""
    if value in (None, ""):
        return ""
    text = str(value)
    parts = text.split("-")
    if len(parts) == 3 and len(parts[0]) == 4 and all(p.isdigit() for p in parts):
        return f"{parts[2]}.{parts[1]}.{parts[0]}"   # also an impossible date, as it was typed
    return text


LETTER_NAMES = {
    "invitation_moede": _l("Invitation til møde i rehabiliteringsteamet"),
    "partshoering": _l("Partshøring"),
    "afgoerelse": _l("Afgørelse"),
    "afslag": _l("Afgørelse: afslag"),
    "fleksloentilskud": _l("Afgørelse om fleksløntilskud"),
    "oversendelse_pension": _l("Din sag er sendt til pensionsteamet"),
    "forsinkelse": _l("Din sag tager længere tid end forventet"),
    "indkaldelse_samtale": _l("Indkaldelse til samtale"),
}


def rule_name(key: str | None) -> str:
    """A deadline rule (a policy parameter key) by its name in the policy catalogue."""
    from processes.policy import label_in
    return label_in(key, language()) if key else ""


def language() -> str:
    """The page's language (``da`` or ``en``): which of a model's texts it shows."""
    return str(get_locale())


def task_name(row) -> str:
    """A stored task's name (``HumanTask``) in the page's language: the English its model
    declares beside the Danish (``docs/modelling.md``, "English"), else the Danish."""
    if row is None:
        return ""
    if language() != "en":
        return row.name
    if "model_names" not in g:  # once per page: the index is rebuilt only when a model is added
        from inbox.access import runtime
        from processes.model_text import name_index
        with runtime().sessions() as db:
            g.model_names = name_index(db)
    return g.model_names.name(row, "en")


def milestone_label(key: str) -> str:
    from processes.milestones import BY_KEY
    return BY_KEY[key].label_in(language()) if key in BY_KEY else key


def letter_name(template: str | None) -> str:
    return str(LETTER_NAMES.get(template, template or ""))


def document_title(doc) -> str:
    """A case document as a list names it: a letter by its kind in the page's language (its
    stored title is the Danish letter's heading), any other document by its title."""
    if language() != "da" and doc.template in LETTER_NAMES:
        return letter_name(doc.template)
    return doc.title


def local_datetime(value: datetime | None) -> str:
    """A moment in Copenhagen time, as Babel's ``d. MMM y HH:mm`` (Danish) or
    ``d MMM y HH:mm`` (English) gives it; a naive value is UTC, as Flask-Babel takes it.
    Formatted here from Babel's month names: ``format_datetime`` costs about 80 µs a call,
    and the case page's timeline has a hundred (``tests/test_inbox_i18n.py`` checks the two
    give the same text)."""
    if not value:
        return ""
    locale = str(get_locale())
    at = (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).astimezone(LOCAL)
    return f"{at.day}{'. ' if locale == 'da' else ' '}{_months(locale)[at.month]} {at.year} {at.hour:02d}:{at.minute:02d}"


@lru_cache(maxsize=8)
def _months(locale: str) -> dict[int, str]:
    return dict(Locale.parse(locale).months["format"]["abbreviated"])


def answer_value(value, spec: dict | None = None) -> str:
    """A submitted value as a person reads it: the enum's label, ja/nej, "–" for nothing."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return str(_l("Ja") if value else _l("Nej"))
    if (spec or {}).get("type") == "date":
        return local_day(value)
    for option in (spec or {}).get("options") or []:
        if option.get("id") == value:
            return option.get("name") or value
    return str(value)


def _translations():
    """Flask-Babel's translations for the locale in force (the request's, or the one
    ``force_locale`` sets), looked up once per request and locale: its own lookup for
    every ``_()`` in a template (the case page has about 300) cost more than the rest of
    the call."""
    locale = get_locale()
    if locale is None:   # outside a request
        return get_translations()
    memo = g.get("_sf_translations")
    if memo is None or memo[0] is not locale:
        memo = g._sf_translations = (locale, get_translations())
    return memo[1]


def register(app: Flask) -> None:
    # the templates' _(), ngettext() ... as Flask-Babel installs them, with the translations found once
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.filters.update(
        date=local_date, datetime=local_datetime, mask_cpr=mask_cpr, role=role_name,
        case_type=case_type_name, due_label=lambda s: _text(DUE_LABELS[s]) if s in DUE_LABELS else str(s),
        state_label=lambda s: _text(STATE_LABELS[s]) if s in STATE_LABELS else str(s), answer_value=answer_value,
        day=local_day, letter_name=letter_name, document_title=document_title, date_input=date_input,
        rule_name=rule_name, task_name=task_name, milestone_label=milestone_label)
    from inbox.access import current_user
    app.jinja_env.globals.update(ROLES=ROLES, CASE_TYPES=CASE_TYPES, DUE_LABELS=DUE_LABELS,
                                 current_user=current_user, get_locale=get_locale,
                                 url_pattern=url_pattern, labels=labels, model_language=language)
    app.jinja_env.add_extension("jinja2.ext.do")
