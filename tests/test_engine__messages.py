"""Messages between the process instances of one citizen's case are routed by the engine."""
from pathlib import Path

from sqlalchemy import select

from processes import municipalities, timekeeping
from processes.engine import Actor
from processes.models import Message, MessageSubscription
from walk import Walk

TESTBY = Path(__file__).parent / "data" / "testby"


def register_testby(rt):
    with rt.sessions.begin() as s:
        municipalities.register(s, municipalities.load_folder(TESTBY), timekeeping.now(s))


def test_message_reaches_the_waiting_instance_of_the_same_case_only(runtime):
    register_testby(runtime)
    engine = runtime.engine
    mine = Walk(runtime, "testby", "fleksjob", cpr="010190-1111")
    other = Walk(runtime, "testby", "fleksjob", cpr="020290-2222")     # another citizen, also waiting
    for case in (mine, other):
        engine.complete_task(case._open("samtale").id, {"udfald": "afholdt"}, Actor.system())
    with runtime.sessions() as s:
        assert {sub.case_id for sub in s.scalars(select(MessageSubscription))} == {mine.case_id, other.case_id}

    sender = engine.start_case("testby", "sygedagpenge", "010190-1111", "Test Borger")
    assert sender.case_id == mine.case_id                              # one case per citizen
    engine.complete_task(mine._open("svar").id, {"svartekst": "Attesten er sendt"}, Actor.system())

    assert sorted(mine.instances()) == [("fleksjob", "completed"), ("sygedagpenge", "completed")]
    assert other.instances() == [("fleksjob", "running")]             # the other citizen still waits
    with runtime.sessions() as s:
        message = s.scalar(select(Message))
        assert (message.name, message.payload) == ("svar_modtaget", {"svar": "Attesten er sendt"})
        assert message.delivered_at is not None and message.target_instance_id != message.source_instance_id
        assert {sub.case_id for sub in s.scalars(select(MessageSubscription))} == {other.case_id}


def test_message_without_receiver_waits_in_the_queue(runtime):
    register_testby(runtime)
    engine = runtime.engine
    case = Walk(runtime, "testby", "sygedagpenge")
    engine.complete_task(case._open("svar").id, {"svartekst": "Tidligt svar"}, Actor.system())
    with runtime.sessions() as s:
        message = s.scalar(select(Message))
        assert message.delivered_at is None and message.error is None
    engine.start_case("testby", "fleksjob", "010190-1234", "Test Borger")
    engine.complete_task(case._open("samtale").id, {"udfald": "afholdt"}, Actor.system())
    assert engine.deliver_messages() == 1                              # the worker's poll does this
    assert sorted(case.instances()) == [("fleksjob", "completed"), ("sygedagpenge", "completed")]


def test_hand_off_to_a_case_type_without_model_is_parked_not_lost(runtime):
    from sqlalchemy import delete
    from processes.models import MunicipalModel, Municipality
    with runtime.sessions.begin() as s:
        aaby = s.scalar(select(Municipality).where(Municipality.key == "aaby"))
        s.execute(delete(MunicipalModel).where(MunicipalModel.municipality_id == aaby.id,
                                               MunicipalModel.case_type == "rehabilitering"))
    case = Walk(runtime, "aaby", "sygedagpenge")
    case.complete("opfoelgningssamtale", samtaledato="2027-01-05", uarbejdsdygtighed="delvis",
                  vurdering="Behov for afklaring", forloeb="rehabilitering")
    assert case.instances() == [("sygedagpenge", "completed")]       # the caseworker's step stands
    with runtime.sessions() as s:
        message = s.scalar(select(Message))
    assert message.name == "start_rehabilitering" and message.delivered_at is None
    assert "aaby has no model for case type 'rehabilitering'" in message.error
