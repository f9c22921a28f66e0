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

2. :func:`forget_removed_tasks`: Spiff removes tasks from the tree (a join dropping a
   branch, a loop rebuilding a predicted branch) without telling the workflow's event
   manager, so a removed waiting timer stays in it, and the ``refresh_timers`` at the end
   of ``do_engine_steps`` updates it and fails (``AttributeError: 'NoneType' object has
   no attribute 'data'``: its parent is gone). The workflow announces each removal
   (``task_removed_event``, sub-workflows included); the event manager is made to forget
   the task then.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway as SpiffParallelGateway
from SpiffWorkflow.util.task import TaskState


class ParallelGateway(SpiffParallelGateway):
    """Spiff's parallel gateway, with a join that counts only the current loop iteration's
    arrivals. Keeps Spiff's class name, so it is stored under the same type name and
    stored specs load into it."""

    def _check_threshold_unstructured(self, my_task):
        # The latest earlier firing of this join above my_task: the iteration before.
        previous = my_task.parent
        while previous is not None and previous.task_spec is not self:
            previous = previous.parent
        waiting_inputs = set(self.inputs)

        def remove_ancestor(task):
            while task is not None:
                if task.task_spec in waiting_inputs:
                    waiting_inputs.remove(task.task_spec)
                    return
                task = task.parent

        for task in my_task.workflow.get_tasks(spec_name=self.name):
            if task.is_descendant_of(my_task):
                # The first iteration: a predicted instance below will not be reached
                # until this join completes, so its branch is not waited for (Spiff's rule).
                remove_ancestor(task)
            elif my_task.is_descendant_of(task):
                continue  # an earlier iteration's firing
            elif previous is not None and not task.is_descendant_of(previous):
                continue  # an earlier iteration's instance (the fix)
            elif (task.parent is not None and task.parent.state == TaskState.COMPLETED
                  and task.parent.task_spec in waiting_inputs):
                waiting_inputs.remove(task.parent.task_spec)
        return not waiting_inputs


def forget_removed_tasks(workflow) -> None:
    """Make ``workflow``'s event manager forget each task Spiff removes from the tree
    (call once per workflow object, when it is created or loaded)."""
    def removed(_workflow, task):
        workflow.event_manager.tasks.pop(task.id, None)

    workflow.task_removed_event.connect(removed)


def _parser_class():
    from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
    from SpiffWorkflow.bpmn.parser.util import full_tag
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    class Parser(SpiffBpmnParser):
        """Spiff's parser, building :class:`ParallelGateway` for parallel gateways."""
        OVERRIDE_PARSER_CLASSES = {**SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
                                   full_tag("parallelGateway"): (GatewayParser, ParallelGateway)}
    return Parser


Parser = _parser_class()


def serializer_config(config: dict) -> dict:
    """``config`` (a Spiff serializer configuration) storing and loading parallel gateways
    as :class:`ParallelGateway`, under Spiff's type name."""
    config = dict(config)
    config[ParallelGateway] = config.pop(SpiffParallelGateway)
    return config
