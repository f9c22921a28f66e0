"""Notifications as caseworkers meet them, on SQLite and PostgreSQL: the worker writes
real ones (a task due soon, a breached deadline, a letter that cannot be delivered); the
"Beskeder (N)" link counts the unread, the page lists them newest first with links to the
task or case, "Markér som læst" (with CSRF) and "Markér alle som læst" lower the count, and
only the addressees see them (role, user, administrators; never another municipality's:
404). The same through /api/v1/notifications, documented in the OpenAPI document."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import START
from inbox import create_app
from processes.models import AuditEvent, HumanTask, Notification
from test_api import Client
from test_inbox import Browser, text
from worker import outbox as worker_outbox
from worker.service import Worker

FLEKSJOB = {"overdragelse": {"visitationsdato": "2027-01-04"}}
BREACH_TITLE = "Frist overskredet: Første samtale efter visitation"
DUE_SOON_TITLE = "Frist nærmer sig: Hold første samtale efter visitation"


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


def start_fleksjob(runtime) -> int:
    return runtime.engine.start_case("boegeby", "fleksjob", "010190-1234", "Test Borger", data=FLEKSJOB).case_id


def poll_after(runtime, delta, worker=None):
    """Move the virtual clock without firing (as ``clock advance --no-fire``), then one worker poll."""
    runtime.engine.advance_clock(delta, fire=False)
    return (worker or Worker(runtime)).poll_once()


def note(runtime, kind) -> Notification:
    with runtime.sessions() as session:
        return session.scalar(select(Notification).where(Notification.kind == kind))


def nav_count(page) -> int:
    return int(re.search(r"Beskeder \((\d+)\)", text(page)).group(1))


def test_teamleder_sees_the_breach_marks_it_read_and_the_count_drops(app, runtime):
    case_id = start_fleksjob(runtime)
    assert poll_after(runtime, timedelta(days=22))["fired"] == 1
    breach = note(runtime, "deadline_breach")
    teamleder = Browser(app, "boegeby.teamleder")

    inbox = teamleder.get("/")
    assert nav_count(inbox) == 1 and 'href="/beskeder"' in text(inbox)
    page = text(teamleder.get("/beskeder"))
    row = re.search(rf'<tr id="besked-{breach.id}">(.*?)</tr>', page, re.S).group(1)
    assert f"<strong>{BREACH_TITLE}</strong>" in row and "Frist overskredet</span>" in row
    assert "Fristen udløb 25. jan. 2027 23:59" in row and "26. jan. 2027" in row  # dates as the page writes them
    assert f"(sag {case_id}, fleksjob)" in row      # the case type by name, never its key
    assert f'href="/sager/{case_id}"' in row and "Markér som læst" in row
    assert teamleder.get(f"/sager/{case_id}").status_code == 200  # the link leads to the case

    # Without the page's CSRF token nothing changes.
    assert teamleder.http.post(f"/beskeder/{breach.id}/laest").status_code == 400
    assert note(runtime, "deadline_breach").read_at is None

    done = teamleder.post(f"/beskeder/{breach.id}/laest", data={"next": "/beskeder"})
    assert done.status_code == 302 and done.headers["Location"] == "/beskeder"
    page = teamleder.get("/beskeder")
    assert nav_count(page) == 0 and "Beskeden er markeret som læst." in text(page)
    assert "Markér som læst" not in text(page) and "Læst 26. jan. 2027" in text(page)
    assert BREACH_TITLE in text(page)  # read notes stay listed, no longer bold
    assert note(runtime, "deadline_breach").read_at == START + timedelta(days=22)  # the virtual clock

    teamleder.post(f"/beskeder/{breach.id}/laest")  # marking again changes nothing
    with runtime.sessions() as session:
        audits = session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.read")).all()
    assert [(a.actor, a.case_id, a.detail) for a in audits] == [
        ("boegeby.teamleder", case_id, {"notifications": [breach.id]})]


def test_only_the_addressees_see_a_note_and_other_ids_answer_404(app, runtime):
    case_id = start_fleksjob(runtime)
    assert poll_after(runtime, timedelta(days=19))["queued_due_soon"] == 1
    assert poll_after(runtime, timedelta(days=3))["queued_breach"] == 1
    due_soon, breach = note(runtime, "due_soon"), note(runtime, "deadline_breach")
    with runtime.sessions() as session:
        task = session.get(HumanTask, due_soon.task_id)
    assert (due_soon.recipient_role, task.bpmn_id) == ("sagsbehandler", "foerste_samtale")

    sagsbehandler = Browser(app, "boegeby.sagsbehandler")
    page = sagsbehandler.get("/beskeder")
    # due soon, and (issue 14) that the still open task's deadline has passed
    assert nav_count(page) == 2 and "Fristen er overskredet: Hold første samtale" in text(page)
    assert DUE_SOON_TITLE in text(page) and f'href="/opgaver/{task.id}"' in text(page)
    assert f'href="/sager/{case_id}"' in text(page) and BREACH_TITLE not in text(page)
    assert sagsbehandler.post(f"/beskeder/{breach.id}/laest").status_code == 404

    teamleder = Browser(app, "boegeby.teamleder")
    page = text(teamleder.get("/beskeder"))
    assert BREACH_TITLE in page and DUE_SOON_TITLE not in page

    foreign = Browser(app, "aaby.teamleder")
    page = foreign.get("/beskeder")
    assert nav_count(page) == 0 and "Du har ingen beskeder." in text(page)
    assert foreign.post(f"/beskeder/{breach.id}/laest").status_code == 404
    assert foreign.post("/beskeder/laest").status_code == 302  # "all" means all of mine: none
    assert note(runtime, "deadline_breach").read_at is None and note(runtime, "due_soon").read_at is None

    # The due-soon and overdue notes were for the sagsbehandler role: marking them read there clears them.
    sagsbehandler.post("/beskeder/laest")
    assert nav_count(sagsbehandler.get("/")) == 0
    assert note(runtime, "due_soon").read_at is not None and note(runtime, "deadline_breach").read_at is None


class DocumentArchiveDown(worker_outbox.CaseDocuments):
    def deliver(self, session, item, now):
        raise ConnectionError("dokumentarkivet svarer ikke")


def test_failed_deliveries_reach_the_administrators_only_and_all_can_be_marked_read(app, runtime):
    case_id = start_fleksjob(runtime)  # the case's first letter is queued at the start
    failing = Worker(runtime, transports={**worker_outbox.default_transports(runtime.engine.specs),
                                          "letter": DocumentArchiveDown(runtime.engine.specs)})
    for _ in range(3):
        poll_after(runtime, timedelta(hours=1), failing)
    poll_after(runtime, timedelta(days=22))  # the letter goes through; the deadline breaks
    failed = note(runtime, "delivery_failed")
    assert failed.recipient_role == "admin" and failed.case_id == case_id

    admin = Browser(app, "boegeby.admin")  # an administrator who also leads the team
    page = text(admin.get("/beskeder"))
    assert nav_count(admin.get("/")) == 2
    titles = re.findall(r"<strong>(.*?)</strong>", page)
    assert titles == [BREACH_TITLE, failed.title]  # newest first
    assert "Levering mislykkedes</span>" in page and "dokumentarkivet svarer ikke" in page

    for username in ("boegeby.teamleder", "boegeby.sagsbehandler", "aaby.admin"):
        other = Browser(app, username)
        assert failed.title not in text(other.get("/beskeder")), username
        assert other.post(f"/beskeder/{failed.id}/laest").status_code == 404, username

    done = admin.post("/beskeder/laest")
    assert done.status_code == 302 and done.headers["Location"] == "/beskeder"
    page = admin.get("/beskeder")
    assert nav_count(page) == 0 and "Alle dine beskeder er markeret som læst." in text(page)
    assert "Markér alle som læst" not in text(page)
    # The breach was for the teamleder role: one holder marking it read settles it for the role.
    assert nav_count(Browser(app, "boegeby.teamleder").get("/")) == 0


def test_the_page_in_english(app, runtime):
    start_fleksjob(runtime)
    poll_after(runtime, timedelta(days=22))
    teamleder = Browser(app, "boegeby.teamleder")
    teamleder.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    page = text(teamleder.get("/beskeder"))
    assert "Messages (1)" in page and "Mark as read" in page and "Mark all as read" in page
    assert "Deadline breached</span>" in page and "1 unread of 1" in page


def test_api_lists_and_marks_notifications_read_with_the_same_rules(app, runtime):
    case_id = start_fleksjob(runtime)
    poll_after(runtime, timedelta(days=19))
    poll_after(runtime, timedelta(days=3))
    due_soon, breach = note(runtime, "due_soon"), note(runtime, "deadline_breach")
    teamleder = Client(app, runtime, "boegeby.teamleder")

    listing = teamleder.get("/notifications").get_json()
    assert (listing["total"], listing["unread"], listing["pages"]) == (1, 1, 1)
    item, = listing["items"]
    assert item == {"id": breach.id, "kind": "deadline_breach", "kind_label": "Frist overskredet",
                    "title": BREACH_TITLE, "body": breach.body, "recipient_role": "teamleder",
                    "user_id": None, "case_id": case_id, "task_id": None,
                    "created_at": "2027-01-26T08:00:00+00:00", "read_at": None}

    read = teamleder.post(f"/notifications/{breach.id}/read")
    assert read.status_code == 200 and read.get_json()["read_at"] == "2027-01-26T08:00:00+00:00"
    assert teamleder.post(f"/notifications/{breach.id}/read").status_code == 200  # idempotent
    assert teamleder.get("/notifications?unread=true").get_json() == {
        "items": [], "total": 0, "unread": 0, "page": 1, "per_page": 50, "pages": 1}
    assert teamleder.get("/notifications").get_json()["total"] == 1

    sagsbehandler = Client(app, runtime, "boegeby.sagsbehandler")
    overdue = note(runtime, "task_overdue")  # issue 14: the open task's deadline has passed
    assert sorted(n["id"] for n in sagsbehandler.get("/notifications").get_json()["items"]) == sorted(
        [due_soon.id, overdue.id])
    denied = sagsbehandler.post(f"/notifications/{breach.id}/read")
    assert denied.status_code == 404 and denied.get_json()["code"] == 404
    foreign = Client(app, runtime, "aaby.teamleder")
    assert foreign.get("/notifications").get_json()["items"] == []
    assert foreign.post(f"/notifications/{due_soon.id}/read").status_code == 404
    assert sagsbehandler.post("/notifications/read").get_json() == {"marked": 2, "unread": 0}
    assert note(runtime, "due_soon").read_at is not None
    assert app.test_client().get("/api/v1/notifications").status_code == 401
    assert teamleder.get("/notifications?per_page=0").status_code == 422

    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/notifications", "/api/v1/notifications/{notification_id}/read",
            "/api/v1/notifications/read"} <= set(spec["paths"])
    listed = spec["paths"]["/api/v1/notifications"]["get"]
    assert {p["name"] for p in listed["parameters"]} == {"unread", "page", "per_page"}
    assert "Notification" in spec["components"]["schemas"]
    assert "404" in spec["paths"]["/api/v1/notifications/{notification_id}/read"]["post"]["responses"]
