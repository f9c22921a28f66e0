"""A caseworker's day in a real Chromium (Debian's, driven by Playwright): sign in,
claim a task, submit its form with a mistake, correct it, complete it, and see the next
task land in the right role's inbox."""
from __future__ import annotations

import os
import threading

import pytest

CHROMIUM = os.environ.get("SAGSFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no Chromium at {CHROMIUM} (scripts/setup --browser installs it)")


@pytest.fixture
def server(sqlite_runtime):
    from waitress import create_server
    from inbox import create_app
    app = create_app(sqlite_runtime)
    httpd = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.effective_port}"
    httpd.close()
    thread.join(timeout=5)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="da-DK")
        context.set_default_timeout(15000)
        yield context.new_page()
        browser.close()


def sign_in(page, base, username):
    page.goto(f"{base}/login")
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill("demo")
    page.get_by_role("button", name="Log ind").click()
    page.get_by_role("heading", name="Min indbakke").wait_for()


def test_caseworker_claims_corrects_and_completes_and_the_next_task_moves_on(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")
    sign_in(page, server, "aaby.sagsbehandler")

    row = page.locator("table.tasks tbody tr", has_text="Anna Andersen")
    expect(row).to_contain_text("Vurdér målgruppe og rute")
    expect(row).to_contain_text("010190-XXXX")
    row.get_by_role("button", name="Tag opgaven Vurdér målgruppe og rute for Anna Andersen").click()
    expect(page.locator(".flash-success")).to_contain_text("Du har taget opgaven")
    expect(row.locator("td").nth(4)).to_have_text("dig")

    row.get_by_role("link", name="Vurdér målgruppe og rute").click()
    page.get_by_role("heading", name="Vurdér målgruppe og rute").wait_for()
    page.get_by_label("Rute").select_option("team")
    page.get_by_role("button", name="Afslut opgaven").click()

    summary = page.locator("#fejlopsummering")
    expect(summary).to_contain_text("Nuværende ydelse: Feltet skal udfyldes.")
    expect(summary).to_contain_text("Borgeren har søgt om: Feltet skal udfyldes.")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Rute")).to_have_value("team")  # what was entered is kept
    summary.get_by_role("link", name="Nuværende ydelse: Feltet skal udfyldes.").click()
    expect(page.locator("#felt-oprindelig_ydelse")).to_be_focused()
    page.keyboard.press("ArrowDown")  # keyboard only: choose the first benefit
    page.get_by_label("Borgeren har søgt om").select_option("fleksjob")
    page.get_by_role("button", name="Afslut opgaven").click()

    expect(page.locator(".flash-success")).to_contain_text("Opgaven »Vurdér målgruppe og rute« er afsluttet.")
    expect(page.locator(".flash-info")).to_contain_text(
        "Næste opgave: »Planlæg forberedelsen med borgeren« er lagt i din indbakke.")

    page.get_by_role("link", name="Planlæg forberedelsen med borgeren").click()
    page.locator("#felt-sundhedskoordinator_raadgivning").check()
    page.get_by_label("Samtykke til at indhente oplysninger og dele dem med rehabiliteringsteamet").select_option("givet")
    page.get_by_role("button", name="Afslut opgaven").click()
    expect(page.locator(".flash-info", has_text="Giv sundhedsfaglig rådgivning")).to_contain_text(
        "er lagt i indbakken for Sundhedskoordinator")

    page.get_by_role("button", name="Log ud").click()
    sign_in(page, server, "aaby.sundhedskoordinator")
    expect(page.locator("table.tasks tbody tr", has_text="Anna Andersen")).to_contain_text(
        "Giv sundhedsfaglig rådgivning i forberedelsen")
