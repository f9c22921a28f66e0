"""The REST API (/api/v1) as another system uses it, on SQLite and PostgreSQL: bearer
tokens, the inbox, task forms, claim/unclaim/complete with conflicts, case detail,
starting a case, the OpenAPI document, JSON errors with the right codes, and the
isolation matrix (every endpoint × another municipality × a missing role)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from inbox import create_app
from inbox.tokens import issue_token
from processes import timekeeping
from processes.models import AuditEvent, Document, HumanTask, Municipality, User, UserRole

CPR_A, CPR_B = "010190-1234", "020285-4321"
ROUTE_FORM = {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "fleksjob", "rute": "team"}


class Client:
    """The API as one user sees it, with that user's bearer token."""

    def __init__(self, app, runtime, username):
        self.http = app.test_client()
        self.username = username
        with runtime.sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            self.token = issue_token(session, user)

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path, **kw):
        return self.http.get("/api/v1" + path, headers=self._headers(), **kw)

    def post(self, path, json=None, **kw):
        return self.http.post("/api/v1" + path, json=json, headers=self._headers(), **kw)


def add_user(runtime, username, municipality="aaby", roles=("sagsbehandler",)):
    with runtime.sessions.begin() as session:
        mid = session.scalar(select(Municipality.id).where(Municipality.key == municipality))
        user = User(municipality_id=mid, username=username, full_name=username, password_hash=None,
                    created_at=timekeeping.now(session))
        user.roles = [UserRole(role_key=r) for r in roles]
        session.add(user)


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


@pytest.fixture
def as_user(app, runtime):
    clients = {}

    def get(username):
        if username not in clients:
            clients[username] = Client(app, runtime, username)
        return clients[username]
    return get


def first_task(runtime, case_id):
    return runtime.engine.open_tasks(case_id=case_id)[0]


def audits(runtime, action, **where):
    with runtime.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list(session.scalars(query))


