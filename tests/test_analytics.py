"""Issue 10: every manager measure on a small hand-built history, exact values, on SQLite
and PostgreSQL; suppression and isolation across municipalities.

The history (``tests/analytics_history.py``) is played through the engine; "now" is
2027-07-01 09:00 Danish time and the period 2027-01-01..2027-06-30 unless a test says
otherwise. Day counts below are Danish calendar days between milestone dates.
"""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from analytics_history import NOW, build_history, register
from conftest import make_runtime
from processes import analytics
from processes.analytics import Filters
from processes.models import Milestone, Municipality, PolicyVersion

PERIOD = Filters(date(2027, 1, 1), date(2027, 6, 30))


@pytest.fixture
def history(db_url, tmp_path):
    rt = make_runtime(db_url, reference=False)
    ids = build_history(rt, tmp_path)
    yield rt, ids
    rt.close()


def figures(rt, municipality="maaleby", filters=PERIOD):
    with rt.sessions() as session:
        facts = analytics.load_facts(session)
    return analytics.municipality_figures(facts.of(municipality), filters, NOW)


def q(value, at_least=False):
    return {"value": value, "at_least": at_least}


def ids_of(ids, *names):
    return sorted(ids[n] for n in names)


def test_lead_times_quartiles_p90_and_open_cases_as_at_least(history):
    rt, ids = history
    lead = {m["key"]: m for m in figures(rt)["lead_times"]}

    def stats(key):
        m = lead[key]
        return (m["n"], m["finished"], m["open"], m["q1"], m["median"], m["q3"], m["p90"])

    # signed -> meeting: M1 21, M2 28, M3 35, M4 42, M5 63, M6 still waiting since 03-01: >= 122.
    # median between 35 and 42; p90 between 63 and the open 122, so only "at least".
    assert stats("underskrift_moede") == (6, 5, 1, q(29.75), q(38.5), q(57.75), q(92.5, True))
    assert lead["underskrift_moede"]["case_ids"] == ids_of(ids, "M1", "M2", "M3", "M4", "M5", "M6")
    # meeting -> indstilling: 0 (M1), 1 (M2), 0 (M3), 7 (M4), 0 (M5)
    assert stats("moede_indstilling") == (5, 5, 0, q(0), q(0), q(1), q(4.6))
    # indstilling -> decision: 7, 13, M3's FØP decision 63, 14, 7
    assert stats("indstilling_afgoerelse") == (5, 5, 0, q(7), q(13), q(14), q(43.4))
    # decision -> first RF talk, only cases that went into a ressourceforløb: M1 14, M5 >= 80
    assert stats("afgoerelse_foerste_samtale_rf") == (2, 1, 1, q(30.5, True), q(47, True), q(63.5, True),
                                                      q(73.4, True))
    # meeting -> first intervention started: M1 28, M5 >= 87
    assert stats("moede_foerste_indsats") == (2, 1, 1, q(42.75, True), q(57.5, True), q(72.25, True),
                                              q(81.1, True))
    # visitation -> first fleksjob talk: M2 14, M7 28, M8 >= 30, M9 >= 11
    assert stats("visitation_foerste_samtale_fj") == (4, 2, 2, q(13.25, True), q(21, True), q(28.5, True),
                                                      q(29.4, True))
    # transfer -> FØP decision: M3 56, M10 56 (refused), M11 still waiting since 06-07: >= 24,
    # which lies below every rank used: all only "at least"
    assert stats("overdragelse_foep_afgoerelse") == (3, 2, 1, q(40, True), q(56, True), q(56, True), q(56, True))
    # preparation -> decision: 35, 56, 119, 91, 98, M6 >= 178
    assert stats("forberedelse_afgoerelse") == (6, 5, 1, q(64.75), q(94.5), q(113.75), q(148.5, True))


def test_lead_time_cohort_is_the_start_date_in_the_period(history):
    rt, _ = history
    march = Filters(date(2027, 3, 1), date(2027, 3, 31))
    lead = {m["key"]: m for m in figures(rt, filters=march)["lead_times"]}
    # signed in March: M6 only (still open); visitation in March: M2 14, M7 28
    assert (lead["underskrift_moede"]["n"], lead["underskrift_moede"]["median"]) == (1, q(122, True))
    assert (lead["visitation_foerste_samtale_fj"]["n"], lead["visitation_foerste_samtale_fj"]["median"]) == (2, q(21))


