"""Issue 8, the ressourceforløb side: dated walks through the persisted engine on SQLite
and PostgreSQL (the ``runtime`` fixture; the virtual clock starts Monday 2027-01-04 09:00).

- point 1: a next step that needs the rehabiliteringsteam starts ``rehabilitering`` when it
  is decided (RSL §7a: at least 2 weeks before the end), not when the programme ends;
- point 2: a fleksjob after a ressourceforløb goes through the team, never straight to
  ``fleksjob``;
- point 3: the first talk is counted from the decision, with the coordinator assignment
  and the handover inside that window; a municipality sets the window (bounded);
- point 6: extending (without the team, a policy switch) and ending the programme are
  decisions with a decision letter;
- interventions, milestones and the case owner: the team's indsatser travel into the
  indsatsplan with status and planned/actual start; the citizen's agreement is required;
  "the team wants to see the case again" returns it to the team; koordinator_tildelt,
  foerste_samtale_rf and foerste_indsats_startet are recorded; the coordinator who takes
  the case over owns it and gets the talks.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inbox import create_app
from processes.errors import InvalidInput
from processes.letters import letter_data, render_letter
from processes.models import Case, HumanTask, Message, Milestone, Outbox, User
from processes.policy import BY_KEY, check_policy
from sagsflow.cli import main
from test_inbox import Browser
from walk import Walk, local_date

DECISION = {"afgoerelsesdato": "2027-01-04", "indstilling": "ressourceforloeb", "indsatser": [],
            "teamet_vil_se_sagen_igen": False, "ejer": None}


def rf_case(runtime, municipality: str, decision: dict | None = None, cpr: str = "010190-1234") -> Walk:
    return Walk(runtime, municipality, "ressourceforloeb", {"overdragelse": dict(DECISION, **(decision or {}))},
                cpr=cpr)


PRAKTIK = {"maal": "Afklaring af arbejdsevne", "indsats": "Virksomhedspraktik", "leverandoer": "Praktiksted A/S",
           "raekkefoelge": 1, "mentor": False, "status": "planlagt", "planlagt_start": "2027-02-01",
           "faktisk_start": None, "afslag_begrundelse": None}


def first_talk(case: Walk, day: str, start: str, varighed: str = "P1Y") -> None:
    case.at(day)
    case.complete("foerste_samtale", samtaledato=day, forloeb_start=start, varighed=varighed,
                  indsatsplan="Virksomhedspraktik", borger_enig_i_indsatsplan="enig", indsatser=[PRAKTIK])


def messages(case: Walk, name: str) -> list[Message]:
    with case.rt.sessions() as s:
        return list(s.scalars(select(Message).where(Message.case_id == case.case_id, Message.name == name)
                              .order_by(Message.id)))


def set_policy(runtime, municipality: str, *assignments: str, code: int = 0):
    result = CliRunner().invoke(main, ["--database-url", runtime.url, "policy", "set", municipality, *assignments,
                                       "--effective-from", "2027-01-04", "--user", f"{municipality}.admin"],
                                catch_exceptions=False)
    assert result.exit_code == code, result.output + result.stderr
    return result


def rendered_letters(case: Walk) -> list:
    with case.rt.sessions() as s:
        items = list(s.scalars(select(Outbox).where(Outbox.case_id == case.case_id, Outbox.kind == "letter")
                               .order_by(Outbox.id)))
        return [render_letter(s, case.rt.engine.specs, item, local_date(item.created_at)) for item in items]


# ----------------------------------------------------------------------------- point 1
def test_team_hand_off_starts_rehabilitering_when_the_next_step_is_decided(runtime):
    case = rf_case(runtime, "aaby")
    first_talk(case, "2027-01-11", "2027-01-11")          # ends 2028-01-11; §7a task 6 weeks before
    case.at("2027-11-30")
    assert case.ready(process="ressourceforloeb")["beslut_naeste_skridt"] == "koordinerende_sagsbehandler"
    case.at("2027-12-01")
    case.complete("beslut_naeste_skridt", naeste_skridt="ny_rehabilitering", naeste_skridt_dato="2027-12-01",
                  naeste_skridt_begrundelse="Behov for et nyt ressourceforløb")
    # the team gets the case now, 6 weeks before the end, while the programme still runs
    assert case.instances() == [("ressourceforloeb", "running"), ("rehabilitering", "running")]
    assert case.ready(process="rehabilitering")
    [handoff] = messages(case, "start_rehabilitering")
    assert local_date(handoff.created_at) == "2027-12-01"
    assert handoff.payload == {
        "fra": "ressourceforloeb", "fra_ressourceforloeb": True, "oprindelig_ydelse": "ressourceforloebsydelse",
        "rf_slutdato": "2028-01-11", "naeste_skridt": "ny_rehabilitering",
        "begrundelse": "Behov for et nyt ressourceforløb", "indsatser": [PRAKTIK]}
    assert case.timers(process="ressourceforloeb")["udloeb"] == "2028-01-11"
    case.end_of("2028-01-11")
    # the programme ran to its end; the end starts nothing a second time
    assert case.instances() == [("ressourceforloeb", "completed"), ("rehabilitering", "running")]
    assert len(messages(case, "start_rehabilitering")) == 1


# ----------------------------------------------------------------------------- point 2
def ended_early_towards_fleksjob(runtime) -> Walk:
    """Aaby: a programme from 2027-01-11 ends early on 2027-03-01; the next step is a fleksjob."""
    case = rf_case(runtime, "aaby")
    first_talk(case, "2027-01-11", "2027-01-11")
    case.at("2027-03-01")
    case.complete("opfoelgningssamtale", samtaledato="2027-03-01", progression="Klar til fleksjob",
                  afslut_tidligt=True)
    case.complete("beslut_naeste_skridt", naeste_skridt="fleksjob", naeste_skridt_dato="2027-03-01",
                  naeste_skridt_begrundelse="Varigt nedsat arbejdsevne; fleksjob bør vurderes")
    return case


def test_fleksjob_after_a_ressourceforloeb_goes_through_the_team(runtime):
    case = ended_early_towards_fleksjob(runtime)
    assert case.instances() == [("ressourceforloeb", "completed"), ("rehabilitering", "running")]
    assert messages(case, "start_fleksjob") == []
    [handoff] = messages(case, "start_rehabilitering")
    assert (handoff.payload["naeste_skridt"], handoff.payload["rf_slutdato"]) == ("fleksjob", "2028-01-11")
    assert "visitationsdato" not in handoff.payload     # the visitation is the team case's decision


def test_fleksjob_first_talk_runs_from_the_visitation_of_the_new_team_case(runtime):
    """Aaby: the RF ends early 2027-03-01 towards a fleksjob; the team meets 2027-03-29 and the
    jobcentre's representative visitates that day; the first fleksjob talk is due 3 weeks
    after that decision (2027-04-19), not after the RF's own decision."""
    case = ended_early_towards_fleksjob(runtime)
    case.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    case.at("2027-03-08")
    case.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    case.complete("forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
                  underskriftsdato="2027-03-08")
    case.complete("book_moede", bookingdato="2027-03-08", moededato="2027-03-29")
    case.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Kan arbejde 12 timer")
    case.at("2027-03-25")
    case.complete("forbered_borger", forberedende_samtale_dato="2027-03-25", samtale_sagen=True,
                  samtale_udfald=True, samtale_bisidder=True)
    case.at("2027-03-29")
    case.complete("rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=True, sagsbehandler_deltog=True,
                  indstilling="fleksjob", indstilling_begrundelse="Praktikken viser varigt nedsat arbejdsevne")
    case.complete("skriv_indstilling", indstillingsdato="2027-03-29", indstilling_tekst="Fleksjob",
                  jobtyper="Lager og pakning", skaanehensyn="Ingen tunge løft; 12 timer om ugen")
    assert messages(case, "start_fleksjob") == []           # no fleksjob before the decision
    case.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, afgoerelse="fleksjob",
                  afgoerelsesdato="2027-03-29", afgoerelse_begrundelse="Teamets indstilling følges")
    assert [p for p, _ in case.instances()] == ["ressourceforloeb", "rehabilitering", "fleksjob"]
    [visitation] = messages(case, "start_fleksjob")
    assert visitation.payload["visitationsdato"] == "2027-03-29"
    assert case.due("foerste_samtale") == "2027-04-19"


