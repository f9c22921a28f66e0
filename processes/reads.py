"""One-row reads on the engine's hot path, compiled once per dialect.

The engine step starts with one statement that locks the instance row, loads it and
reads the clock. Through the ORM that statement cost more client CPU than the rest of the
step's bookkeeping (building the SELECT, its cache key, the entity and its identity-map
entry, every step). :class:`Read` builds the Core statement once per dialect; on
PostgreSQL with psycopg it runs the compiled SQL on the session's connection (inside the
session's transaction, which it opens in the same round trip if none is open yet; see
:mod:`processes.pgwire`) and applies the columns' own result processors, elsewhere it
executes the Core statement through the connection. Either way the caller gets a plain
tuple in the order of the selected columns.
"""
from __future__ import annotations

import threading
from typing import Callable

from sqlalchemy.orm import Session

from processes import pgwire

_lock = threading.Lock()


class Read:
    """A Core SELECT built by ``build(dialect_name)``, compiled once per dialect."""

    def __init__(self, build: Callable[[str], object]):
        self._build = build
        self._statements: dict[str, object] = {}
        self._compiled: dict[str, tuple[str, dict, list]] = {}
        self._pg: tuple | None = None   # the psycopg form, see _numbered

    def statement(self, dialect_name: str):
        found = self._statements.get(dialect_name)
        if found is None:
            found = self._build(dialect_name)
            with _lock:
                self._statements.setdefault(dialect_name, found)
        return self._statements[dialect_name]

    def _sql(self, dialect) -> tuple[str, dict, list]:
        """The SQL, the statement's own constants (``scope = 'default'``) and the result
        processors of its columns."""
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self.statement(dialect.name)
            compiled = statement.compile(dialect=dialect)
            constants = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
            processors = [column.type._cached_result_processor(dialect, None)
                          for column in statement.selected_columns]
            found = (compiled.string, constants, processors)
            with _lock:
                self._compiled.setdefault(dialect.name, found)
        return self._compiled[dialect.name]

    def _numbered(self, dialect) -> tuple[bytes, list[str], dict, list]:
        """:meth:`_sql` with PostgreSQL's own ``$n`` placeholders (see pgwire.numbered)."""
        found = self._pg
        if found is None:
            sql, constants, processors = self._sql(dialect)
            found = self._pg = (*pgwire.numbered(sql), constants, processors)
        return found

    def first(self, session: Session, params: dict) -> tuple | None:
        connection = session.connection()
        dialect = connection.dialect
        if dialect.name != "postgresql" or dialect.driver != "psycopg":
            row = connection.execute(self.statement(dialect.name), params).first()
            return tuple(row) if row is not None else None
        sql, names, constants, processors = self._numbered(dialect)
        values = {**constants, **params}
        row = pgwire.wire(connection).fetch_one(sql, [values[name] for name in names])
        if row is None:
            return None
        return tuple(p(v) if p is not None else v for p, v in zip(processors, row))
