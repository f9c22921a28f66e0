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
