"""The manager's pages (role ``leder``): Overblik, Sammenlign, the heatmap on the diagram,
drill-down to the own cases behind a figure, and CSV of every table.

Every figure comes from :mod:`processes.analytics` (one definition per measure,
suppression done there). A page is a list of :class:`Table`; the CSV export rebuilds the
same page and sends one of its tables, so any table on screen can be downloaded.
Charts (Chart.js, ``static/analytics.js``) read their data from JSON script tags and
always sit beside the table that holds the same numbers.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from lxml import etree
from sqlalchemy import select

from inbox.access import LEDER, current_actor, login_required, require_role, runtime
from inbox.formatting import CASE_TYPES, STATE_LABELS, iso_date, language, role_name, rule_name
from inbox.limits import page_number
from processes import analytics, timekeeping
from processes.analytics import Filters
from processes.engine import Actor, Engine, mask_cpr
from processes.errors import InvalidInput
from processes.catalogue import version_in_force
from processes.library import _SAFE_PARSER
from processes.model_text import english_names, name_in
from processes.models import HumanTask, ModelVersion, Municipality, PolicyVersion
from processes.scripting import danish_date

bp = Blueprint("analytics", __name__, url_prefix="/analytik")

# UI labels of the measures (the Danish text is processes.analytics' label; a test keeps
# them equal), so the English UI can translate them.
LEAD_LABELS = {
    "underskrift_moede": _l("Fra underskrevet forberedende del til rehabiliteringsmøde"),
    "moede_indstilling": _l("Fra rehabiliteringsmøde til indstilling"),
    "indstilling_afgoerelse": _l("Fra indstilling til afgørelse"),
    "afgoerelse_foerste_samtale_rf": _l("Fra afgørelse til første samtale i ressourceforløbet"),
    "moede_foerste_indsats": _l("Fra rehabiliteringsmøde til første indsats startet"),
    "visitation_foerste_samtale_fj": _l("Fra visitation til første samtale i fleksjob"),
    "overdragelse_foep_afgoerelse": _l("Fra oversendelse til afgørelse om førtidspension"),
    "forberedelse_afgoerelse": _l("Fra forberedelse startet til afgørelse"),
}
FUNNEL_LABELS = {
    "anbefalet": _l("Indsatser anbefalet af rehabiliteringsteamet"),
    "i_plan": _l("Indsatser i indsatsplanen"),
    "startet": _l("Indsatser startet"),
}
OUTCOME_LABELS = {
    "foertidspension": _l("Førtidspension tilkendt"),
    "ressourceforloeb": _l("Ressourceforløb"),
    "fleksjob": _l("Fleksjob"),
    "andet": _l("Andet (anden indsats, afslag, også afslag på førtidspension)"),
    "afventer": _l("Venter på afgørelse om førtidspension (ikke i andelene)"),
}


@dataclass
class Cell:
    text: str
    href: str | None = None


@dataclass
class Table:
    id: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _cell(value, href: str | None = None) -> Cell:
    if value is None:
        return Cell("–")
    if isinstance(value, dict):  # a quantile
        return Cell(("≥ " if value["at_least"] else "") + _num(value["value"]), href)
    if isinstance(value, float):
        return Cell(_num(value), href)
    return Cell(str(value), href)


def _num(value) -> str:
    if value == analytics.SUPPRESSED:
        return value
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").replace(".", ",")


def _pct(share) -> str:
    if share is None:
        return "–"
    if share == analytics.SUPPRESSED:
        return share
    return f"{round(share * 100)} %"


# ------------------------------------------------------------------ request context
def _leder() -> Actor:
    actor = current_actor()
    require_role(actor, LEDER)
    return actor


def _int(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    return int(raw) if raw.isdigit() else None


def _context(actor: Actor) -> dict:
    """Now, the own municipality, the filters from the query (errors shown on the form)."""
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        own = db.get(Municipality, actor.municipality_id)
        others = list(db.execute(select(Municipality.key, Municipality.name)
                                 .where(Municipality.id != own.id).order_by(Municipality.name)))
        models = list(db.execute(select(ModelVersion.process_id, ModelVersion.version, ModelVersion.created_at)
                                 .where(ModelVersion.municipality_id == own.id)
                                 .order_by(ModelVersion.process_id, ModelVersion.version)))
        policies = list(db.execute(select(PolicyVersion.id, PolicyVersion.case_type, PolicyVersion.effective_from)
                                   .where(PolicyVersion.municipality_id == own.id).order_by(PolicyVersion.id)))
    today = date.fromisoformat(danish_date(now))
    errors: dict = {}
    args = request.args
    try:
        filters = analytics.make_filters(today, iso_date(args.get("from")), iso_date(args.get("to")), args.get("case_type"),
                                         _int("model_version"), _int("policy_version"))
    except InvalidInput as exc:
        errors = exc.errors
        filters = analytics.make_filters(today)
    return {"now": now, "own": own, "others": others, "models": models, "policies": policies,
            "filters": filters, "errors": errors, "case_types": CASE_TYPES}


def _query(filters: Filters, **extra) -> dict:
    q = {"from": filters.start.isoformat(), "to": filters.end.isoformat()}
    for key, value in (("case_type", filters.case_type), ("model_version", filters.model_version),
                       ("policy_version", filters.policy_version)):
        if value:
            q[key] = value
    q.update({k: v for k, v in extra.items() if v})
    return q


def _own_figures(ctx: dict, filters: Filters | None = None) -> dict:
    with runtime().sessions() as db:
        facts = analytics.load_facts(db, [ctx["own"].id])
    return analytics.municipality_figures(facts, filters or ctx["filters"], ctx["now"]), facts


# ------------------------------------------------------------------ Overblik
TILES = (
    ("forberedelse_afgoerelse", _l("Forberedelse til afgørelse, median (dage)")),
    ("underskrift_moede", _l("Underskrift til møde, median (dage)")),
    ("frister", _l("Frister overholdt")),
    ("afgjort", _l("Afgjorte sager")),
    ("startet", _l("Nye forløb")),
)


def _tile_values(fig: dict) -> dict:
    lead = {m["key"]: m["median"] for m in fig["lead_times"]}
    met = sum(r["met"] for r in fig["compliance"])
    decided = sum(r["met"] + r["breached"] + r["overdue"] for r in fig["compliance"])
    return {"forberedelse_afgoerelse": lead["forberedelse_afgoerelse"],
            "underskrift_moede": lead["underskrift_moede"],
            "frister": (met / decided) if decided else None,
            "afgjort": fig["outcomes"]["n"],
            "startet": sum(r["inflow"] for r in fig["stock_flow"])}


def _tile_subsets(facts: analytics.Facts) -> dict[str, analytics.Facts]:
    """Per month (YYYY-MM), the facts a month's tile values can depend on: cases whose
    cohort date for a tile (the two lead times' start, the decision) lies in the month,
    and cases with a deadline due or a process started in it. The tiles of a month
    computed on its subset equal those computed on all facts, at a twelfth of the work."""
    members: dict[str, set[int]] = {}
    starts = [analytics.LEAD_BY_KEY[key].start for key in ("forberedelse_afgoerelse", "underskrift_moede")]
    for case in facts.cases:
        decided = analytics.decision(case)
        for day in [case.first(k) for k in starts] + [decided[1] if decided else None]:
            if day is not None:
                members.setdefault(day.isoformat()[:7], set()).add(case.case_id)
    for d in facts.deadlines:
        members.setdefault(danish_date(d.due_at)[:7], set()).add(d.case_id)
    for i in facts.instances:
        members.setdefault(danish_date(i.started_at)[:7], set()).add(i.case_id)
    return {month: analytics.Facts([c for c in facts.cases if c.case_id in ids],
                                   [d for d in facts.deadlines if d.case_id in ids], [],
                                   [i for i in facts.instances if i.case_id in ids])
            for month, ids in members.items()}


def _tile_text(key: str, value) -> str:
    if key == "frister":
        return _pct(value)
    return _cell(value).text


def _tile_number(value):
    if isinstance(value, dict):
        return value["value"]
    return value


def _month_filters(filters: Filters) -> list[tuple[str, Filters]]:
    out = []
    for month in analytics.months(filters):
        last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        out.append((month.isoformat()[:7], Filters(max(month, filters.start), min(last, filters.end),
                                                   filters.case_type, filters.model_version, filters.policy_version)))
    return out


def overview_page(ctx: dict, live: bool = False) -> dict:
    """Overblik: from the worker's cube when it serves the period (whole months, or ending
    today, as Sammenlign), else (or with ``live``) computed from the own rows now."""
    filters, now = ctx["filters"], ctx["now"]
    per_month = _month_filters(filters)
    served = None
    if not live:
        with runtime().sessions() as db:
            served = analytics.own_from_cube(db, ctx["own"].id, filters, [f for _, f in per_month], now)
    if served is not None:
        fig, month_figs, computed_at, _refreshed = served
        monthly = [(label, _tile_values(f)) for (label, _), f in zip(per_month, month_figs)]
        fresh = {"source": "cube", "computed_at": computed_at}
    else:
        fig, facts = _own_figures(ctx)
        subsets = _tile_subsets(facts)
        empty = analytics.Facts([], [], [], [])
        monthly = [(label, _tile_values(analytics.municipality_figures(subsets.get(label, empty), f, now)))
                   for label, f in per_month]
        fresh = {"source": "live", "computed_at": now}
    totals = _tile_values(fig)
    tiles = []
    for key, label in TILES:
        series = [_tile_number(v[key]) for _, v in monthly]
        known = [s for s in series if s is not None]
        trend = None
        if len(known) >= 2:
            trend = "op" if known[-1] > known[0] else "ned" if known[-1] < known[0] else "uændret"
        tiles.append({"key": key, "label": label, "value": _tile_text(key, totals[key]), "trend": trend,
                      "chart": {"type": "line", "labels": [m for m, _ in monthly],
                                "datasets": [{"label": str(label), "data": series}]}})
    open_now = sum(r["open"] for r in fig["workload"])
    overdue_now = sum(r["overdue"] for r in fig["workload"])
    trend_table = Table("udvikling", _("Udvikling pr. måned"), [_("Måned")] + [str(label) for _, label in TILES],
                        [[Cell(m)] + [Cell(_tile_text(k, v[k])) for k, _ in TILES] for m, v in monthly])
    tables = [trend_table] + _own_tables(fig, filters)
    return {"tiles": tiles, "open_now": open_now, "overdue_now": overdue_now, "tables": tables, "fresh": fresh}


def _drill(filters: Filters, kind: str, key: str) -> str:
    return url_for("analytics.cases", **_query(filters, kind=kind, key=key))


def _rule_text(rule: str) -> str:
    """A deadline rule by its name in the page's language and its key (two rules may share
    a name: the follow-up talks in RF and sygedagpenge)."""
    return f"{rule_name(rule)} ({rule})" if rule in analytics.POLICY_BY_KEY else rule


def _own_tables(fig: dict, filters: Filters) -> list[Table]:
    lead = Table("forloebstider", _("Forløbstider (dage; ≥ = mindst, sager der stadig venter)"),
                 [_("Mål"), _("Sager"), _("Afsluttet"), _("Åbne"), _("1. kvartil"), _("Median"), _("3. kvartil"),
                  _("90 %-fraktil")])
    for m in fig["lead_times"]:
        lead.rows.append([Cell(str(LEAD_LABELS[m["key"]])), _cell(m["n"], _drill(filters, "lead_time", m["key"])),
                          _cell(m["finished"]), _cell(m["open"]), _cell(m["q1"]), _cell(m["median"]),
                          _cell(m["q3"]), _cell(m["p90"])])
    comp = Table("frister", _("Frister pr. regel"),
                 [_("Regel"), _("Lovbestemt"), _("Sager"), _("Overholdt"), _("Overskredet"), _("Overskredet nu"),
                  _("Åbne"), _("Andel overholdt"), _("Andel overskredet")])
    for r in fig["compliance"]:
        comp.rows.append([Cell(_rule_text(r['rule'])), Cell(_("Ja") if r["statutory"] else _("Nej")),
                          _cell(r["n"], _drill(filters, "compliance", r["rule"])), _cell(r["met"]),
                          _cell(r["breached"]), _cell(r["overdue"]), _cell(r["open"]), Cell(_pct(r["share_met"])),
                          Cell(_pct(r["share_breached"]))])
    funnel = Table("tragt", _("Tragt: indsatser anbefalet, i plan, startet"),
                   [_("Trin"), _("Indsatser"), _("Sager"), _("Andel af de anbefalede")])
    for s in fig["funnel"]["stages"]:
        funnel.rows.append([Cell(str(FUNNEL_LABELS[s["stage"]])), _cell(s["count"]),
                            _cell(s["cases"], _drill(filters, "funnel", s["stage"])), Cell(_pct(s["share"]))])
    outcome = Table("udfald", _("Udfald af afgjorte sager"), [_("Udfald"), _("Sager"), _("Andel")])
    for o in fig["outcomes"]["outcomes"]:
        outcome.rows.append([Cell(str(OUTCOME_LABELS[o["outcome"]])),
                             _cell(o["count"], _drill(filters, "outcome", o["outcome"])), Cell(_pct(o["share"]))])
    pending = fig["outcomes"]["pending"]["count"]
    outcome.rows.append([Cell(str(OUTCOME_LABELS["afventer"])), _cell(pending, _drill(filters, "outcome", "afventer")),
                         Cell("–")])
    flow = Table("bestand", _("Tilgang, afgang og bestand pr. ordning og måned"),
                 [_("Ordning"), _("Måned"), _("Tilgang"), _("Afgang"), _("Bestand ved månedens slut")])
    for r in fig["stock_flow"]:
        flow.rows.append([Cell(str(CASE_TYPES.get(r["process"], r["process"]))), Cell(r["month"]), _cell(r["inflow"]),
                          _cell(r["outflow"]), _cell(r["stock"])])
    work = Table("arbejdsbyrde", _("Arbejdsbyrde pr. rolle (åbne opgaver nu)"),
                 [_("Rolle"), _("Åbne opgaver"), _("Alder, median (dage)"), _("Ældste (dage)"), _("Overskredne")])
    for r in fig["workload"]:
        work.rows.append([Cell(role_name(r["role"])), _cell(r["open"], _drill(filters, "workload", r["role"])),
                          _cell(r["median_age_days"]), _cell(r["oldest_days"]), _cell(r["overdue"])])
    return [lead, comp, funnel, outcome, flow, work]


@bp.route("/")
@login_required
def overview():
    ctx = _context(_leder())
    page = overview_page(ctx)
    return render_template("analytics_overview.html", **ctx, **page, query=_query(ctx["filters"]))


# ------------------------------------------------------------------ Sammenlign
def _chosen_others(ctx: dict) -> list[str]:
    keys = {k for k, _ in ctx["others"]}
    if "compare" in request.args or "cmp" in request.args:
        chosen = request.args.getlist("cmp") + [k for k in (request.args.get("compare") or "").split(",") if k]
    else:
        chosen = [k for k, _ in ctx["others"][:4]]  # a first view: up to four others
    return [k for k in dict.fromkeys(chosen) if k in keys]


def compare_page(ctx: dict) -> dict:
    chosen = _chosen_others(ctx)
    with runtime().sessions() as db:
        result = analytics.compare(db, ctx["own"].key, chosen, ctx["filters"], ctx["now"])
    columns = [c["name"] if c["key"] != "national" else _("Landsplan (median over alle sager)")
               for c in result["columns"]]
    table, chart = comparison_table(result, columns, "sammenligning",
                                    _("Sammenligning: en række pr. mål, en kolonne pr. kommune"), ctx["filters"])
    fresh = {"source": result["source"], "computed_at": datetime.fromisoformat(result["computed_at"])}
    return {"result": result, "chosen": chosen, "tables": [table], "chart": chart, "fresh": fresh}


def comparison_table(result: dict, columns: list[str], table_id: str, caption: str,
                     drill: Filters | None = None) -> tuple[Table, dict]:
    """The Sammenlign table of ``result`` (columns of figures, as ``analytics.compare``
    gives them; ``columns`` their headings): a row per measure
    (``analytics.comparison_rows``), and its chart (lead time medians per column). With
    ``drill``, the own column's figures link to the own cases behind them. The Simulér
    page shows its results with the same table and chart."""
    table = Table(table_id, caption, [_("Mål")] + columns)
    for row in analytics.comparison_rows(result):
        if row["group"] == "lead_time":
            label = _("%(label)s (median, dage)", label=LEAD_LABELS[row["key"]])
        elif row["group"] == "compliance":
            label = _("Frist overholdt: %(rule)s", rule=_rule_text(row["key"]))
        elif row["group"] == "funnel":
            label = _("Tragt: %(stage)s", stage=FUNNEL_LABELS[row["key"]])
        else:
            label = _("Udfald: %(outcome)s", outcome=OUTCOME_LABELS[row["key"]])
        cells = [Cell(label)]
        for col, value in zip(result["columns"], row["values"]):
            # drill-down only from the own column: another municipality's cases are never listed
            href = (_drill(drill, row["group"], row["key"])
                    if drill is not None and col["own"] and value is not None else None)
            cells.append(Cell(value if value is not None else "–", href))
        table.rows.append(cells)
    chart = {"type": "bar", "labels": [str(LEAD_LABELS[m.key]) for m in analytics.LEAD_TIMES],
             "datasets": [{"label": name, "data": [_median_number(m["median"]) for m in col["figures"]["lead_times"]]}
                          for name, col in zip(columns, result["columns"])]}
    return table, chart


def _median_number(q):
    return q["value"] if isinstance(q, dict) else None


@bp.route("/sammenlign")
@login_required
def compare():
    ctx = _context(_leder())
    page = compare_page(ctx)
    return render_template("analytics_compare.html", **ctx, **page,
                           query=_query(ctx["filters"], compare=",".join(page["chosen"])))


# ------------------------------------------------------------------ heatmap on the diagram
def _own_model(ctx: dict, case_type: str):
    """The model the own municipality's new cases of ``case_type`` start on now."""
    with runtime().sessions() as db:
        chosen = version_in_force(db, ctx["own"].id, case_type, ctx["now"])
        return db.get(ModelVersion, chosen) if chosen else None


