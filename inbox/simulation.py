"""The *Simulér* page (role ``leder``): what-if simulation runs of the own municipality.

The leder chooses variants (the own municipality, other registered municipalities, the
own municipality with a proposed policy change within the statutory bounds, the own
municipality with one of its studio drafts) and the main scenario parameters; the run is
stored and queued, the worker runs it (``processes.simulation.runs``) and the page shows
its progress (polled by ``static/simulation.js``) and then the results side by side with
the Sammenlign table and chart (``inbox.analytics.comparison_table``), the intervals over
the replications, and simulated against actual figures for the own municipality. Earlier
runs are listed and can be reopened. Another municipality's run does not exist for the
user (404).
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from inbox.access import LEDER, current_actor, login_required, require_role, runtime
from inbox.analytics import LEAD_LABELS, Cell, Table, _cell, _num, _pct, comparison_table
from inbox.formatting import rule_name
from processes import analytics, timekeeping
from processes.engine import Actor
from processes.errors import InvalidInput, NotFound
from processes.models import ModelDraft, Municipality, SimulationRun, WorkerHeartbeat
from processes.policy import BY_KEY, CATALOGUE, check_value, duration_length
from processes.policy_changes import in_force, parse_assignments
from processes.roles import ROLES
from processes.simulation import runs
from processes.simulation.scenario import default_scenario
from processes.studio import has_errors

bp = Blueprint("simulation", __name__, url_prefix="/analytik/simuler")

MAX_VARIANTS = 6
MAX_CASES = 20000      # simulated cases over all variants and replications in one run
# roles whose staff can be a bottleneck (the manager and the designer do no case work)
STAFF_ROLES = tuple(r for r in ROLES if r not in ("leder", "procesdesigner"))
STATUS_LABELS = {"queued": _l("I kø"), "running": _l("Kører"), "done": _l("Færdig"), "failed": _l("Fejlet")}
KIND_LABELS = {"own": _l("Egen kommune"), "other": _l("Anden kommune"), "policy": _l("Politikændring"),
               "draft": _l("Udkast fra studiet")}


def _leder() -> Actor:
    actor = current_actor()
    require_role(actor, LEDER)
    return actor


def _defaults() -> dict:
    scenario = default_scenario()
    meetings = scenario["meetings"]
    per_week = next(iter(scenario["arrivals"].values()))["per_week"]
    return {"title": "", "per_week": _num(per_week), "cases": "", "years": _num(scenario["period"]["years"]),
            "warmup_weeks": str(scenario["period"].get("warmup_weeks", 0)),
            "slots": str(meetings["slots_per_day"] * len(meetings["weekdays"])), "replications": "3", "seed": "1",
            "policy_param": "", "policy_value": "", "own": True, "others": [], "drafts": [],
            **{f"staff_{role}": "" for role in STAFF_ROLES}}


def _drafts(db, municipality_id: int) -> list[ModelDraft]:
    """The own municipality's open studio drafts that have no errors (they can run)."""
    return [d for d in db.scalars(select(ModelDraft).where(ModelDraft.municipality_id == municipality_id,
                                                           ModelDraft.status == "open").order_by(ModelDraft.id))
            if not has_errors(d.problems or [])]


# ------------------------------------------------------------------ reading the form
def _number(text: str) -> float | None:
    text = (text or "").strip().replace(",", ".")
    try:
        return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else None
    except ValueError:
        return None


def _whole(text: str) -> int | None:
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"\d{1,9}", text) else None


def _bound_text(param) -> str:
    return render_template("admin/_bound.html", param=param).strip()


