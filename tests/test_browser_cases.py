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