def heatmap_page(ctx: dict) -> dict:
    case_type = ctx["filters"].case_type or "rehabilitering"
    model = _own_model(ctx, case_type)
    with runtime().sessions() as db:
        facts = analytics.load_facts(db, [ctx["own"].id])
    ids = {c.case_id for c in facts.cases if ctx["filters"].selects(c)}
    tasks = [t for t in facts.tasks if t.process_id == case_type and t.case_id in ids]
    heat = analytics.task_heatmap(tasks, ctx["filters"], ctx["now"])
    table = Table("varmekort", _("Opgaver i modellen: antal, ventetid og overskridelser"),
                  [_("Opgave"), _("Antal"), _("Ventetid, median (dage)"), _("Overskridelser")])
    with runtime().sessions() as db:
        task_names = dict(db.execute(select(HumanTask.bpmn_id, HumanTask.name).where(
            HumanTask.municipality_id == ctx["own"].id, HumanTask.process_id == case_type)).all())
    if model is not None:  # the model in force names its tasks, in the page's language
        task_names.update({bid: name_in(t, language(), task_names.get(bid, bid))
                           for bid, t in (model.metadata_json or {}).get("tasks", {}).items()})
    for row in heat:
        table.rows.append([Cell(task_names.get(row["bpmn_id"], row["bpmn_id"])), _cell(row["count"]),
                           _cell(row["median_wait_days"]), _cell(row["breaches"])])
    marks = [{"id": r["bpmn_id"], "count": r["count"], "wait": _median_number(r["median_wait_days"]),
              "at_least": bool(r["median_wait_days"] and r["median_wait_days"]["at_least"]),
              "breaches": r["breaches"]} for r in heat]
    return {"case_type": case_type, "model": model, "tables": [table], "marks": marks}


