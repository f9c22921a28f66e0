"""Issue 14, point 5: finding a case by CPR number, name or case number inside one's
municipality (only cases one may open; every search audited), and "Mine sager"."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inbox import create_app
from inbox.case_search import parse_query
from processes.engine import Actor
from processes.models import AuditEvent, User
from test_inbox import Browser, text


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def _start(rt, municipality, cpr, name, case_type="rehabilitering", by="sagsbehandler"):
    with rt.sessions() as session:
        starter = Actor.for_user(session.scalar(select(User).where(User.username == f"{municipality}.{by}")))
    return rt.engine.start_case(municipality, case_type, cpr, name, actor=starter).case_id


def _found(page: str) -> list[str]:
    return re.findall(r'<a href="/sager/\d+">([^<]+)</a>', page)


@pytest.mark.parametrize("text,expected", [
    ("010190-1234", ("cpr", "010190-1234")), ("0101901234", ("cpr", "010190-1234")),
    (" 17 ", ("case", "17")), ("anna", ("name", "anna")), ("a", None), ("", None),
])
def test_what_a_search_is_for(text, expected):
    assert parse_query(text) == expected


def test_search_by_cpr_name_and_case_number_within_the_municipality_and_audited(sqlite_runtime, app):
    anna = _start(sqlite_runtime, "aaby", "010190-1234", "Anna Andersen")
    _start(sqlite_runtime, "aaby", "020290-2345", "Annette Berg")
    _start(sqlite_runtime, "boegeby", "010190-1234", "Anna Andersen fra Bøgeby")    # the same CPR elsewhere
    caseworker = Browser(app, "aaby.sagsbehandler")
    by_cpr = text(caseworker.get("/sager/soeg?q=0101901234"))
    assert _found(by_cpr) == ["Anna Andersen"] and "010190-XXXX" in by_cpr and "010190-1234" not in by_cpr
    assert _found(text(caseworker.get("/sager/soeg?q=ANN"))) == ["Anna Andersen", "Annette Berg"]
    assert _found(text(caseworker.get(f"/sager/soeg?q={anna}"))) == ["Anna Andersen"]
    assert _found(text(caseworker.get("/sager/soeg?q=Bøgeby"))) == []
    assert "1 sag fundet" in text(caseworker.get("/sager/soeg?q=Annette"))
    with sqlite_runtime.sessions() as session:
        searches = [(a.actor, a.detail["kind"], a.detail["query"], a.detail["cases"]) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "case.search").order_by(AuditEvent.id))]
    assert searches[0] == ("aaby.sagsbehandler", "cpr", "010190-1234", [anna])
    assert [s[1] for s in searches] == ["cpr", "name", "case", "name", "name"]


def test_search_finds_only_cases_one_may_open(sqlite_runtime, app):
    case_id = _start(sqlite_runtime, "aaby", "010190-1234", "Anna Andersen")
    assert _found(text(Browser(app, "aaby.ydelse").get("/sager/soeg?q=Anna"))) == []        # no role on it
    assert Browser(app, "aaby.ydelse").get(f"/sager/{case_id}").status_code == 403          # the same rule
    assert _found(text(Browser(app, "aaby.sundhedskoordinator").get("/sager/soeg?q=Anna"))) == ["Anna Andersen"]
    assert _found(text(Browser(app, "aaby.teamleder").get("/sager/soeg?q=Anna"))) == ["Anna Andersen"]


def test_mine_sager_lists_the_cases_one_owns(sqlite_runtime, app):
    _start(sqlite_runtime, "aaby", "010190-1234", "Anna Andersen")                           # started: owned
    _start(sqlite_runtime, "aaby", "020290-2345", "Bent Berg", by="teamleder")                # someone else's
    page = text(Browser(app, "aaby.sagsbehandler").get("/sager/mine"))
    assert _found(page) == ["Anna Andersen"] and "010190-XXXX" in page
    row = re.search(r'Anna Andersen</a></td>\s*<td class="cpr">010190-XXXX</td>\s*<td>\d+</td>\s*'
                    r'<td>Rehabilitering</td>\s*<td>([^<]+)</td>\s*<td>(\d+)</td>', page)
    assert row.groups() == ("Sagsbehandler (myndighed) (Aaby)", "1")   # owner, open tasks
    assert _found(text(Browser(app, "aaby.sundhedskoordinator").get("/sager/mine"))) == []
    nav = text(Browser(app, "aaby.sagsbehandler").get("/"))
    assert 'href="/sager/mine"' in nav and 'href="/sager/soeg"' in nav
