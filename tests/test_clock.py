"""Contract tests: SpiffWorkflow's timers read our injected clock.

These fail loudly if a SpiffWorkflow upgrade stops calling ``datetime.now`` through the
module-global name in its timer module, which is what :mod:`processes.clock` rebinds.
"""
import inspect
from datetime import datetime, timedelta, timezone

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition

from processes.clock import FixedClock, spiff_clock_installed, use_clock


def test_spiff_timer_module_reads_now_through_its_datetime_global():
    for cls in (TimerEventDefinition, DurationTimerEventDefinition):
        assert "datetime.now(timezone.utc)" in inspect.getsource(cls)
    assert spiff_clock_installed()


def test_injected_clock_drives_spiff_now_and_falls_back_to_real_time():
    clock = FixedClock(datetime(2031, 7, 4, 8, tzinfo=timezone.utc))
    with use_clock(clock):
        assert spiff_timer.datetime.now(timezone.utc) == clock.now()
        clock.advance(timedelta(days=3))
        assert spiff_timer.datetime.now(timezone.utc) == datetime(2031, 7, 7, 8, tzinfo=timezone.utc)
    real = spiff_timer.datetime.now(timezone.utc)
    assert abs(real - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_duration_deadline_is_computed_from_case_time():
    clock = FixedClock(datetime(2027, 1, 4, 8, tzinfo=timezone.utc))
    with use_clock(clock):
        delta = TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration("P30M"))
    assert clock.now() + delta == datetime(2029, 7, 4, 8, tzinfo=timezone.utc)
