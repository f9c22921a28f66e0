"""Issue 14 points 6 and 9 in a real Chromium: the case page's diagrams are drawn by
bpmn-js once per model version and municipality, then shown from the browser's cache, or in
a fresh browser from the server's copy of the first browser's drawing, with each case's
own marks, without loading bpmn-js; what is shown is the model (its shapes and labels),
fitted to the running part, with the controls and keys working."""
from __future__ import annotations

from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401 (fixtures)
from test_cases_timeline import decided_in_writing

pytestmark = needs_chromium

BUNDLE = "bpmn-navigated-viewer.production.min.js"


def _diagrams(page) -> dict[str, dict]:
    """Per diagram on the page: how it was drawn, its marks and what it shows."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.diagram[data-xml]')].map(d => {
        const shapes = [...d.querySelectorAll('svg.diagram-svg [data-element-id]')];
        const marked = cls => shapes.filter(s => s.classList.contains(cls)).map(s => s.getAttribute('data-element-id'));
        return [d.id, {by: d.getAttribute('data-drawn-by'), scale: parseFloat(d.getAttribute('data-scale')),
                       shapes: shapes.length, current: marked('sf-current'), done: marked('sf-done'),
                       text: [...d.querySelectorAll('svg.diagram-svg text')].map(t => t.textContent).join(' '),
                       viewBox: d.querySelector('svg.diagram-svg').getAttribute('viewBox'),
                       logo: !!d.querySelector('a.bjs-powered-by[href="https://bpmn.io"] svg')}];
    }))""")


def _shown(page, diagram_id: str, element_id: str) -> bool:
    """Whether the element is drawn with a size and lies inside the diagram's box on the screen."""
    return page.evaluate(
        "([d, e]) => { const box = document.getElementById(d).getBoundingClientRect();"
        " const el = document.querySelector(`#${d} [data-element-id='${e}']`);"
        " if (!el) return false; const r = el.getBoundingClientRect();"
        " return r.width > 20 && r.height > 20 && r.left >= box.left && r.right <= box.right"
        " && r.top >= box.top && r.bottom <= box.bottom; }", [diagram_id, element_id])


def _visit(page, server, case_id: int) -> tuple[dict, list[str]]:
    """Open the case page and wait until every diagram is drawn; what they show and the
    URLs the page requested."""
    requests: list[str] = []

    def record(request):
        requests.append(request.url)
    page.on("request", record)
    page.goto(f"{server}/sager/{case_id}")
    page.wait_for_function("() => [...document.querySelectorAll('.diagram[data-xml]')]"
                           ".every(d => d.getAttribute('data-ready') === 'true')")
    page.remove_listener("request", record)
    return _diagrams(page), requests


def _instance_ids(rt, case_id: int) -> dict[str, int]:
    from sqlalchemy import select
    from processes.models import ProcessInstance
    with rt.sessions() as session:
        rows = session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
        return {i.process_id: i.id for i in rows}


