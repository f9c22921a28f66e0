"""Notifications in the reader's language (issue 14, "English available"): a note keeps
what its title and body were made from (``args``), the worker stores the Danish, and the
Beskeder page renders the same texts in Danish or English, with the task's name from its
model, the rule's and the case type's names, and dates in the reader's format. A note
written before ``args`` existed still shows its stored Danish."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from inbox import create_app
from processes import notices
from processes.engine import Actor
from processes.models import HumanTask, Notification, User
from processes.policy import label_in
from test_inbox import Browser, text
from test_inbox_notifications import poll_after, start_fleksjob

TASK_DA, TASK_EN = "Hold første samtale efter visitation", "Hold the first talk after referral"


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr id="besked-\d+">(.*?)</tr>', page, re.S)


def test_every_notice_text_has_english(app):
    """The texts stand once, in processes/notices.py (marked ``N_()``, extracted by
    scripts/translations); the web app translates them: each must have English."""
    texts = [text for pair in notices.TEXTS.values() for text in pair]
    assert len(texts) == 2 * len(notices.TEXTS) >= 16
    with app.test_request_context("/"), force_locale("en"):
        untranslated = [text for text in texts if gettext(text) == text]
    assert not untranslated, ("notice texts without English (add them to inbox/translations/en_notifications.py "
                              f"and run scripts/translations): {untranslated}")


def test_danish_render_is_what_the_worker_wrote_before():
    due = datetime(2027, 1, 25, 22, 59, tzinfo=timezone.utc).isoformat()
    assert notices.render("deadline_breach", {"rule": "fj_foerste_samtale", "due": due, "case": 7,
                                              "case_type": "fleksjob"}) == (
        f"Frist overskredet: {label_in('fj_foerste_samtale', 'da')}",
        "Fristen udløb 25.01.2027 kl. 23:59 (sag 7, fleksjob).")
    assert notices.render("target_breach", {"target": "maal_underskrift_moede", "due": "2027-03-01", "case": 3,
                                            "start": "2027-01-04"})[1] == \
        "Målet var 01.03.2027 (sag 3, start 04.01.2027)."
    assert notices.render("user_deactivated", {"user": "Ane", "username": "a.b", "count": 0, "released": []})[1] \
        == "0 opgave(r), som Ane havde taget, er lagt tilbage i rollernes fælles indbakke."


def test_the_caseworker_and_the_teamleder_read_the_notes_in_either_language(app, runtime):
    case_id = start_fleksjob(runtime)
    assert poll_after(runtime, timedelta(days=19))["queued_due_soon"] == 1
    assert poll_after(runtime, timedelta(days=3))["queued_breach"] == 1
    with runtime.sessions() as session:
        breach = session.scalar(select(Notification).where(Notification.kind == "deadline_breach"))
    rule = breach.args["rule"]
    assert breach.title == f"Frist overskredet: {label_in(rule, 'da')}"  # the stored Danish, as before

    sagsbehandler = Browser(app, "boegeby.sagsbehandler")
    danish = text(sagsbehandler.get("/beskeder"))
    assert f"Frist nærmer sig: {TASK_DA}" in danish and f"Fristen er overskredet: {TASK_DA}" in danish
    assert "Fristen udløber 26.01.2027 kl. 00:59" not in danish  # the page formats dates itself
    assert re.search(r"Fristen udløber 2[56]\. jan\. 2027 \d\d:\d\d \(sag %d\)\." % case_id, danish)

    sagsbehandler.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    english = text(sagsbehandler.get("/beskeder"))
    rows = _rows(english)
    assert len(rows) == 2
    assert f"Deadline approaching: {TASK_EN}" in english and f"The deadline has passed: {TASK_EN}" in english
    assert re.search(r"The deadline is 2[56] Jan 2027 \d\d:\d\d \(case %d\)\." % case_id, english)
    assert "The task is still open." in english
    for danish_word in ("Fristen", "sag ", TASK_DA, "Opgaven"):
        assert not any(danish_word in row for row in rows), danish_word

    teamleder = Browser(app, "boegeby.teamleder")
    teamleder.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    english = text(teamleder.get("/beskeder"))
    assert f"Deadline breached: {label_in(rule, 'en')}" in english
    assert f"(case {case_id}, flex job)" in english.lower() or f"(case {case_id}, Flex job)" in english
    assert label_in(rule, "da") not in english


def test_a_deactivation_note_names_the_released_tasks_in_english(app, runtime):
    start_fleksjob(runtime)
    with runtime.sessions() as session:
        task = session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "foerste_samtale"))
        worker = session.scalar(select(User).where(User.username == "boegeby.sagsbehandler"))
    runtime.engine.claim_task(task.id, Actor.for_user(worker))
    admin = Browser(app, "boegeby.admin")
    assert admin.post(f"/admin/brugere/{worker.id}/deaktiver").status_code == 302

    teamleder = Browser(app, "boegeby.teamleder")
    danish = text(teamleder.get("/beskeder"))
    assert f"er lagt tilbage i rollernes fælles indbakke: »{TASK_DA}« (" in danish
    teamleder.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    english = text(teamleder.get("/beskeder"))
    english = html.unescape(english)
    assert "is deactivated" in english and f"are back in the roles' shared inbox: »{TASK_EN}« (" in english
    assert TASK_DA not in english


def test_a_note_written_before_args_shows_its_stored_danish(app, runtime):
    start_fleksjob(runtime)
    with runtime.sessions.begin() as session:
        municipality_id = session.scalar(select(User.municipality_id).where(User.username == "boegeby.teamleder"))
        session.add(Notification(municipality_id=municipality_id, recipient_role="teamleder", kind="deadline_breach",
                                 title="Frist overskredet: en gammel note", body="Skrevet før args.",
                                 created_at=datetime(2027, 1, 5, tzinfo=timezone.utc)))
    teamleder = Browser(app, "boegeby.teamleder")
    teamleder.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    english = text(teamleder.get("/beskeder"))
    assert "Frist overskredet: en gammel note" in english and "Skrevet før args." in english
