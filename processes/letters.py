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
from SpiffWorkflow.util.task import TaskState

from processes.catalogue import SpecCache
from processes.models import Case, Municipality, Outbox, ProcessInstance
from processes.serialization import instance_from_json

LOCAL = ZoneInfo("Europe/Copenhagen")
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")
# Words for outcome keys that reach a letter from another process (a hand-off payload), where
# no form of this process set them. Values a form of this process set use that form's label.
OUTCOMES = {
    "ressourceforloeb": "ressourceforløb", "fleksjob": "fleksjob", "foertidspension": "førtidspension",
    "anden_indsats": "en anden indsats", "udsaettelse": "at sagen udsættes",
}


class UnknownTemplate(ValueError):
    """The outbox row names a template this module does not have."""


@dataclass(frozen=True)
class Letter:
    template: str
    title: str
    body: str  # HTML
    # What the letter should have said but the data did not hold: an empty required value,
    # or an enum key without a label. Empty for a complete letter; tests assert that.
    missing: tuple[str, ...] = ()


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
    """Escaped access to the letter's data: ``ctx["moededato"]`` is safe to put in HTML.

    ``labels`` maps an enum field to ``{value: label}`` from the form that set it, so a
    letter shows the words the caseworker chose, never the key. Every required read that
    finds nothing is noted in ``missing``.
    """

    def __init__(self, data: dict, labels: dict[str, dict[str, str]] | None = None):
        self.data = data
        self.labels = labels or {}
        self.missing: list[str] = []

    def raw(self, key: str, default: Any = "") -> Any:
        value = self.data.get(key)
        return default if value in (None, "") else value

    def __getitem__(self, key: str) -> str:
        return escape(str(self.raw(key)))

    def need(self, key: str) -> str:
        """The escaped value of a placeholder the letter cannot do without."""
        if self.raw(key) == "":
            self.missing.append(key)
        return self[key]

    def date(self, key: str, required: bool = False) -> str:
        if required and self.raw(key) == "":
            self.missing.append(key)
        return escape(danish_date(self.raw(key, None)))

    def label(self, key: str) -> str:
        """The words for an enum value: the label of the form that set it, else a known outcome."""
        value = self.raw(key)
        if value == "":
            self.missing.append(key)
            return ""
        words = self.labels.get(key, {}).get(value) or OUTCOMES.get(value)
        if words is None:
            self.missing.append(f"{key}={value} (no label)")
            words = str(value)
        return escape(words)

    def para(self, key: str, label: str, required: bool = False) -> str:
        value = self.raw(key)
        if required and value == "":
            self.missing.append(key)
        return f"<p><strong>{escape(label)}:</strong> {escape(str(value))}</p>" if value else ""


def _invitation_moede(c: _Context) -> tuple[str, str]:
    when = c.date("moededato", required=True) or "en dato, vi oplyser snarest"
    time = f" kl. {c['moedetidspunkt']}" if c.raw("moedetidspunkt") else ""
    return ("Invitation til møde i rehabiliteringsteamet", f"""
<p>Du inviteres til møde i rehabiliteringsteamet den {when}{time}.</p>
<p>På mødet drøfter vi sammen med dig og din sagsbehandler, hvad der skal til for at du kan
komme i arbejde eller uddannelse. Du er velkommen til at tage en bisidder med.</p>
<p>Rehabiliteringsteamet får din sag, herunder den forberedende del, inden mødet.</p>""")


def _partshoering(c: _Context) -> tuple[str, str]:
    """Partshøring before a decision: what is proposed (the team's indstilling, or the
    decision the jobcentre intends), why, and the date by which the citizen can reply."""
    if c.raw("indstilling"):
        proposal = (f"<p>Rehabiliteringsteamet har indstillet til: <strong>{c.label('indstilling')}</strong>.</p>"
                    f"{c.para('indstilling_begrundelse', 'Teamets begrundelse')}")
    elif c.raw("paataenkt_afgoerelse"):
        proposal = (f"<p>Vi overvejer at træffe denne afgørelse: <strong>{c.label('paataenkt_afgoerelse')}"
                    f"</strong>.</p>{c.para('paataenkt_begrundelse', 'Begrundelse', required=True)}")
    elif c.raw("partshoering_grundlag"):
        proposal = f"{c.para('partshoering_grundlag', 'Afgørelsen skal træffes på grundlag af')}"
    else:
        c.missing.append("indstilling, paataenkt_afgoerelse or partshoering_grundlag")
        proposal = ""
    deadline = c.date("partshoering_svarfrist_dato", required=True)
    reply = f"senest den {deadline}" if deadline else "inden for den frist, vi har aftalt med dig"
    return ("Partshøring", f"""
<p>Inden vi træffer afgørelse i din sag, får du mulighed for at komme med bemærkninger
(partshøring, forvaltningslovens § 19).</p>
{proposal}
<p>Du kan sende dine bemærkninger {reply}. Hører vi ikke fra dig, træffer vi afgørelse
på det foreliggende grundlag.</p>""")


