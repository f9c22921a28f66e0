"""Corrections to SpiffWorkflow 3.2.0 (pinned) behaviour that makes cases go wrong.

Both the persisted engine (processes/engine.py) and the what-if simulator
(processes/simulation) use these, so they keep agreeing; see docs/simulation.md, "Known
Spiff behaviour".

1. :class:`ParallelGateway`: Spiff's parallel join inside a loop fires too early from the
   second iteration on. Spiff decides whether the join may fire by looking at every
   instance of the join in the whole task tree; the instances of an earlier iteration that
   waited and were cancelled when the last branch arrived still have completed parents,
   are neither ancestors nor descendants of the current instance, and so count as
   branches that have arrived *now*. In Bøgeby's rehabilitering (postponed meeting, the
   preparation done again) the join went on to booking as soon as the branch that came
   last the first time was done, with the other preparation tasks still open; when one of
   those was done later, the join fired a second time and dropped the first token's
   whole branch, the caseworker's open task and its deadline timer included. Here an
   instance counts only if it belongs to the current iteration: it lies below the latest
   firing of the same join above the current instance (every instance counts when there
   is no such firing, the first time through).

2. :class:`InclusiveGateway`: Spiff's inclusive join inside a loop fires as soon as the
   first branch of the second (and every later) iteration arrives. Spiff looks for the
   join's instances and for the tasks that may still reach it by walking the tree from
   the root without descending below any instance of the join; in a loop, the current
   iteration lies below the previous iteration's firing, so that walk finds only the
   earlier iteration's instances (with completed parents: every branch counts as
   arrived) and none of the current iteration's open tasks. Here, from the second
   iteration on, the join's instances are those below its latest firing above the
   current instance, and the tasks that may still reach it are those the root walk finds
   plus those below that firing.

3. :func:`forget_removed_tasks`: Spiff removes tasks from the tree (a join dropping a
   branch, a loop rebuilding a predicted branch) without telling the workflow's event
   manager, so a removed waiting timer stays in it, and the ``refresh_timers`` at the end
   of ``do_engine_steps`` updates it and fails (``AttributeError: 'NoneType' object has
   no attribute 'data'``: its parent is gone). The workflow announces each removal
   (``task_removed_event``, sub-workflows included); the event manager is made to forget
   the task then.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.control import _EndJoin as SpiffEndJoin
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway as SpiffInclusiveGateway
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway as SpiffParallelGateway
from SpiffWorkflow.util.task import TaskState


class ParallelGateway(SpiffParallelGateway):
    """Spiff's parallel gateway, with a join that counts only the current loop iteration's
    arrivals. Keeps Spiff's class name, so it is stored under the same type name and
    stored specs load into it."""

    def _check_threshold_unstructured(self, my_task):
        # The latest earlier firing of this join above my_task (the iteration before) and
        # my_task's ancestors: position 0 is my_task, then its parent, up to the root.
        workflow = my_task.workflow
        tasks = workflow.tasks
        chain, previous, position, task = {}, None, 0, my_task
        while task is not None:
            chain[task.id] = position
            if previous is None and position and task.task_spec is self:
                previous = position
            last, task, position = task, tasks.get(task._parent), position + 1
        instances = _instances(workflow, self.name) if last is workflow.task_tree else None
        if instances is None:
            return self._check_threshold_by_walks(my_task)
        waiting_inputs = set(self.inputs)
        for instance in instances:
            if instance.id in chain:
                if chain[instance.id]:
                    continue  # an earlier iteration's firing
                meet = 1  # my_task itself: its parent is chain position 1
            else:
                # where the instance's branch leaves my_task's line: the chain position of
                # its nearest ancestor on it (None: not in this tree, Spiff's walk skips it)
                meet, above = None, tasks.get(instance._parent)
                while above is not None:
                    meet = chain.get(above.id)
                    if meet is not None:
                        break
                    above = tasks.get(above._parent)
                if meet is None:
                    continue
            if meet == 0:
                # below my_task: the first iteration; a predicted instance below will not be
                # reached until this join completes, so its branch is not waited for (Spiff's rule)
                _remove_ancestor(instance, waiting_inputs)
            elif previous is not None and meet > previous:
                continue  # an earlier iteration's instance (the fix)
            else:
                parent = tasks.get(instance._parent)
                if parent is not None and parent._state == TaskState.COMPLETED and parent.task_spec in waiting_inputs:
                    waiting_inputs.remove(parent.task_spec)
        return not waiting_inputs

    def _check_threshold_by_walks(self, my_task):
        """The same decision as :meth:`_check_threshold_unstructured`, with Spiff's own
        walks (``get_tasks``, ``is_descendant_of``): for trees the fast path does not
        cover, and the reference the tests compare it with."""
        previous = my_task.parent
        while previous is not None and previous.task_spec is not self:
            previous = previous.parent
        waiting_inputs = set(self.inputs)
        for task in my_task.workflow.get_tasks(spec_name=self.name):
            if task.is_descendant_of(my_task):
                _remove_ancestor(task, waiting_inputs)
            elif my_task.is_descendant_of(task):
                continue
            elif previous is not None and not task.is_descendant_of(previous):
                continue
            elif (task.parent is not None and task.parent.state == TaskState.COMPLETED
                  and task.parent.task_spec in waiting_inputs):
                waiting_inputs.remove(task.parent.task_spec)
        return not waiting_inputs


class InclusiveGateway(SpiffInclusiveGateway):
    """Spiff's inclusive gateway, with a join that looks at the current loop iteration
    (see the module docstring). Keeps Spiff's class name, so it is stored under the same
    type name and stored specs load into it."""

    def _check_threshold_unstructured(self, my_task):
        previous = my_task.parent
        while previous is not None and previous.task_spec is not self:
            previous = previous.parent
        if previous is None:   # the first time through: Spiff's rule sees the right tasks
            return super()._check_threshold_unstructured(my_task)
        workflow = my_task.workflow
        instances, sources = [], []
        for task in workflow.get_tasks(end_at_spec=self.name):
            if task.task_spec is not self and task.has_state(TaskState.READY | TaskState.WAITING):
                sources.append(task.task_spec)   # open elsewhere (an earlier iteration's instances are not counted)
        for child in previous.children:
            for task in workflow.get_tasks(first_task=child, end_at_spec=self.name):
                if task.task_spec is self:
                    instances.append(task)
                elif task.has_state(TaskState.READY | TaskState.WAITING):
                    sources.append(task.task_spec)
        return _inclusive_threshold(self, instances, sources)


def _inclusive_threshold(join, instances: list, sources: list) -> bool:
    """Spiff's decision for an inclusive join (``InclusiveGateway._check_threshold_unstructured``
    after its walk), on the join's ``instances`` and the specs of the open tasks that may
    still reach it (``sources``)."""
    completed_inputs = {task.parent.task_spec for task in instances if task.parent.state == TaskState.COMPLETED}
    # an input with a definite (not merely predicted) task that has not completed: wait
    for task in instances:
        if task.parent.has_state(TaskState.DEFINITE_MASK) and task.parent.task_spec not in completed_inputs:
            return False
    waiting_inputs = [spec for spec in join.inputs if spec not in completed_inputs]
    checked = []

    def check(spec):   # the first source found going back through the inputs of ``spec``
        checked.append(spec)
        for parent in spec.inputs:
            if parent not in checked:
                return parent if parent in sources else check(parent)

    for spec in completed_inputs:
        source = check(spec)
        if source is not None:
            sources.remove(source)
    return not any(check(spec) is not None for spec in waiting_inputs)


def _remove_ancestor(task, waiting_inputs: set) -> None:
    """Spiff's ``remove_ancestor``: the nearest of ``task`` and its ancestors whose spec is
    still awaited stops being awaited."""
    while task is not None:
        if task.task_spec in waiting_inputs:
            waiting_inputs.remove(task.task_spec)
            return
        task = task.parent


MAX_FAST_TASKS = 1000   # Spiff's iterators' default max_depth: below it the limit cannot bite
_NOT_FINISHED = TaskState.NOT_FINISHED_MASK


def _instances(workflow, spec_name: str):
    """The tasks ``workflow.get_tasks(spec_name=spec_name)`` returns, in its order, when
    they all lie in ``workflow`` itself; None otherwise (then the caller walks)."""
    found = walk_order(workflow, None, TaskState.ANY_MASK, spec_name, None)
    if found is None or any(task.workflow is not workflow for task in found):
        return None
    return found


def walk_order(workflow, first_task, state: int, spec_name=None, manual=None, limit=None):
    """The tasks SpiffWorkflow's BPMN walk (``BpmnTaskIterator`` from ``first_task`` or
    ``workflow``'s root, filtered by ``state``, ``spec_name``, ``manual``) yields, in its
    order, found without the walk; None when that is not certain here (the workflows hold
    1,000 tasks or more, or more than ``limit`` tasks match).

    Every task the walk can reach is in its workflow's ``tasks``, so the matching tasks are
    among those of the instance's workflows; each is kept if the walk reaches it (every
    task above it up to the start is expanded by the walk's rules) and placed by its path
    from the start (depth first: a sub-process's root before the children of its task).
    Spiff's depth limit (1,000) cannot bite while the workflows hold fewer tasks."""
    top = workflow.top_workflow
    workflows = (top, *top.subprocesses.values())
    if sum(len(w.tasks) for w in workflows) >= MAX_FAST_TASKS:
        return None
    found = []
    for each in workflows:
        for task in each.tasks.values():
            if task._state & state and (spec_name is None or task.task_spec.name == spec_name) and \
                    (manual is None or task.task_spec.manual == manual):
                found.append(task)
    if limit is not None and len(found) > limit:
        return None
    if not found:
        return found
    min_state = (TaskState.MAYBE if state & TaskState.PREDICTED_MASK
                 else TaskState.FUTURE if state & TaskState.DEFINITE_MASK else TaskState.COMPLETED)
    into_finished = not (state <= TaskState.FINISHED_MASK)
    start = first_task or workflow.task_tree
    keyed = []
    for index, task in enumerate(found):
        path = _walk_path(task, start, top, min_state, into_finished)
        if path is not None:
            keyed.append((path, index))
    keyed.sort()
    return [found[index] for _, index in keyed]


def _walk_path(task, start, top, min_state: int, into_finished: bool):
    """The positions by which the walk from ``start`` reaches ``task`` (-1: a sub-process's
    root, taken before its task's children), or None if the walk does not reach it."""
    subprocesses = top.subprocesses
    path = []
    while task is not start:
        tasks = task.workflow.tasks
        parent = tasks.get(task._parent) if task._parent is not None else None
        if parent is None:
            # a workflow's root: reached through the task that holds its sub-process
            sub = task.workflow
            if sub is top or task is not sub.task_tree:
                return None
            holder = top.get_task_from_id(sub.parent_task_id)
            if holder is None or subprocesses.get(holder.id) is not sub or \
                    not (holder._state < TaskState.FINISHED_MASK or into_finished):
                return None
            path.append(-1)
            task = holder
            continue
        if parent._state < min_state and subprocesses.get(parent.id) is None:
            return None  # the walk does not descend below it
        try:
            path.append(parent._children.index(task.id))
        except ValueError:
            return None
        task = parent
    path.reverse()
    return path


class _EndJoin(SpiffEndJoin):
    """Spiff's end join (the task every end event of a process leads to), deciding as Spiff
    does without its tree walk. Keeps Spiff's class name (stored under the same type
    name; parsed process specs get it, see :class:`Parser`)."""

    def _check_threshold_unstructured(self, my_task):
        # Spiff: the first task of a depth-first walk from the root, not descending below
        # tasks of this spec, that is unfinished and not my_task; fire if there is none.
        # Whether there is one does not depend on the order: any unfinished task below the
        # root with no task of this spec above it.
        found = unfinished_task(my_task.workflow, other_than=my_task, end_at_spec=self.name)
        return super()._check_threshold_unstructured(my_task) if found is None else not found


def unfinished_task(workflow, other_than=None, end_at_spec=None):
    """Whether Spiff's plain walk of ``workflow``'s tree (``TaskIterator`` from the root,
    ``state=NOT_FINISHED_MASK``, ``end_at_spec``: not descending below tasks of that spec)
    yields a task other than ``other_than``; None when not certain here (1,000 tasks or
    more). Whether there is one does not depend on the walk's order: an unfinished task
    below the root (the walk descends into every task, predicted ones included) with no
    task of ``end_at_spec`` above it."""
    tasks = workflow.tasks
    if len(tasks) >= MAX_FAST_TASKS:
        return None
    root = workflow.task_tree
    for task in tasks.values():
        if not task._state & _NOT_FINISHED or task is other_than:
            continue
        while task._parent is not None:
            task = tasks.get(task._parent)
            if task is None or task.task_spec.name == end_at_spec:
                break
        else:
            if task is root:
                return True
    return False


def forget_removed_tasks(workflow) -> None:
    """Make ``workflow``'s event manager forget each task Spiff removes from the tree
    (call once per workflow object, when it is created or loaded)."""
    def removed(_workflow, task):
        workflow.event_manager.tasks.pop(task.id, None)

    workflow.task_removed_event.connect(removed)


def _parser_class():
    from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser, GatewayParser
    from SpiffWorkflow.bpmn.parser.util import full_tag
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    class ProcessParser(SpiffBpmnParser.PROCESS_PARSER_CLASS):
        def create_spec(self):
            spec = super().create_spec()
            spec.end.__class__ = _EndJoin   # created by BpmnProcessSpec; the subclass adds no state
            return spec

    class Parser(SpiffBpmnParser):
        """Spiff's parser, building :class:`ParallelGateway` and :class:`InclusiveGateway`
        for parallel and inclusive gateways and :class:`_EndJoin` for the processes' end
        joins."""
        PROCESS_PARSER_CLASS = ProcessParser
        OVERRIDE_PARSER_CLASSES = {**SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
                                   full_tag("parallelGateway"): (GatewayParser, ParallelGateway),
                                   full_tag("inclusiveGateway"): (ConditionalGatewayParser, InclusiveGateway)}
    return Parser


Parser = _parser_class()


def serializer_config(config: dict) -> dict:
    """``config`` (a Spiff serializer configuration) storing and loading parallel gateways
    as :class:`ParallelGateway`, inclusive gateways as :class:`InclusiveGateway` and end joins as
    :class:`_EndJoin`, under Spiff's type names."""
    config = dict(config)
    config[ParallelGateway] = config.pop(SpiffParallelGateway)
    config[InclusiveGateway] = config.pop(SpiffInclusiveGateway)
    config[_EndJoin] = config.pop(SpiffEndJoin)
    return config