# --------------------------------------------------------------------- tokens
def test_openapi_document_lists_every_operation(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert set(paths["/api/v1/tasks"]) == {"get"}
    assert "get" in paths["/api/v1/tasks/{task_id}"]
    for action in ("claim", "unclaim", "complete", "reassign"):
        assert "post" in paths[f"/api/v1/tasks/{{task_id}}/{action}"]
    assert "get" in paths["/api/v1/cases/{case_id}"] and "post" in paths["/api/v1/cases"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    complete = paths["/api/v1/tasks/{task_id}/complete"]["post"]
    assert {"200", "409", "422"} <= set(complete["responses"])


def test_a_request_without_a_valid_token_is_refused_with_401(app, runtime, as_user):
    http = app.test_client()
    for headers in ({}, {"Authorization": "Bearer sf_wrong"}, {"Authorization": "Basic abc"}):
        response = http.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["code"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    old = as_user("aaby.sagsbehandler")
    assert old.get("/tasks").status_code == 200
    with runtime.sessions.begin() as session:  # a user may hold several tokens
        issue_token(session, session.scalar(select(User).where(User.username == "aaby.sagsbehandler")))
    assert old.get("/tasks").status_code == 200
    mine = old.get("/tokens").get_json()
    assert len(mine) == 2
    assert old.post(f"/tokens/{mine[-1]['id']}/revoke").get_json()["state"] == "tilbagekaldt"
    assert old.get("/tasks").status_code == 401  # a revoked token stops working


# ---------------------------------------------------------------------- inbox
def test_task_list_is_my_municipality_and_roles_with_filters_sort_and_paging(runtime, as_user):
    a1 = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    a2 = runtime.engine.start_case("aaby", "rehabilitering", CPR_B, "Bent Bertelsen")
    runtime.engine.start_case("boegeby", "rehabilitering", "030375-1111", "Carl Carlsen")
    me = as_user("aaby.sagsbehandler")
    body = me.get("/tasks").get_json()
    assert body["total"] == 2
    assert {t["case_id"] for t in body["items"]} == {a1.case_id, a2.case_id}
    assert {t["cpr"] for t in body["items"]} == {"010190-XXXX", "020285-XXXX"}
    assert all(t["due_state"] == "ingen" and t["role"] == "sagsbehandler" for t in body["items"])

    by_citizen = me.get("/tasks?sort=borger&dir=desc").get_json()["items"]
    assert [t["citizen"] for t in by_citizen] == ["Bent Bertelsen", "Anna Andersen"]
    page2 = me.get("/tasks?per_page=1&page=2&sort=borger").get_json()
    assert (page2["total"], page2["pages"], page2["items"][0]["citizen"]) == (2, 2, "Bent Bertelsen")

    task = first_task(runtime, a1.case_id)
    me.post(f"/tasks/{task.id}/claim")
    mine = me.get("/tasks?claim=mine").get_json()["items"]
    assert [t["id"] for t in mine] == [task.id] and mine[0]["claimed_by"] == "aaby.sagsbehandler"
    assert me.get("/tasks?claim=ledige").get_json()["total"] == 1
    assert me.get("/tasks?process=fleksjob").get_json()["total"] == 0
    assert me.get("/tasks?due=overskredet").get_json()["total"] == 0
    assert me.get("/tasks?due=ingen").get_json()["total"] == 2
    assert as_user("aaby.sundhedskoordinator").get("/tasks").get_json()["total"] == 0
    bad = me.get("/tasks?due=igaar&page=0")
    assert bad.status_code == 422 and {"due", "page"} <= set(bad.get_json()["errors"])


def test_due_states_follow_the_clock(runtime, as_user):
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    actor = _actor(runtime, "aaby.sagsbehandler")
    runtime.engine.complete_task(first_task(runtime, case.case_id).id, ROUTE_FORM, actor)
    runtime.engine.complete_task(first_task(runtime, case.case_id).id, {"laegeattest_noedvendig": True, "samtykke_deling": "givet"}, actor)
    me = as_user("aaby.sagsbehandler")
    states = {t["task"]: t["due_state"] for t in me.get("/tasks").get_json()["items"]}
    assert states["indhent_laegeattest"] == "ok"  # due in two weeks
    from datetime import timedelta
    runtime.engine.advance_clock(timedelta(days=8), fire=False)
    assert {t["task"]: t["due_state"] for t in me.get("/tasks").get_json()["items"]}["indhent_laegeattest"] == "snart"
    runtime.engine.advance_clock(timedelta(days=7))
    overdue = me.get("/tasks?due=overskredet").get_json()["items"]
    assert [t["task"] for t in overdue] == ["indhent_laegeattest"]


def _actor(runtime, username):
    from processes.engine import Actor
    with runtime.sessions() as session:
        return Actor.for_user(session.scalar(select(User).where(User.username == username)))


# ---------------------------------------------------------------------- tasks
def test_get_task_gives_the_form_schema_and_is_audited(runtime, as_user):
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    body = as_user("aaby.sagsbehandler").get(f"/tasks/{task.id}").get_json()
    assert (body["name"], body["state"], body["revision"], body["cpr"]) == (
        "Vurdér målgruppe og rute", "open", 1, "010190-XXXX")
    fields = {f["id"]: f for f in body["form"]}
    assert fields["rute"]["type"] == "enum" and fields["rute"]["required"] is True
    assert "team" in [o["id"] for o in fields["rute"]["options"]]
    assert fields["rute_begrundelse"]["type"] == "string" and fields["rute_begrundelse"]["required"] is False
    assert [a.actor for a in audits(runtime, "task.view", case_id=case.case_id)] == ["aaby.sagsbehandler"]


def test_claim_and_unclaim_with_conflicts(runtime, as_user):
    add_user(runtime, "aaby.kollega")
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    me, colleague = as_user("aaby.sagsbehandler"), as_user("aaby.kollega")
    claimed = me.post(f"/tasks/{task.id}/claim")
    assert claimed.status_code == 200
    assert (claimed.get_json()["claimed_by"], claimed.get_json()["revision"]) == ("aaby.sagsbehandler", 2)
    assert colleague.post(f"/tasks/{task.id}/claim").status_code == 409
    assert colleague.post(f"/tasks/{task.id}/unclaim").status_code == 409
    refused = colleague.post(f"/tasks/{task.id}/complete", json={"data": ROUTE_FORM})
    assert refused.status_code == 409 and refused.get_json()["code"] == 409
    released = me.post(f"/tasks/{task.id}/unclaim")
    assert released.status_code == 200 and released.get_json()["claimed_by"] is None
    assert colleague.post(f"/tasks/{task.id}/claim").status_code == 200
    assert [a.actor for a in audits(runtime, "task.claim")] == ["aaby.sagsbehandler", "aaby.kollega"]
    assert [a.actor for a in audits(runtime, "task.unclaim")] == ["aaby.sagsbehandler"]


def test_complete_validates_refuses_stale_forms_and_never_completes_twice(runtime, as_user):
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    me = as_user("aaby.sagsbehandler")

    invalid = me.post(f"/tasks/{task.id}/complete", json={"data": {"rute": "maaske"}, "revision": 1})
    assert invalid.status_code == 422
    errors = invalid.get_json()["errors"]
    assert errors["oprindelig_ydelse"] == ["Feltet skal udfyldes."]
    assert errors["rute"] == ["Vælg en af de mulige værdier."]

    malformed = me.http.post(f"/api/v1/tasks/{task.id}/complete", data="{not json",
                             headers={**me._headers(), "Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.get_json()["code"] == 400
    assert me.post(f"/tasks/{task.id}/complete", json={"revision": 1}).status_code == 422  # no data

    me.post(f"/tasks/{task.id}/claim")  # revision 1 -> 2: a form opened before is stale
    stale = me.post(f"/tasks/{task.id}/complete", json={"data": ROUTE_FORM, "revision": 1})
    assert stale.status_code == 409

    done = me.post(f"/tasks/{task.id}/complete", json={"data": ROUTE_FORM, "revision": 2})
    assert done.status_code == 200
    body = done.get_json()
    assert body["task"]["state"] == "completed" and body["task"]["completed_by"] == "aaby.sagsbehandler"
    assert body["task"]["data"]["rute"] == "team"
    assert [t["task"] for t in body["next_tasks"]] == ["planlaeg_forberedelse"]

    again = me.post(f"/tasks/{task.id}/complete", json={"data": ROUTE_FORM})
    assert again.status_code == 409
    assert len(audits(runtime, "task.complete", case_id=case.case_id)) == 1


def test_reassign_is_for_a_teamleder_to_a_colleague_with_the_role(runtime, as_user):
    add_user(runtime, "aaby.kollega")
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    as_user("aaby.sagsbehandler").post(f"/tasks/{task.id}/claim")
    lead = as_user("aaby.teamleder")
    moved = lead.post(f"/tasks/{task.id}/reassign", json={"username": "aaby.kollega"})
    assert moved.status_code == 200 and moved.get_json()["claimed_by"] == "aaby.kollega"
    assert lead.post(f"/tasks/{task.id}/reassign", json={"username": "aaby.ydelse"}).status_code == 422
    assert lead.post(f"/tasks/{task.id}/reassign", json={"username": "boegeby.sagsbehandler"}).status_code == 422
    assert lead.post(f"/tasks/{task.id}/reassign", json={}).status_code == 422
    assert as_user("aaby.sagsbehandler").post(f"/tasks/{task.id}/reassign",
                                              json={"username": "aaby.sagsbehandler"}).status_code == 403
    team = lead.get("/tasks?scope=team").get_json()
    assert [t["id"] for t in team["items"]] == [task.id]
    assert as_user("aaby.sagsbehandler").get("/tasks?scope=team").status_code == 403
    assert [a.detail["to"] for a in audits(runtime, "task.reassign")] == ["aaby.kollega"]


# ---------------------------------------------------------------------- cases
def test_start_case_and_case_detail(runtime, as_user):
    me = as_user("aaby.sagsbehandler")
    started = me.post("/cases", json={"case_type": "rehabilitering", "cpr": "0101901234",
                                      "citizen_name": "Anna Andersen", "age": 44})
    assert started.status_code == 201
    body = started.get_json()
    assert body["process"] == "rehabilitering" and [t["task"] for t in body["open_tasks"]] == ["vurder_rute"]
    case_id = body["case_id"]
    with runtime.sessions() as session:
        assert session.get(Municipality, _case(runtime, case_id).municipality_id).key == "aaby"

    task_id = body["open_tasks"][0]["id"]
    me.post(f"/tasks/{task_id}/complete", json={
        "data": {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "fleksjob", "rute": "afslag_uden_team"}})
    # The refusal is decided by the afgørelse role; its letter goes out through the outbox.
    decider = as_user("aaby.afgoerelse")
    decision = decider.get("/tasks").get_json()["items"][0]
    form = {f["id"]: f for f in decider.get(f"/tasks/{decision['id']}").get_json()["form"]}
    data = {k: _sample(f) for k, f in form.items() if f["required"]}
    data["afgoerelse"] = "afslag_fleksjob"  # the refusal must name what was applied for (model check)
    data["afgoerelsesdato"] = "2027-01-04"  # a decision date is never in the future (past_only)
    assert decider.post(f"/tasks/{decision['id']}/complete", json={"data": data}).status_code == 200
    from worker.service import Worker
    Worker(runtime).poll_once()  # renders the letter as a case document

    detail = me.get(f"/cases/{case_id}").get_json()
    assert (detail["citizen"], detail["cpr"], detail["municipality"]) == ("Anna Andersen", "010190-XXXX", "aaby")
    assert detail["instances"][0]["status"] == "completed"
    assert [(h["task"], h["completed_by"]) for h in detail["history"]] == [
        ("vurder_rute", "aaby.sagsbehandler"), ("afslag_uden_team", "aaby.afgoerelse")]
    letter, = detail["letters"]
    with runtime.sessions() as session:
        doc = session.scalar(select(Document).where(Document.case_id == case_id))
    assert (letter["document_id"], letter["title"]) == (doc.id, doc.title)
    assert [a.actor for a in audits(runtime, "case.view", case_id=case_id)] == ["aaby.sagsbehandler"]


def test_case_detail_lists_pending_deadlines(runtime, as_user):
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    actor = _actor(runtime, "aaby.sagsbehandler")
    runtime.engine.complete_task(first_task(runtime, case.case_id).id, ROUTE_FORM, actor)
    runtime.engine.complete_task(first_task(runtime, case.case_id).id, {"laegeattest_noedvendig": True, "samtykke_deling": "givet"}, actor)
    detail = as_user("aaby.sagsbehandler").get(f"/cases/{case.case_id}").get_json()
    deadline = next(d for d in detail["deadlines"] if d["task"] == "indhent_laegeattest")
    assert deadline["due_at"].startswith("2027-01-18")
    assert detail["instances"][0]["current"] == sorted(t["task"] for t in detail["open_tasks"])


def test_start_case_refusals(runtime, as_user):
    me = as_user("aaby.sagsbehandler")
    bad = me.post("/cases", json={"case_type": "rejsekort", "cpr": "12", "citizen_name": " "})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"case_type", "cpr", "citizen_name"}
    assert me.post("/cases", json={"cpr": CPR_A}).status_code == 422
    assert as_user("aaby.ydelse").post("/cases", json={"case_type": "rehabilitering", "cpr": CPR_A,
                                                        "citizen_name": "X"}).status_code == 403
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HumanTask)) == 0


def _case(runtime, case_id):
    from processes.models import Case
    with runtime.sessions() as session:
        return session.get(Case, case_id)


def _sample(field):
    if field["type"] == "enum":
        return field["options"][0]["id"]
    return {"date": "2027-01-05", "long": 1, "boolean": True}.get(field["type"], "Begrundelse")


# ----------------------------------------------------------------- isolation
ENDPOINTS = {
    "get task": lambda c, t, case: c.get(f"/tasks/{t}"),
    "claim": lambda c, t, case: c.post(f"/tasks/{t}/claim"),
    "unclaim": lambda c, t, case: c.post(f"/tasks/{t}/unclaim"),
    "complete": lambda c, t, case: c.post(f"/tasks/{t}/complete", json={"data": ROUTE_FORM}),
    "reassign": lambda c, t, case: c.post(f"/tasks/{t}/reassign", json={"username": "aaby.sagsbehandler"}),
    "case detail": lambda c, t, case: c.get(f"/cases/{case}"),
}
# Who tries: someone of another municipality with the right role (404: the id does not
# exist for them), and someone of the right municipality without the role (403).
FOREIGN = {"reassign": "boegeby.teamleder"}
MISSING_ROLE = {"reassign": "aaby.sagsbehandler"}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_isolation_matrix(endpoint, runtime, as_user):
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    call = ENDPOINTS[endpoint]

    foreign = call(as_user(FOREIGN.get(endpoint, "boegeby.sagsbehandler")), task.id, case.case_id)
    assert foreign.status_code == 404, foreign.get_json()
    assert "Anna" not in foreign.get_data(as_text=True)

    outsider = call(as_user(MISSING_ROLE.get(endpoint, "aaby.ydelse")), task.id, case.case_id)
    assert outsider.status_code == 403, outsider.get_json()
    assert "Anna" not in outsider.get_data(as_text=True)

    with runtime.sessions() as session:
        after = session.get(HumanTask, task.id)
        assert (after.state, after.claimed_by_id, after.revision) == ("open", None, 1)
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.actor.in_(["boegeby.sagsbehandler", "boegeby.teamleder",
                                                           "aaby.ydelse"]))) == 0
    # The lists never show the task to either of them.
    assert as_user("boegeby.sagsbehandler").get("/tasks").get_json()["total"] == 0
    assert as_user("aaby.ydelse").get("/tasks").get_json()["total"] == 0
    assert as_user("boegeby.teamleder").get("/tasks?scope=team").get_json()["total"] == 0