def read_form(form, own: Municipality, others: dict[str, str], drafts: dict[int, ModelDraft],
              policy_in_force) -> tuple[dict, dict, dict]:
    """The posted form as (values shown again, errors by field in Danish, the run:
    title, variants, scenario changes, seed, replications)."""
    shown = {key: (form.get(key) or "").strip() for key in _defaults() if key not in ("own", "others", "drafts")}
    shown["own"] = form.get("own") == "1"
    shown["others"] = [k for k in form.getlist("others") if k in others]
    shown["drafts"] = [int(d) for d in form.getlist("drafts") if d.isdigit() and int(d) in drafts]
    errors: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def ranged(field: str, parse, low, high, message: str):
        value = parse(shown[field])
        if value is None or not low <= value <= high:
            bad(field, message)
            return None
        return value

    per_week = ranged("per_week", _number, 0.1, 100, _("Skriv antal nye sager pr. uge som et tal mellem 0,1 og 100."))
    years = ranged("years", _number, 0.1, 5, _("Skriv perioden i år som et tal mellem 0,1 og 5."))
    warmup = ranged("warmup_weeks", _whole, 0, 10**6,
                    _("Skriv indkøringsperioden som et helt antal uger (0 eller mere)."))
    if warmup is not None and years is not None and warmup * 7 >= years * 365:
        bad("warmup_weeks", _("Indkøringsperioden skal være kortere end perioden (%(weeks)s uger er ikke kortere end "
                              "%(years)s år).", weeks=warmup, years=shown["years"]))
    cases = ranged("cases", _whole, 1, 5000, _("Højst antal sager skal være et helt tal fra 1 til 5000, eller tomt.")) \
        if shown["cases"] else None
    replications = ranged("replications", _whole, 1, 10, _("Antal gentagelser skal være et helt tal fra 1 til 10."))
    seed = ranged("seed", _whole, 0, 999999, _("Startværdien skal være et helt tal fra 0 til 999999."))
    meetings = default_scenario()["meetings"]
    days = len(meetings["weekdays"])
    slots = ranged("slots", _whole, 1, 200, _("Mødepladser pr. uge skal være et helt tal fra 1 til 200."))
    if slots is not None and slots % days:
        bad("slots", _("Mødepladser pr. uge skal kunne deles ligeligt på de %(n)s mødedage.", n=days))
    staff = {}
    for role in STAFF_ROLES:
        if shown[f"staff_{role}"]:
            count = ranged(f"staff_{role}", _whole, 1, 500, _("Antal medarbejdere skal være et helt tal fra 1 til 500, "
                                                               "eller tomt (ingen begrænsning)."))
            if count is not None:
                staff[role] = {"count": count}

    variants = []
    if shown["own"]:
        variants.append({"kind": "own", "key": own.key, "label": own.name})
    for key in shown["others"]:
        variants.append({"kind": "other", "key": key, "label": others[key]})
    if shown["policy_param"]:
        param = BY_KEY.get(shown["policy_param"])
        value_text = shown["policy_value"]
        if param is None:
            bad("policy_param", _("Vælg en parameter fra politikkataloget."))
        elif not value_text:
            bad("policy_value", _("Skriv den foreslåede værdi for «%(label)s».", label=rule_name(param.key)))
        else:
            try:
                value = parse_assignments([f"{param.key}={value_text}"])[param.key]
                if param.kind == "duration":
                    duration_length(value)
            except Exception:  # noqa: BLE001 - InvalidInput, or Spiff's bare Exception for a bad duration
                value = None
                bad("policy_value", _("«%(value)s» kan ikke læses: skriv en varighed som P10D, P3W eller P2M, "
                                      "ja/nej eller et helt tal.", value=value_text))
            if value is not None:
                if check_value(param, value) is not None:
                    bad("policy_value", _("«%(label)s» skal være %(bound)s; %(value)s ligger uden for.",
                                          label=rule_name(param.key), bound=_bound_text(param), value=value_text))
                elif policy_in_force(param) == value:
                    bad("policy_value", _("%(value)s er den værdi, der gælder nu; foreslå en anden værdi.",
                                          value=value_text))
                else:
                    variants.append({"kind": "policy", "key": own.key, "changes": {param.key: value},
                                     "label": _("%(name)s med %(label)s = %(value)s", name=own.name,
                                                label=rule_name(param.key), value=value_text)})
    elif shown["policy_value"]:
        bad("policy_param", _("Vælg den parameter, værdien skal gælde for."))
    for draft_id in shown["drafts"]:
        draft = drafts[draft_id]
        variants.append({"kind": "draft", "key": own.key, "draft_id": draft.id, "case_type": draft.case_type,
                         "title": draft.title, "xml": draft.bpmn_xml,
                         "label": _("%(name)s med udkastet «%(title)s»", name=own.name, title=draft.title)})
    if not variants and "policy_value" not in errors and "policy_param" not in errors:
        bad("variants", _("Vælg mindst én variant at simulere."))
    elif len(variants) > MAX_VARIANTS:
        bad("variants", _("Vælg højst %(n)s varianter i én kørsel.", n=MAX_VARIANTS))
    if not errors:
        expected = min(cases or 10**9, per_week * 52.18 * years) * len(variants) * replications
        if expected > MAX_CASES:
            bad("variants", _("Kørslen er for stor: omkring %(n)s simulerede sager i alt (højst %(max)s). Vælg færre "
                              "varianter, gentagelser eller år, eller sæt et højeste antal sager.",
                              n=round(expected), max=MAX_CASES))
    scenario = {}
    if not errors:
        arrivals = default_scenario()["arrivals"]
        case_type = next(iter(arrivals))
        scenario = {"period": {"years": years, "warmup_weeks": warmup, "cases": cases},
                    "arrivals": {case_type: {**arrivals[case_type], "per_week": per_week}},
                    "meetings": {"slots_per_day": slots // days}, "staff": staff}
    title = shown["title"][:200] or _("Simulering med %(n)s variant(er)", n=len(variants))
    return shown, errors, {"title": title, "variants": variants, "scenario": scenario, "seed": seed,
                           "replications": replications}


# ------------------------------------------------------------------ the form and the list
def _page_context(actor: Actor) -> dict:
    with runtime().sessions() as db:
        own = db.get(Municipality, actor.municipality_id)
        others = dict(db.execute(select(Municipality.key, Municipality.name)
                                 .where(Municipality.id != own.id).order_by(Municipality.name)).all())
        drafts = {d.id: d for d in _drafts(db, own.id)}
        earlier = runs.runs_of(db, own.id)
        now = timekeeping.now(db)
        policies = {}
        for case_type in {p.case_type for p in CATALOGUE}:
            current = in_force(db, own.id, case_type, now)
            policies[case_type] = dict(current.values) if current is not None else {}
        db.expunge_all()
    return {"own": own, "others": others, "drafts": drafts, "earlier": earlier, "now": now,
            "policy_in_force": lambda param: policies.get(param.case_type, {}).get(param.key, param.default)}


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    actor = _leder()
    page = _page_context(actor)
    shown, errors = _defaults(), {}
    if request.method == "GET" and (request.args.get("fra") or "").isdigit():
        shown = shown_from_run(_run(actor, int(request.args["fra"])), page)
    if request.method == "POST":
        shown, errors, asked = read_form(request.form, page["own"], page["others"], page["drafts"],
                                         page["policy_in_force"])
        if not errors:
            try:
                with runtime().sessions.begin() as db:
                    run = runs.create(db, page["own"].id, actor, asked["title"], asked["variants"],
                                      asked["scenario"], asked["seed"], asked["replications"])
                    run_id = run.id
            except InvalidInput as exc:  # what only the whole scenario shows
                errors = {"variants": [str(exc), *[f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items()]]}
            else:
                return redirect(url_for("simulation.run", run_id=run_id))
    params = [p for p in CATALOGUE if p.kind in ("duration", "int", "bool") and not p.grant]
    return render_template("simulation.html", **page, shown=shown, errors=errors, params=params,
                           staff_roles=STAFF_ROLES, status_labels=STATUS_LABELS,
                           worker_alive=_worker_alive()), 422 if errors else 200


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nej"
    return str(value)


def shown_from_run(run: SimulationRun, page: dict) -> dict:
    """The form filled in with an earlier run's settings ("Ny kørsel med disse
    indstillinger"); others and drafts that are gone are left out."""
    shown = _defaults()
    scenario, asked = run.scenario, run.request
    period = scenario.get("period", {})
    arrivals = next(iter(scenario.get("arrivals", {}).values()), {})
    days = len(default_scenario()["meetings"]["weekdays"])
    shown.update(title=run.title, per_week=_num(arrivals.get("per_week", 0)), cases=str(period.get("cases") or ""),
                 years=_num(period.get("years", 1)), warmup_weeks=str(period.get("warmup_weeks", 0)),
                 slots=str(scenario.get("meetings", {}).get("slots_per_day", 1) * days),
                 replications=str(asked["replications"]), seed=str(asked["seed"]))
    shown.update({f"staff_{role}": str(spec["count"]) for role, spec in (scenario.get("staff") or {}).items()
                  if role in STAFF_ROLES})
    variants = asked["variants"]
    shown["own"] = any(v["kind"] == "own" for v in variants)
    shown["others"] = [v["key"] for v in variants if v["kind"] == "other" and v["key"] in page["others"]]
    shown["drafts"] = [v["draft_id"] for v in variants if v["kind"] == "draft" and v["draft_id"] in page["drafts"]]
    policy = next((v for v in variants if v["kind"] == "policy"), None)
    if policy:
        (key, value), = policy["changes"].items()
        shown.update(policy_param=key, policy_value=_value_text(value))
    return shown


def _worker_alive() -> bool:
    """Is some worker running (a heartbeat in the last half minute)? Else a queued run waits."""
    wall = runs.wall_now()
    with runtime().sessions() as db:
        beats = db.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.status == "running"))
        return any(wall - b.last_tick_at <= runs.WORKER_STALE_AFTER for b in beats)


