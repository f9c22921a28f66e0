"""The server's shared drawings of the case page's diagrams (inbox/drawings.py): what a
browser sends is rebuilt from an allowlist (no script, event handler, foreignObject,
style, external or javascript: link survives), must be a drawing of that model, is kept
once per municipality and model version (never overwritten), is shown only to the
municipality that sent it, and every upload is audited, size- and rate-limited.

The drawings here are made from the model's own diagram interchange (what bpmn-js draws
from); tests/test_browser_cases_diagrams.py sends real bpmn-js drawings."""
from __future__ import annotations

import gzip
import json
import re

import pytest
from sqlalchemy import func, select

from inbox import create_app, drawings
from inbox.cases import _lanes_by_role_name
from inbox.drawings import Refused, sanitize
from lxml import etree
from processes.models import AuditEvent, DiagramDrawing, ProcessInstance
from test_inbox import Browser, CPR

SVGNS = "http://www.w3.org/2000/svg"


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def _case(rt, municipality="aaby"):
    instance = rt.engine.start_case(municipality, "rehabilitering", CPR, "Anna Andersen")
    with rt.sessions() as db:
        row = db.get(ProcessInstance, instance.id)
        model = _lanes_by_role_name(row.model_version_id, "da", row.model_version.bpmn_xml)
    return instance.case_id, instance.id, model


def drawing(model: bytes, extra: str = "", inside: str = "", label: dict | None = None,
            move: dict | None = None, skip: str | None = None) -> dict:
    """A drawing of the model as bpmn-js makes it: each shape a group at its place with its
    name as label, each flow a path; ``extra`` is markup added at the top level, ``inside``
    in the first shape's group; ``label``/``move``/``skip`` change one element."""
    root = etree.fromstring(model)
    names = {e.get("id"): e.get("name") or "" for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    groups, bounds = [], {}
    for shape in root.iter("{*}BPMNShape"):
        element = shape.get("bpmnElement")
        if element == skip:
            continue
        b = shape.find("{*}Bounds")
        x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
        bounds[element] = [x, y, w, h]
        dx, dy = (move or {}).get(element, (0, 0))
        text = (label or {}).get(element, names.get(element, ""))
        label_markup = f'<text class="djs-label" font-size="12px"><tspan x="5" y="20">{text}</tspan></text>' if text else ""
        groups.append(f'<g class="djs-group"><g class="djs-element djs-shape" data-element-id="{element}" '
                      f'transform="matrix(1 0 0 1 {x + dx} {y + dy})"><g class="djs-visual">'
                      f'<rect x="0" y="0" width="{w}" height="{h}" rx="10" stroke="rgb(34, 36, 42)" fill="white"/>'
                      f'{label_markup}{inside if not groups else ""}</g></g></g>')
    for edge in root.iter("{*}BPMNEdge"):
        groups.append(f'<g class="djs-group"><g class="djs-element djs-connection" '
                      f'data-element-id="{edge.get("bpmnElement")}"><g class="djs-visual">'
                      f'<path d="M0,0L10,10" fill="none" marker-end="url(\'#end\')"/></g></g></g>')
    xs = [b[0] for b in bounds.values()] + [b[0] + b[2] for b in bounds.values()]
    ys = [b[1] for b in bounds.values()] + [b[1] + b[3] for b in bounds.values()]
    svg = (f'<svg xmlns="{SVGNS}"><defs><marker id="end" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="10" '
           f'markerHeight="10" orient="auto"><path d="M 1 5 L 11 10 L 1 15 Z" fill="black"/></marker></defs>'
           f'{extra}<g class="djs-group">{"".join(groups)}</g></svg>')
    return {"svg": svg, "logo": f'<svg xmlns="{SVGNS}" viewBox="0 0 14 5"><path fill="currentColor" d="M1 1h2"/></svg>',
            "box": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], "bounds": bounds}


def _raw(entry: dict) -> bytes:
    return json.dumps(entry).encode("utf-8")


def test_a_drawing_of_the_model_is_kept_as_it_was_drawn(sqlite_runtime):
    _, _, model = _case(sqlite_runtime)
    entry = drawing(model)
    kept, dropped = sanitize(_raw(entry), model)
    assert dropped == 0
    assert kept["box"] == entry["box"] and kept["bounds"] == entry["bounds"]
    assert kept["svg"].count("data-element-id=") == entry["svg"].count("data-element-id=") > 30
    assert "marker-end=\"url('#end')\"" in kept["svg"] and kept["logo"].startswith(f'<svg xmlns="{SVGNS}"')


