"""The simulator's in-memory workflow: SpiffWorkflow's ``BpmnWorkflow`` with faster tree walks.

SpiffWorkflow 3.2.0 walks the task tree with ``TaskIterator`` / ``BpmnTaskIterator``
several times per completed task: ``get_tasks(state=READY)`` in every
``do_engine_steps`` round for the workflow and each sub-process, ``update_waiting_tasks``
after every completion, ``get_tasks(spec_name=…)`` in every parallel join's update. The
iterator keeps its pending tasks in a list it pops from the front and prepends children
to (quadratic in the tree's size), tracks a depth counter for every task and applies a
filter object per task; in the simulator that was about half of the run time.

:class:`SimWorkflow` and :class:`SimSubWorkflow` replace those walks by generators that
yield **the same tasks in the same order with the same laziness**: a task's children
(and the sub-process below it) are looked up when the task is taken from the list, as
Spiff's ``_next`` does, so a walk whose caller changes the tree as it goes
(``update_waiting_tasks`` calls each waiting task's ``_update``) sees exactly what
Spiff's iterator would see. Equivalence, case by case:

- descent: Spiff descends into a task's children when it has children (or, for the BPMN
  iterator, a sub-process) and its state is at least the filter's minimum state (MAYBE
  for a filter that includes predicted states, FUTURE for definite, else COMPLETED);
  depth first, the sub-process's root before the children;
- the depth limit (``max_depth=1000``): Spiff's depth counter rises by one per task whose
  children it expands, so it stays below the number of tasks in the tree(s); the fast walk
  is only used while the workflow and its sub-processes together hold fewer than 1,000
  tasks, otherwise Spiff's own iterator runs;
- the filter: the same ``TaskFilter`` / ``BpmnTaskFilter`` tests, inlined for the common
  ``state`` / ``spec_name`` / ``manual`` filters and otherwise the filter object's own
  ``matches``;
- anything else (``end_at_spec``, breadth first, ``skip_subprocesses``, another depth
  limit) goes to Spiff's iterator unchanged.

Its tasks are :class:`SimTask`: Spiff's task, changing state without building the log
record Spiff builds for every change and then drops (``spiff.task`` does not log at INFO
unless configured; when it does, Spiff's own ``_set_state`` runs).

Its tasks' ids are :class:`TaskId`: random version-4 UUID values like Spiff's ``uuid4()``'s,
drawn from a generator the kernel seeds with the run's seed (:func:`id_source`; not an
``os.urandom`` call per task), hashed and compared by identity in C
(``uuid.UUID.__hash__`` is Python code and was called about 2 million times per 100 cases).
A new task is made a :class:`SimTask` with its id at once (``SimTask._add_child``), and
takes its parent's data by :func:`merge_data`, Spiff's ``DeepMerge.merge`` with the same
results in the same objects.

Only the walks, the state change's log record, the ids and the cost of the data merge
change: every task spec's code, the event manager, the states and the data are Spiff's own. The persisted engine does not use these classes (it deserialises plain
``BpmnWorkflow``); ``tests/test_simulation.py`` runs the agreement test (the same actions
replayed through the persisted engine give the same milestones, case by case) and
compares walks of both kinds on live trees.
"""
from __future__ import annotations

import logging
import random
import uuid
from copy import copy

from SpiffWorkflow import task as spiff_task
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.util.task import TaskFilter, TaskIterator, TaskState

from processes.spiff_fixes import unfinished_task, walk_order

MAX_FAST_TASKS = 1000      # Spiff's iterator's default max_depth: below it the limit cannot bite
GET_TASKS_LIMIT = 3        # get_tasks with more matching tasks walks the tree

_PREDICTED, _DEFINITE = TaskState.PREDICTED_MASK, TaskState.DEFINITE_MASK
_FINISHED = TaskState.FINISHED_MASK
_PLAIN_KEYS = frozenset({"state", "spec_name", "manual"})


def _min_state(state: int) -> int:
    if state & _PREDICTED:
        return TaskState.MAYBE
    if state & _DEFINITE:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _size(top) -> int:
    return len(top.tasks) + sum(len(sub.tasks) for sub in top.subprocesses.values())