def test_compliance_per_rule_met_breached_overdue_open(history):
    rt, ids = history

    def rules(filters):
        return {r["rule"]: (r["statutory"], r["met"], r["breached"], r["overdue"], r["open"], r["share_met"],
                            r["share_breached"]) for r in figures(rt, filters=filters)["compliance"]}

    # fj_foerste_samtale (3 weeks): M7 due 03-22, held 03-29 (breached); M8 due 06-22, still
    # open on 07-01 (overdue now); M9 due 07-11 lies after the period.
    # rehab_afgoerelse_frist (4 weeks, the rehabilitering model): M2 due 03-29, held 03-15.
    assert rules(PERIOD) == {"fj_foerste_samtale": (True, 0, 1, 1, 0, 0.0, 1.0),
                             "rehab_afgoerelse_frist": (False, 1, 0, 0, 0, 1.0, 0.0)}
    july = Filters(date(2027, 1, 1), date(2027, 7, 31))
    assert rules(july)["fj_foerste_samtale"] == (True, 0, 1, 1, 1, 0.0, 1.0)
    fj = [r for r in figures(rt, filters=july)["compliance"] if r["rule"] == "fj_foerste_samtale"][0]
    assert fj["case_ids"] == ids_of(ids, "M7", "M8", "M9")


def test_funnel_counts_interventions(history):
    rt, ids = history
    f = figures(rt)
    # recommended: M1 three (02-01), M5 two (04-05). In M1's plan: Mentorstøtte and
    # Virksomhedspraktik (spelt differently; Jobklub was not recommended in M1, only in
    # M5, whose plan is not made yet). Started: M1's Mentorstøtte on 02-26; its
    # Smerteforløb "started" 01-20, before the recommendation, does not count.
    assert (f["funnel"]["n"], f["funnel"]["cases"]) == (5, 2)
    assert [(s["stage"], s["count"], s["cases"], s["share"]) for s in f["funnel"]["stages"]] == [
        ("anbefalet", 5, 2, 1.0), ("i_plan", 2, 1, 0.4), ("startet", 1, 1, 0.2)]
    assert [s["case_ids"] for s in f["funnel"]["stages"]] == [ids_of(ids, "M1", "M5"), ids_of(ids, "M1"),
                                                               ids_of(ids, "M1")]
    # the cohort is the recommendation's date: April holds M5's two, none planned
    april = figures(rt, filters=Filters(date(2027, 4, 1), date(2027, 4, 30)))["funnel"]
    assert [(s["count"], s["cases"]) for s in april["stages"]] == [(2, 1), (0, 0), (0, 0)]
    # the rows: one per intervention and step, the item as the step named it (stripped)
    with rt.sessions() as session:
        rows = session.execute(select(Milestone.key, Milestone.item, Milestone.date).where(
            Milestone.case_id == ids["M1"], Milestone.item != "").order_by(Milestone.id)).all()
    assert [(k, i, d.isoformat()) for k, i, d in rows] == [
        ("indsats_anbefalet", "Mentorstøtte", "2027-02-01"), ("indsats_anbefalet", "Virksomhedspraktik", "2027-02-01"),
        ("indsats_anbefalet", "Smerteforløb", "2027-02-01"), ("indsats_planlagt", "mentorstøtte", "2027-02-22"),
        ("indsats_planlagt", "Virksomhedspraktik", "2027-02-22"), ("indsats_planlagt", "Jobklub", "2027-02-22"),
        ("indsats_startet", "Mentorstøtte", "2027-02-26"), ("indsats_startet", "Smerteforløb", "2027-01-20")]


