"""A breadth-first crawl of the web app as one signed-in user (tests/test_crawl.py).

Starting at "/", every same-origin ``<a href>`` the product renders is fetched with
GET, bounded by a cap per endpoint (the same page with other ids or filters adds little)
and a total cap. Every response is checked; what is wrong is returned as
:class:`Finding` rows (URL, status, what, the page that linked to it), so one run
reports everything at once.
"""
from __future__ import annotations

import re
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Links a crawl never follows: signing out ends the session it crawls with.
SKIP_ENDPOINTS = {"auth.logout", "static"}
# Snake-case words that are product vocabulary a page may show in running text.
ALLOWED_IDENTIFIERS = {"csrf_token"}
SNAKE = re.compile(r"(?<![\w.])[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")   # not a username's tail
# "Label (key)": a label that names its key for reference is fine; a key instead of a label is not.
NAMED_KEY = re.compile(r"(?<=\S) \([a-z][a-z0-9]*(?:_[a-z0-9]+)+\)")


@dataclass
class Finding:
    user: str
    lang: str
    url: str
    status: int | str
    what: str
    referrer: str

    def __str__(self) -> str:
        return f"[{self.user} {self.lang}] {self.status} {self.url} ({self.what}; linked from {self.referrer})"


class PageParser(HTMLParser):
    """Links, visible text and what the Content-Security-Policy would block in one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []
        self.csp: list[str] = []
        self._hidden = 0          # inside <script>, <style>, <template>, <code>, <pre>, <textarea>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for name, value in attrs.items():
            if name.startswith("on"):
                self.csp.append(f"inline event handler {name}= on <{tag}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.csp.append(f"javascript: URL in <{tag} {name}>")
            if name == "style":
                self.csp.append(f"inline style attribute on <{tag}> (style-src 'self')")
        if tag == "script" and not attrs.get("src") and attrs.get("type") not in ("application/json",):
            self.csp.append("inline <script> (script-src 'self')")
        if tag == "style":
            self.csp.append("inline <style> (style-src 'self')")
        if tag in ("script", "style", "template", "code", "pre", "textarea", "select"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template", "code", "pre", "textarea", "select") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.text.append(data.strip())


@dataclass
class Crawl:
    """One user's crawl in one language."""
    app: object
    username: str
    password: str = "demo"
    lang: str = "da"
    per_endpoint: int = 4
    limit: int = 250
    seeds: tuple = ()                              # where to start besides "/"
    raw_keys: frozenset = frozenset()              # identifiers a page must never show as text
    untranslated: frozenset = frozenset()          # Danish UI messages an English page must not show
    findings: list[Finding] = field(default_factory=list)
    visited: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self):
        self.client = self.app.test_client()
        self.adapter = self.app.url_map.bind("localhost")

    # ------------------------------------------------------------------ session
    def sign_in(self) -> None:
        csrf = CSRF.search(self.client.get("/login").get_data(as_text=True)).group(1)
        response = self.client.post("/login", data={"username": self.username, "password": self.password,
                                                    "csrf_token": csrf})
        assert response.status_code == 302, f"{self.username} cannot sign in ({response.status_code})"
        if self.lang != "da":
            html = self.client.get("/", follow_redirects=True).get_data(as_text=True)
            csrf = CSRF.search(html).group(1)
            switched = self.client.post("/sprog", data={"lang": self.lang, "next": "/", "csrf_token": csrf})
            assert switched.status_code == 302
            landed = self.client.get("/", follow_redirects=True).get_data(as_text=True)
            assert f'<html lang="{self.lang}"' in landed, f"{self.username}: the language form did not switch"

    # -------------------------------------------------------------------- crawl
    def endpoint(self, path: str) -> str | None:
        try:
            endpoint, _args = self.adapter.match(path, method="GET")
        except NotFound:
            return None
        except MethodNotAllowed:
            return "<post only>"
        except Exception:  # a redirect rule (trailing slash) and friends
            return "<redirect>"
        return endpoint

    def run(self) -> "Crawl":
        self.sign_in()
        queue: deque[tuple[str, str]] = deque([("/", "(start)")] + [(seed, "(seed)") for seed in self.seeds])
        seen: set[str] = {"/", *self.seeds}
        per_endpoint: Counter = Counter()
        while queue and len(self.visited) < self.limit:
            url, referrer = queue.popleft()
            for link in self.visit(url, referrer):
                if link in seen:
                    continue
                seen.add(link)
                endpoint = self.endpoint(urlsplit(link).path)
                if endpoint in SKIP_ENDPOINTS:
                    continue
                if endpoint is None:
                    self.report(link, 404, "the product links to a URL no route serves", url)
                    continue
                if endpoint == "<post only>":
                    self.report(link, 405, "a link to a URL that only takes POST", url)
                    continue
                per_endpoint[endpoint] += 1
                if per_endpoint[endpoint] > self.per_endpoint:
                    continue
                queue.append((link, url))
        return self

    def report(self, url, status, what, referrer) -> None:
        self.findings.append(Finding(self.username, self.lang, url, status, what, referrer))

    def visit(self, url: str, referrer: str) -> list[str]:
        try:
            response = self.client.get(url)
        except Exception as exc:  # TESTING propagates exceptions: that is a 500 for a user
            last = traceback.extract_tb(exc.__traceback__)[-1]
            self.report(url, 500, f"{type(exc).__name__}: {exc} at {last.filename}:{last.lineno}", referrer)
            self.visited.append((url, 500))
            return []
        status = response.status_code
        self.visited.append((url, status))
        if status >= 500:
            self.report(url, status, "server error", referrer)
            return []
        if status in (301, 302, 303, 307, 308):
            target = urljoin(url, response.headers["Location"])
            parts = urlsplit(target)
            if parts.netloc not in ("", "localhost"):
                return []
            if parts.path == "/login":
                self.report(url, status, "a rendered link sends the signed-in user to the login page", referrer)
                return []
            return [parts.path + (f"?{parts.query}" if parts.query else "")]
        if status == 404:
            self.report(url, status, "a link the product rendered is not found", referrer)
            return []
        if status == 403:
            self.report(url, status, "a link the product rendered is forbidden to the user it was shown to",
                        referrer)
            return []
        if status >= 400:
            self.report(url, status, "client error on a rendered link", referrer)
            return []
        if not response.mimetype == "text/html":
            return []
        html = response.get_data(as_text=True)
        page = PageParser()
        page.feed(html)
        self.check_page(url, html, page, referrer)
        links = []
        for href in page.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
                continue
            if not parts.path:
                continue
            links.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return links

    def check_page(self, url: str, html: str, page: PageParser, referrer: str) -> None:
        if f'<html lang="{self.lang}"' not in html:
            self.report(url, 200, f"page is not in the chosen language {self.lang!r}", referrer)
        for problem in sorted(set(page.csp)):
            self.report(url, 200, f"CSP: {problem}", referrer)
        shown = set()
        for chunk in page.text:
            for word in SNAKE.findall(NAMED_KEY.sub("", chunk)):
                if word in self.raw_keys and word not in ALLOWED_IDENTIFIERS:
                    shown.add(word)
        for word in sorted(shown):
            self.report(url, 200, f"raw key {word!r} shown as text", referrer)
        if self.untranslated:
            for chunk in sorted(set(page.text) & self.untranslated):
                self.report(url, 200, f"Danish UI text in English: {chunk!r}", referrer)
