"""The worker's poll cycle as a user meets it, on SQLite and PostgreSQL: deadlines fire,
breaches escalate to the teamleder, letters become case documents once, notifications
land in inboxes, failures are retried and shown, and ``sagsflow worker`` reports it."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from conftest import make_runtime
from processes import municipalities, timekeeping
from processes.engine import Actor
from processes.models import (
    AuditEvent, DeadlineEvent, Document, HumanTask, Message, Notification, Outbox, ProcessInstance, User,
)
from sagsflow.cli import main
from worker import outbox as worker_outbox
from worker.service import Worker

# The first talk is due 3 weeks after the case starts (Monday 09:00) and, as every
# deadline, ends at the end of that Danish day: 15 hours later the breach has fired.
PAST_FIRST_TALK = timedelta(weeks=3, hours=15)
MODEL = Path(__file__).parent / "data" / "worker"


def vaerkby(url):
    """An installation with only Værkby (tests/data/worker) on the virtual clock."""
    rt = make_runtime(url, reference=False)
    with rt.sessions.begin() as session:
        municipalities.register(session, municipalities.load_folder(MODEL), timekeeping.now(session))
    return rt


@pytest.fixture
def rt(db_url):
    runtime = vaerkby(db_url)
    yield runtime
    runtime.close()


def advance(rt, delta):
    """Move the virtual clock without firing anything (``clock advance --no-fire``)."""
    rt.engine.advance_clock(delta, fire=False)


def count(rt, model, *where):
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def start(rt, n=1, name="Karen Testesen"):
    return [rt.engine.start_case("vaerkby", "fleksjob", f"{i + 10:06d}4321", f"{name} {i}") for i in range(n)]


def test_breached_deadline_fires_once_escalates_and_sends_the_letter(rt):
    instance, = start(rt)
    worker = Worker(rt)
    assert worker.poll_once()["fired"] == 0  # nothing due yet
    advance(rt, PAST_FIRST_TALK)
    stats = worker.poll_once()
    # notifications: the breach to the teamleder, and (issue 14) the overdue task to its holder
    assert stats["fired"] == 1 and stats["letter_sent"] == 1 and stats["notification_sent"] == 2
    assert worker.poll_once()["fired"] == 0

    escalations = rt.engine.open_tasks(roles=["teamleder"])
    assert [(t.bpmn_id, t.case_id) for t in escalations] == [("eskalering", instance.case_id)]
    samtale, = rt.engine.open_tasks(roles=["virksomhedskonsulent"])
    assert samtale.bpmn_id == "samtale"  # non-interrupting: the talk must still be held
    with rt.sessions() as session:
        breach, = session.scalars(select(DeadlineEvent))
        assert (breach.bpmn_id, breach.deadline_rule) == ("frist", "fj_foerste_samtale")
        fires = session.scalars(select(AuditEvent).where(AuditEvent.action == "timer.fire")).all()
        assert [(a.instance_id, a.detail["timers"]) for a in fires] == [(instance.id, ["frist"])]
        doc, = session.scalars(select(Document))
        assert (doc.case_id, doc.template) == (instance.case_id, "forsinkelse")
        assert "Karen Testesen 0" in doc.body and "Værkby Kommune" in doc.body
        note, overdue = session.scalars(select(Notification).order_by(Notification.kind))
        assert (note.kind, note.recipient_role, note.case_id) == ("deadline_breach", "teamleder", instance.case_id)
        assert (overdue.kind, overdue.task_id) == ("task_overdue", samtale.id)
        assert note.title == "Frist overskredet: Første samtale efter visitation"
        assert session.get(ProcessInstance, instance.id).next_due_at is None


def test_demo_shared_fleksjob_deadline_escalates_to_teamleder(runtime):
    """The demo: advance the virtual clock past the first talk's deadline with --no-fire;
    the worker fires it and the escalation shows in the teamleder's inbox."""
    instance = runtime.engine.start_case("boegeby", "fleksjob", "010190-1234", "Test Borger",
                                         data={"overdragelse": {"visitationsdato": "2027-01-04"}})
    with runtime.sessions() as session:
        teamleder = session.scalar(select(User).where(User.username == "boegeby.teamleder"))
        actor = Actor.for_user(teamleder)
    assert runtime.engine.open_tasks(actor.municipality_id, actor.roles) == []
    runtime.engine.advance_clock(timedelta(weeks=3, days=1), fire=False)
    Worker(runtime).poll_once()
    inbox = runtime.engine.open_tasks(actor.municipality_id, actor.roles)
    assert [(t.case_id, t.role) for t in inbox] == [(instance.case_id, "teamleder")]
    assert inbox[0].name.startswith("Frist overskredet")
    with runtime.sessions() as session:
        notes = session.scalars(select(Notification).where(Notification.recipient_role == "teamleder")).all()
        assert [n.kind for n in notes] == ["deadline_breach"]


