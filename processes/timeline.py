"""A case's complete timeline: every task opened and done (with the decisions made in
it), timers that fired, deadlines breached, letters queued and sent, reassignments and
owner changes, policy or model changes applied to the case, processes started and
finished, with who and when.

Read from the audit log, the task and deadline projections and the outbox; views
(``case.view``, ``task.view``) and other reading are not events of the case. ``at`` is
the case clock (the virtual clock on a demo installation); ``recorded_at`` is when it
was written by the wall clock, where the audit row knows it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.model_text import localize_form, name_in
from processes.models import AuditEvent, DeadlineEvent, HumanTask, ModelVersion, Outbox, ProcessInstance

# Audit actions that are events of the case, in the words of the timeline's ``kind``.
ACTIONS = {
    "case.start": "case_started", "task.complete": "task_completed", "task.reassign": "task_reassigned",
    "task.unclaim": "task_released", "task.absence_handover": "task_handed_over",
    "task.absence_return": "task_returned", "case.owner": "owner_changed", "timer.fire": "timer_fired",
    "instance.complete": "process_completed", "policy.apply": "policy_applied",
    "instance.migrate": "model_changed", "model.migrate": "model_changed",
}


@dataclass
class Entry:
    """One event: ``kind`` (see :data:`ACTIONS`, plus ``process_started``, ``task_opened``,
    ``deadline_breached``, ``letter_queued``, ``letter_sent``), when on the case clock, who (a username or a
    system actor), the process, and what (``detail``: task, decisions, rule, template...)."""

    at: datetime
    kind: str
    actor: str | None = None
    process_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    task: HumanTask | None = None
    order: int = 0
    recorded_at: datetime | None = None

    @property
    def real_time(self) -> datetime | None:
        """The wall-clock time the event was written, where it differs from the case
        clock by more than a minute (a demo's virtual clock, a simulation)."""
        if self.recorded_at is None or abs((self.recorded_at - self.at).total_seconds()) <= 60:
            return None
        return self.recorded_at


def case_timeline(session: Session | None, case_id: int, language: str = "da", *,
                  loaded: dict | None = None) -> list[Entry]:
    """Every event of the case, oldest first; the model's texts (decisions, timer and
    deadline names) in ``language`` where the model gives it, else Danish.

    ``loaded`` is what :meth:`processes.engine.Engine.case_detail` already read (its
    ``instances`` with their model versions, ``tasks``, ``audit`` (the events of
    :data:`ACTIONS`), ``breaches`` and ``letters``): the timeline is then built from
    those rows without reading anything again (the case page); without it, from
    ``session``."""
    if loaded is not None:
        instances = {i.id: i for i in loaded["instances"]}
        meta_of = {iid: (i.model_version.metadata_json or {}) for iid, i in instances.items()}
        tasks = list(loaded["tasks"])
        audit = [e for e in loaded["audit"] if e.action in ACTIONS]
        breaches, letters = loaded["breaches"], loaded["letters"]
    else:
        instances = {i.id: i for i in session.scalars(select(ProcessInstance)
                                                      .where(ProcessInstance.case_id == case_id))}
        metas = {v.id: (v.metadata_json or {}) for v in session.scalars(
            select(ModelVersion).where(ModelVersion.id.in_({i.model_version_id for i in instances.values()})))}
        meta_of = {iid: metas.get(i.model_version_id, {}) for iid, i in instances.items()}
        tasks = list(session.scalars(select(HumanTask).where(HumanTask.case_id == case_id)))
        audit = list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                              AuditEvent.action.in_(list(ACTIONS)))
                                     .order_by(AuditEvent.id)))
        breaches = list(session.scalars(select(DeadlineEvent).where(DeadlineEvent.case_id == case_id)))
        letters = list(session.scalars(select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "letter")))
    return _entries(instances, meta_of, tasks, audit, breaches, letters, language)


