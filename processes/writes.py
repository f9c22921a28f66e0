"""The writes of one engine step, sent to the database together.

An engine step knows everything it will write only once Spiff has run: the new state,
the projection rows that changed, audit events, milestones, letters. :class:`Writes`
collects them as Core statements with their rows and executes them in one go: on
PostgreSQL as one statement (each write a data-modifying ``WITH`` item: one round trip,
one parse and execution on the server, one ``execute`` on the client), elsewhere
statement by statement through the session.

The one statement keeps the order of inserted rows only within one ``INSERT``:
PostgreSQL runs the ``WITH`` items of a statement in an unspecified order, but a single
``INSERT ... VALUES (...), (...)`` takes its rows' ids (serial defaults) in the order of
its rows. So all inserts of a batch into one table go into one multi-row ``INSERT`` in
the order they were added, and a batch with two inserts into one table that cannot be
one (other columns, or one skips conflicts and the other not) is sent as a psycopg
pipeline instead, statement by statement in order. The statement form has one more
rule: all writes of a batch see the database as it was before the batch, so no two
writes of one batch may touch the same row (an engine step never does: it writes each
projection row once, from the difference of the projections before and after it).

A step sends its batch in parts (inside ``with Writes() as writes``): rows as soon as
they are known (:meth:`Writes.send`; on PostgreSQL the server writes them while this
process goes on: a completion's task and audit event while the workflow loads and runs,
the projection, milestone and audit rows while the state is serialized), then the state
and whatever came after it, with the ``COMMIT`` in the same round trip
(:meth:`Writes.execute` with ``before_commit``). Rows of one table keep their order
across the parts (they run in the order sent), and a write that must change exactly one
row is checked before anything commits. On PostgreSQL both parts and the step's
first statement go through :mod:`processes.pgwire` (psycopg's libpq layer).

Statements are module-level templates (``bindparam`` placeholders), compiled once per
dialect and set of columns; rows are plain dicts. Inserts can skip rows whose unique key
already exists (``ignore_conflicts``), so a step never has to read before writing.
Nothing here returns rows: a batch is only writes.
"""
from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Table, insert as core_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from processes import pgwire

_compiled: dict[tuple, tuple[str, dict, dict]] = {}
_lock = threading.Lock()
_inserts: dict[tuple, ClauseElement] = {}


def insert_statement(table: Table, dialect_name: str, ignore_conflicts: bool) -> ClauseElement:
    key = (table.name, dialect_name, ignore_conflicts)
    statement = _inserts.get(key)
    if statement is None:
        if ignore_conflicts and dialect_name == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing()
        elif ignore_conflicts and dialect_name == "sqlite":
            statement = sqlite.insert(table).on_conflict_do_nothing()
        else:
            statement = core_insert(table)
        _inserts[key] = statement
    return statement


_defaults: dict[str, tuple] = {}


def _with_defaults(table: Table, row: dict) -> dict:
    """Fill the columns a row leaves out with their Python-side defaults (the one-statement
    path executes compiled SQL, which does not run them)."""
    defaults = _defaults.get(table.name)
    if defaults is None:
        defaults = _defaults[table.name] = tuple((column.key, column.default) for column in table.columns
                                                 if column.default is not None)
    for key, default in defaults:
        if key not in row:
            row[key] = default.arg(None) if default.is_callable else default.arg
    return row


# The key under which a session's ``info`` names the Writes with writes sent ahead.
AHEAD = "sagsflow.writes_ahead"


class NotOneRow(Exception):
    """A write that had to change exactly one row did not (the row changed meanwhile)."""


