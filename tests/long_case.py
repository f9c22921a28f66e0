"""A long fleksjob case driven month by month through the persisted engine (shared by
``bench/state.py`` and the bounded-state tests).

The citizen stays on ledighedsydelse: a contact talk every 3 months, the re-evaluations
and anden aktør the model adds, every other open task answered when it appears; the
virtual clock moves 30 days at a time and fires what falls due on the way.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

from processes.engine import Actor

START = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)
CHOICES = {"situation": "ledig", "ly_udfald": "fortsat", "eskalering_handling": "rykket"}


def answer(form: list[dict], today: str) -> dict:
    """A plausible form: required fields filled, enums from CHOICES or their first value."""
    data = {}
    for field in form:
        if field["type"] == "enum":
            data[field["id"]] = CHOICES.get(field["id"], field["options"][0]["id"])
        elif field["type"] == "date":
            data[field["id"]] = today
        elif field["type"] == "long":
            data[field["id"]] = 10
        elif field["type"] == "boolean":
            data[field["id"]] = False
        elif field["required"]:
            data[field["id"]] = "Notat"
    return data


def start(rt, cpr: str = "0101901234"):
    return rt.engine.start_case("boegeby", "fleksjob", cpr, "Borger",
                                {"overdragelse": {"visitationsdato": "2027-01-04"}})


def live(rt, case_id: int, months: range, each_month: Callable[[int, int], None] | None = None) -> int:
    """Run the case through ``months`` (month numbers from the start); ``each_month(month,
    talks held so far)`` is called at the start of each month. Returns the talks held."""
    engine, actor, talks = rt.engine, Actor.system("bench"), 0
    for month in months:
        if each_month is not None:
            each_month(month, talks)
        for task in engine.open_tasks(case_id=case_id):
            if task.bpmn_id == "jobsoegning":  # completing it means a job was found: stay on LY
                continue
            if task.bpmn_id == "ly_kontaktsamtale" and month % 3:  # a talk every 3 months
                continue
            today = (START + timedelta(days=30 * month)).date().isoformat()
            engine.complete_task(task.id, answer(engine.task_form(task), today), actor)
            talks += task.bpmn_id == "ly_kontaktsamtale"
        engine.advance_clock(timedelta(days=30))
    return talks
