"""Manager measures: one definition per measure, on the case data (``docs/analytics.md``).

Lead times, the funnel and outcomes are computed from **milestone rows** only
(:class:`CaseFacts`, built from the ``milestone`` table or from any source of the same
rows, such as a simulation). Deadline compliance and workload are computed from the
``human_task`` projection, stock and flow from ``process_instance``; both are rows the
engine writes. The pure functions take those facts and a ``now``; the ``load_*``
functions read them from the database.

Privacy: :func:`suppress` turns every figure built on fewer than
:data:`SUPPRESS_BELOW` cases into ``"<5"``. :func:`compare` applies it to other
municipalities and to the national figure, so every interface (page, CLI, API, CSV)
gets the same suppression. Only :func:`drilldown` lists cases, and only for the caller's
own municipality.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.orm import Session

from processes.errors import InvalidInput, NotFound
from processes.milestones import BY_KEY as MILESTONE_BY_KEY
from processes.models import (
    AnalyticsCube, AnalyticsSnapshot, Case, HumanTask, Milestone, ModelVersion, Municipality, ProcessInstance,
)
from processes.policy import BY_KEY as POLICY_BY_KEY, CASE_TYPES
from processes.scripting import danish_date

SUPPRESS_BELOW = 5
SUPPRESSED = "<5"


# ------------------------------------------------------------------ definitions
@dataclass(frozen=True)
class LeadTime:
    """Days from the first ``start`` milestone of a case to the first of ``ends`` on or after it.

    The interval applies to a case once ``start`` is recorded and, if ``requires`` is
    set, one of those milestones too. It no longer applies (the case went another way)
    when one of ``stops`` is recorded on or after the start and no end is. Open
    intervals count as *at least* the days until now (censored), never dropped.
    """

    key: str
    label: str
    start: str
    ends: tuple[str, ...]
    requires: tuple[str, ...] = ()
    stops: tuple[str, ...] = ()


DECISION = ("afgoerelse", "foep_afgoerelse")
LEAD_TIMES: tuple[LeadTime, ...] = (
    LeadTime("underskrift_moede", "Fra underskrevet forberedende del til rehabiliteringsmøde",
             "forberedende_del_underskrevet", ("moede_holdt",),
             stops=("afgoerelse", "overdraget_pension", "foep_afgoerelse")),
    LeadTime("moede_indstilling", "Fra rehabiliteringsmøde til indstilling", "moede_holdt", ("indstilling_afgivet",)),
    LeadTime("indstilling_afgoerelse", "Fra indstilling til afgørelse", "indstilling_afgivet", DECISION),
    LeadTime("afgoerelse_foerste_samtale_rf", "Fra afgørelse til første samtale i ressourceforløbet",
             "afgoerelse", ("foerste_samtale_rf",), requires=("koordinator_tildelt",)),
    LeadTime("moede_foerste_indsats", "Fra rehabiliteringsmøde til første indsats startet",
             "moede_holdt", ("foerste_indsats_startet",), requires=("koordinator_tildelt",)),
    LeadTime("visitation_foerste_samtale_fj", "Fra visitation til første samtale i fleksjob",
             "visitation", ("foerste_samtale_fj",)),
    LeadTime("overdragelse_foep_afgoerelse", "Fra oversendelse til afgørelse om førtidspension",
             "overdraget_pension", ("foep_afgoerelse",)),
    LeadTime("forberedelse_afgoerelse", "Fra forberedelse startet til afgørelse", "forberedelse_startet", DECISION),
)
LEAD_BY_KEY = {m.key: m for m in LEAD_TIMES}

# The funnel counts interventions, each by its item milestones (an intervention is its
# name within the case): recommended in the team's indstilling for a ressourceforløb ->
# in the intervention plan (planned or started) -> started.
FUNNEL: tuple[tuple[str, str, str], ...] = (
    ("anbefalet", "Indsatser anbefalet af rehabiliteringsteamet", "indsats_anbefalet"),
    ("i_plan", "Indsatser i indsatsplanen", "indsats_planlagt"),
    ("startet", "Indsatser startet", "indsats_startet"),
)

# Outcome of a decided case: where the decision led (the follow-on milestones), and for
# førtidspension what the pensionsteam decided.
OUTCOMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("foertidspension", "Førtidspension tilkendt", ("foep_tilkendt",)),
    ("ressourceforloeb", "Ressourceforløb", ("koordinator_tildelt",)),
    ("fleksjob", "Fleksjob", ("visitation",)),
    ("andet", "Andet (anden indsats, afslag, også afslag på førtidspension)", ()),
)
OUTCOME_DECIDED = ("afgoerelse", "overdraget_pension", "foep_afgoerelse")
PENDING = ("afventer", "Venter på afgørelse om førtidspension (ikke i andelene)")
PENSION_ROUTE = ("overdraget_pension", "foep_afgoerelse", "foep_tilkendt", "foep_afslag")
PENSION_DECIDED = ("foep_tilkendt", "foep_afslag", "foep_afgoerelse")

QUANTILES = (("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("p90", 0.9))


# ------------------------------------------------------------------ facts
@dataclass
class CaseFacts:
    """One case's milestone dates (every recording, sorted) and what filters select on."""

    case_id: int
    municipality: str
    case_type: str
    model_version: int | None = None
    policy_version: int | None = None
    dates: dict[str, list[date]] = field(default_factory=dict)
    # milestones recorded per item: key -> item (its :func:`item_key`) -> every date, sorted
    items: dict[str, dict[str, list[date]]] = field(default_factory=dict)

    def first_item(self, key: str, item: str, on_or_after: date | None = None) -> date | None:
        for day in self.items.get(key, {}).get(item, ()):
            if on_or_after is None or day >= on_or_after:
                return day
        return None

    def first(self, key: str, on_or_after: date | None = None) -> date | None:
        for day in self.dates.get(key, ()):
            if on_or_after is None or day >= on_or_after:
                return day
        return None

    def first_of(self, keys: Iterable[str], on_or_after: date | None = None) -> date | None:
        found = [d for d in (self.first(k, on_or_after) for k in keys) if d is not None]
        return min(found) if found else None


@dataclass(frozen=True)
class DeadlineFact:
    """A task with a deadline (``human_task`` with ``due_at``)."""

    case_id: int
    municipality: str
    rule: str
    due_at: datetime
    state: str                  # open | completed | cancelled
    closed_at: datetime | None


@dataclass(frozen=True)
class TaskFact:
    case_id: int
    municipality: str
    role: str
    bpmn_id: str
    process_id: str
    created_at: datetime
    closed_at: datetime | None
    state: str
    due_at: datetime | None


