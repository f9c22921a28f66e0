"""Acceptance guard: every kind of demo user walks the product by its links.

A small demo-like installation (the reference municipalities, their demo users, a few
weeks of history driven through the engine by :mod:`processes.history`, then the demo's
running cases) is crawled breadth-first from "/" by every demo role of Aaby, Aaby's
administrator and ``national.admin``, in Danish and (after the language form) in English.
No page may answer 5xx, no rendered link may be missing or forbidden to the user it was
shown to, no page may show a raw policy/role/model key as text, break the
Content-Security-Policy (inline script, inline event handlers, style attributes) or, in
English, show a Danish UI message. The findings of a role are listed by URL in the
assertion message.
"""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

from crawl import Crawl
from inbox import create_app
from sqlalchemy import select

from processes import history, setup, studio, timekeeping
from processes.library import REPO_ROOT
from processes.models import Municipality
from processes.policy import CATALOGUE
from processes.roles import ROLES

HISTORY_WEEKS = 6
# Where a crawl starts besides "/": a search that finds the demo's citizens (a search page
# without a query lists nothing to follow).
SEEDS = ("/sager/soeg?q=demo",)
MUNICIPALITY = "aaby"
USERS = [f"{MUNICIPALITY}.{role}" for role in ROLES] + [f"{MUNICIPALITY}.admin", setup.NATIONAL_ADMIN]


def raw_keys() -> frozenset:
    """Identifiers users should only see through their labels: policy parameters,
    multi-word role keys and the snake-case ids of the reference models' elements."""
    keys = {p.key for p in CATALOGUE} | {r for r in ROLES if "_" in r}
    for path in (REPO_ROOT / "bpmn").rglob("*.bpmn"):
        keys |= set(re.findall(r'\bid="([a-z][a-z0-9]*(?:_[a-z0-9]+)+)"', path.read_text(encoding="utf-8")))
    return frozenset(keys)


def untranslated_messages() -> frozenset:
    """Danish UI messages whose English differs: an English page showing one forgot ``_()``
    or its English. Only messages of two words or more (a single word may be a name)."""
    with open(Path(__file__).resolve().parent.parent / "inbox" / "translations" / "en" / "LC_MESSAGES"
              / "messages.mo", "rb") as f:
        catalogue = read_mo(f)
    found = set()
    for message in catalogue:
        if not message.id or isinstance(message.id, (tuple, list)) or "%(" in message.id:
            continue
        if message.string and message.string != message.id and len(message.id.split()) >= 2:
            found.add(message.id.strip())
    return frozenset(found)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """A demo installation like ``sagsflow init``'s, with a few weeks of history."""
    url = f"sqlite:///{tmp_path_factory.mktemp('crawl') / 'demo.sqlite3'}"
    rt = setup.open_installation(url, start=setup.DEMO_START - timedelta(weeks=HISTORY_WEEKS))
    built = history.HistoryDriver(rt.engine).run(setup.DEMO_START)
    assert built.cases > 0
    assert setup.seed_demo_cases(rt.sessions, after_history=True) == len(setup.DEMO_CASES)
    with rt.sessions.begin() as db:   # a studio draft, as a process designer leaves one
        aaby = db.scalar(select(Municipality.id).where(Municipality.key == MUNICIPALITY))
        studio.create_draft(db, aaby, "rehabilitering", f"{MUNICIPALITY}.procesdesigner", timekeeping.now(db))
    yield create_app(rt, TESTING=True)
    rt.close()


@pytest.fixture(scope="module")
def keys():
    return raw_keys(), untranslated_messages()


@pytest.mark.parametrize("lang", ["da", "en"])
@pytest.mark.parametrize("username", USERS)
def test_every_rendered_link_works_for_every_demo_user(demo_app, keys, username, lang):
    raw, untranslated = keys
    crawl = Crawl(demo_app, username, lang=lang, per_endpoint=4 if lang == "da" else 2,
                  seeds=SEEDS, raw_keys=raw, untranslated=untranslated if lang == "en" else frozenset()).run()
    assert len(crawl.visited) >= 3, f"{username} reached almost nothing: {crawl.visited}"
    assert not crawl.findings, f"{len(crawl.findings)} findings for {username} ({lang}):\n" + "\n".join(
        map(str, crawl.findings))


def test_the_national_administrator_is_not_offered_case_pages(demo_app):
    """``national.admin`` belongs to no municipality: no cases to own or find."""
    crawl = Crawl(demo_app, setup.NATIONAL_ADMIN)
    crawl.sign_in()
    page = crawl.client.get("/admin/kommuner")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "national.admin" in html
    assert "/sager/mine" not in html and "/sager/soeg" not in html
    caseworker = Crawl(demo_app, f"{MUNICIPALITY}.sagsbehandler")
    caseworker.sign_in()
    assert "/sager/mine" in caseworker.client.get("/").get_data(as_text=True)
