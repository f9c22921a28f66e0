"""A municipality's event log for process-mining tools: XES, OCEL 2.0 JSON and CSV.

The events are read from the engine's own records of the municipality, nothing else:

- ``human_task``: every user task as *schedule* (opened), then *complete* (with the user
  who completed it) or *withdraw* (cancelled by the model: a boundary event, another path);
- ``audit_event``: process instances started (``case.start``) and completed
  (``instance.complete``);
- ``milestone``: the waiting-time milestones (``processes/milestones.py``), with their
  Danish calendar date as an attribute;
- ``deadline_event``: deadlines that were breached;
- ``outbox``: letters written to the citizen.

A trace (XES) is a citizen's case; every event names its process (``rehabilitering``,
``ressourceforloeb`` ...). The OCEL log has the objects *sag* (case), *proces* (process
instance), *opgave* (user task) and *medarbejder* (employee), and the events relate to them.

Personal data: the citizen's name and free-text form data are left out; the CPR number
is replaced by a keyed hash (HMAC-SHA256 under a key chosen per export, or given by the
caller for pseudonyms stable across exports), so the same citizen has the same
pseudonym within an export and the number cannot be recovered without the key.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.errors import NotFound
from processes.milestones import BY_KEY as MILESTONES
from processes.models import (
    AuditEvent, Case, DeadlineEvent, HumanTask, Milestone, ModelVersion, Municipality, Outbox, ProcessInstance, User,
)

FORMATS = ("xes", "ocel", "csv")
XES_NS = "http://www.xes-standard.org/"
XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
CSV_COLUMNS = ("case:concept:name", "case:citizen", "concept:name", "lifecycle:transition", "time:timestamp",
               "org:role", "org:resource", "process", "instance", "bpmn_id", "kind", "milestone_date")
PSEUDONYM_LENGTH = 24       # hex characters of the HMAC kept (96 bits)


def pseudonym(key: bytes, cpr: str) -> str:
    """The keyed hash of a CPR number: stable for one key, not reversible without it."""
    return hmac.new(key, cpr.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


def new_key() -> bytes:
    return os.urandom(32)


@dataclass
class LogEvent:
    case_id: int
    instance_id: int | None
    process: str | None
    activity: str
    lifecycle: str
    time: datetime
    kind: str                 # task, instance, milestone, deadline, letter
    role: str | None = None
    resource: str | None = None
    bpmn_id: str | None = None
    task_id: int | None = None
    milestone_date: str | None = None
    order: int = 0            # ties on time keep the engine's order


@dataclass
class EventLog:
    municipality: str
    name: str
    exported_at: datetime
    municipality_id: int = 0
    cases: dict[int, tuple[str, datetime]] = field(default_factory=dict)      # id -> (pseudonym, created)
    instances: dict[int, dict] = field(default_factory=dict)
    tasks: dict[int, dict] = field(default_factory=dict)
    users: dict[str, datetime] = field(default_factory=dict)                  # username -> first event
    events: list[LogEvent] = field(default_factory=list)


def collect(session: Session, municipality_key: str, key: bytes, now: datetime) -> EventLog:
    """Read the municipality's events from the engine's records (see the module doc)."""
    municipality = session.scalar(select(Municipality).where(Municipality.key == municipality_key))
    if municipality is None:
        raise NotFound(f"municipality {municipality_key!r} not found")
    mid = municipality.id
    log = EventLog(municipality.key, municipality.name, now, municipality.id)
    for case_id, cpr, created in session.execute(
            select(Case.id, Case.cpr, Case.created_at).where(Case.municipality_id == mid).order_by(Case.id)):
        log.cases[case_id] = (pseudonym(key, cpr), created)
    for row, version in session.execute(
            select(ProcessInstance, ModelVersion.version).join(ModelVersion,
                                                               ModelVersion.id == ProcessInstance.model_version_id)
            .where(ProcessInstance.municipality_id == mid).order_by(ProcessInstance.id)):
        log.instances[row.id] = {"case_id": row.case_id, "process": row.process_id, "status": row.status,
                                 "model_version": version, "started_at": row.started_at}
    processes = {i: v["process"] for i, v in log.instances.items()}
    usernames = dict(session.execute(select(User.id, User.username).where(User.municipality_id == mid)).all())
    events = log.events
    for task in session.scalars(select(HumanTask).where(HumanTask.municipality_id == mid).order_by(HumanTask.id)):
        log.tasks[task.id] = {"case_id": task.case_id, "instance_id": task.instance_id, "name": task.name,
                              "role": task.role, "bpmn_id": task.bpmn_id, "created_at": task.created_at}
        common = dict(case_id=task.case_id, instance_id=task.instance_id, process=task.process_id,
                      activity=task.name, kind="task", role=task.role, bpmn_id=task.bpmn_id, task_id=task.id)
        events.append(LogEvent(lifecycle="schedule", time=task.created_at, order=2 * task.id, **common))
        if task.state == "completed" and task.closed_at is not None:
            events.append(LogEvent(lifecycle="complete", time=task.closed_at, order=2 * task.id + 1,
                                   resource=usernames.get(task.completed_by_id), **common))
        elif task.state == "cancelled" and task.closed_at is not None:
            events.append(LogEvent(lifecycle="withdraw", time=task.closed_at, order=2 * task.id + 1, **common))
    for audit in session.scalars(select(AuditEvent).where(
            AuditEvent.municipality_id == mid, AuditEvent.action.in_(("case.start", "instance.complete")),
            AuditEvent.case_id.isnot(None)).order_by(AuditEvent.id)):
        process = (audit.detail or {}).get("process") or processes.get(audit.instance_id)
        started = audit.action == "case.start"
        events.append(LogEvent(
            case_id=audit.case_id, instance_id=audit.instance_id, process=process,
            activity=f"{'Proces startet' if started else 'Proces afsluttet'}: {process}", lifecycle="complete",
            time=audit.at, kind="instance", resource=None if audit.actor in ("system", "handoff") else audit.actor,
            order=audit.id))
    for mark in session.scalars(select(Milestone).where(Milestone.municipality_id == mid).order_by(Milestone.id)):
        label = MILESTONES[mark.key].label if mark.key in MILESTONES else mark.key
        events.append(LogEvent(case_id=mark.case_id, instance_id=mark.instance_id, process=mark.process_id,
                               activity=f"Milepæl: {label}", lifecycle="complete", time=mark.recorded_at,
                               kind="milestone", bpmn_id=mark.bpmn_id, milestone_date=mark.date.isoformat(),
                               order=mark.id))
    for breach in session.scalars(select(DeadlineEvent).where(DeadlineEvent.municipality_id == mid)
                                  .order_by(DeadlineEvent.id)):
        events.append(LogEvent(case_id=breach.case_id, instance_id=breach.instance_id, process=breach.process_id,
                               activity=f"Frist overskredet: {breach.deadline_rule or breach.bpmn_id}",
                               lifecycle="complete", time=breach.fired_at, kind="deadline", bpmn_id=breach.bpmn_id,
                               order=breach.id))
    for letter in session.scalars(select(Outbox).where(Outbox.municipality_id == mid, Outbox.kind == "letter",
                                                       Outbox.case_id.isnot(None)).order_by(Outbox.id)):
        payload = letter.payload or {}
        events.append(LogEvent(case_id=letter.case_id, instance_id=letter.instance_id,
                               process=payload.get("process_id") or processes.get(letter.instance_id),
                               activity=f"Brev: {payload.get('template')}", lifecycle="complete",
                               time=letter.created_at, kind="letter", bpmn_id=payload.get("bpmn_id"),
                               order=letter.id))
    # One engine step writes its records at one time: order them as the step happened.
    events.sort(key=lambda e: (e.time, e.case_id, _STEP_ORDER[(e.kind, e.lifecycle, e.activity[:14])], e.order))
    for event in events:
        if event.resource and event.resource not in log.users:
            log.users[event.resource] = event.time
    return log


class _StepOrder(dict):
    """Rank of an event within one engine step: a process starts, tasks are completed or
    withdrawn, milestones recorded, deadlines fire, letters are written, new tasks open,
    the process ends."""

    def __missing__(self, key):
        kind, lifecycle, activity = key
        if kind == "instance":
            return 0 if activity.startswith("Proces startet") else 6
        if kind == "task":
            return 5 if lifecycle == "schedule" else 1
        return {"milestone": 2, "deadline": 3, "letter": 4}.get(kind, 4)


_STEP_ORDER = _StepOrder()


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _xes_time(value: datetime) -> str:
    return _utc(value).isoformat(timespec="milliseconds")


def _case_name(case_id: int) -> str:
    return f"sag-{case_id}"


# ------------------------------------------------------------------------------ XES
def to_xes(log: EventLog) -> bytes:
    """IEEE 1849-2016 XES: one trace per case, the standard extensions, globals and classifiers."""
    root = ET.Element("log", {"xes.version": "1849-2016", "xes.features": "", "xmlns": XES_NS})
    for name, prefix, uri in XES_EXTENSIONS:
        ET.SubElement(root, "extension", {"name": name, "prefix": prefix, "uri": uri})
    trace_global = ET.SubElement(root, "global", {"scope": "trace"})
    ET.SubElement(trace_global, "string", {"key": "concept:name", "value": "__INVALID__"})
    event_global = ET.SubElement(root, "global", {"scope": "event"})
    ET.SubElement(event_global, "string", {"key": "concept:name", "value": "__INVALID__"})
    ET.SubElement(event_global, "date", {"key": "time:timestamp", "value": "1970-01-01T00:00:00.000+00:00"})
    ET.SubElement(event_global, "string", {"key": "lifecycle:transition", "value": "complete"})
    ET.SubElement(root, "classifier", {"name": "Activity", "keys": "concept:name"})
    ET.SubElement(root, "classifier", {"name": "Activity and transition", "keys": "concept:name lifecycle:transition"})
    ET.SubElement(root, "string", {"key": "concept:name", "value": f"Sagsflow: {log.name}"})
    ET.SubElement(root, "string", {"key": "sagsflow:municipality", "value": log.municipality})
    ET.SubElement(root, "date", {"key": "sagsflow:exported", "value": _xes_time(log.exported_at)})
    by_case: dict[int, list[LogEvent]] = {}
    for event in log.events:
        by_case.setdefault(event.case_id, []).append(event)
    for case_id, (citizen, created) in log.cases.items():
        trace = ET.SubElement(root, "trace")
        ET.SubElement(trace, "string", {"key": "concept:name", "value": _case_name(case_id)})
        ET.SubElement(trace, "string", {"key": "sagsflow:citizen", "value": citizen})
        ET.SubElement(trace, "date", {"key": "sagsflow:created", "value": _xes_time(created)})
        for event in by_case.get(case_id, []):
            node = ET.SubElement(trace, "event")
            ET.SubElement(node, "string", {"key": "concept:name", "value": event.activity})
            ET.SubElement(node, "date", {"key": "time:timestamp", "value": _xes_time(event.time)})
            ET.SubElement(node, "string", {"key": "lifecycle:transition", "value": event.lifecycle})
            if event.role:
                ET.SubElement(node, "string", {"key": "org:role", "value": event.role})
            if event.resource:
                ET.SubElement(node, "string", {"key": "org:resource", "value": event.resource})
            for key, value in (("sagsflow:process", event.process), ("sagsflow:bpmn_id", event.bpmn_id),
                               ("sagsflow:kind", event.kind), ("sagsflow:milestone_date", event.milestone_date)):
                if value:
                    ET.SubElement(node, "string", {"key": key, "value": value})
            if event.instance_id is not None:
                ET.SubElement(node, "int", {"key": "sagsflow:instance", "value": str(event.instance_id)})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ----------------------------------------------------------------------------- OCEL
EVENT_ATTRIBUTES = (("lifecycle", "string"), ("rolle", "string"), ("bpmn_id", "string"), ("proces", "string"),
                    ("milepaelsdato", "string"))
OBJECT_TYPES = {
    "sag": (("borger", "string"), ("kommune", "string")),
    "proces": (("proces", "string"), ("modelversion", "integer"), ("status", "string")),
    "opgave": (("navn", "string"), ("rolle", "string"), ("bpmn_id", "string")),
    "medarbejder": (("brugernavn", "string"),),
}


def _ocel_time(value: datetime) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")


def to_ocel(log: EventLog) -> dict:
    """OCEL 2.0 JSON: object types, event types (one per activity), objects with their
    relationships (process → case, task → process), events related to their objects."""
    objects = []
    for case_id, (citizen, created) in log.cases.items():
        objects.append({"id": _case_name(case_id), "type": "sag", "attributes": [
            {"name": "borger", "time": _ocel_time(created), "value": citizen},
            {"name": "kommune", "time": _ocel_time(created), "value": log.municipality}], "relationships": []})
    for instance_id, info in log.instances.items():
        started = _ocel_time(info["started_at"])
        objects.append({"id": f"proces-{instance_id}", "type": "proces", "attributes": [
            {"name": "proces", "time": started, "value": info["process"]},
            {"name": "modelversion", "time": started, "value": info["model_version"]},
            {"name": "status", "time": started, "value": info["status"]}],
            "relationships": [{"objectId": _case_name(info["case_id"]), "qualifier": "del af sag"}]})
    for task_id, info in log.tasks.items():
        opened = _ocel_time(info["created_at"])
        objects.append({"id": f"opgave-{task_id}", "type": "opgave", "attributes": [
            {"name": "navn", "time": opened, "value": info["name"]},
            {"name": "rolle", "time": opened, "value": info["role"]},
            {"name": "bpmn_id", "time": opened, "value": info["bpmn_id"]}],
            "relationships": [{"objectId": f"proces-{info['instance_id']}", "qualifier": "del af proces"}]})
    for username, first in log.users.items():
        objects.append({"id": f"medarbejder-{username}", "type": "medarbejder", "attributes": [
            {"name": "brugernavn", "time": _ocel_time(first), "value": username}], "relationships": []})
    events, types = [], {}
    for number, event in enumerate(log.events, 1):
        types.setdefault(event.activity, None)
        attributes = [{"name": name, "value": value} for name, value in (
            ("lifecycle", event.lifecycle), ("rolle", event.role), ("bpmn_id", event.bpmn_id),
            ("proces", event.process), ("milepaelsdato", event.milestone_date)) if value]
        relationships = [{"objectId": _case_name(event.case_id), "qualifier": "sag"}]
        if event.instance_id in log.instances:
            relationships.append({"objectId": f"proces-{event.instance_id}", "qualifier": "proces"})
        if event.task_id is not None:
            relationships.append({"objectId": f"opgave-{event.task_id}", "qualifier": "opgave"})
        if event.resource:
            relationships.append({"objectId": f"medarbejder-{event.resource}", "qualifier": "udført af"})
        events.append({"id": f"e{number}", "type": event.activity, "time": _ocel_time(event.time),
                       "attributes": attributes, "relationships": relationships})
    return {
        "objectTypes": [{"name": name, "attributes": [{"name": a, "type": t} for a, t in attrs]}
                        for name, attrs in OBJECT_TYPES.items()],
        "eventTypes": [{"name": name, "attributes": [{"name": a, "type": t} for a, t in EVENT_ATTRIBUTES]}
                       for name in types],
        "objects": objects,
        "events": events,
    }


# ------------------------------------------------------------------------------ CSV
def to_csv(log: EventLog) -> str:
    """One row per event with the column names process-mining tools expect (pm4py's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in log.events:
        writer.writerow((_case_name(event.case_id), log.cases[event.case_id][0], event.activity, event.lifecycle,
                         _xes_time(event.time), event.role or "", event.resource or "", event.process or "",
                         event.instance_id if event.instance_id is not None else "", event.bpmn_id or "",
                         event.kind, event.milestone_date or ""))
    return out.getvalue()


def render(log: EventLog, fmt: str) -> bytes:
    if fmt == "xes":
        return to_xes(log)
    if fmt == "ocel":
        return json.dumps(to_ocel(log), ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "csv":
        return to_csv(log).encode("utf-8")
    raise ValueError(f"unknown event log format {fmt!r} (known: {', '.join(FORMATS)})")
