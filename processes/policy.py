"""Policy parameters: the typed knobs a municipality sets, and the law's bounds on them.

This module is the one place where statutory bounds live (``processes.md`` §3). A policy
value enters a workflow as ``policy[<key>]`` in its data; timers and gateways read it.
Stricter than the law is allowed, looser is refused with a message naming the rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from processes.scripting import parse_duration

# A fixed reference start makes "is P4W longer than P3W" well-defined for month units.
_REFERENCE = datetime(2027, 1, 1, tzinfo=timezone.utc)


def duration_length(value: str):
    """The length of an ISO duration measured from a fixed reference date."""
    return TimerEventDefinition.get_timedelta_from_start(parse_duration(value), _REFERENCE)


@dataclass(frozen=True)
class Parameter:
    """One policy parameter.

    ``kind`` is ``duration`` (ISO 8601), ``bool``, ``int`` or ``role``. For durations,
    ``at_most`` means the law sets an upper limit (a deadline: stricter is shorter) and
    ``at_least`` a lower one (a lead time: stricter is longer). A ``grant`` is a period
    the law gives the citizen (the 5-year temporary fleksjob, the status at 4½ years):
    "stricter" would take something from the citizen, so only the law's value is
    accepted. ``rule`` names the rule in the words a process designer knows.
    """

    key: str
    case_type: str
    kind: str
    default: Any
    label: str
    rule: str = ""
    at_most: Any = None
    at_least: Any = None
    statutory: bool = False
    grant: bool = False  # a period the citizen is granted: neither shorter nor longer


P = Parameter
CATALOGUE: tuple[Parameter, ...] = (
    # sygedagpenge
    P("sdp_opfoelgning_interval", "sygedagpenge", "duration", "P4W",
      "Opfølgningssamtale senest hver", "follow-up talk at least every 4 weeks",
      at_most="P4W", statutory=True),
    P("sdp_partshoering_svarfrist", "sygedagpenge", "duration", "P14D",
      "Svarfrist ved partshøring før ophør",
      "partshøring before stopping sygedagpenge: a reply period of at least 8 days and at most 4 weeks",
      at_least="P8D", at_most="P4W"),
    # ressourceforloeb
    P("rf_opfoelgning_interval", "ressourceforloeb", "duration", "P2M",
      "Opfølgningssamtale senest hver", "at least 6 follow-up talks a year (every 2 months)",
      at_most="P2M", statutory=True),
    P("rf_varighed", "ressourceforloeb", "duration", "P1Y",
      "Ressourceforløbets standardvarighed", "a ressourceforløb lasts 1 to 5 years",
      at_least="P1Y", at_most="P5Y", statutory=True),
    P("rf_naeste_skridt_foer_udloeb", "ressourceforloeb", "duration", "P2W",
      "Beslut næste skridt senest før udløb", "RSL §7a: decide the next step at least 2 weeks before the end",
      at_least="P2W", statutory=True),
    P("rf_naeste_skridt_varsel", "ressourceforloeb", "duration", "P6W",
      "Opgaven 'næste skridt' oprettes før udløb", "local lead time before the end"),
    P("rf_foerste_samtale_efter_afgoerelse", "ressourceforloeb", "duration", "P4W",
      "Første samtale senest efter afgørelsen",
      "first talk (coordinator assigned and handover included) counted from the decision; "
      "never later than the statutory talk interval (at least 6 talks a year)",
      at_most="P2M"),
    P("rf_ny_koordinerende_sagsbehandler", "ressourceforloeb", "bool", False,
      "Ny koordinerende sagsbehandler overtager (overdragelsesmøde)", "local choice"),
    P("rf_forlaengelse_uden_team", "ressourceforloeb", "bool", False,
      "Forlængelse uden rehabiliteringsteamet", "proposal from practice (not law today)"),
    # fleksjob
    P("fj_foerste_samtale", "fleksjob", "duration", "P3W",
      "Første samtale efter visitation", "first talk must be within 3 weeks",
      at_most="P3W", statutory=True),
    P("fj_ly_kontakt_interval", "fleksjob", "duration", "P3M",
      "Kontaktsamtale på ledighedsydelse senest hver", "LY contact course at least every 3 months",
      at_most="P3M", statutory=True),
    P("fj_anden_aktoer_mulig", "fleksjob", "duration", "P6M",
      "Anden aktør muligt efter (på ledighedsydelse)", "anden aktør becomes possible after 6 months on LY",
      at_least="P6M", at_most="P12M", statutory=True),
    P("fj_partshoering_svarfrist", "fleksjob", "duration", "P14D",
      "Svarfrist ved partshøring før ophør af ledighedsydelse",
      "partshøring before stopping ledighedsydelse: a reply period of at least 8 days and at most 4 weeks",
      at_least="P8D", at_most="P4W"),
    P("fj_anden_aktoer", "fleksjob", "duration", "P12M",
      "Anden aktør senest efter (på ledighedsydelse)", "anden aktør is mandatory after 12 months on LY",
      at_most="P12M", statutory=True),
    P("fj_revurdering", "fleksjob", "duration", "P12M",
      "Revurdering efter (på ledighedsydelse)", "LY re-evaluation after 12 months, again after 24",
      at_most="P12M", statutory=True),
    P("fj_opfoelgning", "fleksjob", "duration", "P30M",
      "Opfølgning i fleksjob senest efter ansættelse", "fleksjob follow-up at the latest 2½ years after the job starts",
      at_most="P30M", statutory=True),
    P("fj_tidlig_opfoelgning", "fleksjob", "bool", False,
      "Tidlig lokal opfølgning i fleksjob", "local choice"),
    P("fj_tidlig_opfoelgning_efter", "fleksjob", "duration", "P6M",
      "Tidlig opfølgning efter ansættelse", "local choice (a few months; proposals say 6)",
      at_most="P30M"),
    P("fj_status", "fleksjob", "duration", "P54M",
      "Status i midlertidigt fleksjob efter ansættelse", "status 4½ years after the job starts",
      at_most="P54M", at_least="P54M", statutory=True, grant=True),
    P("fj_periode", "fleksjob", "duration", "P5Y",
      "Midlertidigt fleksjob bevilges for", "a temporary fleksjob is granted for 5 years",
      at_most="P5Y", at_least="P5Y", statutory=True, grant=True),
    # foertidspension
    P("foep_overfoersel", "foertidspension", "duration", "P3W",
      "Oversendelse til pensionsteamet efter indstilling", "transfer to pension processing at the latest 3 weeks after the indstilling (principle decision 39-17)",
      at_most="P3W", statutory=True),
    P("foep_afgoerelse", "foertidspension", "duration", "P3M",
      "Afgørelse efter oversendelse", "PL §21: decision within 3 months of transfer, else a delay letter",
      at_most="P3M", statutory=True),
    P("foep_partshoering_svarfrist", "foertidspension", "duration", "P14D",
      "Svarfrist ved partshøring før afgørelsen",
      "partshøring before the FØP decision: a reply period of at least 8 days (usable by the citizen) "
      "and at most 4 weeks (inside the PL §21 3 months)", at_least="P8D", at_most="P4W"),
    P("foep_forsinkelse_varsel", "foertidspension", "duration", "P2W",
      "Forsinkelsesbrev vurderes senest før fristen",
      "PL §21: the delay letter reaches the citizen before the 3 months run out: assessed at least "
      "1 week and at most 6 weeks before", at_least="P1W", at_most="P6W"),
    # rehabilitering
    P("rehab_booking_frist", "rehabilitering", "duration", "P14D",
      "Mødet bookes mindst så længe forud", "local booking lead time (sundhedskoordinator needs 10 days)",
      at_least="P10D"),
    P("rehab_invitation_frist", "rehabilitering", "duration", "P1W",
      "Invitation sendes senest før mødet", "local practice: 1 to 2 weeks before"),
    P("rehab_indstilling_arbejdsdage", "rehabilitering", "int", 5,
      "Indstilling skrives inden (arbejdsdage efter mødet)", "local deadline"),
    P("rehab_partshoering_svarfrist", "rehabilitering", "duration", "P14D",
      "Svarfrist ved skriftlig partshøring", "local (14 days common)"),
    P("rehab_laege_paamindelse", "rehabilitering", "duration", "P14D",
      "Rykker for lægeattest (LÆ 265) efter", "local"),
    P("rehab_forberedelse_frist", "rehabilitering", "duration", "P2M",
      "Forberedende del færdig senest efter start", "local (observed up to 2 months)"),
    P("rehab_afgoerelse_frist", "rehabilitering", "duration", "P4W",
      "Afgørelse senest efter indstilling/partshøring", "local service target"),
    # service targets between milestones (processes/milestones.py); unset (None) = no target
    P("maal_underskrift_moede", "rehabilitering", "duration", None,
      "Servicemål: fra underskrevet forberedende del til møde", "local service target"),
    P("maal_forberedelse_afgoerelse", "rehabilitering", "duration", None,
      "Servicemål: fra start af forberedelse til afgørelse", "local service target (Copenhagen: 23 weeks)"),
    P("maal_afgoerelse_foerste_samtale", "ressourceforloeb", "duration", None,
      "Servicemål: fra afgørelse til første samtale i ressourceforløb", "local service target"),
    P("maal_moede_foerste_indsats", "ressourceforloeb", "duration", None,
      "Servicemål: fra rehabiliteringsmøde til første indsats", "local service target"),
)

BY_KEY: dict[str, Parameter] = {p.key: p for p in CATALOGUE}
CASE_TYPES = ("rehabilitering", "ressourceforloeb", "fleksjob", "foertidspension", "sygedagpenge")
# Danish names of the case types, for texts written outside the web app (notices).
CASE_TYPE_NAMES = {"rehabilitering": "rehabilitering", "ressourceforloeb": "ressourceforløb", "fleksjob": "fleksjob",
                   "foertidspension": "førtidspension", "sygedagpenge": "sygedagpenge"}


def defaults(case_type: str) -> dict[str, Any]:
    """The default policy values of one case type."""
    return {p.key: p.default for p in CATALOGUE if p.case_type == case_type}


def check_value(param: Parameter, value: Any) -> str | None:
    """Return why ``value`` is refused for ``param``, or None if it is acceptable."""
    where = f"{param.case_type}: {param.rule or param.label}"
    if value is None and param.default is None:
        return None  # an optional parameter left unset (a service target without a target)
    if param.kind == "duration":
        try:
            length = duration_length(value)
        except (ValueError, TypeError, Exception) as exc:  # Spiff raises bare Exception
            return f"{param.key}: {value!r} is not an ISO 8601 duration ({exc})"
        if param.grant and length != duration_length(param.at_most):
            return (f"{where} ({param.at_most}); a grant to the citizen, not a deadline: "
                    f"it cannot be shortened or lengthened by policy; got {value}")
        if param.at_most is not None and length > duration_length(param.at_most):
            return f"{where} ({param.at_most}); got {value}"
        if param.at_least is not None and length < duration_length(param.at_least):
            return f"{where} (at least {param.at_least}); got {value}"
        return None
    if param.kind == "bool":
        return None if isinstance(value, bool) else f"{param.key}: expected true or false, got {value!r}"
    if param.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{param.key}: expected a whole number of days, got {value!r}"
        return None
    if param.kind == "role":
        from processes.roles import ROLES
        return None if value in ROLES else f"{param.key}: {value!r} is not a role"
    return f"{param.key}: unknown kind {param.kind}"


def cross_problems(policy: dict[str, Any]) -> list[str]:
    """Problems between keys of one complete policy (values laid over the defaults).

    ``rf_naeste_skridt_varsel`` opens the "next step" task that many weeks before the end
    of a ressourceforløb; it must open before the RSL §7a deadline
    (``rf_naeste_skridt_foer_udloeb`` before the end), or the task is born overdue."""
    problems = []
    warn, deadline = policy.get("rf_naeste_skridt_varsel"), policy.get("rf_naeste_skridt_foer_udloeb")
    if warn and deadline and check_value(BY_KEY["rf_naeste_skridt_varsel"], warn) is None \
            and check_value(BY_KEY["rf_naeste_skridt_foer_udloeb"], deadline) is None \
            and duration_length(warn) <= duration_length(deadline):
        problems.append(f"rf_naeste_skridt_varsel: the 'next step' task ({warn} before the end) must open before "
                        f"the RSL §7a deadline rf_naeste_skridt_foer_udloeb ({deadline} before the end); "
                        f"got {warn}")
    return problems


def check_policy(values: dict[str, Any], base: dict[str, Any] | None = None) -> list[str]:
    """Every problem with a set of policy values (unknown keys, wrong types, loosened law,
    and keys that contradict each other once laid over ``base``, default the defaults)."""
    problems = []
    for key, value in values.items():
        param = BY_KEY.get(key)
        if param is None:
            problems.append(f"{key}: unknown policy parameter")
            continue
        problem = check_value(param, value)
        if problem:
            problems.append(problem)
    complete = {p.key: p.default for p in CATALOGUE}
    complete.update(base or {})
    complete.update({k: v for k, v in values.items() if k in BY_KEY})
    problems.extend(cross_problems(complete))
    return problems


def split_by_case_type(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Complete policies per case type: the defaults overlaid with ``values``."""
    out = {case_type: defaults(case_type) for case_type in CASE_TYPES}
    for key, value in values.items():
        out[BY_KEY[key].case_type][key] = value
    return out


