"""Issue 14, point 7 in a real Chromium: a caseworker who switches to English sees the
model's own texts in English (the task's name in the inbox, the task page's heading, form
labels and enum values, what the task shows of the case), falls back to nothing Danish
from the model, and can still do the task; axe-core finds no serious or critical
violations. Screenshots are kept as test artifacts."""
from __future__ import annotations

from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401 (fixtures)
from test_domain_rehab import Rehab

pytestmark = needs_chromium
ROUTE = {"oprindelig_ydelse": "sygedagpenge", "ansoegt_om": "fleksjob", "rute": "team"}


def test_a_task_in_english_shows_the_models_english(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", **ROUTE)
    sign_in(page, server, "aaby.sagsbehandler")
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="My inbox").wait_for()
    row = page.locator("tr", has=page.get_by_role("link", name="Plan the preparation with the citizen"))
    expect(row).to_have_count(1)
    expect(page.locator("main")).not_to_contain_text("Planlæg forberedelsen med borgeren")
    screenshot(page, "english-inbox")
    assert axe_violations(page) == []

    row.get_by_role("link", name="Plan the preparation with the citizen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plan the preparation with the citizen")
    form = page.locator("form.task-form")
    consent = page.get_by_label("Consent to obtain information and share it with the rehabilitation team")
    expect(consent).to_be_visible()
    options = consent.locator("option").all_inner_texts()
    assert "The citizen has given consent" in options and "The citizen has not given consent" in options
    assert not any("Borgeren" in o for o in options)
    expect(page.get_by_label("Obtain a medical certificate (LÆ 265)")).to_be_visible()
    screenshot(page, "english-task")
    assert axe_violations(page) == []

    # done in English: the posted values are still the model's ids, and the next task is named in English
    consent.select_option(label="The citizen has given consent")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-success").first).to_contain_text("Plan the preparation with the citizen")
    with sqlite_runtime.sessions() as session:
        from sqlalchemy import select

        from processes.models import HumanTask
        done = session.scalar(select(HumanTask).where(HumanTask.case_id == w.case_id,
                                                      HumanTask.bpmn_id == "planlaeg_forberedelse"))
    assert done.state == "completed" and done.data["samtykke_deling"] == "givet"
    screenshot(page, "english-after-task")