@pytest.mark.parametrize("evil, gone", [
    ('<script>alert(1)</script>', "alert"),
    ('<g onload="alert(1)" class="x"/>', "onload"),
    ('<foreignObject width="9" height="9"><body xmlns="http://www.w3.org/1999/xhtml">'
     '<img src="x" onerror="alert(1)"/></body></foreignObject>', "onerror"),
    ('<a href="javascript:alert(1)"><rect width="9" height="9"/></a>', "javascript"),
    ('<path d="M0,0" href="javascript:alert(1)"/>', "javascript"),
    ('<path xmlns:xlink="http://www.w3.org/1999/xlink" d="M0,0" xlink:href="https://evil.example/x.svg#a"/>',
     "evil.example"),
    ('<style>@import url(https://evil.example/a.css); rect { fill: url(https://evil.example/p) }</style>',
     "evil.example"),
    ('<rect width="9" height="9" style="fill: url(https://evil.example/p)"/>', "evil.example"),
    ('<rect width="9" height="9" fill="url(https://evil.example/p#a)"/>', "evil.example"),
    ('<rect width="9" height="9" fill="url(&quot;javascript:alert(1)&quot;)"/>', "javascript"),
    ('<image href="https://evil.example/track.png" width="1" height="1"/>', "evil.example"),
    ('<use href="#end" onclick="alert(1)"/>', "onclick"),
    ('<animate attributeName="href" to="javascript:alert(1)"/>', "javascript"),
])
def test_what_could_run_or_call_out_is_stripped(sqlite_runtime, evil, gone):
    _, _, model = _case(sqlite_runtime)
    kept, dropped = sanitize(_raw(drawing(model, extra=evil)), model)
    assert dropped >= 1
    assert gone not in kept["svg"]
    assert not re.search(r"<(script|foreignObject|style|image|use|animate|a)[\s>/]", kept["svg"], re.I)
    assert not re.search(r"\son[a-z]+\s*=", kept["svg"], re.I) and "style=" not in kept["svg"]
    # the drawing itself is still there, ready to be shown
    assert kept["svg"].count("data-element-id=") > 30
    etree.fromstring(kept["svg"].encode("utf-8"))   # well-formed


def test_a_local_fragment_link_stays_and_nothing_else_of_the_kind(sqlite_runtime):
    _, _, model = _case(sqlite_runtime)
    kept, _ = sanitize(_raw(drawing(model, extra='<path d="M0,0" href="#end"/><path d="M0,0" href="/x#end"/>')), model)
    assert 'href="#end"' in kept["svg"] and 'href="/x#end"' not in kept["svg"]


@pytest.mark.parametrize("change, reason", [
    (dict(extra='<!DOCTYPE svg [<!ENTITY a "aaaaaaaa">]>'), "not well-formed"),
    (dict(label={"skriv_indstilling": "Afslå ansøgningen"}), "label is not the model's"),
    (dict(move={"skriv_indstilling": (400, 0)}), "not where the model puts it"),
    (dict(skip="skriv_indstilling"), "not drawn"),
    (dict(extra='<g data-element-id="fremmed_opgave" class="djs-element"/>'), "not an element of the model"),
    (dict(extra='<text><tspan>Sagen er afgjort</tspan></text>'), "text outside"),
])
def test_what_is_not_a_drawing_of_the_model_is_refused(sqlite_runtime, change, reason):
    _, _, model = _case(sqlite_runtime)
    entry = drawing(model, **{k: v for k, v in change.items() if k != "extra" or "DOCTYPE" not in v})
    if "DOCTYPE" in change.get("extra", ""):
        entry["svg"] = change["extra"] + entry["svg"]
    with pytest.raises(Refused, match=reason):
        sanitize(_raw(entry), model)


def test_entities_and_bad_shapes_of_json_are_refused(sqlite_runtime):
    _, _, model = _case(sqlite_runtime)
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            f'<svg xmlns="{SVGNS}"><text>&lol2;</text></svg>')
    for entry in ({**drawing(model), "svg": bomb}, {**drawing(model), "box": [0, 0, "x", 1]},
                  {**drawing(model), "bounds": {"a": [1, 2, 3]}}, {**drawing(model), "extra": 1},
                  {**drawing(model), "svg": '<html xmlns="http://www.w3.org/1999/xhtml"/>'}):
        with pytest.raises(Refused):
            sanitize(_raw(entry), model)
    with pytest.raises(Refused):
        sanitize(b"[1, 2", model)


# ------------------------------------------------------------------ over HTTP
def _post(user: Browser, case_id: int, instance_id: int, entry, csrf: bool = True):
    body = entry if isinstance(entry, bytes) else _raw(entry)
    headers = {"Content-Type": "application/json", **({"X-CSRFToken": user.csrf} if csrf else {})}
    return user.http.post(f"/sager/{case_id}/forloeb/{instance_id}/tegning", data=body, headers=headers)


def _drawing_url(user: Browser, case_id: int, instance_id: int) -> str:
    page = user.get(f"/sager/{case_id}").get_data(as_text=True)
    return re.search(rf'id="diagram-{instance_id}".*?data-drawing="([^"]+)"', page, re.S).group(1)


