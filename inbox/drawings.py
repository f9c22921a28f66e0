"""Drawn diagrams shared by a municipality's browsers (issue 14, point 9).

bpmn-js draws a model version in the first browser that shows it (``inbox/static/diagram.js``);
that browser sends the drawing here, and the server keeps it so every later browser of the
municipality, even a fresh one, shows the case page's diagrams without loading bpmn-js:

* ``POST /sager/<case>/forloeb/<instance>/tegning``: the drawing of that instance's model
  version (JSON ``{svg, logo, box, bounds}``, at most :data:`MAX_UPLOAD` bytes, CSRF-protected,
  for a user who may see the case). The server, not the browser, names what it is: the key
  is the instance's model SHA-256, the page's language and the renderer
  (:func:`inbox.cases.diagram_key`). The SVG is rebuilt from an allowlist
  (:func:`sanitize`: defusedxml, only the elements and attributes bpmn-js draws, no
  ``on*``, ``script``, ``foreignObject``, ``style``, no ``url()`` or ``href`` other than
  a local ``#fragment``) and must be a drawing of that model: every shape and flow of the
  model's diagram, each shape where the model puts it, each label saying what the model
  says. The first drawing accepted for a municipality and key stays; it is never
  replaced. Every accepted or refused drawing is audited (``diagram.store``,
  ``diagram.refused``), and a user may send at most :data:`UPLOADS` in :data:`WINDOW`.
* ``GET`` on the same URL (``?key=`` the page's key): the municipality's drawing of the
  instance's model version (gzip JSON, cached by the browser for a year: a key's drawing
  never changes), or ``204`` while there is none; for a user who may see the case. Only
  the user's own municipality's drawings: one drawn by a user of another municipality is
  never shown (a drawing is kept per municipality, not per model version alone, so no
  user can put a misleading drawing before another municipality's caseworkers).

A drawing is a model's, never a case's: no case data is in it (the case's marks are put
on it in the browser).
"""
from __future__ import annotations

import gzip
import json
import math
import re
import threading
import time
from collections import defaultdict, deque
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import get_locale
from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inbox.access import current_actor, instance_for, login_required, runtime
from inbox.limits import MAX_BODY, load_json
from inbox.security import wall_now
from inbox.vendor import YEAR
from processes.engine import Engine
from processes.errors import NotFound
from processes.library import _SAFE_PARSER
from processes.models import DiagramDrawing, ModelVersion

bp = Blueprint("drawings", __name__)

SVG = "http://www.w3.org/2000/svg"
KEY = re.compile(r"^[0-9a-f]{20}\.[a-z]{2}\.[0-9a-f]{10}$")
MAX_UPLOAD = MAX_BODY            # the largest shipped model's drawing is about 0.25 MB
UPLOADS, WINDOW = 20, 600.0      # drawings a user may send (accepted or not) in WINDOW seconds
MAX_ELEMENTS, MAX_DEPTH = 60_000, 48

# What bpmn-js (diagram-js) draws, and nothing else.
ELEMENTS = {"svg", "g", "defs", "marker", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
            "text", "tspan"}
ATTRIBUTES = {
    "id", "class", "d", "x", "y", "x1", "y1", "x2", "y2", "dx", "dy", "width", "height", "rx", "ry", "cx", "cy",
    "r", "points", "transform", "viewBox", "refX", "refY", "markerWidth", "markerHeight", "markerUnits", "orient",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity", "display",
    "visibility", "font-family", "font-size", "font-weight", "font-style", "text-anchor", "dominant-baseline",
    "marker-start", "marker-mid", "marker-end", "lineHeight", "data-element-id", "data-corner-radius",
    "pointer-events", "shape-rendering",
}
LOCAL_URL = re.compile(r"""^url\(\s*(['"]?)#[A-Za-z0-9_.:-]+\1\s*\)$""")
SAFE_VALUE = re.compile(r"""^[A-Za-z0-9 #%.,:;()_+\-'"]*$""")


class Refused(ValueError):
    """The upload is not a drawing this server keeps; the message says why (audited)."""


# ------------------------------------------------------------------ sanitizing
def _safe_value(value: str) -> bool:
    if len(value) > 100_000 or not SAFE_VALUE.match(value):
        return False
    lowered = value.lower()
    if "url(" in lowered:
        return bool(LOCAL_URL.match(value.strip()))
    return "javascript" not in lowered and "expression" not in lowered and "import" not in lowered