def _afgoerelse(c: _Context) -> tuple[str, str]:
    what = c.label("afgoerelse")
    dated = c.date("afgoerelsesdato", required=True)
    return ("Afgørelse", f"""
<p>Vi har den {dated} truffet afgørelse i din sag: <strong>{what}</strong>.</p>
{c.para("afgoerelse_begrundelse", "Begrundelse", required=True)}
{_klagevejledning()}""")


def _afslag(c: _Context) -> tuple[str, str]:
    applied = c.label("ansoegt_om")
    dated = c.date("afgoerelsesdato", required=True)
    foep = c.raw("ansoegt_om") == "foertidspension"
    offer = ""
    if foep:
        offered = c.date("moedetilbud_dato", required=True)
        offer = (f"<p>Du blev den {offered} tilbudt et møde med dem, der træffer afgørelsen "
                 f"(pensionslovens § 20, stk. 3).</p>")
    return ("Afgørelse: afslag", f"""
<p>Vi har den {dated} truffet afgørelse: du får afslag på {applied}.</p>
{c.para("afgoerelse_begrundelse", "Begrundelse", required=True)}
{c.para("arbejdsfunktion", "Konkret arbejdsfunktion, du vurderes at kunne varetage", required=foep)}
{offer}
{_klagevejledning()}""")


def _oversendelse_pension(c: _Context) -> tuple[str, str]:
    dated = c.date("oversendelsesdato", required=True)
    return ("Din sag er sendt til pensionsteamet", f"""
<p>Din sag om førtidspension er den {dated} sendt til behandling i pensionsteamet.</p>
<p>Du får tilbud om et møde med dem, der træffer afgørelsen, inden der træffes afgørelse
(pensionslovens § 20, stk. 3). Afgørelsen skal træffes senest 3 måneder efter
oversendelsen.</p>""")


def _forsinkelse(c: _Context) -> tuple[str, str]:
    expected = c.date("forventet_afgoerelsesdato", required=True)
    return ("Din sag tager længere tid end forventet", f"""
<p>Vi kan desværre ikke træffe afgørelse i din sag inden for den frist på 3 måneder, som
pensionsloven fastsætter (§ 21).</p>
{c.para("forsinkelse_aarsag", "Årsagen er", required=True)}
<p>Vi forventer at træffe afgørelse senest den {expected}.</p>
<p>Vi beklager ventetiden. Du er velkommen til at kontakte os, hvis du har spørgsmål.</p>""")


def _fleksloentilskud(c: _Context) -> tuple[str, str]:
    amount = c.need("fleksloentilskud")
    since = c.date("tilskud_fra", required=True)
    return ("Afgørelse om fleksløntilskud", f"""
<p>Vi har den {c.date("afgoerelsesdato", required=True)} truffet afgørelse: du får
<strong>fleksløntilskud på {amount} kr. om måneden fra den {since}</strong>.</p>
{c.para("afgoerelse_begrundelse", "Begrundelse", required=True)}
<p>Tilskuddet reguleres, hvis din løn eller dine timer ændrer sig; giv os besked om ændringer.</p>
{_klagevejledning()}""")


def _indkaldelse_samtale(c: _Context) -> tuple[str, str]:
    latest = c.date("samtale_senest", required=True)
    text = f"senest den {latest}" if latest else "snarest"
    return ("Indkaldelse til samtale", f"""
<p>Du skal til samtale i jobcentret {text}. Vi kontakter dig med tid og sted.</p>
<p>Samtalen handler om din situation og den videre indsats. Du er velkommen til at tage en
bisidder med. Kan du ikke komme, skal du give os besked hurtigst muligt.</p>""")


KLAGEVEJLEDNING = "Klagevejledning"


def _klagevejledning() -> str:
    return (f"<h2>{KLAGEVEJLEDNING}</h2><p>Du kan klage over afgørelsen inden 4 uger efter, at du har "
            "modtaget den. Klagen sendes til kommunen, som genvurderer sagen, inden den sendes "
            "videre til Ankestyrelsen.</p>")


