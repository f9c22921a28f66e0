"""Letters to the citizen: Danish texts per template, rendered as HTML documents.

A letter service task queues an outbox row (``template``, ``params``, ``process_id``,
``bpmn_id``, ``task_guid``); the worker calls :func:`render_letter` after commit and
stores the result as a ``document`` of the case. The letter reads the case's citizen
name, the municipality's name and the process data as it was when the letter task ran.
Every value from the case is HTML-escaped. The CPR number never appears in a letter body
(the address block of a real letter comes from the digital post service).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from processes.catalogue import SpecCache
from processes.models import Case, Municipality, Outbox, ProcessInstance
from processes.serialization import instance_from_json

LOCAL = ZoneInfo("Europe/Copenhagen")
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")
OUTCOMES = {
    "ressourceforloeb": "et ressourceforløb", "fleksjob": "fleksjob", "foertidspension": "førtidspension",
    "anden_indsats": "en anden indsats", "udsaettelse": "at sagen udsættes", "tilkendt": "førtidspension",
    "afslag": "afslag",
}


class UnknownTemplate(ValueError):
    """The outbox row names a template this module does not have."""


@dataclass(frozen=True)
class Letter:
    template: str
    title: str
    body: str  # HTML


def danish_date(value: Any) -> str:
    """``2027-01-25`` -> ``25. januar 2027``; datetimes are shown in Copenhagen time."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL).date() if value.tzinfo else value.date()
    return f"{value.day}. {MONTHS[value.month - 1]} {value.year}"


class _Context:
    """Escaped access to the letter's data: ``ctx["moededato"]`` is safe to put in HTML."""

    def __init__(self, data: dict):
        self.data = data

    def raw(self, key: str, default: Any = "") -> Any:
        value = self.data.get(key)
        return default if value in (None, "") else value

    def __getitem__(self, key: str) -> str:
        return escape(str(self.raw(key)))

    def date(self, key: str) -> str:
        return escape(danish_date(self.raw(key, None)))

    def outcome(self, key: str) -> str:
        value = self.raw(key)
        return escape(OUTCOMES.get(value, str(value).replace("_", " ")))

    def para(self, key: str, label: str) -> str:
        value = self.raw(key)
        return f"<p><strong>{escape(label)}:</strong> {escape(str(value))}</p>" if value else ""


def _invitation_moede(c: _Context) -> tuple[str, str]:
    when = c.date("moededato") or "en dato, vi oplyser snarest"
    time = f" kl. {c['moedetidspunkt']}" if c.raw("moedetidspunkt") else ""
    return ("Invitation til møde i rehabiliteringsteamet", f"""
<p>Du inviteres til møde i rehabiliteringsteamet den {when}{time}.</p>
<p>På mødet drøfter vi sammen med dig og din sagsbehandler, hvad der skal til for at du kan
komme i arbejde eller uddannelse. Du er velkommen til at tage en bisidder med.</p>
<p>Rehabiliteringsteamet får din sag, herunder den forberedende del, inden mødet.</p>""")


def _partshoering(c: _Context) -> tuple[str, str]:
    frist = c.raw("partshoering_svarfrist") or c.data.get("policy", {}).get("rehab_partshoering_svarfrist", "")
    days = _duration_days(frist)
    reply = f"inden {days} dage" if days else "inden for den frist, der står i brevet"
    return ("Partshøring", f"""
<p>Inden vi træffer afgørelse i din sag, får du mulighed for at komme med bemærkninger
(partshøring, forvaltningslovens § 19).</p>
{c.para("indstilling", "Rehabiliteringsteamets indstilling")}
{c.para("indstilling_begrundelse", "Begrundelse")}
<p>Du kan sende dine bemærkninger {reply}. Hører vi ikke fra dig, træffer vi afgørelse
på det foreliggende grundlag.</p>""")


def _afgoerelse(c: _Context) -> tuple[str, str]:
    what = c.outcome("afgoerelse") if c.raw("afgoerelse") else c.outcome("indstilling")
    dated = f" den {c.date('afgoerelsesdato')}" if c.raw("afgoerelsesdato") else ""
    return ("Afgørelse", f"""
<p>Vi har{dated} truffet afgørelse i din sag: <strong>{what}</strong>.</p>
{c.para("afgoerelse_begrundelse", "Begrundelse")}
{_klagevejledning()}""")


def _afslag(c: _Context) -> tuple[str, str]:
    applied = c.outcome("ansoegt_om") if c.raw("ansoegt_om") else "det, du har søgt om"
    return ("Afgørelse: afslag", f"""
<p>Du får afslag på {applied}.</p>
{c.para("afgoerelse_begrundelse", "Begrundelse")}
{c.para("arbejdsfunktion", "Konkret arbejdsfunktion, du vurderes at kunne varetage")}
{_klagevejledning()}""")