@dataclass(frozen=True)
class InstanceFact:
    case_id: int
    municipality: str
    process_id: str
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class Filters:
    """Period of Danish dates (inclusive), case type, and the model/policy version of a case.

    A case's type and versions are those of its first process instance.
    """

    start: date
    end: date
    case_type: str | None = None
    model_version: int | None = None
    policy_version: int | None = None

    def in_period(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    def selects(self, facts: CaseFacts) -> bool:
        return ((self.case_type is None or facts.case_type == self.case_type)
                and (self.model_version is None or facts.model_version == self.model_version)
                and (self.policy_version is None or facts.policy_version == self.policy_version))

    def without_versions(self) -> "Filters":
        return Filters(self.start, self.end, self.case_type)


def make_filters(today: date, start: str | date | None = None, end: str | date | None = None,
                 case_type: str | None = None, model_version: int | None = None,
                 policy_version: int | None = None) -> Filters:
    """Filters from user input; the period defaults to the 12 months up to ``today``."""
    errors: dict[str, list[str]] = {}

    def day(value, name, default):
        if value in (None, ""):
            return default
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors[name] = [f"not a date (YYYY-MM-DD): {value!r}"]
            return default

    last = day(end, "to", today)
    # default: 12 calendar months, the month of ``to`` being the last
    first = day(start, "from", (last.replace(day=1).replace(year=last.year - 1) + timedelta(days=32)).replace(day=1))
    if first > last:
        errors.setdefault("from", []).append("the period starts after it ends")
    if case_type not in (None, "") and case_type not in CASE_TYPES:
        errors["case_type"] = [f"unknown case type {case_type!r}; one of {', '.join(CASE_TYPES)}"]
    if errors:
        raise InvalidInput("invalid filter", errors)
    return Filters(first, last, case_type or None, model_version, policy_version)


def item_key(item: str) -> str:
    """Items of one case are the same intervention when their names are, ignoring case and
    surrounding spaces."""
    return " ".join(str(item).split()).casefold()


def add_milestone(facts: CaseFacts, key: str, day: date, item: str = "") -> None:
    """Add one milestone row to a case's facts (dates unsorted: :func:`sort_facts`)."""
    facts.dates.setdefault(key, []).append(day)
    if item:
        facts.items.setdefault(key, {}).setdefault(item_key(item), []).append(day)


def sort_facts(facts: CaseFacts) -> None:
    for days in facts.dates.values():
        days.sort()
    for by_item in facts.items.values():
        for days in by_item.values():
            days.sort()


def facts_from_rows(rows: Iterable[tuple],
                    cases: dict[int, tuple[str, int | None, int | None]]) -> list[CaseFacts]:
    """CaseFacts from milestone rows ``(case_id, municipality, key, date)`` or
    ``(case_id, municipality, key, date, item)`` (``item`` "" for a plain milestone) and,
    per case, ``(case_type, model_version, policy_version)``. A simulation that produces
    the same rows gets the same measures."""
    by_case: dict[int, CaseFacts] = {}
    for row in rows:
        case_id, municipality, key, day = row[:4]
        if case_id not in by_case:
            case_type, model_version, policy_version = cases[case_id]
            by_case[case_id] = CaseFacts(case_id, municipality, case_type, model_version, policy_version)
        add_milestone(by_case[case_id], key, day, row[4] if len(row) > 4 else "")
    for facts in by_case.values():
        sort_facts(facts)
    return sorted(by_case.values(), key=lambda f: f.case_id)


# ------------------------------------------------------------------ statistics
def days_between(start: date, end: date) -> int:
    return (end - start).days


def quantile(observations: Iterable[tuple[int, bool]], p: float) -> dict | None:
    """The ``p`` quantile (linear interpolation, as PostgreSQL ``percentile_cont``) of
    ``(days, censored)`` observations. ``at_least`` is true when a censored (still open)
    observation lies at or below the ranks used: the true value can only be higher."""
    return quantile_of_histogram(Counter((int(d), bool(c)) for d, c in observations), p)


def quantile_of_histogram(hist: dict[tuple[int, bool], int], p: float) -> dict | None:
    """:func:`quantile` over counted observations ``{(days, censored): count}`` (so that
    distributions of many municipalities merge by adding counts). Ties rank a finished
    observation before an open one of the same length."""
    return _quantile_of_sorted(sorted((k, c) for k, c in hist.items() if c > 0), p)


def _quantile_of_sorted(entries: list, p: float) -> dict | None:
    total = sum(c for _, c in entries)
    if not total:
        return None
    h = (total - 1) * p
    lo, hi = math.floor(h), math.ceil(h)
    values, at_least, seen = {}, False, 0
    for (days, censored), count in entries:
        first = seen
        seen += count
        if first <= hi and censored:
            at_least = True
        for rank in (lo, hi):
            if first <= rank < seen:
                values[rank] = days
        if seen > hi:
            break
    value = values[lo] + (h - lo) * (values[hi] - values[lo])
    return {"value": round(value, 2), "at_least": at_least}


def _hist_rows(hist: dict[tuple[int, bool], int]) -> list[list[int]]:
    return [[d, int(c), n] for (d, c), n in sorted(hist.items())]


def _hist_of(rows: Iterable[list[int]]) -> Counter:
    out: Counter = Counter()
    for d, c, n in rows:
        out[(d, bool(c))] += n
    return out


def lead_observation(measure: LeadTime, case: CaseFacts, today: date) -> tuple[date, int, bool] | None:
    """A case's observation of a lead time: ``(cohort date, days, censored)``, or None
    when the interval does not apply to it. The cohort date is the start milestone's."""
    start = case.first(measure.start)
    if start is None or (measure.requires and case.first_of(measure.requires) is None):
        return None
    end = case.first_of(measure.ends, start)
    if end is None:
        if measure.stops and case.first_of(measure.stops, start) is not None:
            return None
        return start, max(0, days_between(start, today)), True
    return start, days_between(start, end), False


def lead_time(measure: LeadTime, facts: Iterable[CaseFacts], filters: Filters, today: date) -> dict:
    """Quartiles, median and 90th percentile of a lead time over the cases whose interval
    starts in the period; open intervals censored at ``today``."""
    observations: list[tuple[int, bool]] = []
    cases: list[int] = []
    for case in facts:
        seen = lead_observation(measure, case, today)
        if seen is None or not filters.in_period(seen[0]):
            continue
        observations.append(seen[1:])
        cases.append(case.case_id)
    return _lead_figure(measure, Counter(observations), cases)


def _lead_figure(measure: LeadTime, hist: Counter, case_ids: list[int] | None, with_hist: bool = True) -> dict:
    finished = sum(n for (_, c), n in hist.items() if not c)
    total = sum(hist.values())
    out = {"key": measure.key, "label": measure.label, "start": measure.start, "ends": list(measure.ends),
           "n": total, "finished": finished, "open": total - finished}
    if with_hist:       # the distribution the nation merges (not needed from the cube)
        out["hist"] = _hist_rows(hist)
    if case_ids is not None:
        out["case_ids"] = case_ids
    out.update(_quantiles_of_sorted(sorted((k, c) for k, c in hist.items() if c > 0)))
    return out


def _quantiles_of_sorted(entries: list) -> dict:
    """:func:`_quantile_of_sorted` for each of :data:`QUANTILES` in one pass over the
    sorted entries (the same values: each rank is found in the same entry)."""
    total = sum(c for _, c in entries)
    if not total:
        return {name: None for name, _ in QUANTILES}
    ends = list(accumulate(c for _, c in entries))          # ranks below ends[i] lie in entries[..i]
    first_open = next((ends[i] - c for i, ((_, censored), c) in enumerate(entries) if censored), None)
    out = {}
    for name, p in QUANTILES:
        h = (total - 1) * p
        lo, hi = math.floor(h), math.ceil(h)
        low, high = entries[bisect_right(ends, lo)][0][0], entries[bisect_right(ends, hi)][0][0]
        value = low + (h - lo) * (high - low)
        out[name] = {"value": round(value, 2), "at_least": first_open is not None and first_open <= hi}
    return out


def funnel(facts: Iterable[CaseFacts], filters: Filters) -> dict:
    """Interventions recommended in the period (the first recommendation of an intervention
    in a case), and how many of them reached the plan and started (the same intervention
    of the same case, recorded on or after the recommendation). Counts are interventions;
    ``cases`` are the cases they belong to (suppression counts cases)."""
    counts: Counter = Counter()
    ids: dict[str, list[int]] = {key: [] for key, _label, _m in FUNNEL}
    for case in facts:
        reached: Counter = Counter()
        for recommended, stages in funnel_observations(case):
            if filters.in_period(recommended):
                reached.update(stages)
        counts.update(reached)
        for key in reached:
            ids[key].append(case.case_id)
    return _funnel_figure(counts, {k: len(v) for k, v in ids.items()}, ids)


def funnel_observations(case: CaseFacts) -> list[tuple[date, tuple[str, ...]]]:
    """Per intervention recommended in a case: the date of its first recommendation (the
    cohort date) and the funnel stages it reached (the first always)."""
    out = []
    for item, days in case.items.get(FUNNEL[0][2], {}).items():
        out.append((days[0], (FUNNEL[0][0], *(key for key, _label, milestone in FUNNEL[1:]
                                             if case.first_item(milestone, item, days[0]) is not None))))
    return out


def _funnel_figure(counts: dict[str, int], cases: dict[str, int], ids: dict[str, list[int]] | None) -> dict:
    first = FUNNEL[0][0]
    n = counts.get(first, 0)
    stages = []
    for key, label, milestone in FUNNEL:
        stage = {"stage": key, "label": label, "milestone": milestone, "count": counts.get(key, 0),
                 "cases": cases.get(key, 0), "share": _share(counts.get(key, 0), n)}
        if ids is not None:
            stage["case_ids"] = ids[key]
        stages.append(stage)
    return {"n": n, "cases": cases.get(first, 0), "stages": stages}


def decision(case: CaseFacts) -> tuple[str, date] | None:
    """``(outcome, decided)`` of a case, or ``("afventer", transferred)`` while its
    førtidspension is not decided yet, or None before any decision.

    The first decision (``afgoerelse``, or the transfer to or decision by the pensionsteam)
    leads on: to førtidspension when a pension milestone follows on or after it, then
    decided by the pensionsteam's result (``foep_tilkendt``: granted, on its date;
    ``foep_afslag``, or a FØP decision recorded without a result: other); else to a
    ressourceforløb (``koordinator_tildelt``) or a fleksjob (``visitation``), on the first
    decision's date; else other (anden indsats, a refusal, a case still waiting for its
    follow-on process)."""
    first = case.first_of(OUTCOME_DECIDED)
    if first is None:
        return None
    if case.first_of(PENSION_ROUTE, first) is not None:
        decided = case.first_of(PENSION_DECIDED, first)
        if decided is None:
            return "afventer", case.first_of(PENSION_ROUTE, first)
        granted = case.first("foep_tilkendt", first)
        return ("foertidspension", granted) if granted == decided else ("andet", decided)
    for key, _label, milestones in OUTCOMES:
        if key != "foertidspension" and milestones and case.first_of(milestones, first) is not None:
            return key, first
    return "andet", first


def outcome_of(case: CaseFacts) -> str | None:
    """The outcome of a decided case (None before the decision, ``"afventer"`` while the
    pensionsteam has not decided): :func:`decision`."""
    found = decision(case)
    return found[0] if found else None


def outcomes(facts: Iterable[CaseFacts], filters: Filters) -> dict:
    """Shares of the outcomes of the cases decided in the period (the date of the decision
    that settled the outcome: for førtidspension the pensionsteam's). ``pending``: cases
    sent to the pensionsteam in the period and not decided yet (in no share)."""
    by: dict[str, list[int]] = defaultdict(list)
    for case in facts:
        found = decision(case)
        if found is not None and filters.in_period(found[1]):
            by[found[0]].append(case.case_id)
    pending = by.pop("afventer", [])
    return _outcomes_figure({k: len(v) for k, v in by.items()}, len(pending), by, pending)


def _outcomes_figure(counts: dict[str, int], pending: int, ids: dict[str, list[int]] | None,
                     pending_ids: list[int] | None = None) -> dict:
    n = sum(counts.values())
    rows = []
    for key, label, _ in OUTCOMES:
        row = {"outcome": key, "label": label, "count": counts.get(key, 0), "share": _share(counts.get(key, 0), n)}
        if ids is not None:
            row["case_ids"] = ids.get(key, [])
        rows.append(row)
    out = {"n": n, "outcomes": rows, "pending": {"count": pending}}
    if pending_ids is not None:
        out["pending"]["case_ids"] = pending_ids
    return out


def compliance(deadlines: Iterable[DeadlineFact], filters: Filters, now: datetime) -> list[dict]:
    """Per deadline rule, the deadlines falling due in the period (Danish date of ``due_at``):
    met (closed on time), breached (closed late), overdue (open, due passed) and open.
    A task cancelled before its deadline no longer has one and is not counted."""
    rules: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for d in deadlines:
        if not filters.in_period(date.fromisoformat(danish_date(d.due_at))):
            continue
        state = deadline_state(d, now)
        if state is not None:
            rules[d.rule][state].append(d.case_id)
    return [_compliance_figure(rule, {s: len(ids) for s, ids in rules[rule].items()},
                               sorted({c for ids in rules[rule].values() for c in ids}))
            for rule in sorted(rules)]


def deadline_state(d: DeadlineFact, now: datetime) -> str | None:
    """met, breached, overdue or open; None for a task cancelled before its deadline (it
    has none any more). The cohort date is the Danish date of ``due_at``."""
    if d.state == "open":
        return "overdue" if d.due_at < now else "open"
    if d.closed_at is not None and d.closed_at <= d.due_at:
        return None if d.state == "cancelled" else "met"
    return "breached"


def _compliance_figure(rule: str, counts: dict[str, int], case_ids: list[int] | None, n: int | None = None) -> dict:
    count = {s: counts.get(s, 0) for s in ("met", "breached", "overdue", "open")}
    decided = count["met"] + count["breached"] + count["overdue"]
    param = POLICY_BY_KEY.get(rule)
    out = {"rule": rule, "label": param.label if param else rule, "statutory": bool(param and param.statutory),
           **count, "n": len(case_ids) if case_ids is not None else n,
           "share_met": _share(count["met"], decided),
           "share_breached": _share(count["breached"] + count["overdue"], decided)}
    if case_ids is not None:
        out["case_ids"] = case_ids
    return out


def workload(tasks: Iterable[TaskFact], now: datetime) -> list[dict]:
    """Open tasks per role now: how many, their age in days (median, oldest), how many overdue."""
    by_role: dict[str, list[TaskFact]] = defaultdict(list)
    for t in tasks:
        if t.state == "open":
            by_role[t.role].append(t)
    return [_workload_figure(role, len(rows), len({t.case_id for t in rows}),
                             Counter(_days(t.created_at, now) for t in rows),
                             sum(1 for t in rows if t.due_at is not None and t.due_at < now),
                             sorted({t.case_id for t in rows}))
            for role, rows in sorted(by_role.items())]


def _workload_figure(role: str, open_tasks: int, n: int, ages: Counter, overdue: int,
                     case_ids: list[int] | None) -> dict:
    median = quantile_of_histogram({(a, False): c for a, c in ages.items()}, 0.5)
    out = {"role": role, "open": open_tasks, "n": n, "median_age_days": median["value"],
           "oldest_days": max(ages), "overdue": overdue, "ages": sorted([a, c] for a, c in ages.items())}
    if case_ids is not None:
        out["case_ids"] = case_ids
    return out


def months(filters: Filters) -> list[date]:
    """First days of the calendar months the period touches."""
    out, month = [], filters.start.replace(day=1)
    while month <= filters.end:
        out.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return out


def stock_flow(instances: Iterable[InstanceFact], filters: Filters) -> list[dict]:
    """Per process (scheme) and calendar month: started (inflow), ended (outflow), and
    running at the end of the month (stock), by Danish dates."""
    by_process: dict[str, list[tuple[date, date | None]]] = defaultdict(list)
    for i in instances:
        end = date.fromisoformat(danish_date(i.completed_at)) if i.completed_at else None
        by_process[i.process_id].append((date.fromisoformat(danish_date(i.started_at)), end))
    out = []
    for process in sorted(by_process):
        spans = by_process[process]
        for month in months(filters):
            last = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), filters.end)
            first = max(month, filters.start)
            out.append({"process": process, "month": month.isoformat()[:7],
                        "inflow": sum(1 for s, _ in spans if first <= s <= last),
                        "outflow": sum(1 for _, e in spans if e is not None and first <= e <= last),
                        "stock": sum(1 for s, e in spans if s <= last and (e is None or e > last))})
    return out