def _walk(first, state: int, spec_name, manual, task_filter, bpmn: bool):
    """Spiff's depth-first iterator from ``first`` (see the module docstring)."""
    min_state = _min_state(state)
    subprocesses = first.workflow.top_workflow.subprocesses if bpmn else None
    into_finished_subprocess = not (state <= _FINISHED)
    stack = [first]
    pop, push = stack.pop, stack.append
    while stack:
        task = pop()
        task_state = task._state
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is None:
            if task._children and task_state >= min_state:
                tasks = task.workflow.tasks
                for child_id in reversed(task._children):
                    push(tasks[child_id])
        else:
            tasks = task.workflow.tasks
            for child_id in reversed(task._children):
                push(tasks[child_id])
            if task_state < _FINISHED or into_finished_subprocess:
                push(sub.task_tree)
        if task_filter is not None:
            if task_filter.matches(task):
                yield task
        elif (task_state & state) and (spec_name is None or task.task_spec.name == spec_name) and \
                (manual is None or task.task_spec.manual == manual):
            yield task


def _waiting(root):
    """``_walk(root, WAITING, None, None, None, bpmn=False)``, the walk of
    ``update_waiting_tasks``, for that filter only: descent below tasks at least FUTURE,
    the children looked up when the task is taken, in its workflow's dict (a plain walk
    stays in the root's workflow: every task it reaches is a child of one of its tasks)."""
    tasks = root.workflow.tasks
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        task = pop()
        state = task._state
        if task._children and state >= _FUTURE:
            for child_id in reversed(task._children):
                push(tasks[child_id])
        if state & _WAITING:
            yield task


_WAITING, _FUTURE = TaskState.WAITING, TaskState.FUTURE


def _none_match(workflows, state: int, spec_name, manual) -> bool:
    """Whether no task of ``workflows`` matches the filter: then no walk can yield one."""
    for wf in workflows:
        for task in wf.tasks.values():
            if (task._state & state) and (spec_name is None or task.task_spec.name == spec_name) and \
                    (manual is None or task.task_spec.manual == manual):
                return False
    return True


def _iterator(workflow, first_task, kwargs: dict, bpmn: bool):
    top = workflow.top_workflow
    plain = not kwargs or _PLAIN_KEYS.issuperset(kwargs)
    task_filter = kwargs.get("task_filter")
    if (plain or set(kwargs) == {"task_filter"}) and _size(top) < MAX_FAST_TASKS:
        if task_filter is None:
            state = kwargs.get("state", TaskState.ANY_MASK)
            spec_name, manual = kwargs.get("spec_name"), kwargs.get("manual")
            # every task a walk reaches is in its workflow's ``tasks``: the walk's own for the
            # plain iterator, the top workflow's or a sub-process's for the BPMN one
            if _none_match((top, *top.subprocesses.values()) if bpmn else (workflow,), state, spec_name, manual):
                return iter(())
            return _walk(first_task or workflow.task_tree, state, spec_name, manual, None, bpmn)
        if type(task_filter) in (TaskFilter, BpmnTaskFilter):
            return _walk(first_task or workflow.task_tree, task_filter.state, None, None, task_filter, bpmn)
    cls = BpmnTaskIterator if bpmn else TaskIterator
    return cls(first_task or workflow.task_tree, **kwargs)