# ----------------------------------------------------------------------------- point 3
def test_first_talk_is_counted_from_the_decision_with_assignment_and_handover_inside(runtime):
    """Bøgeby (new coordinator, first talk within 6 weeks of the decision): the decision of
    2026-12-21 puts assignment, handover and first talk all due 2027-02-01, however long
    the assignment takes; Aaby's window is the default 4 weeks."""
    case = rf_case(runtime, "boegeby", {"afgoerelsesdato": "2026-12-21"})
    assert case.ready() == {"tildel_koordinerende": "teamleder"}
    assert case.due("tildel_koordinerende") == "2027-02-01"
    case.at("2027-01-20")
    case.complete("tildel_koordinerende", koordinerende_sagsbehandler="Ny KS")
    assert case.due("overdragelsesmoede") == "2027-02-01"
    case.at("2027-01-27")
    case.complete("overdragelsesmoede", overdragelsesdato="2027-01-27")
    assert case.ready() == {"foerste_samtale": "koordinerende_sagsbehandler"}
    assert case.due("foerste_samtale") == "2027-02-01"          # not 2 weeks after the handover
    case.at("2027-02-01", hour=16)
    assert "eskaler_foerste_samtale" not in case.ready()
    case.end_of("2027-02-01")
    assert case.ready() == {"foerste_samtale": "koordinerende_sagsbehandler", "eskaler_foerste_samtale": "teamleder"}

    aaby = rf_case(runtime, "aaby", {"afgoerelsesdato": "2027-02-01"}, cpr="020290-2345")
    assert aaby.due("foerste_samtale") == "2027-03-01"