def _oversendelse_pension(c: _Context) -> tuple[str, str]:
    dated = c.date("oversendelsesdato") or c.date("startdato")
    return ("Din sag er sendt til pensionsteamet", f"""
<p>Din sag om førtidspension er den {dated} sendt til behandling i pensionsteamet.</p>
<p>Du får tilbud om et møde med dem, der træffer afgørelsen, inden der træffes afgørelse
(pensionslovens § 20, stk. 3). Afgørelsen skal træffes senest 3 måneder efter
oversendelsen.</p>""")


def _forsinkelse(c: _Context) -> tuple[str, str]:
    expected = c.date("forventet_afgoerelsesdato")
    when = f" Vi forventer at træffe afgørelse senest den {expected}." if expected else (
        " Vi skriver til dig igen med en forventet dato, så snart vi kan.")
    return ("Din sag tager længere tid end forventet", f"""
<p>Vi kan desværre ikke træffe afgørelse i din sag inden for den frist, loven fastsætter.{when}</p>
<p>Vi beklager ventetiden. Du er velkommen til at kontakte os, hvis du har spørgsmål.</p>""")


def _indkaldelse_samtale(c: _Context) -> tuple[str, str]:
    when = c.date("samtaledato")
    text = f"den {when}" if when else "snarest; vi kontakter dig med tid og sted"
    return ("Indkaldelse til samtale", f"""
<p>Du indkaldes til samtale i jobcentret {text}.</p>
<p>Samtalen handler om din situation og den videre indsats. Du er velkommen til at tage en
bisidder med. Kan du ikke komme, skal du give os besked hurtigst muligt.</p>""")


def _klagevejledning() -> str:
    return ("<h2>Klagevejledning</h2><p>Du kan klage over afgørelsen inden 4 uger efter, at du har "
            "modtaget den. Klagen sendes til kommunen, som genvurderer sagen, inden den sendes "
            "videre til Ankestyrelsen.</p>")


def _duration_days(value: Any) -> int | None:
    from processes.policy import duration_length
    try:
        return duration_length(value).days if value else None
    except Exception:
        return None


TEMPLATES: dict[str, Callable[[_Context], tuple[str, str]]] = {
    "invitation_moede": _invitation_moede,
    "partshoering": _partshoering,
    "afgoerelse": _afgoerelse,
    "afslag": _afslag,
    "oversendelse_pension": _oversendelse_pension,
    "forsinkelse": _forsinkelse,
    "indkaldelse_samtale": _indkaldelse_samtale,
}


def compose(template: str, data: dict, citizen_name: str, municipality_name: str, today: date) -> Letter:
    """Render one letter from plain values (no database); the unit the tests check."""
    build = TEMPLATES.get(template)
    if build is None:
        raise UnknownTemplate(f"no letter template {template!r}")
    title, content = build(_Context(data))
    body = (f'<article class="brev" lang="da">'
            f'<header><p class="afsender">{escape(municipality_name)}<br>Jobcenter</p>'
            f'<p class="modtager">{escape(citizen_name)}</p>'
            f'<p class="dato">{escape(danish_date(today))}</p></header>'
            f'<h1>{escape(title)}</h1>{content.strip()}'
            f'<footer><p>Med venlig hilsen<br>{escape(municipality_name)}, Jobcenter</p></footer></article>')
    return Letter(template, title, body)


def letter_data(session: Session, specs: SpecCache, instance_id: int | None, task_guid: str | None) -> dict:
    """The process data the letter task saw (the workflow's data if the task is gone)."""
    if instance_id is None:
        return {}
    row = session.get(ProcessInstance, instance_id)
    if row is None or not row.state:
        return {}
    loaded = specs.get(session, row.model_version_id)
    wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
    task = None
    if task_guid:
        from uuid import UUID
        task = wf.get_task_from_id(UUID(task_guid))
    if task is not None:
        return dict(task.data)
    return dict(wf.last_task.data) if wf.last_task is not None else dict(wf.data)


def render_letter(session: Session, specs: SpecCache, item: Outbox, today: date) -> Letter:
    """Render the letter an outbox row asks for, from the case as it is in the database."""
    payload = item.payload or {}
    case = session.get(Case, item.case_id)
    municipality = session.get(Municipality, item.municipality_id)
    data = letter_data(session, specs, item.instance_id, payload.get("task_guid"))
    data.update({k: v for k, v in (payload.get("params") or {}).items() if k != "template"})
    return compose(payload.get("template", ""), data, case.citizen_name if case else "",
                   municipality.name if municipality else "", today)
