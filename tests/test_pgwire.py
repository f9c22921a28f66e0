"""processes.pgwire: the engine step's exchanges with PostgreSQL on psycopg's libpq layer.

A step opens its transaction and locks its instance in one round trip, sends its rows
before it serializes the state, and writes the state and commits in one more; its
statements are prepared on the server once per connection and forgotten whenever
psycopg forgets its own (after a rollback), so a pooled connection keeps working after
a failed step."""
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import bindparam, func, select, text, update

from processes import engine as engine_module, pgwire, timekeeping
from processes.engine import Actor
from processes.models import AuditEvent, HumanTask, User
from processes.writes import AHEAD, NotOneRow, Writes
from tests.conftest import empty_schema, make_runtime

FORM = {"samtaledato": "2027-01-04", "situation": "job"}


@pytest.fixture
def pg_runtime(pg_database_url):
    rt = make_runtime(empty_schema(pg_database_url))
    yield rt
    rt.close()


def _ours(conn) -> int:
    """Statements this connection has prepared under pgwire's names."""
    return conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements WHERE starts_with(name, 'sagsflow_')").scalar()


def test_fetch_one_opens_the_transaction_and_holds_its_lock(pg_runtime):
    with pg_runtime.db.connect() as conn:
        line = pgwire.wire(conn)
        assert line.raw.info.transaction_status == pq.TransactionStatus.IDLE
        row = line.fetch_one(b"SELECT id, key FROM municipality WHERE key = $1 FOR UPDATE", ["boegeby"])
        assert row[1] == "boegeby"
        assert line.raw.info.transaction_status == pq.TransactionStatus.INTRANS
        with pg_runtime.db.connect() as other:
            with pytest.raises(Exception, match="could not obtain lock"):
                other.exec_driver_sql(f"SELECT id FROM municipality WHERE id = {row[0]} FOR UPDATE NOWAIT")
        assert line.fetch_one(b"SELECT id FROM municipality WHERE key = $1", ["nowhere"]) is None
        line.raw.rollback()


def test_execute_with_commit_commits_in_the_same_exchange(pg_runtime):
    with pg_runtime.db.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE wire_probe (n integer)")
        conn.commit()
        line = pgwire.wire(conn)
        result = line.execute(b"WITH w AS (INSERT INTO wire_probe VALUES ($1) RETURNING 1) "
                              b"SELECT count(*) FROM w", [7], commit=True)
        assert int(result.get_value(0, 0)) == 1
        assert line.raw.info.transaction_status == pq.TransactionStatus.IDLE
        assert line.pgconn.pipeline_status == pq.PipelineStatus.OFF
    with pg_runtime.db.connect() as other:
        assert other.exec_driver_sql("SELECT n FROM wire_probe").scalars().all() == [7]


def test_an_error_leaves_the_connection_out_of_pipeline_mode_and_usable(pg_runtime):
    with pg_runtime.db.connect() as conn:
        line = pgwire.wire(conn)
        with pytest.raises(psycopg.errors.DivisionByZero):
            line.execute(b"SELECT 1 / $1", [0])
        assert line.pgconn.pipeline_status == pq.PipelineStatus.OFF
        assert line.raw.info.transaction_status == pq.TransactionStatus.INERROR
        # In the failed transaction even the PREPARE of a new statement fails: it must be
        # prepared again (not taken as prepared) once the transaction is rolled back.
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            line.execute(b"SELECT 2 * $1", [3])
        line.raw.rollback()
        assert int(line.execute(b"SELECT 2 * $1", [3]).get_value(0, 0)) == 6
        line.raw.rollback()


def test_statements_are_prepared_once_and_dropped_with_psycopgs_own(pg_runtime):
    with pg_runtime.db.connect() as conn:
        line = pgwire.wire(conn)
        for n in range(3):
            assert int(line.execute(b"SELECT $1 + 1", [n]).get_value(0, 0)) == n + 1
        assert _ours(conn) == 1
        # A rollback: psycopg (with no prepared statement of its own yet) deallocates ours.
        line.raw.rollback()
        assert _ours(conn) == 0
        assert int(line.execute(b"SELECT $1 + 1", [5]).get_value(0, 0)) == 6
        assert _ours(conn) == 1
        # psycopg prepares a statement of its own after five executions; a rollback then
        # makes it DEALLOCATE ALL, and ours are prepared again when next used.
        for _ in range(6):
            line.raw.execute("SELECT 1 WHERE 1 = %s", [1])
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements "
                                    "WHERE starts_with(name, '_pg3_')").scalar() == 1
        line.raw.rollback()
        assert _ours(conn) == 0
        assert int(line.execute(b"SELECT $1 + 1", [8]).get_value(0, 0)) == 9
        assert _ours(conn) == 1
        line.raw.rollback()


