"""Shared fixtures: a fresh database per test on SQLite and (where reachable) PostgreSQL.

PostgreSQL tests use the server on 127.0.0.1:5432 (user postgres, trust auth) or
``SAGSFLOW_TEST_PG_URL``. Each test run creates its own database and drops it at the
end, so runs never see each other's data; each test gets a fresh schema in it. Without
a reachable server the PostgreSQL variants skip with the reason; with
``SAGSFLOW_TEST_REQUIRE_PG=1`` (CI) they fail instead, so the PostgreSQL-only locking
tests cannot silently drop out. A server that answers but refuses (wrong user, no
permission, ...) is an error, never a skip.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, make_url, text

from processes import setup

PG_ADMIN_URL = os.environ.get("SAGSFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = datetime(2027, 1, 4, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def pg_database_url():
    """A PostgreSQL database for this test run, dropped afterwards."""
    name = f"sagsflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    unreachable = _unreachable(PG_ADMIN_URL)
    if unreachable:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {unreachable}"
        if os.environ.get("SAGSFLOW_TEST_REQUIRE_PG"):
            pytest.fail(f"{message} (SAGSFLOW_TEST_REQUIRE_PG is set)", pytrace=False)
        pytest.skip(message)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    with admin.connect() as conn:  # the server answers: any error here is a real one
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _unreachable(url: str) -> str | None:
    """Why nothing listens at the URL's host and port, or None if something does."""
    parsed = make_url(url)
    try:
        socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=3).close()
    except OSError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL to an empty database; every test using it runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sagsflow.sqlite3'}"
    return empty_schema(request.getfixturevalue("pg_database_url"))


def empty_schema(url: str) -> str:
    """Drop everything in the PostgreSQL database at ``url``; return the URL."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'sagsflow.sqlite3'}"


def make_runtime(url: str, reference: bool = True, start: datetime = START):
    """An initialised installation on a virtual clock starting at ``start``."""
    return setup.open_installation(url, start=start, reference=reference)


@pytest.fixture
def runtime(db_url):
    """Reference municipalities and demo users on a virtual clock, on both backends."""
    rt = make_runtime(db_url)
    yield rt
    rt.close()


@pytest.fixture
def sqlite_runtime(sqlite_url):
    rt = make_runtime(sqlite_url)
    yield rt
    rt.close()
