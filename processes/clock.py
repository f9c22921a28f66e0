"""Injected time for the engine and for SpiffWorkflow's timer module.

Every reading of "now" in Sagsflow goes through a :class:`Clock`. SpiffWorkflow 3.2.0
has no clock parameter: its timer event definitions call ``datetime.now(timezone.utc)``
through the module-global name ``datetime`` in
``SpiffWorkflow.bpmn.specs.event_definitions.timer``. We rebind that one name to a
subclass whose ``now()`` reads a context-local clock, so deadline computation
(now + duration) and the has-it-fired check both use case time. ``tests/test_clock.py``
is the contract test that fails if an upgrade changes this.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime as _real_datetime, timedelta, timezone
from typing import Iterator, Protocol

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer


class Clock(Protocol):
    """Anything with ``now()`` returning an aware UTC datetime."""

    def now(self) -> _real_datetime: ...


class SystemClock:
    """The machine's clock. Production uses the database clock via the engine."""

    def now(self) -> _real_datetime:
        return _real_datetime.now(timezone.utc)


class FixedClock:
    """A clock that says what it is told; tests and simulations move it explicitly."""

    def __init__(self, start: _real_datetime):
        self.current = as_utc(start)

    def now(self) -> _real_datetime:
        return self.current

    def set(self, when: _real_datetime) -> None:
        self.current = as_utc(when)

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def as_utc(value: _real_datetime) -> _real_datetime:
    """Return ``value`` as an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


_active_clock: ContextVar[Clock | None] = ContextVar("sagsflow_clock", default=None)


class _ClockedDatetime(_real_datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102 - mirrors datetime.now
        clock = _active_clock.get()
        if clock is None:
            return _real_datetime.now(tz)
        current = clock.now()
        return current.astimezone(tz) if tz else current


def install_spiff_clock() -> None:
    """Route SpiffWorkflow's timer module to the context-local clock (idempotent)."""
    _spiff_timer.datetime = _ClockedDatetime


def spiff_clock_installed() -> bool:
    return _spiff_timer.datetime is _ClockedDatetime


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the time source for SpiffWorkflow inside the block."""
    install_spiff_clock()
    token = _active_clock.set(clock)
    try:
        yield clock
    finally:
        _active_clock.reset(token)


install_spiff_clock()
