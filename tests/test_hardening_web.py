"""Issue 9, items 5-9 (web and API): what an attacker or a careless user sends gets a
clear 4xx answer, never a 500, a redirect off the site, or a stored bad value."""
from __future__ import annotations

import re

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


# ------------------------------------------- 6. ids, pages, nesting, NUL bytes
BEYOND = [2**31, 10**30]


def _int_routes(app):
    """Every route with an id in its path, as (path template, method, is_api)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if any(type(c).__name__ in ("IntegerConverter", "IdConverter") for c in rule._converters.values()):
            method = "GET" if "GET" in rule.methods else "POST"
            routes.append((rule.rule, method, rule.rule.startswith("/api/")))
    return routes


def test_every_id_route_answers_404_beyond_the_integer_range(runtime):
    app = create_app(runtime, TESTING=True)
    routes = _int_routes(app)
    assert len(routes) >= 15
    browser, api = Browser(app, "aaby.teamleder"), Client(app, runtime, "aaby.teamleder")
    case_id = runtime.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen").case_id
    for template, method, is_api in routes:
        for big in BEYOND:
            path = template
            for name in ("task_id", "case_id", "instance_id", "document_id", "notification_id", "filter_id"):
                path = path.replace(f"<int:{name}>", str(big))
            if is_api:
                response = (api.http.get(path, headers=api._headers()) if method == "GET"
                            else api.http.post(path, json={}, headers=api._headers()))
                assert response.status_code == 404, (path, response.status_code)
                assert response.get_json()["code"] == 404
            else:
                response = browser.get(path) if method == "GET" else browser.post(path)
                assert response.status_code == 404, (path, response.status_code)
                assert "Siden findes ikke" in text(response)
    # an id in range that exists still works
    assert browser.get(f"/sager/{case_id}").status_code == 200
    assert api.get(f"/cases/{case_id}").status_code == 200


def test_pages_beyond_the_range_are_refused(runtime):
    app = create_app(runtime, TESTING=True)
    browser, api = Browser(app, "aaby.sagsbehandler"), Client(app, runtime, "aaby.sagsbehandler")
    for big in BEYOND:
        assert browser.get(f"/?page={big}").status_code == 400
        assert browser.get(f"/beskeder?side={big}").status_code == 400
        for path in (f"/tasks?page={big}", f"/notifications?page={big}"):
            response = api.get(path)
            assert response.status_code == 422
            assert "page" in response.get_json()["errors"]
    assert browser.get("/?page=3").status_code == 200
    assert api.get("/tasks?page=3").get_json()["items"] == []


def _nested(levels):
    return ("[" * levels + "]" * levels).encode()


def test_deeply_nested_json_is_a_bad_request(runtime):
    app = create_app(runtime, TESTING=True)
    api = Client(app, runtime, "aaby.sagsbehandler")
    instance = runtime.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen")
    task = runtime.engine.open_tasks(case_id=instance.case_id)[0]
    deep_data = b'{"data": {"x": ' + _nested(100_000) + b'}, "revision": 1}'
    for path, body in ((f"/tasks/{task.id}/complete", deep_data), ("/cases", _nested(100_000)),
                       (f"/tasks/{task.id}/complete", b'{"data": {"x": ' + _nested(40) + b'}}')):
        response = api.http.post("/api/v1" + path, data=body, content_type="application/json",
                                 headers=api._headers())
        assert response.status_code == 400, path
        assert "nested more than 32 levels" in response.get_json()["message"]
    assert runtime.engine.open_tasks(case_id=instance.case_id)[0].revision == task.revision


def test_nul_bytes_in_names_and_filters_are_a_bad_request(runtime):
    app = create_app(runtime, TESTING=True)
    browser, api = Browser(app, "aaby.teamleder"), Client(app, runtime, "aaby.sagsbehandler")
    sagsbehandler = Browser(app, "aaby.sagsbehandler")
    assert browser.get("/?process=a%00b").status_code == 400
    assert browser.get("/team?role=a%00").status_code == 400
    assert sagsbehandler.post("/filtre", data={"name": "mit\x00filter"}).status_code == 400
    assert sagsbehandler.post("/sager/ny", data={"case_type": "rehabilitering", "cpr": CPR,
                                                 "citizen_name": "Anna\x00"}).status_code == 400
    http = app.test_client()
    csrf = _csrf(text(http.get("/login")))
    assert http.post("/login", data={"username": "aaby.sagsbehandler\x00", "password": "demo",
                                     "csrf_token": csrf}).status_code == 400
    for response in (api.get("/tasks?process=%00"), api.get("/tasks?role=x%00"),
                     api.post("/cases", json={"case_type": "rehabilitering", "cpr": CPR,
                                              "citizen_name": "Anna\u0000Andersen"}),
                     api.post("/cases", json={"case_type": "rehabilitering", "cpr": CPR,
                                              "citizen_name": "Anna \ud800"})):
        assert response.status_code == 400
        assert response.get_json()["code"] == 400
        assert "NUL byte" in response.get_json()["message"] or "surrogate" in response.get_json()["message"]
    with runtime.sessions() as session:
        from processes.models import Case, SavedFilter
        assert session.scalar(select(Case.id)) is None
        assert session.scalar(select(SavedFilter.id)) is None


# -------------------------------------------------------- 7. free text and CPR
LINE = {"id": "note", "type": "string"}
TEXT = {"id": "tekst", "type": "string", "multiline": True}
SHORT = {"id": "kode", "type": "string", "maxlength": 10}
ROUTE = {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "fleksjob", "rute": "team"}
FOREIGN_DIGITS = ["٠١٠١٩٠-١٢٣٤", "۰۱۰۱۹۰-۱۲۳۴", "０１０１９０-１２３４", "010190-12३४", "0101９0-1234"]


def test_free_text_has_a_length_limit_per_field_with_a_default():
    from processes.forms import DEFAULT_MAXLENGTH, DEFAULT_MULTILINE_MAXLENGTH, validate_form
    assert (DEFAULT_MAXLENGTH, DEFAULT_MULTILINE_MAXLENGTH) == (500, 10_000)
    form = [LINE, TEXT, SHORT]
    clean, errors = validate_form(form, {"note": "x" * 500, "tekst": "y" * 10_000, "kode": "z" * 10})
    assert errors == {}
    assert clean == {"note": "x" * 500, "tekst": "y" * 10_000, "kode": "z" * 10}
    clean, errors = validate_form(form, {"note": "x" * 501, "tekst": "y" * 10_001, "kode": "z" * 11})
    assert clean == {}
    assert errors == {"note": ["Højst 500 tegn."], "tekst": ["Højst 10000 tegn."], "kode": ["Højst 10 tegn."]}


def test_free_text_refuses_nul_and_lone_surrogates():
    from processes.forms import validate_form
    for bad in ("a\x00b", "a\ud800b", "\udfff"):
        clean, errors = validate_form([LINE, TEXT], {"note": bad, "tekst": "ok"})
        assert clean == {}
        assert errors == {"note": ["Teksten indeholder et tegn, der ikke kan gemmes (NUL eller ugyldig Unicode)."]}
    clean, errors = validate_form([LINE], {"note": "Æble 😀 ø"})  # a surrogate pair is a real character
    assert errors == {} and clean == {"note": "Æble 😀 ø"}


def test_overlong_or_unstorable_form_text_changes_nothing(runtime):
    from processes.errors import InvalidInput
    instance = runtime.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen")
    task = runtime.engine.open_tasks(case_id=instance.case_id)[0]
    app = create_app(runtime, TESTING=True)
    api = Client(app, runtime, "aaby.sagsbehandler")
    response = api.post(f"/tasks/{task.id}/complete",
                        json={"data": dict(ROUTE, rute_begrundelse="x" * 10_001), "revision": task.revision})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"rute_begrundelse": ["Højst 10000 tegn."]}
    from processes.engine import Actor
    from processes.models import HumanTask, User
    with runtime.sessions() as session:
        user = session.scalar(select(User).where(User.username == "aaby.sagsbehandler"))
        me = Actor.for_user(user)
    for bad in ("x\x00", "x\ud800"):
        with pytest.raises(InvalidInput) as caught:
            runtime.engine.complete_task(task.id, dict(ROUTE, rute_begrundelse=bad), me, revision=task.revision)
        assert set(caught.value.errors) == {"rute_begrundelse"}
    with runtime.sessions() as session:
        row = session.get(HumanTask, task.id)
        assert (row.state, row.revision, row.data, row.completed_by_id) == ("open", task.revision, None, None)


def test_cpr_numbers_are_ascii_digits_only(runtime):
    from processes.errors import InvalidInput
    from processes.models import Case
    app = create_app(runtime, TESTING=True)
    api = Client(app, runtime, "aaby.sagsbehandler")
    browser = Browser(app, "aaby.sagsbehandler")
    for cpr in FOREIGN_DIGITS:
        with pytest.raises(InvalidInput):
            runtime.engine.start_case("aaby", "rehabilitering", cpr, "Anna Andersen")
        response = api.post("/cases", json={"case_type": "rehabilitering", "cpr": cpr, "citizen_name": "Anna"})
        assert response.status_code == 422
        assert set(response.get_json()["errors"]) == {"cpr"}
        page = browser.post("/sager/ny", data={"case_type": "rehabilitering", "cpr": cpr, "citizen_name": "Anna"})
        assert page.status_code == 422 and "CPR-nummeret skal have 10 cifre" in text(page)
    with runtime.sessions() as session:
        assert session.scalar(select(Case.id)) is None
    assert runtime.engine.start_case("aaby", "rehabilitering", "0101901234", "Anna").case_id


def test_citizen_names_are_bounded_and_storable(runtime):
    from processes.errors import InvalidInput
    from processes.models import Case
    app = create_app(runtime, TESTING=True)
    api = Client(app, runtime, "aaby.sagsbehandler")
    response = api.post("/cases", json={"case_type": "rehabilitering", "cpr": CPR, "citizen_name": "A" * 201})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"citizen_name": ["Højst 200 tegn."]}
    for name in ("A" * 201, "Anna\x00", "Anna \udc00"):
        with pytest.raises(InvalidInput):
            runtime.engine.start_case("aaby", "rehabilitering", CPR, name)
    with runtime.sessions() as session:
        assert session.scalar(select(Case.id)) is None
    started = api.post("/cases", json={"case_type": "rehabilitering", "cpr": CPR, "citizen_name": "A" * 200})
    assert started.status_code == 201


# ------------------------------------------------------ 8. sessions and login
class WallClock:
    """The security clock (sessions, throttling, tokens), moved by the test."""

    def __init__(self, monkeypatch):
        from datetime import datetime, timezone
        from inbox import security
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
        monkeypatch.setattr(security, "wall_now", lambda: self.now)

    def advance(self, **delta):
        from datetime import timedelta
        self.now += timedelta(**delta)


def sign_in(app, username, password="demo", address="127.0.0.1"):
    http = app.test_client()
    csrf = _csrf(text(http.get("/login")))
    response = http.post("/login", data={"username": username, "password": password, "csrf_token": csrf},
                         environ_base={"REMOTE_ADDR": address})
    return http, response


def test_a_cookie_captured_before_logout_stops_working(app, rt):
    from processes.models import LoginSession
    browser = Browser(app, "aaby.sagsbehandler")
    captured = browser.http.get_cookie("session").value
    assert browser.get("/").status_code == 200
    with rt.sessions() as session:
        assert len(list(session.scalars(select(LoginSession)))) == 1
    browser.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", captured)
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert thief.get("/api-noegle").status_code == 302
    with rt.sessions() as session:
        assert list(session.scalars(select(LoginSession))) == []
    # a second sign-in is a new session; the first one stays closed
    again = Browser(app, "aaby.sagsbehandler")
    assert again.get("/").status_code == 200 and thief.get("/").status_code == 302


def test_a_session_ends_after_its_lifetime(app, monkeypatch):
    clock = WallClock(monkeypatch)
    browser = Browser(app, "aaby.sagsbehandler")
    clock.advance(hours=11, minutes=59)
    assert browser.get("/").status_code == 200
    clock.advance(minutes=1)
    assert browser.get("/").status_code == 302


def test_failed_logins_are_slowed_then_locked_per_account_and_audited(app, rt, monkeypatch):
    clock = WallClock(monkeypatch)
    statuses = []
    for attempt in range(3):
        statuses.append(sign_in(app, "aaby.sagsbehandler", "forkert")[1].status_code)
    assert statuses == [401, 401, 401]
    # the 4th try right away is refused without checking the password, even a right one
    _, refused = sign_in(app, "aaby.sagsbehandler", "demo")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "For mange forkerte forsøg" in text(refused)
    waits = []
    while len(audits(rt, "user.login_failed")) < 10:
        _, response = sign_in(app, "aaby.sagsbehandler", "forkert")
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock.advance(seconds=waits[-1])
        else:
            assert response.status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60]  # doubling from the 3rd failure, at most a minute
    # ten failures: the account is locked for 15 minutes, the right password included
    clock.advance(minutes=14)
    _, locked = sign_in(app, "aaby.sagsbehandler", "demo")
    assert locked.status_code == 429
    # another account from the same address is not locked
    assert sign_in(app, "aaby.ydelse", "demo")[1].status_code == 302
    clock.advance(minutes=1, seconds=1)
    assert sign_in(app, "aaby.sagsbehandler", "demo")[1].status_code == 302
    failed = audits(rt, "user.login_failed")
    assert len(failed) == 10
    assert failed[0].detail == {"username": "aaby.sagsbehandler", "address": "127.0.0.1"}
    locks = audits(rt, "user.login_locked")
    assert [(e.detail["scope"], e.detail["failures"]) for e in locks] == [("account", 10)]
    assert len(audits(rt, "user.login_throttled")) == len(waits) + 2


def test_failed_logins_are_locked_per_address(app, rt, monkeypatch):
    clock = WallClock(monkeypatch)
    names = iter(f"ingen{n}" for n in range(100))
    failures = 0
    while failures < 30:
        _, response = sign_in(app, next(names), "forkert", address="10.0.0.9")
        if response.status_code == 429:
            clock.advance(seconds=int(response.headers["Retry-After"]))
        else:
            failures += 1
    assert sign_in(app, "aaby.sagsbehandler", "demo", address="10.0.0.9")[1].status_code == 429
    assert sign_in(app, "aaby.sagsbehandler", "demo", address="10.0.0.10")[1].status_code == 302
    locks = audits(rt, "user.login_locked")
    assert [(e.detail["scope"], e.detail["address"], e.detail["failures"]) for e in locks] == [
        ("address", "10.0.0.9", 30)]


def test_api_tokens_expire_and_can_be_listed_and_revoked(app, rt, monkeypatch):
    import re
    from datetime import timedelta
    clock = WallClock(monkeypatch)
    browser = Browser(app, "aaby.sagsbehandler")
    page = browser.post("/api-noegle", data={"name": "Økonomisystem", "days": "30"})
    first = re.search(r'<code id="token">([^<]+)</code>', text(page)).group(1)
    second = re.search(r'<code id="token">([^<]+)</code>',
                       text(browser.post("/api-noegle", data={"name": "Rapport"}))).group(1)
    listing = text(browser.get("/api-noegle"))
    assert "Økonomisystem" in listing and "Rapport" in listing and first not in listing
    api = app.test_client()

    def call(token, path="/api/v1/tokens", method="get"):
        return getattr(api, method)(path, headers={"Authorization": f"Bearer {token}"})

    listed = call(first).get_json()
    assert [(t["name"], t["state"]) for t in listed] == [("Rapport", "aktiv"), ("Økonomisystem", "aktiv")]
    created = {t["name"]: t for t in listed}
    assert created["Økonomisystem"]["expires_at"] == "2026-12-30T09:00:00+00:00"
    assert created["Rapport"]["expires_at"] == "2027-02-28T09:00:00+00:00"  # 90 days by default
    # revoking on the page stops the token at once; others' ids are 404
    other = Client(app, rt, "aaby.ydelse")
    other_id = other.get("/tokens").get_json()[0]["id"]
    assert browser.post(f"/api-noegle/{other_id}/tilbagekald").status_code == 404
    assert call(first, f"/api/v1/tokens/{other_id}/revoke", "post").status_code == 404
    assert other.get("/tasks").status_code == 200
    assert browser.post(f"/api-noegle/{created['Rapport']['id']}/tilbagekald").status_code == 302
    assert call(second).status_code == 401
    assert call(first).status_code == 200
    clock.advance(days=30)
    assert call(first).status_code == 401  # expired
    listing = text(Browser(app, "aaby.sagsbehandler").get("/api-noegle"))
    assert "Udløbet" in listing and "Tilbagekaldt" in listing
    revoked = audits(rt, "user.token_revoke")
    assert [(e.actor, e.detail["name"]) for e in revoked] == [("aaby.sagsbehandler", "Rapport")]


def test_security_headers_on_every_response(app, rt):
    browser = Browser(app, "aaby.sagsbehandler")
    case_id = rt.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen").case_id
    task_id = rt.engine.open_tasks(case_id=case_id)[0].id
    responses = [app.test_client().get("/login"), app.test_client().get("/"),
                 app.test_client().get("/api/v1/openapi.json"), app.test_client().get("/api/v1/tasks"),
                 app.test_client().get("/static/inbox.css"), browser.get("/findes-ikke"),
                 browser.get("/"), browser.get(f"/sager/{case_id}"), browser.get(f"/opgaver/{task_id}"),
                 browser.get("/sager/ny"), browser.get("/api-noegle"), browser.get("/beskeder"),
                 browser.post("/sprog", data={"lang": "en"})]
    for response in responses:
        csp = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'none'"
        assert directives["script-src"] == "'self'" and "unsafe" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers
        body = text(response) if response.mimetype == "text/html" else ""
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), "inline script"
        assert not re.search(r"\s(on[a-z]+|style)=", body), "inline handler or style attribute"


def test_session_cookies_are_secure_over_https(app):
    plain = app.test_client()
    csrf = _csrf(text(plain.get("/login")))
    response = plain.post("/login", data={"username": "aaby.sagsbehandler", "password": "demo", "csrf_token": csrf})
    assert "Secure" not in response.headers["Set-Cookie"]
    secure = app.test_client()
    csrf = _csrf(text(secure.get("/login", base_url="https://localhost")))
    response = secure.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"username": "aaby.sagsbehandler", "password": "demo", "csrf_token": csrf})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_pages_run_under_the_policy_in_a_real_browser(sqlite_runtime):
    """Chromium reports no Content-Security-Policy violation on the pages with scripts
    (inbox, task form, case page with the bpmn-js diagram)."""
    test_browser = pytest.importorskip("browser")
    if not __import__("os").path.exists(test_browser.CHROMIUM):
        pytest.skip(f"no Chromium at {test_browser.CHROMIUM}")
    import threading
    from playwright.sync_api import sync_playwright
    from waitress import create_server
    instance = sqlite_runtime.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen")
    task = sqlite_runtime.engine.open_tasks(case_id=instance.case_id)[0]
    httpd = create_server(create_app(sqlite_runtime), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=httpd.run, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.effective_port}"
    messages = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=test_browser.CHROMIUM, args=test_browser.ARGS)
            page = browser.new_context(locale="da-DK").new_page()
            page.on("console", lambda m: messages.append(m.text))
            test_browser.sign_in(page, base, "aaby.sagsbehandler")
            page.goto(f"{base}/opgaver/{task.id}")
            page.locator("button.datefield-open").first.click()      # the calendar (cally) draws
            page.locator("calendar-date").first.wait_for()
            page.goto(f"{base}/sager/{instance.case_id}")
            page.locator(".diagram[data-ready='true'] svg.diagram-svg").first.wait_for()   # drawn by bpmn-js
            browser.close()
    finally:
        httpd.close()
    assert [m for m in messages if "Content Security Policy" in m] == []


# ------------------------------------------------------------- 9. demo clock
def test_only_an_administrator_moves_the_demo_clock_and_every_move_is_audited(app, rt):
    from processes import timekeeping
    from processes.clock import as_utc
    from datetime import datetime, timezone

    def clock():
        with rt.sessions() as session:
            return timekeeping.now(session)

    start = clock()
    assert start == datetime(2027, 1, 4, 8, 0, tzinfo=timezone.utc)
    caseworker, lead = Browser(app, "aaby.sagsbehandler"), Browser(app, "aaby.teamleder")
    assert "Demo-ur:" not in text(caseworker.get("/"))
    for browser in (caseworker, lead):
        assert browser.post("/ur", data={"step": "1u"}).status_code == 403
    assert clock() == start and audits(rt, "clock.advance") == []
    admin = Browser(app, "aaby.admin")
    assert "Demo-ur:" in text(admin.get("/"))
    assert admin.post("/ur", data={"step": "1u"}).status_code == 302
    assert admin.post("/ur", data={"step": "1d"}).status_code == 302
    assert clock() == datetime(2027, 1, 12, 8, 0, tzinfo=timezone.utc)
    moves = audits(rt, "clock.advance")
    assert [(e.actor, e.municipality_id is not None, as_utc(datetime.fromisoformat(e.detail["from"])),
             as_utc(datetime.fromisoformat(e.detail["to"]))) for e in moves] == [
        ("aaby.admin", True, datetime(2027, 1, 4, 8, 0, tzinfo=timezone.utc), datetime(2027, 1, 11, 8, 0, tzinfo=timezone.utc)),
        ("aaby.admin", True, datetime(2027, 1, 11, 8, 0, tzinfo=timezone.utc), datetime(2027, 1, 12, 8, 0, tzinfo=timezone.utc)),
    ]
