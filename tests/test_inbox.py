"""The caseworker's pages as a browser sees them (Flask test client): sign-in with CSRF,
the inbox with filters, saved filters and claiming, the task form with Danish field
errors and stale-submission conflicts, the teamleder's reassignment, the case page
(audited), starting a case, language, and isolation between municipalities and roles."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inbox import create_app
from processes.engine import Actor
from processes.models import AuditEvent, HumanTask, SavedFilter, User

CPR = "010190-1234"
ROUTE_FORM = {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "fleksjob", "rute": "team"}


class Browser:
    """A signed-in user's test client that sends the page's CSRF token with each form."""

    def __init__(self, app, username, password="demo"):
        self.http = app.test_client()
        self.csrf = _csrf(self.http.get("/login").get_data(as_text=True))
        self.login = self.http.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": self.csrf})
        if self.login.status_code == 302:
            # follow: a user with a one-time password lands on the password page
            self.csrf = _csrf(self.http.get("/", follow_redirects=True).get_data(as_text=True))

    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def post(self, path, data=None, **kw):
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kw)


def _csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def text(response):
    return response.get_data(as_text=True)


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


@pytest.fixture
def rt(sqlite_runtime):
    return sqlite_runtime


def start(rt, municipality="aaby", cpr=CPR, name="Anna Andersen"):
    instance = rt.engine.start_case(municipality, "rehabilitering", cpr, name)
    return instance.case_id, rt.engine.open_tasks(case_id=instance.case_id)[0]


def actor(rt, username):
    with rt.sessions() as session:
        return Actor.for_user(session.scalar(select(User).where(User.username == username)))


# ---------------------------------------------------------------------- login
def test_sign_in_needs_the_right_password_and_a_csrf_token(app, rt):
    assert app.test_client().get("/").headers["Location"].startswith("/login")
    wrong = Browser(app, "aaby.sagsbehandler", "forkert")
    assert wrong.login.status_code == 401 and "Forkert brugernavn eller adgangskode" in text(wrong.login)
    assert Browser(app, "ingen.bruger").login.status_code == 401
    no_token = app.test_client().post("/login", data={"username": "aaby.sagsbehandler", "password": "demo"})
    assert no_token.status_code == 400
    ok = Browser(app, "aaby.sagsbehandler")
    assert ok.login.status_code == 302
    assert "Min indbakke" in text(ok.get("/"))
    with rt.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "aaby.sagsbehandler"))
    assert stored.startswith("$argon2")
    ok.post("/logout")
    assert ok.get("/").status_code == 302


@pytest.mark.parametrize("username, where, heading", [
    ("aaby.leder", "/analytik/", "Overblik: "), ("aaby.procesdesigner", "/studio/", "Processtudie"),
    ("aaby.sagsbehandler", "/", "Min indbakke"), ("aaby.teamleder", "/", "Min indbakke")])
def test_each_role_starts_on_its_own_page_after_signing_in(app, username, where, heading):
    """A leder or procesdesigner has no tasks: they start on the Overblik and in the studio,
    not on an empty inbox."""
    me = Browser(app, username)
    assert me.login.status_code == 302 and me.login.headers["Location"] == where
    assert f"<h1>{heading}" in text(me.get(where))


def test_a_leder_with_an_inbox_role_starts_on_the_inbox_and_next_is_followed(app, rt):
    from processes.models import UserRole
    with rt.sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == "aaby.leder"))
        user.roles.append(UserRole(role_key="sagsbehandler"))
    assert Browser(app, "aaby.leder").login.headers["Location"] == "/"
    client = app.test_client()
    token = _csrf(text(client.get("/login?next=/sager/ny")))
    answer = client.post("/login?next=/beskeder", data={"username": "aaby.procesdesigner", "password": "demo",
                                                         "csrf_token": token})
    assert answer.headers["Location"] == "/beskeder"


def test_forms_without_the_csrf_token_change_nothing(app, rt):
    case_id, task = start(rt)
    me = Browser(app, "aaby.sagsbehandler")
    refused = me.http.post(f"/opgaver/{task.id}/tag", data={})
    assert refused.status_code == 400
    with rt.sessions() as session:
        assert session.get(HumanTask, task.id).claimed_by_id is None


# ---------------------------------------------------------------------- inbox
def test_inbox_shows_my_roles_in_my_municipality_with_masked_cpr(app, rt):
    start(rt)
    start(rt, "boegeby", "020285-4321", "Bent Bertelsen")
    page = text(Browser(app, "aaby.sagsbehandler").get("/"))
    assert "Anna Andersen" in page and "010190-XXXX" in page and CPR not in page
    assert "Bent Bertelsen" not in page
    assert "Ingen åbne opgaver" in text(Browser(app, "aaby.sundhedskoordinator").get("/"))


def test_claim_filter_save_and_delete_a_filter(app, rt):
    _, task = start(rt)
    start(rt, cpr="020285-4321", name="Bent Bertelsen")
    me = Browser(app, "aaby.sagsbehandler")
    claimed = me.post(f"/opgaver/{task.id}/tag", data={"next": "/"}, follow_redirects=True)
    assert "Du har taget opgaven" in text(claimed)
    mine = text(me.get("/?claim=mine"))
    assert "Anna Andersen" in mine and "Bent Bertelsen" not in mine

    me.post("/filtre", data={"name": "Mine opgaver", "claim": "mine"})
    with rt.sessions() as session:
        saved = session.scalar(select(SavedFilter))
    assert (saved.name, saved.query) == ("Mine opgaver", {"claim": "mine"})
    page = text(me.get("/"))
    assert 'href="/?claim=mine">Mine opgaver</a>' in page
    assert text(Browser(app, "aaby.admin").get("/")).count("Mine opgaver") == 0  # filters are personal
    me.post(f"/filtre/{saved.id}/slet")
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SavedFilter)) == 0


def test_inbox_sorts_and_pages(app, rt):
    for i, name in enumerate(["Cecilie", "Anna", "Bent"]):
        start(rt, cpr=f"01019{i}-1234", name=name)
    app.config["INBOX_PAGE_SIZE"] = 2
    me = Browser(app, "aaby.sagsbehandler")
    first = text(me.get("/?sort=borger"))
    assert first.index(">Anna<") < first.index(">Bent<") and ">Cecilie<" not in first
    assert "Side 1 af 2" in first
    assert ">Cecilie<" in text(me.get("/?sort=borger&page=2"))
    assert text(me.get("/?sort=borger&dir=desc")).index(">Cecilie<") < text(me.get("/?sort=borger&dir=desc")).index(">Bent<")


# ---------------------------------------------------------------------- tasks
def test_task_form_shows_danish_field_errors_then_completes(app, rt):
    case_id, task = start(rt)
    me = Browser(app, "aaby.sagsbehandler")
    page = text(me.get(f"/opgaver/{task.id}"))
    assert '<label for="felt-rute">Rute' in page and 'name="revision" value="1"' in page
    bad = me.post(f"/opgaver/{task.id}", data={"revision": "1", "rute": "team"})
    assert bad.status_code == 422
    assert 'id="fejlopsummering"' in text(bad) and "Nuværende ydelse: Feltet skal udfyldes." in text(bad)
    assert 'aria-invalid="true"' in text(bad) and 'value="team" selected' in text(bad)
    done = me.post(f"/opgaver/{task.id}", data={"revision": "1", **ROUTE_FORM}, follow_redirects=True)
    assert "Opgaven »Vurdér målgruppe og rute« er afsluttet." in text(done)
    assert "Næste opgave: »Planlæg forberedelsen med borgeren« er lagt i din indbakke." in text(done)
    with rt.sessions() as session:
        assert session.get(HumanTask, task.id).state == "completed"
        views = session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "task.view")).all()
    assert views == ["aaby.sagsbehandler"]


def test_next_task_for_another_role_is_announced_and_lands_in_their_inbox(app, rt):
    case_id, task = start(rt)
    rt.engine.complete_task(task.id, ROUTE_FORM, actor(rt, "aaby.sagsbehandler"))
    plan = rt.engine.open_tasks(case_id=case_id)[0]
    me = Browser(app, "aaby.sagsbehandler")
    done = me.post(f"/opgaver/{plan.id}", data={"revision": "1", "sundhedskoordinator_raadgivning": "true",
                                                  "samtykke_deling": "givet"},
                   follow_redirects=True)
    assert "lagt i indbakken for Sundhedskoordinator" in text(done)
    assert "Giv sundhedsfaglig rådgivning" in text(Browser(app, "aaby.sundhedskoordinator").get("/"))


def test_a_stale_form_gets_a_conflict_and_the_task_is_completed_once(app, rt):
    case_id, task = start(rt)
    me = Browser(app, "aaby.sagsbehandler")
    me.get(f"/opgaver/{task.id}")  # form rendered at revision 1
    rt.engine.complete_task(task.id, ROUTE_FORM, actor(rt, "aaby.sagsbehandler"))  # e.g. in another tab
    late = me.post(f"/opgaver/{task.id}", data={"revision": "1", **ROUTE_FORM})
    assert late.status_code == 409
    assert "Opgaven er ændret" in text(late) and 'id="konflikt"' in text(late)
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "task.complete")) == 1
        assert session.scalar(select(func.count()).select_from(HumanTask)
                              .where(HumanTask.bpmn_id == "planlaeg_forberedelse")) == 1


def test_a_form_opened_before_someone_claimed_the_task_is_refused(app, rt):
    _, task = start(rt)
    me = Browser(app, "aaby.sagsbehandler")
    me.get(f"/opgaver/{task.id}")
    rt.engine.claim_task(task.id, actor(rt, "aaby.sagsbehandler"))  # revision 1 -> 2
    late = me.post(f"/opgaver/{task.id}", data={"revision": "1", **ROUTE_FORM})
    assert late.status_code == 409
    assert 'name="revision" value="2"' in text(late) and 'value="team" selected' in text(late)
    ok = me.post(f"/opgaver/{task.id}", data={"revision": "2", **ROUTE_FORM})
    assert ok.status_code == 302


def test_teamleder_reassigns_from_the_team_page(app, rt):
    _, task = start(rt)
    lead = Browser(app, "aaby.teamleder")
    team = text(lead.get("/team"))
    assert "Anna Andersen" in team and 'name="username"' in team
    lead.post(f"/opgaver/{task.id}/fordel", data={"username": "aaby.sagsbehandler", "next": "/team"})
    with rt.sessions() as session:
        assert session.get(User, session.get(HumanTask, task.id).claimed_by_id).username == "aaby.sagsbehandler"
    assert Browser(app, "aaby.sagsbehandler").get("/team").status_code == 403
    assert Browser(app, "boegeby.teamleder").post(
        f"/opgaver/{task.id}/fordel", data={"username": "boegeby.sagsbehandler"}).status_code == 404


# ---------------------------------------------------------------------- cases
def test_case_page_shows_everything_and_is_audited(app, rt):
    case_id, task = start(rt)
    rt.engine.complete_task(task.id, ROUTE_FORM, actor(rt, "aaby.sagsbehandler"))
    plan = rt.engine.open_tasks(case_id=case_id)[0]
    rt.engine.complete_task(plan.id, {"laegeattest_noedvendig": True, "samtykke_deling": "givet"},
                          actor(rt, "aaby.sagsbehandler"))
    page = text(Browser(app, "aaby.sagsbehandler").get(f"/sager/{case_id}"))
    assert "Anna Andersen" in page and "Vurdér målgruppe og rute" in page
    assert "Sagsbehandler (myndighed) (Aaby)" in page  # who completed it
    assert "18. jan. 2027" in page  # the LÆ 265 deadline
    marks = re.search(r"data-marks='([^']+)'", page).group(1)
    import json
    marks = json.loads(marks)
    assert "indhent_laegeattest" in marks["current"] and marks["done"] == ["planlaeg_forberedelse", "vurder_rute"]
    xml = Browser(app, "aaby.sagsbehandler").get(f"/sager/{case_id}/forloeb/{task.instance_id}/diagram.bpmn")
    assert xml.status_code == 200 and b'id="indhent_laegeattest"' in xml.data
    with rt.sessions() as session:
        views = session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "case.view")).all()
    assert views == ["aaby.sagsbehandler"]


def test_start_a_case_from_the_ui(app, rt):
    me = Browser(app, "aaby.sagsbehandler")
    bad = me.post("/sager/ny", data={"case_type": "rehabilitering", "cpr": "123", "citizen_name": ""})
    assert bad.status_code == 422
    assert "CPR-nummeret skal have 10 cifre" in text(bad) and "Skriv borgerens navn." in text(bad)
    ok = me.post("/sager/ny", data={"case_type": "rehabilitering", "cpr": "0101901234",
                                    "citizen_name": "Anna Andersen", "age": "44"})
    assert ok.status_code == 302 and "/sager/" in ok.headers["Location"]
    assert "Anna Andersen" in text(me.get(ok.headers["Location"]))
    assert Browser(app, "aaby.ydelse").get("/sager/ny").status_code == 403


def test_pages_isolate_municipalities_and_roles(app, rt):
    case_id, task = start(rt)
    foreign = Browser(app, "boegeby.sagsbehandler")
    outsider = Browser(app, "aaby.ydelse")
    for path in (f"/opgaver/{task.id}", f"/sager/{case_id}",
                 f"/sager/{case_id}/forloeb/{task.instance_id}/diagram.bpmn"):
        assert foreign.get(path).status_code == 404, path
        assert outsider.get(path).status_code == 403, path
        assert "Anna" not in text(foreign.get(path)) and "Anna" not in text(outsider.get(path))
    for action in ("tag", "slip"):
        assert foreign.post(f"/opgaver/{task.id}/{action}").status_code == 404
        assert outsider.post(f"/opgaver/{task.id}/{action}").status_code == 403
    assert foreign.post(f"/opgaver/{task.id}", data={"revision": "1", **ROUTE_FORM}).status_code == 404
    assert outsider.post(f"/opgaver/{task.id}", data={"revision": "1", **ROUTE_FORM}).status_code == 403
    with rt.sessions() as session:
        after = session.get(HumanTask, task.id)
        assert (after.state, after.claimed_by_id) == ("open", None)


# ---------------------------------------------------------- language, assets
def test_danish_by_default_english_on_request(app, rt):
    me = Browser(app, "aaby.sagsbehandler")
    page = text(me.get("/"))
    assert '<html lang="da">' in page and "Min indbakke" in page and "Gå til indhold" in page
    me.post("/sprog", data={"lang": "en", "next": "/"})
    english = text(me.get("/"))
    assert '<html lang="en">' in english and "My inbox" in english and "Skip to content" in english


def test_api_token_page_issues_a_working_token(app, rt):
    me = Browser(app, "aaby.sagsbehandler")
    token = re.search(r'<code id="token">([^<]+)</code>', text(me.post("/api-noegle"))).group(1)
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_bpmn_js_is_served_from_node_modules_and_nothing_else(app):
    client = app.test_client()
    viewer = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert viewer.status_code == 200 and b"BpmnJS" in viewer.data[:200000]
    assert client.get("/vendor/bpmn-js/assets/bpmn-js.css").status_code == 200
    assert client.get("/vendor/bpmn-js/../../package.json").status_code == 404
    assert client.get("/vendor/bpmn-js/bpmn-modeler.development.js").status_code == 404