def test_first_talk_window_is_a_municipal_policy_bounded_by_the_talk_interval(runtime):
    param = BY_KEY["rf_foerste_samtale_efter_afgoerelse"]
    assert (param.case_type, param.default, param.at_most) == ("ressourceforloeb", "P4W", "P2M")
    assert check_policy({"rf_foerste_samtale_efter_afgoerelse": "P8W"}) == []
    result = set_policy(runtime, "aaby", "rf_foerste_samtale_efter_afgoerelse=P3M", code=6)
    assert result.stderr == (
        "error: ressourceforloeb: first talk (coordinator assigned and handover included) counted from the "
        "decision; never later than the statutory talk interval (at least 6 talks a year) (P2M); got P3M\n")
    set_policy(runtime, "aaby", "rf_foerste_samtale_efter_afgoerelse=P2W")
    case = rf_case(runtime, "aaby", {"afgoerelsesdato": "2027-01-04"})
    assert case.due("foerste_samtale") == "2027-01-18"


# ----------------------------------------------------------------------------- point 6
def test_extension_without_the_team_is_decided_before_the_end_with_a_letter(runtime):
    set_policy(runtime, "aaby", "rf_forlaengelse_uden_team=true")
    case = rf_case(runtime, "aaby")
    first_talk(case, "2027-01-11", "2027-01-11")
    case.at("2027-11-30")
    case.complete("beslut_naeste_skridt", naeste_skridt="forlaengelse", naeste_skridt_dato="2027-11-30")
    assert case.ready(process="ressourceforloeb")["forlaeng_forloeb"] == "koordinerende_sagsbehandler"
    case.complete("forlaeng_forloeb", afgoerelse="forlaengelse", forlaengelse_varighed="P1Y",
                  indsatsplan="Praktikken fortsætter", indsatser=[PRAKTIK],
                  afgoerelse_begrundelse="Tydelig progression i praktikken", afgoerelsesdato="2027-11-30")
    assert messages(case, "start_rehabilitering") == []        # no team
    letter = rendered_letters(case)[-1]
    assert letter.template == "afgoerelse"
    assert "30. november 2027" in letter.body and "Tydelig progression i praktikken" in letter.body
    assert "Ressourceforløbet forlænges" in letter.body and ">forlaengelse<" not in letter.body
    assert "Klagevejledning" in letter.body
    case.end_of("2028-01-11")
    # the extension runs on from the old end date: next §7a task 6 weeks before 2029-01-11
    assert case.timers(process="ressourceforloeb")["varsel_udloeb"] == "2028-11-30"
    assert case.instances() == [("ressourceforloeb", "running")]