def _entries(instances: dict, meta_of: dict, tasks: list[HumanTask], audit: list[AuditEvent],
             breaches: list[DeadlineEvent], letters: list[Outbox], language: str) -> list[Entry]:
    """The timeline from the case's rows (see :func:`case_timeline`)."""
    entries: list[Entry] = []
    for task in tasks:
        entries.append(Entry(task.created_at, "task_opened", None, task.process_id,
                             {"role": task.role}, task, order=1))
    task_rows = {t.id: t for t in tasks}
    forms: dict[tuple, list[dict]] = {}   # each task's form localized once, not once per completion
    started = False
    for event in audit:
        instance = instances.get(event.instance_id)
        detail = dict(event.detail or {})
        task = task_rows.get(detail.get("task_id")) if detail.get("task_id") else None
        if task is None and detail.get("task") and event.instance_id is not None:
            task = _task_at(tasks, event.instance_id, detail["task"], event.at)
        meta = meta_of.get(event.instance_id, {})
        if event.action == "task.complete":
            key = (event.instance_id, detail.get("task"))
            if key not in forms:
                forms[key] = _form(meta, detail.get("task"), language)
            detail["decisions"] = _chosen(forms[key], detail.get("data") or {})
        elif event.action == "timer.fire" and detail.get("timers"):
            timers = meta.get("timers", {})
            detail["timer_names"] = [name_in(timers.get(bid), language, bid) for bid in detail["timers"]]
        elif event.action == "policy.apply" and detail.get("deadlines"):
            timers = meta.get("timers", {})
            detail["deadlines"] = [dict(m, name=name_in(timers.get(m.get("timer")), language, m.get("name") or ""))
                                   for m in detail["deadlines"]]
        kind = ACTIONS[event.action]
        if event.action == "case.start":  # the first starts the case, later ones a process in it (hand-off)
            kind, started = ("process_started" if started else kind), True
        entries.append(Entry(event.at, kind, event.actor, instance.process_id if instance else None, detail, task,
                             order=0 if event.action == "case.start" else 2, recorded_at=event.recorded_at))
    for breach in breaches:
        timer = meta_of.get(breach.instance_id, {}).get("timers", {}).get(breach.bpmn_id, {})
        entries.append(Entry(breach.fired_at, "deadline_breached", None, breach.process_id,
                             {"name": name_in(timer, language, breach.bpmn_id), "rule": breach.deadline_rule,
                              "due_at": breach.due_at}, order=3))
    for letter in letters:
        process = instances[letter.instance_id].process_id if letter.instance_id in instances else None
        template = (letter.payload or {}).get("template")
        entries.append(Entry(letter.created_at, "letter_queued", None, process, {"template": template}, order=4))
        if letter.sent_at is not None:
            entries.append(Entry(letter.sent_at, "letter_sent", None, process, {"template": template}, order=5))
    return sorted(entries, key=lambda e: (e.at, e.order))


def _task_at(tasks: list[HumanTask], instance_id: int, bpmn_id: str, at: datetime) -> HumanTask | None:
    """The run of ``bpmn_id`` in the instance that existed at ``at`` (a loop has many)."""
    runs = [t for t in tasks if t.instance_id == instance_id and t.bpmn_id == bpmn_id and t.created_at <= at]
    return max(runs, key=lambda t: (t.created_at, t.id)) if runs else None


def _form(meta: dict, bpmn_id: str | None, language: str) -> list[dict]:
    """The task's form in ``language`` (labels and option names)."""
    return localize_form(meta.get("tasks", {}).get(bpmn_id or "", {}).get("form", []), language)


def _chosen(form: list[dict], data: dict) -> list[tuple[str, str]]:
    """The choices made in a completed form: ``(field label, option label)`` of its enum
    fields that were answered, in form order."""
    chosen = []
    for spec in form:
        if spec["type"] != "enum" or data.get(spec["id"]) in (None, ""):
            continue
        names = {o["id"]: o["name"] for o in spec.get("options", [])}
        chosen.append((spec["label"], names.get(data[spec["id"]], data[spec["id"]])))
    return chosen