@bp.route("/diagram")
@login_required
def heatmap():
    ctx = _context(_leder())
    page = heatmap_page(ctx)
    xml_url = url_for("analytics.model_xml", case_type=page["case_type"])
    return render_template("analytics_heatmap.html", **ctx, **page, xml_url=xml_url, query=_query(ctx["filters"]))


@bp.route("/diagram.bpmn")
@login_required
def model_xml():
    """The own municipality's current model for a case type (the heatmap draws on it)."""
    ctx = _context(_leder())
    model = _own_model(ctx, request.args.get("case_type") or "rehabilitering")
    if model is None:
        abort(404)
    with runtime().sessions() as db:
        xml = db.get(ModelVersion, model.id).bpmn_xml
    if language() == "en":  # the element names in English, as the case page's diagrams
        root = etree.fromstring(xml.encode("utf-8"), parser=_SAFE_PARSER)
        english_names(root)
        xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(xml, mimetype="application/xml")


# ------------------------------------------------------------------ drill-down
KINDS = ("lead_time", "compliance", "funnel", "outcome", "workload")


DRILL_PAGE_SIZE = 100   # cases per drill-down page (the CSV has them all)


def cases_page(ctx: dict, actor: Actor, paged: bool = True) -> dict:
    """The own cases behind a figure, a page of :data:`DRILL_PAGE_SIZE` at a time (page
    ``sidetal``); ``paged=False`` (the CSV) lists them all. The cases shown are audited."""
    kind, key = request.args.get("kind", ""), request.args.get("key", "")
    page = page_number(request.args.get("sidetal")) if paged else 1
    with runtime().sessions() as db:
        own_facts = analytics.load_facts(db, [ctx["own"].id])
        try:
            ids = sorted(analytics.drilldown(db, ctx["own"].id, kind, key, ctx["filters"], ctx["now"], own_facts))
        except KeyError:
            abort(404)
        total = len(ids)
        if paged:
            ids = ids[(page - 1) * DRILL_PAGE_SIZE:page * DRILL_PAGE_SIZE]
        rows = analytics.own_cases(db, ctx["own"].id, ids)
        shown = set(ids)
        facts = {c.case_id: c for c in own_facts.cases if c.case_id in shown}
    with runtime().sessions.begin() as db:
        Engine.audit(db, actor, "analytics.drilldown", ctx["own"].id, None, None,
                     {"kind": kind, "key": key, "cases": ids, "total": total,
                      **analytics.filters_json(ctx["filters"])}, ctx["now"])
    headers = [_("Sag"), _("Borger"), _("CPR"), _("Sagstype"), _("Status")]
    measure = analytics.LEAD_BY_KEY.get(key) if kind == "lead_time" else None
    if measure:
        headers += [_("Start"), _("Slut"), _("Dage")]
    table = Table("sager", _("Sagerne bag tallet"), headers)
    today = date.fromisoformat(danish_date(ctx["now"]))
    for case in rows:
        cells = [Cell(str(case.id)), Cell(case.citizen_name), Cell(mask_cpr(case.cpr)),
                 Cell(str(CASE_TYPES.get(facts[case.id].case_type, facts[case.id].case_type)) if case.id in facts else "–"),
                 Cell(str(STATE_LABELS.get(case.status, case.status)))]
        if measure and case.id in facts:
            start = facts[case.id].first(measure.start)
            end = facts[case.id].first_of(measure.ends, start)
            days = analytics.days_between(start, end or today)
            cells += [Cell(start.isoformat()), Cell(end.isoformat() if end else _("venter")),
                      Cell(str(days) if end else f"≥ {days}")]
        table.rows.append(cells)
    titles = {"lead_time": LEAD_LABELS, "funnel": FUNNEL_LABELS, "outcome": OUTCOME_LABELS}
    title = str(titles[kind].get(key, key)) if kind in titles else key
    pages = max(1, -(-total // DRILL_PAGE_SIZE))
    return {"kind": kind, "key": key, "title": title, "tables": [table], "page": page, "pages": pages,
            "total": total}


@bp.route("/sager")
@login_required
def cases():
    actor = _leder()
    if request.args.get("kind") not in KINDS:
        return redirect(url_for("analytics.overview"))  # no figure chosen: choose one there
    ctx = _context(actor)
    page = cases_page(ctx, actor)
    return render_template("analytics_cases.html", **ctx, **page, query_without_kind=_query(ctx["filters"]),
                           query=_query(ctx["filters"], kind=page["kind"], key=page["key"]))


# ------------------------------------------------------------------ CSV of any table
def _simulation_page(ctx: dict, actor: Actor) -> dict:
    from inbox.simulation import csv_page  # the Simulér page's tables (it imports this module)
    return csv_page(ctx, actor)


PAGES = {"overblik": lambda ctx, actor: overview_page(ctx), "sammenlign": lambda ctx, actor: compare_page(ctx),
         "diagram": lambda ctx, actor: heatmap_page(ctx), "sager": lambda ctx, actor: cases_page(ctx, actor, paged=False), "simulering": _simulation_page}


@bp.route("/eksport.csv")
@login_required
def export_csv():
    """One table of a page as CSV (semicolon-separated, UTF-8 with BOM for spreadsheets)."""
    actor = _leder()
    build = PAGES.get(request.args.get("side", ""))
    if build is None:
        return redirect(url_for("analytics.overview"))  # no page named: its tables have the links
    if request.args.get("side") == "sager" and request.args.get("kind") not in KINDS:
        abort(404)
    ctx = _context(actor)
    tables = {t.id: t for t in build(ctx, actor)["tables"]}
    table = tables.get(request.args.get("tabel", ""))
    if table is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([c.text for c in row])
    name = f"{ctx['own'].key}-{request.args['side']}-{table.id}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def chart_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