class Writes:
    """An ordered batch of write statements; :meth:`execute` sends them."""

    def __init__(self) -> None:
        self._ops: list[tuple[Any, list[dict] | None, Table | None, bool]] = []
        self._expect: dict[int, str] = {}  # op index -> message if it does not change exactly one row
        self._scoped = False   # inside ``with``: writes may be sent ahead (see send)
        self._ahead: pgwire.Wire | None = None   # the connection writes were sent ahead on
        self._ahead_checks: list[list] = []   # per send: per count of its result, expect_one's message or None
        self._failed: str | None = None   # a must-change-one-row write sent ahead that did not
        self._info: dict | None = None   # the session's info, which names this while writes are ahead

    def __enter__(self) -> "Writes":
        self._scoped = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._scoped = False
        self._settle_ahead(check=False)

    def __len__(self) -> int:
        return len(self._ops)

    def insert(self, table: Table, rows: dict | list[dict], ignore_conflicts: bool = False) -> None:
        rows = [rows] if isinstance(rows, dict) else rows
        if rows:
            self._ops.append((None, [_with_defaults(table, dict(r)) for r in rows], table, ignore_conflicts))

    def add(self, statement, rows: dict | list[dict] | None = None, expect_one: str | None = None) -> None:
        """A template statement (update, delete, or a text() without rows) with its rows.

        With ``expect_one``, the statement (one row of parameters) must change exactly one
        row, or :meth:`execute` raises :class:`NotOneRow` with that message, and the
        caller's transaction must roll back."""
        if isinstance(rows, dict):
            rows = [rows]
        if rows is None or rows:
            if expect_one is not None:
                self._expect[len(self._ops)] = expect_one
            self._ops.append((statement, rows, None, False))

    def send(self, session: Session) -> None:
        """Send the writes collected so far ahead and return without waiting for them, so
        the server runs them while this process does the rest of its step (loading and
        running the workflow, serializing the state); :meth:`execute` sends the writes
        added later, in the same transaction, after them. May be called more than once.
        Only on PostgreSQL with psycopg, only inside ``with writes:`` (which reads what
        was sent however the block ends), and only for writes that go as one statement;
        otherwise a no-op, and :meth:`execute` sends everything.

        Until their results are read nothing else may use the connection: a
        :class:`processes.engine.StepSession` reads them (:meth:`collect`) before its ORM
        session runs anything."""
        if not self._ops or not self._scoped:
            return
        connection = session.connection()
        dialect = connection.dialect
        if not (dialect.name == "postgresql" and dialect.driver == "psycopg"):
            return
        items = self._items()
        if items is None:
            return
        sql, values, counted = self._statement(dialect, items)
        line = pgwire.wire(connection)
        self._ahead = line
        self._ahead_checks.append([self._expect.get(index) if index is not None else None for index in counted])
        self._info = session.info
        self._info[AHEAD] = self
        self._ops.clear()
        self._expect = {}
        line.send(sql, values)

    def collect(self) -> None:
        """Read the results of the writes sent ahead now (the connection is then free for
        other statements); raise what they raised. A write that had to change one row and
        did not is raised as NotOneRow by :meth:`execute`, as it would have been."""
        if self._ahead is None:
            return
        self._release()
        line, self._ahead = self._ahead, None
        checks, self._ahead_checks = self._ahead_checks, []
        for result, messages in zip(line.results(), checks):
            for position, message in enumerate(messages):
                if message is not None and self._failed is None and int(result.get_value(0, position)) != 1:
                    self._failed = message

    def _release(self) -> None:
        if self._info is not None:
            self._info.pop(AHEAD, None)
            self._info = None

    def _settle_ahead(self, check: bool) -> None:
        """Read the results of the writes sent ahead; with ``check``, raise what they
        raised, or NotOneRow if one that had to change one row did not. Without
        ``check`` (the block is ending with an exception already) errors are dropped:
        the caller's rollback follows."""
        if not check:
            self._release()
            line, self._ahead, self._ahead_checks, self._failed = self._ahead, None, [], None
            if line is not None:
                line.abandon()
            return
        self.collect()
        failed, self._failed = self._failed, None
        if failed is not None:
            raise NotOneRow(failed)

    def execute(self, session: Session, before_commit=None) -> None:
        """Send the batch (after any writes sent ahead) and wait for it.

        With ``before_commit`` (a callable), the caller's transaction ends here: the callable
        runs once every write has been sent and checked, then, on psycopg, the ``COMMIT``
        is sent, in the same round trip as the last writes when none of them has to change
        exactly one row (those are checked before anything commits); elsewhere the caller's
        transaction commits as it ends, right after."""
        connection = session.connection()
        dialect = connection.dialect
        psycopg = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self._settle_ahead(check=True)
        if not self._ops:
            if before_commit is not None:
                self._commit(connection, psycopg, before_commit)
            return
        if psycopg:
            items = self._items()
            if before_commit is not None and items is not None and not self._expect:
                sql, values, _counted = self._statement(dialect, items)
                self._ops.clear()
                before_commit()
                pgwire.wire(connection).execute(sql, values, commit=True)
                return
            counts = (self._one_statement(connection, dialect, items) if items is not None
                      else self._pipeline(connection, dialect))
        else:
            counts = {}
            for index, (statement, rows, table, ignore) in enumerate(self._ops):
                if table is not None:
                    statement = insert_statement(table, dialect.name, ignore)
                result = connection.execute(statement, rows) if rows is not None else connection.execute(statement)
                if index in self._expect:
                    counts[index] = result.rowcount
        self._ops.clear()
        expected, self._expect = self._expect, {}
        for index, message in expected.items():
            if counts.get(index) != 1:
                raise NotOneRow(message)
        if before_commit is not None:
            self._commit(connection, psycopg, before_commit)

    @staticmethod
    def _commit(connection, psycopg: bool, before_commit) -> None:
        """``before_commit``, then on psycopg the COMMIT (elsewhere the caller's
        transaction commits as it ends)."""
        before_commit()
        if psycopg:
            connection.connection.driver_connection.commit()

    def _items(self) -> list[tuple[int, list[int]]] | None:
        """The batch as ``WITH`` items: ``(op index, [op indexes whose rows it holds])``,
        all inserts into one table merged into the item of the first, in the order they
        were added; None if two inserts into one table cannot be merged (see the module
        docstring)."""
        items: list[tuple[int, list[int]]] = []
        by_table: dict[str, tuple[int, list[int]]] = {}
        for index, (_statement, rows, table, ignore) in enumerate(self._ops):
            if table is None:
                items.append((index, [index]))
                continue
            first = by_table.get(table.name)
            if first is None:
                by_table[table.name] = item = (index, [index])
                items.append(item)
                continue
            _s, first_rows, _t, first_ignore = self._ops[first[0]]
            if first_ignore != ignore or first_rows[0].keys() != rows[0].keys():
                return None
            first[1].append(index)
        return items

    def _one_statement(self, connection, dialect, items: list[tuple[int, list[int]]]) -> dict[int, int]:
        """Send the batch as one statement (see :meth:`_statement`) and wait for it."""
        sql, values, counted = self._statement(dialect, items)
        result = pgwire.wire(connection).execute(sql, values)
        return {index: int(result.get_value(0, position)) for position, index in enumerate(counted)
                if index is not None}

    def _statement(self, dialect, items: list[tuple[int, list[int]]]) -> tuple[bytes, list, list]:
        """The batch as one statement: ``WITH w0 AS (INSERT ... VALUES (...), (...)),
        w1 AS (UPDATE ... RETURNING 1), ... SELECT (SELECT count(*) FROM w1), ...``, an
        item per insert into a table (all its rows) and per row of any other write, each
        row with its own parameter names. A write that must change one row returns its
        rows and is counted; a SELECT item (``pg_notify``) is counted too, which is what
        makes PostgreSQL run it. Returns the SQL, its parameter values and, per count of
        its one result row, the op index it counts (None for a SELECT item)."""
        ops = self._ops
        shape = []
        params: dict[str, Any] = {}
        for number, (index, members) in enumerate(items):
            statement, rows, table, ignore = ops[index]
            if table is not None:
                statement = insert_statement(table, dialect.name, ignore)
                rows = [row for member in members for row in ops[member][1]]
            keys = tuple(sorted(rows[0])) if rows else ()
            sql, processors, constants = _compile(statement, dialect, keys)
            if rows is None:
                rows = [{}]
            for position, row in enumerate(rows):
                prefix = f"w{number}_{position}_"
                for key, value in (constants.items() if not row else {**constants, **row}.items()):
                    params[prefix + key] = processors[key](value) if key in processors else value
            shape.append((sql, len(rows), table is not None, index if index in self._expect else None))
        sql, names, counted = _batch_sql(tuple(shape))
        return sql, [params[name] for name in names], counted

    def _pipeline(self, connection, dialect) -> dict[int, int]:
        raw = connection.connection.driver_connection
        checked = {index: raw.cursor() for index in self._expect}
        with raw.pipeline(), raw.cursor() as shared:
            for index, (statement, rows, table, ignore) in enumerate(self._ops):
                cursor = checked.get(index, shared)
                if table is not None:
                    statement = insert_statement(table, dialect.name, ignore)
                keys = tuple(sorted(rows[0])) if rows else ()
                sql, processors, constants = _compile(statement, dialect, keys)
                if rows is None:
                    cursor.execute(sql, constants or None)
                    continue
                params = [{k: processors[k](v) if k in processors else v for k, v in {**constants, **row}.items()}
                          for row in rows]
                if len(params) == 1:
                    cursor.execute(sql, params[0])
                else:
                    cursor.executemany(sql, params)
        counts = {index: cursor.rowcount for index, cursor in checked.items()}
        for cursor in checked.values():
            cursor.close()
        return counts