def test_ending_the_programme_is_a_decision_with_a_letter(runtime):
    case = rf_case(runtime, "aaby")
    first_talk(case, "2027-01-11", "2027-01-11")
    case.at("2027-06-01")
    case.complete("opfoelgningssamtale", samtaledato="2027-06-01", progression="Ordinært job fra 1. juli",
                  afslut_tidligt=True)
    case.complete("beslut_naeste_skridt", naeste_skridt="afslut", naeste_skridt_dato="2027-06-01")
    assert case.ready()["afgoer_ophoer"] == "koordinerende_sagsbehandler"
    assert case.instances() == [("ressourceforloeb", "running")]
    case.complete("afgoer_ophoer", afgoerelse="ophoer", afgoerelse_begrundelse="Borgeren er ansat i ordinært job",
                  afgoerelsesdato="2027-06-01")
    assert case.instances() == [("ressourceforloeb", "completed")]
    letter = rendered_letters(case)[-1]
    assert letter.template == "afgoerelse"
    assert "1. juni 2027" in letter.body and "Borgeren er ansat i ordinært job" in letter.body
    assert "Ressourceforløbet ophører" in letter.body and "Klagevejledning" in letter.body
    assert messages(case, "start_rehabilitering") == []


# ----------------------------------------------------------------------------- interventions, milestones, owner
INDSATS = {"maal": "Afklaring af arbejdsevne", "indsats": "Virksomhedspraktik", "leverandoer": "Praktiksted A/S",
           "raekkefoelge": 1, "mentor": False}
MENTOR = {"maal": "Stabil hverdag", "indsats": "Mentorstøtte", "leverandoer": "Mentorhuset", "raekkefoelge": 2,
          "mentor": True}


def plan_item(item: dict, status: str, planlagt: str | None = None, faktisk: str | None = None,
              afslag: str | None = None) -> dict:
    return dict(item, status=status, planlagt_start=planlagt, faktisk_start=faktisk, afslag_begrundelse=afslag)


def milestones(case: Walk) -> list[tuple[str, str]]:
    """The case's plain milestones (not those per intervention: :func:`item_milestones`)."""
    with case.rt.sessions() as s:
        return [(m.key, m.date.isoformat()) for m in s.scalars(
            select(Milestone).where(Milestone.case_id == case.case_id, Milestone.item == "").order_by(Milestone.id))]


def item_milestones(case: Walk) -> list[tuple[str, str, str]]:
    with case.rt.sessions() as s:
        return [(m.key, m.item, m.date.isoformat()) for m in s.scalars(
            select(Milestone).where(Milestone.case_id == case.case_id, Milestone.item != "").order_by(Milestone.id))]


def owner(case: Walk) -> str | None:
    with case.rt.sessions() as s:
        owner_id = s.get(Case, case.case_id).owner_id
        return s.get(User, owner_id).username if owner_id else None


def open_task(case: Walk, bpmn_id: str) -> HumanTask:
    with case.rt.sessions() as s:
        return s.scalar(select(HumanTask).where(HumanTask.case_id == case.case_id, HumanTask.bpmn_id == bpmn_id,
                                                HumanTask.state == "open"))


def process_data(case: Walk, task: HumanTask) -> dict:
    with case.rt.sessions() as s:
        data, _labels = letter_data(s, case.rt.engine.specs, task.instance_id, task.task_guid)
        return data


def user_id(case: Walk, username: str) -> int:
    with case.rt.sessions() as s:
        return s.scalar(select(User.id).where(User.username == username))