def clean_svg(markup: str) -> tuple[etree._Element, int]:
    """``markup`` rebuilt from the allowlist: a new tree holding only the allowed SVG
    elements (a disallowed one goes with everything in it), attributes (an ``href`` only
    as a local ``#fragment``) and text (only in ``text`` and ``tspan``). Returns the tree
    and how many elements and attributes were dropped; :class:`Refused` if it is not SVG."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    from xml.etree.ElementTree import ParseError
    if not isinstance(markup, str) or not markup.strip():
        raise Refused("no svg")
    try:
        source = fromstring(markup, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise Refused(f"not well-formed SVG: {exc}") from None
    if source.tag != f"{{{SVG}}}svg":
        raise Refused("the root is not <svg>")
    dropped = 0
    count = 0

    def copy(node, parent, depth: int):
        nonlocal dropped, count
        count += 1
        if count > MAX_ELEMENTS or depth > MAX_DEPTH:
            raise Refused("too many or too deeply nested elements")
        tag = node.tag[len(SVG) + 2:] if isinstance(node.tag, str) and node.tag.startswith(f"{{{SVG}}}") else None
        if tag not in ELEMENTS:
            dropped += 1
            return None
        out = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
        for name, value in node.attrib.items():
            local = name.rsplit("}", 1)[-1]
            if local == "href" and value.startswith("#") and re.fullmatch(r"#[A-Za-z0-9_.:-]+", value):
                out.set("href", value)
            elif name in ATTRIBUTES and not name.lower().startswith("on") and _safe_value(value):
                out.set(name, value)
            else:
                dropped += 1
        if tag in ("text", "tspan") and node.text:
            out.text = node.text
        for child in node:
            kept = copy(child, out, depth + 1)
            if kept is not None and tag in ("text", "tspan") and child.tail:
                kept.tail = child.tail
        return out

    return copy(source, None, 0), dropped


def serialize(root: etree._Element) -> str:
    """The clean tree as markup for the page's HTML parser (SVG in the default namespace)."""
    parts: list[str] = []

    def write(node, top: bool):
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in node.attrib.items())
        if top:
            attrs = f' xmlns="{SVG}"' + attrs
        children = list(node)
        if not children and not node.text:
            parts.append(f"<{node.tag}{attrs}/>")
        else:
            parts.append(f"<{node.tag}{attrs}>{escape(node.text or '')}")
            for child in children:
                write(child, False)
                parts.append(escape(child.tail or ""))
            parts.append(f"</{node.tag}>")
    write(root, True)
    return "".join(parts)


def _numbers(value, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) < 1e7
            for v in value):
        raise Refused(f"not {count} finite numbers")
    return [float(v) for v in value]


def _squeeze(text: str) -> str:
    """A label's text without what bpmn-js may add or take when it wraps a line."""
    return re.sub(r"[\s\-\u00ad]+", "", text or "")


def _model_facts(model_xml: bytes) -> tuple[dict, set, dict]:
    """From the (localized) model: each shape's bounds, the flows drawn, each element's label text."""
    root = etree.fromstring(model_xml, parser=_SAFE_PARSER)
    shapes, edges, names = {}, set(), {}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local == "BPMNShape":
            bounds = next((b for b in node if isinstance(b.tag, str) and etree.QName(b).localname == "Bounds"), None)
            if bounds is not None and node.get("bpmnElement"):
                shapes[node.get("bpmnElement")] = tuple(float(bounds.get(k, 0)) for k in ("x", "y", "width", "height"))
        elif local == "BPMNEdge" and node.get("bpmnElement"):
            edges.add(node.get("bpmnElement"))
        elif node.get("id"):
            text = node.get("name") or ""
            if local == "textAnnotation":
                text = "".join(t.text or "" for t in node if isinstance(t.tag, str)
                               and etree.QName(t).localname == "text")
            names[node.get("id")] = text
    return shapes, edges, names


