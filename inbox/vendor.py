"""Front-end libraries from node_modules (installed by ``npm ci``), served without
copying them into the repository. Each package exposes only the files listed here;
anything else is 404.

To serve another library: add it to package.json, then add an entry to ``PACKAGES``
(URL name → directory under node_modules and the files or folders (ending in ``/``)
that pages may load). Pages link to them with ``url_for('vendor.asset', package=...,
filename=...)``.

Caching: ``url_for`` adds ``?v=`` to every link to the application's static files (a
digest of the file) and to these libraries (the package's version), and a request whose
``v`` is the current one is answered with ``Cache-Control: public, max-age=31536000,
immutable``: a browser that has the file never asks again, not even to revalidate (before,
every page view asked for ``inbox.css`` and ``diagram.js`` again before it could be shown).
A changed file gets a new URL; a request without ``v``, or with an old one, is answered
as before (revalidated each time)."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, request, send_from_directory

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
    versioned = request.args.get("v") and request.args.get("v") == _package_version(str(base))
    return send_from_directory(base, filename, max_age=YEAR if versioned else 86400)


@bp.route("/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    return _send("bpmn-js", filename)


@bp.route("/vendor/<package>/<path:filename>")
def asset(package: str, filename: str):
    return _send(package, filename)


YEAR = 365 * 24 * 3600


@lru_cache(maxsize=16)
def _package_version(dist: str) -> str:
    """The installed version of the package whose files are in ``dist`` (its package.json)."""
    for folder in (Path(dist), *Path(dist).parents[:2]):
        manifest = folder / "package.json"
        if manifest.is_file():
            return str(json.loads(manifest.read_text(encoding="utf-8")).get("version") or "0")
    return "0"


@lru_cache(maxsize=512)
def _file_version(folder: str, filename: str) -> str:
    """A short digest of a static file's content ("0" if there is no such file)."""
    path = Path(folder) / filename
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"


def register(app: Flask) -> None:
    """Versioned links to static files and libraries, cached by browsers for a year."""

    @app.url_defaults
    def version(endpoint: str, values: dict) -> None:
        if "v" in values or "filename" not in values:
            return
        if endpoint == "static":
            values["v"] = _file_version(app.static_folder, values["filename"])
        elif endpoint == "vendor.bpmn_js":
            values["v"] = _package_version(app.config["BPMN_JS_DIR"])
        elif endpoint == "vendor.asset" and values.get("package") in PACKAGES:
            package = values["package"]
            base = (Path(app.config["BPMN_JS_DIR"]) if package == "bpmn-js"
                    else Path(app.config["BPMN_JS_DIR"]).parent.parent / PACKAGES[package][0])
            values["v"] = _package_version(str(base))

    default_max_age = app.get_send_file_max_age

    def max_age(filename: str | None) -> int | None:
        if request.endpoint == "static" and filename and request.args.get("v") == _file_version(app.static_folder,
                                                                                                 filename):
            return YEAR
        return default_max_age(filename)
    app.get_send_file_max_age = max_age

    @app.after_request
    def immutable(response):
        if response.cache_control.max_age == YEAR:
            response.cache_control.immutable = True
        return response
