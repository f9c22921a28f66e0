"""The restricted evaluator for everything a BPMN model computes.

Gateway conditions, timer expressions, script tasks and service-task parameters are
written by process designers in a browser, so they are untrusted input. They are
compiled with RestrictedPython (``compile_restricted_*``), which rejects dunder access
at compile time; an ``import`` compiles but fails when run, because the restricted
builtins have no ``__import__`` (and ``processes.library`` refuses models with imports
at load). Restricted builtins with plain ``exec`` would be escapable. Models may call the
whitelisted helpers in :data:`HELPERS` and nothing else.
"""
from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

import holidays

from RestrictedPython import (
    compile_restricted_eval,
    compile_restricted_exec,
    limited_builtins,
    safe_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


class ScriptRejected(ValueError):
    """A script or expression that the restricted compiler refuses."""


def parse_duration(value: str) -> dict:
    """Parse an ISO 8601 duration (``P3W``, ``P30M``, ``P1DT12H``) the way Spiff does."""
    if not isinstance(value, str) or not value.startswith("P"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    return TimerEventDefinition.parse_iso_duration(value)


# Dates in case data are Danish calendar dates: "2027-01-25" starts at midnight in
# Copenhagen, and a deadline at the end of that day ends at 23:59:59 Danish time.
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
_DANISH_HOLIDAYS = holidays.country_holidays("DK")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=LOCAL_TZ)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


def _local_iso(value: datetime) -> str:
    """An instant as ISO text in Copenhagen time (``2027-01-18T00:00:00+01:00``).

    The helpers answer in Danish local time so that the date part of the text is the
    Danish calendar date: a model that cuts ``[:10]`` gets the right day, where a UTC
    text (``2027-01-17T23:00:00+00:00``) gave the day before. Timers read the offset.
    """
    return value.astimezone(LOCAL_TZ).isoformat()


def danish_date(value: Any) -> str:
    """The Danish calendar date of ``value`` as ``YYYY-MM-DD``.

    ``value`` is an ISO date (returned as is), an ISO datetime with any offset (UTC text
    is converted to Copenhagen time first; a naive one is taken as Copenhagen time), or a
    ``date``/``datetime``. Compare dates in models with this, never with ``[:10]`` of a
    UTC text, which is the day before for anything at Danish midnight.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value).isoformat()
    return _to_datetime(value).astimezone(LOCAL_TZ).date().isoformat()


def add_duration(start: Any, duration: str) -> str:
    """``start`` (ISO date or datetime; a plain date is midnight in Copenhagen) plus an
    ISO duration, as an ISO datetime in Copenhagen time (see :func:`_local_iso`).

    Months and years are added on the calendar (2027-01-04 + P30M = 2029-07-04), as
    Spiff's own duration timers do. Use it for ``timeDate`` timers that run from a date
    in the case data rather than from the moment the timer is reached.
    """
    begin = _to_datetime(start).astimezone(LOCAL_TZ)
    delta = TimerEventDefinition.get_timedelta_from_start(parse_duration(duration), begin)
    return _local_iso(begin + delta)


def subtract_duration(end: Any, duration: str) -> str:
    """``end`` minus an ISO duration, in Copenhagen time (RSL §7a: 2 weeks before)."""
    finish = _to_datetime(end).astimezone(LOCAL_TZ)
    delta = TimerEventDefinition.get_timedelta_from_end(parse_duration(duration), finish)
    return _local_iso(finish - delta)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a Danish public holiday (``holidays``' Denmark calendar:
    New Year, Maundy Thursday, Good Friday, Easter, Whit Monday, Ascension, Christmas;
    Store Bededag only up to 2023, when it was abolished)."""
    return day.weekday() < 5 and day not in _DANISH_HOLIDAYS


def add_working_days(start: Any, days: int) -> str:
    """``start`` plus ``days`` Danish working days (see :func:`is_working_day`), at the
    same time of day, in Copenhagen time. Counting starts the day after ``start``."""
    current = _to_datetime(start).astimezone(LOCAL_TZ)
    remaining = int(days)
    while remaining > 0:
        current = (current + timedelta(days=1)).astimezone(LOCAL_TZ)
        if is_working_day(current.date()):
            remaining -= 1
    return _local_iso(current)


def end_of_danish_day(value: Any) -> datetime:
    """23:59:59 Danish time on the Danish calendar date of ``value``."""
    day = date.fromisoformat(danish_date(value))
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=LOCAL_TZ)