class SimTask(spiff_task.Task):
    """Spiff's task, changing state without building the log record that Spiff's
    ``_set_state`` builds (the state's name, ``collect_log_extras``) for a logger that
    drops it. When ``spiff.task`` logs at that level, Spiff's own ``_set_state`` runs.
    Otherwise the same state and ``last_state_change`` (``time.time()``: Spiff reads the
    clock twice, for the elapsed time it logs and for the change's time). A
    :class:`SimWorkflow`'s tasks are of this class: the tree's first tasks from the
    workflow's constructor, every later one when its parent is told of it."""

    def _set_state(self, value: int) -> None:
        if value != self._state:
            if _log.isEnabledFor(logging.INFO):
                spiff_task.Task._set_state(self, value)
            else:
                self.last_state_change = spiff_task.time.time()
                self._state = value
        elif _log.isEnabledFor(logging.DEBUG):
            spiff_task.Task._set_state(self, value)

    def _child_added_notify(self, child) -> None:
        if type(child) is _Task:
            child.__class__ = SimTask
        if type(child.id) is not TaskId:
            # Spiff's Task.__init__ has just put the child last in its workflow's dict and
            # told nobody else its id: re-keying it there (still last) is the whole change
            tasks = child.workflow.tasks
            del tasks[child.id]
            child.id = task_id(child.id)
            tasks[child.id] = child
        self._children.append(child.id)

    @property
    def children(self) -> list:
        # Task.children (the tasks of the child ids, looked up in the workflow's dict, None
        # for an id not in it), the lookups by map instead of a comprehension that reads
        # self.workflow.tasks again for every child
        return list(map(self.workflow.tasks.get, self._children))

    @children.setter
    def children(self, tasks: list) -> None:
        spiff_task.Task.children.fset(self, tasks)

    def _add_child(self, task_spec, state: int = TaskState.MAYBE):
        # Spiff's Task._add_child, the child made a SimTask with a TaskId from the workflow's
        # id generator at once (Spiff's Task.__init__ with an id skips uuid4(), an os.urandom
        # call; _child_added_notify then has nothing to re-key)
        if self._state & _PREDICTED and state & _PREDICTED == 0:
            raise WorkflowException('Attempt to add non-predicted child to predicted task', task_spec=self.task_spec)
        workflow = self.workflow
        task = SimTask(workflow, task_spec, self, state=state, id=workflow.new_task_id())
        task.thread_id = self.thread_id
        if state == TaskState.READY:
            task._ready()
        return task

    def _inherit_data(self) -> None:
        # Spiff's Task._inherit_data (DeepMerge.merge of the parent's data into the task's)
        self.data = merge_data(self.data, self.parent.data)


_MUTABLE = (dict, list, set)


def merge_data(a, b):
    """``DeepMerge.merge(a, b)`` (SpiffWorkflow 3.2.0), the same result in the same objects:
    ``a`` changed in place and returned; a key of ``b`` missing from ``a`` gets ``b``'s value,
    a shallow copy (``copy.copy``) when it is a dict, list or set; a key in both is left when
    the values are equal (``a[key] == b[key]``), else merged by Spiff's own ``DeepMerge``
    when both are dicts or both lists, else replaced as above. For plain dicts; anything
    else, and ``a is b``, goes to Spiff's function. Most merges are a new task's empty data
    taking its parent's: one ``dict.update`` and copies of the mutable values."""
    if type(a) is not dict or type(b) is not dict or a is b:
        return DeepMerge.merge(a, b)
    if not a:
        a.update(b)
        for key, value in b.items():
            kind = type(value)
            if kind is dict or kind is list or kind is set:
                a[key] = value.copy()
            elif kind not in _SCALARS and isinstance(value, _MUTABLE):
                a[key] = copy(value)
        return a
    for key, value in b.items():
        if key in a:
            mine = a[key]
            if mine == value:
                continue
            if isinstance(mine, dict) and isinstance(value, dict):
                DeepMerge.merge(mine, value, [str(key)])
                continue
            if isinstance(mine, list) and isinstance(value, list):
                DeepMerge.merge_array(mine, value, [str(key)])
                continue
        a[key] = copy(value) if isinstance(value, _MUTABLE) else value
    return a


_SCALARS = frozenset({str, int, float, bool, type(None)})


class TaskId(uuid.UUID):
    """A task's id in a :class:`SimWorkflow`: a ``uuid.UUID`` (a random version-4 value, see
    :func:`id_source`; :func:`task_id` keeps another UUID's value), hashed and compared by identity in C instead of ``UUID.__hash__``'s Python
    call (about 2 million per 100 cases: the ids key the workflows' ``tasks``, the
    sub-processes and the event manager, and fill ``_parent``/``_children``). Spiff and the
    simulator only pass a task's id object around, never rebuild it from its text within a
    run (the persisted engine does, with plain ``BpmnWorkflow`` and plain UUIDs), so every
    lookup finds the object it stored. A ``TaskId`` equals only itself."""

    __slots__ = ()
    __hash__ = object.__hash__
    __eq__ = object.__eq__


def task_id(value: uuid.UUID) -> TaskId:
    new = object.__new__(TaskId)
    object.__setattr__(new, "int", value.int)
    object.__setattr__(new, "is_safe", value.is_safe)
    return new


# uuid.UUID(int=..., version=4): the variant and version bits of a random UUID
_KEEP = ~((0xc000 << 48) | (0xf000 << 64))
_SET = (0x8000 << 48) | (4 << 76)
_UNKNOWN = uuid.SafeUUID.unknown