def _steps(pg_runtime, monkeypatch) -> list[str]:
    """Record, in order, pgwire's sends, the engine's serializing and the results read."""
    seen: list[str] = []
    send, results, to_json = pgwire.Wire.send, pgwire.Wire.results, engine_module.instance_to_json

    def recording(name, function):
        def wrapper(*args, **kwargs):
            seen.append(name)
            return function(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(pgwire.Wire, "send", recording("send", send))
    monkeypatch.setattr(pgwire.Wire, "results", recording("results", results))
    monkeypatch.setattr(engine_module, "instance_to_json", recording("serialize", to_json))
    return seen


def test_a_steps_rows_reach_the_server_before_its_state_is_serialized(pg_runtime, monkeypatch):
    engine = pg_runtime.engine
    with pg_runtime.sessions() as s:
        user = Actor.for_user(s.scalar(select(User).where(User.username == "boegeby.sagsbehandler")))
    instance, waiting = (engine.start_case("boegeby", "fleksjob", f"000000000{n}", f"Borger {n}",
                                           {"overdragelse": {"visitationsdato": "2027-01-04"}}) for n in (1, 2))
    instance_id = instance.id
    with pg_runtime.sessions() as s:
        task = s.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                HumanTask.bpmn_id == "foerste_samtale"))
    seen = _steps(pg_runtime, monkeypatch)
    engine.complete_task(task.id, FORM, user)
    # the lock-and-load; the task's close and audit event go before the step loads the
    # workflow, the step's rows before the state is serialized; then their results
    assert seen[:6] == ["send", "results", "send", "send", "serialize", "results"], seen
    seen.clear()
    with pg_runtime.sessions.begin() as s:   # the other case's first talk is overdue: it escalates
        timekeeping.set_virtual(s, timekeeping.now(s) + timedelta(weeks=3, days=1))
    engine.fire_instance(waiting.id)
    assert seen[:5] == ["send", "results", "send", "serialize", "results"], seen
    with pg_runtime.sessions() as s:
        done = s.scalar(text("SELECT state FROM human_task WHERE id = :i"), {"i": task.id})
        audit = s.scalar(text("SELECT count(*) FROM audit_event WHERE action = 'task.complete' "
                              "AND instance_id = :i"), {"i": instance_id})
    assert done == "completed" and audit == 1
    with pg_runtime.sessions() as s:
        escalated = s.scalar(text("SELECT count(*) FROM human_task WHERE instance_id = :i "
                                  "AND bpmn_id = 'eskaler_foerste_samtale'"), {"i": waiting.id})
    assert escalated == 1


def _audit_row(action: str) -> dict:
    at = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)
    return {"municipality_id": None, "case_id": None, "instance_id": None, "actor": "pgwire-test",
            "action": action, "detail": {}, "at": at, "recorded_at": at}


def test_a_step_sessions_orm_reads_the_writes_sent_ahead_first(pg_runtime):
    # Writes sent ahead leave the connection in libpq's pipeline mode until their results
    # are read; the step's ORM fallback (an owner lookup, a spec not cached) reads them
    # first, and sees the rows in its own transaction.
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == "pgwire-test")
    with pg_runtime.engine._step_transaction() as session:
        with Writes() as writes:
            writes.insert(AuditEvent.__table__, _audit_row("ahead"))
            writes.send(session)
            assert session.info[AHEAD] is writes and pgwire.wire(session.connection()).pending
            assert session.scalar(count) == 1
            assert AHEAD not in session.info and not pgwire.wire(session.connection()).pending
            writes.insert(AuditEvent.__table__, _audit_row("after"))
            writes.execute(session, before_commit=session._flush)
    with pg_runtime.sessions() as s:
        assert s.scalar(count) == 2


def test_a_failed_check_read_early_still_fails_the_step(pg_runtime):
    from processes.models import ProcessInstance
    touch = (update(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == bindparam("b_id"))
             .values(updated_at=bindparam("updated_at")))
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == "pgwire-test")
    with pytest.raises(NotOneRow, match="gone"):
        with pg_runtime.engine._step_transaction() as session:
            with Writes() as writes:
                writes.insert(AuditEvent.__table__, _audit_row("rolled back"))
                writes.add(touch, {"b_id": -1, "updated_at": datetime.now(timezone.utc)}, expect_one="gone")
                writes.send(session)
                session.scalar(count)   # reads the results early: the check is kept for execute
                writes.execute(session, before_commit=session._flush)
    with pg_runtime.sessions() as s:
        assert s.scalar(count) == 0