def test_outcomes_as_decided(history):
    rt, ids = history
    f = figures(rt)
    # decided: M1 RF, M2 fleksjob, M3 FØP granted (05-03), M4 other, M5 RF, M10 FØP refused
    # (other, 04-26); M11 is with the pensionsteam, not decided: pending, in no share
    assert f["outcomes"]["n"] == 6
    assert [(o["outcome"], o["count"], o["share"]) for o in f["outcomes"]["outcomes"]] == [
        ("foertidspension", 1, 0.1667), ("ressourceforloeb", 2, 0.3333), ("fleksjob", 1, 0.1667),
        ("andet", 2, 0.3333)]
    assert f["outcomes"]["pending"] == {"count": 1, "case_ids": ids_of(ids, "M11")}
    # the cohort is the date of the decision that settled it: the pensionsteam's for M3
    march = figures(rt, filters=Filters(date(2027, 3, 1), date(2027, 3, 31)))["outcomes"]
    assert [(o["outcome"], o["count"]) for o in march["outcomes"]] == [
        ("foertidspension", 0), ("ressourceforloeb", 0), ("fleksjob", 1), ("andet", 0)]
    may = figures(rt, filters=Filters(date(2027, 5, 1), date(2027, 5, 31)))["outcomes"]
    assert [(o["outcome"], o["count"]) for o in may["outcomes"]] == [
        ("foertidspension", 1), ("ressourceforloeb", 0), ("fleksjob", 0), ("andet", 0)]


def test_stock_and_flow_per_scheme_per_month(history):
    rt, _ = history
    flow = [(r["process"], r["month"], r["inflow"], r["outflow"], r["stock"]) for r in figures(rt)["stock_flow"]]
    # six rehabilitering cases start on 01-04, M10 on 03-01, M11 on 06-07; M1, M2 end in
    # March, M4 and M10 in April, M3 in May, M11 in June. fleksjob: M7 starts 03-01, M8
    # 06-01, M9 06-20.
    assert flow == [
        ("fleksjob", "2027-01", 0, 0, 0), ("fleksjob", "2027-02", 0, 0, 0), ("fleksjob", "2027-03", 1, 0, 1),
        ("fleksjob", "2027-04", 0, 0, 1), ("fleksjob", "2027-05", 0, 0, 1), ("fleksjob", "2027-06", 2, 0, 3),
        ("rehabilitering", "2027-01", 6, 0, 6), ("rehabilitering", "2027-02", 0, 0, 6),
        ("rehabilitering", "2027-03", 1, 2, 5), ("rehabilitering", "2027-04", 0, 2, 3),
        ("rehabilitering", "2027-05", 0, 1, 2), ("rehabilitering", "2027-06", 1, 1, 2)]


def test_workload_per_role(history):
    rt, _ = history
    load = [(r["role"], r["open"], r["median_age_days"], r["oldest_days"], r["overdue"]) for r in figures(rt)["workload"]]
    # sagsbehandler: M5 waiting since 04-12 (80 days), M6 since 03-01 (122), M7 since 03-29 (94)
    # virksomhedskonsulent: M8's first talk since 06-01 (30, overdue), M9's since 06-20 (11)
    assert load == [("sagsbehandler", 3, 94, 122, 0), ("virksomhedskonsulent", 2, 20.5, 30, 1)]


def test_heatmap_per_task(history):
    rt, _ = history
    with rt.sessions() as session:
        tasks = analytics.load_facts(session).of("maaleby").tasks
    heat = {r["bpmn_id"]: r for r in analytics.task_heatmap(tasks, PERIOD, NOW)}
    # first talk: M2 14 days, M7 28 (late), M8 open 30 (overdue), M9 open 11
    assert (heat["foerste_samtale"]["count"], heat["foerste_samtale"]["median_wait_days"],
            heat["foerste_samtale"]["breaches"]) == (4, q(21, True), 2)
    # "vaelg": 51 completed (one per step but the talks) + 3 open (M5, M6, M7), no deadline
    assert (heat["vaelg"]["count"], heat["vaelg"]["breaches"]) == (54, 0)


def test_filters_case_type_and_model_version(history, tmp_path):
    rt, _ = history
    fleks = figures(rt, filters=Filters(PERIOD.start, PERIOD.end, case_type="fleksjob"))
    assert fleks["cases"] == 3
    lead = {m["key"]: m for m in fleks["lead_times"]}
    assert (lead["visitation_foerste_samtale_fj"]["n"], lead["underskrift_moede"]["n"]) == (3, 0)
    assert lead["underskrift_moede"]["median"] is None
    # a new model version changes nothing for running cases: they stay on version 1
    register(rt, tmp_path, "maaleby", "Målby Kommune", update=True, title="Registrering v2")
    v1 = figures(rt, filters=Filters(PERIOD.start, PERIOD.end, case_type="rehabilitering", model_version=1))
    v2 = figures(rt, filters=Filters(PERIOD.start, PERIOD.end, case_type="rehabilitering", model_version=2))
    assert (v1["cases"], v2["cases"]) == (8, 0)
    assert v1["lead_times"][0]["median"] == q(38.5)
    # the policy version a case started under: Maaleby's rehabilitering policy, or another
    with rt.sessions() as session:
        policy = session.scalar(select(PolicyVersion.id).join(Municipality, Municipality.id == PolicyVersion.municipality_id)
                                .where(Municipality.key == "maaleby", PolicyVersion.case_type == "rehabilitering"))
    same = figures(rt, filters=Filters(PERIOD.start, PERIOD.end, policy_version=policy))
    other = figures(rt, filters=Filters(PERIOD.start, PERIOD.end, policy_version=policy + 1000))
    assert (same["cases"], other["cases"]) == (8, 0)


