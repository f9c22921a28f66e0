"""The browser tests' live server (tests/browser.py ``serve``) stops cleanly: its loop
thread never polls a socket that was closed under it (CI had warnings of unhandled
EBADF exceptions in the server thread). No browser is needed."""
from __future__ import annotations

import threading
import time
import urllib.request

from waitress import wasyncore

from browser import serve


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hej"]


def test_stop_never_closes_a_socket_the_server_loop_is_about_to_poll(monkeypatch):
    """The loop is made to spend nearly all its time between building its list of sockets
    and polling them (the window of the race), so a stop that closed the sockets from the
    test's thread would land there and the poll would fail with EBADF."""
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    select_module = wasyncore.select

    class SlowSelect:
        def __getattr__(self, name):
            return getattr(select_module, name)

        @staticmethod
        def select(r, w, e, timeout=None):
            time.sleep(0.02)
            return select_module.select(r, w, e, 0)

    monkeypatch.setattr(wasyncore, "select", SlowSelect())
    for _ in range(5):
        base, stop = serve(_hello)
        with urllib.request.urlopen(base + "/") as answer:  # a request: a channel in the map too
            assert answer.read() == b"hej"
        time.sleep(0.05)
        stop()
    assert [(f.exc_type, f.exc_value) for f in failures] == []