def check_drawing(root: etree._Element, box: list[float], bounds: dict, model_xml: bytes) -> None:
    """:class:`Refused` unless ``root`` is a drawing of the model: every shape and flow of
    its diagram drawn once, no element the model does not have, each shape where the
    model puts it (its ``transform`` and its ``bounds``), every text a label of its
    element saying the element's name, and a box that holds the drawing."""
    shapes, edges, names = _model_facts(model_xml)
    if not shapes:
        raise Refused("the model has no diagram")
    drawn: dict[str, etree._Element] = {}
    for g in root.iter("g"):
        element = g.get("data-element-id")
        if element is None:
            continue
        base = element[:-len("_label")] if element.endswith("_label") else element
        if base not in shapes and base not in edges:
            raise Refused(f"{element}: not an element of the model's diagram")
        if element in drawn:
            raise Refused(f"{element}: drawn twice")
        drawn[element] = g
    missing = (set(shapes) | edges) - set(drawn)
    if missing:
        raise Refused(f"not drawn: {', '.join(sorted(missing)[:5])}")
    for element, (x, y, w, h) in shapes.items():
        move = re.fullmatch(r"matrix\(1 0 0 1 (-?[\d.e+-]+) (-?[\d.e+-]+)\)", drawn[element].get("transform") or "")
        if move is None or abs(float(move.group(1)) - x) > 1 or abs(float(move.group(2)) - y) > 1:
            raise Refused(f"{element}: not where the model puts it")
        if element not in bounds or any(abs(a - b) > 1 for a, b in zip(bounds[element], (x, y, w, h))):
            raise Refused(f"{element}: its bounds are not the model's")
    for element in bounds:
        if element not in drawn:
            raise Refused(f"bounds of {element}, which is not drawn")
    texts = [t for t in root.iter("text")]
    inside = {id(t) for g in drawn.values() for t in g.iter("text")}
    if any(id(t) not in inside for t in texts):
        raise Refused("text outside the model's elements")
    for element, g in drawn.items():
        base = element[:-len("_label")] if element.endswith("_label") else element
        said = _squeeze("".join(g.itertext()))
        if said and said != _squeeze(names.get(base, "")):
            raise Refused(f"{element}: its label is not the model's")
    if box[2] <= 0 or box[3] <= 0:
        raise Refused("an empty box")
    x1 = min(b[0] for b in shapes.values())
    y1 = min(b[1] for b in shapes.values())
    x2 = max(b[0] + b[2] for b in shapes.values())
    y2 = max(b[1] + b[3] for b in shapes.values())
    if box[0] > x1 + 1 or box[1] > y1 + 1 or box[0] + box[2] < x2 - 1 or box[1] + box[3] < y2 - 1:
        raise Refused("the box does not hold the model's shapes")


def sanitize(raw: bytes, model_xml: bytes) -> tuple[dict, int]:
    """The drawing to keep from an upload (JSON ``{svg, logo, box, bounds}``), and how many
    elements and attributes were dropped; :class:`Refused` if it is not a drawing of the model."""
    try:
        entry = load_json(raw)
    except Exception as exc:   # BadRequest: malformed, too deep, unstorable text
        raise Refused(f"not JSON: {getattr(exc, 'description', exc)}") from None
    if not isinstance(entry, dict) or set(entry) - {"svg", "logo", "box", "bounds"}:
        raise Refused("not a drawing ({svg, logo, box, bounds})")
    box = _numbers(entry.get("box"), 4)
    if not isinstance(entry.get("bounds"), dict) or len(entry["bounds"]) > 20_000:
        raise Refused("bounds")
    bounds = {str(k): _numbers(v, 4) for k, v in entry["bounds"].items()}
    root, dropped = clean_svg(entry.get("svg"))
    check_drawing(root, box, bounds, model_xml)
    logo = ""
    if isinstance(entry.get("logo"), str) and 0 < len(entry["logo"]) <= 20_000:
        try:
            logo_root, logo_dropped = clean_svg(entry["logo"])
            logo, dropped = serialize(logo_root), dropped + logo_dropped
        except Refused:
            logo = ""   # the page names bpmn.io in words instead
    return {"svg": serialize(root), "logo": logo, "box": box, "bounds": bounds}, dropped


# ------------------------------------------------------------------ rate limit
_sent_lock = threading.Lock()


def _within_rate(username: str) -> bool:
    """At most :data:`UPLOADS` drawings per user in :data:`WINDOW` (per application process)."""
    now = time.monotonic()
    with _sent_lock:
        times = current_app.extensions.setdefault("sagsflow_drawings_sent", defaultdict(deque))[username]
        while times and times[0] < now - WINDOW:
            times.popleft()
        if len(times) >= UPLOADS:
            return False
        times.append(now)
        return True


