"""Issue 10: the manager measures through their interfaces: ``sagsflow kpi``, the API
``GET /api/v1/analytics/kpis`` and the manager pages (Overblik, Sammenlign, the heatmap,
drill-down, CSV). The figures are those of ``tests/test_analytics.py`` (same history);
here: that every interface shows the module's figures, suppressed the same way, to
managers only, and never another municipality's cases."""
from __future__ import annotations

import json
import re
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from analytics_history import NOW, build_history
from conftest import make_runtime
from inbox import create_app
from inbox.tokens import issue_token
from processes import analytics
from processes.models import User
from sagsflow.cli import main

PERIOD = ["--from", "2027-01-01", "--to", "2027-06-30"]
QUERY = "from=2027-01-01&to=2027-06-30"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analytics")
    rt = make_runtime(f"sqlite:///{folder / 'sagsflow.sqlite3'}", reference=False)
    ids = build_history(rt, folder)
    yield rt, ids
    rt.close()


def expected(rt, others=("naboby",)):
    with rt.sessions() as session:
        return analytics.compare(session, "maaleby", list(others),
                                 analytics.Filters(date(2027, 1, 1), date(2027, 6, 30)), NOW)


def cli(rt, *args):
    return CliRunner().invoke(main, ["--database-url", rt.url, *args])


# ------------------------------------------------------------------ CLI
def test_kpi_json_is_the_modules_comparison(history):
    rt, _ = history
    result = cli(rt, "kpi", "maaleby", "--compare", "naboby", *PERIOD, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(expected(rt), ensure_ascii=False))


def test_kpi_table_has_a_row_per_measure_and_a_column_per_municipality(history):
    rt, _ = history
    result = cli(rt, "kpi", "maaleby", "--compare", "naboby", *PERIOD)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "computed 2027-07-01T07:00:00+00:00 (live)"
    assert lines[1] == "period 2027-01-01 .. 2027-06-30"
    assert lines[2].split() == ["maaleby", "naboby", "national"]
    row = next(line for line in lines if line.startswith("Fra underskrevet forberedende del"))
    assert row.split()[-3:] == ["38,5", "30", "35"]
    outcome = next(line for line in lines if line.startswith("Udfald: Ressourceforløb"))
    assert outcome.split()[-4:] == ["33", "%", "<5", "<5"]


def test_kpi_filters_and_errors(history):
    rt, _ = history
    fleks = json.loads(cli(rt, "kpi", "maaleby", *PERIOD, "--case-type", "fleksjob", "--json").output)
    assert [c["key"] for c in fleks["columns"]] == ["maaleby", "national"]
    assert fleks["columns"][0]["figures"]["cases"] == 3
    unknown = cli(rt, "kpi", "nowhere")
    assert (unknown.exit_code, unknown.stderr.strip()) == (3, "error: unknown municipality: nowhere")
    bad = cli(rt, "kpi", "maaleby", "--from", "2027-13-01", "--case-type", "hund")
    assert bad.exit_code == 6
    assert "from: not a date (YYYY-MM-DD): '2027-13-01'" in bad.stderr and "case_type: unknown case type 'hund'" in bad.stderr


# ------------------------------------------------------------------ API
def api_get(rt, app, username, path):
    with rt.sessions.begin() as session:
        token = issue_token(session, session.scalar(select(User).where(User.username == username)))
    return app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})