# ------------------------------------------------------------------ one run
def _run(actor: Actor, run_id: int) -> SimulationRun:
    with runtime().sessions() as db:
        run = runs.visible_run(db, actor.municipality_id, run_id)
        db.expunge(run)
    return run


def _interval_text(iv: dict | None, fmt=_num, low_bound: float = 0.0, high_bound: float | None = None) -> str:
    """"mean (low–high)"; the interval is cut at what the measure can be (no negative days)."""
    if not iv or iv.get("mean") is None:
        return "–"
    text = fmt(iv["mean"])
    if iv.get("low") is not None:
        high = iv["high"] if high_bound is None else min(high_bound, iv["high"])
        text += f" ({fmt(max(low_bound, iv['low']))}–{fmt(high)})"
    return text


def _share_interval(iv: dict | None) -> str:
    return _interval_text(iv, _pct, 0.0, 1.0)


def result_tables(run: SimulationRun, own_name: str) -> dict:
    """The result of a finished run as the page shows it: the Sammenlign table and chart
    over the variants and the own municipality's actual figures, the intervals over the
    replications, and simulated against actual for the own variant."""
    result = run.result
    variants = result["variants"]
    actual = result["actual"]
    columns = [{"key": v["variant"], "name": v["label"], "own": False, "figures": runs.average_figures(v["runs"])}
               for v in variants]
    columns.append({"key": "actual", "name": _("Faktisk: %(name)s", name=own_name), "own": True,
                    "figures": actual["figures"]})
    names = [_("Simuleret: %(label)s", label=v["label"]) for v in variants] + [columns[-1]["name"]]
    compare, chart = comparison_table({"columns": columns}, names, "simulering",
                                      _("Simuleret og faktisk: en række pr. mål, en kolonne pr. variant"))
    intervals = Table("usikkerhed", _("Forløbstider: gennemsnit over gentagelserne med 95 %-interval (dage)"),
                      [_("Mål")] + [str(v["label"]) for v in variants])
    for i, measure in enumerate(analytics.LEAD_TIMES):
        intervals.rows.append([Cell(_("%(label)s (median, dage)", label=LEAD_LABELS[measure.key]))]
                              + [Cell(_interval_text(v["summary"]["lead_times"][i]["median"])) for v in variants])
    rules = sorted({c["rule"] for v in variants for c in v["summary"]["compliance"]})
    for rule in rules:
        label = next(c["label"] for v in variants for c in v["summary"]["compliance"] if c["rule"] == rule)
        intervals.rows.append([Cell(_("Frist overholdt: %(rule)s", rule=f"{label} ({rule})"))]
                              + [Cell(_share_interval(next((c["share_met"] for c in v["summary"]["compliance"]
                                                            if c["rule"] == rule), None))) for v in variants])
    intervals.rows.append([Cell(_("Simulerede sager pr. gentagelse"))]
                          + [Cell(_interval_text(v["summary"]["cases"])) for v in variants])
    tables = [compare, intervals]
    own_variant = next((i for i, v in enumerate(variants) if v["kind"] == "own"), None)
    if own_variant is not None:
        sim, act = columns[own_variant]["figures"], actual["figures"]
        versus = Table("simuleret-faktisk", _("Simuleret mod faktisk for %(name)s: forløbstider (dage)", name=own_name),
                       [_("Mål"), _("Simuleret, median"), _("Faktisk, median"), _("Forskel"),
                        _("Simuleret, gennemsnit"), _("Faktisk, gennemsnit"), _("Faktiske sager")])
        for s, a in zip(sim["lead_times"], act["lead_times"]):
            s_med, a_med = (s["median"] or {}).get("value"), (a["median"] or {}).get("value")
            diff = _num(round(s_med - a_med, 1)) if s_med is not None and a_med is not None else "–"
            versus.rows.append([Cell(str(LEAD_LABELS[s["key"]])), _cell(s["median"]), _cell(a["median"]), Cell(diff),
                                _cell(s.get("mean")), _cell(a.get("mean")), _cell(a["n"])])
        tables.append(versus)
    return {"tables": tables, "chart": chart, "actual_filters": actual["filters"],
            "actual_computed": datetime.fromisoformat(actual["computed_at"])}


