"""Each process walked through the persisted engine on the virtual clock, on SQLite and
PostgreSQL: which task lands in which role's inbox, and on which date each deadline falls.
Every step is loaded from and saved to the database (a save/restore round trip)."""
from walk import Walk


def test_fleksjob_issue_example(runtime):
    """Visitation 2027-01-04: first talk due 2027-01-25, escalation to teamleder after it;
    the job starts the same day, so the 2½-year follow-up is due 2029-07-04."""
    case = Walk(runtime, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    assert case.ready() == {"foerste_samtale": "sagsbehandler"}
    assert case.due("foerste_samtale") == "2027-01-25"
    assert case.timers() == {"frist_foerste_samtale": "2027-01-25"}
    assert case.templates() == ["indkaldelse_samtale"]
    case.at("2027-01-25", hour=16)
    assert case.ready() == {"foerste_samtale": "sagsbehandler"}       # still on time on the due day
    case.end_of("2027-01-25")
    assert case.ready() == {"foerste_samtale": "sagsbehandler", "eskaler_foerste_samtale": "teamleder"}
    case.complete("eskaler_foerste_samtale", eskalering_handling="rykket")
    case.complete("foerste_samtale", samtaledato="2027-01-26", situation="job")
    assert case.ready() == {"registrer_ansaettelse": "virksomhedskonsulent"}
    case.complete("registrer_ansaettelse", ansaettelse_start="2027-01-04", arbejdsgiver="Virksomhed A/S",
                  ugentlige_timer=15)
    case.complete("beregn_fleksloentilskud", tilskud_fra="2027-01-04", fleksloentilskud=14000,
                  afgoerelsesdato="2027-01-26", afgoerelse_begrundelse="Løn og timer som aftalt")
    assert case.ready() == {"opfoelgning_fleksjob": "sagsbehandler"}
    assert case.due("opfoelgning_fleksjob") == "2029-07-04"
    assert case.timers() == {"frist_opfoelgning_fleksjob": "2029-07-04", "status_tid": "2031-07-04"}
    case.at("2029-06-01")
    case.complete("opfoelgning_fleksjob", samtaledato="2029-06-01", fleksjob_status="fortsaetter")
    # issue 8 point 10: the next personal talk is due 2½ years after this one
    assert case.due("opfoelgning_fleksjob") == "2031-12-01"
    case.end_of("2031-07-04")
    assert case.ready() == {"status_fleksjob": "sagsbehandler",       # status after 4½ years
                            "opfoelgning_fleksjob": "sagsbehandler"}
    case.complete("status_fleksjob", status_udfald="fortsat", status_begrundelse="Uændret arbejdsevne")
    assert case.timers() == {"periode_slut": "2032-01-04",            # 5 years from the job start
                             "frist_opfoelgning_fleksjob": "2031-12-01"}
    case.at("2031-11-20")
    case.complete("opfoelgning_fleksjob", samtaledato="2031-11-20", fleksjob_status="fortsaetter")
    case.end_of("2032-01-04")
    assert case.ready() == {"ny_bevilling": "sagsbehandler"}          # decide the next period
    case.complete("ny_bevilling", afgoerelse="permanent", afgoerelsesdato="2032-01-05",
                  afgoerelse_begrundelse="Over 40 år og fortsat berettiget", seneste_opfoelgning="2031-11-20")
    # a permanent fleksjob keeps its 2½-year personal talks
    assert case.instances() == [("fleksjob", "running")]
    assert case.ready() == {"opfoelgning_fleksjob": "sagsbehandler"}
    assert case.due("opfoelgning_fleksjob") == "2034-05-20"


def test_sygedagpenge_every_four_weeks_hands_over_to_rehabilitering(runtime):
    case = Walk(runtime, "aaby", "sygedagpenge")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-02-01"}
    case.end_of("2027-02-01")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler", "eskaler_opfoelgningssamtale": "teamleder"}
    case.complete("eskaler_opfoelgningssamtale", eskalering_handling="rykket")
    case.at("2027-02-02")
    case.complete("opfoelgningssamtale", samtaledato="2027-02-02", uarbejdsdygtighed="fuld", forloeb="fortsaet")
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-03-02"}
    case.complete("opfoelgningssamtale", samtaledato="2027-02-02", uarbejdsdygtighed="delvis",
                  vurdering="Behov for afklaring", forloeb="rehabilitering")
    # the hand-off message starts Aaby's rehabilitering in the same case
    assert case.instances() == [("sygedagpenge", "completed"), ("rehabilitering", "running")]
    assert case.ready() == {"vurder_rute": "sagsbehandler"}


def test_foertidspension_three_weeks_three_months_and_delay_letter(runtime):
    case = Walk(runtime, "boegeby", "foertidspension", {"overdragelse": {"indstillingsdato": "2027-01-04"}})
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler"}
    assert case.due("oversend_til_pensionsteam") == "2027-01-25"
    case.end_of("2027-01-25")
    assert case.ready()["eskaler_oversend_til_pensionsteam"] == "teamleder"
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-26", pensionstype="ordinaer")
    assert case.templates() == ["oversendelse_pension"]
    assert case.ready(process="foertidspension") == {"tilbyd_moede": "pensionsteam",
                                                     "eskaler_oversend_til_pensionsteam": "teamleder"}
    # issue 8: the delay letter is assessed 2 weeks before the 3 months run out, not at the deadline
    assert case.timers() == {"frist_behandling_pensionsteam": "2027-04-26", "varsel_forsinkelse": "2027-04-12"}
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-26", moede_oensket=True, moede_dato="2027-03-01")
    case.end_of("2027-04-11")
    assert "vurder_forsinkelse" not in case.ready()
    case.end_of("2027-04-12")
    case.complete("vurder_forsinkelse", fristen_holdes="nej", forsinkelse_aarsag="Afventer speciallæge",
                  forventet_afgoerelsesdato="2027-05-31")
    assert case.templates() == ["oversendelse_pension", "forsinkelse"]
    case.end_of("2027-04-26")
    assert case.ready()["eskaler_behandling_pensionsteam"] == "teamleder"
    case.complete("moede_med_borger", moede_holdt_dato="2027-04-27", moede_referat="Borgeren uddybede")
    case.end_of("2027-05-11")
    case.complete("afgoer_foertidspension", afgoerelse="tilkendt", afgoerelsesdato="2027-05-12",
                  afgoerelse_begrundelse="Varigt nedsat arbejdsevne")
    assert case.templates() == ["oversendelse_pension", "forsinkelse", "partshoering", "afgoerelse"]


def test_ressourceforloeb_follow_up_loop_and_rsl_7a(runtime):
    case = Walk(runtime, "boegeby", "ressourceforloeb", {"overdragelse": {"afgoerelsesdato": "2027-01-04"}})
    # Bøgeby: a new koordinerende sagsbehandler takes over after a handover meeting
    assert case.ready() == {"tildel_koordinerende": "teamleder"}
    case.complete("tildel_koordinerende", koordinerende_sagsbehandler="Ny KS")
    case.at("2027-01-06")  # the handover meeting's date is a fact (past_only): entered on the day
    case.complete("overdragelsesmoede", overdragelsesdato="2027-01-06")
    assert case.ready() == {"foerste_samtale": "koordinerende_sagsbehandler"}
    case.at("2027-01-11")
    case.complete("foerste_samtale", samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="standard",
                  indsatsplan="Praktik og behandling", borger_enig_i_indsatsplan="enig",
                  indsatser=[{"maal": "Afklaring", "indsats": "Virksomhedspraktik", "leverandoer": "Praktiksted A/S",
                              "raekkefoelge": 1, "mentor": False, "status": "planlagt",
                              "planlagt_start": "2027-02-01", "faktisk_start": None, "afslag_begrundelse": None}])
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-03-11", "varsel_udloeb": "2027-11-30"}
    for day in ["2027-03-10", "2027-05-10", "2027-07-09", "2027-09-08", "2027-11-05"]:
        case.at(day)
        case.complete("opfoelgningssamtale", samtaledato=day, progression="OK")
    case.end_of("2027-11-30")
    assert case.ready()["beslut_naeste_skridt"] == "koordinerende_sagsbehandler"
    assert case.due("beslut_naeste_skridt") == "2027-12-28"             # 2 weeks before 2028-01-11
    case.end_of("2027-12-28")
    assert case.ready()["eskaler_beslut_naeste_skridt"] == "teamleder"
    case.complete("beslut_naeste_skridt", naeste_skridt="ny_rehabilitering", naeste_skridt_dato="2027-12-29",
                  naeste_skridt_begrundelse="Fleksjob bør vurderes")
    assert case.timers()["udloeb"] == "2028-01-11"
    case.end_of("2028-01-11")
    assert ("rehabilitering", "running") in case.instances()


def test_ressourceforloeb_talks_count_from_the_last_talk_not_from_when_the_next_task_opens(runtime):
    """Ressourceforløb (talks every 2 months): the next talk is due the interval after the date
    of the last talk, as the inbox shows it. A plan revision closed weeks after the talk,
    or a talk recorded (back-dated) weeks after it was held, does not push the next one out."""
    praktik = {"maal": "Job", "indsats": "Praktik", "leverandoer": "Praktiksted A/S", "raekkefoelge": 1,
               "mentor": False, "status": "planlagt", "planlagt_start": "2027-05-01", "faktisk_start": None,
               "afslag_begrundelse": None}
    rf = Walk(runtime, "cederholm", "ressourceforloeb", {"overdragelse": {"afgoerelsesdato": "2027-01-04"}})
    rf.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                indsatsplan="Plan", borger_enig_i_indsatsplan="enig", indsatser=[praktik])
    assert rf.due("opfoelgningssamtale") == "2027-03-04"        # 2 months after the first talk
    rf.at("2027-03-01")
    rf.complete("opfoelgningssamtale", samtaledato="2027-03-01", plan_revideres=True)
    rf.at("2027-04-15")                                          # the revision has no deadline of its own
    rf.complete("revider_plan", indsatsplan="Revideret plan", indsatser=[praktik])
    assert rf.due("opfoelgningssamtale") == "2027-05-01"        # not 2027-06-15 (2 months after the revision)
    assert rf.timers()["frist_opfoelgningssamtale"] == "2027-05-01"
    rf.at("2027-06-10")
    assert rf.ready()["eskaler_opfoelgningssamtale"] == "teamleder"
    rf.complete("opfoelgningssamtale", samtaledato="2027-05-01")  # held 1 May, recorded 10 June
    assert rf.due("opfoelgningssamtale") == "2027-07-01"        # not 2027-08-10