def test_api_kpis_for_a_manager(history):
    rt, _ = history
    app = create_app(rt, TESTING=True)
    response = api_get(rt, app, "maaleby.leder", f"/api/v1/analytics/kpis?compare=naboby&{QUERY}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    want = json.loads(json.dumps(expected(rt)))
    assert body["columns"] == want["columns"] and body["filters"] == want["filters"]
    rows = {r["key"]: r["values"] for r in body["rows"]}
    assert rows["underskrift_moede"] == ["38,5", "30", "35"]
    assert body["columns"][1]["figures"]["outcomes"]["n"] == "<5"
    assert "case_ids" not in response.get_data(as_text=True)
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/api/v1/analytics/kpis" in spec["paths"]
    assert {p["name"] for p in spec["paths"]["/api/v1/analytics/kpis"]["get"]["parameters"]} >= {
        "compare", "from", "to", "case_type", "model_version", "policy_version"}


def test_api_kpis_needs_the_manager_role_a_token_and_valid_filters(history):
    rt, _ = history
    app = create_app(rt, TESTING=True)
    assert api_get(rt, app, "maaleby.sagsbehandler", "/api/v1/analytics/kpis").status_code == 403
    assert app.test_client().get("/api/v1/analytics/kpis").status_code == 401
    bad = api_get(rt, app, "maaleby.leder", "/api/v1/analytics/kpis?case_type=hund")
    assert bad.status_code == 422 and "case_type" in bad.get_json()["errors"]
    assert api_get(rt, app, "maaleby.leder", "/api/v1/analytics/kpis?compare=nowhere").status_code == 404
    # a Naboby manager's own column is Naboby, unsuppressed; Maaleby appears aggregated
    body = api_get(rt, app, "naboby.leder", f"/api/v1/analytics/kpis?compare=maaleby&{QUERY}").get_json()
    assert [(c["key"], c["own"]) for c in body["columns"]] == [("naboby", True), ("maaleby", False),
                                                               ("national", False)]
    assert body["columns"][0]["figures"]["outcomes"]["n"] == 2
    assert body["columns"][1]["figures"]["funnel"]["stages"][0]["count"] == "<5"


# ------------------------------------------------------------------ pages
def browser(rt, username):
    from test_inbox import Browser
    return Browser(create_app(rt, TESTING=True), username)


PAGES = ["/analytik/", "/analytik/sammenlign", "/analytik/diagram", "/analytik/sager?kind=outcome&key=andet",
         "/analytik/eksport.csv?side=overblik&tabel=forloebstider", "/analytik/diagram.bpmn"]


def test_pages_are_for_managers_and_a_manager_gets_no_task_form(history):
    rt, ids = history
    caseworker = browser(rt, "maaleby.sagsbehandler")
    assert [caseworker.get(p).status_code for p in PAGES] == [403] * len(PAGES)
    manager = browser(rt, "maaleby.leder")
    assert [manager.get(p).status_code for p in PAGES] == [200] * len(PAGES)
    # a manager sees figures, never task forms: M5's open task answers 403
    task = next(t for t in rt.engine.open_tasks(case_id=ids["M5"]))
    assert manager.get(f"/opgaver/{task.id}").status_code == 403
    assert caseworker.get(f"/opgaver/{task.id}").status_code == 200
    menu = manager.get("/").get_data(as_text=True)
    assert all(f'href="{p}"' in menu for p in ("/analytik/", "/analytik/sammenlign", "/analytik/diagram"))
    assert 'href="/analytik/"' not in caseworker.get("/").get_data(as_text=True)


def test_compare_page_and_its_csv_show_the_modules_rows(history):
    rt, _ = history
    manager = browser(rt, "maaleby.leder")
    page = manager.get(f"/analytik/sammenlign?compare=naboby&{QUERY}").get_data(as_text=True)
    for row in analytics.comparison_rows(expected(rt)):
        assert all(f">{v}<" in page for v in row["values"] if v not in (None, "<5")), row
    assert "&lt;5" in page and "Testborger" not in page
    csv_text = manager.get(f"/analytik/eksport.csv?side=sammenlign&tabel=sammenligning&compare=naboby&{QUERY}")
    lines = csv_text.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "Mål;Målby Kommune;Naboby Kommune;Landsplan (median over alle sager)"
    assert lines[1] == "Fra underskrevet forberedende del til rehabiliteringsmøde (median, dage);38,5;30;35"
    assert lines[-1] == "Udfald: Andet (anden indsats, afslag, også afslag på førtidspension);33 %;<5;<5"
    assert manager.get(f"/analytik/eksport.csv?side=sammenlign&tabel=nope&{QUERY}").status_code == 404



def test_the_overview_and_compare_name_deadline_rules_in_english(history):
    """On an English page a deadline rule reads by its English label (they showed the
    catalogue's Danish label), still with its key."""
    from markupsafe import escape
    from processes.policy import label_in
    rt, _ = history
    manager = browser(rt, "maaleby.leder")
    manager.post("/sprog", {"lang": "en", "next": "/"})
    rules = {r["rule"] for c in expected(rt)["columns"] for r in c["figures"]["compliance"]}
    assert rules
    for path in ("/analytik/?", "/analytik/sammenlign?compare=naboby&"):
        page = manager.get(f"{path}{QUERY}").get_data(as_text=True)
        for rule in rules:
            assert str(escape(f"{label_in(rule, 'en')} ({rule})")) in page, (path, rule)
            assert str(escape(label_in(rule, "da"))) not in page, (path, rule)


def test_every_table_of_every_page_downloads_as_csv(history):
    rt, _ = history
    manager = browser(rt, "maaleby.leder")
    for side, path in (("overblik", "/analytik/"), ("sammenlign", "/analytik/sammenlign"),
                       ("diagram", "/analytik/diagram?case_type=fleksjob"),
                       ("sager", "/analytik/sager?kind=lead_time&key=underskrift_moede")):
        sep = "&" if "?" in path else "?"
        html = manager.get(f"{path}{sep}{QUERY}").get_data(as_text=True)
        links = [link.replace("&amp;", "&") for link in
                 re.findall(r'href="(/analytik/eksport\.csv\?[^"]+)"', html)]
        assert links, side
        for link in links:
            response = manager.get(link)
            assert response.status_code == 200 and response.mimetype == "text/csv", link
            assert len(response.get_data(as_text=True).splitlines()) >= 2, link


def test_drilldown_page_lists_own_cases_masked_and_is_audited(history):
    rt, ids = history
    from processes.models import AuditEvent
    page = browser(rt, "naboby.leder").get(f"/analytik/sager?kind=outcome&key=andet&{QUERY}").get_data(as_text=True)
    # Naboby's "other" outcomes are N1 and N2; Maaleby's M4 never appears
    assert "Testborger N1" in page and "Testborger N2" in page and "Testborger M" not in page
    assert "XXXX" in page
    lead = browser(rt, "maaleby.leder").get(
        f"/analytik/sager?kind=lead_time&key=visitation_foerste_samtale_fj&{QUERY}").get_data(as_text=True)
    assert all(f"Testborger {n}" in lead for n in ("M2", "M7", "M8", "M9")) and "Testborger N" not in lead
    assert ">2027-06-01</td><td>venter</td><td>≥ 30<" in lead          # M8: visitation 06-01, still waiting
    with rt.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "analytics.drilldown")
                                .order_by(AuditEvent.id)).all()
    assert audit[-1].actor == "maaleby.leder" and sorted(audit[-1].detail["cases"]) == sorted(
        ids[n] for n in ("M2", "M7", "M8", "M9"))
    assert browser(rt, "maaleby.leder").get(f"/analytik/sager?kind=nonsense&key=x&{QUERY}").status_code == 302
    nothing = browser(rt, "maaleby.leder").get(f"/analytik/sager?kind=outcome&key=x&{QUERY}")
    assert nothing.status_code == 200 and "Testborger" not in nothing.get_data(as_text=True)


