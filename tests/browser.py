"""Shared pieces of the browser tests: Debian's Chromium driven by Playwright, a live
server on the test's runtime, screenshots kept as test artifacts, and an accessibility
check with axe-core (from node_modules).

Screenshots go to ``$SAGSFLOW_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the
checkout), one PNG per page and test, so a reviewer can look at what the test saw."""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("SAGSFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
ARTIFACTS = Path(os.environ.get("SAGSFLOW_TEST_ARTIFACTS", ROOT / "test-artifacts"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"no Chromium at {CHROMIUM} (scripts/setup --browser installs it)")


def serve(app):
    """Serve ``app`` on a free port in a thread; returns (base_url, stop).

    ``stop`` closes the server's sockets in the server's own thread, between two polls
    (a thunk run by waitress's trigger): its loop then has nothing left to poll and ends,
    and the thread is joined before the request threads are shut down. Closing them from
    the test's thread instead raced the loop: it could be in ``select()`` on a socket just
    closed (EBADF, an unhandled exception in the server thread)."""
    from waitress import create_server, wasyncore
    httpd = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()

    def stop():
        httpd.trigger.pull_trigger(lambda: wasyncore.close_all(httpd._map))
        thread.join(timeout=30)
        if thread.is_alive():
            raise RuntimeError("the test server's loop did not end")
        httpd.task_dispatcher.shutdown()
    return f"http://127.0.0.1:{httpd.effective_port}", stop


def open_page(playwright, **context_options):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    options = {"viewport": {"width": 1280, "height": 900}, "locale": "da-DK"}
    options.update(context_options)
    context = browser.new_context(**options)
    context.set_default_timeout(15000)
    return browser, context.new_page()


# Where a demo user starts after signing in (inbox/auth.py, ``landing``): the heading shown.
LANDINGS = {"leder": "Overblik", "procesdesigner": "Processtudie"}


def sign_in(page, base, username, password="demo", landing=""):
    landing = landing if landing != "" else LANDINGS.get(username.rsplit(".", 1)[-1], "Min indbakke")
    page.goto(f"{base}/login")
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(password)
    page.get_by_role("button", name="Log ind").click()
    if landing:
        page.get_by_role("heading", name=landing).wait_for()


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save what the page shows now as ``<artifacts>/screenshots/<name>.png``; returns the
    path. The test that calls it asserts on the page; the picture is for people."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = ARTIFACTS / "screenshots" / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 1000, f"screenshot {path} is empty"
    return path


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core on the page (WCAG 2.1 A/AA rules) and return the violations of the
    given impacts as {id, impact, help, nodes}. Evaluated through the DevTools protocol,
    so the page's Content-Security-Policy stays as it is."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "async () => {"
        " const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});"
        " return JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))); }")
    return [v for v in json.loads(result) if v["impact"] in impacts]


@pytest.fixture
def page():
    """A Chromium page (1280x900, Danish locale); the browser closes after the test.
    Import it into a test module: ``from browser import page``."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser, new_page = open_page(p)
        yield new_page
        browser.close()


@pytest.fixture
def server(sqlite_runtime):
    """The web app on the test's SQLite runtime, served on a free port; its base URL.
    Import it into a test module with ``page``: ``from browser import page, server``."""
    from inbox import create_app
    base, stop = serve(create_app(sqlite_runtime))
    yield base
    stop()