TEMPLATES: dict[str, Callable[[_Context], tuple[str, str]]] = {
    "invitation_moede": _invitation_moede,
    "partshoering": _partshoering,
    "afgoerelse": _afgoerelse,
    "afslag": _afslag,
    "fleksloentilskud": _fleksloentilskud,
    "oversendelse_pension": _oversendelse_pension,
    "forsinkelse": _forsinkelse,
    "indkaldelse_samtale": _indkaldelse_samtale,
}
# Templates that carry a decision: each names it in words, gives the reasons and the complaint guidance.
DECISION_TEMPLATES = frozenset({"afgoerelse", "afslag", "fleksloentilskud"})


def compose(template: str, data: dict, citizen_name: str, municipality_name: str, today: date,
            labels: dict[str, dict[str, str]] | None = None) -> Letter:
    """Render one letter from plain values (no database); the unit the tests check.

    ``labels`` gives the words for enum values (see :func:`enum_labels`)."""
    build = TEMPLATES.get(template)
    if build is None:
        raise UnknownTemplate(f"no letter template {template!r}")
    context = _Context(data, labels)
    title, content = build(context)
    body = (f'<article class="brev" lang="da">'
            f'<header><p class="afsender">{escape(municipality_name)}<br>Jobcenter</p>'
            f'<p class="modtager">{escape(citizen_name)}</p>'
            f'<p class="dato">{escape(danish_date(today))}</p></header>'
            f'<h1>{escape(title)}</h1>{content.strip()}'
            f'<footer><p>Med venlig hilsen<br>{escape(municipality_name)}, Jobcenter</p></footer></article>')
    return Letter(template, title, body, tuple(context.missing))


def enum_labels(wf, tasks_meta: dict, before=None) -> dict[str, dict[str, str]]:
    """Labels of enum values from the forms that set them: for each enum field, the options
    of the most recently completed user task whose form has that field (up to ``before``,
    a task, if given). A value from a form that is not in that form's options keeps no label."""
    done = [t for t in wf.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.manual and (before is None or t.last_state_change <= before.last_state_change)]
    labels: dict[str, dict[str, str]] = {}
    for task in sorted(done, key=lambda t: t.last_state_change):
        for spec in tasks_meta.get(task.task_spec.bpmn_id, {}).get("form", []):
            if spec.get("type") == "enum":
                labels[spec["id"]] = {o["id"]: o["name"] for o in spec.get("options", [])}
    return labels


def letter_data(session: Session, specs: SpecCache, instance_id: int | None,
                task_guid: str | None, snapshot: dict | None = None) -> tuple[dict, dict[str, dict[str, str]]]:
    """The process data the letter task saw (the workflow's data if the task is gone) and
    the labels of its enum values (:func:`enum_labels`). ``snapshot``: what the engine
    stored in the outbox row when it queued the letter (``data``, ``labels``); used when
    present, since the task may have left the live tree since (processes/compaction.py)."""
    if snapshot and "data" in snapshot:
        return dict(snapshot["data"]), dict(snapshot.get("labels") or {})
    if instance_id is None:
        return {}, {}
    row = session.get(ProcessInstance, instance_id)
    if row is None or not row.state:
        return {}, {}
    loaded = specs.get(session, row.model_version_id)
    wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
    tasks_meta = (loaded.metadata or {}).get("tasks", {})
    task = None
    if task_guid:
        from uuid import UUID
        from SpiffWorkflow.exceptions import TaskNotFoundException
        try:
            task = wf.get_task_from_id(UUID(task_guid))
        except TaskNotFoundException:
            task = None
    if task is not None:
        return dict(task.data), enum_labels(wf, tasks_meta, before=task)
    data = dict(wf.last_task.data) if wf.last_task is not None else dict(wf.data)
    return data, enum_labels(wf, tasks_meta)


def render_letter(session: Session, specs: SpecCache, item: Outbox, today: date) -> Letter:
    """Render the letter an outbox row asks for, from the case as it is in the database."""
    payload = item.payload or {}
    case = session.get(Case, item.case_id)
    municipality = session.get(Municipality, item.municipality_id)
    data, labels = letter_data(session, specs, item.instance_id, payload.get("task_guid"), payload)
    data.update({k: v for k, v in (payload.get("params") or {}).items() if k != "template"})
    return compose(payload.get("template", ""), data, case.citizen_name if case else "",
                   municipality.name if municipality else "", today, labels)
