"""A caseworker's day in a real Chromium (Debian's, driven by Playwright): sign in,
claim a task, submit its form with a mistake, correct it, complete it, and see the next
task land in the right role's inbox."""
from __future__ import annotations


from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401 (fixtures)

pytestmark = needs_chromium


def test_caseworker_claims_corrects_and_completes_and_the_next_task_moves_on(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")
    sign_in(page, server, "aaby.sagsbehandler")

    row = page.locator("table.tasks tbody tr", has_text="Anna Andersen")
    expect(row).to_contain_text("Vurdér målgruppe og rute")
    screenshot(page, "inbox-caseworker")
    assert axe_violations(page) == []
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
    screenshot(page, "task-form-with-errors")
    assert axe_violations(page) == []
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
