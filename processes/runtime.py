"""Wiring: a database URL becomes an SQLAlchemy engine, a sessionmaker and a Sagsflow
:class:`~processes.engine.Engine`. The CLI, the worker and the web app all start here."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine as SqlEngine
from sqlalchemy.orm import Session, sessionmaker

from processes.db import database_url, make_engine, make_session_factory
from processes.engine import Engine


@dataclass
class Runtime:
    url: str
    db: SqlEngine
    sessions: sessionmaker[Session]
    engine: Engine

    def close(self) -> None:
        self.db.dispose()


def open_runtime(url: str | None = None, **engine_kwargs) -> Runtime:
    url = url or database_url()
    db = make_engine(url, **engine_kwargs)
    sessions = make_session_factory(db)
    return Runtime(url, db, sessions, Engine(sessions))