# ------------------------------------------------------------------ routes
def _instance_key(case_id: int, instance_id: int, with_xml: bool = False):
    """The actor, the instance's model version (id, and its XML if asked: the only large
    column) and its drawing's key in the page's language, after the case access check
    (:func:`inbox.access.instance_for`)."""
    from inbox.cases import diagram_key
    actor = current_actor()
    with runtime().sessions() as db:
        version_id = instance_for(db, actor, case_id, instance_id).model_version_id
        sha256, xml = db.execute(select(ModelVersion.sha256, ModelVersion.bpmn_xml if with_xml else ModelVersion.id)
                                 .where(ModelVersion.id == version_id)).one()
    return actor, version_id, xml if with_xml else None, diagram_key(sha256, str(get_locale()))


@bp.route("/sager/<int:case_id>/forloeb/<int:instance_id>/tegning", methods=["GET", "POST"])
@login_required
def drawing(case_id: int, instance_id: int):
    """GET: the municipality's drawing of the instance's model version; POST: a browser's drawing of it."""
    return store(case_id, instance_id) if request.method == "POST" else show(case_id, instance_id)


def show(case_id: int, instance_id: int):
    actor, _, _, key = _instance_key(case_id, instance_id)
    asked = request.args.get("key")
    if asked is not None and asked != key:   # a page from before the case moved to another model version
        raise NotFound("no such drawing")
    with runtime().sessions() as db:
        body = db.scalar(select(DiagramDrawing.body).where(DiagramDrawing.municipality_id == actor.municipality_id,
                                                            DiagramDrawing.key == key))
    if body is None:   # not drawn yet: the browser draws it (and is asked again next time)
        response = Response(status=204)
        response.headers["Cache-Control"] = "no-store"
        return response
    if "gzip" in request.accept_encodings:
        response = Response(body, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(gzip.decompress(body), mimetype="application/json")
    response.headers["Vary"] = "Accept-Encoding"
    # with the key in the URL the answer never changes: the first drawing of a key stays
    response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable" if asked else "private, no-cache"
    return response


def store(case_id: int, instance_id: int):
    from inbox.cases import _lanes_by_role_name
    actor, version_id, xml, key = _instance_key(case_id, instance_id, with_xml=True)   # who may see the case
    with runtime().sessions() as db:
        present = db.scalar(select(DiagramDrawing.id).where(DiagramDrawing.municipality_id == actor.municipality_id,
                                                             DiagramDrawing.key == key))
    if present is not None:   # the first one stays
        return jsonify(stored=False, reason="already stored"), 200
    if not _within_rate(actor.name):
        return jsonify(stored=False, reason="too many drawings sent; try later"), 429
    raw = request.get_data(cache=False)
    detail = {"key": key, "model_version_id": version_id, "case_id": case_id, "instance_id": instance_id,
              "bytes": len(raw)}
    if len(raw) > MAX_UPLOAD:
        return _refused(actor, detail, f"larger than {MAX_UPLOAD} bytes", 413)
    try:
        entry, dropped = sanitize(raw, _lanes_by_role_name(version_id, key.split(".")[1], xml))
    except Refused as exc:
        return _refused(actor, detail, str(exc)[:300], 422)
    body = gzip.compress(json.dumps(entry, separators=(",", ":")).encode("utf-8"), 6)
    try:
        with runtime().sessions.begin() as db:
            db.add(DiagramDrawing(municipality_id=actor.municipality_id, key=key, model_version_id=version_id,
                                  body=body, created_by=actor.name, created_at=wall_now()))
            Engine.audit(db, actor, "diagram.store", actor.municipality_id, None, None,
                         dict(detail, stored_bytes=len(body), dropped=dropped), wall_now())
    except IntegrityError:   # another browser's drawing came first
        return jsonify(stored=False, reason="already stored"), 200
    return jsonify(stored=True, dropped=dropped), 201


def _refused(actor, detail: dict, reason: str, status: int):
    with runtime().sessions.begin() as db:
        Engine.audit(db, actor, "diagram.refused", actor.municipality_id, None, None, dict(detail, reason=reason),
                     wall_now())
    return jsonify(stored=False, reason=reason), status