def test_ids_that_do_not_exist_answer_404(as_user):
    me = as_user("aaby.sagsbehandler")
    assert me.get("/tasks/999999").status_code == 404
    assert me.get("/cases/999999").status_code == 404
    assert me.post("/tasks/999999/complete", json={"data": {}}).status_code == 404
    assert me.get("/no-such-endpoint").status_code == 404


# ---------------------------------------------------------------- concurrency
def test_two_users_complete_the_same_task_at_once_exactly_one_succeeds(runtime, app, as_user):
    add_user(runtime, "aaby.kollega")
    case = runtime.engine.start_case("aaby", "rehabilitering", CPR_A, "Anna Andersen")
    task = first_task(runtime, case.case_id)
    clients = [as_user("aaby.sagsbehandler"), as_user("aaby.kollega")]
    barrier = threading.Barrier(len(clients))
    results = {}

    def complete(client):
        barrier.wait()
        results[client.username] = client.post(f"/tasks/{task.id}/complete",
                                               json={"data": ROUTE_FORM, "revision": 1})

    threads = [threading.Thread(target=complete, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409], {u: r.get_json() for u, r in results.items()}
    with runtime.sessions() as session:
        done = session.get(HumanTask, task.id)
        winner = next(u for u, r in results.items() if r.status_code == 200)
        assert done.state == "completed"
        assert session.get(User, done.completed_by_id).username == winner
        assert session.scalar(select(func.count()).select_from(HumanTask)
                              .where(HumanTask.case_id == case.case_id, HumanTask.bpmn_id == "planlaeg_forberedelse")) == 1
    assert len(audits(runtime, "task.complete", case_id=case.case_id)) == 1
