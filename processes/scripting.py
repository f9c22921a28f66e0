"""The restricted evaluator for everything a BPMN model computes.

Gateway conditions, timer expressions, script tasks and service-task parameters are
written by process designers in a browser, so they are untrusted input. They are
compiled with RestrictedPython (``compile_restricted_*``), which rejects dunder access
at compile time; an ``import`` compiles but fails when run, because the restricted
builtins have no ``__import__`` (and ``processes.library`` refuses models with imports
at load). Restricted builtins with plain ``exec`` would be escapable. Models may call the
whitelisted helpers in :data:`HELPERS` and nothing else.

Model code also runs on a budget (:class:`Budget`, ``docs/modelling.md`` "Limits"): the
compiler instruments every loop iteration, function call and lambda with a tick, the
operators that can build huge values (``**``, ``*``, ``+``, ``<<``, ``%``) and the string
and list methods that can (``ljust``, ``replace``, ``join``, ``extend`` ...) check the
size of what they would build before building it, and a step's whole run of model code
has an operation count and a wall-clock deadline. An operation counter rather than a
signal: signals only reach the main thread, and steps run in web and worker threads.
Durations (timer values and the date helpers) beyond :data:`HORIZON_YEARS` are refused.
"""
from __future__ import annotations

import ast
import copy
import json
import operator
import re
import time
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID
from zoneinfo import ZoneInfo

import holidays

