"""One citizen story through Aaby, Bøgeby and Cederholm on the persisted engine.

The same citizen, applying for fleksjob, is prepared on the same dates in each
municipality; the municipal models and policies (``bpmn/municipalities``) then give
different task sequences, letters and deadline dates, as ``processes.md`` §6 describes.
Runs on SQLite and PostgreSQL (the ``runtime`` fixture).
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from processes.models import HumanTask, Outbox, ProcessInstance
from walk import Walk, local_date


class Story(Walk):
    """A :class:`Walk` that checks each form against the model and reports dates."""

    def complete(self, bpmn_id: str, **form):
        fields = {f["id"]: f for f in self.engine.task_form(self._open(bpmn_id))}
        assert not set(form) - set(fields), f"{bpmn_id}: not form fields: {set(form) - set(fields)}"
        missing = {k for k, f in fields.items() if f["required"] and k not in form}
        assert not missing, f"{bpmn_id}: required fields missing: {missing}"
        return super().complete(bpmn_id, **form)

    def dated_letters(self) -> list[tuple[str, str]]:
        """(template, Danish date queued) of the case's letters, oldest first."""
        with self.rt.sessions() as session:
            rows = session.scalars(select(Outbox).where(Outbox.case_id == self.case_id, Outbox.kind == "letter")
                                   .order_by(Outbox.id))
            return [(o.payload["template"], local_date(o.created_at)) for o in rows]

    def history(self) -> list[tuple[str, str, str]]:
        """Every task of the case in order of appearance: (bpmn id, role, Danish date)."""
        with self.rt.sessions() as session:
            rows = session.scalars(select(HumanTask).where(HumanTask.case_id == self.case_id).order_by(HumanTask.id))
            return [(t.bpmn_id, t.role, local_date(t.created_at)) for t in rows]

    def instance_rows(self) -> list[ProcessInstance]:
        with self.rt.sessions() as session:
            return list(session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == self.case_id)
                                        .order_by(ProcessInstance.id)))

PREPARATION = [
    ("vurder_rute", "sagsbehandler", "2027-01-04"),
    ("planlaeg_forberedelse", "sagsbehandler", "2027-01-04"),
    ("indhent_laegeattest", "sagsbehandler", "2027-01-04"),
    ("indhent_oplysninger", "sagsbehandler", "2027-01-04"),
    ("forberedende_del", "sagsbehandler", "2027-01-04"),
]


def prepare(story: Story) -> None:
    """Monday 2027-01-04: the case goes to the team; everything is ready a week later."""
    story.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    story.complete("planlaeg_forberedelse", laegeattest_noedvendig=True, samtykke_deling="givet")
    story.at("2027-01-11")
    story.complete("indhent_laegeattest", laegeattest_modtaget="2027-01-11")
    story.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    story.complete("forberedende_del", underskriftsdato="2027-01-11", borger_medvirken="sammen")


def book_and_meet(story: Story) -> None:
    """Booked 2027-01-11 for Monday 2027-02-01; the caseworker prepares the citizen on 2027-01-28;
    the team recommends fleksjob and writes its indstilling at or after the meeting."""
    story.complete("book_moede", bookingdato="2027-01-11", moededato="2027-02-01")
    story.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Kan arbejde 12 timer")
    assert story.timers() == {"invitation_tid": "2027-01-25"}           # one week before the meeting
    story.at("2027-01-28")
    story.complete("forbered_borger", forberedende_samtale_dato="2027-01-28", samtale_sagen=True,
                   samtale_udfald=True, samtale_bisidder=True)
    story.at("2027-02-01")
    assert story.dated_letters() == [("invitation_moede", "2027-01-25")]
    assert story.ready() == {"rehabiliteringsmoede": "rehabiliteringsteam"}
    story.complete("rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=False, sagsbehandler_deltog=True,
                   indstilling="fleksjob", indstilling_begrundelse="Nedsat arbejdsevne")


