#!/usr/bin/env python3
"""Render a .bpmn file with bpmn-js (NavigatedViewer) in headless Chromium.

    .venv/bin/python tools/render.py MODEL.bpmn OUT.png [--scale 1.0]

Loads bpmn-js from node_modules/bpmn-js/dist (run `npm install` first); the page and
its scripts are served to the browser by request interception, so no server or network
is involved. Exits 1 (and prints the problems) when bpmn-js reports import warnings or
errors, or when a flow element, lane or participant is not drawn (no DI for it).
Prints a JSON summary on stdout.

Also usable as a library: `render(path, png_path) -> dict`.
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "node_modules" / "bpmn-js" / "dist"
CHROMIUM = os.environ.get("SAGSFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ORIGIN = "http://bpmn-render.invalid"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/dist/assets/diagram-js.css">
<link rel="stylesheet" href="/dist/assets/bpmn-js.css">
<style>html,body{margin:0;padding:0;background:#fff}#canvas{position:absolute;inset:0}</style>
<script src="/dist/bpmn-navigated-viewer.production.min.js"></script>
</head><body><div id="canvas"></div></body></html>
"""

IMPORT_JS = """
async (xml) => {
  const viewer = new BpmnJS({ container: '#canvas' });
  window.__viewer = viewer;
  const result = { warnings: [], error: null, missing: [], inner: null };
  try {
    const { warnings } = await viewer.importXML(xml);
    result.warnings = warnings.map(w => String(w.message || w));
  } catch (err) {
    result.error = String(err.message || err);
    result.warnings = (err.warnings || []).map(w => String(w.message || w));
    return result;
  }
  const registry = viewer.get('elementRegistry');
  const defs = viewer.getDefinitions();
  const wanted = [];
  const walk = (container) => {
    for (const el of container.flowElements || []) {
      wanted.push(el);
      if (el.flowElements) walk(el);
    }
    for (const ls of container.laneSets || []) {
      const lanes = (set) => { for (const l of set.lanes || []) { wanted.push(l); if (l.childLaneSet) lanes(l.childLaneSet); } };
      lanes(ls);
    }
  };
  for (const root of defs.rootElements || []) {
    if (root.$type === 'bpmn:Process') walk(root);
    if (root.$type === 'bpmn:Collaboration') for (const p of root.participants || []) wanted.push(p);
  }
  result.missing = wanted.filter(el => !registry.get(el.id)).map(el => el.$type + '#' + el.id);
  result.collapsed = registry.filter(e => e.businessObject && e.businessObject.$type === 'bpmn:SubProcess' && e.collapsed).map(e => e.id);
  const canvas = viewer.get('canvas');
  canvas.zoom('fit-viewport');
  const vb = canvas.viewbox();
  result.inner = { x: vb.inner.x, y: vb.inner.y, width: vb.inner.width, height: vb.inner.height };
  return result;
}
"""


def _serve(route):
    url = route.request.url
    path = url[len(ORIGIN):].split("?")[0]
    if path in ("/", "/index.html"):
        return route.fulfill(status=200, content_type="text/html", body=PAGE)
    if path.startswith("/dist/"):
        f = (DIST / path[len("/dist/"):]).resolve()
        if DIST.resolve() in f.parents and f.is_file():
            ctype = mimetypes.guess_type(str(f))[0] or "application/octet-stream"
            return route.fulfill(status=200, content_type=ctype, body=f.read_bytes())
    return route.fulfill(status=404, body="not found")


def render(model: str | os.PathLike, png: str | os.PathLike | None, scale: float = 1.0) -> dict:
    """Import `model` in bpmn-js, screenshot to `png`; return the import summary."""
    from playwright.sync_api import sync_playwright

    if not (DIST / "bpmn-navigated-viewer.production.min.js").exists():
        raise RuntimeError(f"{DIST} missing: run `npm install` in {REPO}")
    xml = Path(model).read_text(encoding="utf-8")
    console_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 900}, device_scale_factor=1)
            context.route("**/*", lambda route: _serve(route) if route.request.url.startswith(ORIGIN)
                          else route.abort())
            page = context.new_page()
            page.on("pageerror", lambda exc: console_errors.append(str(exc)))
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.goto(ORIGIN + "/index.html")
            page.wait_for_function("typeof BpmnJS === 'function'")
            result = page.evaluate(IMPORT_JS, xml)
            if png and result.get("inner"):
                inner = result["inner"]
                w = int(min(max(inner["width"] * scale + 40, 600), 4000))
                h = int(min(max(inner["height"] * scale + 40, 300), 3000))
                page.set_viewport_size({"width": w, "height": h})
                page.evaluate(
                    "([x, y, w, h]) => window.__viewer.get('canvas').viewbox({ x, y, width: w, height: h })",
                    [inner["x"] - 20 / scale, inner["y"] - 20 / scale, w / scale, h / scale])
                page.wait_for_timeout(100)
                page.screenshot(path=str(png), full_page=False)
        finally:
            browser.close()
    result["console_errors"] = console_errors
    result["ok"] = not (result.get("error") or result.get("warnings") or result.get("missing")
                        or result.get("collapsed") or console_errors)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("png", nargs="?")
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    res = render(args.model, args.png, args.scale)
    print(json.dumps(res, indent=2, ensure_ascii=False))
    if not res["ok"]:
        print(f"{args.model}: bpmn-js import problems (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
