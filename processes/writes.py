"""The writes of one engine step, sent to the database together.

An engine step knows everything it will write only once Spiff has run: the new state,
the projection rows that changed, audit events, milestones, letters. :class:`Writes`
collects them as Core statements with their rows and executes them in one go: on
PostgreSQL in one psycopg pipeline (one network round trip for the whole batch instead
of one per statement), elsewhere statement by statement through the session.

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


class NotOneRow(Exception):
    """A write that had to change exactly one row did not (the row changed meanwhile)."""


class Writes:
    """An ordered batch of write statements; :meth:`execute` sends them."""

    def __init__(self) -> None:
        self._ops: list[tuple[Any, list[dict] | None, Table | None, bool]] = []
        self._expect: dict[int, str] = {}  # op index -> message if it does not change exactly one row

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

    def execute(self, session: Session) -> None:
        if not self._ops:
            return
        connection = session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            counts = self._pipeline(connection, dialect)
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
