"""The studio's pages keep the app's Content-Security-Policy (no 'unsafe-inline') and the
browser reports nothing on them: no CSP violation, no console error or warning, no
uncaught exception (issue 12).

The editor is checked with every kind of element of the shipped fleksjob model selected
and every group of its properties panel opened (so every entry the panel can render is
rendered), after an import of a foreign file, and on the comparison pages."""
from __future__ import annotations

import pytest

from browser import needs_chromium, page, server, sign_in  # noqa: F401  (fixtures)
from test_browser_studio import studio_bundle  # noqa: F401  (fixture: the bundle is built)
from test_studio import FOREIGN

pytestmark = needs_chromium

# Every violation the page's policy reports, as a console line the test collects.
WATCH = """document.addEventListener('securitypolicyviolation', e => console.error(
  'CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));"""

SELECT = """id => {
  document.getElementById('canvas').focus();
  window.sagsflowModeler.get('selection').select(window.sagsflowModeler.get('elementRegistry').get(id));
}"""

# One element of every type in the diagram (lanes, tasks, events, gateways, flows, ...).
ONE_OF_EACH = """() => {
  const registry = window.sagsflowModeler.get('elementRegistry');
  const seen = new Map();
  for (const e of registry.getAll()) if (!e.type.startsWith('label') && !seen.has(e.type)) seen.set(e.type, e.id);
  return [...seen.values()];
}"""


@pytest.fixture
def watched(page):  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.add_init_script(WATCH)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text} ({m.location.get('url')})")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    page.messages = messages
    return page


def _open_every_group(page, element_id: str) -> int:
    page.evaluate(SELECT, element_id)
    page.locator("#properties .bio-properties-panel-group-header").first.wait_for()
    headers = page.locator("#properties .bio-properties-panel-group-header:not(.open)")
    opened = 0
    while headers.count() and opened < 50:
        headers.first.click()
        opened += 1
    return opened


def test_studio_pages_keep_the_csp_and_report_no_violation_or_console_error(server, watched, tmp_path):  # noqa: F811
    from playwright.sync_api import expect
    page = watched
    sign_in(page, server, "boegeby.procesdesigner")
    response = page.goto(f"{server}/studio/")
    policy = response.headers["content-security-policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy

    page.get_by_role("button", name="Ny kladde af Fleksjob").click()
    expect(page.locator("#studio-editor")).to_have_attribute("data-ready", "yes", timeout=60000)
    assert "unsafe-inline" not in page.request.get(page.url).headers["content-security-policy"]
    elements = page.evaluate(ONE_OF_EACH)
    assert len(elements) > 10
    opened = sum(_open_every_group(page, element) for element in elements)
    assert opened > 30  # the panel rendered many groups: forms, listeners, timers, ...
    page.get_by_role("button", name="Gem og kontrollér").click()
    expect(page.locator("#studio-status")).to_have_text("Gemt. Ingen fejl.")

    page.goto(page.url + "/diff")
    expect(page.locator("#studio-diff")).to_have_attribute("data-ready", "yes", timeout=60000)

    path = tmp_path / "fremmed.bpmn"
    path.write_text(FOREIGN, encoding="utf-8")
    page.goto(f"{server}/studio/")
    page.get_by_label("Sagstype").select_option("sygedagpenge")
    page.get_by_label("Fil", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Importér").click()
    expect(page.locator("#studio-editor")).to_have_attribute("data-ready", "yes", timeout=60000)
    for element in page.evaluate(ONE_OF_EACH):  # the panel of each kind of foreign element
        page.evaluate(SELECT, element)
        page.locator("#properties .bio-properties-panel-group-header").first.wait_for()
    page.wait_for_timeout(300)  # anything the last panel does after its render
    assert page.messages == []