from RestrictedPython import (
    RestrictingNodeTransformer,
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
    raise_,
    safer_getattr,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException


class ScriptRejected(ValueError):
    """A script or expression that the restricted compiler refuses."""


class LimitExceeded(ScriptRejected):
    """Model code that went over its budget of time, operations or size."""


# ------------------------------------------------------------------------ limits
MAX_OPERATIONS = 1_000_000  # loop iterations, calls and evaluations in one step's model code
MAX_SECONDS = 5.0           # wall-clock time of one step's model code
MAX_ITEMS = 1_000_000       # the largest string, list or tuple one operation may build
MAX_BUILT = 20_000_000      # items all guarded operations of one step may build together
MAX_INT_BITS = 10_000       # the largest integer (about 3,000 decimal digits)
MAX_DATA_ITEMS = 1_000_000  # case data a script leaves behind, counted as written out
MAX_DATA_DEPTH = 100        # nesting of case data
EVALUATION_COST = 100       # an evaluation or an engine task counts as this many operations
HORIZON_YEARS = 100         # no duration or date in a model reaches further
_CLOCK_EVERY = 1024


class _Exhausted(BaseException):
    """Raised inside model code when its budget is spent. A BaseException so that a
    script's ``except Exception`` cannot swallow it; the environment turns it into
    :class:`LimitExceeded` at its boundary, and a spent budget stays spent."""


class Budget:
    """The operations, wall-clock time and built items one step's model code may use."""

    __slots__ = ("operations", "deadline", "built", "reason", "_clock")

    def __init__(self, operations: int = MAX_OPERATIONS, seconds: float = MAX_SECONDS,
                 built: int = MAX_BUILT):
        self.operations = operations
        self.deadline = time.monotonic() + seconds
        self.built = built
        self.reason: str | None = None
        self._clock = _CLOCK_EVERY

    def _spend(self, reason: str):
        self.reason = reason
        raise _Exhausted(reason)

    def tick(self, n: int = 1) -> None:
        """Count ``n`` operations (inside model code: raises :class:`_Exhausted`)."""
        if self.reason is not None:
            raise _Exhausted(self.reason)
        self.operations -= n
        if self.operations < 0:
            self._spend(f"model code ran more than {MAX_OPERATIONS:,} operations")
        self._clock -= n
        if self._clock <= 0:
            self._clock = _CLOCK_EVERY
            if time.monotonic() > self.deadline:
                self._spend(f"model code ran longer than {MAX_SECONDS:g} seconds")

    def build(self, items: int) -> None:
        """Count ``items`` that an operation is about to build."""
        if items > MAX_ITEMS:
            raise LimitExceeded(f"model code would build a value of {items:,} items (at most {MAX_ITEMS:,})")
        self.built -= items
        if self.built < 0:
            self._spend(f"model code built more than {MAX_BUILT:,} items")

    def charge(self, n: int = EVALUATION_COST) -> None:
        """Count work done outside model code (an engine task); raises LimitExceeded."""
        try:
            self.tick(n)
        except _Exhausted as exc:
            raise LimitExceeded(str(exc)) from None


_CURRENT: ContextVar[Budget | None] = ContextVar("sagsflow_budget", default=None)


@contextmanager
def budget(**limits):
    """The budget model code runs on: a new one, or the enclosing one if there is one
    (an engine step opens one budget for every evaluation it makes)."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    fresh = Budget(**limits)
    token = _CURRENT.set(fresh)
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)


def _budget() -> Budget:
    current = _CURRENT.get()
    if current is None:  # model code only runs inside RestrictedEnvironment (or run_expression)
        raise ScriptRejected("model code ran outside a budget")
    return current


def _tick() -> None:
    _budget().tick()


# ---------------------------------------------------------------- durations
_DAYS = {"years": 365.25, "months": 30.44, "weeks": 7, "days": 1, "hours": 1 / 24,
         "minutes": 1 / 1440, "seconds": 1 / 86400}


def check_horizon(parsed: dict, text: str = "") -> dict:
    """Refuse a parsed duration longer than :data:`HORIZON_YEARS` (Spiff counts month by
    month, so ``P99999999999999999999Y`` would never finish)."""
    days = sum(float(value) * _DAYS[unit] for unit, value in parsed.items() if unit in _DAYS)
    if days > HORIZON_YEARS * 365.25:
        raise LimitExceeded(f"duration {text or parsed!r} is longer than {HORIZON_YEARS} years")
    return parsed


def parse_duration(value: str) -> dict:
    """Parse an ISO 8601 duration (``P3W``, ``P30M``, ``P1DT12H``) the way Spiff does;
    refuse one beyond :data:`HORIZON_YEARS`. A new dict every call (Spiff's
    ``get_timedelta_from_*`` change the dict they are given)."""
    if not isinstance(value, str) or not value.startswith("P"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    return dict(_parsed_duration(value))


@lru_cache(maxsize=4096)
def _parsed_duration(value: str) -> dict:
    """The parsed duration (cached: the same text always parses the same; a refused one
    raises again, exceptions are not cached). Never handed out: callers get a copy."""
    return check_horizon(TimerEventDefinition.parse_iso_duration(value), value)


def check_timer_result(kind: str, value: Any, now: datetime) -> None:
    """Refuse a computed timer value that Spiff would take forever over, or that lies
    beyond the horizon. ``kind`` is Spiff's event definition class or the BPMN element."""
    if kind in ("timeDuration", "DurationTimerEventDefinition"):
        parse_duration(value)
    elif kind in ("timeDate", "TimeDateEventDefinition"):
        due = TimerEventDefinition.get_datetime(value)
        if due - now > timedelta(days=HORIZON_YEARS * 366):
            raise LimitExceeded(f"timer date {value!r} is more than {HORIZON_YEARS} years away")
    else:
        for part in str(value).upper().replace("--", "/").strip("R").split("/")[1:]:
            if part.startswith("P"):
                parse_duration(part)


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
    if remaining > HORIZON_YEARS * 261:
        raise LimitExceeded(f"{remaining} working days is more than {HORIZON_YEARS} years")
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

# ------------------------------------------------------------ guarded operations
_SIZED = (str, bytes, list, tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"model code would build an integer of about {bits:,} bits (at most {MAX_INT_BITS:,})")


def _pow(a, b, mod=None):
    if mod is None and _is_int(a) and _is_int(b) and b > 1 and abs(a) > 1:
        _bits(a.bit_length() * b)
    return pow(a, b) if mod is None else pow(a, b, mod)


def _mul(a, b):
    if _is_int(a) and _is_int(b):
        _bits(a.bit_length() + b.bit_length())
    elif isinstance(a, _SIZED) and _is_int(b):
        _budget().build(len(a) * max(b, 0))
    elif _is_int(a) and isinstance(b, _SIZED):
        _budget().build(max(a, 0) * len(b))
    return a * b


def _add(a, b):
    if isinstance(a, _SIZED) and isinstance(b, _SIZED):
        _budget().build(len(a) + len(b))
    return a + b


def _lshift(a, b):
    if _is_int(a) and _is_int(b) and a:
        _bits(a.bit_length() + b)
    return a << b


_NUMBERS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _width_ok(spec: str) -> None:
    for number in _NUMBERS.findall(spec):
        if len(number) > 7 or int(number) > MAX_ITEMS:
            raise LimitExceeded(f"format width {number} is larger than {MAX_ITEMS:,}")


def _mod(a, b):
    if isinstance(a, (str, bytes)):
        text = a if isinstance(a, str) else a.decode("latin-1")
        starred = False
        for match in _PERCENT_SPEC.finditer(text):
            _width_ok(match.group(0))
            starred = starred or "*" in match.group(0)
        if starred:
            for arg in (b if isinstance(b, tuple) else (b,)):
                if _is_int(arg) and arg > MAX_ITEMS:
                    raise LimitExceeded(f"format width {arg} is larger than {MAX_ITEMS:,}")
    return a % b


def _format(value, spec: str, conversion: int):
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    _width_ok(spec)
    return format(value, spec)


_BINOPS: dict[type, tuple[str, Callable]] = {
    ast.Pow: ("_pow_", _pow), ast.Mult: ("_mul_", _mul), ast.Add: ("_add_", _add),
    ast.LShift: ("_lshift_", _lshift), ast.Mod: ("_mod_", _mod),
}
_INPLACE: dict[str, Callable] = {
    "+=": _add, "-=": operator.sub, "*=": _mul, "/=": operator.truediv, "//=": operator.floordiv,
    "%=": _mod, "**=": _pow, "<<=": _lshift, ">>=": operator.rshift, "&=": operator.and_,
    "|=": operator.or_, "^=": operator.xor,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:
        raise ScriptRejected(f"operator {op} is not allowed")
    return _INPLACE[op](x, y)


def _width_arg(obj, args, kwargs) -> int:
    return max(len(obj), args[0] if args else kwargs.get("width", 0))


def _replace_size(obj, args, kwargs) -> int:
    old, new = args[0], args[1]
    count = args[2] if len(args) > 2 else kwargs.get("count", -1)
    hits = obj.count(old) if old else len(obj) + 1
    if count >= 0:
        hits = min(hits, count)
    return len(obj) + hits * max(len(new) - len(old), 0)


def _expandtabs_size(obj, args, kwargs) -> int:
    tabsize = args[0] if args else kwargs.get("tabsize", 8)
    return len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * max(tabsize, 0)


def _translate_size(obj, args, kwargs) -> int:
    table = args[0] if args else kwargs.get("table")
    longest = max((len(v) for v in table.values() if isinstance(v, _SIZED)), default=1) \
        if isinstance(table, dict) else 1
    return len(obj) * max(longest, 1)


_SIZE_OF_RESULT: dict[str, Callable[[Any, tuple, dict], int]] = {
    "ljust": _width_arg, "rjust": _width_arg, "center": _width_arg, "zfill": _width_arg,
    "replace": _replace_size, "expandtabs": _expandtabs_size, "translate": _translate_size,
}


def _guarded_method(obj, name: str, method: Callable) -> Callable:
    if name == "join":
        def join(parts):
            parts = list(parts)
            _budget().build(sum(len(p) for p in parts if isinstance(p, _SIZED))
                            + len(obj) * max(len(parts) - 1, 0))
            return method(parts)
        return join
    if name == "extend":
        def extend(items):
            items = list(items)
            _budget().build(len(obj) + len(items))
            return method(items)
        return extend
    if name == "to_bytes":
        def to_bytes(*args, **kwargs):
            _budget().build(args[0] if args else kwargs.get("length", 1))
            return method(*args, **kwargs)
        return to_bytes
    size = _SIZE_OF_RESULT[name]

    def checked(*args, **kwargs):
        _budget().build(size(obj, args, kwargs))
        return method(*args, **kwargs)
    return checked


_GUARDED_METHODS = {
    str: {"join", *_SIZE_OF_RESULT}, bytes: {"join", *_SIZE_OF_RESULT},
    list: {"extend"}, int: {"to_bytes"},
}


def _getattr(obj, name, *default):
    """``obj.name`` in model code (RestrictedPython compiles it to ``_getattr_(obj, name)``):
    a missing attribute raises ``AttributeError`` as in Python, so the step fails with a
    model fault naming the element. ``safer_getattr`` on its own returns its default,
    ``None``: a misspelt ``indstilling.udfald`` in a gateway condition would quietly take
    the wrong branch. Only an explicit ``default`` is returned instead (model code has no
    ``getattr`` builtin; a script that expects a missing attribute catches the error)."""
    value = safer_getattr(obj, name, *(default or (raise_,)))
    if isinstance(obj, type) and name in _MUTATORS.get(obj, ()):  # ``list.append(policy["liste"], 3)``
        return _refusing_views(value)
    for kind, names in _GUARDED_METHODS.items():
        if name in names and isinstance(obj, kind) and not isinstance(obj, bool):
            return _guarded_method(obj, name, value)
    return value


def _getiter(obj):
    """Every iteration of a ``for`` loop or comprehension counts one operation."""
    current = _budget()
    for item in obj:
        current.tick()
        yield item


def _sum(iterable, start=0):
    if not isinstance(start, (int, float, Decimal)):
        raise ScriptRejected("sum() adds numbers only; join strings with ''.join()")
    return sum(iterable, start)


_READ_ONLY = "policy values are read-only to model code"


def _refuse(*args, **kwargs):
    raise ScriptRejected(_READ_ONLY)


class ReadOnlyPolicy(dict):
    """The instance's policy as model code sees it: values can be read, never changed, at
    any depth (a list in it is a :class:`ReadOnlyList`, a mapping a ReadOnlyPolicy). Reads
    are those of a dict: equality, ``in``, iteration, ``get``, JSON. A copy (``dict(...)``,
    ``.copy()``, ``|``) is a plain dict whose nested values are still read-only;
    ``copy.deepcopy`` (which Spiff uses when a task hands its data on) gives plain values."""

    def __init__(self, values=()):
        super().__init__(values)
        for key, value in dict.items(self):
            if isinstance(value, _NESTED):
                dict.__setitem__(self, key, _read_only(value))

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        return {copy.deepcopy(key, memo): copy.deepcopy(value, memo) for key, value in dict.items(self)}


class ReadOnlyList(list):
    """A list in the policy as model code sees it: read like a list (equal to the same
    plain list), never changed. Slices, ``+`` and ``list(...)`` are plain lists."""

    def __init__(self, values=()):
        super().__init__(_read_only(value) if isinstance(value, _NESTED) else value for value in values)

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse

    def __copy__(self):
        return list(self)

    def __deepcopy__(self, memo):
        return [copy.deepcopy(value, memo) for value in self]


_NESTED = (dict, list, tuple)
_VIEWS = (ReadOnlyPolicy, ReadOnlyList)
# The methods of the types themselves that change their first argument: reached through
# a builtin (``dict.update(policy, ...)``), they would change a view past its own refusals.
_MUTATORS = {
    list: frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"}),
    dict: frozenset({"update", "pop", "popitem", "clear", "setdefault"}),
}


def _read_only(value):
    if isinstance(value, _VIEWS):
        return value
    if isinstance(value, dict):
        return ReadOnlyPolicy(value)
    if isinstance(value, list):
        return ReadOnlyList(value)
    if isinstance(value, tuple):
        return tuple(_read_only(item) if isinstance(item, _NESTED) else item for item in value)
    return value


def _refusing_views(method):
    def guarded(target, *args, **kwargs):
        if isinstance(target, _VIEWS):
            raise ScriptRejected(_READ_ONLY)
        return method(target, *args, **kwargs)
    return guarded


def plain(value):
    """``value`` with no read-only policy view in it (an expression's result)."""
    return copy.deepcopy(value) if isinstance(value, _VIEWS) else value


def _write(obj):
    if isinstance(obj, _VIEWS):
        raise ScriptRejected(_READ_ONLY)
    return full_write_guard(obj)


_EXTRA_BUILTINS = {
    "len": len, "min": min, "max": max, "sum": _sum, "sorted": sorted, "any": any,
    "all": all, "dict": dict, "list": list, "set": set, "tuple": tuple,
    "enumerate": enumerate, "zip": zip, "abs": abs, "round": round, "pow": _pow,
}
# Exceptions a script could raise past Spiff's ``except Exception`` and stop a thread.
_NOT_RAISABLE = ("BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit")


def _restricted_globals() -> dict:
    builtins = dict(safe_builtins)
    builtins.update(limited_builtins)
    builtins.update(_EXTRA_BUILTINS)
    for name in _NOT_RAISABLE:
        builtins.pop(name, None)
    return {
        "__builtins__": builtins,
        "_getattr_": _getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": _getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": _write,
        "_inplacevar_": _inplacevar,
        "_tick_": _tick,
        "_format_": _format,
        **{name: function for name, function in _BINOPS.values()},
        **HELPERS,
    }


def _tick_call(node: ast.AST) -> ast.Call:
    return _located(ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[]), node)


def _located(new: ast.AST, old: ast.AST) -> ast.AST:
    return ast.fix_missing_locations(ast.copy_location(new, old))


class _BudgetTransformer(RestrictingNodeTransformer):
    """RestrictedPython's checks, plus the budget's instrumentation: a tick on every
    ``while`` iteration, function call and lambda call (``for`` loops and comprehensions
    tick in ``_getiter_``), and guarded operators."""

    def visit_While(self, node):
        node = super().visit_While(node)
        node.body.insert(0, _located(ast.Expr(_tick_call(node)), node))
        return node

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _located(ast.Expr(_tick_call(node)), node))
        return node

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        node.body = _located(ast.BoolOp(op=ast.Or(), values=[_tick_call(node), node.body]), node)
        return node

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        guarded = _BINOPS.get(type(node.op))
        if guarded is None:
            return node
        return _located(ast.Call(func=ast.Name(guarded[0], ast.Load()),
                                 args=[node.left, node.right], keywords=[]), node)

    def visit_FormattedValue(self, node):
        node = super().visit_FormattedValue(node)
        if node.format_spec is None:
            return node
        call = ast.Call(func=ast.Name("_format_", ast.Load()),
                        args=[node.value, node.format_spec, ast.Constant(node.conversion)], keywords=[])
        return _located(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)


