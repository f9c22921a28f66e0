"""The engine step's statements on psycopg's libpq layer, without its cursors.

An engine step on PostgreSQL talks to the server in three exchanges: lock and load the
instance (with the clock), send the step's projection and audit rows, write the state
and commit. psycopg's cursors cost client CPU around each of them (query conversion,
prepared-statement bookkeeping, generators, and in pipeline mode about as much again),
and they cannot send a statement and come back for its result later, which is what lets
the server write the step's rows while this process serializes the state. So the step
uses the layer under them (``psycopg.pq``, the libpq wrapper, with psycopg's own
``Transformer`` for parameters and results and its non-blocking wait, so a wait releases
the GIL as psycopg's does):

- :meth:`Wire.fetch_one`: ``BEGIN`` (when no transaction is open) and a one-row
  ``SELECT`` in one round trip;
- :meth:`Wire.send` / :meth:`Wire.results`: send statements now, read their results
  later;
- :meth:`Wire.execute`: statements, and ``COMMIT`` if asked, in one round trip.

Every statement is prepared on the server on first use per connection (its name is
kept with the pooled connection), as psycopg does after five executions. Statements go
in libpq's pipeline mode, so an error skips the rest of the exchange, the transaction is
left failed, and the caller's rollback ends it; the error raised is psycopg's own
(``psycopg.errors``) for the first failed statement. Nothing else may use the
connection between :meth:`Wire.send` and :meth:`Wire.results` (the engine step does
not; :class:`processes.writes.Writes` reads the results however the step ends).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from psycopg import errors, generators, pq
from psycopg.adapt import PyFormat, Transformer

_SYNC = pq.ExecStatus.PIPELINE_SYNC
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_IDLE = pq.TransactionStatus.IDLE
_KEY = "sagsflow.wire"


# A placeholder of SQL compiled for psycopg: ``%(name)s`` (not ``%%(...)``).
PARAMETER = re.compile(r"(?<!%)%\(([^)]+)\)s")


def numbered(sql: str) -> tuple[bytes, list[str]]:
    """SQL compiled for psycopg (``%(name)s`` placeholders, ``%%`` for ``%``) with
    PostgreSQL's own ``$n`` placeholders instead, and the parameter names in the order of
    their numbers (a name used twice is one parameter)."""
    numbers: dict[str, str] = {}
    text = PARAMETER.sub(lambda match: numbers.setdefault(match.group(1), f"${len(numbers) + 1}"), sql)
    return text.replace("%%", "%").encode(), list(numbers)


def wire(connection) -> "Wire":
    """The :class:`Wire` of a SQLAlchemy connection's pooled psycopg connection (made on
    first use, kept with the pooled connection, so its prepared statements are too)."""
    fairy = connection.connection
    found = fairy.info.get(_KEY)
    raw = fairy.driver_connection
    if found is None or found.raw is not raw:
        found = fairy.info[_KEY] = Wire(raw)
    return found


class Wire:
    """One pooled psycopg connection's exchanges for the engine step (see the module
    docstring); used by one thread at a time, as the pooled connection is."""

    __slots__ = ("raw", "pgconn", "_tx", "_names", "_count", "_sent", "_syncs")

    def __init__(self, raw) -> None:
        self.raw = raw
        self.pgconn = raw.pgconn
        self._tx = Transformer(raw)
        self._names: dict[tuple, bytes] = {}
        self._count = 0
        _follow_psycopg_clears(raw, self._names)
        # per message sent and not read yet: True if its result is wanted, False if not,
        # the key of the statement if it is a PREPARE
        self._sent: list = []
        self._syncs = 0   # exchanges sent whose results are not read yet

    @property
    def pending(self) -> bool:
        """Has something been sent whose results are not read yet?"""
        return self._syncs > 0

    def _send(self, sql: bytes, params: Sequence[Any]) -> None:
        """Queue one statement (pipeline mode), preparing it first if this connection has
        not yet prepared it for these parameter types."""
        tx = self._tx
        values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
        types, formats = tx.types, tx.formats
        key = (sql, types)
        name = self._names.get(key)
        pgconn = self.pgconn
        if name is None:
            self._count += 1
            name = f"sagsflow_{self._count}".encode()
            pgconn.send_prepare(name, sql, param_types=types)
            self._names[key] = name
            self._sent.append(key)   # forgotten again unless its result comes back fine
        pgconn.send_query_prepared(name, values, param_formats=formats)
        self._sent.append(True)

    def _begin(self) -> None:
        """Start an exchange: pipeline mode, and ``BEGIN`` first if no transaction is
        open (psycopg opens one before a statement outside autocommit; so do we)."""
        pgconn = self.pgconn
        if pgconn.pipeline_status == pq.PipelineStatus.OFF:
            begin = pgconn.transaction_status == _IDLE and not self.raw.autocommit
            pgconn.enter_pipeline_mode()
            if begin:
                pgconn.send_query_params(b"BEGIN", None)
                self._sent.append(False)

    def _flush(self) -> None:
        self.pgconn.pipeline_sync()
        self._syncs += 1
        self.raw.wait(generators.send(self.pgconn))

    def send(self, sql: bytes, params: Sequence[Any], commit: bool = False) -> None:
        """Send one statement (then ``COMMIT``, if asked) and return at once;
        :meth:`results` reads its result. More may be sent before that (they run in
        order; an error in one fails the transaction, so the later ones fail too)."""
        self._begin()
        try:
            self._send(sql, params)
            if commit:
                self.pgconn.send_query_params(b"COMMIT", None)
                self._sent.append(False)
            self._flush()
        except BaseException:
            self.abandon()
            raise

    def results(self) -> list:
        """The results of the statements sent, in order (one ``PGresult`` each; the
        ``PREPARE`` of a statement prepared on the way is left out); raises the first
        failed statement's error."""
        pgconn, wait = self.pgconn, self.raw.wait
        found: list = []
        try:
            while self._syncs:
                batch = wait(generators.fetch_many(pgconn))
                if not batch:
                    break
                if batch[-1].status == _SYNC:
                    self._syncs -= 1
                else:
                    found.append(batch[-1])
        finally:
            self._syncs = 0
            wanted, self._sent = self._sent, []
            self._leave_pipeline()
            for position, kind in enumerate(wanted):
                if kind is not True and kind is not False and (
                        position >= len(found) or found[position].status not in _OK):
                    self._names.pop(kind, None)   # not prepared after all (an error skipped it)
        for result in found:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(result, encoding=self.raw.info.encoding)
        if len(found) != len(wanted) or any(result.status not in _OK for result in found):
            raise errors.OperationalError(f"unexpected results: {[r.status for r in found]} for {len(wanted)} sent")
        return [result for result, kind in zip(found, wanted) if kind is True]

    def _leave_pipeline(self) -> None:
        """Leave pipeline mode; if results are left unread (the wait for them failed: the
        connection broke, or the wait was interrupted), close the connection, which is in
        no known state: the pool then replaces it."""
        if self.pgconn.pipeline_status == pq.PipelineStatus.OFF:
            return
        try:
            self.pgconn.exit_pipeline_mode()
        except errors.OperationalError:
            self.raw.close()

    def abandon(self) -> None:
        """Read and drop whatever was sent (a step that ends with an error)."""
        try:
            self.results()
        except errors.Error:
            pass

    def execute(self, sql: bytes, params: Sequence[Any], commit: bool = False):
        """Run one statement (then ``COMMIT``, if asked) in one round trip; its result."""
        self.send(sql, params, commit)
        return self.results()[0]

    def fetch_one(self, sql: bytes, params: Sequence[Any]) -> tuple | None:
        """Run one statement (after ``BEGIN``, if no transaction is open, in the same
        round trip); its first row with psycopg's loaders applied, or None."""
        self.send(sql, params)
        result = self.results()[-1]
        if not result.ntuples:
            return None
        tx = self._tx
        tx.set_pgresult(result)
        return tx.load_row(0, tuple)


def _follow_psycopg_clears(raw, names: dict) -> None:
    """Drop this connection's prepared statements whenever psycopg drops its own.

    psycopg forgets its prepared statements, and deallocates them on the server, after a
    ROLLBACK and after a statement that may have dropped or changed what they refer to
    (``DROP``, ``ALTER``, ``DISCARD ALL``): its ``clear()`` schedules ``DEALLOCATE ALL``
    when it had statements of its own. Ours follow the same rule: forgotten here (the
    next use prepares again, under a new name), and deallocated by psycopg's own
    maintenance, all of them with its ``DEALLOCATE ALL`` or else one by one."""
    manager = raw._prepared
    clear = manager.clear

    def clear_both() -> bool:
        ours = list(names.values())
        names.clear()
        if clear():
            return True
        manager._to_flush.extend(ours)
        return bool(ours)
    manager.clear = clear_both