def task_heatmap(tasks: Iterable[TaskFact], filters: Filters, now: datetime) -> list[dict]:
    """Per flow node (``bpmn_id``): tasks opened in the period, median waiting days (open to
    close, open ones censored at now) and breaches (closed after, or open past, the due time)."""
    by_node: dict[str, list[TaskFact]] = defaultdict(list)
    for t in tasks:
        if filters.in_period(date.fromisoformat(danish_date(t.created_at))):
            by_node[t.bpmn_id].append(t)
    out = []
    for node in sorted(by_node):
        rows = by_node[node]
        waits = [(_days(t.created_at, t.closed_at or now), t.closed_at is None) for t in rows]
        breaches = sum(1 for t in rows if t.due_at is not None and (t.closed_at or now) > t.due_at
                       and not (t.state == "cancelled" and t.closed_at <= t.due_at))
        out.append({"bpmn_id": node, "count": len(rows), "n": len({t.case_id for t in rows}),
                    "median_wait_days": quantile(waits, 0.5), "breaches": breaches})
    return out


def _days(start: datetime, end: datetime) -> int:
    """Whole days between the Danish dates of two instants."""
    return max(0, days_between(date.fromisoformat(danish_date(start)), date.fromisoformat(danish_date(end))))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ------------------------------------------------------------------ one municipality's figures
