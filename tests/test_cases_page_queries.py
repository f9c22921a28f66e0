"""Issue 14 point 9 (the server side): the case page reads each thing once. Its timeline is
built from the rows the case detail already loaded, so the number of SQL statements of
one request is bounded and does not grow with the case's processes or history."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from inbox import create_app
from processes.timeline import case_timeline
from test_cases_timeline import decided_in_writing
from test_inbox import Browser

# The SQL statements the case page issues (SQLite, as Bøgeby's afgørelse unit, not counting
# BEGIN): 23 now; the timeline re-reading the case detail's rows, the access check's own
# transaction and one policy read per case type made it 34 in PostgreSQL on the bench's case.
# Raise it only for a new thing on the page.
MAX_QUERIES = 23


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def _statements(rt, call) -> list[str]:
    """The SQL statements ``call`` runs on the runtime's engine."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)
    bind = rt.db
    event.listen(bind, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(bind, "before_cursor_execute", record)
    return seen


def _page_statements(rt, browser, case_id: int) -> list[str]:
    def visit():
        response = browser.get(f"/sager/{case_id}")
        assert response.status_code == 200
    return _statements(rt, visit)


def test_the_case_page_with_five_processes_stays_within_its_query_budget(sqlite_runtime, app):
    w = decided_in_writing(sqlite_runtime)             # rehabilitering (finished) and fleksjob
    browser = Browser(app, "boegeby.afgoerelse")
    browser.get(f"/sager/{w.case_id}")                  # the first visit fills the process caches
    two = _page_statements(sqlite_runtime, browser, w.case_id)
    for case_type in ("sygedagpenge", "ressourceforloeb", "foertidspension"):
        sqlite_runtime.engine.start_case("boegeby", case_type, "010190-1234", "Test Borger")
    with sqlite_runtime.sessions() as session:
        timeline = case_timeline(session, w.case_id)
    assert len({e.process_id for e in timeline if e.kind in ("case_started", "process_started")}) == 5
    five = _page_statements(sqlite_runtime, browser, w.case_id)
    assert len(five) <= MAX_QUERIES, "\n".join(five)
    # no statement per process, task or event: three more processes, the same statements
    assert len(five) == len(two), (len(two), len(five))
    # the timeline's rows are not read a second time (the access check's EXISTS reads no rows)
    for table in ("process_instance", "model_version", "audit_event", "deadline_event", "outbox", "human_task",
                  "policy_version"):
        reads = [s for s in five if s.lstrip().startswith(f"SELECT {table}.")]
        assert len(reads) <= 1, (table, reads)


def test_the_timeline_from_loaded_rows_is_the_timeline_read_from_the_database(sqlite_runtime):
    w = decided_in_writing(sqlite_runtime)
    detail = sqlite_runtime.engine.case_detail(w.case_id)
    with sqlite_runtime.sessions() as session:
        for language in ("da", "en"):
            read = case_timeline(session, w.case_id, language=language)
            loaded = case_timeline(None, w.case_id, language=language, loaded=detail)
            assert [(e.at, e.kind, e.actor, e.process_id, e.detail, e.task.id if e.task else None) for e in loaded] \
                == [(e.at, e.kind, e.actor, e.process_id, e.detail, e.task.id if e.task else None) for e in read]
    assert any(e.detail.get("decisions") for e in loaded)