def test_task_falling_due_soon_is_marked_once(rt):
    instance, = start(rt)
    worker = Worker(rt)
    advance(rt, timedelta(weeks=3) - timedelta(days=4))
    assert worker.poll_once()["queued_due_soon"] == 0
    advance(rt, timedelta(days=2))  # two days left
    assert worker.poll_once()["queued_due_soon"] == 1
    assert worker.poll_once()["queued_due_soon"] == 0
    with rt.sessions() as session:
        note, = session.scalars(select(Notification))
        task = session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "samtale"))
        assert (note.kind, note.recipient_role, note.task_id) == ("due_soon", "virksomhedskonsulent", task.id)
        assert note.title == "Frist nærmer sig: Første samtale"


class FlakyDocuments(worker_outbox.CaseDocuments):
    """Fails the first ``failures`` deliveries, like a document service that is down."""

    def __init__(self, specs, failures):
        super().__init__(specs)
        self.failures = failures
        self.calls = 0

    def deliver(self, session, item, now):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("dokumentarkivet svarer ikke")
        super().deliver(session, item, now)


def test_failed_letter_is_retried_with_backoff_shown_and_delivered_once(rt):
    instance, = start(rt)
    flaky = FlakyDocuments(rt.engine.specs, failures=3)
    worker = Worker(rt, transports={**worker_outbox.default_transports(rt.engine.specs), "letter": flaky})
    advance(rt, PAST_FIRST_TALK)
    assert worker.poll_once()["letter_failed"] == 1
    assert worker.poll_once()["letter_failed"] == 0  # waits for its backoff
    # The case is not blocked: the escalation is in the teamleder's inbox already.
    assert [t.bpmn_id for t in rt.engine.open_tasks(roles=["teamleder"])] == ["eskalering"]
    status = json.loads(CliRunner().invoke(main, ["--database-url", rt.url, "worker", "--status", "--json"]).output)
    failing, = status["outbox_failing"]
    assert failing["kind"] == "letter" and failing["attempts"] == 1 and "dokumentarkivet" in failing["error"]
    for _ in range(2):
        advance(rt, timedelta(hours=1))
        assert worker.poll_once()["letter_failed"] == 1
    with rt.sessions() as session:  # three failures: the administrators are told
        alert = session.scalar(select(Notification).where(Notification.kind == "delivery_failed"))
        assert alert.recipient_role == "admin" and "dokumentarkivet" in alert.body
    advance(rt, timedelta(hours=1))
    assert worker.poll_once()["letter_sent"] == 1
    advance(rt, timedelta(days=1))
    worker.poll_once()
    with rt.sessions() as session:
        letter = session.scalar(select(Outbox).where(Outbox.kind == "letter"))
        assert letter.sent_at is not None and letter.attempts == 4 and letter.last_error is None
        assert session.scalar(select(func.count(Document.id))) == 1
    assert flaky.calls == 4


