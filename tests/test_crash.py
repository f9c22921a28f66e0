"""Crashes inside a transaction (issue 9, items 11 and 12), on SQLite and PostgreSQL.

A real ``sagsflow worker`` or ``sagsflow run`` process is stopped at a test-only pause
point (:mod:`processes.pausepoints`) in the middle of a transaction, after its writes and
before COMMIT (or just after COMMIT), and killed there with SIGKILL. The database is then
checked for what the killed transaction left (nothing), and a second process redoes the
work: exactly one breach, one letter, one escalation task; exactly one completion,
however often the user re-sends the form.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest
from sqlalchemy import func, make_url, select

from inbox.tokens import issue_token
from processes import setup
from processes.models import (
    AuditEvent, DeadlineEvent, Document, HumanTask, Notification, Outbox, ProcessInstance, Timer, User,
)
from test_worker import PAST_FIRST_TALK, advance, start, vaerkby

ROOT = Path(__file__).resolve().parent.parent
SAGSFLOW = [sys.executable, "-m", "sagsflow.cli"]
SECRET = "crash-test-secret-key-not-for-production"
CPR = "010190-1234"
ROUTE_FORM = {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "fleksjob", "rute": "team"}


# ------------------------------------------------------------------ processes
def spawn(args, tmp_path, name, pause=None, **popen):
    env = dict(os.environ, PYTHONUNBUFFERED="1", SAGSFLOW_SECRET_KEY=SECRET)
    env.pop("SAGSFLOW_TEST_PAUSE", None)
    if pause:
        env.update(SAGSFLOW_TEST_PAUSE=pause, SAGSFLOW_TEST_PAUSE_DIR=str(tmp_path))
    return subprocess.Popen([*SAGSFLOW, *args], cwd=ROOT, env=env, stderr=open(tmp_path / f"{name}.log", "w"),
                            **popen)


@pytest.fixture
def processes():
    """Every process a test starts; those still running at the end are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_for_pause(process, tmp_path, point, timeout=120.0) -> None:
    marker = tmp_path / f"{point}.paused"
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert process.poll() is None, f"the process ended ({process.returncode}) before pausing at {point}"
        assert time.monotonic() < deadline, f"timed out waiting for the pause at {point}"
        time.sleep(0.05)
    assert int(marker.read_text()) == process.pid


def kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def lock_is_held(rt, point, instance_id) -> bool:
    """Does another transaction hold the row a worker paused at ``point`` works on
    (PostgreSQL), or the database's write lock (SQLite)?"""
    if rt.db.dialect.name == "postgresql":
        model = ProcessInstance if point == "worker.step" else Outbox
        key = ProcessInstance.id if point == "worker.step" else Outbox.instance_id
        with rt.sessions() as session:  # SKIP LOCKED passes over a row another transaction holds
            mine = session.scalar(select(model.id).where(key == instance_id, model.id.isnot(None))
                                  .with_for_update(skip_locked=True))
            session.rollback()
        return mine is None
    conn = sqlite3.connect(make_url(rt.url).database, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        conn.close()
    return False


def counts(rt, instance_id) -> dict:
    where = lambda model: model.instance_id == instance_id  # noqa: E731
    with rt.sessions() as session:
        one = lambda query: session.scalar(query)  # noqa: E731
        return {
            "breaches": one(select(func.count(DeadlineEvent.id)).where(where(DeadlineEvent))),
            "fires": one(select(func.count(AuditEvent.id)).where(where(AuditEvent), AuditEvent.action == "timer.fire")),
            "escalations": one(select(func.count(HumanTask.id)).where(where(HumanTask), HumanTask.bpmn_id == "eskalering")),
            "talks": one(select(func.count(HumanTask.id)).where(where(HumanTask), HumanTask.bpmn_id == "samtale")),
            "letters": one(select(func.count(Outbox.id)).where(where(Outbox), Outbox.kind == "letter")),
            "letters_sent": one(select(func.count(Outbox.id)).where(where(Outbox), Outbox.kind == "letter",
                                                                    Outbox.sent_at.isnot(None))),
            "documents": one(select(func.count(Document.id)).where(where(Document))),
            "breach_notices_queued": one(select(func.count(Outbox.id)).where(
                Outbox.kind == "notification", Outbox.idempotency_key.like("breach:%"))),
            # the talk is still open after its deadline: its holder is told once (issue 14.3)
            "overdue_notices_queued": one(select(func.count(Outbox.id)).where(
                Outbox.kind == "notification", Outbox.idempotency_key.like("overdue:%"))),
            "breach_notices": one(select(func.count(Notification.id)).where(Notification.kind == "deadline_breach")),
            "timers": one(select(func.count(Timer.task_guid)).where(where(Timer))),
        }


# --------------------------------------------------------------------- item 11
@pytest.mark.parametrize("point", ["worker.step", "worker.deliver"])
def test_worker_killed_holding_the_instance_lock_mid_step_loses_and_doubles_nothing(
        db_url, tmp_path, processes, point):
    rt = vaerkby(db_url)
    try:
        instance, = start(rt)
        due_at = rt.engine.instance(instance.id).next_due_at
        advance(rt, PAST_FIRST_TALK)  # the first talk's deadline is breached
        first = spawn(["--database-url", rt.url, "worker", "--interval", "0.2"], tmp_path, "killed", pause=point)
        processes.append(first)
        wait_for_pause(first, tmp_path, point)
        assert lock_is_held(rt, point, instance.id), "the paused worker must be inside its transaction"
        kill(first)

        before = counts(rt, instance.id)
        if point == "worker.step":  # the killed step left nothing: not even the timer is gone
            assert before == {"breaches": 0, "fires": 0, "escalations": 0, "talks": 1, "letters": 0,
                              "letters_sent": 0, "documents": 0, "breach_notices_queued": 0,
                              "overdue_notices_queued": 0, "breach_notices": 0, "timers": 1}
            assert rt.engine.instance(instance.id).next_due_at == due_at
        else:  # the step and the breach scan were committed; the killed letter delivery left nothing
            assert before == {"breaches": 1, "fires": 1, "escalations": 1, "talks": 1, "letters": 1,
                              "letters_sent": 0, "documents": 0, "breach_notices_queued": 1,
                              "overdue_notices_queued": 1, "breach_notices": 0, "timers": 0}
        assert not lock_is_held(rt, point, instance.id), "the killed worker's transaction must be gone"

        second = subprocess.run([*SAGSFLOW, "--database-url", rt.url, "worker", "--once", "--json"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120,
                                env={k: v for k, v in os.environ.items() if k != "SAGSFLOW_TEST_PAUSE"})
        assert second.returncode == 0, second.stderr
        stats = json.loads(second.stdout.strip().splitlines()[-1])
        assert stats.get("fired", 0) == (1 if point == "worker.step" else 0)
        assert (stats["letter_sent"], stats["notification_sent"]) == (1, 2)   # the breach and the overdue note

        again = subprocess.run([*SAGSFLOW, "--database-url", rt.url, "worker", "--once", "--json"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
        redone = {k: v for k, v in json.loads(again.stdout.strip().splitlines()[-1]).items() if v}
        assert redone == {}  # nothing left to redo
        assert counts(rt, instance.id) == {"breaches": 1, "fires": 1, "escalations": 1, "talks": 1, "letters": 1,
                                           "letters_sent": 1, "documents": 1, "breach_notices_queued": 1,
                                           "overdue_notices_queued": 1, "breach_notices": 1, "timers": 0}
        with rt.sessions() as session:
            breach = session.scalar(select(DeadlineEvent))
            assert (breach.bpmn_id, breach.deadline_rule, breach.due_at) == ("frist", "fj_foerste_samtale", due_at)
            doc = session.scalar(select(Document))
            assert (doc.case_id, doc.template) == (instance.case_id, "forsinkelse")
            escalation = session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "eskalering"))
            assert (escalation.state, escalation.role) == ("open", "teamleder")
            assert session.get(ProcessInstance, instance.id).next_due_at is None
    finally:
        rt.close()


# --------------------------------------------------------------------- item 12
class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Http:
    """A browser (cookies, no automatic redirects) talking to a real server process."""

    def __init__(self):
        self.base = ""
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def send(self, method, path, form=None, body=None, headers=None, timeout=120.0):
        data, headers = None, dict(headers or {})
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            with self.opener.open(Request(self.base + path, data=data, headers=headers, method=method),
                                  timeout=timeout) as response:
                return response.status, dict(response.headers), response.read().decode()
        except HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()


def serve(rt, tmp_path, processes, name, pause=None) -> str:
    server = spawn(["--database-url", rt.url, "run", "--port", "0", "--no-worker"], tmp_path, name, pause=pause,
                   stdout=subprocess.PIPE, text=True)
    processes.append(server)
    line = server.stdout.readline()
    port = re.search(r"http://localhost:(\d+)/", line)
    assert port, f"no address in {line!r}: {(tmp_path / f'{name}.log').read_text()}"
    return server, f"http://127.0.0.1:{port.group(1)}"


def field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def snapshot(rt, case_id) -> dict:
    with rt.sessions() as session:
        instance = session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
        return {
            "state": instance.state, "updated_at": instance.updated_at,
            "tasks": sorted(session.execute(select(HumanTask.bpmn_id, HumanTask.state, HumanTask.revision)
                                            .where(HumanTask.case_id == case_id)).all()),
            "completions": session.scalar(select(func.count(AuditEvent.id)).where(
                AuditEvent.case_id == case_id, AuditEvent.action == "task.complete")),
            "outbox": session.scalar(select(func.count(Outbox.id)).where(Outbox.case_id == case_id)),
        }


@pytest.mark.parametrize("channel", ["page", "api"])
@pytest.mark.parametrize("point", ["complete.before_commit", "complete.after_commit"])
def test_web_process_killed_during_a_completion_completes_it_exactly_once(
        runtime, tmp_path, processes, point, channel):
    rt = runtime
    instance = rt.engine.start_case("aaby", "rehabilitering", CPR, "Anna Andersen")
    task, = rt.engine.open_tasks(case_id=instance.case_id)
    untouched = snapshot(rt, instance.case_id)
    assert untouched["tasks"] == [("vurder_rute", "open", 1)] and untouched["completions"] == 0

    server, base = serve(rt, tmp_path, processes, "killed", pause=point)
    http = Http()
    http.base = base
    if channel == "page":
        status, _, html = http.send("GET", "/login")
        status, headers, _ = http.send("POST", "/login", form={
            "username": "aaby.sagsbehandler", "password": setup.DEMO_PASSWORD, "csrf_token": field(html, "csrf_token")})
        assert status == 302
        status, _, html = http.send("GET", f"/opgaver/{task.id}")
        assert status == 200
        submission = {"csrf_token": field(html, "csrf_token"), "revision": field(html, "revision"),
                      "idempotency_key": field(html, "idempotency_key"), **ROUTE_FORM}
        assert submission["revision"] == "1" and len(submission["idempotency_key"]) >= 16

        def submit(path=f"/opgaver/{task.id}", form=submission):
            return http.send("POST", path, form=form)
    else:
        with rt.sessions.begin() as session:
            token = issue_token(session, session.scalar(select(User).where(User.username == "aaby.sagsbehandler")))
        body = {"data": ROUTE_FORM, "revision": 1, "idempotency_key": "3f1c2a9e-retry-key"}

        def submit(path=f"/api/v1/tasks/{task.id}/complete", form=body):
            return http.send("POST", path, body=form, headers={"Authorization": f"Bearer {token}"})

    outcome = {}
    sender = threading.Thread(target=lambda: outcome.update(answer=_try(submit)))
    sender.start()
    wait_for_pause(server, tmp_path, point)
    kill(server)
    sender.join(30)
    assert isinstance(outcome["answer"], (URLError, ConnectionError)), outcome  # the user got no answer

    after_kill = snapshot(rt, instance.case_id)
    if point == "complete.before_commit":  # not at all
        assert after_kill == untouched
    else:  # fully there: the completion, its audit event and the next task
        assert after_kill["tasks"] == [("planlaeg_forberedelse", "open", 1), ("vurder_rute", "completed", 3)]
        assert after_kill["completions"] == 1 and after_kill["state"] != untouched["state"]

    _, http.base = serve(rt, tmp_path, processes, "restarted")
    retry = submit()  # the browser re-sends the same form; the API client the same request
    again = submit()
    if channel == "page":
        assert retry[0] == 302 and retry[1]["Location"].endswith("/")
        assert again[0] == 302
        status, _, inbox = http.send("GET", "/")
        assert f"Opgaven »{task.name}« er afsluttet." in inbox
    else:
        assert retry[0] == 200, retry
        answer = json.loads(retry[2])
        assert (answer["task"]["state"], answer["task"]["completed_by"]) == ("completed", "aaby.sagsbehandler")
        assert [t["task"] for t in answer["next_tasks"]] == ["planlaeg_forberedelse"]
        assert again[0] == 200 and json.loads(again[2])["next_tasks"] == answer["next_tasks"]

    done = snapshot(rt, instance.case_id)
    assert done["tasks"] == [("planlaeg_forberedelse", "open", 1), ("vurder_rute", "completed", 3)]
    assert done["completions"] == 1
    if point == "complete.after_commit":
        assert done == after_kill  # the retry changed nothing
    with rt.sessions() as session:
        completed = session.get(HumanTask, task.id)
        assert session.get(User, completed.completed_by_id).username == "aaby.sagsbehandler"
        assert {k: completed.data[k] for k in ROUTE_FORM} == ROUTE_FORM
        replays = session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.case_id == instance.case_id, AuditEvent.action == "task.complete_replayed"))
        assert replays == (2 if point == "complete.after_commit" else 1)

    # Another submission of the same, now completed task (a new key) is still a conflict.
    if channel == "page":
        other = submit(form={**submission, "idempotency_key": "another-form-rendering"})
    else:
        other = submit(form={**body, "idempotency_key": "another-request-key"})
    assert other[0] == 409
    assert snapshot(rt, instance.case_id)["completions"] == 1


def _try(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the answer is the exception the user would see
        return exc
