"""Walk a citizen's case through the persisted engine, the way users would.

Every action is its own engine step and transaction: the workflow is loaded from the
database, changed and saved, so each walk is a save/restore round trip between steps.
Dates are Danish calendar dates; the virtual clock moves with :meth:`at` and :meth:`end_of`.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from processes import timekeeping
from processes.engine import Actor
from processes.models import Municipality, Outbox, ProcessInstance, Timer, User

LOCAL = ZoneInfo("Europe/Copenhagen")


def local_date(value: datetime) -> str:
    return value.astimezone(LOCAL).date().isoformat()


class Walk:
    def __init__(self, runtime, municipality: str, case_type: str, data: dict | None = None,
                 cpr: str = "010190-1234", name: str = "Test Borger"):
        self.rt, self.engine, self.municipality = runtime, runtime.engine, municipality
        first = self.engine.start_case(municipality, case_type, cpr, name, data or {})
        self.case_id = first.case_id

    # -- inspection -------------------------------------------------------------
    def ready(self, process: str | None = None) -> dict[str, str]:
        """Open tasks of the case: bpmn id -> role."""
        return {t.bpmn_id: t.role for t in self.engine.open_tasks(case_id=self.case_id)
                if process is None or t.process_id == process}

    def due(self, bpmn_id: str) -> str | None:
        task = self._open(bpmn_id)
        return local_date(task.due_at) if task.due_at else None

    def timers(self, process: str | None = None) -> dict[str, str]:
        with self.rt.sessions() as s:
            rows = s.execute(select(Timer.bpmn_id, Timer.due_at, ProcessInstance.process_id)
                             .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                             .where(Timer.case_id == self.case_id)).all()
        return {b: local_date(d) for b, d, p in rows if process is None or p == process}

    def letters(self) -> list[str]:
        with self.rt.sessions() as s:
            return list(s.scalars(select(Outbox.payload).where(Outbox.case_id == self.case_id)
                                  .order_by(Outbox.id)))

    def templates(self) -> list[str]:
        return [p["template"] for p in self.letters()]

    def instances(self) -> list[tuple[str, str]]:
        with self.rt.sessions() as s:
            return [(i.process_id, i.status) for i in s.scalars(
                select(ProcessInstance).where(ProcessInstance.case_id == self.case_id).order_by(ProcessInstance.id))]

    def today(self) -> str:
        with self.rt.sessions() as s:
            return local_date(timekeeping.now(s))

    # -- actions -----------------------------------------------------------------
    def _open(self, bpmn_id: str):
        tasks = [t for t in self.engine.open_tasks(case_id=self.case_id) if t.bpmn_id == bpmn_id]
        assert tasks, f"{bpmn_id} is not open; open: {self.ready()}"
        return tasks[0]

    def user(self, role: str) -> Actor:
        with self.rt.sessions() as s:
            return Actor.for_user(s.scalar(select(User).where(User.username == f"{self.municipality}.{role}")))

    def complete(self, bpmn_id: str, **form):
        task = self._open(bpmn_id)
        return self.engine.complete_task(task.id, form, self.user(task.role))

    def _move_to(self, target: datetime) -> None:
        with self.rt.sessions() as s:
            now = timekeeping.now(s)
        assert target >= now, f"cannot move the clock back from {now} to {target}"
        self.engine.advance_clock(target - now)

    def at(self, day: str, hour: int = 9) -> None:
        """Move the clock to ``hour`` o'clock Danish time on ``day``; due timers fire on the way."""
        self._move_to(datetime.combine(date.fromisoformat(day), time(hour), LOCAL))

    def end_of(self, day: str) -> None:
        """Move the clock to midnight after ``day``: every deadline falling on that day fires."""
        self._move_to(datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), LOCAL))