def _scenario_rows(run: SimulationRun) -> list[tuple[str, str]]:
    scenario, request_ = run.scenario, run.request
    period = scenario.get("period", {})
    arrivals = next(iter(scenario.get("arrivals", {}).values()), {})
    days = len(default_scenario()["meetings"]["weekdays"])
    rows = [(_("Nye sager pr. uge"), _num(arrivals.get("per_week", 0))),
            (_("Højst antal sager"), str(period["cases"]) if period.get("cases") else _("ubegrænset")),
            (_("Periode (år)"), _num(period.get("years", 0))),
            (_("Indkøringsperiode (uger)"), str(period.get("warmup_weeks", 0))),
            (_("Mødepladser pr. uge"), str(scenario.get("meetings", {}).get("slots_per_day", 0) * days)),
            (_("Gentagelser"), str(request_["replications"])), (_("Startværdi"), str(request_["seed"]))]
    staff = scenario.get("staff") or {}
    rows.append((_("Medarbejdere"), ", ".join(f"{ROLES[r][0]}: {s['count']}" for r, s in staff.items())
                 or _("ingen begrænsning")))
    return rows


def note_text(text: str | None) -> str | None:
    """The worker's note or reason (English, from ``processes.simulation.runs``) in the
    UI's language; what it does not know is shown as written."""
    if not text:
        return text
    if text == "put back in the queue: the worker was stopped":
        return _("Sat i kø igen: baggrundsprocessen blev stoppet.")
    if match := re.fullmatch(r"put back in the queue: worker (\S+) stopped while running it", text):
        return _("Sat i kø igen: baggrundsprocessen %(worker)s stoppede under kørslen.", worker=match.group(1))
    if match := re.fullmatch(r"put back in the queue: no progress from worker (\S+) for (.+)", text):
        return _("Sat i kø igen: baggrundsprocessen %(worker)s meldte ikke fremskridt i %(time)s.",
                 worker=match.group(1), time=match.group(2))
    if match := re.fullmatch(r"interrupted (\d+) times \(last: (.+)\); not tried again", text):
        return _("Kørslen blev afbrudt %(n)s gange og prøves ikke igen. Sidst: %(last)s", n=match.group(1),
                 last=note_text("put back in the queue: " + match.group(2)))
    return text


