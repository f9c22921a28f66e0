"""Moving running cases to a published model version (issue 12, "instance migration"):
the dry run.

Built on SpiffWorkflow's own workflow diff (``SpiffWorkflow.bpmn.util.diff``): for every
running instance of a case type in a municipality that is not on the target version, the
instance is loaded from its row (nothing is saved), compared with the target version's
spec by :func:`~SpiffWorkflow.bpmn.util.diff.diff_workflow`, and each task it is waiting
in (a user task, a timer, a message) is reported as mapping to the same element
unchanged, to a changed element, or as removed. An instance waiting in a removed element
cannot migrate; one whose completed work was removed or changed is reported too.

Not done yet (see the issue): the migration itself (``migrate_workflow`` with the
deadlines kept), revert, the CLI and API. This module does not touch the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.util.diff import diff_workflow
from SpiffWorkflow.util.task import TaskState

from processes.models import ModelVersion, ProcessInstance
from processes.serialization import SERIALIZER, instance_from_json, spec_from_json

WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class Waiting:
    bpmn_id: str
    name: str
    outcome: str  # same | changed | removed


@dataclass
class InstanceReport:
    case_id: int
    instance_id: int
    from_version: int
    status: str  # clean | changed | blocked
    waiting: list[Waiting] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _named(task) -> bool:
    return getattr(task.task_spec, "bpmn_id", None) is not None


def _report(row: ProcessInstance, version: ModelVersion, wf, new_spec, new_subs) -> InstanceReport:
    top, subs = diff_workflow(SERIALIZER.registry, wf, new_spec, new_subs)
    report = InstanceReport(row.case_id, row.id, version.version, "clean")
    diffs = [(wf, top)] + [(wf.subprocesses[sp_id], d) for sp_id, d in subs.items()]
    for workflow, diff in diffs:
        if diff is None:
            report.reasons.append(f"the sub-process {workflow.spec.name!r} is not in the new version")
            report.status = "blocked"
            continue
        removed, changed = set(diff.removed), set(diff.changed)
        for task in workflow.get_tasks(state=WAITING, skip_subprocesses=True):
            if not _named(task):
                continue
            spec = task.task_spec
            outcome = "removed" if task in removed else "changed" if task in changed else "same"
            report.waiting.append(Waiting(spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, outcome))
            if outcome == "removed":
                report.status = "blocked"
                report.reasons.append(f"waits in {spec.bpmn_name or spec.bpmn_id!r} ({spec.bpmn_id}), "
                                      "which the new version removes")
            elif outcome == "changed" and report.status == "clean":
                report.status = "changed"
        for task in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True):
            if _named(task) and task in removed:
                report.reasons.append(f"completed {task.task_spec.bpmn_id!r}, which the new version removes")
                report.status = "blocked"
    return report


def dry_run(session: Session, municipality_id: int, case_type: str, version_id: int) -> list[InstanceReport]:
    """What moving every running instance of ``case_type`` in the municipality to
    ``version_id`` would do; nothing is changed."""
    target = session.get(ModelVersion, version_id)
    if target is None or target.process_id != case_type or target.municipality_id not in (None, municipality_id):
        raise ValueError(f"model version {version_id} is not a {case_type} version of this municipality")
    rows = session.scalars(select(ProcessInstance).where(
        ProcessInstance.municipality_id == municipality_id, ProcessInstance.process_id == case_type,
        ProcessInstance.status == "running", ProcessInstance.model_version_id != version_id)
        .order_by(ProcessInstance.id)).all()
    reports = []
    specs: dict[int, tuple] = {}
    for row in rows:
        version = session.get(ModelVersion, row.model_version_id)
        if version.id not in specs:
            specs[version.id] = spec_from_json(version.spec_json)
        old_spec, old_subs = specs[version.id]
        new_spec, new_subs = spec_from_json(target.spec_json)  # fresh: alignment must not touch shared objects
        wf = instance_from_json(row.state, old_spec, old_subs, row.serializer_version)
        reports.append(_report(row, version, wf, new_spec, new_subs))
    return reports