def test_compare_suppresses_other_municipalities_and_the_nation(history):
    rt, _ = history
    with rt.sessions() as session:
        result = analytics.compare(session, "maaleby", ["naboby"], PERIOD, NOW)
    own, other, national = result["columns"]
    assert [(c["key"], c["own"]) for c in result["columns"]] == [("maaleby", True), ("naboby", False),
                                                                 ("national", False)]
    assert "case_ids" not in str(result)
    # own figures are not suppressed: 5 interventions of 2 cases in the funnel are shown
    assert [(s["count"], s["cases"]) for s in own["figures"]["funnel"]["stages"]] == [(5, 2), (2, 1), (1, 1)]
    # Naboby: meetings 10, 20, 30, 40, 50 days after signature: 5 cases, shown
    nab = {m["key"]: m for m in other["figures"]["lead_times"]}
    assert (nab["underskrift_moede"]["n"], nab["underskrift_moede"]["median"], nab["underskrift_moede"]["p90"]) == (
        5, q(30), q(46))
    # two decided cases (N1, N2): every outcome figure is "<5"; zero stays zero
    assert other["figures"]["outcomes"]["n"] == "<5"
    assert [(o["count"], o["share"]) for o in other["figures"]["outcomes"]["outcomes"]] == [
        (0, "<5"), (0, "<5"), (0, "<5"), ("<5", "<5")]
    # one visitation-free municipality: no deadlines at all; a lead time over 0 cases has no value
    assert other["figures"]["compliance"] == []
    assert nab["visitation_foerste_samtale_fj"]["median"] is None
    # workload: five open "vaelg" tasks (N1, N2 since 03-01, N3 02-03, N4 02-13, N5 02-23)
    assert [(r["role"], r["open"], r["median_age_days"], r["oldest_days"]) for r in other["figures"]["workload"]] == [
        ("sagsbehandler", 5, 128, 148)]
    # the nation pools both: signed -> meeting 10,20,21,28,30,35,40,42,50,63,>=122
    nat = {m["key"]: m for m in national["figures"]["lead_times"]}
    assert (nat["underskrift_moede"]["n"], nat["underskrift_moede"]["median"]) == (11, q(35))
    # outcomes nationally: 8 decided (RF 2, FJ 1, FØP 1, other 4), 1 pending: counts and shares of 1-4 hidden
    assert national["figures"]["outcomes"]["n"] == 8
    assert [(o["count"], o["share"]) for o in national["figures"]["outcomes"]["outcomes"]] == [
        ("<5", "<5"), ("<5", "<5"), ("<5", "<5"), ("<5", "<5")]
    assert national["figures"]["outcomes"]["pending"] == {"count": "<5"}
    # the funnel nationally: 5 interventions, but of 2 cases: every figure "<5"
    assert national["figures"]["funnel"]["n"] == "<5"
    assert [(s["count"], s["cases"], s["share"]) for s in national["figures"]["funnel"]["stages"]] == [
        ("<5", "<5", "<5")] * 3
    # a rule with 1-4 cases nationally is suppressed too
    assert {r["rule"]: (r["n"], r["share_met"]) for r in national["figures"]["compliance"]} == {
        "fj_foerste_samtale": ("<5", "<5"), "rehab_afgoerelse_frist": ("<5", "<5")}
    rows = {r["key"]: r["values"] for r in analytics.comparison_rows(result)}
    assert rows["underskrift_moede"] == ["38,5", "30", "35"]
    assert rows["forberedelse_afgoerelse"] == ["94,5", "≥178", "98"]
    assert rows["ressourceforloeb"] == ["33 %", "<5", "<5"]
    assert rows["i_plan"] == ["40 %", None, "<5"]


