"""The pager under a long list (``_pager.html``): page 2 of the audit log, the Beskeder page
and the inbox, in Danish and English: a link to each neighbouring page that keeps the
page's filters, and "Side 2 af N". The analytics drill-down's pager is checked the same
way in tests/test_analytics_interfaces.py (it needs that file's history)."""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from inbox import create_app
from processes.models import AuditEvent, Notification, User
from test_inbox import Browser, text

WORDS = {"da": {"pages": "Sider", "page": "Side %s af %s", "newer": "Nyere", "older": "Ældre",
                "previous": "← Forrige", "next": "Næste →",
                "previous page": "Forrige side", "next page": "Næste side"},
         "en": {"pages": "Pages", "page": "Page %s of %s", "newer": "Newer", "older": "Older",
                "previous": "← Previous", "next": "Next →",
                "previous page": "Previous page", "next page": "Next page"}}


def pager(page: str) -> tuple[str, list[tuple[str, dict, str, str | None]], str]:
    """The page's one pager: its label, its links ``(path, query, text, rel)`` and the
    "Side x af y" text."""
    navs = re.findall(r'<nav class="pager" aria-label="([^"]*)">(.*?)</nav>', page, re.S)
    assert len(navs) == 1, navs
    label, body = navs[0]
    links = []
    for attributes, words in re.findall(r"<a ([^>]*)>([^<]*)</a>", body):
        href = html.unescape(re.search(r'href="([^"]*)"', attributes).group(1))
        rel = re.search(r'rel="([^"]*)"', attributes)
        links.append((urlsplit(href).path, parse_qs(urlsplit(href).query), html.unescape(words),
                      rel.group(1) if rel else None))
    return html.unescape(label), links, html.unescape(re.search(r"<span>([^<]*)</span>", body).group(1))


def expect_pager(page: str, language: str, path: str, filters: dict, number: str,
                 previous: str, following: str, rel: bool = False, pages: int = 3, first: dict | None = None) -> None:
    """Page 2 of ``pages``: links to pages 1 and 3 (``number`` names the page parameter;
    ``first``: the first page's parameters when not ``number=1``) with the filters kept,
    labelled ``previous`` and ``following`` (keys of :data:`WORDS`)."""
    words = WORDS[language]
    label, links, where = pager(page)
    assert (label, where) == (words["pages"], words["page"] % (2, pages))
    assert links == [
        (path, {**filters, number: ["1"]} if first is None else first, words[previous], "prev" if rel else None),
        (path, {**filters, number: ["3"]}, words[following], "next" if rel else None)]


def in_english(browser: Browser, path: str) -> str:
    browser.post("/sprog", data={"lang": "en", "next": path})
    return text(browser.get(path))


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def test_page_two_of_the_audit_log_keeps_the_filter(app, sqlite_runtime, monkeypatch):
    import inbox.admin
    monkeypatch.setattr(inbox.admin, "AUDIT_PAGE_SIZE", 2)
    with sqlite_runtime.sessions.begin() as db:
        aaby = db.scalar(select(User.municipality_id).where(User.username == "aaby.admin"))
        db.add_all(AuditEvent(municipality_id=aaby, actor="aaby.admin", action="pager.test", detail={"n": n},
                              at=datetime(2027, 1, 4, 9, n, tzinfo=timezone.utc)) for n in range(5))
    admin = Browser(app, "aaby.admin")
    path = "/admin/revision?handling=pager.test&side=2"
    danish = text(admin.get(path))
    expect_pager(danish, "da", "/admin/revision", {"handling": ["pager.test"]}, "side", "newer", "older")
    expect_pager(in_english(admin, path), "en", "/admin/revision", {"handling": ["pager.test"]}, "side",
                 "newer", "older")


def test_page_two_of_the_messages(app, sqlite_runtime):
    with sqlite_runtime.sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == "aaby.sagsbehandler"))
        db.add_all(Notification(municipality_id=user.municipality_id, recipient_role="", user_id=user.id,
                                kind="due_soon", title=f"Besked {n}", body="",
                                created_at=datetime(2027, 1, 4, tzinfo=timezone.utc)) for n in range(101))
    reader = Browser(app, "aaby.sagsbehandler")
    danish = text(reader.get("/beskeder?side=2"))
    expect_pager(danish, "da", "/beskeder", {}, "side", "newer", "older")
    expect_pager(in_english(reader, "/beskeder?side=2"), "en", "/beskeder", {}, "side", "newer", "older")


def test_page_two_of_the_inbox(app, sqlite_runtime):
    for n, name in enumerate(["Anna", "Bent", "Cecilie"]):
        sqlite_runtime.engine.start_case("aaby", "rehabilitering", f"01019{n}-1234", name)
    app.config["INBOX_PAGE_SIZE"] = 1
    me = Browser(app, "aaby.sagsbehandler")
    path = "/?sort=borger&page=2"
    danish = text(me.get(path))
    assert ">Bent<" in danish and ">Anna<" not in danish
    for language, page in (("da", danish), ("en", in_english(me, path))):
        expect_pager(page, language, "/", {"sort": ["borger"]}, "page", "previous", "next", rel=True,
                     first={"sort": ["borger"]})   # the first page needs no number