def test_upload_then_any_colleague_gets_it_and_the_first_one_stays(app, sqlite_runtime):
    rt = sqlite_runtime
    case_id, instance_id, model = _case(rt)
    me, colleague = Browser(app, "aaby.sagsbehandler"), Browser(app, "aaby.teamleder")
    url = _drawing_url(me, case_id, instance_id)
    assert re.fullmatch(rf"/sager/{case_id}/forloeb/{instance_id}/tegning\?key=[0-9a-f]{{20}}\.da\.[0-9a-f]{{10}}", url)
    nothing = me.get(url)
    assert nothing.status_code == 204 and nothing.headers["Cache-Control"] == "no-store"

    assert _post(me, case_id, instance_id, drawing(model), csrf=False).status_code == 400   # CSRF
    first = drawing(model, extra='<script>alert(1)</script>')
    answer = _post(me, case_id, instance_id, first)
    assert answer.status_code == 201 and answer.get_json() == {"stored": True, "dropped": 1}

    shown = colleague.get(url, headers={"Accept-Encoding": "gzip"})
    assert shown.status_code == 200 and shown.headers["Content-Encoding"] == "gzip"
    assert shown.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    kept = json.loads(gzip.decompress(shown.data))
    assert "script" not in kept["svg"] and kept["bounds"] == first["bounds"]
    assert json.loads(colleague.get(url).data) == kept   # without gzip: plain JSON
    current = colleague.get(url.split("?")[0])           # without the key: the current one, revalidated
    assert json.loads(current.data) == kept and current.headers["Cache-Control"] == "private, no-cache"
    assert colleague.get(url.split("?")[0] + "?key=0" + url[-33:]).status_code == 404   # another version's

    # a second drawing of the same model version changes nothing (the first one stays)
    again = _post(colleague, case_id, instance_id, drawing(model, label={}))
    assert again.status_code == 200 and again.get_json()["stored"] is False
    assert json.loads(colleague.get(url).data) == kept
    with rt.sessions() as db:
        assert db.scalar(select(func.count()).select_from(DiagramDrawing)) == 1
        stored = db.scalars(select(AuditEvent).where(AuditEvent.action == "diagram.store")).all()
    assert [(e.actor, e.detail["dropped"], e.detail["case_id"]) for e in stored] == [
        ("aaby.sagsbehandler", 1, case_id)]


def test_another_municipality_can_neither_read_nor_write_nor_see_the_drawing(app, sqlite_runtime):
    rt = sqlite_runtime
    case_id, instance_id, model = _case(rt)
    aaby = Browser(app, "aaby.sagsbehandler")
    url = _drawing_url(aaby, case_id, instance_id)
    assert _post(aaby, case_id, instance_id, drawing(model)).status_code == 201

    other = Browser(app, "boegeby.sagsbehandler")
    assert other.get(url).status_code == 404                                   # Aaby's case
    assert _post(other, case_id, instance_id, drawing(model)).status_code == 404   # Aaby's case
    # Bøgeby's own case on the model version Aaby's drawing is of: Bøgeby's store, without it
    other_case = rt.engine.start_case("boegeby", "rehabilitering", "020290-2345", "Bent Bertelsen")
    with rt.sessions.begin() as db:
        db.get(ProcessInstance, other_case.id).model_version_id = db.get(ProcessInstance, instance_id).model_version_id
    same_version = _drawing_url(other, other_case.case_id, other_case.id)
    assert same_version.split("?")[1] == url.split("?")[1]                    # the same key ...
    assert other.get(same_version).status_code == 204                          # ... but not Aaby's drawing
    other_case, other_instance, other_model = _case(rt, "boegeby")
    own = _drawing_url(other, other_case, other_instance)
    assert other.get(own).status_code == 204
    # a refused drawing from Bøgeby is audited and stores nothing
    refused = _post(other, other_case, other_instance, drawing(other_model, label={"skriv_indstilling": "Afslag"}))
    assert refused.status_code == 422 and "label" in refused.get_json()["reason"]
    assert other.get(own).status_code == 204
    with rt.sessions() as db:
        audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "diagram.refused")).all()
    assert [(e.actor, e.detail["instance_id"]) for e in audit] == [("boegeby.sagsbehandler", other_instance)]


def test_uploads_are_size_and_rate_limited(app, sqlite_runtime):
    case_id, instance_id, model = _case(sqlite_runtime)
    me = Browser(app, "aaby.sagsbehandler")
    big = drawing(model, extra="<g>" + '<rect width="1" height="1"/>' * 40_000 + "</g>")
    assert _post(me, case_id, instance_id, big).status_code == 413
    wrong = drawing(model, skip="skriv_indstilling")
    answers = [_post(me, case_id, instance_id, wrong).status_code for _ in range(drawings.UPLOADS + 1)]
    assert answers[:drawings.UPLOADS - 1].count(422) == drawings.UPLOADS - 1 and answers[-1] == 429
    # a colleague is not held back by my refusals
    assert _post(Browser(app, "aaby.teamleder"), case_id, instance_id, drawing(model)).status_code == 201