_batches: dict[tuple, tuple[bytes, list, list]] = {}


def _batch_sql(shape: tuple) -> tuple[bytes, list, list]:
    """The one statement of a batch of this shape (``(sql, rows, is_insert, op index if
    it must change one row)`` per item), with PostgreSQL's own ``$n`` placeholders; the
    parameter names in the order of their numbers; and, per counted item in the order of
    its final SELECT, that op index (None for a SELECT item, counted only so that it runs).

    The statement goes to the server as it is (:mod:`processes.pgwire`, prepared once per
    connection): psycopg's cursors would parse a query for its ``%(name)s`` placeholders
    on every execute when it is longer than 4 KB (they cache only shorter ones), and a
    batch's statement is longer."""
    found = _batches.get(shape)
    if found is None:
        items, counts, counted = [], [], []
        for number, (sql, rows, is_insert, expect_one) in enumerate(shape):
            def named(part: str, position: int) -> str:
                return pgwire.PARAMETER.sub(lambda m: f"%(w{number}_{position}_{m.group(1)})s", part)
            if is_insert:
                head, _values, tail = sql.partition(" VALUES ")
                tail = tail.partition(" RETURNING ")[0]   # the compiled insert returns its id
                values, conflict, rest = tail.partition(" ON CONFLICT")
                bodies = [f"{head} VALUES {', '.join(named(values, p) for p in range(rows))}{conflict}{rest}"]
            else:
                bodies = [named(sql, p) for p in range(rows)]
            is_select = sql.lstrip().upper().startswith("SELECT")
            for position, body in enumerate(bodies):
                name = f"w{number}_{position}"
                if expect_one is not None and not is_select:
                    body += " RETURNING 1"
                items.append(f"{name} AS ({body})")
                if expect_one is not None or is_select:
                    counts.append(f"(SELECT count(*) FROM {name})")
                    counted.append(expect_one)
        found = (*pgwire.numbered(f"WITH {', '.join(items)} SELECT {', '.join(counts) or '1'}"), counted)
        with _lock:
            _batches[shape] = found
    return found


def _compile(statement, dialect, keys: tuple) -> tuple[str, dict, dict]:
    """SQL, bind processors and the template's own constants (``revision + 1``,
    ``state = 'open'``) of ``statement`` for rows with ``keys``."""
    cache_key = (id(statement), dialect.name, keys)
    found = _compiled.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        processors = {k: p for k, p in compiled._bind_processors.items() if p is not None}
        constants = {k: v for k, v in compiled.construct_params(_check=False).items() if k not in keys}
        found = (compiled.string, processors, constants)
        with _lock:
            _compiled[cache_key] = found
    return found