def test_a_failing_step_is_deferred_and_does_not_stop_other_cases(rt, monkeypatch):
    broken, healthy = start(rt, 2)
    real = rt.engine.fire_due

    def fire_due(session, row, now, **batch):
        if row.id == broken.id:
            raise RuntimeError("model expression failed")
        return real(session, row, now, **batch)

    monkeypatch.setattr(rt.engine, "fire_due", fire_due)
    advance(rt, PAST_FIRST_TALK)
    stats = Worker(rt).poll_once()
    assert stats["fired"] == 1 and stats["failed"] == 1
    with rt.sessions() as session:
        failed = session.scalar(select(AuditEvent).where(AuditEvent.action == "worker.step_failed"))
        assert failed.instance_id == broken.id and "model expression failed" in failed.detail["error"]
        row = session.get(ProcessInstance, broken.id)
        assert row.next_due_at > timekeeping.now(session)  # retried later, not in a tight loop
    status = json.loads(CliRunner().invoke(main, ["--database-url", rt.url, "worker", "--status", "--json"]).output)
    assert status["deferred_after_error"] == 1 and status["overdue_timers"] == 1 and status["lag_seconds"] > 0
    monkeypatch.setattr(rt.engine, "fire_due", real)
    advance(rt, timedelta(minutes=2))
    assert Worker(rt).poll_once()["fired"] == 1
    assert count(rt, DeadlineEvent) == 2


def test_messages_are_delivered_and_a_second_one_waits(rt):
    instance, other = start(rt, 2)
    task = rt.engine.open_tasks(case_id=instance.case_id)[0]
    rt.engine.complete_task(task.id, {"udfald": "afholdt", "samtale_senest": "2027-01-11"}, Actor.system())
    with rt.sessions.begin() as session:
        now = timekeeping.now(session)
        for _ in range(2):  # thrown by another instance; only one receiver waits
            session.add(Message(municipality_id=instance.municipality_id, case_id=instance.case_id,
                                source_instance_id=other.id, name="svar_modtaget", payload={}, correlations={},
                                created_at=now))
    stats = Worker(rt).poll_once()
    assert stats["messages"] == 1 and stats["letter_sent"] == 1
    assert rt.engine.instance(instance.id).status == "completed"
    assert count(rt, Message, Message.delivered_at.is_(None)) == 1
    with rt.sessions() as session:
        doc = session.scalar(select(Document))
        assert doc.template == "indkaldelse_samtale" and "11. januar 2027" in doc.body


def test_worker_command_once_and_status(rt):
    start(rt, 3)
    advance(rt, PAST_FIRST_TALK)
    runner = CliRunner()
    status = runner.invoke(main, ["--database-url", rt.url, "worker", "--status"]).output
    assert "due:        3 instance(s), 3 overdue timer(s)" in status and "lag:        1.0 s" in status
    once = runner.invoke(main, ["--database-url", rt.url, "worker", "--once", "--json"])
    assert once.exit_code == 0, once.output
    assert json.loads(once.output.strip().splitlines()[-1])["fired"] == 3
    status = runner.invoke(main, ["--database-url", rt.url, "worker", "--status"]).output
    assert "due:        0 instance(s)" in status and "lag:        0.0 s" in status
    assert "outbox:     empty" in status and "stopped" in status and "3 step(s)" in status


def test_background_worker_for_the_web_process_fires_and_stops(rt):
    from worker.service import start_background
    import time
    from processes.models import WorkerHeartbeat
    start(rt)
    handle = start_background(rt.url, interval=0.1)
    try:
        advance(rt, PAST_FIRST_TALK)
        deadline = time.monotonic() + 60
        while count(rt, DeadlineEvent) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        handle.stop()
    assert not handle.running
    assert count(rt, DeadlineEvent) == 1
    with rt.sessions() as session:
        beat, = session.scalars(select(WorkerHeartbeat))
        assert beat.status == "stopped" and beat.steps == 1
