"""What a workflow shows outside itself: open user tasks, pending timers, message
subscriptions. Computed from the workflow alone, so the engine step computes them before
and after it runs Spiff and writes only the rows that changed, without reading the
projection tables first (they were written from the stored state by the previous step,
in the same transaction as that state).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from sqlalchemy import bindparam, delete, select, text, update

from processes.models import HumanTask, MessageSubscription, ProcessInstance, Timer


@dataclass(frozen=True)
class PendingTimer:
    guid: str
    bpmn_id: str
    name: str
    due_at: datetime
    deadline_rule: str | None
    attached_to: str | None


@dataclass
class Projection:
    timers: dict[str, PendingTimer] = field(default_factory=dict)
    ready: dict[str, object] = field(default_factory=dict)  # guid -> READY manual Spiff task
    due: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)  # task guid -> due, rule
    subscriptions: dict[str, tuple[str, object]] = field(default_factory=dict)  # guid -> name, task
    completed: list = field(default_factory=list)  # tasks completed in the step (see project)

    @property
    def next_due_at(self) -> datetime | None:
        return min((t.due_at for t in self.timers.values()), default=None)


EMPTY = Projection()


def walk(wf: BpmnWorkflow):
    """Every task of ``wf`` and its sub-workflows, in the order and with the pruning of
    Spiff's own iterator for definite states (``get_tasks(state=WAITING)`` and the like;
    no descent below predicted tasks), as ``(task, finished_path)`` pairs, without its
    per-task filter objects. ``finished_path`` says whether Spiff's iterator for finished
    states (``get_tasks(state=COMPLETED)``) would reach the task as well: it does not
    descend below unfinished tasks (engineering reference §1.8)."""
    subprocesses = wf.subprocesses
    stack = [(wf.task_tree, True)]
    pop, push = stack.pop, stack.append
    future, completed = TaskState.FUTURE, TaskState.COMPLETED
    while stack:
        task, finished_path = pop()
        yield task, finished_path
        sub = subprocesses.get(task.id) if subprocesses else None   # (a UUID hash per task otherwise)
        state = task._state
        if sub is None and (not task._children or state < future):
            continue
        below_finished = finished_path and (state >= completed or sub is not None)
        tasks = task.workflow.tasks      # Task.children, without building its list
        for child_id in reversed(task._children):
            push((tasks[child_id], below_finished))
        if sub is not None:
            push((sub.task_tree, finished_path))


def project(wf: BpmnWorkflow, metadata: dict, completed_since: float | None = None) -> Projection:
    """The projection of ``wf``: timers (with the model's timer metadata), READY manual
    tasks with their due date, and WAITING message catch events. With
    ``completed_since``, also the tasks completed since then (``Projection.completed``).

    The tasks of :func:`walk`, in its order and with its pruning, walked inline (this
    runs after every engine step: no generator, no pair per task)."""
    timers_meta = metadata.get("timers", {})
    result = Projection()
    timers, subscriptions, completed = result.timers, result.subscriptions, result.completed
    ready = []
    waiting, ready_state, completed_state = TaskState.WAITING, TaskState.READY, TaskState.COMPLETED
    future = TaskState.FUTURE
    subprocesses = wf.subprocesses
    stack = [(wf.task_tree, True)]
    pop, push = stack.pop, stack.append
    while stack:
        task, finished_path = pop()
        state = task._state
        if state == waiting:
            ed = getattr(task.task_spec, "event_definition", None)
            if isinstance(ed, TimerEventDefinition):
                value = ed.details(task).value
                if value:
                    spec = task.task_spec
                    meta = timers_meta.get(spec.bpmn_id, {})
                    guid = str(task.id)
                    timers[guid] = PendingTimer(
                        guid, spec.bpmn_id, meta.get("name") or spec.bpmn_name or spec.bpmn_id,
                        TimerEventDefinition.get_datetime(value), meta.get("deadline"), meta.get("attached_to"))
            elif isinstance(ed, MessageEventDefinition):
                subscriptions[str(task.id)] = (ed.name, task)
        elif state == ready_state:
            if task.task_spec.manual:
                ready.append(task)
        elif (state == completed_state and completed_since is not None and finished_path
              and task.last_state_change >= completed_since):
            completed.append(task)
        # the descent of walk()
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is None and (not task._children or state < future):
            continue
        below_finished = finished_path and (state >= completed_state or sub is not None)
        tasks = task.workflow.tasks
        for child_id in reversed(task._children):
            push((tasks[child_id], below_finished))
        if sub is not None:
            push((sub.task_tree, finished_path))
    for task in ready:
        guid = str(task.id)
        result.ready[guid] = task
        due = _due(wf, task, timers)
        if due is not None:
            result.due[guid] = due
    return result


def from_database(session, instance_id: int) -> Projection:
    """The projection rows as stored: for a step that replaces the workflow wholesale (a
    move to another model version), where the stored state's projection is not at hand."""
    result = Projection()
    for row in session.scalars(select(Timer).where(Timer.instance_id == instance_id)):
        result.timers[row.task_guid] = PendingTimer(row.task_guid, row.bpmn_id, row.name, row.due_at,
                                                    row.deadline_rule, row.attached_to)
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                       HumanTask.state == "open")):
        result.ready[row.task_guid] = None
        if row.due_at is not None:
            result.due[row.task_guid] = (row.due_at, row.deadline_rule)
    for row in session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)):
        result.subscriptions[row.task_guid] = (row.message_name, None)
    return result


