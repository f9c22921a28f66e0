"""The Simulér page in a real Chromium (issue 11): a leder fills in the form (a wrong value
first: the Danish error), the run waits in the queue while no worker runs, a worker
starts, the page follows its progress by polling and then shows the results side by side
with the Sammenlign table and chart and simulated against actual. Screenshots are kept
as artifacts; axe-core finds no serious or critical accessibility violation."""
from __future__ import annotations

import re


from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401 (fixtures)
from worker.service import start_background

pytestmark = needs_chromium


def test_simulate_from_the_form_to_the_results(sqlite_runtime, server, page):
    from playwright.sync_api import expect
    rt = sqlite_runtime
    sign_in(page, server, "aaby.leder")
    page.get_by_role("link", name="Simulér").click()
    page.get_by_role("heading", name="Simulér: Aaby Kommune").wait_for()
    expect(page.get_by_label("Aaby Kommune (egen kommune, som I arbejder nu)")).to_be_checked()
    screenshot(page, "simulering-formular")
    assert axe_violations(page) == []

    # a wrong value: the error summary names it in Danish and links to the field
    page.get_by_label("Gentagelser").fill("50")
    page.get_by_role("button", name="Start simulering").click()
    summary = page.locator("#fejlopsummering")
    expect(summary).to_contain_text("Antal gentagelser skal være et helt tal fra 1 til 10.")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Gentagelser")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "simulering-fejl")
    assert axe_violations(page) == []

    # a small scenario: Aaby as it works now and Bøgeby's way, a handful of cases
    page.get_by_label("Navn på kørslen").fill("Aaby mod Bøgeby")
    page.get_by_label("Bøgeby Kommune (deres modeller og politik med jeres sagsmængde)").check()
    page.get_by_label("Nye sager pr. uge", exact=True).fill("2")
    page.get_by_label("Højst antal sager").fill("5")
    page.get_by_label("Periode (år)").fill("0,25")
    page.get_by_label("Indkøringsperiode (uger)").fill("0")
    page.get_by_label("Gentagelser").fill("2")
    page.get_by_label("Sagsbehandler (myndighed)").fill("2")
    page.get_by_role("button", name="Start simulering").click()

    # no worker yet: queued, and the page says why it waits
    page.get_by_role("heading", name="Simulering #1: Aaby mod Bøgeby").wait_for()
    expect(page.locator("#status-tekst")).to_have_text("I kø")
    expect(page.locator("progress#fremskridt")).to_be_visible()
    expect(page.locator("#ingen-baggrundsproces")).to_be_visible()
    screenshot(page, "simulering-i-koe")
    assert axe_violations(page) == []

    # a worker starts: the page follows the run and shows the result when it is done
    worker = start_background(rt.url, interval=0.5)
    try:
        expect(page.locator("#status-tekst")).to_have_text("Færdig", timeout=90000)
    finally:
        worker.stop()
    table = page.locator("#tabel-simulering")
    expect(table.locator("thead th")).to_have_text(["Mål", "Simuleret: Aaby Kommune", "Simuleret: Bøgeby Kommune",
                                                    "Faktisk: Aaby Kommune"])
    row = table.locator("tbody tr", has_text="Fra underskrevet forberedende del til rehabiliteringsmøde")
    expect(row.locator("td").first).to_have_text(re.compile(r"^(≥ ?)?\d+(,\d)?$"))  # a simulated median in days
    expect(page.locator("#chart-simulering[data-drawn]")).to_have_count(1)
    expect(page.locator("#tabel-usikkerhed")).to_be_visible()
    expect(page.locator("#tabel-simuleret-faktisk tbody tr")).to_have_count(8)
    screenshot(page, "simulering-resultat")
    assert axe_violations(page) == []

    # the run is kept and reopened from the list
    page.get_by_role("link", name="Tilbage til Simulér").click()
    page.get_by_role("link", name="#1 Aaby mod Bøgeby").click()
    expect(page.locator("#tabel-simulering")).to_be_visible()