INDSTILLING_FLEKSJOB = {"indstilling_tekst": "Fleksjob", "jobtyper": "Lager og pakning",
                        "skaanehensyn": "Ingen tunge løft; 12 timer om ugen"}


def fleksjob_first_talk(story: Story) -> tuple[str, str]:
    """The fleksjob process the decision handed the citizen to: its first talk and due date."""
    instances = story.instance_rows()
    assert [i.process_id for i in instances] == ["rehabilitering", "fleksjob"]
    assert instances[0].status == "completed" and instances[1].status == "running"
    task = story._open("foerste_samtale")
    return task.role, story.due("foerste_samtale")


def test_aaby_decides_fleksjob_at_the_meeting(runtime):
    story = Story(runtime, "aaby", "rehabilitering")
    prepare(story)
    book_and_meet(story)
    # the team recommends in writing at the meeting; the jobcentre's representative decides there
    assert story.ready() == {"skriv_indstilling": "moedeleder"}
    story.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING_FLEKSJOB)
    assert story.ready() == {"afgoerelse_paa_moedet": "jobcenterrepraesentant"}
    story.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, afgoerelse="fleksjob",
                   afgoerelsesdato="2027-02-01", afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    # oral partshøring at the meeting: no hearing letter; visitation the day of the meeting
    assert [t for t, _ in story.dated_letters()] == ["invitation_moede", "afgoerelse", "indkaldelse_samtale"]
    assert fleksjob_first_talk(story) == ("sagsbehandler", "2027-02-22")  # 3 weeks after the meeting
    assert story.history() == PREPARATION + [
        ("book_moede", "sekretariat", "2027-01-11"),
        ("forbered_borger", "sagsbehandler", "2027-01-11"),
        ("forbered_sundhedskoordinator", "sundhedskoordinator", "2027-01-11"),
        ("rehabiliteringsmoede", "rehabiliteringsteam", "2027-02-01"),
        ("skriv_indstilling", "moedeleder", "2027-02-01"),
        ("afgoerelse_paa_moedet", "jobcenterrepraesentant", "2027-02-01"),
        ("foerste_samtale", "sagsbehandler", "2027-02-01"),
    ]


def test_boegeby_written_hearing_then_separate_decision(runtime):
    story = Story(runtime, "boegeby", "rehabilitering")
    prepare(story)
    book_and_meet(story)
    assert story.ready() == {"skriv_indstilling": "moedeleder"}
    assert story.due("skriv_indstilling") == "2027-02-08"               # 5 working days after the meeting
    story.at("2027-02-03")
    story.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING_FLEKSJOB)
    assert story.dated_letters() == [("invitation_moede", "2027-01-25"), ("partshoering", "2027-02-03")]
    assert story.timers() == {"svarfrist": "2027-02-17"}                # 14 days' reply
    story.end_of("2027-02-16")
    assert story.ready() == {}                                           # the afgørelse unit waits
    story.end_of("2027-02-17")
    assert story.ready() == {"traef_afgoerelse": "afgoerelse"}
    story.at("2027-02-18")
    story.complete("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="fleksjob",
                   afgoerelsesdato="2027-02-18", afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    assert [t for t, _ in story.dated_letters()] == ["invitation_moede", "partshoering", "afgoerelse",
                                               "indkaldelse_samtale"]
    assert fleksjob_first_talk(story) == ("sagsbehandler", "2027-03-11")  # 3 weeks after the decision
    assert story.history() == PREPARATION + [
        ("book_moede", "sekretariat", "2027-01-11"),
        ("forbered_borger", "sagsbehandler", "2027-01-11"),
        ("forbered_sundhedskoordinator", "sundhedskoordinator", "2027-01-11"),
        ("rehabiliteringsmoede", "rehabiliteringsteam", "2027-02-01"),
        ("skriv_indstilling", "moedeleder", "2027-02-01"),
        ("traef_afgoerelse", "afgoerelse", "2027-02-17"),
        ("foerste_samtale", "sagsbehandler", "2027-02-18"),
    ]


def test_cederholm_screens_first_then_decides_fleksjob_at_the_meeting(runtime):
    story = Story(runtime, "cederholm", "rehabilitering")
    prepare(story)
    assert story.ready() == {"screening": "fagkonsulent"}
    story.complete("screening", screening_resultat="klar")
    book_and_meet(story)
    assert story.ready() == {"skriv_indstilling": "moedeleder"}
    story.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING_FLEKSJOB)
    assert story.ready() == {"afgoerelse_paa_moedet": "jobcenterrepraesentant"}
    story.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, afgoerelse="fleksjob",
                   afgoerelsesdato="2027-02-01", afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    assert [t for t, _ in story.dated_letters()] == ["invitation_moede", "afgoerelse", "indkaldelse_samtale"]
    assert fleksjob_first_talk(story) == ("sagsbehandler", "2027-02-22")
    assert story.history() == PREPARATION + [
        ("screening", "fagkonsulent", "2027-01-11"),
        ("book_moede", "sekretariat", "2027-01-11"),
        ("forbered_borger", "sagsbehandler", "2027-01-11"),
        ("forbered_sundhedskoordinator", "sundhedskoordinator", "2027-01-11"),
        ("rehabiliteringsmoede", "rehabiliteringsteam", "2027-02-01"),
        ("skriv_indstilling", "moedeleder", "2027-02-01"),
        ("afgoerelse_paa_moedet", "jobcenterrepraesentant", "2027-02-01"),
        ("foerste_samtale", "sagsbehandler", "2027-02-01"),
    ]