def measures(facts: list[CaseFacts], deadlines: list[DeadlineFact], tasks: list[TaskFact],
             instances: list[InstanceFact], filters: Filters, now: datetime) -> dict:
    """Every measure over the given facts (already narrowed to one municipality or pooled)."""
    chosen = [f for f in facts if filters.selects(f)]
    ids = {f.case_id for f in chosen}
    today = date.fromisoformat(danish_date(now))
    return {
        "cases": len(chosen),
        "lead_times": [lead_time(m, chosen, filters, today) for m in LEAD_TIMES],
        "compliance": compliance([d for d in deadlines if d.case_id in ids], filters, now),
        "funnel": funnel(chosen, filters),
        "outcomes": outcomes(chosen, filters),
        "stock_flow": stock_flow([i for i in instances if i.case_id in ids], filters),
        "workload": workload([t for t in tasks if t.case_id in ids], now),
    }


def merge(figures: list[dict]) -> dict:
    """Pool the figures of several municipalities (the national figure): counts add (a
    case belongs to one municipality), distributions merge, quantiles and shares are
    computed again by the same definitions. Case ids are not carried over."""
    out: dict[str, Any] = {"cases": sum(f["cases"] for f in figures)}
    out["lead_times"] = [_lead_figure(m, sum((_hist_of(f["lead_times"][i]["hist"]) for f in figures), Counter()), None)
                         for i, m in enumerate(LEAD_TIMES)]
    states: dict[str, Counter] = defaultdict(Counter)
    cases: Counter = Counter()
    for f in figures:
        for r in f["compliance"]:
            states[r["rule"]].update({k: r[k] for k in ("met", "breached", "overdue", "open")})
            cases[r["rule"]] += r["n"]
    out["compliance"] = [_compliance_figure(rule, states[rule], None, cases[rule]) for rule in sorted(states)]
    stage_counts: Counter = Counter()
    stage_cases: Counter = Counter()
    for f in figures:
        stage_counts.update({s["stage"]: s["count"] for s in f["funnel"]["stages"]})
        stage_cases.update({s["stage"]: s["cases"] for s in f["funnel"]["stages"]})
    out["funnel"] = _funnel_figure(stage_counts, stage_cases, None)
    outcome_counts: Counter = Counter()
    for f in figures:
        outcome_counts.update({o["outcome"]: o["count"] for o in f["outcomes"]["outcomes"]})
    out["outcomes"] = _outcomes_figure(outcome_counts, sum(f["outcomes"]["pending"]["count"] for f in figures), None)
    flow: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for f in figures:
        for r in f["stock_flow"]:
            flow[(r["process"], r["month"])].update({k: r[k] for k in ("inflow", "outflow", "stock")})
    out["stock_flow"] = [{"process": p, "month": m, **{k: c[k] for k in ("inflow", "outflow", "stock")}}
                         for (p, m), c in sorted(flow.items())]
    roles: dict[str, list[dict]] = defaultdict(list)
    for f in figures:
        for r in f["workload"]:
            roles[r["role"]].append(r)
    out["workload"] = [_workload_figure(role, sum(r["open"] for r in rows), sum(r["n"] for r in rows),
                                        sum((Counter({a: c for a, c in r["ages"]}) for r in rows), Counter()),
                                        sum(r["overdue"] for r in rows), None)
                       for role, rows in sorted(roles.items())]
    return out


# ------------------------------------------------------------------ suppression
def _hide(value, n: int):
    return SUPPRESSED if 0 < n < SUPPRESS_BELOW else value


def _count(value: int):
    return SUPPRESSED if 0 < value < SUPPRESS_BELOW else value


def _hide_share(share, part: int, whole: int):
    """A share is built on its part's cases as well as on the whole's: 2 of 7 is suppressed."""
    return SUPPRESSED if 0 < part < SUPPRESS_BELOW or 0 < whole < SUPPRESS_BELOW else share


def suppress(figures: dict) -> dict:
    """The figures as another municipality (or the nation) may see them: no case ids, and
    every figure built on 1-4 cases replaced by ``"<5"`` (a count of 1-4, a quantile or
    median over 1-4 cases, a share whose part or whole is 1-4 cases). Zero stays zero."""
    out: dict[str, Any] = {"cases": _count(figures["cases"])}
    out["lead_times"] = [
        {**{k: v for k, v in m.items() if k not in INTERNAL},
         "n": _count(m["n"]), "finished": _count(m["finished"]), "open": _count(m["open"]),
         **{name: _hide(m[name], m["n"]) for name, _ in QUANTILES}}
        for m in figures["lead_times"]]
    out["compliance"] = [
        {**{k: v for k, v in r.items() if k not in INTERNAL},
         **{s: _count(r[s]) for s in ("met", "breached", "overdue", "open")},
         "n": _count(r["n"]),
         "share_met": _hide_share(r["share_met"], r["met"], r["met"] + r["breached"] + r["overdue"]),
         "share_breached": _hide_share(r["share_breached"], r["breached"] + r["overdue"],
                                       r["met"] + r["breached"] + r["overdue"])}
        for r in figures["compliance"]]
    fn = figures["funnel"]
    # interventions are counted, but a figure is about as many citizens as it has cases
    out["funnel"] = {"n": _hide(_count(fn["n"]), fn["cases"]), "cases": _count(fn["cases"]), "stages": [
        {**{k: v for k, v in s.items() if k not in INTERNAL}, "count": _hide(_count(s["count"]), s["cases"]),
         "cases": _count(s["cases"]),
         "share": _hide_share(_hide_share(s["share"], s["count"], fn["n"]), s["cases"], fn["cases"])}
        for s in fn["stages"]]}
    oc = figures["outcomes"]
    out["outcomes"] = {"n": _count(oc["n"]), "outcomes": [
        {**{k: v for k, v in o.items() if k not in INTERNAL}, "count": _count(o["count"]),
         "share": _hide_share(o["share"], o["count"], oc["n"])} for o in oc["outcomes"]],
        "pending": {"count": _count(oc["pending"]["count"])}}
    out["stock_flow"] = [{**r, "inflow": _count(r["inflow"]), "outflow": _count(r["outflow"]),
                          "stock": _count(r["stock"])} for r in figures["stock_flow"]]
    out["workload"] = [
        {**{k: v for k, v in r.items() if k not in INTERNAL}, "open": _count(r["open"]),
         "n": _count(r["n"]), "median_age_days": _hide(r["median_age_days"], r["n"]),
         "oldest_days": _hide(r["oldest_days"], r["n"]), "overdue": _count(r["overdue"])}
        for r in figures["workload"]]
    return out


# Inside the module only: which cases, and the distributions the national figure merges.
INTERNAL = frozenset({"case_ids", "hist", "ages"})


def without_case_ids(figures: Any) -> Any:
    """The figures without case lists and raw distributions (what an interface shows of
    its own municipality)."""
    return _drop(figures, INTERNAL)


def _drop(figures: Any, keys: frozenset) -> Any:
    if isinstance(figures, dict):
        return {k: _drop(v, keys) for k, v in figures.items() if k not in keys}
    if isinstance(figures, list):
        return [_drop(v, keys) for v in figures]
    return figures


# ------------------------------------------------------------------ loading from the database
def _first_instances(session: Session, municipality_ids: list[int] | None):
    """Per case: its municipality key, type and versions (of its first process instance)."""
    first = (select(ProcessInstance.case_id, func.min(ProcessInstance.id).label("iid"))
             .group_by(ProcessInstance.case_id))
    if municipality_ids is not None:
        first = first.where(ProcessInstance.municipality_id.in_(municipality_ids))
    first = first.subquery()
    rows = session.execute(
        select(ProcessInstance.case_id, Municipality.key, ProcessInstance.process_id, ModelVersion.version,
               ProcessInstance.policy_version_id)
        .join(first, first.c.iid == ProcessInstance.id)
        .join(ModelVersion, ModelVersion.id == ProcessInstance.model_version_id)
        .join(Municipality, Municipality.id == ProcessInstance.municipality_id))
    return {case_id: (key, ptype, version, policy) for case_id, key, ptype, version, policy in rows}


