"""Waiting-time milestones: the catalogue, and the service targets between them.

A model marks a flow node with ``<camunda:property name="milestone" value="<key>"/>``
(optionally ``milestone_date``, an expression over the task data giving the date); when
the node completes, the engine records a row in the ``milestone`` table: case, instance,
key, Danish calendar date, when it was recorded and by whom. A key may be recorded many
times on a case; measures use the **first** recording per case (``first_dates``).

Service targets are policy parameters (``maal_*`` in :mod:`processes.policy`) between two
milestones. They are not timers: a target is evaluated from the milestone table and the
case clock when read (case page, API: due date and due state, overdue in red) and by the
worker's escalation scan (``worker.escalation``), which warns like a deadline: a
"due soon" notice to the case owner and the responsible role, and on a miss a breach
notice to the teamleder. A target applies to a case only once the case has a process of
the target's case type (the first ressourceforløb talk is no target for a case that
went to fleksjob). See ``docs/municipalities.md``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.util.task import TaskState

from processes.models import Milestone
from processes.scripting import LOCAL_TZ, add_duration, danish_date

log = logging.getLogger("sagsflow.milestones")


@dataclass(frozen=True)
class MilestoneDef:
    key: str
    process: str
    label: str          # Danish, shown on the case page
    definition: str     # English: exactly when it is recorded
    label_en: str = ""  # the label in English (the case page in English)

    def label_in(self, language: str) -> str:
        return self.label_en if language == "en" and self.label_en else self.label


M = MilestoneDef
MILESTONES: tuple[MilestoneDef, ...] = (
    M("forberedelse_startet", "rehabilitering", "Forberedelse startet",
      "The rehabilitering case starts: preparation of the forberedende del begins.", "Preparation started"),
    M("forberedende_del_underskrevet", "rehabilitering", "Forberedende del underskrevet",
      "The citizen signed the forberedende del (date: the signature date).", "Preparatory part signed"),
    M("moede_holdt", "rehabilitering", "Rehabiliteringsmøde holdt",
      "The rehabiliteringsteam meeting was held (date: the meeting date).", "Rehabilitation team meeting held"),
    M("indstilling_afgivet", "rehabilitering", "Indstilling afgivet",
      "The team's indstilling was given and sent to the citizen.", "Recommendation given"),
    M("afgoerelse", "rehabilitering", "Afgørelse truffet",
      "The decision on the case, after the team or without it (date: the decision date).", "Decision made"),
    M("indsats_anbefalet", "rehabilitering", "Indsats anbefalet",
      "Per intervention (item: its name): the team's indstilling for a ressourceforløb recommends it "
      "(date: the indstilling date).", "Intervention recommended"),
    M("overdraget_pension", "foertidspension", "Oversendt til pensionsbehandling",
      "FØP: the case was transferred to the pensionsteam.", "Sent for pension processing"),
    M("foep_afgoerelse", "foertidspension", "Afgørelse om førtidspension",
      "FØP: the pensionsteam decided (date: the decision date).", "Decision on disability pension"),
    M("foep_tilkendt", "foertidspension", "Førtidspension tilkendt",
      "FØP: the pensionsteam granted førtidspension (date: the decision date).", "Disability pension granted"),
    M("foep_afslag", "foertidspension", "Afslag på førtidspension",
      "FØP: the pensionsteam refused førtidspension (date: the decision date).", "Disability pension refused"),
    M("koordinator_tildelt", "ressourceforloeb", "Koordinerende sagsbehandler tildelt",
      "RF: the koordinerende sagsbehandler was assigned.", "Coordinating caseworker assigned"),
    M("foerste_samtale_rf", "ressourceforloeb", "Første samtale i ressourceforløbet",
      "RF: the first talk was held (date: the talk date).", "First talk in the resource programme"),
    M("foerste_indsats_startet", "ressourceforloeb", "Første indsats startet",
      "RF: the first intervention actually started (date: its actual start).", "First intervention started"),
    M("indsats_planlagt", "ressourceforloeb", "Indsats i indsatsplanen",
      "Per intervention (item: its name): the plan made at the first talk, or a revision, lists it "
      "as planned or started (date: the talk date, else the day of the revision).", "Intervention in the plan"),
    M("indsats_startet", "ressourceforloeb", "Indsats startet",
      "Per intervention (item: its name): the plan records it as started (date: its actual start).",
      "Intervention started"),
    M("visitation", "fleksjob", "Visiteret til fleksjob",
      "Fleksjob: the visitation decision (date: the visitation date).", "Referred to flex job"),
    M("foerste_samtale_fj", "fleksjob", "Første samtale i fleksjob",
      "Fleksjob: the first talk was held (date: the talk date).", "First talk in flex job"),
    M("job_startet", "fleksjob", "Fleksjob startet",
      "Fleksjob: employment started (date: the job start).", "Flex job started"),
)
BY_KEY: dict[str, MilestoneDef] = {m.key: m for m in MILESTONES}


@dataclass(frozen=True)
class ServiceTarget:
    """A policy parameter ``key`` sets the longest time from milestone ``start`` to ``end``."""

    key: str
    start: str
    end: str
    label: str
    role: str       # who works towards it: told when it falls due (with the case owner)

    @property
    def case_type(self) -> str:
        from processes.policy import BY_KEY as PARAMETERS
        return PARAMETERS[self.key].case_type


SERVICE_TARGETS: tuple[ServiceTarget, ...] = (
    ServiceTarget("maal_underskrift_moede", "forberedende_del_underskrevet", "moede_holdt",
                  "Fra underskrift til rehabiliteringsmøde", "sagsbehandler"),
    ServiceTarget("maal_forberedelse_afgoerelse", "forberedelse_startet", "afgoerelse",
                  "Fra forberedelse til afgørelse", "sagsbehandler"),
    ServiceTarget("maal_afgoerelse_foerste_samtale", "afgoerelse", "foerste_samtale_rf",
                  "Fra afgørelse til første samtale i ressourceforløbet", "koordinerende_sagsbehandler"),
    ServiceTarget("maal_moede_foerste_indsats", "moede_holdt", "foerste_indsats_startet",
                  "Fra rehabiliteringsmøde til første indsats", "koordinerende_sagsbehandler"),
)
TARGET_BY_KEY = {t.key: t for t in SERVICE_TARGETS}


def completed_marks(wf, marks: dict | None, started: float, now: datetime, instance: object = None,
                    tasks: list | None = None) -> list[tuple[object, str, date]]:
    """``(spiff task, key, Danish date)`` for every marked flow node of ``wf`` that
    completed since ``started`` (a Spiff ``updated_ts``): the milestones one engine step
    records. Pure (no database): the persisted engine stores them as rows, the simulator
    (:mod:`processes.simulation`) keeps them in memory, so both date them the same way
    (the node's ``milestone_date`` expression, else the day of ``now``). ``tasks``: the
    completed tasks when the caller has them already (the engine's projection walk)."""
    if not marks:
        return []
    out = []
    for task in tasks if tasks is not None else wf.get_tasks(state=TaskState.COMPLETED, updated_ts=started):
        mark = marks.get(task.task_spec.bpmn_id)
        if mark is None:
            continue
        day = danish_date(now)
        if mark.get("date"):
            try:
                value = wf.script_engine.environment.evaluate(mark["date"], task.data)
                if value:
                    day = danish_date(value)
            except Exception as exc:  # noqa: BLE001 - a missing date falls back to today
                log.warning("milestone %s of instance %s: date %r fails (%s); using today",
                            mark["key"], instance, mark["date"], exc)
        out.append((task, mark["key"], date.fromisoformat(day)))
    return out


ITEM_LENGTH = 200


def completed_item_marks(wf, marks: dict | None, started: float, now: datetime, instance: object = None,
                         tasks: list | None = None) -> list[tuple[object, str, str, date]]:
    """``(spiff task, key, item, Danish date)`` for every item of every node marked
    ``milestone_items:<key>`` that completed since ``started`` (as :func:`completed_marks`).

    The mark's expression, over the task data, gives a list of items: a string (an
    intervention's name, a decision's result), dated by the node's ``milestone_date``
    (else the day of ``now``), or a pair ``[item, date]`` with its own date. Items are
    stripped and cut to :data:`ITEM_LENGTH`; empty ones, and repeats within the node, are
    left out. A node may carry several keys."""
    if not marks:
        return []
    out = []
    for task in tasks if tasks is not None else wf.get_tasks(state=TaskState.COMPLETED, updated_ts=started):
        node_marks = marks.get(task.task_spec.bpmn_id)
        if not node_marks:
            continue
        evaluate = wf.script_engine.environment.evaluate
        for mark in node_marks:
            try:
                items = evaluate(mark["items"], task.data) or []
            except Exception as exc:  # noqa: BLE001 - a model's data error must not stop the step
                log.warning("milestone items %s of instance %s: %r fails (%s); none recorded",
                            mark["key"], instance, mark["items"], exc)
                continue
            default = None
            if mark.get("date"):
                try:
                    value = evaluate(mark["date"], task.data)
                    default = danish_date(value) if value else None
                except Exception as exc:  # noqa: BLE001 - a missing date falls back to today
                    log.warning("milestone items %s of instance %s: date %r fails (%s); using today",
                                mark["key"], instance, mark["date"], exc)
            seen = set()
            for entry in items if isinstance(items, (list, tuple)) else [items]:
                day = default or danish_date(now)
                if isinstance(entry, (list, tuple)) and len(entry) == 2:
                    entry, when = entry
                    try:
                        day = danish_date(when) if when else day
                    except Exception:  # noqa: BLE001 - an unreadable date: the node's
                        pass
                item = str(entry if entry is not None else "").strip()[:ITEM_LENGTH]
                if item and item not in seen:
                    seen.add(item)
                    out.append((task, mark["key"], item, date.fromisoformat(day)))
    return out


def end_of_danish_day(day: str) -> datetime:
    """23:59:59 Danish time on ``day`` (ISO date): when a deadline on that day ends."""
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59), LOCAL_TZ)


