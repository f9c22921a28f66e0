"""bpmn-js from node_modules (installed by ``npm install``), served without copying it
into the repository. Only the viewer bundle and its stylesheets are exposed."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__)
ALLOWED = ("bpmn-navigated-viewer.production.min.js", "assets/")


def bpmn_js_available() -> bool:
    return (Path(current_app.config["BPMN_JS_DIR"]) / ALLOWED[0]).is_file()


@bp.route("/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    if not any(filename == a or (a.endswith("/") and filename.startswith(a)) for a in ALLOWED):
        abort(404)
    return send_from_directory(current_app.config["BPMN_JS_DIR"], filename, max_age=86400)
