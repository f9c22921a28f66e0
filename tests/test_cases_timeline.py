"""Issue 14, point 4: the complete timeline on the case page: tasks opened and done with
the decisions taken in them, deadlines breached, letters, reassignments and owner
changes, processes finished, and policy changes applied to the case, with who and when."""
from __future__ import annotations

import re

import pytest

from inbox import create_app
from processes.timeline import case_timeline
from test_cases_teamleder import colleague, late_preparation
from test_domain_rehab import INDSTILLING, Rehab, to_indstilling
from test_inbox import Browser, text


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def decided_in_writing(rt) -> Rehab:
    """A Bøgeby case decided in writing after the hearing (fleksjob, 2027-02-18): the
    rehabilitering is finished and a fleksjob has started."""
    w = to_indstilling("boegeby", rt, "fleksjob")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["fleksjob"])
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    w.complete("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="fleksjob", afgoerelsesdato="2027-02-18",
               afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    return w


def _timeline_text(page: str) -> str:
    start = page.index('id="h-history"')
    part = page[start:page.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def test_the_timeline_has_every_kind_of_event_in_order(sqlite_runtime, app):
    w = decided_in_writing(sqlite_runtime)
    with sqlite_runtime.sessions() as session:
        kinds = [e.kind for e in case_timeline(session, w.case_id)]
    assert kinds[0] == "case_started"
    for kind in ("case_started", "task_opened", "task_completed", "letter_queued", "process_completed"):
        assert kind in kinds, kind
    shown = _timeline_text(text(Browser(app, "boegeby.afgoerelse").get(f"/sager/{w.case_id}")))
    assert "Sagen er oprettet" in shown
    assert "Opgave udført: Hold rehabiliteringsmøde med borgeren" in shown
    assert "Indstilling: Fleksjob" in shown                                # the decision, in words
    assert "Afgørelse: Fleksjob" in shown
    assert "Brev dannet: Partshøring" in shown
    assert "Forløbet er afsluttet" in shown
    assert "Afgørelsesteam (Boegeby)" in shown                            # who, by name
    assert shown.index("Opgave udført: Hold rehabiliteringsmøde") < shown.index("Opgave udført: Træf afgørelse")
    assert "partshoering" not in shown and "traef_afgoerelse" not in shown  # no codes


def test_breaches_reassignments_and_owner_changes_are_on_the_timeline(sqlite_runtime, app):
    colleague(sqlite_runtime)
    w = late_preparation(sqlite_runtime)
    late = w._open("forberedende_del")
    lead = Browser(app, "aaby.teamleder")
    lead.post(f"/opgaver/{late.id}/fordel", data={"username": "aaby.kollega"})
    with sqlite_runtime.sessions() as session:
        from sqlalchemy import select
        from processes.models import User
        kollega = session.scalar(select(User).where(User.username == "aaby.kollega"))
    lead.post(f"/sager/{w.case_id}/ejer", data={"owner": str(kollega.id)})
    shown = _timeline_text(text(lead.get(f"/sager/{w.case_id}")))
    assert "Frist overskredet Frist: forberedende del færdig" in shown
    assert "Opgave oprettet: Frist overskredet: forberedende del færdig" in shown   # the escalation task
    assert "Opgave givet til aaby.kollega: Udarbejd den forberedende del med borgeren" in shown
    assert "Sagsejer: aaby.kollega" in shown
    assert "Teamleder (Aaby)" in shown
    assert shown.index("Frist overskredet Frist") < shown.index("Opgave givet til aaby.kollega")


def test_the_real_time_is_shown_where_it_differs_from_the_case_clock(sqlite_runtime, app):
    """The tests run on a virtual clock in 2027: every audited event also says when it
    was really recorded; an event recorded on the case's own time says nothing more."""
    from datetime import datetime, timedelta, timezone
    from processes.timeline import Entry
    w = late_preparation(sqlite_runtime)
    with sqlite_runtime.sessions() as session:
        started = next(e for e in case_timeline(session, w.case_id) if e.kind == "case_started")
    real = started.real_time
    assert real is not None and abs(real - datetime.now(timezone.utc)) < timedelta(minutes=10)
    shown = _timeline_text(text(Browser(app, "aaby.teamleder").get(f"/sager/{w.case_id}")))
    assert "registreret" in shown
    same = Entry(at=real, kind="case_started", recorded_at=real + timedelta(seconds=5))
    assert same.real_time is None
