"""Notifications in the reader's language (issue 14, "English available"): a note keeps
what its title and body were made from (``args``), the worker stores the Danish, and the
Beskeder page renders the same texts in Danish or English, with the task's name from its
model, the rule's and the case type's names, and dates in the reader's format. A note
written before ``args`` existed still shows its stored Danish."""
from __future__ import annotations

import html
import importlib.util
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask_babel import force_locale, gettext
from sqlalchemy import null, select, update

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


def _notes(reader: Browser) -> list[str]:
    """The rows of the reader's Beskeder page, without the forms' CSRF tokens (they carry
    the second they were made in)."""
    return [re.sub(r'name="csrf_token" value="[^"]*"', "", row) for row in _rows(text(reader.get("/beskeder")))]


def _migrate_0018(runtime) -> None:
    """Run migration 0018's upgrade on the test's database (as ``alembic upgrade`` would)."""
    path = Path(__file__).resolve().parent.parent / "alembic" / "versions" / "0018_notification_args_recovered.py"
    spec = importlib.util.spec_from_file_location("migration_0018", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with runtime.db.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration.upgrade()


def test_notes_written_before_args_are_read_back_and_shown_in_english(app, runtime):
    """Migration 0018: a note from before 0016 (Danish title and body, no ``args``) gets
    the values its text was made from, and an English reader sees it as a newer note."""
    case_id = start_fleksjob(runtime)
    poll_after(runtime, timedelta(days=19))
    poll_after(runtime, timedelta(days=3))
    sagsbehandler, teamleder = Browser(app, "boegeby.sagsbehandler"), Browser(app, "boegeby.teamleder")
    for reader in (sagsbehandler, teamleder):
        reader.post("/sprog", data={"lang": "en", "next": "/beskeder"})
    english = {reader: _notes(reader) for reader in (sagsbehandler, teamleder)}
    target = notices.danish_target("maal_underskrift_moede")
    with runtime.sessions.begin() as session:
        made = {note.id: (note.kind, note.args) for note in session.scalars(select(Notification))}
        assert sorted(kind for kind, _args in made.values()) == ["deadline_breach", "due_soon", "task_overdue"]
        municipality_id = session.scalar(select(User.municipality_id).where(User.username == "boegeby.teamleder"))
        old = {  # as the worker wrote them before 0016 (a target's start date was ISO then)
            "target_breach": (f"Servicemål overskredet: {target}", f"Målet var 01.03.2027 (sag {case_id}, start 2027-01-04)."),
            "delivery_failed": ("Levering mislykkedes 5 gange (letter)", "Udgående letter #9: ConnectionError: (sag 2)"),
            "task_reassigned": (f"Opgave givet til dig: {TASK_DA}", f"Anne Hansen har givet dig opgaven (sag {case_id})."),
            "user_deactivated": ("Ane Berg (ab) er deaktiveret",
                                 "1 opgave(r), som Ane Berg havde taget, er lagt tilbage i rollernes fælles "
                                 f"indbakke: »{TASK_DA}« (Sagsbehandler)."),
        }
        for kind, (title, body) in old.items():
            session.add(Notification(municipality_id=municipality_id, recipient_role="teamleder", kind=kind,
                                     title=title, body=body, created_at=datetime(2027, 1, 5, tzinfo=timezone.utc)))
        session.add(Notification(municipality_id=municipality_id, recipient_role="teamleder", kind="deadline_breach",
                                 title="Frist overskredet: en gammel note", body="Skrevet før args.",
                                 created_at=datetime(2027, 1, 5, tzinfo=timezone.utc)))
        session.execute(update(Notification).where(Notification.id.in_(made)).values(args=null()))
    stripped = _notes(sagsbehandler)
    assert any("Fristen udløber" in row for row in stripped)  # the stored Danish, without args

    _migrate_0018(runtime)
    with runtime.sessions() as session:
        notes = {note.id: note for note in session.scalars(select(Notification))}
    for note_id, (kind, args) in made.items():
        recovered = notes[note_id].args
        assert recovered is not None and recovered.keys() == args.keys(), kind
        assert {k: v for k, v in recovered.items() if k != "due"} == {k: v for k, v in args.items() if k != "due"}
        assert abs(datetime.fromisoformat(recovered["due"]) - datetime.fromisoformat(args["due"])) < timedelta(minutes=1)
    by_kind = {note.kind: note for note in notes.values() if note.id not in made}
    assert by_kind["target_breach"].args == {"target": "maal_underskrift_moede", "due": "2027-03-01", "case": case_id,
                                             "start": "2027-01-04"}
    assert by_kind["delivery_failed"].args == {"attempts": 5, "channel": "letter", "item": 9,
                                               "error": "ConnectionError: (sag 2)"}
    assert by_kind["task_reassigned"].args == {"task": TASK_DA, "actor": "Anne Hansen", "case": case_id}
    assert by_kind["user_deactivated"].args is None  # the released tasks' processes are not in the text
    assert [n.args for n in notes.values() if n.title == "Frist overskredet: en gammel note"] == [None]
    for note in notes.values():  # the Danish each note shows is the text it was stored with
        if note.args is not None:
            assert notices.render(note.kind, note.args)[0] == note.title

    assert _notes(sagsbehandler) == english[sagsbehandler]
    after = _notes(teamleder)
    assert all(row in after for row in english[teamleder])
    after = "".join(after)
    assert "Service target" in after or label_in("maal_underskrift_moede", "en") in after
    assert "Frist overskredet: en gammel note" in after and "Ane Berg (ab) er deaktiveret" in after


DUE = datetime(2027, 1, 25, 22, 59, tzinfo=timezone.utc).astimezone(notices.LOCAL).isoformat()
READ_BACK = [
    ("due_soon", {"task": "Hold (første) samtale: sag 3", "due": DUE, "case": 7}),
    ("task_overdue", {"task": TASK_DA, "due": DUE, "case": 7}),
    # two case types' rules share this label: the note's case type tells which
    ("deadline_breach", {"rule": "sdp_opfoelgning_interval", "due": DUE, "case": 7, "case_type": "sygedagpenge"}),
    ("deadline_breach", {"rule": "rf_opfoelgning_interval", "due": DUE, "case": 7, "case_type": "ressourceforloeb"}),
    ("deadline_breach", {"rule": "frist_uden_regel", "due": DUE, "case": 7, "case_type": "fleksjob"}),  # a bpmn id
    ("target_breach", {"target": "maal_underskrift_moede", "due": "2027-03-01", "case": 3, "start": "2027-01-04"}),
    ("target_soon", {"target": "maal_underskrift_moede", "due": "2027-03-01", "case": 3}),
    ("task_reassigned", {"task": TASK_DA, "actor": "Anne Hansen (teamleder)", "case": 3}),
    ("delivery_failed", {"attempts": 5, "channel": "letter", "item": 44, "error": "ConnectionError: (sag 5)\nline 2"}),
]


@pytest.mark.parametrize("kind, args", READ_BACK)
def test_a_notes_values_are_read_back_from_its_danish_text(kind, args):
    title, body = notices.render(kind, args)
    assert notices.recover_args(kind, title, body) == args


def test_only_certain_values_are_read_back():
    title, body = notices.render("deadline_breach", READ_BACK[2][1])
    assert notices.recover_args("deadline_breach", title, body.replace("sygedagpenge", "ukendt")) is None  # which rule?
    assert notices.recover_args("task_overdue", title, body) is None             # another kind's text
    assert notices.recover_args("due_soon", "Frist nærmer sig: a\nb", "Fristen udløber 25.01.2027 (sag 7).") is None
    assert notices.recover_args("due_soon", "Frist nærmer sig: a", "Fristen udløber 25.01.2027 (sag 07).") is None
    assert notices.recover_args("user_deactivated", *notices.render(
        "user_deactivated", {"user": "Ane", "username": "a.b", "count": 0, "released": []})) is None
