"""Timers on the virtual clock: fired strictly after their due time, in order, once."""
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from processes import municipalities, timekeeping
from processes.models import DeadlineEvent, HumanTask
from walk import Walk

TESTBY = Path(__file__).parent / "data" / "testby"


def test_a_timer_due_exactly_now_waits_until_its_time_has_passed(runtime):
    with runtime.sessions.begin() as s:
        municipalities.register(s, municipalities.load_folder(TESTBY), timekeeping.now(s))
    case = Walk(runtime, "testby", "fleksjob")           # first talk: P3W from 2027-01-04 08:00 UTC,
    # a deadline: it ends at the end of 2027-01-25 in Denmark, 22:59:59 UTC
    runtime.engine.advance_clock(timedelta(weeks=3, hours=14, minutes=59, seconds=59))  # exactly the due time
    assert case.ready() == {"samtale": "virksomhedskonsulent"}
    runtime.engine.advance_clock(timedelta(seconds=1))
    assert case.ready() == {"samtale": "virksomhedskonsulent", "eskalering": "teamleder"}
    runtime.engine.advance_clock(timedelta(weeks=10))    # a fired deadline does not fire again
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.bpmn_id == "eskalering")) == 1
        breach = s.scalar(select(DeadlineEvent))
    assert (breach.bpmn_id, breach.deadline_rule) == ("frist", "fj_foerste_samtale")
    assert case.due("samtale") == "2027-01-25"           # the task keeps its (now overdue) date