def test_bpmn_js_draws_a_model_once_then_the_cache_shows_it_with_each_cases_marks(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    fresh = sqlite_runtime.engine.start_case("boegeby", "rehabilitering", "020290-2345", "Carl Carlsen")
    first_task = sqlite_runtime.engine.open_tasks(case_id=fresh.case_id)[0]
    decided = decided_in_writing(sqlite_runtime)
    fresh_rehab = f"diagram-{fresh.id}"
    decided_ids = _instance_ids(sqlite_runtime, decided.case_id)
    decided_rehab, decided_fleksjob = (f"diagram-{decided_ids[p]}" for p in ("rehabilitering", "fleksjob"))
    sign_in(page, server, "boegeby.sagsbehandler")

    # 1. the first case page in this browser: bpmn-js draws the model, and it is the model
    shown, requests = _visit(page, server, fresh.case_id)
    assert any(BUNDLE in url for url in requests)
    d = shown[fresh_rehab]
    assert d["by"] == "bpmn-js" and d["logo"]
    assert d["shapes"] > 30                                           # the whole model, not an empty box
    assert first_task.name.split()[0] in d["text"]                    # with the task names as labels
    assert d["current"] == [first_task.bpmn_id] and d["done"] == []   # this case's marks
    assert d["scale"] >= 0.6 and _shown(page, fresh_rehab, first_task.bpmn_id)

    # 2. another case on the same model version: from the cache, bpmn-js not even loaded;
    # the other case's marks (finished: the last step in view), not the first case's
    shown, requests = _visit(page, server, decided.case_id)
    assert shown[decided_rehab]["by"] == "cache"
    assert shown[decided_fleksjob]["by"] == "bpmn-js"                # a model this browser had not drawn
    assert shown[decided_rehab]["shapes"] == d["shapes"] and shown[decided_rehab]["logo"]
    assert shown[decided_rehab]["current"] == [] and first_task.bpmn_id in shown[decided_rehab]["done"]
    assert "traef_afgoerelse" in shown[decided_rehab]["done"]
    assert _shown(page, decided_rehab, "traef_afgoerelse")
    current = page.locator(f"#{decided_fleksjob}").get_attribute("data-current").split()
    assert shown[decided_fleksjob]["current"] == current and _shown(page, decided_fleksjob, current[0])

    # 3. and again: everything from the cache, no bpmn-js, no model XML fetched
    shown, requests = _visit(page, server, decided.case_id)
    assert {v["by"] for v in shown.values()} == {"cache"}
    assert not [url for url in requests if BUNDLE in url or url.endswith("diagram.bpmn")]
    assert page.evaluate("() => typeof window.BpmnJS") == "undefined"
    assert _shown(page, decided_fleksjob, current[0])
    screenshot(page, "case-diagrams-from-cache")
    assert axe_violations(page) == []

    # the controls and keys work on a diagram shown from the cache
    running = page.locator(f"#{decided_fleksjob}")
    running.focus()
    page.keyboard.press("0")
    whole = float(running.get_attribute("data-scale"))
    page.keyboard.press("+")
    assert float(running.get_attribute("data-scale")) > whole
    before = _diagrams(page)[decided_fleksjob]["viewBox"]
    page.keyboard.press("ArrowRight")
    assert _diagrams(page)[decided_fleksjob]["viewBox"] != before
    page.keyboard.press("1")
    assert _shown(page, decided_fleksjob, current[0])
    page.get_by_role("toolbar", name="Diagram for Fleksjob").get_by_role("button", name="Vis hele processen").click()
    assert float(running.get_attribute("data-scale")) == whole
    page.get_by_role("toolbar", name="Diagram for Fleksjob").get_by_role("button", name="Zoom ud").click()
    assert float(running.get_attribute("data-scale")) < whole
    expect(running.locator("a.bjs-powered-by")).to_be_visible()


def _stored(rt, count: int) -> list:
    """Wait (at most 15 s) until the server keeps ``count`` drawings; their audit events."""
    import time
    from sqlalchemy import func, select
    from processes.models import AuditEvent, DiagramDrawing
    for _ in range(150):
        with rt.sessions() as session:
            if session.scalar(select(func.count()).select_from(DiagramDrawing)) >= count:
                return list(session.scalars(select(AuditEvent).where(AuditEvent.action.like("diagram.%"))))
        time.sleep(0.1)
    raise AssertionError(f"the server did not get {count} drawings")


def _corrupt_cache(page) -> None:
    page.evaluate("""() => Object.keys(localStorage).filter(k => k.startsWith('sf-diagram')).forEach(
        k => localStorage.setItem(k, JSON.stringify({svg: '<p>no svg</p>', box: [0, 0, 1, 1], bounds: {}})))""")


def test_an_unreadable_cache_entry_is_shown_from_the_server_else_drawn_again(server, page, sqlite_runtime):
    from sqlalchemy import delete
    from processes.models import DiagramDrawing
    instance = sqlite_runtime.engine.start_case("aaby", "rehabilitering", "020290-2345", "Carl Carlsen")
    task = sqlite_runtime.engine.open_tasks(case_id=instance.case_id)[0]
    sign_in(page, server, "aaby.sagsbehandler")
    shown, _ = _visit(page, server, instance.case_id)
    assert shown[f"diagram-{instance.id}"]["by"] == "bpmn-js"
    _stored(sqlite_runtime, 1)
    for by in ("server", "bpmn-js"):   # the server's drawing; without it, bpmn-js draws it again
        _corrupt_cache(page)
        shown, _ = _visit(page, server, instance.case_id)
        d = shown[f"diagram-{instance.id}"]
        assert d["by"] == by and d["shapes"] > 30 and d["current"] == [task.bpmn_id]
        assert _shown(page, f"diagram-{instance.id}", task.bpmn_id)
        with sqlite_runtime.sessions.begin() as session:
            session.execute(delete(DiagramDrawing))
        page.context.new_cdp_session(page).send("Network.clearBrowserCache")   # it was cached for a year


def test_a_fresh_browser_shows_the_first_browsers_drawings_without_bpmn_js(server, page, sqlite_runtime):
    """The first browser of the municipality draws with bpmn-js and sends its drawings; a
    second browser with nothing cached (a new profile) gets them from the server: same
    shapes, this case's marks, and neither bpmn-js nor the model XML is requested."""
    decided = decided_in_writing(sqlite_runtime)
    sign_in(page, server, "boegeby.sagsbehandler")
    first, requests = _visit(page, server, decided.case_id)
    assert {d["by"] for d in first.values()} == {"bpmn-js"} and any(BUNDLE in url for url in requests)
    audit = _stored(sqlite_runtime, len(first))
    # bpmn-js's own drawings pass the allowlist whole: nothing of them was dropped
    assert [(e.action, e.detail["dropped"]) for e in audit] == [("diagram.store", 0)] * len(first)

    context = page.context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="da-DK")
    fresh = context.new_page()
    sign_in(fresh, server, "boegeby.teamleder", landing=None)
    fresh.wait_for_url(lambda url: "/login" not in url)
    shown, requests = _visit(fresh, server, decided.case_id)
    assert {d["by"] for d in shown.values()} == {"server"}
    assert not [url for url in requests if BUNDLE in url or url.endswith("diagram.bpmn")], requests
    assert fresh.evaluate("() => typeof window.BpmnJS") == "undefined"
    for diagram_id, d in shown.items():
        assert (d["shapes"], d["current"], d["done"], d["logo"]) == (
            first[diagram_id]["shapes"], first[diagram_id]["current"], first[diagram_id]["done"], True)
        assert d["text"] == first[diagram_id]["text"]
    running = next(i for i, d in shown.items() if d["current"])
    assert _shown(fresh, running, shown[running]["current"][0])
    # the sequence flows keep their arrowheads (the marker survives the cache and the server)
    assert fresh.evaluate(f"""() => [...document.querySelectorAll('#{running} svg.diagram-svg path[marker-end]')]
        .filter(p => /^url[(]['"]?#/.test(p.getAttribute('marker-end'))).length""") > 10
    screenshot(fresh, "case-diagrams-from-server")
    assert axe_violations(fresh) == []
    context.close()