def _due(wf: BpmnWorkflow, task, timers: dict[str, PendingTimer]) -> tuple[datetime, str | None] | None:
    """A task's due date is the earliest timer attached to it; a task without one inside
    an expanded sub-process shows the earliest timer attached to the nearest sub-process
    around it that has one ("Behandling i pensionsteamet")."""
    holder = task
    while holder is not None:
        best = None
        parent = holder.parent
        if parent is not None and parent.task_spec.name.endswith(".BoundaryEventSplit"):
            for sibling in parent.children:
                timer = timers.get(str(sibling.id))
                if timer is not None and timer.attached_to == holder.task_spec.bpmn_id:
                    if best is None or timer.due_at < best[0]:
                        best = (timer.due_at, timer.deadline_rule)
        if best is not None:
            return best
        outer = holder.workflow.parent_task_id if holder.workflow is not wf else None
        holder = wf.get_task_from_id(outer) if outer is not None else None
    return None


# Write templates (see processes.writes): compiled once, executed with rows.
_PI, _HT, _TI, _MS = (ProcessInstance.__table__, HumanTask.__table__, Timer.__table__,
                      MessageSubscription.__table__)
SAVE_INSTANCE = update(_PI).where(_PI.c.id == bindparam("b_id")).values(version=_PI.c.version + 1)
CANCEL_TASK = (update(_HT).where(_HT.c.task_guid == bindparam("b_guid"), _HT.c.state == "open")
               .values(state="cancelled", closed_at=bindparam("b_now"), revision=_HT.c.revision + 1))
MOVE_TASK_DUE = (update(_HT).where(_HT.c.task_guid == bindparam("b_guid"), _HT.c.state == "open")
                 .values(revision=_HT.c.revision + 1))
# The task a completion closes (the step leaves it out of the tasks it cancels): still
# open and the revision the step read? + 2, as the cancel and the completion it used to be.
CLOSE_TASK = (update(_HT).where(_HT.c.id == bindparam("b_id"), _HT.c.revision == bindparam("b_revision"),
                                _HT.c.state == "open")
              .values(revision=_HT.c.revision + 2))
DROP_TIMER = delete(_TI).where(_TI.c.instance_id == bindparam("b_instance"), _TI.c.task_guid == bindparam("b_guid"))
MOVE_TIMER = update(_TI).where(_TI.c.instance_id == bindparam("b_instance"), _TI.c.task_guid == bindparam("b_guid"))
DROP_SUBSCRIPTION = delete(_MS).where(_MS.c.instance_id == bindparam("b_instance"),
                                      _MS.c.task_guid == bindparam("b_guid"))
NOTIFY_WORK = text("SELECT pg_notify('sagsflow_work', '')")