def test_ui_labels_are_the_modules_labels():
    from inbox import analytics as pages
    assert {k: str(v) for k, v in pages.LEAD_LABELS.items()} == {m.key: m.label for m in analytics.LEAD_TIMES}
    assert {k: str(v) for k, v in pages.FUNNEL_LABELS.items()} == {k: label for k, label, _ in analytics.FUNNEL}
    assert {k: str(v) for k, v in pages.OUTCOME_LABELS.items()} == {
        **{k: label for k, label, _ in analytics.OUTCOMES}, analytics.PENDING[0]: analytics.PENDING[1]}


def test_overview_tiles_per_month_equal_the_measures_over_all_cases(history):
    """Overblik computes each month's tiles on that month's subset of the facts; the values
    must be those of the measures over every case."""
    from inbox import analytics as pages
    rt, _ = history
    with rt.sessions() as session:
        facts = analytics.load_facts(session).of("maaleby")
    subsets = pages._tile_subsets(facts)
    empty = analytics.Facts([], [], [], [])
    period = analytics.Filters(date(2027, 1, 1), date(2027, 7, 31))
    for label, month in pages._month_filters(period):
        assert pages._tile_values(analytics.municipality_figures(subsets.get(label, empty), month, NOW)) == \
            pages._tile_values(analytics.municipality_figures(facts, month, NOW)), label
    assert pages._tile_values(analytics.municipality_figures(subsets["2027-03"], pages._month_filters(period)[2][1],
                                                             NOW))["startet"] == 2   # M7 and M10 started in March