def test_suppression_rules_on_plain_figures():
    """Counts 1-4 and anything built on them become "<5"; 0 and 5+ stay."""
    fig = {"cases": 4, "lead_times": [], "compliance": [
        {"rule": "r", "statutory": True, "met": 5, "breached": 1, "overdue": 0, "open": 0, "n": 6,
         "share_met": 0.8333, "share_breached": 0.1667, "case_ids": [1]}],
        "funnel": {"n": 0, "cases": 0, "stages": []}, "outcomes": {"n": 0, "outcomes": [], "pending": {"count": 0}},
        "stock_flow": [{"process": "fleksjob", "month": "2027-01", "inflow": 0, "outflow": 3, "stock": 12}],
        "workload": [{"role": "sagsbehandler", "open": 5, "n": 4, "median_age_days": 3, "oldest_days": 9,
                      "overdue": 0, "case_ids": [1, 2]}]}
    out = analytics.suppress(fig)
    assert out["cases"] == "<5"
    # the funnel counts interventions but hides what is about 1-4 cases: 7 of 2 cases
    funnel = {"n": 7, "cases": 2, "stages": [
        {"stage": "anbefalet", "count": 7, "cases": 2, "share": 1.0, "case_ids": [1, 2]},
        {"stage": "i_plan", "count": 0, "cases": 0, "share": 0.0, "case_ids": []}]}
    hidden = analytics.suppress({**fig, "funnel": funnel})["funnel"]
    assert hidden == {"n": "<5", "cases": "<5", "stages": [
        {"stage": "anbefalet", "count": "<5", "cases": "<5", "share": "<5"},
        {"stage": "i_plan", "count": 0, "cases": 0, "share": "<5"}]}
    assert out["compliance"] == [{"rule": "r", "statutory": True, "met": 5, "breached": "<5", "overdue": 0,
                                  "open": 0, "n": 6, "share_met": 0.8333, "share_breached": "<5"}]
    assert out["stock_flow"] == [{"process": "fleksjob", "month": "2027-01", "inflow": 0, "outflow": "<5",
                                  "stock": 12}]
    # five tasks but of four cases: the ages describe four citizens
    assert out["workload"] == [{"role": "sagsbehandler", "open": 5, "n": "<5", "median_age_days": "<5",
                                "oldest_days": "<5", "overdue": 0}]


def test_drilldown_lists_own_cases_only(history):
    rt, ids = history
    with rt.sessions() as session:
        own = session.scalar(select(Municipality.id).where(Municipality.key == "maaleby"))
        other = session.scalar(select(Municipality.id).where(Municipality.key == "naboby"))
        # "other" outcome: M4 and M10 in Maaleby, N1 and N2 in Naboby; a Maaleby manager sees his own
        assert analytics.drilldown(session, own, "outcome", "andet", PERIOD, NOW) == ids_of(ids, "M4", "M10")
        assert analytics.drilldown(session, own, "outcome", "afventer", PERIOD, NOW) == ids_of(ids, "M11")
        assert analytics.drilldown(session, own, "funnel", "i_plan", PERIOD, NOW) == ids_of(ids, "M1")
        assert analytics.drilldown(session, other, "outcome", "andet", PERIOD, NOW) == ids_of(ids, "N1", "N2")
        assert analytics.drilldown(session, own, "lead_time", "visitation_foerste_samtale_fj", PERIOD, NOW) == ids_of(
            ids, "M2", "M7", "M8", "M9")
        assert analytics.drilldown(session, own, "workload", "virksomhedskonsulent", PERIOD, NOW) == ids_of(
            ids, "M8", "M9")
        # a list of case ids from elsewhere yields nothing
        assert analytics.own_cases(session, own, ids_of(ids, "N1", "N2")) == []
        assert [c.id for c in analytics.own_cases(session, own, ids_of(ids, "M4", "N1"))] == ids_of(ids, "M4")
        with pytest.raises(KeyError):
            analytics.drilldown(session, own, "nonsense", "x", PERIOD, NOW)


