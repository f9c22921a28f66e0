"""A citizen's case driven through the persisted engine the way caseworkers would.

Tasks are completed by the demo user of the task's role (``<municipality>.<role>``) via
:meth:`Engine.complete_task`; each form is read from the model (:meth:`Engine.task_form`)
so a test names only the fields it cares about and every required field is checked.
Dates are Danish calendar dates (Europe/Copenhagen), as caseworkers see them.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from processes import timekeeping
from processes.engine import Actor
from processes.models import HumanTask, Outbox, ProcessInstance, Timer, User

LOCAL = ZoneInfo("Europe/Copenhagen")


def local_date(value: datetime | None) -> str | None:
    return value.astimezone(LOCAL).date().isoformat() if value is not None else None


class Story:
    def __init__(self, runtime, municipality: str, cpr: str = "010190-1234", name: str = "Test Borger"):
        self.rt, self.engine = runtime, runtime.engine
        self.municipality, self.cpr, self.name = municipality, cpr, name
        self.case_id: int | None = None

    # -- actions ------------------------------------------------------------
    def start(self, case_type: str, data: dict | None = None, age: int = 45) -> ProcessInstance:
        row = self.engine.start_case(self.municipality, case_type, self.cpr, self.name, data, age=age)
        self.case_id = row.case_id
        return row

    def actor(self, role: str) -> Actor:
        with self.rt.sessions() as session:
            user = session.scalar(select(User).where(User.username == f"{self.municipality}.{role}"))
            return Actor.for_user(user)

    def task(self, bpmn_id: str) -> HumanTask:
        found = [t for t in self.engine.open_tasks(case_id=self.case_id) if t.bpmn_id == bpmn_id]
        assert found, f"{bpmn_id} is not open; open: {self.open()}"
        return found[0]

    def complete(self, bpmn_id: str, **data) -> HumanTask:
        task = self.task(bpmn_id)
        form = {f["id"]: f for f in self.engine.task_form(task)}
        unknown = set(data) - set(form)
        assert not unknown, f"{bpmn_id}: not form fields: {unknown}"
        missing = {k for k, f in form.items() if f["required"] and k not in data}
        assert not missing, f"{bpmn_id}: required fields missing: {missing}"
        return self.engine.complete_task(task.id, data, self.actor(task.role))

    def now(self) -> datetime:
        with self.rt.sessions() as session:
            return timekeeping.now(session)

    def advance_to(self, day: str, hour: int = 9) -> None:
        """Move the clock to ``hour`` o'clock Danish time on ``day``, firing due timers."""
        target = datetime.combine(datetime.fromisoformat(day).date(), time(hour), LOCAL)
        self.engine.advance_clock(target - self.now())

    def end_of(self, day: str) -> None:
        """Move the clock to the next Danish midnight: every timer due on ``day`` fires."""
        target = datetime.combine(datetime.fromisoformat(day).date() + timedelta(days=1), time(0), LOCAL)
        self.engine.advance_clock(target - self.now())

    # -- inspection -----------------------------------------------------------
    def open(self) -> dict[str, str]:
        """Open tasks of the case: bpmn id -> role."""
        return {t.bpmn_id: t.role for t in self.engine.open_tasks(case_id=self.case_id)}

    def due(self, bpmn_id: str) -> str | None:
        return local_date(self.task(bpmn_id).due_at)

    def timers(self) -> dict[str, str]:
        with self.rt.sessions() as session:
            return {t.bpmn_id: local_date(t.due_at)
                    for t in session.scalars(select(Timer).where(Timer.case_id == self.case_id))}

    def letters(self) -> list[tuple[str, str]]:
        """(template, Danish date queued) of the case's letters, oldest first."""
        with self.rt.sessions() as session:
            rows = session.scalars(select(Outbox).where(Outbox.case_id == self.case_id, Outbox.kind == "letter")
                                   .order_by(Outbox.id))
            return [(o.payload["template"], local_date(o.created_at)) for o in rows]

    def history(self) -> list[tuple[str, str, str]]:
        """Every task of the case in order of appearance: (bpmn id, role, Danish date)."""
        with self.rt.sessions() as session:
            rows = session.scalars(select(HumanTask).where(HumanTask.case_id == self.case_id)
                                   .order_by(HumanTask.id))
            return [(t.bpmn_id, t.role, local_date(t.created_at)) for t in rows]

    def instances(self) -> list[ProcessInstance]:
        with self.rt.sessions() as session:
            return list(session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == self.case_id)
                                        .order_by(ProcessInstance.id)))