@dataclass
class Facts:
    cases: list[CaseFacts]
    deadlines: list[DeadlineFact]
    tasks: list[TaskFact]
    instances: list[InstanceFact]

    def of(self, municipality: str) -> "Facts":
        return Facts([c for c in self.cases if c.municipality == municipality],
                     [d for d in self.deadlines if d.municipality == municipality],
                     [t for t in self.tasks if t.municipality == municipality],
                     [i for i in self.instances if i.municipality == municipality])


def load_facts(session: Session, municipality_ids: list[int] | None = None) -> Facts:
    """Every case's milestones, deadlines, tasks and process instances (all municipalities
    when ``municipality_ids`` is None)."""
    cases = _first_instances(session, municipality_ids)

    def scoped(stmt, column):
        return stmt if municipality_ids is None else stmt.where(column.in_(municipality_ids))

    rows = session.execute(scoped(select(Milestone.case_id, Milestone.key, Milestone.date, Milestone.item),
                                  Milestone.municipality_id).order_by(Milestone.case_id, Milestone.date))
    case_facts = facts_from_rows(((cid, cases[cid][0], key, day, item) for cid, key, day, item in rows if cid in cases),
                                 {cid: v[1:] for cid, v in cases.items()})
    seen = {f.case_id for f in case_facts}
    # a case without milestones still counts (workload, stock and flow filter on its type)
    case_facts += [CaseFacts(cid, v[0], v[1], v[2], v[3]) for cid, v in cases.items() if cid not in seen]
    tasks = [TaskFact(case_id, cases[case_id][0], role, bpmn_id, process_id, created, closed, state, due)
             for case_id, role, bpmn_id, process_id, created, closed, state, due in session.execute(scoped(
                 select(HumanTask.case_id, HumanTask.role, HumanTask.bpmn_id, HumanTask.process_id,
                        HumanTask.created_at, HumanTask.closed_at, HumanTask.state, HumanTask.due_at),
                 HumanTask.municipality_id)) if case_id in cases]
    deadlines = [DeadlineFact(case_id, cases[case_id][0], rule, due, state, closed)
                 for case_id, rule, due, state, closed in session.execute(scoped(
                     select(HumanTask.case_id, HumanTask.deadline_rule, HumanTask.due_at, HumanTask.state,
                            HumanTask.closed_at).where(HumanTask.due_at.is_not(None),
                                                       HumanTask.deadline_rule.is_not(None)),
                     HumanTask.municipality_id)) if case_id in cases]
    instances = [InstanceFact(case_id, cases[case_id][0], process_id, started, completed)
                 for case_id, process_id, started, completed in session.execute(scoped(
                     select(ProcessInstance.case_id, ProcessInstance.process_id, ProcessInstance.started_at,
                            ProcessInstance.completed_at), ProcessInstance.municipality_id)) if case_id in cases]
    return Facts(case_facts, deadlines, tasks, instances)


def municipality_figures(facts: Facts, filters: Filters, now: datetime) -> dict:
    return measures(facts.cases, facts.deadlines, facts.tasks, facts.instances, filters, now)


def compare(session: Session, own: str, others: list[str], filters: Filters, now: datetime) -> dict:
    """Own municipality's figures beside others' and the national figure (all municipalities
    pooled). Others and the nation are suppressed and carry no case ids; the model/policy
    version filter applies to the own municipality only (versions are per municipality).

    Served from the worker's snapshot (:func:`refresh`) when it covers exactly these
    filters (the standard period, no version filter); computed from the rows otherwise.
    ``source`` and ``computed_at`` say which and how fresh."""
    known = {key: (mid, name) for key, mid, name in session.execute(
        select(Municipality.key, Municipality.id, Municipality.name))}
    names = {key: name for key, (_mid, name) in known.items()}
    unknown = [k for k in [own, *others] if k not in names]
    if unknown:
        raise NotFound(f"unknown municipality: {', '.join(unknown)}")
    others = [k for k in dict.fromkeys(others) if k != own]
    ids = {key: known[key][0] for key in [own, *others]}
    snap = _snapshot(session, [own, *others], filters, now, ids)
    if snap is not None:
        by_key, computed_at, refreshed_at = snap
        own_fig, other_figs, national = by_key[own], [by_key[k] for k in others], by_key[None]
        source = {"source": "snapshot", "computed_at": computed_at.isoformat(), "refreshed_at": refreshed_at.isoformat()}
    elif (cube := _from_cube(session, [own, *others], filters, now, ids)) is not None:
        by_key, computed_at, refreshed_at = cube
        own_fig, other_figs, national = by_key[own], [by_key[k] for k in others], by_key[None]
        source = {"source": "cube", "computed_at": computed_at.isoformat(), "refreshed_at": refreshed_at.isoformat()}
    else:
        pooled = filters.without_versions()
        by_key, parts = {}, []
        # one municipality in memory at a time; the nation is their merge
        for key, facts in _each_municipality(session):
            fig = municipality_figures(facts, pooled, now)
            parts.append(_without_ids(fig))
            if key == own:
                own_fig = fig if pooled == filters else municipality_figures(facts, filters, now)
            if key in others:
                by_key[key] = fig
        other_figs, national = [by_key[k] for k in others], merge(parts)
        source = {"source": "live", "computed_at": now.isoformat()}
    columns = [{"key": own, "name": names[own], "own": True, "figures": without_case_ids(own_fig)}]
    columns += [{"key": k, "name": names[k], "own": False, "figures": suppress(f)} for k, f in zip(others, other_figs)]
    columns.append({"key": "national", "name": "Landsplan", "own": False, "figures": suppress(national)})
    return {"filters": filters_json(filters), **source, "columns": columns}


# ------------------------------------------------------------------ snapshots (pre-aggregation)
REFRESH_EVERY = timedelta(minutes=15)   # wall-clock age after which the worker recomputes


def _snapshot(session: Session, keys: list[str], filters: Filters, now: datetime, ids: dict[str, int]):
    """The snapshot rows for these municipalities and the nation, if a snapshot covers
    ``filters`` exactly; else None. Only the standard period is ever in it, so no other
    period is looked up."""
    if filters.model_version is not None or filters.policy_version is not None:
        return None
    standard = make_filters(date.fromisoformat(danish_date(now)))
    if (filters.start, filters.end) != (standard.start, standard.end):
        return None
    wanted = [ids[k] for k in keys]
    rows = session.execute(select(AnalyticsSnapshot.municipality_id, AnalyticsSnapshot.figures,
                                  AnalyticsSnapshot.computed_at, AnalyticsSnapshot.refreshed_at)
                           .where(AnalyticsSnapshot.case_type == (filters.case_type or ""),
                                  AnalyticsSnapshot.period_from == filters.start,
                                  AnalyticsSnapshot.period_to == filters.end,
                                  (AnalyticsSnapshot.municipality_id.in_(wanted))
                                  | AnalyticsSnapshot.municipality_id.is_(None))).all()
    found = {mid: (fig, computed, refreshed) for mid, fig, computed, refreshed in rows}
    if None not in found or any(mid not in found for mid in wanted):
        return None
    by_key = {key: found[ids[key]][0] for key in keys}
    by_key[None] = found[None][0]
    return by_key, found[None][1], found[None][2]


def needs_refresh(session: Session, now: datetime, wall_now: datetime) -> bool:
    latest = session.execute(select(AnalyticsSnapshot.period_to, AnalyticsSnapshot.refreshed_at)
                             .where(AnalyticsSnapshot.municipality_id.is_(None), AnalyticsSnapshot.case_type == "")
                             ).first()
    if latest is None:
        return True
    today = date.fromisoformat(danish_date(now))
    return latest.period_to != today or wall_now - latest.refreshed_at >= REFRESH_EVERY