def case_milestones(session: Session, case_id: int) -> list[Milestone]:
    return list(session.scalars(select(Milestone).where(Milestone.case_id == case_id)
                                .order_by(Milestone.date, Milestone.id)))


def first_dates(rows: list[Milestone]) -> dict[str, str]:
    """The first (earliest) date of each milestone key among ``rows``."""
    first: dict[str, str] = {}
    for row in rows:
        day = row.date.isoformat()
        if row.key not in first or day < first[row.key]:
            first[row.key] = day
    return first


def target_status(rows: list[Milestone], policy_of, now: datetime,
                  processes: set[str] | None = None) -> list[dict]:
    """The service targets that apply to a case, with due date and state.

    ``policy_of(key)`` gives the municipality's current value of a target parameter (or
    None when unset). A target applies once its start milestone is recorded; it is met
    when the end milestone is recorded on or after the start. States: ``met`` (on time),
    ``late`` (met after the due date), ``overdue`` (not met, due date passed) and
    ``open``. ``processes``, when given, are the case types the case has a process of;
    a target of another case type does not apply.
    """
    first = first_dates(rows)
    today = danish_date(now)
    out = []
    for target in SERVICE_TARGETS:
        if processes is not None and target.case_type not in processes:
            continue
        duration = policy_of(target.key)
        start = first.get(target.start)
        if not duration or start is None:
            continue
        due = danish_date(add_duration(start, duration))
        ends = sorted(r.date.isoformat() for r in rows if r.key == target.end and r.date.isoformat() >= start)
        end = ends[0] if ends else None
        if end is not None:
            state = "met" if end <= due else "late"
        else:
            state = "overdue" if today > due else "open"
        out.append({"key": target.key, "label": target.label, "role": target.role, "start": start,
                    "due": due, "end": end,
                    "state": state, "duration": duration, "due_at": end_of_danish_day(due)})
    return out

