"""The studio's editor speaks the UI's language (issue 12): bpmn-js's palette, context pad
and replace menu, the properties panel's Camunda groups, the lint list and Sagsflow's own
group are Danish when the UI is Danish and English when the designer picks English.

Every group of the panel is opened for one element of every type in the shipped fleksjob
model, and the replace menu of each is opened; the translate module lists every string
it had no translation for (window.sagsflowUntranslated), which must stay empty."""
from __future__ import annotations

from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401  (fixtures)
from test_browser_studio import studio_bundle  # noqa: F401  (fixture: the bundle is built)
from test_browser_studio_csp import ONE_OF_EACH, SELECT

import pytest

pytestmark = needs_chromium


def _open_everything(page):
    for element in page.evaluate(ONE_OF_EACH):
        page.evaluate(SELECT, element)
        page.locator("#properties .bio-properties-panel-group-header").first.wait_for()
        headers = page.locator("#properties .bio-properties-panel-group-header:not(.open)")
        for _ in range(50):
            if not headers.count():
                break
            headers.first.click()
        replace = page.locator(".djs-context-pad .entry[data-action='replace']")
        if replace.count():
            replace.click()
            page.locator(".djs-popup").wait_for()
            page.keyboard.press("Escape")


def _open_group(panel, group):
    closed = panel.locator(f"[data-group-id='group-{group}'] .bio-properties-panel-group-header:not(.open)")
    if closed.count():
        closed.click()


def _panel_of(page, element_id):
    page.evaluate(SELECT, element_id)
    return page.locator("#properties")


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_editor_is_in_the_ui_language(server, page, language):  # noqa: F811
    from playwright.sync_api import expect
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, server, "boegeby.procesdesigner")
    if language == "en":
        page.get_by_role("button", name="English").click()
        page.get_by_role("heading", name="Process studio").wait_for()   # a procesdesigner starts there
    page.goto(f"{server}/studio/")
    page.locator("form:has(input[name=case_type][value=fleksjob]) button[type=submit]").click()  # a new draft
    expect(page.locator("#studio-editor")).to_have_attribute("data-ready", "yes", timeout=60000)
    danish = language == "da"

    palette = page.locator(".djs-palette")
    expect(palette.get_by_role("button", name="Opret opgave" if danish else "Create task")).to_have_count(1)
    page.evaluate("id => window.sagsflowModeler.get('canvas').scrollToElement(id, {top: 200, left: 300, right: 300, bottom: 100})",
                  "foerste_samtale")
    page.locator("g.djs-element[data-element-id='foerste_samtale'] .djs-hit").first.click()  # as a designer does
    expect(page.locator(".djs-context-pad .entry[data-action='append.append-task']")).to_have_attribute(
        "title", "Tilføj opgave" if danish else "Append task")
    panel = page.locator("#properties")
    header = panel.locator(".bio-properties-panel-group-header-title")
    expect(header.filter(has_text="Generelt" if danish else "General")).to_have_count(1)
    expect(header.filter(has_text="Formularer" if danish else "Forms")).to_have_count(1)
    expect(header.filter(has_text="Tildeling" if danish else "User assignment")).to_have_count(1)
    expect(header.filter(has_text="Sagsflow")).to_have_count(1)
    _open_group(panel, "sagsflow")
    expect(panel.get_by_label("Rolle for opgaven" if danish else "Role for the task")).to_be_visible()
    expect(panel.get_by_label("Ejeropgave (går til sagens ejer)" if danish else "Owner task (goes to the case owner)")
           ).to_be_visible()
    timer = _panel_of(page, "frist_foerste_samtale")
    _open_group(timer, "sagsflow")
    expect(timer.get_by_label("Frist: politikparameter" if danish else "Deadline: policy parameter")).to_be_visible()
    expect(timer.get_by_label("Timerudtryk (Python)" if danish else "Timer expression (Python)")).to_be_visible()
    screenshot(page, f"studio-editor-language-{language}")
    assert axe_violations(page) == []

    _open_everything(page)
    assert page.evaluate("() => [...window.sagsflowUntranslated]") == []
    if not danish:  # nothing Danish is left in the panel's own texts
        labels = " ".join(page.locator("#properties label, #properties .bio-properties-panel-group-header-title")
                          .all_inner_texts())
        for word in ("Rolle", "Frist", "Milepæl", "Formularer", "Generelt"):
            assert word not in labels
