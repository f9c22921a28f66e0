"""Administrators manage their municipality's users (issue 13): create with a one-time
password that must be changed, roles, deactivation (sessions and tokens end, claimed
tasks go back to the role, the teamleder is told), absence; the same from the CLI; and
never another municipality's users (both databases)."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inbox import create_app
from inbox.tokens import issue_token
from processes.engine import Actor
from processes.errors import InvalidInput
from processes.models import AuditEvent, HumanTask, Notification, User
from sagsflow.cli import main
from test_inbox import Browser, start, text


FLEKSJOB = {"overdragelse": {"visitationsdato": "2027-01-04"}}


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


def _user(rt, username) -> User:
    with rt.sessions() as db:
        return db.scalar(select(User).where(User.username == username))


def _create(admin: Browser, username, roles, full_name="Jens Jensen"):
    response = admin.post("/admin/brugere", {"username": username, "full_name": full_name, "roles": roles})
    assert response.status_code == 200, text(response)
    return re.search(r'<code id="engangskode">([^<]+)</code>', text(response)).group(1)


def test_a_new_user_gets_a_one_time_password_and_must_choose_their_own(app, runtime):
    admin = Browser(app, "aaby.admin")
    password = _create(admin, "aaby.jens", ["sagsbehandler", "ydelse"])
    created = _user(runtime, "aaby.jens")
    assert created.role_keys == {"sagsbehandler", "ydelse"} and created.must_change_password
    assert created.password_hash != password and password not in json.dumps(
        [e.detail for e in _audit(runtime, "user.create")])

    jens = Browser(app, "aaby.jens", password)
    assert jens.login.status_code == 302 and "/adgangskode" in jens.login.headers["Location"]
    assert "/adgangskode" in jens.get("/").headers["Location"]  # every page waits for the new password
    refused = jens.post("/adgangskode", {"password": "kort", "password_again": "kort"})
    assert refused.status_code == 422 and "mindst 12 tegn" in text(refused)
    same = jens.post("/adgangskode", {"password": password, "password_again": password})
    assert same.status_code == 422
    done = jens.post("/adgangskode", {"password": "en lang ny adgangskode", "password_again": "en lang ny adgangskode"})
    assert done.status_code == 302
    assert jens.get("/").status_code == 200
    assert Browser(app, "aaby.jens", password).login.status_code == 401  # the one-time password is spent
    assert Browser(app, "aaby.jens", "en lang ny adgangskode").login.status_code == 302


def test_creating_a_user_refuses_a_taken_or_malformed_name_and_stores_nothing(app, runtime):
    admin = Browser(app, "aaby.admin")
    taken = admin.post("/admin/brugere", {"username": "aaby.sagsbehandler", "full_name": "X", "roles": ["ydelse"]})
    assert taken.status_code == 422 and "Brugernavnet er i brug." in text(taken)
    bad = admin.post("/admin/brugere", {"username": "Ø!", "full_name": "", "roles": ["ydelse"]})
    assert bad.status_code == 422 and "Skriv navnet" in text(bad)
    assert _audit(runtime, "user.create") == []


def test_roles_and_absence_are_changed_and_audited(app, runtime):
    admin = Browser(app, "aaby.admin")
    target = _user(runtime, "aaby.ydelse")
    assert admin.post(f"/admin/brugere/{target.id}/roller", {"roles": ["ydelse", "sagsbehandler"]}).status_code == 302
    assert _user(runtime, "aaby.ydelse").role_keys == {"ydelse", "sagsbehandler"}
    assert admin.post(f"/admin/brugere/{target.id}/fravaer", {"until": "2027-01-20"}).status_code == 302
    assert str(_user(runtime, "aaby.ydelse").absent_until) == "2027-01-20"
    assert [e.detail["to"] for e in _audit(runtime, "user.roles")] == [["sagsbehandler", "ydelse"]]
    assert [e.actor for e in _audit(runtime, "user.absent")] == ["aaby.admin"]
    own = _user(runtime, "aaby.admin")
    refused = admin.post(f"/admin/brugere/{own.id}/roller", {"roles": ["teamleder"]})  # without is_admin
    assert refused.status_code == 422 and _user(runtime, "aaby.admin").is_admin


def test_deactivation_ends_access_returns_claimed_tasks_and_tells_the_teamleder(app, runtime):
    case_id, task = start(runtime)
    worker = _user(runtime, f"aaby.{task.role}")
    runtime.engine.claim_task(task.id, Actor.for_user(worker))
    with runtime.sessions.begin() as db:
        token = issue_token(db, db.get(User, worker.id))
    signed_in = Browser(app, worker.username)
    assert signed_in.get("/").status_code == 200
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    admin = Browser(app, "aaby.admin")
    response = admin.post(f"/admin/brugere/{worker.id}/deaktiver")
    assert response.status_code == 302
    with runtime.sessions() as db:
        assert db.get(HumanTask, task.id).claimed_by_id is None
        note = db.scalar(select(Notification).where(Notification.kind == "user_deactivated"))
    assert note.recipient_role == "teamleder" and task.name in note.body
    assert "/login" in signed_in.get("/").headers["Location"]  # the open session ended
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert Browser(app, worker.username).login.status_code == 401
    assert "Bruger deaktiveret" in text(Browser(app, "aaby.teamleder").get("/beskeder"))
    assert admin.post(f"/admin/brugere/{worker.id}/aktiver").status_code == 302
    assert Browser(app, worker.username).login.status_code == 302


def test_a_password_reset_ends_sessions_and_is_shown_once(app, runtime):
    target = _user(runtime, "aaby.ydelse")
    signed_in = Browser(app, "aaby.ydelse")
    admin = Browser(app, "aaby.admin")
    response = admin.post(f"/admin/brugere/{target.id}/engangskode")
    password = re.search(r'<code id="engangskode">([^<]+)</code>', text(response)).group(1)
    assert "/login" in signed_in.get("/").headers["Location"]
    assert Browser(app, "aaby.ydelse").login.status_code == 401
    assert "/adgangskode" in Browser(app, "aaby.ydelse", password).login.headers["Location"]
    assert password not in text(admin.get(f"/admin/brugere/{target.id}"))


def test_an_administrator_sees_and_changes_only_their_own_municipalitys_users(app, runtime):
    other = _user(runtime, "boegeby.sagsbehandler")
    admin = Browser(app, "aaby.admin")
    assert "boegeby." not in text(admin.get("/admin/brugere"))
    assert admin.get(f"/admin/brugere/{other.id}").status_code == 404
    for action in ("roller", "deaktiver", "aktiver", "engangskode", "log-ud", "fravaer"):
        assert admin.post(f"/admin/brugere/{other.id}/{action}", {"roles": ["ydelse"]}).status_code == 404, action
    caseworker = Browser(app, "aaby.sagsbehandler")
    assert caseworker.get("/admin/brugere").status_code == 403
    assert caseworker.get(f"/admin/brugere/{_user(runtime, 'aaby.ydelse').id}").status_code == 403
    after = _user(runtime, "boegeby.sagsbehandler")
    assert (after.active, after.role_keys, after.password_hash) == (True, {"sagsbehandler"}, other.password_hash)
    assert not any(e.action.startswith("user.") and e.action != "user.login" and e.actor == "aaby.admin"
                   for e in _all_audit(runtime))


def _all_audit(rt):
    with rt.sessions() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _audit(rt, action):
    return [e for e in _all_audit(rt) if e.action == action]


def test_cli_adds_lists_changes_roles_and_deactivates(runtime):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database-url", runtime.url, "user", *args], catch_exceptions=False)

    added = run("add", "boegeby.ny", "--municipality", "boegeby", "--name", "Ny Person", "--role", "ydelse")
    assert added.exit_code == 0 and "one-time password" in added.output
    assert _user(runtime, "boegeby.ny").must_change_password
    listed = json.loads(run("list", "--municipality", "boegeby", "--json").output)
    assert {"username": "boegeby.ny", "roles": ["ydelse"], "active": True}.items() <= next(
        r for r in listed if r["username"] == "boegeby.ny").items()
    assert all(r["municipality"] == "boegeby" for r in listed)
    assert run("roles", "boegeby.ny", "--add", "sagsbehandler").output.strip() == "boegeby.ny: sagsbehandler, ydelse"
    bad = run("roles", "boegeby.ny", "--add", "bogus")
    assert bad.exit_code == 6 and _user(runtime, "boegeby.ny").role_keys == {"sagsbehandler", "ydelse"}
    assert run("deactivate", "boegeby.ny").exit_code == 0
    assert not _user(runtime, "boegeby.ny").active
    assert run("add", "x", "--name", "X").exit_code == 2  # no municipality
    assert [e.actor for e in _audit(runtime, "user.deactivate")] == ["cli"]


def _claims(rt, case_id) -> dict:
    with rt.sessions() as db:
        names = {u.id: u.username for u in db.scalars(select(User))}
        return {t.bpmn_id: (names.get(t.claimed_by_id), names.get(t.held_for_id))
                for t in db.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "open"))}


def test_absence_hands_owner_tasks_to_the_substitute_and_they_come_back_after(app, runtime):
    owner = _user(runtime, "aaby.sagsbehandler")
    first = runtime.engine.start_case("aaby", "fleksjob", "040470-1004", "Dennis Dam", FLEKSJOB,
                                      actor=Actor.for_user(owner))
    assert _claims(runtime, first.case_id) == {"foerste_samtale": ("aaby.sagsbehandler", None)}
    admin = Browser(app, "aaby.admin")
    _create(admin, "aaby.vikar", ["sagsbehandler"])
    substitute = _user(runtime, "aaby.vikar")
    saved = admin.post(f"/admin/brugere/{owner.id}/fravaer",
                       {"from": "2027-01-04", "until": "2027-01-05", "substitute": substitute.id})
    assert saved.status_code == 302
    assert _claims(runtime, first.case_id) == {"foerste_samtale": ("aaby.vikar", "aaby.sagsbehandler")}
    second = runtime.engine.start_case("aaby", "fleksjob", "050570-1005", "Eva Eriksen", FLEKSJOB,
                                       actor=Actor.for_user(owner))  # opened while away
    assert _claims(runtime, second.case_id) == {"foerste_samtale": ("aaby.vikar", "aaby.sagsbehandler")}

    def cli(*args):
        return CliRunner().invoke(main, ["--database-url", runtime.url, *args], catch_exceptions=False)
    assert cli("clock", "advance", "P2D", "--no-fire").exit_code == 0      # 2027-01-06: back
    polled = cli("worker", "--once")
    assert "absence_returned 2" in polled.output
    for case_id in (first.case_id, second.case_id):
        assert _claims(runtime, case_id) == {"foerste_samtale": ("aaby.sagsbehandler", None)}
    with runtime.sessions() as db:
        actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.action.like("task.absence%")))]
    assert actions.count("task.absence_handover") == 1 and actions.count("task.absence_return") == 2


def test_absence_without_an_able_substitute_goes_to_the_role_and_a_later_start_waits(runtime):
    owner = _user(runtime, "aaby.sagsbehandler")
    case = runtime.engine.start_case("aaby", "fleksjob", "040470-1004", "Dennis Dam", FLEKSJOB,
                                     actor=Actor.for_user(owner)).case_id

    def cli(*args):
        return CliRunner().invoke(main, ["--database-url", runtime.url, *args], catch_exceptions=False)
    later = cli("user", "absent", "aaby.sagsbehandler", "--from", "2027-01-05", "--until", "2027-01-08",
                "--substitute", "aaby.ydelse")  # ydelse lacks the sagsbehandler role
    assert later.exit_code == 0
    assert _claims(runtime, case) == {"foerste_samtale": ("aaby.sagsbehandler", None)}  # not away yet
    cli("clock", "advance", "P1D", "--no-fire")
    assert "absence_handed_on 1" in cli("worker", "--once").output
    assert _claims(runtime, case) == {"foerste_samtale": (None, "aaby.sagsbehandler")}  # the role's inbox
    assert cli("user", "absent", "aaby.sagsbehandler").output == "aaby.sagsbehandler: present; 1 task(s) returned\n"
    assert _claims(runtime, case) == {"foerste_samtale": ("aaby.sagsbehandler", None)}
    backwards = cli("user", "absent", "aaby.sagsbehandler", "--from", "2027-01-09", "--until", "2027-01-08")
    assert backwards.exit_code == 6


def test_a_refused_password_is_explained_in_the_users_language(app, runtime):
    password = _create(Browser(app, "aaby.admin"), "aaby.eng", ["ydelse"])
    user = Browser(app, "aaby.eng", password)
    user.post("/sprog", {"lang": "en", "next": "/adgangskode"})
    refused = user.post("/adgangskode", {"password": "aaby.eng is my password", "password_again": "aaby.eng is my password"})
    assert refused.status_code == 422 and "The password must not contain the username." in text(refused)


def test_a_deactivated_user_is_given_no_task_and_no_case(runtime):
    case_id, task = start(runtime)
    with runtime.sessions.begin() as db:
        leader = Actor.for_user(db.scalar(select(User).where(User.username == "aaby.teamleder")))
        gone = db.scalar(select(User).where(User.username == f"aaby.{task.role}"))
        gone.active = False
    with pytest.raises(InvalidInput):
        runtime.engine.reassign_task(task.id, gone, leader)
    with pytest.raises(InvalidInput):
        runtime.engine.set_owner(case_id, gone.id, leader)
    with runtime.sessions() as db:
        assert db.get(HumanTask, task.id).claimed_by_id is None