def refresh(session: Session, now: datetime, wall_now: datetime) -> int:
    """Recompute the snapshot for the standard period (12 months up to today): every
    municipality for all case types and for each, and the nation as their merge (made
    here, from the distributions; the rows keep only the figures, so a page reads little),
    and the cube behind other periods, case types and versions (from the same facts).
    Replaces the previous ones in the caller's transaction; returns the snapshot rows written. On
    PostgreSQL one refresh runs at a time (an advisory lock; a second caller returns 0)."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('sagsflow.analytics'))")):
            return 0
    standard = make_filters(date.fromisoformat(danish_date(now)))
    types = ("", *CASE_TYPES)
    pooled: dict[str, list[dict]] = {t: [] for t in types}
    rows = []
    ids = dict(session.execute(select(Municipality.key, Municipality.id)).all())
    cube_rows, nation = 0, {}
    for key, facts in _each_municipality(session):
        mid = ids[key]
        for case_type in types:
            fig = _without_ids(municipality_figures(facts, Filters(standard.start, standard.end, case_type or None), now))
            pooled[case_type].append(fig)
            rows.append((mid, case_type, fig))
        cube_rows += _cube_municipality(session, mid, facts, now, wall_now, mid == min(ids.values()), nation)
    rows += [(None, case_type, merge(figs)) for case_type, figs in pooled.items()]
    cube_rows += _cube_nation(session, now, wall_now, nation)
    session.execute(delete(AnalyticsSnapshot))
    session.add_all([AnalyticsSnapshot(municipality_id=mid, case_type=case_type, period_from=standard.start,
                                       period_to=standard.end, computed_at=now, refreshed_at=wall_now,
                                       figures=without_case_ids(fig))
                     for mid, case_type, fig in rows])
    return len(rows)


def _each_municipality(session: Session):
    """``(key, facts)`` of every municipality, loaded one at a time."""
    for mid, key in session.execute(select(Municipality.id, Municipality.key).order_by(Municipality.id)).all():
        yield key, load_facts(session, [mid])


def _without_ids(figures: Any) -> Any:
    """Figures as a snapshot keeps them: the distributions stay (the nation merges them)."""
    return _drop(figures, frozenset({"case_ids"}))


def filters_json(filters: Filters) -> dict:
    return {"from": filters.start.isoformat(), "to": filters.end.isoformat(), "case_type": filters.case_type,
            "model_version": filters.model_version, "policy_version": filters.policy_version}


# ------------------------------------------------------------------ table rows
def _fmt_days(q):
    if q is None:
        return None
    if q == SUPPRESSED:
        return SUPPRESSED
    return ("≥" if q["at_least"] else "") + _num(q["value"])


def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


def _fmt_share(value):
    if value is None or value == SUPPRESSED:
        return value
    return f"{round(value * 100)} %"


def comparison_rows(result: dict) -> list[dict]:
    """One row per measure, one value (display text) per column: the Sammenlign table and
    its CSV. Rows: lead time medians, compliance per rule, funnel and outcome shares."""
    cols = result["columns"]
    rows: list[dict] = []

    def add(group, key, label, pick):
        rows.append({"group": group, "key": key, "label": label, "values": [pick(c["figures"]) for c in cols]})

    for i, m in enumerate(LEAD_TIMES):
        add("lead_time", m.key, f"{m.label} (median, dage)",
            lambda f, i=i: _fmt_days(f["lead_times"][i]["median"]))
    rules = sorted({r["rule"] for c in cols for r in c["figures"]["compliance"]})
    for rule in rules:
        param = POLICY_BY_KEY.get(rule)
        # the rule key too: two rules may share a label (follow-up talks in RF and sygedagpenge)
        add("compliance", rule, f"Frist overholdt: {param.label} ({rule})" if param else f"Frist overholdt: {rule}",
            lambda f, rule=rule: next((_fmt_share(r["share_met"]) for r in f["compliance"] if r["rule"] == rule), None))
    for i, (key, label, _) in enumerate(FUNNEL):
        add("funnel", key, f"Tragt: {label}", lambda f, i=i: _fmt_share(f["funnel"]["stages"][i]["share"]))
    for i, (key, label, _) in enumerate(OUTCOMES):
        add("outcome", key, f"Udfald: {label}", lambda f, i=i: _fmt_share(f["outcomes"]["outcomes"][i]["share"]))
    return rows


# ------------------------------------------------------------------ drill-down (own only)
def drilldown(session: Session, municipality_id: int, kind: str, key: str, filters: Filters,
              now: datetime, facts: Facts | None = None) -> list[int]:
    """The own municipality's case ids behind one figure (``kind``: lead_time, compliance,
    funnel, outcome, workload). Never crosses municipalities: it loads only
    ``municipality_id``'s facts (or is given them, loaded by the caller the same way)."""
    if facts is None:
        facts = load_facts(session, [municipality_id])
    figures = municipality_figures(facts, filters, now)
    if kind == "lead_time":
        found = [m for m in figures["lead_times"] if m["key"] == key]
    elif kind == "compliance":
        found = [r for r in figures["compliance"] if r["rule"] == key]
    elif kind == "funnel":
        found = [s for s in figures["funnel"]["stages"] if s["stage"] == key]
    elif kind == "outcome":
        found = [o for o in figures["outcomes"]["outcomes"] if o["outcome"] == key]
        if key == "afventer":
            found = [figures["outcomes"]["pending"]]
    elif kind == "workload":
        found = [r for r in figures["workload"] if r["role"] == key]
    else:
        raise KeyError(kind)
    if not found:
        return []
    return list(found[0]["case_ids"])


def own_cases(session: Session, municipality_id: int, case_ids: list[int]) -> list[Case]:
    if not case_ids:
        return []
    return list(session.scalars(select(Case).where(Case.municipality_id == municipality_id,
                                                   Case.id.in_(case_ids)).order_by(Case.id)))


def milestone_label(key: str) -> str:
    return MILESTONE_BY_KEY[key].label if key in MILESTONE_BY_KEY else key


# ------------------------------------------------------------------ the cube (filtered views)
# Sammenlign with another period, a case type or a model/policy version is served from a
# pre-aggregation the worker refreshes with the snapshot: per municipality, case type and
# model/policy version of a case, and calendar month of the cohort date, the observations
# of the measures above (lead-time distributions, deadline states, funnel stages,
# outcomes), with the same definitions (``lead_observation``, ``deadline_state``,
# ``funnel_observations``, ``decision``). A period of whole months (or ending today) is the
# sum of its months. Counts of distinct cases over several months (a rule's cases, a
# funnel stage's cases) come from each case's months as a bit mask, counted per mask, so
# they stay exact. Stock and flow are per month already; workload is today's.
CUBE_MONTHS_BACK = 24       # the cube covers periods starting up to this many months back


def _bucket(day: date, today: date) -> str:
    """The cube bucket of a cohort date: its month, the days after today in today's month
    apart (a period may end today)."""
    return f"{day.isoformat()[:7]}+" if (day > today and day.isoformat()[:7] == today.isoformat()[:7]) \
        else day.isoformat()[:7]


def _bit(bucket: str, first: date) -> int:
    """A bucket's bit in a case's mask: two per month from the cube's first month."""
    index = int(bucket[:4]) * 12 + int(bucket[5:7]) - 1 - (first.year * 12 + first.month - 1)
    return 1 << (index * 2 + (1 if bucket.endswith("+") else 0))