# The parameters' labels in English: a deadline shown by its rule's name on an English page.
LABELS_EN: dict[str, str] = {
    "sdp_opfoelgning_interval": "Follow-up talk at least every",
    "sdp_partshoering_svarfrist": "Reply period for the consultation before stopping",
    "rf_opfoelgning_interval": "Follow-up talk at least every",
    "rf_varighed": "Standard length of the resource programme",
    "rf_naeste_skridt_foer_udloeb": "Decide the next step at the latest before the end",
    "rf_naeste_skridt_varsel": "The 'next step' task opens before the end",
    "rf_foerste_samtale_efter_afgoerelse": "First talk at the latest after the decision",
    "rf_ny_koordinerende_sagsbehandler": "New coordinating caseworker takes over (handover meeting)",
    "rf_forlaengelse_uden_team": "Extension without the rehabilitation team",
    "fj_foerste_samtale": "First talk after referral",
    "fj_ly_kontakt_interval": "Contact talk on unemployment benefit at least every",
    "fj_anden_aktoer_mulig": "Other provider possible after (on unemployment benefit)",
    "fj_partshoering_svarfrist": "Reply period for the consultation before unemployment benefit stops",
    "fj_anden_aktoer": "Other provider at the latest after (on unemployment benefit)",
    "fj_revurdering": "Reassessment after (on unemployment benefit)",
    "fj_opfoelgning": "Follow-up in flex job at the latest after employment",
    "fj_tidlig_opfoelgning": "Early local follow-up in flex job",
    "fj_tidlig_opfoelgning_efter": "Early follow-up after employment",
    "fj_status": "Status in temporary flex job after employment",
    "fj_periode": "Temporary flex job granted for",
    "foep_overfoersel": "Transfer to the pension team after the recommendation",
    "foep_afgoerelse": "Decision after transfer",
    "foep_partshoering_svarfrist": "Reply period for the consultation before the decision",
    "foep_forsinkelse_varsel": "Delay letter considered at the latest before the deadline",
    "rehab_booking_frist": "The meeting is booked at least this far ahead",
    "rehab_invitation_frist": "Invitation sent at the latest before the meeting",
    "rehab_indstilling_arbejdsdage": "Recommendation written within (working days after the meeting)",
    "rehab_partshoering_svarfrist": "Reply period for a written consultation",
    "rehab_laege_paamindelse": "Reminder for the medical certificate (LÆ 265) after",
    "rehab_forberedelse_frist": "Preparatory part finished at the latest after the start",
    "rehab_afgoerelse_frist": "Decision at the latest after the recommendation/consultation",
    "maal_underskrift_moede": "Service target: from signed preparatory part to meeting",
    "maal_forberedelse_afgoerelse": "Service target: from start of preparation to decision",
    "maal_afgoerelse_foerste_samtale": "Service target: from decision to first talk in the resource programme",
    "maal_moede_foerste_indsats": "Service target: from rehabilitation team meeting to first intervention",
}


def label_in(key: str, language: str) -> str:
    """A parameter's label in ``language`` (``da`` or ``en``); the key if it is unknown."""
    param = BY_KEY.get(key)
    if param is None:
        return key
    return LABELS_EN.get(key, param.label) if language == "en" else param.label