def id_source(generator: random.Random):
    """A function giving new task ids (:class:`TaskId`): random version-4 UUID values (as
    ``uuid4()``'s, ``is_safe`` unknown) drawn from ``generator`` instead of ``os.urandom``.
    The kernel seeds it with the run's seed, so a seed gives the same ids; within a run ids
    are as unlikely to collide as ``uuid4()``'s (122 random bits), and a ``TaskId`` equals
    only itself anyway."""
    bits, new, setattr_ = generator.getrandbits, object.__new__, object.__setattr__

    def new_task_id() -> TaskId:
        tid = new(TaskId)
        setattr_(tid, "int", bits(128) & _KEEP | _SET)
        setattr_(tid, "is_safe", _UNKNOWN)
        return tid
    return new_task_id


_log, _Task = spiff_task.logger, spiff_task.Task


class _FastWalks:
    def __init__(self, *args, task_ids=None, **kwargs):
        # task_ids: the function giving new tasks' ids (id_source); the kernel gives every
        # workflow of a run one seeded by the run's seed; a sub-process its top workflow's
        self.new_task_id = task_ids or id_source(random.Random())
        super().__init__(*args, **kwargs)
        for task in self.tasks.values():
            if type(task) is _Task:
                task.__class__ = SimTask
        self._rekey()

    def _rekey(self) -> None:
        """Give the tasks Spiff's constructor made (before they were SimTasks) new TaskIds
        (from the workflow's id generator, as every later task's), in every place that holds their ids: the workflow's dict (same order), parent and
        children ids, the top workflow's event manager and sub-processes."""
        ids = {old: self.new_task_id() for old in self.tasks if type(old) is not TaskId}
        if not ids:
            return
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.id = ids.get(task.id, task.id)
            task._parent = ids.get(task._parent, task._parent)
            task._children = [ids.get(child, child) for child in task._children]
            self.tasks[task.id] = task
        top = self.top_workflow
        for mapping in (top.event_manager.tasks, top.subprocesses):
            if any(key in ids for key in mapping):
                items = list(mapping.items())
                mapping.clear()
                mapping.update((ids.get(key, key), value) for key, value in items)

    def get_tasks_iterator(self, first_task=None, **kwargs):
        return _iterator(self, first_task, kwargs, bpmn=True)

    def get_tasks(self, first_task=None, **kwargs):
        # a list, so no caller changes the tree while it is built: with few matching tasks
        # (most READY walks have one) their order is found without walking the tree
        if kwargs and _PLAIN_KEYS.issuperset(kwargs):
            found = walk_order(self, first_task, kwargs.get("state", TaskState.ANY_MASK),
                               kwargs.get("spec_name"), kwargs.get("manual"), limit=GET_TASKS_LIMIT)
            if found is not None:
                return found
        return list(self.get_tasks_iterator(first_task, **kwargs))

    def is_completed(self) -> bool:
        # Workflow.is_completed: done once Spiff's plain walk finds no unfinished task
        if not self.completed:
            found = unfinished_task(self)
            if found is None:
                return super().is_completed()
            self.completed = not found
        return self.completed

    def update_waiting_tasks(self) -> None:
        # Workflow.update_waiting_tasks: Spiff's plain TaskIterator (no descent into sub-processes)
        if _size(self.top_workflow) < MAX_FAST_TASKS:
            if _none_match((self,), _WAITING, None, None):
                return
            walk = _waiting(self.task_tree)
        else:
            walk = TaskIterator(self.task_tree, state=_WAITING)
        for task in walk:
            task.task_spec._update(task)


def takes_task_ids(workflow_class: type) -> bool:
    """Whether ``workflow_class`` takes ``task_ids`` (the simulator's workflow classes)."""
    return issubclass(workflow_class, _FastWalks)


class SimSubWorkflow(_FastWalks, BpmnSubWorkflow):
    """A sub-process of a :class:`SimWorkflow`."""


class SimWorkflow(_FastWalks, BpmnWorkflow):
    """``BpmnWorkflow`` with the fast walks; its sub-processes are :class:`SimSubWorkflow`."""

    def create_subprocess(self, my_task, spec_name):
        subprocess = SimSubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self,
                                    task_ids=self.new_task_id)
        self.subprocesses[my_task.id] = subprocess
        return subprocess
