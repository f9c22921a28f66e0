"""Sagsflow's web application: the caseworker inbox, task and case pages, REST API.

``create_app(target)`` takes a :class:`processes.runtime.Runtime` or a database URL
(default: ``SAGSFLOW_DATABASE_URL``). Every page and endpoint is scoped to the signed-in
user's municipality and roles; see :mod:`inbox.access`.
"""
from __future__ import annotations

import gc
import os
import secrets

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from processes.runtime import Runtime, open_runtime

csrf = CSRFProtect()


def freeze_startup_objects() -> None:
    """Take what start-up allocated (modules, SQLAlchemy's mappings, Flask and Babel, about
    140,000 objects) out of the garbage collector's generations (``gc.freeze``), after a
    last collection: a full collection then scans only what requests and the worker
    allocate. Without it, every full collection re-scans them all (about 90 ms on the
    shared 2-core machines), which is the p95 tail of the manager pages
    (``docs/benchmarks.md``, manager comparison, run 9). Call once, after
    :func:`create_app`, before serving (``sagsflow run``)."""
    gc.collect()
    gc.freeze()


def create_app(target: Runtime | str | None = None, **config) -> Flask:
    runtime = target if isinstance(target, Runtime) else open_runtime(target)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("SAGSFLOW_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE="da",
        BABEL_DEFAULT_TIMEZONE="Europe/Copenhagen",
        WTF_CSRF_TIME_LIMIT=None,
        INBOX_PAGE_SIZE=25,
        BPMN_JS_DIR=str(_node_modules() / "bpmn-js" / "dist"),
    )
    app.config.update(config)
    app.extensions["sagsflow"] = runtime

    from inbox import i18n
    Babel(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)

    from inbox import (
        admin, analytics, api, auth, case_search, cases, drawings, errors, formatting, limits, notifications, pages, security,
        simulation, studio,
        tasks,
        vendor,
    )
    limits.register(app)  # before the blueprints: it bounds their <int:...> ids
    security.register(app)
    formatting.register(app)
    errors.register(app)
    vendor.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(drawings.bp)
    app.register_blueprint(case_search.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(vendor.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(simulation.bp)
    app.register_blueprint(studio.bp)
    api.register(app)
    csrf.exempt(api.blp)
    return app


def _node_modules():
    """Where ``npm ci`` put the front-end libraries: ``SAGSFLOW_NODE_MODULES``, else the
    source checkout's ``node_modules``, else ``node_modules`` in the working directory.
    Without bpmn-js the case page says the diagram cannot be shown; nothing else needs it."""
    from pathlib import Path
    from processes.library import REPO_ROOT
    configured = os.environ.get("SAGSFLOW_NODE_MODULES")
    if configured:
        return Path(configured)
    checkout = REPO_ROOT / "node_modules"
    return checkout if checkout.is_dir() else Path.cwd() / "node_modules"