def test_drilldown_is_paged_and_its_csv_has_every_case(history, monkeypatch):
    """The drill-down shows a page of cases at a time (bounded whatever the figure); the
    pages together, and the CSV, are the figure's cases; the audit names the cases shown."""
    import inbox.analytics as pages
    from processes.models import AuditEvent
    rt, ids = history
    monkeypatch.setattr(pages, "DRILL_PAGE_SIZE", 3)
    manager = browser(rt, "maaleby.leder")
    drill = f"/analytik/sager?kind=lead_time&key=visitation_foerste_samtale_fj&{QUERY}"
    everyone = {f"Testborger {n}" for n in ("M2", "M7", "M8", "M9")}
    first = manager.get(drill).get_data(as_text=True)
    second = manager.get(f"{drill}&sidetal=2").get_data(as_text=True)
    on_first = {n for n in everyone if f"{n}<" in first}
    on_second = {n for n in everyone if f"{n}<" in second}
    assert len(on_first) == 3 and on_second == everyone - on_first
    assert "Side 1 af 2" in first and "sidetal=2" in first and "Side 2 af 2" in second
    assert "4 sager i alt." in first
    with rt.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "analytics.drilldown")
                                .order_by(AuditEvent.id)).all()
    assert audit[-1].detail["total"] == 4
    assert {f"Testborger {n}" for n in ("M2", "M7", "M8", "M9") if ids[n] in audit[-1].detail["cases"]} == on_second
    csv_text = manager.get(f"/analytik/eksport.csv?side=sager&tabel=sager&kind=lead_time"
                           f"&key=visitation_foerste_samtale_fj&{QUERY}").get_data(as_text=True)
    assert len(csv_text.strip().splitlines()) == 1 + 4


def test_drilldown_page_two_links_to_its_neighbours_in_danish_and_english(history, monkeypatch):
    """The drill-down's pager (``_pager.html``; tests/test_pager.py checks the other pages')."""
    import inbox.analytics as pages
    from test_pager import expect_pager, in_english
    rt, _ = history
    monkeypatch.setattr(pages, "DRILL_PAGE_SIZE", 1)   # the figure's 4 cases, one a page
    manager = browser(rt, "maaleby.leder")
    drill = f"/analytik/sager?kind=lead_time&key=visitation_foerste_samtale_fj&{QUERY}&sidetal=2"
    figure = {"kind": ["lead_time"], "key": ["visitation_foerste_samtale_fj"], "from": ["2027-01-01"],
              "to": ["2027-06-30"]}
    danish = manager.get(drill).get_data(as_text=True)
    expect_pager(danish, "da", "/analytik/sager", figure, "sidetal", "previous page", "next page", pages=4)
    expect_pager(in_english(manager, drill), "en", "/analytik/sager", figure, "sidetal", "previous page",
                 "next page", pages=4)