def deadline_end_of_day(event_definition, value: Any) -> Any:
    """A timer value moved to the end of its Danish day (``SagsflowScriptEngine.evaluate``).

    A ``timeDate`` value becomes that day's 23:59:59; a ``timeDuration`` (counted by
    Spiff from now) becomes the exact duration from now to the end of the day it
    reaches. Cycle timers are left alone (models loop instead)."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
        DurationTimerEventDefinition, TimeDateEventDefinition,
    )
    from processes.clock import _ClockedDatetime

    if isinstance(event_definition, TimeDateEventDefinition):
        return end_of_danish_day(TimerEventDefinition.get_datetime(str(value))).isoformat()
    if isinstance(event_definition, DurationTimerEventDefinition):
        now = _ClockedDatetime.now(timezone.utc)
        reached = now + TimerEventDefinition.get_timedelta_from_start(parse_duration(value), now)
        rest = end_of_danish_day(reached) - now
        return f"PT{rest.days * 86400 + rest.seconds}.{rest.microseconds:06d}S"
    return value


def today() -> str:
    """The case clock's Danish calendar date (``YYYY-MM-DD``): the day the step runs, e.g.
    the day a letter goes out. It reads the same clock as SpiffWorkflow's timers, so a
    walk on a virtual clock sees virtual days."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
    return danish_date(spiff_timer.datetime.now(timezone.utc))


HELPERS: dict[str, Callable] = {
    "add_duration": add_duration,
    "subtract_duration": subtract_duration,
    "add_working_days": add_working_days,
    "danish_date": danish_date,
    "today": today,
}

_EXTRA_BUILTINS = {
    name: obj
    for name, obj in {
        "len": len, "min": min, "max": max, "sum": sum, "sorted": sorted, "any": any,
        "all": all, "dict": dict, "list": list, "set": set, "tuple": tuple,
        "enumerate": enumerate, "zip": zip, "abs": abs, "round": round,
    }.items()
}


def _restricted_globals() -> dict:
    builtins = dict(safe_builtins)
    builtins.update(limited_builtins)
    builtins.update(_EXTRA_BUILTINS)
    return {
        "__builtins__": builtins,
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        **HELPERS,
    }


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    ops = {"+=": lambda a, b: a + b, "-=": lambda a, b: a - b, "*=": lambda a, b: a * b}
    if op not in ops:
        raise ScriptRejected(f"operator {op} is not allowed")
    return ops[op](x, y)


_compiled: dict[tuple[str, str], Any] = {}


def _compile(source: str, mode: str):
    key = (mode, source)
    code = _compiled.get(key)
    if code is None:
        result = (compile_restricted_eval if mode == "eval" else compile_restricted_exec)(source)
        if result.errors:
            raise ScriptRejected("; ".join(result.errors))
        code = _compiled[key] = result.code
    return code


def compile_expression(expression: str):
    """Compile an expression with RestrictedPython (cached); raise ScriptRejected."""
    return _compile(expression, "eval")


def compile_script(script: str):
    """Compile a script with RestrictedPython (cached); raise ScriptRejected."""
    return _compile(script, "exec")


ServiceHandler = Callable[[Any, str, dict], Any]


class RestrictedEnvironment(TaskDataEnvironment):
    """A Spiff script environment that only runs RestrictedPython-compiled code."""

    def __init__(self):
        super().__init__(_restricted_globals())

    def evaluate(self, expression, context, external_context=None):
        code = compile_expression(expression)
        scope = copy.copy(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        return eval(code, scope)

    def execute(self, script, context, external_context=None):
        return super().execute(compile_script(script), context, external_context)


class SagsflowScriptEngine(PythonScriptEngine):
    """Spiff's script engine on the restricted environment.

    Service tasks (``spiffworkflow:serviceTaskOperator``) are routed to ``service``, a
    callable ``(task, operation_name, params) -> result`` supplied per engine step; the
    engine uses it to queue letters in the outbox inside the step's transaction.
    """

    def __init__(self, service: ServiceHandler | None = None, deadline_timers: frozenset[str] = frozenset()):
        super().__init__(environment=RestrictedEnvironment())
        self.service = service
        self.deadline_timers = deadline_timers

    def evaluate(self, task, expression, external_context=None):
        """Evaluate; a deadline timer's value ends at the end of its Danish calendar day.

        ``deadline_timers`` are the bpmn ids of timers tagged ``deadline`` (set by the
        engine from the model's metadata). Spiff evaluates a timer's expression once,
        when the timer is reached, and keeps the result: rounding it here makes "within
        N" end at 23:59:59 Danish time on the due day for every tagged timer, durations
        from "now" (repeating talks) as well as dates from the case data.
        """
        value = super().evaluate(task, expression, external_context)
        spec = task.task_spec
        if spec.bpmn_id in self.deadline_timers:
            ed = getattr(spec, "event_definition", None)
            if ed is not None and expression == getattr(ed, "expression", None):
                return deadline_end_of_day(ed, value)
        return value

    def call_service(self, task, **kwargs):
        if self.service is None:
            raise ScriptRejected(f"service task {task.task_spec.bpmn_id}: no service handler")
        params = {k: v["value"] for k, v in kwargs.get("operation_params", {}).items()}
        result = self.service(task, kwargs["operation_name"], params)
        return json.dumps(result)
