"""Keep a long case's live task tree small: finished loop iterations leave it.

SpiffWorkflow keeps every task it ever created, and a loop (a contact talk every three
months for years) appends each iteration below the previous one, so a case's stored
state and its load time grow with its age (engineering reference, §1.9; bench/state.py).
What the finished part of the tree recorded is kept elsewhere when it happens: completed
user tasks with their form data in ``human_task``, every step in ``audit_event``, dated
milestones in ``milestone``, breached deadlines in ``deadline_event``, letters in
``outbox`` (with the data they were written from). The tree only needs what can still
act.

:func:`compact` cuts finished *runs* out of each (sub)workflow's tree: a run is a chain
of finished tasks, each with exactly one branch below it that still holds unfinished
tasks (a loop's past iterations are one long run). A run ends at a task that is
unfinished, that has more than one live branch, that holds a sub-process, that is a
split a join looks up, or that is the workflow's ``last_task`` (a sub-process hands that
task's data to its caller when it ends). The run's tasks, with the finished side
branches hanging off them (cancelled boundary events, taken-and-finished alternatives),
are removed; the task below the run takes their place under the task above. The root keeps the instance's initial data; every kept
task keeps its own data (Spiff stores each task's data as a delta to its parent, computed
when serialized).

What stays: every unfinished task, the branching tasks above it, the splits that joins
look up among their ancestors (boundary and start events), sub-process holders, and a
margin of finished tasks above each cut; so joins find their splits, timers keep their
deadlines, and the projections see the same tasks as before. A (sub)process that merges
parallel or inclusive branches is not compacted at all (see :func:`_merges_branches`).
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.util.task import TaskState

# Keep this many finished tasks above the cut: the trunk just before the live part is
# what a loop back or a join looks at first, and a few tasks cost nothing.
MARGIN = 3


def compact(wf) -> int:
    """Remove the finished runs of ``wf`` and of each of its sub-workflows; return how
    many tasks were removed."""
    removed = 0
    holders = set(wf.subprocesses)
    for workflow in (wf, *wf.subprocesses.values()):
        if not _merges_branches(workflow.spec):
            removed += _compact_tree(workflow, holders)
    return removed


# The answer of _merges_branches, kept on the spec object itself: a cache keyed by
# ``id(spec)`` would give a spec the answer of an earlier, collected spec whose id it reuses.
_MERGES = "_sagsflow_merges_branches"


def _merges_branches(spec) -> bool:
    """Does the (sub)process merge parallel or inclusive branches? Spiff decides whether
    such a join may fire by looking at every instance of the join in the whole tree,
    finished ones of earlier loop iterations included, so removing them would change
    what the process does: such a process is left as it is (tests/test_engine__loops.py,
    the rehabilitation meeting booked again)."""
    found = spec.__dict__.get(_MERGES)
    if found is None:
        found = any(isinstance(t, (ParallelGateway, InclusiveGateway)) and len(t.inputs) > 1
                    for t in spec.task_specs.values())
        spec.__dict__[_MERGES] = found
    return found


def _compact_tree(workflow, holders: set) -> int:
    # Ids, not Task objects: Spiff's ``children``/``parent`` look every task up in the
    # workflow's dict anew (a UUID hash each), which was most of the cost of a step's
    # compaction; the walk below reads ``_children`` and ``_state`` directly.
    tasks = workflow.tasks
    last = workflow.last_task
    live = _live(workflow, holders, last)
    splits = _awaited_splits(workflow)
    finished = TaskState.FINISHED_MASK

    removed = 0
    stack = [workflow.task_tree]
    while stack:
        kept = stack.pop()
        children = []
        for child_id in kept._children:
            if child_id not in live:
                children.append(child_id)  # a finished branch of a task that stays: left alone
                continue
            # the run below ``kept``: finished tasks with exactly one live branch each
            run, node = [], tasks[child_id]
            while (node._state & finished and node.id not in holders and node is not last
                   and node.id not in splits):
                below = [grandchild for grandchild in node._children if grandchild in live]
                if len(below) != 1:
                    break
                run.append(node)
                node = tasks[below[0]]
            cut = run[:-MARGIN] if MARGIN else run
            head = (run[len(cut)] if len(run) > len(cut) else node) if cut else tasks[child_id]
            for position, task in enumerate(cut):
                following = run[position + 1] if position + 1 < len(run) else node
                for gone in _subtree_except(task, following):
                    del tasks[gone.id]
                    removed += 1
            head._parent = kept.id
            children.append(head.id)
            stack.append(node)
        kept._children = children
    return removed


def _awaited_splits(workflow) -> set:
    """Ids of the split tasks that an unfinished join will look up among its ancestors
    (boundary events: the activity's split; start events). A split whose join has run
    is history like any other finished task."""
    awaited = set()
    for task in workflow.tasks.values():
        split_name = getattr(task.task_spec, "split_task", None)
        if not split_name or task.has_state(TaskState.FINISHED_MASK):
            continue
        ancestor = task.parent
        while ancestor is not None and ancestor.task_spec.name != split_name:
            ancestor = ancestor.parent
        if ancestor is not None:
            awaited.add(ancestor.id)
    return awaited


def _subtree_except(task, spared):
    """``task`` and its descendants, except ``spared`` and everything below it."""
    stack = [task]
    while stack:
        current = stack.pop()
        if current is spared:
            continue
        yield current
        stack.extend(current.children)


def _live(workflow, holders: set, last_task) -> set:
    """Ids of the tasks whose subtree holds an unfinished task, a sub-process holder or
    the workflow's last task: those tasks and all their ancestors."""
    tasks = workflow.tasks
    finished = TaskState.FINISHED_MASK
    live = set()
    for task in tasks.values():
        if not task._state & finished or task.id in holders or task is last_task:
            while task is not None and task.id not in live:  # an ancestor already live has its own
                live.add(task.id)
                task = tasks.get(task._parent)
    return live
