"""Issue 9, items 5-9 (web and API): what an attacker or a careless user sends gets a
clear 4xx answer, never a 500, a redirect off the site, or a stored bad value."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox import create_app
from processes.models import AuditEvent
from test_api import Client
from test_inbox import Browser, _csrf, text

CPR = "010190-1234"


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


@pytest.fixture
def rt(sqlite_runtime):
    return sqlite_runtime


def audits(rt, action):
    with rt.sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


# ------------------------------------------------------------ 5. open redirect
OFF_SITE = ["/\t/evil.example", "//evil.example", "/\\evil.example", "/\\/evil.example",
            "https://evil.example/", "/\n/evil.example", "/ /evil.example", "javascript:alert(1)",
            "/\u3000/evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_follows_only_same_site_paths(app, target):
    http = app.test_client()
    csrf = _csrf(text(http.get("/login")))
    response = http.post("/login", query_string={"next": target},
                         data={"username": "aaby.sagsbehandler", "password": "demo", "csrf_token": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_language_switch_follows_only_same_site_paths(app, target):
    browser = Browser(app, "aaby.sagsbehandler")
    response = browser.post("/sprog", data={"lang": "en", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_same_site_next_is_still_followed(app):
    browser = Browser(app, "aaby.sagsbehandler")
    response = browser.post("/sprog", data={"lang": "en", "next": "/?process=rehabilitering&sort=borger"})
    assert response.headers["Location"] == "/?process=rehabilitering&sort=borger"