def test_the_teams_interventions_travel_into_the_plan_with_milestones_and_owner(runtime):
    """Bøgeby: the teamleder assigns 2027-01-06, the new coordinator takes the case over at the
    handover 2027-01-08 and owns the talks; the first talk of 2027-01-14 plans the team's
    interventions; the first actual start (2027-02-03) is the milestone, recorded once."""
    case = rf_case(runtime, "boegeby", {"indsatser": [INDSATS, MENTOR]})
    case.at("2027-01-06")
    case.complete("tildel_koordinerende", koordinerende_sagsbehandler="Ny KS")
    case.at("2027-01-08")
    case.complete("overdragelsesmoede", overdragelsesdato="2027-01-08")
    coordinator = "boegeby.koordinerende_sagsbehandler"
    assert owner(case) == coordinator
    assert open_task(case, "foerste_samtale").claimed_by_id == user_id(case, coordinator)
    # the team's interventions are in the plan the first talk opens with, each granted
    assert process_data(case, open_task(case, "foerste_samtale"))["indsatser"] == [
        plan_item(INDSATS, "bevilget"), plan_item(MENTOR, "bevilget")]
    case.at("2027-01-15")
    case.complete("foerste_samtale", samtaledato="2027-01-14", forloeb_start="2027-01-15", varighed="P1Y",
                  indsatsplan="Praktik fra februar", borger_enig_i_indsatsplan="enig",
                  indsatser=[plan_item(INDSATS, "planlagt", "2027-02-01"),
                             plan_item(MENTOR, "afslaaet", afslag="Ingen ledig mentor før efteråret")])
    assert milestones(case) == [("koordinator_tildelt", "2027-01-06"), ("foerste_samtale_rf", "2027-01-14")]
    # per intervention (issue 10's funnel): the practice is in the plan (dated by the talk);
    # the refused mentor is not
    assert item_milestones(case) == [("indsats_planlagt", "Virksomhedspraktik", "2027-01-14")]
    assert open_task(case, "opfoelgningssamtale").claimed_by_id == user_id(case, coordinator)
    for day, items in (("2027-03-01", [plan_item(INDSATS, "startet", "2027-02-01", "2027-02-03"),
                                       plan_item(MENTOR, "planlagt", "2027-09-01")]),
                       ("2027-04-26", [plan_item(INDSATS, "startet", "2027-02-01", "2027-02-03"),
                                       plan_item(MENTOR, "startet", "2027-09-01", "2027-04-19")])):
        case.at(day)
        case.complete("opfoelgningssamtale", samtaledato=day, progression="Praktikken er i gang",
                      plan_revideres=True)
        case.complete("revider_plan", indsatsplan="Revideret", indsatser=items)
    assert milestones(case) == [("koordinator_tildelt", "2027-01-06"), ("foerste_samtale_rf", "2027-01-14"),
                                ("foerste_indsats_startet", "2027-02-03")]
    # every revision records what the plan holds and what started, each start on its own
    # date; the measures read the first recording per intervention
    assert item_milestones(case) == [
        ("indsats_planlagt", "Virksomhedspraktik", "2027-01-14"),
        ("indsats_planlagt", "Virksomhedspraktik", "2027-03-01"), ("indsats_planlagt", "Mentorstøtte", "2027-03-01"),
        ("indsats_startet", "Virksomhedspraktik", "2027-02-03"),
        ("indsats_planlagt", "Virksomhedspraktik", "2027-04-26"), ("indsats_planlagt", "Mentorstøtte", "2027-04-26"),
        ("indsats_startet", "Virksomhedspraktik", "2027-02-03"), ("indsats_startet", "Mentorstøtte", "2027-04-19")]