def cube_buckets(filters: Filters, today: date) -> list[str] | None:
    """The buckets a period is the sum of, or None when the cube cannot serve it (not
    whole months ending by the end of today's month, or starting before the cube)."""
    first_of_cube = _month_back(today, CUBE_MONTHS_BACK)
    month_end = (filters.end.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    last_of_today = (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if filters.start.day != 1 or filters.start < first_of_cube or filters.end > last_of_today:
        return None
    if filters.end != month_end and filters.end != today:
        return None
    out = []
    for month in months(filters):
        label = month.isoformat()[:7]
        out.append(label)
        if label == today.isoformat()[:7] and filters.end > today:
            out.append(label + "+")
    return out


def _month_back(today: date, n: int) -> date:
    index = today.year * 12 + today.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _empty_part() -> dict:
    return {"lead": defaultdict(Counter), "comp": defaultdict(Counter), "funnel": Counter(), "outcomes": Counter()}


def _empty_group() -> dict:
    return {"cases": 0, "comp_masks": defaultdict(Counter), "funnel_masks": defaultdict(Counter),
            "flow": defaultdict(Counter), "workload": {}}


def cube_of(facts: Facts, now: datetime) -> dict[tuple[str, int | None, int | None], tuple[dict, dict]]:
    """Per ``(case type, model version, policy version)`` of one municipality's cases: the
    month parts and the group part of the cube."""
    today = date.fromisoformat(danish_date(now))
    first = _month_back(today, CUBE_MONTHS_BACK)
    groups: dict[tuple, list[CaseFacts]] = defaultdict(list)
    for case in facts.cases:
        groups[(case.case_type, case.model_version, case.policy_version)].append(case)
    deadlines, instances, tasks = defaultdict(list), defaultdict(list), defaultdict(list)
    for d in facts.deadlines:
        deadlines[d.case_id].append(d)
    for i in facts.instances:
        instances[i.case_id].append(i)
    for t in facts.tasks:
        tasks[t.case_id].append(t)
    span = Filters(first, today)
    out = {}
    for key, cases in groups.items():
        parts: dict[str, dict] = defaultdict(_empty_part)
        group = _empty_group()
        group["cases"] = len(cases)

        def where(day):
            return None if day is None or day < first else _bucket(day, today)

        for case in cases:
            for m in LEAD_TIMES:
                seen = lead_observation(m, case, today)
                if seen is not None and where(seen[0]):
                    parts[where(seen[0])]["lead"][m.key][seen[1:]] += 1
            masks: dict[str, int] = defaultdict(int)
            for d in deadlines[case.case_id]:
                state, bucket = deadline_state(d, now), where(date.fromisoformat(danish_date(d.due_at)))
                if state is not None and bucket:
                    parts[bucket]["comp"][d.rule][state] += 1
                    masks[d.rule] |= _bit(bucket, first)
            for rule, mask in masks.items():
                group["comp_masks"][rule][mask] += 1
            stage_masks: dict[str, int] = defaultdict(int)
            for recommended, stages in funnel_observations(case):
                bucket = where(recommended)
                if bucket:
                    parts[bucket]["funnel"].update(stages)
                    for stage in stages:
                        stage_masks[stage] |= _bit(bucket, first)
            for stage, mask in stage_masks.items():
                group["funnel_masks"][stage][mask] += 1
            found = decision(case)
            if found is not None and where(found[1]):
                parts[where(found[1])]["outcomes"][found[0]] += 1
        ids = {c.case_id for c in cases}
        for row in stock_flow([i for cid in ids for i in instances[cid]], span):
            group["flow"][(row["process"], row["month"])].update(
                {k: row[k] for k in ("inflow", "outflow", "stock")})
        group["workload"] = {r["role"]: _drop(r, frozenset({"case_ids"}))
                             for r in workload([t for cid in ids for t in tasks[cid]], now)}
        out[key] = (parts, group)
    return out


def _add_parts(into: dict, part: dict) -> None:
    for k, hist in part["lead"].items():
        into["lead"][k].update(hist)
    for rule, states in part["comp"].items():
        into["comp"][rule].update(states)
    into["funnel"].update(part["funnel"])
    into["outcomes"].update(part["outcomes"])


def _add_groups(into: dict, group: dict) -> None:
    into["cases"] += group["cases"]
    for name in ("comp_masks", "funnel_masks", "flow"):
        for k, counter in group[name].items():
            into[name][k].update(counter)
    for role, r in group["workload"].items():
        was = into["workload"].get(role)
        ages = Counter({a: c for a, c in r["ages"]}) + (Counter({a: c for a, c in was["ages"]}) if was else Counter())
        into["workload"][role] = _workload_figure(role, r["open"] + (was["open"] if was else 0),
                                                  r["n"] + (was["n"] if was else 0), ages,
                                                  r["overdue"] + (was["overdue"] if was else 0), None)


def _part_of(data: dict) -> dict:
    """A cumulative row's stored JSON as counters (parsed once per row and request)."""
    return {"lead": {k: {(d, bool(c)): n for d, c, n in rows} for k, rows in data["lead"].items()},
            "comp": data["comp"], "funnel": data["funnel"], "outcomes": data["outcomes"]}


def _difference(upto: dict, before: dict | None) -> dict:
    """The observations between two cumulative rows (:func:`_part_of`): those up to the
    period's last bucket less those before its first."""
    out = _empty_part()
    before = before or {"lead": {}, "comp": {}, "funnel": {}, "outcomes": {}}
    for k, hist in upto["lead"].items():
        earlier = before["lead"].get(k)
        if not earlier:
            out["lead"][k] = Counter({key: n for key, n in hist.items() if n > 0})
            continue
        out["lead"][k] = Counter({key: n - earlier.get(key, 0) for key, n in hist.items()
                                  if n > earlier.get(key, 0)})
    for rule, states in upto["comp"].items():
        earlier = before["comp"].get(rule, {})
        out["comp"][rule] = Counter({st: n - earlier.get(st, 0) for st, n in states.items() if n > earlier.get(st, 0)})
    for name in ("funnel", "outcomes"):
        out[name] = Counter({k: n - before[name].get(k, 0) for k, n in upto[name].items() if n > before[name].get(k, 0)})
    return out


def _part_json(part: dict) -> dict:
    return {"lead": {k: _hist_rows(h) for k, h in part["lead"].items()},
            "comp": {r: dict(c) for r, c in part["comp"].items()},
            "funnel": dict(part["funnel"]), "outcomes": dict(part["outcomes"])}


def _group_json(group: dict) -> dict:
    return {"cases": group["cases"],
            "comp_masks": {r: [[m, n] for m, n in c.items()] for r, c in group["comp_masks"].items()},
            "funnel_masks": {s: [[m, n] for m, n in c.items()] for s, c in group["funnel_masks"].items()},
            "flow": [[p, m, dict(c)] for (p, m), c in sorted(group["flow"].items())],
            "workload": list(group["workload"].values())}


def _group_of(data: dict) -> dict:
    group = _empty_group()
    group["cases"] = data["cases"]
    for name in ("comp_masks", "funnel_masks"):
        for k, rows in data[name].items():
            group[name][k] = Counter({m: n for m, n in rows})
    for p, m, c in data["flow"]:
        group["flow"][(p, m)] = Counter(c)
    group["workload"] = {r["role"]: r for r in data["workload"]}
    return group


def assemble(chosen: dict, group: dict, filters: Filters, today: date) -> dict:
    """A municipality's (or the nation's) figures for ``filters`` from the cube: ``chosen``
    the observations of the period's buckets, ``group`` what is not per month. The same
    as :func:`measures` without case ids (``tests/test_analytics.py`` checks)."""
    buckets = cube_buckets(filters, today)
    mask, first = 0, _month_back(today, CUBE_MONTHS_BACK)
    for bucket in buckets:
        mask |= _bit(bucket, first)

    def cases(masks: Counter) -> int:
        return sum(n for m, n in masks.items() if m & mask)

    funnel_cases = {stage: cases(group["funnel_masks"].get(stage, Counter())) for stage, _l, _m in FUNNEL}
    outcome_counts = Counter(chosen["outcomes"])
    pending = outcome_counts.pop("afventer", 0)
    labels = [m.isoformat()[:7] for m in months(filters)]
    processes = sorted({p for p, _m in group["flow"]})
    return {
        "cases": group["cases"],
        "lead_times": [_lead_figure(m, chosen["lead"].get(m.key, Counter()), None, with_hist=False)
                       for m in LEAD_TIMES],
        "compliance": [_compliance_figure(rule, chosen["comp"][rule], None, cases(group["comp_masks"][rule]))
                       for rule in sorted(r for r, c in chosen["comp"].items() if sum(c.values()))],
        "funnel": _funnel_figure(chosen["funnel"], funnel_cases, None),
        "outcomes": _outcomes_figure({k: v for k, v in outcome_counts.items() if v}, pending, None),
        "stock_flow": [{"process": p, "month": m, **{k: group["flow"].get((p, m), Counter())[k]
                                                      for k in ("inflow", "outflow", "stock")}}
                       for p in processes for m in labels],
        "workload": [group["workload"][role] for role in sorted(group["workload"])],
    }


def _cube_municipality(session: Session, mid: int, facts: Facts, now: datetime, wall_now: datetime,
                       first: bool, nation: dict) -> int:
    """Write one municipality's cube rows (``first``: replace the old cube first): its
    exact groups (case type, model version, policy version) and their merge per case type
    and over all case types; add the latter to ``nation``."""
    if first:
        session.execute(delete(AnalyticsCube))
    rows = _cube_rows(mid, facts, now, wall_now, national=nation)
    if rows:
        session.execute(AnalyticsCube.__table__.insert(), rows)
    return len(rows)


def _cube_nation(session: Session, now: datetime, wall_now: datetime, national: dict) -> int:
    """The nation's cube rows per case type: the merge of the municipalities'."""
    rows = _cube_rows(None, None, now, wall_now, national=national, emit_nation=True)
    if rows:
        session.execute(AnalyticsCube.__table__.insert(), rows)
    return len(rows)


def _cube_rows(mid, facts, now: datetime, wall_now: datetime, national: dict,
               emit_nation: bool = False) -> list[dict]:
    today = date.fromisoformat(danish_date(now))
    rows = []

    def emit(mid, level, case_type, mv, pv, parts, group):
        # cumulative: a bucket's row holds its observations and all earlier buckets', so a
        # period is the difference of two rows
        running = _empty_part()
        for bucket in sorted(parts):
            _add_parts(running, parts[bucket])
            rows.append({"municipality_id": mid, "level": level, "case_type": case_type, "model_version": mv,
                         "policy_version": pv, "bucket": bucket, "data": _part_json(running), "computed_at": now,
                         "refreshed_at": wall_now, "cube_from": _month_back(today, CUBE_MONTHS_BACK)})
        rows.append({"municipality_id": mid, "level": level, "case_type": case_type, "model_version": mv,
                     "policy_version": pv, "bucket": "", "data": _group_json(group), "computed_at": now,
                     "refreshed_at": wall_now, "cube_from": _month_back(today, CUBE_MONTHS_BACK)})

    if emit_nation:
        for case_type, (parts, group) in national.items():
            emit(None, "type", case_type, None, None, parts, group)
        return rows
    merged: dict[str, tuple[dict, dict]] = {}
    for (case_type, mv, pv), (parts, group) in cube_of(facts, now).items():
        emit(mid, "group", case_type, mv, pv, parts, group)
        for key in (case_type, ""):
            into = merged.setdefault(key, (defaultdict(_empty_part), _empty_group()))
            for bucket, part in parts.items():
                _add_parts(into[0][bucket], part)
            _add_groups(into[1], group)
    for case_type, (parts, group) in merged.items():
        emit(mid, "type", case_type, None, None, parts, group)
        into = national.setdefault(case_type, (defaultdict(_empty_part), _empty_group()))
        for bucket, part in parts.items():
            _add_parts(into[0][bucket], part)
        _add_groups(into[1], group)
    return rows


def _from_cube(session: Session, keys: list[str], filters: Filters, now: datetime,
               ids: dict[str, int] | None = None):
    """Own (with its version filter), others' and the nation's figures from the cube, or
    None when the cube cannot serve the filters (or is not there)."""
    today = date.fromisoformat(danish_date(now))
    if cube_buckets(filters, today) is None:
        return None
    head = _cube_head(session, today)
    if head is None:
        return None
    if ids is None:
        ids = dict(session.execute(select(Municipality.key, Municipality.id).where(Municipality.key.in_(keys))).all())
    versioned = filters.model_version is not None or filters.policy_version is not None
    columns = [(key, ids[key], versioned and i == 0) for i, key in enumerate(keys)] + [(None, None, False)]
    found = cube_figures(session, columns, filters, [filters], today)
    return {key: found[key][0] for key, _mid, _v in columns}, head.computed_at, head.refreshed_at


def own_from_cube(session: Session, municipality_id: int, filters: Filters, periods: list[Filters],
                  now: datetime):
    """One municipality's own figures for ``filters`` and for each of ``periods`` (same
    case type and versions; Overblik's months) from the cube, without case ids, or None
    when the cube cannot serve them all: ``(figures, [figures per period], computed_at,
    refreshed_at)``. The same figures as :func:`municipality_figures` computes from the
    rows (``tests/test_analytics.py``), except workload, which is the refresh's "now"."""
    today = date.fromisoformat(danish_date(now))
    if any(cube_buckets(f, today) is None for f in (filters, *periods)):
        return None
    head = _cube_head(session, today)
    if head is None:
        return None
    versioned = filters.model_version is not None or filters.policy_version is not None
    found = cube_figures(session, [("own", municipality_id, versioned)], filters, [filters, *periods], today)["own"]
    return found[0], found[1:], head.computed_at, head.refreshed_at


def _cube_head(session: Session, today: date):
    """When the cube was computed, if it is today's (else None: it cannot serve)."""
    head = session.execute(select(AnalyticsCube.computed_at, AnalyticsCube.refreshed_at, AnalyticsCube.cube_from)
                           .where(AnalyticsCube.municipality_id.is_(None)).limit(1)).first()
    if head is None or danish_date(head.computed_at) != today.isoformat() \
            or head.cube_from != _month_back(today, CUBE_MONTHS_BACK):
        return None
    return head


def cube_figures(session: Session, columns: list[tuple], filters: Filters, periods: list[Filters],
                 today: date) -> dict:
    """Figures from the cube for ``columns`` (``(name, municipality id or None for the
    nation, whether the model/policy version filter applies)``) and each of ``periods``
    (same case type and versions as ``filters``; each servable, :func:`cube_buckets`):
    ``{name: [figures per period]}``. Two queries in all: which rows exist (no data), then
    the data of the rows the periods need (per group: the cumulative rows at each
    period's last bucket and before its first, and the group row)."""
    C = AnalyticsCube
    case_type = filters.case_type or ""
    spans = [cube_buckets(p, today) for p in periods]
    last = max(b[-1] for b in spans)

    def where(mid, with_versions):
        cond = [C.municipality_id == mid if mid is not None else C.municipality_id.is_(None)]
        if with_versions:
            cond.append(C.level == "group")
            if filters.case_type:
                cond.append(C.case_type == filters.case_type)
            if filters.model_version is not None:
                cond.append(C.model_version == filters.model_version)
            if filters.policy_version is not None:
                cond.append(C.policy_version == filters.policy_version)
        else:
            cond += [C.level == "type", C.case_type == case_type]
        return and_(*cond)

    which = {(mid, v): name for name, mid, v in columns}
    rows = session.execute(select(C.id, C.municipality_id, C.level, C.case_type, C.model_version, C.policy_version,
                                  C.bucket).where(C.bucket <= last, or_(*(where(mid, v) for mid, v in which))))
    # per column and group (case type, model version, policy version): its buckets and group row
    groups: dict[Any, dict[tuple, dict]] = defaultdict(dict)
    for rid, mid, level, ct, mv, pv, bucket in rows:
        if (mid, level == "group") not in which:
            continue
        name = which[(mid, level == "group")]
        g = groups[name].setdefault((ct, mv, pv), {"buckets": [], "group": None})
        if bucket:
            g["buckets"].append((bucket, rid))
        else:
            g["group"] = rid
    # per column, period and group: (+row, -row)
    picks: dict[Any, list[list[tuple[int, int | None]]]] = {}
    needed: set[int] = set()
    for name, by_group in groups.items():
        per_period = []
        for buckets in spans:
            before, upto = buckets[0], buckets[-1]
            pairs = []
            for g in by_group.values():
                lo = hi = None
                for bucket, rid in g["buckets"]:
                    if bucket < before and (lo is None or bucket > lo[0]):
                        lo = (bucket, rid)
                    if bucket <= upto and (hi is None or bucket > hi[0]):
                        hi = (bucket, rid)
                if hi is not None and hi != lo:          # else nothing lies in the period
                    pairs.append((hi[1], lo[1] if lo else None))
                    needed.update(r for r in (hi[1], lo and lo[1]) if r)
            per_period.append(pairs)
        picks[name] = per_period
        needed.update(g["group"] for g in by_group.values() if g["group"] is not None)
    data: dict[int, dict] = {}
    if needed:
        data = dict(session.execute(select(C.id, C.data).where(C.id.in_(sorted(needed)))).all())
    parsed: dict[int, dict] = {}

    def part(rid):
        if rid not in parsed:
            parsed[rid] = _part_of(data[rid])
        return parsed[rid]

    out: dict[Any, list[dict]] = {}
    for name, _mid, _v in columns:
        group = _empty_group()
        for g in groups.get(name, {}).values():
            if g["group"] is not None:
                _add_groups(group, _group_of(data[g["group"]]))
        figs = []
        for period, pairs in zip(periods, picks.get(name, [[] for _ in periods])):
            chosen = _empty_part()
            for hi, lo in pairs:
                _add_parts(chosen, _difference(part(hi), part(lo) if lo else None))
            figs.append(assemble(chosen, group, period, today))
        out[name] = figs
    return out