def test_sygedagpenge_talks_and_status_certificates_count_from_the_last_follow_up(runtime):
    """The same for sygedagpenge: every 4 weeks from the last talk's date, under standby from
    the last status certificate's; the first talk 4 weeks after the case started."""
    sdp = Walk(runtime, "cederholm", "sygedagpenge")
    assert sdp.due("opfoelgningssamtale") == "2027-02-01"       # the first talk: 4 weeks after the start
    sdp.at("2027-01-20")
    sdp.complete("opfoelgningssamtale", samtaledato="2027-01-05", uarbejdsdygtighed="fuld", forloeb="fortsaet")
    assert sdp.due("opfoelgningssamtale") == "2027-02-02"       # held 5 January: not 2027-02-17
    assert sdp.templates().count("indkaldelse_samtale") == 2
    sdp.at("2027-02-01")
    sdp.complete("opfoelgningssamtale", samtaledato="2027-02-01", uarbejdsdygtighed="fuld", forloeb="fortsaet",
                 standby=True)
    assert sdp.due("standby_status") == "2027-03-01"            # 4 weeks after the talk that began standby
    sdp.at("2027-03-10")
    assert sdp.ready()["eskaler_standby_status"] == "teamleder"   # the certificate's deadline has passed
    sdp.complete("standby_status", statusattest_dato="2027-02-26", standby=True, forloeb="fortsaet")
    assert sdp.due("standby_status") == "2027-03-26"            # 4 weeks after the certificate, not 2027-04-07
    sdp.at("2027-03-20")
    sdp.complete("standby_status", statusattest_dato="2027-03-20", standby=False, forloeb="fortsaet")
    assert sdp.due("opfoelgningssamtale") == "2027-04-17"       # standby ends: 4 weeks after the last certificate


def test_a_completion_answers_the_task_as_committed(runtime):
    """complete_task answers with the task built from the lock-and-load statement's columns
    (outside any ORM session) and closed by the step: every column as a fresh read of the
    committed row shows it, and the object is a plain transient HumanTask as before."""
    from sqlalchemy import inspect, select

    from processes.engine import Actor
    from processes.models import HumanTask, User

    instance = runtime.engine.start_case("boegeby", "fleksjob", "0101901234", "Borger A",
                                         {"overdragelse": {"visitationsdato": "2027-01-04"}})
    with runtime.sessions() as s:
        user = Actor.for_user(s.scalar(select(User).where(User.username == "boegeby.sagsbehandler")))
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.bpmn_id == "foerste_samtale"))
    done = runtime.engine.complete_task(task_id, {"samtaledato": "2027-01-04", "situation": "job"}, user)
    with runtime.sessions() as s:
        stored = s.get(HumanTask, task_id)
        for column in HumanTask.__table__.columns:
            assert getattr(done, column.key) == getattr(stored, column.key), column.key
    assert (done.state, done.completed_by_id, done.revision, done.replayed) == ("completed", user.user_id, 3, False)
    assert inspect(done).transient
    assert not inspect(done).attrs.state.history.has_changes()
