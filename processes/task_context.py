"""What a task shows of its case: the earlier answers and milestones its model declares
(``show`` on the user task, ``docs/modelling.md``), the case's letters and documents and
a short history. Read from the projections (completed tasks' data, milestones, outbox,
documents), never from the workflow state, so opening a task stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.model_text import ENGLISH, localize_field, name_in
from processes.models import DeadlineEvent, Document, HumanTask, Milestone, ModelVersion, Outbox, ProcessInstance

HISTORY_LENGTH = 5


@dataclass(frozen=True)
class Shown:
    """One declared item: its label, the value and the form spec that set it (for the
    enum's label), or a milestone's date; ``source`` is the completed task it came from."""

    label: str
    value: Any = None
    spec: dict | None = None
    source: HumanTask | None = None
    day: date | None = None
    missing: bool = False
    kind: str = "field"  # or "milestone"


def task_metadata(session: Session, instance_id: int) -> dict[str, dict]:
    """The tasks of the model version an instance runs (bpmn id -> metadata)."""
    meta = session.scalar(select(ModelVersion.metadata_json).join(
        ProcessInstance, ProcessInstance.model_version_id == ModelVersion.id).where(ProcessInstance.id == instance_id))
    return (meta or {}).get("tasks", {})


def shown_items(session: Session, task: HumanTask, tasks_meta: dict[str, dict] | None = None,
                language: str = "da") -> list[Shown]:
    """The declared items of ``task`` with the values the case holds now: a field's value
    from the latest completed task of the same process instance whose form set it. Labels
    and enum values are in ``language`` where the model gives it (else Danish)."""
    tasks_meta = tasks_meta if tasks_meta is not None else task_metadata(session, task.instance_id)
    declared = tasks_meta.get(task.bpmn_id, {}).get("show", [])
    if not declared:
        return []
    done = list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == task.instance_id, HumanTask.state == "completed", HumanTask.id != task.id)
        .order_by(HumanTask.closed_at.desc(), HumanTask.id.desc())))
    milestones = {}
    for row in session.scalars(select(Milestone).where(Milestone.case_id == task.case_id)
                               .order_by(Milestone.date, Milestone.id)):
        milestones[row.key] = row  # the latest recording of each key
    items = []
    for entry in declared:
        if "milestone" in entry:
            row = milestones.get(entry["milestone"])
            label = entry.get("label_en") if language == ENGLISH and entry.get("label_en") else entry["label"]
            items.append(Shown(label, day=row.date if row else None, missing=row is None, kind="milestone"))
            continue
        key = entry["field"]
        source = next((t for t in done if t.data and key in t.data), None)
        spec = None
        for candidate in ([source.bpmn_id] if source else []) + list(tasks_meta):
            spec = next((f for f in tasks_meta.get(candidate, {}).get("form", []) if f["id"] == key), None)
            if spec:
                break
        if spec is not None:
            spec = localize_field(spec, language)
        if entry.get("label"):
            label = entry.get("label_en") if language == ENGLISH and entry.get("label_en") else entry["label"]
        else:
            label = (spec or {}).get("label") or key
        value = source.data.get(key) if source else None
        items.append(Shown(label, value, spec, source, missing=source is None))
    return items


def case_papers(session: Session, case_id: int) -> list[dict]:
    """The case's letters (queued or sent) and documents, oldest first: ``{title, when,
    document, outbox}``."""
    documents = list(session.scalars(select(Document).where(Document.case_id == case_id)
                                     .order_by(Document.created_at, Document.id)))
    by_outbox = {d.outbox_id: d for d in documents if d.outbox_id}
    papers = []
    for letter in session.scalars(select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "letter")
                                  .order_by(Outbox.id)):
        doc = by_outbox.pop(letter.id, None)
        papers.append({"title": doc.title if doc else None, "template": letter.payload.get("template"),
                       "when": letter.sent_at or letter.created_at, "sent": letter.sent_at is not None,
                       "document": doc, "outbox": letter})
    for doc in documents:
        if doc.outbox_id is None or doc.outbox_id in by_outbox:
            papers.append({"title": doc.title, "template": doc.template, "when": doc.created_at, "sent": None,
                           "document": doc, "outbox": None})
    return sorted(papers, key=lambda p: (p["when"] or datetime.min, p["title"] or ""))


def recent_history(session: Session, case_id: int, limit: int = HISTORY_LENGTH) -> list[HumanTask]:
    """The last completed tasks of the case, newest first."""
    return list(session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "completed")
                                .order_by(HumanTask.closed_at.desc(), HumanTask.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Escalation:
    """What an escalation task is about: the breached deadline (``breach``, whose timer
    is named ``timer_name``) and the task(s) it was set on, with how late they are."""

    breach: DeadlineEvent
    timer_name: str
    late: list[tuple[HumanTask, int]]  # (the original task, whole days past the deadline)


def escalation(session: Session, task: HumanTask, now: datetime,
               tasks_meta: dict[str, dict] | None = None, language: str = "da") -> Escalation | None:
    """The deadline breach that opened ``task`` (fired in the step that created it) and
    the task it concerns: the task the timer is attached to, or, for a deadline on a
    sub-process, the open tasks inside it that carry that deadline. None for other tasks."""
    breach = session.scalars(select(DeadlineEvent).where(
        DeadlineEvent.instance_id == task.instance_id, DeadlineEvent.fired_at == task.created_at)
        .order_by(DeadlineEvent.id)).first()
    if breach is None:
        return None
    meta = session.scalar(select(ModelVersion.metadata_json).join(
        ProcessInstance, ProcessInstance.model_version_id == ModelVersion.id)
        .where(ProcessInstance.id == task.instance_id)) or {}
    timer = meta.get("timers", {}).get(breach.bpmn_id, {})
    candidates = list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == task.instance_id, HumanTask.id != task.id, HumanTask.created_at <= breach.fired_at,
        (HumanTask.bpmn_id == timer.get("attached_to")) | (HumanTask.due_at == breach.due_at))
        .order_by(HumanTask.created_at.desc(), HumanTask.id.desc())))
    late = [t for t in candidates if t.state == "open"] or candidates[:1]
    return Escalation(breach, name_in(timer, language, breach.bpmn_id),
                      [(t, _days_between(breach.due_at, t.closed_at or now)) for t in late])


def _days_between(due: datetime, when: datetime) -> int:
    return max((when - due).days, 0)
