"""Issue 14, point 3: the teamleder can act where the problem is. The escalation task
shows the late task, its deadline and how late it is, with buttons to give it to a
colleague or take it over; the teamleder opens any task of the team; reassigning tells
the new holder; the caseworker hears when their own task falls due soon and when it has."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox import create_app
from processes.catalogue import SpecCache
from processes.models import HumanTask, Notification, Outbox, User
from processes.policy import BY_KEY
from test_api import add_user
from test_domain_rehab import Rehab
from test_inbox import Browser, text
from worker import escalation
from worker.outbox import default_transports, deliver_next


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def colleague(rt, username: str = "aaby.kollega") -> None:
    """A second caseworker in Aaby who signs in with the demo password."""
    add_user(rt, username)
    with rt.sessions.begin() as session:
        demo = session.scalar(select(User).where(User.username == "aaby.sagsbehandler"))
        session.scalar(select(User).where(User.username == username)).password_hash = demo.password_hash


def late_preparation(rt) -> Rehab:
    """An Aaby case whose forberedende del (the owner's task, 2 months) is 3 days late."""
    w = Rehab(rt, "aaby", "rehabilitering", name="Dorte Dahl")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    assert w.due("forberedende_del") == "2027-03-04"
    w.at("2027-03-08")
    assert "eskaler_forberedende_del" in w.ready()
    return w


def _deliver(rt) -> None:
    transports = default_transports(SpecCache())
    while deliver_next(rt.sessions, transports) is not None:
        pass


def _notes(rt, username: str) -> list[Notification]:
    from inbox.notifications import addressed_to
    with rt.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        return list(session.scalars(select(Notification).where(addressed_to(user)).order_by(Notification.id)))


def test_the_escalation_shows_the_late_task_and_lets_the_teamleder_give_it_away(sqlite_runtime, app):
    colleague(sqlite_runtime)
    w = late_preparation(sqlite_runtime)
    late, escalated = w._open("forberedende_del"), w._open("eskaler_forberedende_del")
    lead = Browser(app, "aaby.teamleder")
    page = text(lead.get(f"/opgaver/{escalated.id}"))
    section = page[page.index('id="h-eskalering"'):page.index('id="h-sagen"')]
    assert "Udarbejd den forberedende del med borgeren" in section
    assert "Sagsbehandler (myndighed) (Aaby)" in section                 # who has it: the case owner
    assert "4. mar. 2027" in section                                     # its deadline
    assert "3 dage over fristen" in section                              # 2027-03-04 end of day -> 03-08 09:00
    assert BY_KEY["rehab_forberedelse_frist"].label in section          # the rule, by its name
    assert 'name="username"' in section and "Overtag opgaven selv" in section

    moved = lead.post(f"/opgaver/{late.id}/fordel", data={"username": "aaby.kollega",
                                                        "next": f"/opgaver/{escalated.id}"})
    assert moved.status_code == 302
    with sqlite_runtime.sessions() as session:
        holder = session.get(User, session.get(HumanTask, late.id).claimed_by_id)
    assert holder.username == "aaby.kollega"


def test_the_new_holder_is_told_and_no_one_else(sqlite_runtime, app):
    colleague(sqlite_runtime)
    w = late_preparation(sqlite_runtime)
    late = w._open("forberedende_del")
    Browser(app, "aaby.teamleder").post(f"/opgaver/{late.id}/fordel", data={"username": "aaby.kollega"})
    _deliver(sqlite_runtime)
    told = [n for n in _notes(sqlite_runtime, "aaby.kollega") if n.kind == "task_reassigned"]
    assert [(n.title, n.task_id) for n in told] == [
        ("Opgave givet til dig: Udarbejd den forberedende del med borgeren", late.id)]
    assert not [n for n in _notes(sqlite_runtime, "aaby.sagsbehandler") if n.kind == "task_reassigned"]
    page = text(Browser(app, "aaby.kollega").get("/beskeder"))
    assert "Opgave givet til dig: Udarbejd den forberedende del med borgeren" in page


def test_the_teamleder_opens_any_task_of_the_team_and_can_take_it_over(sqlite_runtime, app):
    w = late_preparation(sqlite_runtime)
    late = w._open("forberedende_del")
    lead = Browser(app, "aaby.teamleder")
    page = text(lead.get(f"/opgaver/{late.id}"))                        # a sagsbehandler task: 403 before
    assert "Du kan se opgaven som teamleder" in page and "Afslut opgaven" not in page
    refused = lead.post(f"/opgaver/{late.id}", data={"revision": str(late.revision),
                                                     "underskriftsdato": "08.03.2027", "borger_medvirken": "sammen"})
    assert refused.status_code == 403                                    # seeing is not doing

    lead.post(f"/opgaver/{late.id}/fordel", data={"username": "aaby.teamleder"})   # "Overtag opgaven selv"
    page = text(lead.get(f"/opgaver/{late.id}"))
    assert "Afslut opgaven" in page
    revision = sqlite_runtime.engine.open_tasks(case_id=w.case_id)
    current = next(t for t in revision if t.id == late.id).revision
    done = lead.post(f"/opgaver/{late.id}", data={"revision": str(current), "underskriftsdato": "08.03.2027",
                                                  "borger_medvirken": "sammen"})
    assert done.status_code == 302
    with sqlite_runtime.sessions() as session:
        finished = session.get(HumanTask, late.id)
        assert finished.state == "completed"
        assert session.get(User, finished.completed_by_id).username == "aaby.teamleder"
    # taking it over is not a notice to oneself
    assert not [n for n in _notes(sqlite_runtime, "aaby.teamleder") if n.kind == "task_reassigned"]


def test_the_caseworker_hears_when_their_task_falls_due_and_when_it_has_once_each(sqlite_runtime):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    task = w._open("forberedende_del")
    assert task.claimed_by_id is not None                                # the owner's task
    w.at("2027-03-02")
    assert escalation.scan(sqlite_runtime.sessions)["due_soon"] >= 1
    w.at("2027-03-05")
    assert escalation.scan(sqlite_runtime.sessions)["overdue"] >= 1
    assert escalation.scan(sqlite_runtime.sessions)["overdue"] == 0      # once
    _deliver(sqlite_runtime)
    mine = [(n.kind, n.title) for n in _notes(sqlite_runtime, "aaby.sagsbehandler") if n.task_id == task.id]
    assert mine == [("due_soon", "Frist nærmer sig: Udarbejd den forberedende del med borgeren"),
                    ("task_overdue", "Fristen er overskredet: Udarbejd den forberedende del med borgeren")]
    # the overdue note is the holder's own: another caseworker in the role does not get it
    colleague(sqlite_runtime)
    assert [n.kind for n in _notes(sqlite_runtime, "aaby.kollega") if n.task_id == task.id] == ["due_soon"]
    with sqlite_runtime.sessions() as session:
        keys = list(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.like("overdue:%"))))
    assert keys == [f"overdue:{task.task_guid}"]