_compiled: dict[tuple[str, str], Any] = {}


def _compile(source: str, mode: str):
    key = (mode, source)
    code = _compiled.get(key)
    if code is None:
        compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
        result = compiler(source, policy=_BudgetTransformer)
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


# ----------------------------------------------------------------- case data
_SCALARS = (str, int, float, bool, type(None), datetime, timedelta, UUID)
_SCALAR_TYPES = frozenset(_SCALARS)


def check_data(data: dict) -> None:
    """Refuse case data that cannot be stored: values of other types than JSON's (and
    dates and times), more than :data:`MAX_DATA_ITEMS` items counted as written out (a
    list repeating one big string a thousand times is a thousand big strings), or more
    than :data:`MAX_DATA_DEPTH` levels."""
    left = MAX_DATA_ITEMS
    stack: list[tuple[str, Any, int]] = [(key, value, 1) for key, value in data.items()]
    while stack:
        key, value, depth = stack.pop()
        kind = type(value)
        if kind is str:
            left -= len(value)
        elif kind in _SCALAR_TYPES:
            left -= 1
        elif isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DATA_DEPTH:
                raise LimitExceeded(f"{key} is nested more than {MAX_DATA_DEPTH} levels deep")
            left -= len(value) or 1
            stack.extend((key, item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
        elif isinstance(value, _SCALARS):
            left -= len(value) if isinstance(value, str) else 1
        else:
            raise ScriptRejected(f"{key} holds a {kind.__name__}, which case data cannot hold")
        if left < 0:
            raise LimitExceeded(f"case data would hold more than {MAX_DATA_ITEMS:,} items")


def _names_of(code) -> frozenset[str]:
    """Every name ``code`` (and the functions, lambdas and comprehensions compiled into it)
    can look up outside its own locals: its ``co_names``, which also hold attribute names
    (harmless extras), plus ``__builtins__``."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, type(code)):
            names |= _names_of(const)
    return frozenset(names | {"__builtins__"})


_expressions: dict[str, tuple[Any, frozenset[str]]] = {}


def _expression(expression: str) -> tuple[Any, frozenset[str]]:
    """The compiled expression and the names it can look up (both cached)."""
    found = _expressions.get(expression)
    if found is None:
        code = compile_expression(expression)
        found = _expressions[expression] = (code, _names_of(code))
    return found


def run_expression(expression: str, scope: dict, names: dict | None = None) -> Any:
    """Evaluate a model expression in ``scope`` (globals included; ``names``, a mapping
    looked up first) on the current budget, or a budget of its own."""
    return _run_code(compile_expression(expression), scope, names)


def _run_code(code, scope: dict, names: dict | None = None) -> Any:
    current = _CURRENT.get()
    token = None
    if current is None:  # (not ``with budget()``: this is the hot path of every condition)
        current = Budget()
        token = _CURRENT.set(current)
    try:
        current.charge()
        return eval(code, scope, names)
    except _Exhausted as exc:
        raise LimitExceeded(str(exc)) from None
    finally:
        if token is not None:
            _CURRENT.reset(token)
        if current.reason is not None:  # spent, even if the code caught it
            raise LimitExceeded(current.reason)


_EMPTY: dict = {}


class RestrictedEnvironment(TaskDataEnvironment):
    """A Spiff script environment that only runs RestrictedPython-compiled code."""

    def __init__(self):
        super().__init__(_restricted_globals())

    def evaluate(self, expression, context, external_context=None):
        """Evaluate ``expression`` with the names of the task data (``context``), then of
        ``external_context``, then the globals (guards, helpers, ``__builtins__``).

        The scope holds only the names the compiled code can look up (:func:`_names_of`),
        each taken from the first of the three that has it, rather than a copy of all
        three for every evaluation: the same values for every name the code reads (a name
        none of them has is a builtin or a ``NameError``, as before), and the expression
        can reach the scope by no other way (RestrictedPython refuses ``f_globals`` and
        the like, and the builtins have no ``globals``/``vars``). ``policy`` is read-only.
        """
        code, names = _expression(expression)
        scope = {}
        glob = self.globals
        external = external_context or _EMPTY
        for name in names:
            if name in context:
                scope[name] = context[name]
            elif name in external:
                scope[name] = external[name]
            elif name in glob:
                scope[name] = glob[name]
        if isinstance(scope.get("policy"), dict):
            scope["policy"] = ReadOnlyPolicy(scope["policy"])
        return plain(_run_code(code, scope))

    def execute(self, script, context, external_context=None):
        code = compile_script(script)
        policy = context.get("policy")
        view = ReadOnlyPolicy(policy) if isinstance(policy, dict) else policy
        if view is not policy:
            context["policy"] = view
        with budget() as current:
            current.charge()
            try:
                super().execute(code, context, external_context)
            except _Exhausted as exc:
                raise LimitExceeded(str(exc)) from None
            finally:
                rebound = context.get("policy") is not view
                if view is not policy or rebound:
                    context["policy"] = policy
                    if policy is None:
                        del context["policy"]
                if current.reason is not None:
                    raise LimitExceeded(current.reason)
            if rebound:
                raise ScriptRejected(f"{_READ_ONLY} (the script assigns to policy)")
            check_data(context)
        return True


class SagsflowScriptEngine(PythonScriptEngine):
    """Spiff's script engine on the restricted environment.

    Service tasks (``spiffworkflow:serviceTaskOperator``) are routed to ``service``, a
    callable ``(task, operation_name, params) -> result`` supplied per engine step; the
    engine uses it to queue letters in the outbox inside the step's transaction.

    ``timers`` is the model's timer metadata (``ParsedModel.metadata["timers"]``): when a
    timer's value is computed, it is checked against the horizon, and a timer tagged with
    a bounded rule is checked against the rule's bound (the policy value it reads, and a
    computed duration itself), so a loosened value refuses the step instead of setting a
    late deadline.
    """

    def __init__(self, service: Callable[..., Any] | None = None, deadline_timers: frozenset[str] = frozenset(),
                 timers: dict | None = None):
        super().__init__(environment=RestrictedEnvironment())
        self.service = service
        self.deadline_timers = deadline_timers
        self.timers = timers or {}

    def evaluate(self, task, expression, external_context=None):
        """Evaluate; a timer's value is checked, and a deadline timer's value ends at the
        end of its Danish calendar day.

        ``deadline_timers`` are the bpmn ids of timers tagged ``deadline`` (set by the
        engine from the model's metadata). Spiff evaluates a timer's expression once,
        when the timer is reached, and keeps the result: rounding it here makes "within
        N" end at 23:59:59 Danish time on the due day for every tagged timer, durations
        from "now" (repeating talks) as well as dates from the case data. The value is
        checked (horizon, the tagged rule's bound) before it is rounded.
        """
        value = super().evaluate(task, expression, external_context)
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition) and expression == definition.expression:
            try:
                self._check_timer(task, type(definition).__name__, value)
                if task.task_spec.bpmn_id in self.deadline_timers:
                    value = deadline_end_of_day(definition, value)
            except (ValueError, TypeError) as exc:  # ScriptRejected is a ValueError
                raise WorkflowTaskException(f"timer {task.task_spec.bpmn_id}: {exc}", task=task,
                                            exception=exc) from None
        return value

    def _check_timer(self, task, kind: str, value: Any) -> None:
        from processes.policy import BY_KEY, check_value  # processes.policy imports this module
        if not isinstance(value, str):
            raise ScriptRejected(f"timer value {value!r} is not ISO 8601 text")
        check_timer_result(kind, value, _spiff_timer.datetime.now(timezone.utc))
        key = (self.timers.get(task.task_spec.bpmn_id) or {}).get("deadline")
        param = BY_KEY.get(key) if key else None
        if param is None or param.kind != "duration":
            return
        read = (task.data.get("policy") or {}).get(key)
        problems = [check_value(param, read)] if read is not None else []
        if kind == "DurationTimerEventDefinition":
            problems.append(check_value(param, value))
        problems = [p for p in problems if p]
        if problems:
            raise ScriptRejected(f"tagged with the rule {key!r}, and the value breaks its bound: {problems[0]}")

    def create_task_exec_exception(self, task, script, err):
        # Spiff's own version fails with a TypeError on exceptions whose first argument
        # is not text (``KeyError(5)``), hiding the real error.
        if not isinstance(err, SpiffWorkflowException) and err.args and not isinstance(err.args[0], str):
            try:
                err = type(err)(repr(err.args[0]))
            except Exception:  # noqa: BLE001 - an exception class with other arguments
                err = ScriptRejected(f"{type(err).__name__}: {err!r}")
        return super().create_task_exec_exception(task, script, err)

    def call_service(self, task, **kwargs):
        if self.service is None:
            raise ScriptRejected(f"service task {task.task_spec.bpmn_id}: no service handler")
        params = {k: v["value"] for k, v in kwargs.get("operation_params", {}).items()}
        result = self.service(task, kwargs["operation_name"], params)
        return json.dumps(result)