def test_a_browser_shared_by_two_municipalities_keeps_each_ones_drawings_apart(server, page, sqlite_runtime):
    """Aaby and Bøgeby run the same fleksjob model version; one browser used by a caseworker
    of each: Bøgeby's page never shows the drawing cached from Aaby's (each municipality's
    drawings are its own, on the server and in the browser)."""
    fleksjob = {"overdragelse": {"visitationsdato": "2027-01-04"}}
    aaby = sqlite_runtime.engine.start_case("aaby", "fleksjob", "010190-1234", "Anna Andersen", data=fleksjob)
    boegeby = sqlite_runtime.engine.start_case("boegeby", "fleksjob", "020290-2345", "Bo Berg", data=fleksjob)
    with sqlite_runtime.sessions() as session:
        from processes.models import ProcessInstance
        assert session.get(ProcessInstance, aaby.id).model_version_id == \
            session.get(ProcessInstance, boegeby.id).model_version_id          # the same drawing key
    sign_in(page, server, "aaby.sagsbehandler")
    shown, _ = _visit(page, server, aaby.case_id)
    assert shown[f"diagram-{aaby.id}"]["by"] == "bpmn-js"
    cached = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('sf-diagram'))")
    assert len(cached) == 1 and "aaby" in cached[0]

    page.context.clear_cookies()   # signed out; the browser keeps its localStorage
    sign_in(page, server, "boegeby.sagsbehandler")
    shown, requests = _visit(page, server, boegeby.case_id)
    assert shown[f"diagram-{boegeby.id}"]["by"] == "bpmn-js"          # not Aaby's drawing from the cache
    assert any(BUNDLE in url for url in requests)
    assert shown[f"diagram-{boegeby.id}"]["shapes"] > 30
    screenshot(page, "case-diagram-other-municipality-same-browser")
    keys = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('sf-diagram')).sort()")
    assert len(keys) == 2 and "aaby" in keys[0] and "boegeby" in keys[1]

    page.context.clear_cookies()
    sign_in(page, server, "aaby.sagsbehandler")
    shown, _ = _visit(page, server, aaby.case_id)
    assert shown[f"diagram-{aaby.id}"]["by"] == "cache"              # Aaby's own, still cached
