"""What makes a repeated page view cheap without changing what it shows: versioned static
files and libraries cached by the browser for a year (immutable), the timeline's date and
time formatted without Babel's per-call cost, and the templates' translations looked up
once per request (same text as Flask-Babel's own)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from flask import render_template_string
from flask_babel import force_locale, format_datetime, gettext

from inbox import create_app
from inbox.formatting import case_type_name, local_datetime
from test_inbox import Browser, text


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def test_static_files_and_libraries_have_versioned_urls_cached_for_a_year(app):
    client = app.test_client()
    page = text(client.get("/login"))
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert any(link.startswith("/static/inbox.css?v=") for link in links), links
    for link in links:
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", link
    # without the version, or with an old one, the file is revalidated as before
    for stale in ("/static/inbox.css", "/static/inbox.css?v=0123456789ab"):
        response = client.get(stale)
        assert response.status_code == 200 and "immutable" not in response.headers["Cache-Control"]
        assert "no-cache" in response.headers["Cache-Control"]
    with app.test_request_context():
        from flask import url_for
        viewer = url_for("vendor.bpmn_js", filename="bpmn-navigated-viewer.production.min.js")
    assert re.fullmatch(r"/vendor/bpmn-js/bpmn-navigated-viewer\.production\.min\.js\?v=[0-9][0-9.]*", viewer)
    assert client.get(viewer).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "immutable" not in client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js") \
        .headers["Cache-Control"]


def test_case_page_links_its_script_versioned(app, sqlite_runtime):
    case_id = sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen").case_id
    page = text(Browser(app, "aaby.sagsbehandler").get(f"/sager/{case_id}"))
    assert re.search(r'<script src="/static/diagram\.js\?v=[0-9a-f]{12}" defer>', page)
    assert re.search(r'data-viewer="/vendor/bpmn-js/bpmn-navigated-viewer\.production\.min\.js\?v=', page)


@pytest.mark.parametrize("locale", ["da", "en"])
def test_local_datetime_is_what_babel_gives(app, locale):
    """Every month, both sides of both daylight-saving changes, midnight and a naive
    (UTC) value: the hand-made text equals Flask-Babel's format_datetime."""
    pattern = "d. MMM y HH:mm" if locale == "da" else "d MMM y HH:mm"
    moments = [datetime(2025, month, day, hour, 7, tzinfo=timezone.utc)
               for month in range(1, 13) for day, hour in ((1, 0), (15, 23))]
    moments += [datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc) + timedelta(minutes=30 * i) for i in range(6)]
    moments += [datetime(2026, 10, 25, 0, 0, tzinfo=timezone.utc) + timedelta(minutes=30 * i) for i in range(6)]
    moments += [datetime(2027, 12, 31, 23, 59), datetime(2028, 2, 29, 9, 5)]   # naive: UTC
    with app.test_request_context(), force_locale(locale):
        for moment in moments:
            assert local_datetime(moment) == format_datetime(moment, pattern), moment
        assert local_datetime(None) == ""


def test_templates_translate_as_flask_babel_does_also_under_force_locale(app):
    template = '{{ _("Opgave udført") }}|{{ _("Nået %(d)s", d="1") }}|{{ "fleksjob"|case_type }}|{{ "ok"|due_label }}'
    with app.test_request_context():
        danish = render_template_string(template)
        with force_locale("en"):
            english = render_template_string(template)
            assert case_type_name("fleksjob") == gettext("Fleksjob")
        again = render_template_string(template)
    assert danish == again == "Opgave udført|Nået 1|Fleksjob|I god tid"
    assert english == "Task done|Met 1|Flex job|On time", english
