"""A caseworker's task done with the keyboard only, in a real Chromium (Debian's, driven by
Playwright): sign in, claim a task in the inbox, open it, fill its form, submit it and go on
to the case and its diagram, using Tab, Enter, Space and the arrow keys (no clicks), every
control reached showing its focus, with no serious or critical axe-core violations on any
page visited."""
from __future__ import annotations

import re

from sqlalchemy import select

from processes.models import HumanTask, User
from browser import axe_violations, needs_chromium, page, screenshot, server  # noqa: F401 (fixtures)

pytestmark = needs_chromium

MAX_TABS = 80


def focused(locator) -> bool:
    return locator.evaluate("e => e === document.activeElement")


def visible_focus(locator) -> bool:
    """WCAG 2.4.7: the focused control shows it (an outline or a box shadow)."""
    return locator.evaluate("e => { const s = getComputedStyle(e);"
                            " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)"
                            " || s.boxShadow !== 'none'; }")


def tab_to(page, locator) -> None:
    """Press Tab until ``locator`` has the focus; fails if it is not reachable by Tab."""
    locator.wait_for()
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if focused(locator):
            assert visible_focus(locator), f"{locator} has the focus but shows no outline or shadow"
            return
    raise AssertionError(f"{locator} not reached with {MAX_TABS} presses of Tab")


def choose(page, select, value: str) -> None:
    """Tab to a closed <select> and move its choice with the arrow keys until it is ``value``."""
    tab_to(page, select)
    for _ in range(20):
        if select.input_value() == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value!r} not reached with the arrow keys in {select}")


def test_caseworker_does_a_task_with_the_keyboard_only(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")

    page.goto(f"{server}/login")
    screenshot(page, "keyboard-login")
    assert axe_violations(page) == []
    tab_to(page, page.get_by_label("Brugernavn"))
    page.keyboard.type("aaby.sagsbehandler")
    tab_to(page, page.get_by_label("Adgangskode"))
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Min indbakke").wait_for()

    row = page.locator("table.tasks tbody tr", has_text="Anna Andersen")
    expect(row).to_contain_text("Vurdér målgruppe og rute")
    screenshot(page, "keyboard-inbox")
    assert axe_violations(page) == []
    tab_to(page, row.get_by_role("button", name="Tag opgaven Vurdér målgruppe og rute for Anna Andersen"))
    page.keyboard.press("Space")
    expect(page.locator(".flash-success")).to_contain_text("Du har taget opgaven")
    expect(row.locator("td").nth(4)).to_have_text("dig")
    screenshot(page, "keyboard-inbox-claimed")
    assert axe_violations(page) == []

    tab_to(page, row.get_by_role("link", name="Vurdér målgruppe og rute"))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Vurdér målgruppe og rute").wait_for()
    screenshot(page, "keyboard-task")
    assert axe_violations(page) == []
    choose(page, page.get_by_label("Nuværende ydelse"), "kontanthjaelp")
    choose(page, page.get_by_label("Borgeren har søgt om"), "fleksjob")
    choose(page, page.get_by_label("Rute"), "team")
    tab_to(page, page.get_by_role("button", name="Afslut opgaven"))
    page.keyboard.press("Enter")

    expect(page.locator(".flash-success")).to_contain_text("Opgaven »Vurdér målgruppe og rute« er afsluttet.")
    expect(page.locator(".flash-info")).to_contain_text(
        "Næste opgave: »Planlæg forberedelsen med borgeren« er lagt i din indbakke.")
    screenshot(page, "keyboard-task-done")
    assert axe_violations(page) == []

    # on to the case page, where the diagram is reached with Tab as well
    tab_to(page, page.locator("table.tasks tbody tr").get_by_role("link", name="Anna Andersen"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/sager/*")
    diagram = page.locator(".diagram[data-xml]").first
    expect(diagram).to_have_attribute("data-scale", re.compile(r"^[0-9.]+$"))
    tab_to(page, diagram)
    screenshot(page, "keyboard-case")
    assert axe_violations(page) == []
    with sqlite_runtime.sessions() as session:
        state, by = session.execute(select(HumanTask.state, User.username)
                                    .join(User, User.id == HumanTask.completed_by_id, isouter=True)
                                    .where(HumanTask.bpmn_id == "vurder_rute")).one()
    assert (state, by) == ("completed", "aaby.sagsbehandler")
