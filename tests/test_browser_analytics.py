"""The manager's pages in a real Chromium (issue 10): Overblik with its tiles and charts,
Sammenlign with others and the national median (suppressed "<5"), drill-down to the own
cases, and the heatmap drawn on the own BPMN model. Screenshots are kept as artifacts;
axe-core finds no serious or critical accessibility violation."""
from __future__ import annotations

import pytest

from analytics_history import build_history, move_clock
from browser import axe_violations, needs_chromium, page, screenshot, serve, sign_in  # noqa: F401 (page: fixture)
from conftest import make_runtime
from walk import Walk

pytestmark = needs_chromium
QUERY = "from=2027-01-01&to=2027-06-30"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from inbox import create_app
    folder = tmp_path_factory.mktemp("browser-analytics")
    rt = make_runtime(f"sqlite:///{folder / 'sagsflow.sqlite3'}")
    build_history(rt, folder)
    # Aaby (a reference municipality, its model has a diagram): three rehabilitering cases,
    # two past the first task, one past the second, so the heatmap has something to show.
    walks = [Walk(rt, "aaby", "rehabilitering", cpr=f"0202{80 + i}-20{i}0", name=f"Aaby Borger {i}") for i in range(3)]
    move_clock(rt, "2027-07-05")
    for walk in walks[:2]:
        walk.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    move_clock(rt, "2027-07-12")
    walks[0].complete("planlaeg_forberedelse", laegeattest_noedvendig=True, samtykke_deling="givet")
    base, stop = serve(create_app(rt))
    yield base, walks[0].case_id
    stop()
    rt.close()


def test_overview_and_compare_with_charts_tables_and_drilldown(server, page):
    from playwright.sync_api import expect
    server, _ = server
    sign_in(page, server, "maaleby.leder")
    page.get_by_role("link", name="Overblik").click()
    page.get_by_role("heading", name="Overblik: Målby Kommune").wait_for()
    page.goto(f"{server}/analytik/?{QUERY}")
    expect(page.locator("canvas[data-drawn]")).to_have_count(5)      # a trend chart per tile
    lead = page.locator("#tabel-forloebstider tbody tr", has_text="Fra underskrevet forberedende del")
    expect(lead).to_contain_text("38,5")
    # today is 2027-07-12 here (the Aaby cases moved the clock): M6 waits >= 133 days, p90 >= 98
    expect(lead).to_contain_text("≥ 98")
    screenshot(page, "analytics-overblik")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Sammenlign").first.click()
    boxes = page.locator(".compare-choice input[type=checkbox]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.get_by_label("Naboby Kommune").check()
    # Danish date fields (dd.mm.åååå), never the browser's mm/dd/yyyy
    page.get_by_label("Fra", exact=True).fill("01.01.2027")
    page.get_by_label("Til", exact=True).fill("30.06.2027")
    page.get_by_role("button", name="Vis").click()
    expect(page.get_by_label("Fra", exact=True)).to_have_value("01.01.2027")
    expect(page.get_by_label("Til", exact=True)).to_have_attribute("placeholder", "dd.mm.åååå")
    table = page.locator("#tabel-sammenligning")
    expect(table.locator("thead")).to_contain_text("Naboby Kommune")
    expect(table.locator("thead")).to_contain_text("Landsplan")
    row = table.locator("tbody tr", has_text="Fra underskrevet forberedende del")
    expect(row.locator("td")).to_have_text(["38,5", "30", "35"])
    expect(table.locator("tbody tr", has_text="Udfald: Ressourceforløb").locator("td").nth(1)).to_have_text("<5")
    expect(page.locator("#chart-sammenligning[data-drawn]")).to_have_count(1)
    screenshot(page, "analytics-sammenlign")
    assert axe_violations(page) == []

    # drill-down from the own figure: the own cases behind "other outcome" (M4 decided
    # otherwise, M10 refused førtidspension)
    table.locator("tbody tr", has_text="Udfald: Andet").get_by_role("link").click()
    cases = page.locator("#tabel-sager tbody tr")
    expect(cases).to_have_count(2)
    expect(cases.filter(has_text="Testborger M4")).to_have_count(1)
    expect(cases.filter(has_text="Testborger M10")).to_have_count(1)
    screenshot(page, "analytics-sager")
    assert axe_violations(page) == []


def test_heatmap_on_the_own_model(server, page):
    from playwright.sync_api import expect
    server, _ = server
    sign_in(page, server, "aaby.leder")
    page.get_by_role("link", name="Varmekort").click()
    diagram = page.locator("#heatmap[data-ready]")
    diagram.wait_for()
    marked = diagram.get_attribute("data-marked").split()
    rows = page.locator("#tabel-varmekort tbody tr")
    # every task of the table is marked on the diagram (the preparation opened parallel tasks)
    assert {"vurder_rute", "planlaeg_forberedelse"} <= set(marked) and len(marked) == rows.count()
    # "Vurdér målgruppe og rute": three opened 07-01, two closed 07-05 (4 days), one still
    # open (11 days): median 4. "Planlæg forberedelsen": two opened 07-05, one closed 07-12
    # (7 days), one open for 7 days so far: the median is at least 7.
    def badge(bpmn_id):
        return page.locator(f'.djs-overlays[data-container-id="{bpmn_id}"] .heat-badge')
    expect(badge("vurder_rute")).to_have_text("4 d · 3")
    expect(badge("planlaeg_forberedelse")).to_have_text("≥7 d · 2")
    expect(rows.filter(has_text="Vurdér målgruppe og rute").locator("td")).to_have_text(["3", "4", "0"])
    # the model is named as a manager knows it (Aaby's own model), not by a file path
    caption = page.get_by_text("Model: kommunens egen, version 1, registreret")
    expect(caption).to_be_visible()
    assert ".bpmn" not in caption.inner_text()
    screenshot(page, "analytics-varmekort")
    assert axe_violations(page) == []