def error_text(text: str | None) -> str | None:
    """Why a run failed, in the UI's language: interrupted too often, or the error itself."""
    if not text:
        return text
    translated = note_text(text)
    return translated if translated != text else _("Teknisk fejl: %(error)s", error=text)


@bp.route("/<int:run_id>")
@login_required
def run(run_id: int):
    actor = _leder()
    found = _run(actor, run_id)
    with runtime().sessions() as db:
        own_name = db.get(Municipality, actor.municipality_id).name
    results = result_tables(found, own_name) if found.status == "done" and found.result else None
    return render_template("simulation_run.html", run=found, results=results, status_labels=STATUS_LABELS,
                           own_name=own_name, note=note_text(found.note), error=error_text(found.error),
                           kind_labels=KIND_LABELS, scenario_rows=_scenario_rows(found),
                           worker_alive=_worker_alive(), query={"run": found.id})


@bp.route("/<int:run_id>/status")
@login_required
def status(run_id: int):
    """The run's state for the page's progress bar (polled while it is queued or running)."""
    found = _run(_leder(), run_id)
    return jsonify({"status": found.status, "label": str(STATUS_LABELS[found.status]),
                    "progress": round(found.progress or 0.0, 4), "percent": round((found.progress or 0.0) * 100),
                    "note": note_text(found.note), "error": error_text(found.error),
                    "worker_alive": _worker_alive()})


def csv_page(ctx: dict, actor: Actor) -> dict:
    """The tables of a finished run for ``/analytik/eksport.csv?side=simulering&run=N``."""
    raw = request.args.get("run", "")
    if not raw.isdigit():
        raise NotFound("no simulation run named")
    found = _run(actor, int(raw))
    if found.status != "done" or not found.result:
        raise NotFound("the run has no result yet")
    return result_tables(found, ctx["own"].name)

