"""Issue 14 in a real Chromium: the caseworker's pages with the case at hand (task page),
words instead of codes, the teamleder's escalation, the timeline, finding a case and the
diagram. Each page is kept as a screenshot and checked with axe-core."""
from __future__ import annotations

import pytest

from browser import axe_violations, needs_chromium, screenshot, sign_in
from test_browser_inbox import page, server  # noqa: F401 - the live server and Chromium page fixtures
from test_cases_task_context import to_meeting

pytestmark = needs_chromium


def test_the_meeting_task_shows_the_case_at_hand(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    w = to_meeting(sqlite_runtime, "Bodil Bruun")
    task = w._open("rehabiliteringsmoede")
    sign_in(page, server, "aaby.rehabiliteringsteam")
    page.goto(f"{server}/opgaver/{task.id}")
    context = page.locator("section.case-context")
    expect(context.get_by_role("heading", name="Fra sagen")).to_be_visible()
    expect(context).to_contain_text("8 overskrifter udfyldt")
    expect(context).to_contain_text("Udarbejdet sammen med borgeren på samtaler")
    expect(context).to_contain_text("4. jan. 2027")
    expect(context).to_contain_text("Kan arbejde 12 timer")
    screenshot(page, "task-meeting-with-case-context")
    assert axe_violations(page) == []
    # the earlier step the page links to opens for the team (it was 403 for other roles)
    context.get_by_role("link", name="Udarbejd den forberedende del med borgeren").first.click()
    expect(page.get_by_role("heading", name="Indsendte oplysninger")).to_be_visible()
    expect(page.locator("dl.answers").last).to_contain_text("8 overskrifter udfyldt")


def _date_parts(page, field_id: str) -> list[str]:
    """The names of the spin buttons Chromium draws inside a field (a native date input
    draws Month/Day/Year in the browser's own order; a text input draws none)."""
    cdp = page.context.new_cdp_session(page)
    node = cdp.send("DOM.getDocument")
    found = cdp.send("DOM.querySelector", {"nodeId": node["root"]["nodeId"], "selector": f"#{field_id}"})
    tree = cdp.send("Accessibility.getPartialAXTree", {"nodeId": found["nodeId"], "fetchRelatives": False})
    return [n.get("name", {}).get("value", "") for n in tree["nodes"] if n.get("role", {}).get("value") == "spinbutton"]


def _focus_in_calendar(page) -> None:
    """Wait, as a keyboard user watching the focus would, until the opened calendar has it:
    the calendar (cally) moves the focus to the day in a timer of its own, which a busy
    machine runs late; a key pressed before that goes to the button (and Enter closes it)."""
    page.wait_for_function("() => { const d = document.querySelector('.datefield-popup[role=dialog]:not([hidden])');"
                           " return !!d && d.contains(document.activeElement); }")


def _focus_on_day(page, day: str) -> None:
    """Wait until the calendar's focus is on ``day`` (an arrow key moves it in a timer too)."""
    page.wait_for_function("day => { const m = document.activeElement;"
                           " const b = m && m.shadowRoot && m.shadowRoot.activeElement;"
                           " return !!b && b.textContent.trim() === day; }", arg=day)


def test_date_fields_are_danish_with_a_keyboard_calendar(server, page, sqlite_runtime):
    """Chromium draws a native date input in its own language's order (mm/dd/yyyy here,
    even for a da-DK page); the date field is a Danish text field with a calendar."""
    from playwright.sync_api import expect
    instance = sqlite_runtime.engine.start_case("aaby", "rehabilitering", "020290-2345", "Carl Carlsen")
    task = sqlite_runtime.engine.open_tasks(case_id=instance.case_id)[0]
    sign_in(page, server, "aaby.sagsbehandler")
    page.goto(f"{server}/opgaver/{task.id}")
    field = page.get_by_role("textbox", name="Ansøgningsdato (ansøgning om førtidspension)")
    expect(field).to_have_attribute("type", "text")
    assert _date_parts(page, "felt-ansoegningsdato") == []
    expect(page.locator("#felt-ansoegningsdato-hint")).to_have_text("Dato som dd.mm.åååå, fx 31.01.2027")

    field.fill("04.01.2027")
    opener = page.get_by_role("button", name="Vælg dato: Ansøgningsdato (ansøgning om førtidspension)")
    field.focus()
    page.keyboard.press("Tab")                                   # keyboard only from here
    expect(opener).to_be_focused()
    page.keyboard.press("Enter")
    calendar = page.get_by_role("dialog", name="Kalender: Ansøgningsdato (ansøgning om førtidspension)")
    expect(calendar).to_be_visible()
    _focus_in_calendar(page)
    expect(calendar).to_contain_text("januar 2027")              # Danish month names, opened on the field's date
    screenshot(page, "task-date-field-calendar")
    assert axe_violations(page) == []
    page.keyboard.press("ArrowRight")                            # 4 -> 5 January
    _focus_on_day(page, "5")
    page.keyboard.press("Enter")
    expect(calendar).to_be_hidden()
    expect(field).to_have_value("05.01.2027")
    expect(field).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(calendar).to_be_visible()
    _focus_in_calendar(page)
    page.keyboard.press("Escape")
    expect(calendar).to_be_hidden()
    expect(field).to_be_focused()


def test_the_teamleder_acts_on_the_escalation(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    from test_cases_teamleder import colleague, late_preparation
    colleague(sqlite_runtime)
    w = late_preparation(sqlite_runtime)
    escalated = w._open("eskaler_forberedende_del")
    sign_in(page, server, "aaby.teamleder")
    page.goto(f"{server}/opgaver/{escalated.id}")
    section = page.locator("section.escalation")
    expect(section).to_contain_text("Udarbejd den forberedende del med borgeren")
    expect(section).to_contain_text("3 dage over fristen")
    screenshot(page, "task-escalation")
    assert axe_violations(page) == []
    section.get_by_label("Giv opgaven til").select_option("aaby.kollega")
    section.get_by_role("button", name="Giv opgaven").click()
    expect(page.locator(".flash-success")).to_contain_text("er givet til aaby.kollega")
    expect(page.locator("section.escalation")).to_contain_text("aaby.kollega")


def _in_view(page, diagram_id: str, element_id: str) -> bool:
    """Whether the element's shape lies inside the diagram's box on the screen."""
    return page.evaluate(
        "([d, e]) => { const box = document.getElementById(d).getBoundingClientRect();"
        " const el = document.querySelector(`#${d} [data-element-id='${e}']`);"
        " if (!el) return false; const r = el.getBoundingClientRect();"
        " return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom; }",
        [diagram_id, element_id])


def test_the_case_page_timeline_and_diagram_fitted_to_the_running_part(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    from test_cases_timeline import decided_in_writing
    w = decided_in_writing(sqlite_runtime)
    rehab, fleksjob = (i for i, _ in sorted(_instances(sqlite_runtime, w.case_id)))
    sign_in(page, server, "boegeby.sagsbehandler")
    page.goto(f"{server}/sager/{w.case_id}")
    timeline = page.locator("section[aria-labelledby='h-history']")
    expect(timeline).to_contain_text("Afgørelse: Fleksjob")
    expect(timeline).to_contain_text("Brev dannet: Partshøring")
    for instance in (rehab, fleksjob):
        page.locator(f"#diagram-{instance}[data-ready='true']").wait_for()
    running = page.locator(f"#diagram-{fleksjob}")
    current = running.get_attribute("data-current").split()[0]
    assert _in_view(page, f"diagram-{fleksjob}", current)                 # opens on the running part
    assert float(running.get_attribute("data-scale")) >= 0.6               # at a readable scale
    finished = page.locator(f"#diagram-{rehab}")
    assert float(finished.get_attribute("data-scale")) >= 0.6              # a finished process: readable,
    assert _in_view(page, f"diagram-{rehab}", "traef_afgoerelse")          # on where it ended
    screenshot(page, "case-timeline-and-diagrams")
    assert axe_violations(page) == []

    running.focus()                                                       # keyboard only
    page.keyboard.press("0")
    whole = float(running.get_attribute("data-scale"))
    page.keyboard.press("+")
    assert float(running.get_attribute("data-scale")) > whole
    page.keyboard.press("1")
    assert _in_view(page, f"diagram-{fleksjob}", current)
    page.get_by_role("toolbar", name="Diagram for Fleksjob").get_by_role("button", name="Vis hele processen").click()
    assert float(running.get_attribute("data-scale")) == whole


def _instances(rt, case_id):
    from sqlalchemy import select
    from processes.models import ProcessInstance
    with rt.sessions() as session:
        return [(i.id, i.process_id) for i in session.scalars(select(ProcessInstance).where(
            ProcessInstance.case_id == case_id))]


def test_finding_a_case_and_mine_sager(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    from test_cases_search import _start
    _start(sqlite_runtime, "aaby", "010190-1234", "Anna Andersen")
    _start(sqlite_runtime, "aaby", "020290-2345", "Annette Berg")
    sign_in(page, server, "aaby.sagsbehandler")
    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Find sag").click()
    page.get_by_label("CPR-nummer, navn eller sagsnummer").fill("0101901234")
    page.keyboard.press("Enter")
    results = page.locator("table.cases tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("010190-XXXX")
    page.get_by_label("CPR-nummer, navn eller sagsnummer").fill("ann")
    page.get_by_role("button", name="Søg").click()
    expect(page.get_by_role("heading", name="2 sager fundet")).to_be_visible()
    screenshot(page, "case-search")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Annette Berg").click()
    expect(page.get_by_role("heading", name="Annette Berg", level=1)).to_be_visible()

    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Mine sager").click()
    expect(page.locator("table.cases tbody tr")).to_have_count(2)
    screenshot(page, "mine-sager")
    assert axe_violations(page) == []