def test_the_plan_forms_open_with_the_interventions_the_process_holds(runtime):
    """The coordinator does not retype the team's interventions: the first talk's form opens
    with them (granted), and a plan revision opens with the plan as it stands."""
    case = rf_case(runtime, "aaby", {"indsatser": [INDSATS, MENTOR]})
    talk = open_task(case, "foerste_samtale")
    assert talk.data == {"indsatser": [plan_item(INDSATS, "bevilget"), plan_item(MENTOR, "bevilget")]}
    page = Browser(create_app(runtime, TESTING=True), "aaby.koordinerende_sagsbehandler")
    html = page.get(f"/opgaver/{talk.id}").get_data(as_text=True)
    assert 'value="Virksomhedspraktik"' in html and 'value="Mentorhuset"' in html
    planned = [plan_item(INDSATS, "planlagt", "2027-02-01"), plan_item(MENTOR, "afslaaet", afslag="Venteliste")]
    case.at("2027-01-11")
    case.complete("foerste_samtale", samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="P1Y",
                  indsatsplan="Praktik fra februar", borger_enig_i_indsatsplan="enig", indsatser=planned)
    case.at("2027-02-08")
    case.complete("opfoelgningssamtale", samtaledato="2027-02-08", plan_revideres=True)
    assert open_task(case, "revider_plan").data == {"indsatser": planned, "indsatsplan": "Praktik fra februar"}


def test_same_caseworker_continues_as_coordinator_from_the_start(runtime):
    case = rf_case(runtime, "aaby", {"afgoerelsesdato": "2027-01-04"})
    assert milestones(case) == [("koordinator_tildelt", "2027-01-04")]


def test_first_talk_needs_the_citizens_agreement_and_a_complete_plan(runtime):
    case = rf_case(runtime, "aaby", {"indsatser": [INDSATS]})
    case.at("2027-01-11")
    form = dict(samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="P1Y", indsatsplan="Plan",
                indsatser=[plan_item(INDSATS, "planlagt", "2027-02-01")])
    refusals = [
        (form, "borger_enig_i_indsatsplan"),
        (dict(form, borger_enig_i_indsatsplan="uenig"), "borger_bemaerkninger"),
        (dict(form, borger_enig_i_indsatsplan="enig", indsatser=[plan_item(INDSATS, "startet")]), "indsatser"),
        (dict(form, borger_enig_i_indsatsplan="enig", indsatser=[plan_item(INDSATS, "afslaaet")]), "indsatser"),
        (dict(form, borger_enig_i_indsatsplan="enig", samtaledato="2027-01-12"), "samtaledato"),   # future
    ]
    for data, field in refusals:
        with pytest.raises(InvalidInput) as refused:
            case.complete("foerste_samtale", **data)
        assert field in str(refused.value)
    assert case.ready() == {"foerste_samtale": "koordinerende_sagsbehandler"}
    assert milestones(case) == [("koordinator_tildelt", "2027-01-04")]          # nothing stored
    case.complete("foerste_samtale", **dict(form, borger_enig_i_indsatsplan="uenig",
                                            borger_bemaerkninger="Ønsker færre timer i praktikken"))
    assert milestones(case)[-1] == ("foerste_samtale_rf", "2027-01-11")


def test_team_wants_to_see_the_case_again_returns_it_to_the_team(runtime):
    case = rf_case(runtime, "aaby", {"indsatser": [INDSATS], "teamet_vil_se_sagen_igen": True})
    case.at("2027-01-11")
    with pytest.raises(InvalidInput) as refused:          # the team wants it back: when?
        case.complete("foerste_samtale", samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="P1Y",
                      indsatsplan="Plan", borger_enig_i_indsatsplan="enig",
                      indsatser=[plan_item(INDSATS, "planlagt", "2027-02-01")])
    assert "genforelaeggelse_dato" in str(refused.value)
    case.complete("foerste_samtale", samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="P1Y",
                  indsatsplan="Plan", borger_enig_i_indsatsplan="enig", genforelaeggelse_dato="2027-07-01",
                  indsatser=[plan_item(INDSATS, "planlagt", "2027-02-01")])
    case.at("2027-06-30")
    assert [p for p, _ in case.instances()] == ["ressourceforloeb"]
    case.at("2027-07-01")
    assert case.instances() == [("ressourceforloeb", "running"), ("rehabilitering", "running")]
    [handoff] = messages(case, "start_rehabilitering")
    assert local_date(handoff.created_at) == "2027-07-01"
    assert (handoff.payload["naeste_skridt"], handoff.payload["rf_slutdato"]) == ("genforelaeggelse", "2028-01-11")
    assert handoff.payload["indsatser"] == [plan_item(INDSATS, "planlagt", "2027-02-01")]