def test_measures_come_from_milestone_rows_alone(history):
    """A simulation that writes the same milestone rows gets the same measures: build the
    facts from plain (case, municipality, key, date) tuples, without the database loader."""
    rt, _ = history
    with rt.sessions() as session:
        loaded = analytics.load_facts(session).of("maaleby").cases
        rows = [(m.case_id, "maaleby", m.key, m.date, m.item) for m in session.scalars(
            select(Milestone).join(Municipality, Municipality.id == Milestone.municipality_id)
            .where(Municipality.key == "maaleby").order_by(Milestone.id.desc()))]
    kinds = {f.case_id: (f.case_type, f.model_version, f.policy_version) for f in loaded}
    from_rows = analytics.facts_from_rows(rows, kinds)
    today = date(2027, 7, 1)
    for measure in analytics.LEAD_TIMES:
        assert analytics.lead_time(measure, from_rows, PERIOD, today) == analytics.lead_time(
            measure, [f for f in loaded if f.dates], PERIOD, today)
    assert analytics.outcomes(from_rows, PERIOD)["n"] == 6
    assert analytics.funnel(from_rows, PERIOD) == analytics.funnel(loaded, PERIOD)
    assert analytics.funnel(from_rows, PERIOD)["n"] == 5


def test_quantile_interpolates_and_flags_censored_ranks():
    assert analytics.quantile([], 0.5) is None
    assert analytics.quantile([(10, False), (20, False)], 0.5) == q(15)
    # an open case at 12 days lies below the upper rank used: the median is only a bound
    assert analytics.quantile([(10, False), (12, True), (20, False)], 0.5) == q(12, True)
    # an open case above the ranks used does not matter
    assert analytics.quantile([(10, False), (12, False), (30, True)], 0.5) == q(12)
    # ties: a closed value ranks before an open one of the same length
    assert analytics.quantile([(12, True), (12, False), (5, False)], 0.5) == q(12)


def test_national_figure_merged_from_municipalities_equals_the_pooled_cases(history):
    rt, _ = history
    with rt.sessions() as session:
        facts = analytics.load_facts(session)
    pooled = analytics.municipality_figures(facts, PERIOD, NOW)
    merged = analytics.merge([analytics.municipality_figures(facts.of(k), PERIOD, NOW) for k in ("maaleby", "naboby")])
    assert analytics.without_case_ids(merged) == analytics.without_case_ids(pooled)
    assert merged["lead_times"][0]["median"] == q(35)


def test_snapshot_refreshed_by_the_worker_serves_the_same_comparison(history):
    from datetime import datetime, timedelta, timezone
    from worker.service import Worker
    rt, _ = history
    standard = analytics.make_filters(date(2027, 7, 1))
    assert (standard.start, standard.end) == (date(2026, 8, 1), date(2027, 7, 1))
    with rt.sessions() as session:
        live = analytics.compare(session, "maaleby", ["naboby"], standard, NOW)
        assert analytics.needs_refresh(session, NOW, datetime.now(timezone.utc))
    assert live["source"] == "live"
    worker = Worker(rt)
    # maaleby and naboby (no reference municipalities here): 2 x 6 case-type rows + 6 national rows
    assert worker.refresh_analytics() == 18
    assert worker.refresh_analytics() == 0                      # fresh: nothing to do
    with rt.sessions() as session:
        served = analytics.compare(session, "maaleby", ["naboby"], standard, NOW)
        assert not analytics.needs_refresh(session, NOW, datetime.now(timezone.utc))
        assert analytics.needs_refresh(session, NOW, datetime.now(timezone.utc) + timedelta(minutes=15))
        assert analytics.needs_refresh(session, NOW + timedelta(days=1), datetime.now(timezone.utc))
        # another period of whole months, or a version filter, comes from the cube; a period
        # of parts of months is computed from the rows
        assert analytics.compare(session, "maaleby", [], PERIOD, NOW)["source"] == "cube"
        versioned = analytics.Filters(standard.start, standard.end, "rehabilitering", model_version=1)
        assert analytics.compare(session, "maaleby", [], versioned, NOW)["source"] == "cube"
        assert analytics.compare(session, "maaleby", [], Filters(date(2027, 1, 15), date(2027, 6, 30)),
                                 NOW)["source"] == "live"
        typed = analytics.Filters(standard.start, standard.end, "fleksjob")
        assert analytics.compare(session, "maaleby", ["naboby"], typed, NOW)["source"] == "snapshot"
        typed_live = analytics.compare(session, "maaleby", ["naboby"], typed, NOW)
    assert served["source"] == "snapshot" and served["computed_at"] == NOW.isoformat()
    assert served["columns"] == live["columns"]
    assert analytics.comparison_rows(served) == analytics.comparison_rows(live)
    assert typed_live["columns"][0]["figures"]["cases"] == 3


