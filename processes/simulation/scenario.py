"""Simulation scenarios: JSON validated against ``scenario.schema.json``.

A user's scenario is laid over the default scenario (``default_scenario.json``) key by
key, so it names only what it changes. The default scenario's decision shares and task
waits are also the demo history's (:mod:`processes.history` reads them from here): one
table of "what caseworkers and citizens do", not two.
"""
from __future__ import annotations

import copy
import json
import math
import random
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from processes.errors import InvalidInput

HERE = Path(__file__).resolve().parent
SCHEMA_FILE = HERE / "scenario.schema.json"
DEFAULT_FILE = HERE / "default_scenario.json"
# Merged key by key (a user's "durations.tasks.book_moede" replaces only that task);
# every other value is replaced whole.
_MERGED = {("decisions",), ("decisions", "choices"), ("decisions", "flags"), ("decisions", "date_offsets"),
           ("decisions", "numbers"), ("durations",), ("durations", "tasks"), ("durations", "work_hours"),
           ("period",), ("calendar",), ("meetings",), ("delays",), ("delays", "replies"), ("staff",)}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _default_text() -> str:
    return DEFAULT_FILE.read_text(encoding="utf-8")


def default_scenario() -> dict:
    """A fresh copy of the default scenario."""
    return json.loads(_default_text())


def validation_errors(raw: Any) -> dict[str, list[str]]:
    """Schema errors by the field's path (``meetings.slots_per_day``), empty if valid."""
    import jsonschema  # only where scenarios are validated (the demo history reads the default as is)
    errors: dict[str, list[str]] = {}
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    for error in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(scenario)"
        message = error.message
        if error.validator == "oneOf":  # a distribution: say which forms are accepted
            message = (f"{json.dumps(error.instance, ensure_ascii=False)} is not a distribution: [low, high] "
                       "whole days, or {\"dist\": fixed|uniform|triangular|exponential|lognormal, ...}")
        errors.setdefault(where, []).append(message)
    if isinstance(raw, dict) and not errors:
        for name, distribution in _distributions(raw):
            problem = _distribution_problem(distribution)
            if problem:
                errors.setdefault(name, []).append(problem)
        if isinstance(raw.get("start"), str):
            try:
                date.fromisoformat(raw["start"])
            except ValueError:
                errors.setdefault("start", []).append(f"{raw['start']!r} is not a date")
    return errors


def _distributions(raw: dict):
    durations = raw.get("durations") or {}
    for key in ("default_wait", "escalation_wait"):
        if key in durations:
            yield f"durations.{key}", durations[key]
    for task, spec in (durations.get("tasks") or {}).items():
        for key, value in spec.items():
            if key != "deadline_share":
                yield f"durations.tasks.{task}.{key}", value
    for role, value in (durations.get("work_hours") or {}).items():
        yield f"durations.work_hours.{role}", value
    for task, value in ((raw.get("delays") or {}).get("replies") or {}).items():
        yield f"delays.replies.{task}", value


def _distribution_problem(d: Any) -> str | None:
    if isinstance(d, list):
        return None if d[0] <= d[1] else f"low {d[0]} is above high {d[1]}"
    if d["dist"] == "uniform" and d["low"] > d["high"]:
        return f"low {d['low']} is above high {d['high']}"
    if d["dist"] == "triangular" and not d["low"] <= d["mode"] <= d["high"]:
        return "needs low <= mode <= high"
    return None


def merge(base: dict, changes: dict, path: tuple = ()) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if (*path, key) in _MERGED and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, (*path, key))
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_scenario(source: str | Path | dict | None = None) -> dict:
    """The complete scenario: the default with ``source`` (a file, a dict or None) laid
    over it. Raises :class:`InvalidInput` with the errors by field."""
    if source is None:
        raw: Any = {}
    elif isinstance(source, dict):
        raw = source
    else:
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot read the scenario {source}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the scenario {source} is not JSON: {exc}",
                               {"(scenario)": [str(exc)]}) from None
    errors = validation_errors(raw)
    if errors:
        raise InvalidInput("the scenario has errors", errors)
    scenario = merge(default_scenario(), raw)
    errors = validation_errors(scenario)
    if errors:  # a partial scenario cannot break the merged one, but say so if it does
        raise InvalidInput("the scenario has errors", errors)
    return scenario


def draw(rng: random.Random, distribution: Any) -> float:
    """One value (days or hours) from a distribution of the schema."""
    if isinstance(distribution, (list, tuple)):
        return float(rng.randint(int(distribution[0]), int(distribution[1])))
    kind = distribution["dist"]
    if kind == "fixed":
        return float(distribution["value"])
    if kind == "uniform":
        return rng.uniform(distribution["low"], distribution["high"])
    if kind == "triangular":
        return rng.triangular(distribution["low"], distribution["high"], distribution["mode"])
    if kind == "exponential":
        return rng.expovariate(1 / distribution["mean"])
    if kind == "lognormal":
        mean, sd = distribution["mean"], distribution["sd"]
        if sd == 0:
            return float(mean)
        sigma2 = math.log(1 + (sd / mean) ** 2)
        return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    raise ValueError(f"unknown distribution {kind!r}")
