"""processes/spiff_fixes.py on the simulator's in-memory workflow (SimWorkflow, as
processes/simulation/kernel.py keeps it): a parallel join inside a loop fires only when
the current iteration's branches have arrived, and a waiting timer that SpiffWorkflow
removes from the tree leaves the event manager with it.

The path is the one that failed in the 2,000-case bench (case 343, Bøgeby): the meeting
is postponed, the preparation is done again in another order than the first time. The
persisted engine's side is tests/test_engine__loops.py."""
from __future__ import annotations

from datetime import datetime

import pytest
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from processes import library
from processes.clock import FixedClock, use_clock
from processes.scripting import SagsflowScriptEngine, budget
from processes.simulation.kernel import LOCAL
from processes.simulation.variants import resolve
from processes.simulation.workflow import SimWorkflow
from processes.spiff_fixes import ParallelGateway, forget_removed_tasks


class Memory:
    """A Bøgeby rehabilitering case in memory, stepped as the simulator steps it."""

    def __init__(self, forget: bool = True):
        variant = resolve("boegeby")
        loaded = variant.models["rehabilitering"]
        timers = loaded.metadata.get("timers") or {}
        deadlines = frozenset(b for b, t in timers.items() if t.get("deadline") and t.get("attached_to"))
        self.wf = SimWorkflow(loaded.spec, loaded.subprocess_specs,
                              script_engine=SagsflowScriptEngine(service=lambda task, operation, params: {"queued": True},
                                                                  deadline_timers=deadlines, timers=timers))
        if forget:
            forget_removed_tasks(self.wf)
        self.wf.task_tree.data.update({"policy": dict(variant.policies["rehabilitering"]),
                                       "sag": {"id": 1, "kommune": "boegeby"},
                                       "borger": {"navn": "Test", "alder": 40}, "startdato": "2027-01-04"})
        self.step("2027-01-04")

    def step(self, day: str, action=None, hour: int = 9) -> None:
        now = datetime.fromisoformat(day).replace(hour=hour, tzinfo=LOCAL)
        with budget(), use_clock(FixedClock(now)):
            self.wf.refresh_timers()
            if action is not None:
                action()
            self.wf.do_engine_steps()

    def ready(self) -> set[str]:
        return {t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.READY, manual=True)}

    def waiting_timers(self) -> set[str]:
        return {t.task_spec.bpmn_id for t in self.wf.event_manager.tasks.values()}

    def complete(self, day: str, bpmn_id: str, hour: int = 9, **form) -> None:
        task = next(t for t in self.wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)

        def run():
            task.set_data(**form)
            task.run()
        self.step(day, run, hour=hour)


def to_postponed_preparation(m: Memory) -> None:
    """Prepared (the forberedende del last), booked, met; the meeting is postponed and the
    preparation planned again."""
    m.complete("2027-01-04", "vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    m.complete("2027-01-04", "planlaeg_forberedelse", laegeattest_noedvendig=False,
               sundhedskoordinator_raadgivning=False, samtykke_deling="givet")
    m.complete("2027-01-11", "indhent_oplysninger", oplysninger="Ingen sociale sager")
    assert m.ready() == {"forberedende_del"}
    m.complete("2027-01-11", "forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-01-11")
    book_and_meet(m, "2027-01-11", "2027-02-01", indstilling="udsaettelse")
    assert m.ready() == {"planlaeg_forberedelse"}
    m.complete("2027-02-01", "planlaeg_forberedelse", laegeattest_noedvendig=False,
               sundhedskoordinator_raadgivning=False, samtykke_deling="givet")
    assert m.ready() == {"indhent_oplysninger", "forberedende_del"}


def book_and_meet(m: Memory, booked: str, meeting: str, indstilling: str) -> None:
    m.complete(booked, "book_moede", bookingdato=booked, moededato=meeting, moedetidspunkt="10:00")
    m.complete(booked, "forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Uændret")
    m.complete(booked, "forbered_borger", forberedende_samtale_dato=booked, samtale_sagen=True, samtale_udfald=True,
               samtale_bisidder=True)
    m.step(meeting, hour=10)
    assert "rehabiliteringsmoede" in m.ready()
    m.complete(meeting, "rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=True, sagsbehandler_deltog=True,
               indstilling=indstilling, indstilling_begrundelse="Begrundelse", hour=10)


def test_the_models_parallel_gateways_are_the_corrected_ones():
    loaded = resolve("boegeby").models["rehabilitering"]
    joins = [s for s in loaded.spec.task_specs.values() if s.bpmn_id in ("forberedelse_join", "moede_join")]
    assert len(joins) == 2 and all(type(s) is ParallelGateway for s in joins)


def test_after_a_postponed_meeting_booking_waits_for_the_whole_preparation_again():
    m = Memory()
    to_postponed_preparation(m)
    # the first time the forberedende del came last; now it comes first: the join waits
    m.complete("2027-02-02", "forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-02-02")
    assert m.ready() == {"indhent_oplysninger"}
    m.complete("2027-02-03", "indhent_oplysninger", oplysninger="Nye oplysninger")
    assert m.ready() == {"book_moede"}
    book_and_meet(m, "2027-02-03", "2027-03-01", indstilling="fleksjob")
    assert m.ready() == {"skriv_indstilling"}
    assert m.waiting_timers() == {"frist_skriv_indstilling"}
    # one token: the booking happened once in this iteration, and no preparation task is left
    assert len([t for t in m.wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id == "book_moede"]) == 2


@pytest.mark.parametrize("forget", [True, False])
def test_spiffs_own_join_fires_early_and_drops_a_waiting_timer(monkeypatch, forget):
    """Known SpiffWorkflow 3.2.0 behaviour (docs/simulation.md): with Spiff's own parallel
    gateway the join goes on to booking before the preparation is complete; when the
    open preparation task is done after the new meeting, the join fires again and drops
    the first token's branch with its waiting deadline timer. Without
    :func:`forget_removed_tasks` the step fails on the dropped timer."""
    monkeypatch.setattr(library, "Parser", SpiffBpmnParser)
    m = Memory(forget=forget)
    assert not any(type(s) is ParallelGateway for s in m.wf.spec.task_specs.values())
    to_postponed_preparation(m)
    m.complete("2027-02-02", "forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-02-02")
    assert m.ready() == {"indhent_oplysninger", "book_moede"}  # too early
    book_and_meet(m, "2027-02-02", "2027-03-01", indstilling="fleksjob")
    assert m.ready() == {"indhent_oplysninger", "skriv_indstilling"}
    assert m.waiting_timers() == {"frist_skriv_indstilling"}
    if not forget:
        with pytest.raises(AttributeError):
            m.complete("2027-03-02", "indhent_oplysninger", oplysninger="Nye oplysninger")
        return
    m.complete("2027-03-02", "indhent_oplysninger", oplysninger="Nye oplysninger")
    assert m.ready() == {"book_moede"}  # booked again; the written recommendation is gone
    assert m.waiting_timers() == set()