def test_cube_serves_filtered_views_with_the_live_figures(history):
    """Other periods (whole months, or ending today), case types and model/policy versions
    come from the worker's cube with exactly the figures computed from the rows: own,
    other (suppressed) and national columns alike."""
    from datetime import datetime, timezone
    rt, _ = history
    with rt.sessions() as session:
        policy = session.scalar(select(PolicyVersion.id).join(Municipality, Municipality.id == PolicyVersion.municipality_id)
                                .where(Municipality.key == "maaleby", PolicyVersion.case_type == "rehabilitering"))
    views = [PERIOD, Filters(date(2027, 3, 1), date(2027, 3, 31)), Filters(date(2027, 2, 1), date(2027, 7, 1)),
             Filters(date(2026, 8, 1), date(2027, 7, 31)), Filters(PERIOD.start, PERIOD.end, "fleksjob"),
             Filters(PERIOD.start, PERIOD.end, "rehabilitering", model_version=1),
             Filters(date(2027, 4, 1), date(2027, 7, 1), policy_version=policy),
             Filters(PERIOD.start, PERIOD.end, "rehabilitering", model_version=2)]
    with rt.sessions() as session:
        live = [analytics.compare(session, "maaleby", ["naboby"], f, NOW) for f in views]
    assert {r["source"] for r in live} == {"live"}
    with rt.sessions.begin() as session:
        analytics.refresh(session, NOW, datetime.now(timezone.utc))
    with rt.sessions() as session:
        for f, expected in zip(views, live):
            served = analytics.compare(session, "maaleby", ["naboby"], f, NOW)
            assert served["source"] == "cube", f
            assert served["columns"] == expected["columns"], f
            assert analytics.comparison_rows(served) == analytics.comparison_rows(expected)
    # the check is not empty: the March view has Maaleby's fleksjob deadline and its cases
    march = live[1]["columns"][0]["figures"]
    assert [(r["rule"], r["n"]) for r in march["compliance"]] == [("fj_foerste_samtale", 1), ("rehab_afgoerelse_frist", 1)]
    assert live[0]["columns"][0]["figures"]["funnel"]["cases"] == 2


def test_overview_from_the_cube_equals_the_live_overview(history):
    """Overblik (tiles, their monthly trend, the own tables, the chart data) served from
    the worker's cube is the page computed from the rows, for the standard 12 months, a
    period of whole months, a case type and a model version; it says which it is."""
    import re
    from datetime import datetime, timezone
    from test_analytics_interfaces import browser
    rt, _ = history
    views = ["", "from=2027-01-01&to=2027-06-30", "from=2027-02-01&to=2027-07-01&case_type=rehabilitering",
             "case_type=rehabilitering&model_version=1", "from=2027-03-01&to=2027-03-31&case_type=fleksjob"]
    fresh = re.compile(r'<p class="muted" id="friskhed">(.*?)</p>', re.S)
    token = re.compile(r'name="csrf_token" value="[^"]*"')   # a new session's token per browser

    def same(html):
        return token.sub("", fresh.sub("", html))

    def pages():
        manager = browser(rt, "maaleby.leder")
        out = []
        for query in views:
            response = manager.get(f"/analytik/?{query}")
            assert response.status_code == 200, query
            out.append(response.get_data(as_text=True))
        return out

    live = pages()
    assert all("Beregnet nu" in fresh.search(html).group(1) for html in live)
    with rt.sessions.begin() as session:
        analytics.refresh(session, NOW, datetime.now(timezone.utc))
    served = pages()
    assert all("af baggrundsjobbet" in fresh.search(html).group(1) for html in served)
    for query, before, after in zip(views, live, served):
        assert same(after) == same(before), query
    # the comparison is not empty: Maaleby's tiles and trend have figures in the period view
    assert ">38,5<" in served[1]
    # a period of parts of months is still computed from the rows
    part = browser(rt, "maaleby.leder").get("/analytik/?from=2027-01-15&to=2027-06-30").get_data(as_text=True)
    assert "Beregnet nu" in fresh.search(part).group(1)
