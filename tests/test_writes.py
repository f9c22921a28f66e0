"""processes.writes: a step's batch of writes keeps the order of the rows it inserts into
each table (their ids follow the order they were added), on PostgreSQL where the batch is
one statement of data-modifying WITH items run in an unspecified order, as on SQLite."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, select, update

from processes.models import AuditEvent, ProcessInstance
from processes.writes import NotOneRow, Writes

AT = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)


def _audit(action: str, with_recorded_at: bool = True) -> dict:
    row = {"municipality_id": None, "case_id": None, "instance_id": None, "actor": "test", "action": action,
           "detail": {"n": action}, "at": AT}
    if with_recorded_at:
        row["recorded_at"] = AT
    return row


def _actions(rt) -> list[str]:
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "test").order_by(AuditEvent.id)))


_TOUCH = update(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == bindparam("b_id")).values(
    updated_at=bindparam("updated_at"))


def test_rows_of_one_table_keep_their_order_across_other_writes(runtime):
    expected = []
    with runtime.sessions.begin() as s:
        writes = Writes()
        for n in range(40):
            if n % 3 == 0:
                writes.add(_TOUCH, {"b_id": -1, "updated_at": AT})   # another write between them
            if n % 7 == 0:
                several = [_audit(f"a{n}.{k}") for k in range(3)]
                writes.insert(AuditEvent.__table__, several)
                expected += [r["action"] for r in several]
            else:
                writes.insert(AuditEvent.__table__, _audit(f"a{n}"))
                expected.append(f"a{n}")
        writes.execute(s)
    assert _actions(runtime) == expected


def test_inserts_that_cannot_be_one_statement_keep_their_order(runtime):
    # Rows with other columns than the first insert into the table (no recorded_at):
    # the batch goes statement by statement, in order.
    with runtime.sessions.begin() as s:
        writes = Writes()
        writes.insert(AuditEvent.__table__, _audit("first"))
        writes.insert(AuditEvent.__table__, _audit("second", with_recorded_at=False))
        writes.insert(AuditEvent.__table__, [_audit("third"), _audit("fourth")])
        writes.execute(s)
    assert _actions(runtime) == ["first", "second", "third", "fourth"]


def test_a_write_that_must_change_one_row_and_does_not_raises(runtime):
    with pytest.raises(NotOneRow, match="gone"):
        with runtime.sessions.begin() as s:
            writes = Writes()
            writes.insert(AuditEvent.__table__, _audit("rolled back"))
            writes.add(_TOUCH, {"b_id": -1, "updated_at": AT}, expect_one="gone")
            writes.execute(s)
    assert _actions(runtime) == []


def test_rows_sent_ahead_commit_with_the_rest_in_order(runtime):
    # On PostgreSQL the first rows go to the server at send(); the rest and the commit
    # follow in execute(). Elsewhere send() sends nothing. Either way: one transaction.
    seen_before_commit = []

    def before_commit():
        # another session sees nothing yet (SQLite: it cannot even begin while we write)
        seen_before_commit.append(_actions(runtime) if runtime.db.dialect.name == "postgresql" else [])
    with runtime.sessions.begin() as s:
        with Writes() as writes:
            writes.insert(AuditEvent.__table__, [_audit("a1"), _audit("a2")])
            writes.send(s)
            writes.insert(AuditEvent.__table__, _audit("a3"))
            writes.execute(s, before_commit=before_commit)
    assert seen_before_commit == [[]]
    assert _actions(runtime) == ["a1", "a2", "a3"]


def test_an_error_after_rows_were_sent_ahead_leaves_nothing_and_a_usable_connection(runtime):
    with pytest.raises(RuntimeError, match="serializing"):
        with runtime.sessions.begin() as s:
            with Writes() as writes:
                writes.insert(AuditEvent.__table__, _audit("sent"))
                writes.send(s)
                raise RuntimeError("the step failed while serializing")
    assert _actions(runtime) == []
    for _ in range(3):   # every pooled connection works again
        with runtime.sessions.begin() as s:
            with Writes() as writes:
                writes.insert(AuditEvent.__table__, _audit("next"))
                writes.send(s)
                writes.execute(s)
    assert _actions(runtime) == ["next"] * 3


def test_a_must_change_one_row_write_sent_ahead_fails_before_anything_commits(runtime):
    committing = []
    with pytest.raises(NotOneRow, match="gone"):
        with runtime.sessions.begin() as s:
            with Writes() as writes:
                writes.insert(AuditEvent.__table__, _audit("rolled back"))
                writes.add(_TOUCH, {"b_id": -1, "updated_at": AT}, expect_one="gone")
                writes.send(s)
                writes.insert(AuditEvent.__table__, _audit("after"))
                writes.execute(s, before_commit=lambda: committing.append(True))
    assert committing == []
    assert _actions(runtime) == []
