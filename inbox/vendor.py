"""Front-end libraries from node_modules (installed by ``npm ci``), served without
copying them into the repository. Each package exposes only the files listed here;
anything else is 404.

To serve another library: add it to package.json, then add an entry to ``PACKAGES``
(URL name → directory under node_modules and the files or folders (ending in ``/``)
that pages may load). Pages link to them with ``url_for('vendor.asset', package=...,
filename=...)``."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__)

# URL name → (directory relative to node_modules, allowed files and folders)
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bpmn-js": ("bpmn-js/dist", ("bpmn-navigated-viewer.production.min.js", "assets/")),
    "chart.js": ("chart.js/dist", ("chart.umd.min.js",)),
    "cally": ("cally/dist", ("cally.js",)),  # the calendar behind date fields (inbox/static/datefield.js)
}
ALLOWED = PACKAGES["bpmn-js"][1]


def _node_modules() -> Path:
    return Path(current_app.config["BPMN_JS_DIR"]).parent.parent


def bpmn_js_available() -> bool:
    return (Path(current_app.config["BPMN_JS_DIR"]) / ALLOWED[0]).is_file()


def _send(package: str, filename: str):
    entry = PACKAGES.get(package)
    if entry is None:
        abort(404)
    directory, allowed = entry
    if not any(filename == a or (a.endswith("/") and filename.startswith(a)) for a in allowed):
        abort(404)
    base = Path(current_app.config["BPMN_JS_DIR"]) if package == "bpmn-js" else _node_modules() / directory
    return send_from_directory(base, filename, max_age=86400)


@bp.route("/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    return _send("bpmn-js", filename)


@bp.route("/vendor/<package>/<path:filename>")
def asset(package: str, filename: str):
    return _send(package, filename)
