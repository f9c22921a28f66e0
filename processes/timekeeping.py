"""Where "now" comes from for a transaction: the virtual clock if the installation has
one, otherwise the database clock (PostgreSQL ``now()``), or the system clock on SQLite.

Reading time from the database keeps SQL (``next_due_at <= now``) and Spiff's timers on
one clock across many worker processes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select, text, type_coerce
from sqlalchemy.orm import Session

from processes.clock import as_utc
from processes.errors import ClockError
from processes.models import ClockSetting

SCOPE = "default"
# Spiff fires a timer only strictly after its due time; stepping the virtual clock to
# just past a due time fires it without visibly shifting later deadlines.
TICK = timedelta(microseconds=1)


def virtual_now(session: Session) -> datetime | None:
    row = session.get(ClockSetting, SCOPE, populate_existing=True)
    return row.now if row is not None else None


def now(session: Session) -> datetime:
    current = virtual_now(session)
    if current is not None:
        return current
    if session.get_bind().dialect.name == "postgresql":
        return as_utc(session.scalar(text("SELECT now()")))
    return datetime.now(timezone.utc)


def clock_columns(dialect_name: str) -> list:
    """Columns that read "now" inside another SELECT (the engine reads the clock in the
    same statement that locks the instance): the virtual clock, and the database clock on
    PostgreSQL. :func:`now_from_values` turns their values into the time :func:`now`
    would give."""
    columns = [type_coerce(_virtual_clock(), ClockSetting.now.type).label("virtual_now")]
    if dialect_name == "postgresql":
        columns.append(func.now().label("database_now"))
    return columns


def now_expression(dialect_name: str):
    """"Now" as an SQL expression, for a statement that compares with it (the worker's
    claim of a due instance): the virtual clock, else the database clock on PostgreSQL,
    else the bound parameter ``b_now`` (the caller's system clock, on SQLite)."""
    fallback = (func.now() if dialect_name == "postgresql"
                else bindparam("b_now", type_=ClockSetting.now.type))
    return type_coerce(func.coalesce(_virtual_clock(), fallback), ClockSetting.now.type)


def _virtual_clock():
    return select(ClockSetting.now).where(ClockSetting.scope == SCOPE).scalar_subquery()


def now_from_values(virtual: datetime | None, database: datetime | None = None) -> datetime:
    """The time of the values of :func:`clock_columns`, in their order."""
    if virtual is not None:
        return virtual
    return as_utc(database) if database is not None else datetime.now(timezone.utc)


def is_virtual(session: Session) -> bool:
    return virtual_now(session) is not None


def require_virtual(session: Session) -> None:
    if not is_virtual(session):
        raise ClockError("this installation runs on the real clock; only a virtual clock can be moved")


def enable_virtual(session: Session, start: datetime) -> None:
    """Give the installation a virtual clock starting at ``start`` (demo, tests, simulation)."""
    row = session.get(ClockSetting, SCOPE)
    if row is None:
        session.add(ClockSetting(scope=SCOPE, now=as_utc(start)))
    else:
        row.now = as_utc(start)


def set_virtual(session: Session, when: datetime) -> None:
    require_virtual(session)
    row = session.scalars(select(ClockSetting).where(ClockSetting.scope == SCOPE).with_for_update()).one()
    if as_utc(when) < row.now:
        raise ClockError("the virtual clock only moves forward")
    row.now = as_utc(when)
