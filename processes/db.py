"""Database connection: SQLite by default, PostgreSQL via ``SAGSFLOW_DATABASE_URL``.

SQLite runs with WAL and ``BEGIN IMMEDIATE`` so that a step's transaction takes the write
lock up front: two writers serialize instead of failing halfway. PostgreSQL uses row
locks (``FOR UPDATE``) taken by the engine.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///var/sagsflow.sqlite3"
# A pooled PostgreSQL connection idle for longer than this is pinged before it is used
# again; one returned to the pool moments ago is not (see _ping_idle_connections).
PING_AFTER_IDLE_SECONDS = 5.0


def database_url() -> str:
    return os.environ.get("SAGSFLOW_DATABASE_URL", DEFAULT_URL)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an SQLAlchemy engine with Sagsflow's connection settings."""
    url = url or database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling, cheaper than ``pool_pre_ping``.

    ``pool_pre_ping`` pings on every checkout: one more network round trip for every
    engine step, which is most of a step's cost beyond the durable minimum. A connection
    that was in use moments ago is alive (or fails its next statement as it would after
    a ping), so only a connection idle for :data:`PING_AFTER_IDLE_SECONDS` is pinged; a
    dead one is discarded and the pool hands out a fresh connection (SQLAlchemy's
    documented ``DisconnectionError`` protocol)."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record):
        record.info["sagsflow_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("sagsflow_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping opened a transaction; leave the connection idle
        except Exception as error:  # noqa: BLE001 - any failure means: do not use this connection
            raise exc.DisconnectionError(f"stale pooled connection: {error}") from error


@contextmanager
def unsynced_commits(engine: Engine) -> Iterator[None]:
    """On SQLite, commit without waiting for the disk inside the block (``synchronous=NORMAL``:
    with WAL the database stays consistent; only the last commits may be lost if the machine
    fails). For building a demo database, thousands of commits in a row; afterwards the
    pool is emptied so later connections wait for the disk again. Elsewhere a no-op."""
    if not is_sqlite(engine):
        yield
        return

    def relax(dbapi_connection, _record, _proxy):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(engine, "checkout", relax)
    try:
        yield
    finally:
        event.remove(engine, "checkout", relax)
        engine.dispose()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