def test_cederholm_booking_lead_time_is_21_days(runtime):
    """Cederholm's policy (rehab_booking_frist P21D) refuses a meeting 14 days ahead, which
    Aaby accepts: the booking form says so next to the meeting date and stores nothing."""
    from processes.errors import InvalidInput
    results = {}
    for key in ("aaby", "cederholm"):
        story = Story(runtime, key, "rehabilitering", cpr="020290-2345")
        prepare(story)
        if key == "cederholm":
            story.complete("screening", screening_resultat="klar")
        try:
            story.complete("book_moede", bookingdato="2027-01-11", moededato="2027-01-25")
        except InvalidInput as refused:
            results[key] = refused.errors
        else:
            results[key] = story.ready()
    assert results == {"aaby": {"forbered_sundhedskoordinator": "sundhedskoordinator",
                                "forbered_borger": "sagsbehandler"},
                       "cederholm": {"moededato": ["Mødet skal ligge mindst bookingfristen efter bookingdatoen."]}}


@pytest.mark.parametrize("municipality, talk_interval", [("aaby", "2027-02-04"), ("boegeby", "2027-03-04")])
def test_ressourceforloeb_follow_up_interval_by_policy(runtime, municipality, talk_interval):
    """Aaby talks monthly, Bøgeby every 2 months; Bøgeby hands over to a new coordinator."""
    story = Story(runtime, municipality, "ressourceforloeb", {"overdragelse": {"afgoerelsesdato": "2027-01-04"}})
    if municipality == "boegeby":
        assert story.ready() == {"tildel_koordinerende": "teamleder"}
        story.complete("tildel_koordinerende", koordinerende_sagsbehandler="Ny KS")
        story.complete("overdragelsesmoede", overdragelsesdato="2027-01-04")
    story.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                   indsatsplan="Plan", borger_enig_i_indsatsplan="enig",
                   indsatser=[{"maal": "Afklaring", "indsats": "Virksomhedspraktik", "leverandoer": "Praktiksted A/S",
                               "raekkefoelge": 1, "mentor": False, "status": "planlagt",
                               "planlagt_start": "2027-02-01", "faktisk_start": None, "afslag_begrundelse": None}])
    assert story.due("opfoelgningssamtale") == talk_interval
