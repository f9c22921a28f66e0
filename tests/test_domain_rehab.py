"""Issue 8, rehabilitering side: the team recommends and the jobcentre decides, PL §20 stk. 3,
cross-field checks, complete decision data, citizen involvement, milestones and hand-offs.

Dated walks on the persisted engine (SQLite and PostgreSQL) through the reference
municipalities: Aaby (decision at the meeting), Bøgeby (written hearing, separate decision),
Cederholm (screening; fleksjob decided at the meeting, the rest in writing).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from processes.catalogue import SpecCache
from processes.errors import InvalidInput
from processes.letters import letter_data, render_letter
from processes.models import Case, HumanTask, Message, Milestone, Outbox, User
from walk import Walk

BPMN = Path(__file__).resolve().parents[1] / "bpmn"
MODELS = {None: BPMN / "shared" / "rehabilitering.bpmn",
          **{m: BPMN / "municipalities" / m / "rehabilitering.bpmn" for m in ("aaby", "boegeby", "cederholm")}}
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "camunda": "http://camunda.org/schema/1.0/bpmn"}

INDSATSER = [{"maal": "Afklaring af arbejdsevne", "indsats": "Virksomhedspraktik", "leverandoer": "Jobcentret",
              "raekkefoelge": 1, "mentor": True},
             {"maal": "Smertehåndtering", "indsats": "Smerteskole", "leverandoer": "Regionen",
              "raekkefoelge": 2, "mentor": False}]
INDSTILLING = {
    "ressourceforloeb": {"indstilling_tekst": "Ressourceforløb", "beskaeftigelsesmaal": "Job i detailhandlen",
                         "indsatser": INDSATSER, "teamet_vil_se_sagen_igen": True},
    "fleksjob": {"indstilling_tekst": "Fleksjob", "jobtyper": "Lager og pakning",
                 "skaanehensyn": "Ingen tunge løft; 12 timer om ugen"},
    "foertidspension": {"indstilling_tekst": "Arbejdsevnen er varigt og væsentligt nedsat"},
}


class Rehab(Walk):
    def refused(self, bpmn_id: str, **form) -> dict:
        """Submit a form that must be refused: return the errors; nothing is stored."""
        task = self._open(bpmn_id)
        letters = self.letters()
        with pytest.raises(InvalidInput) as refusal:
            self.engine.complete_task(task.id, form, self.user(task.role))
        assert self._open(bpmn_id).id == task.id and self.letters() == letters
        return refusal.value.errors

    def messages(self) -> list[tuple[str, dict]]:
        with self.rt.sessions() as s:
            return [(m.name, m.payload) for m in s.scalars(select(Message).where(Message.case_id == self.case_id)
                                                           .order_by(Message.id))]

    def milestones(self) -> list[tuple[str, str, str]]:
        """(key, Danish date, node) of the case's rehabilitering milestones, in order of recording."""
        with self.rt.sessions() as s:
            return [(m.key, m.date.isoformat(), m.bpmn_id) for m in s.scalars(
                select(Milestone).where(Milestone.case_id == self.case_id, Milestone.process_id == "rehabilitering")
                .order_by(Milestone.id))]

    def letter(self, template: str) -> tuple[dict, str]:
        """The process data the (first) letter of ``template`` was written from, and its text."""
        with self.rt.sessions() as s:
            row = next(o for o in s.scalars(select(Outbox).where(Outbox.case_id == self.case_id).order_by(Outbox.id))
                       if o.payload.get("template") == template)
            data, _labels = letter_data(s, SpecCache(), row.instance_id, row.payload.get("task_guid"))
            return data, render_letter(s, SpecCache(), row, date(2027, 2, 3)).body


def prepare(w: Rehab, ansoegt_om: str = "fleksjob", **route) -> None:
    """Monday 2027-01-04: the case goes to the team; the forberedende del is signed 2027-01-11."""
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om=ansoegt_om, rute="team", **route)
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-01-11")
    w.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    w.complete("forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-01-11")
    if w.municipality == "cederholm":
        w.complete("screening", screening_resultat="klar")


def book(w: Rehab) -> None:
    """Booked 2027-01-11 for Monday 2027-02-01 (21 days: Cederholm's lead time too)."""
    w.complete("book_moede", bookingdato="2027-01-11", moededato="2027-02-01")
    w.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Kan arbejde 12 timer")
    w.at("2027-01-28")
    w.complete("forbered_borger", forberedende_samtale_dato="2027-01-28", samtale_sagen=True, samtale_udfald=True,
               samtale_bisidder=True)


def meet(w: Rehab, indstilling: str) -> None:
    w.at("2027-02-01")
    w.complete("rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=True, sagsbehandler_deltog=True,
               indstilling=indstilling, indstilling_begrundelse="Helbred og skånehensyn er vægtet")


def to_indstilling(municipality: str, runtime, indstilling: str, ansoegt_om: str = "fleksjob") -> Rehab:
    w = Rehab(runtime, municipality, "rehabilitering")
    prepare(w, ansoegt_om, **({"ansoegningsdato": "2027-01-04"} if ansoegt_om == "foertidspension" else {}))
    book(w)
    meet(w, indstilling)
    assert w.ready() == {"skriv_indstilling": "moedeleder"}
    return w


# ----------------------------------------------------------------------------- point 7
@pytest.mark.parametrize("municipality, indstilling", [("aaby", "ressourceforloeb"), ("cederholm", "fleksjob")])
def test_team_recommends_and_the_jobcentre_representative_decides_after_oral_hearing(runtime, municipality,
                                                                                   indstilling):
    w = to_indstilling(municipality, runtime, indstilling)
    w.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING[indstilling])
    # the decision is the jobcentre representative's, not the team's
    assert w.ready() == {"afgoerelse_paa_moedet": "jobcenterrepraesentant"}
    decision = {"afgoerelse": indstilling, "afgoerelsesdato": "2027-02-01",
                "afgoerelse_begrundelse": "Teamets indstilling følges"}
    # oral partshøring is a confirmation that must be given, not a pre-ticked box
    assert "mundtlig_partshoering" in w.refused("afgoerelse_paa_moedet", mundtlig_partshoering=False, **decision)
    assert "mundtlig_partshoering" in w.refused("afgoerelse_paa_moedet", **decision)
    w.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, **decision)
    assert w.templates()[:2] == ["invitation_moede", "afgoerelse"]
    assert "partshoering" not in w.templates()


@pytest.mark.parametrize("municipality, indstilling, required", [
    ("boegeby", "ressourceforloeb", {"beskaeftigelsesmaal", "indsatser"}),
    ("aaby", "fleksjob", {"jobtyper", "skaanehensyn"})])
def test_the_indstilling_carries_the_content_the_law_asks_per_outcome(runtime, municipality, indstilling, required):
    w = to_indstilling(municipality, runtime, indstilling)
    errors = w.refused("skriv_indstilling", indstillingsdato="2027-02-01", indstilling_tekst="Indstilling")
    assert set(errors) == required
    # blank rows of the intervention list do not count as interventions
    if indstilling == "ressourceforloeb":
        blank = [{"maal": "", "indsats": "", "leverandoer": "", "raekkefoelge": None, "mentor": False}]
        assert "indsatser" in w.refused("skriv_indstilling", indstillingsdato="2027-02-01", indstilling_tekst="RF",
                                        beskaeftigelsesmaal="Job", indsatser=blank)
    w.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING[indstilling])
    assert "skriv_indstilling" not in w.ready()


# ----------------------------------------------------------------------------- point 8
def test_refusal_without_the_team_is_preceded_by_the_pl20_offer(runtime):
    w = Rehab(runtime, "boegeby", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="kontanthjaelp", ansoegt_om="foertidspension",
               ansoegningsdato="2027-01-04", rute="afslag_uden_team")
    assert w.ready() == {"tilbyd_samtale_uden_team": "sagsbehandler"}        # no decision task yet
    assert set(w.refused("tilbyd_samtale_uden_team", moedetilbud_svar="afslaaet")) == {"moedetilbud_dato"}
    w.at("2027-01-12")
    assert "moede_pl20_dato" in w.refused("tilbyd_samtale_uden_team", moedetilbud_dato="2027-01-05",
                                          moedetilbud_svar="holdt")
    w.complete("tilbyd_samtale_uden_team", moedetilbud_dato="2027-01-05", moedetilbud_svar="holdt",
               moede_pl20_dato="2027-01-11")
    assert w.ready() == {"afslag_uden_team": "afgoerelse"}
    assert "afgoerelse" in w.refused("afslag_uden_team", afgoerelse="afslag_fleksjob", arbejdsfunktion="Kassearbejde",
                                     afgoerelsesdato="2027-01-12", afgoerelse_begrundelse="Fuld arbejdsevne")
    w.complete("afslag_uden_team", afgoerelse="afslag_foertidspension", arbejdsfunktion="Kassearbejde",
               afgoerelsesdato="2027-01-12", afgoerelse_begrundelse="Fuld arbejdsevne")
    assert w.templates() == ["afslag"]

    # a fleksjob applicant refused without the team gets no PL §20 offer
    other = Rehab(runtime, "boegeby", "rehabilitering", cpr="020290-2345")
    other.complete("vurder_rute", oprindelig_ydelse="kontanthjaelp", ansoegt_om="fleksjob", rute="afslag_uden_team")
    assert other.ready() == {"afslag_uden_team": "afgoerelse"}


def test_rf_granted_to_an_foep_applicant_is_preceded_by_the_pl20_offer(runtime):
    w = to_indstilling("boegeby", runtime, "ressourceforloeb", ansoegt_om="foertidspension")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["ressourceforloeb"])
    assert w.ready() == {"tilbyd_samtale": "sagsbehandler"}
    assert w.templates() == ["invitation_moede"]                           # nothing sent before the offer
    w.complete("tilbyd_samtale", moedetilbud_dato="2027-02-03", moedetilbud_svar="afslaaet")
    assert w.templates() == ["invitation_moede", "partshoering"]
    w.end_of("2027-02-17")
    assert w.ready() == {"traef_afgoerelse": "afgoerelse"}
    w.at("2027-02-18")
    decision = {"enig_i_indstilling": True, "afgoerelse": "ressourceforloeb", "afgoerelsesdato": "2027-02-18",
                "afgoerelse_begrundelse": "Arbejdsevnen kan udvikles"}
    assert set(w.refused("traef_afgoerelse", **decision)) == {"arbejdsfunktion"}   # FØP refused: a work function
    w.complete("traef_afgoerelse", arbejdsfunktion="Lettere lagerarbejde", **decision)
    assert w.templates() == ["invitation_moede", "partshoering", "afgoerelse", "afslag"]


def test_written_hearing_reply_period_runs_from_the_letter_after_the_pl20_talk(runtime):
    """Bøgeby: the indstilling is written 2027-02-05 but dated to the meeting (2027-02-01); the
    PL §20 stk. 3 talk is held 2027-02-22 and the hearing letter goes out that day. Counted from
    the indstilling the reply date would be 2027-02-15, already past, and the decision would open
    at once; counted from the letter the citizen has the full 14 days."""
    w = to_indstilling("boegeby", runtime, "ressourceforloeb", ansoegt_om="foertidspension")
    w.at("2027-02-05")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING["ressourceforloeb"])
    assert w.ready() == {"tilbyd_samtale": "sagsbehandler"}
    w.at("2027-02-22")
    w.complete("tilbyd_samtale", moedetilbud_dato="2027-02-08", moedetilbud_svar="holdt",
               moede_pl20_dato="2027-02-22")
    assert w.templates() == ["invitation_moede", "partshoering"]
    data, text = w.letter("partshoering")
    assert data["partshoering_svarfrist_dato"] == "2027-03-08"             # 14 days from the letter
    assert data["partshoering_sendt"] == "2027-02-22"
    assert "senest den 8. marts 2027" in text
    assert w.timers() == {"svarfrist": "2027-03-08"}
    assert w.ready() == {}
    w.end_of("2027-03-07")
    assert w.ready() == {}                                                 # the afgørelse unit waits
    w.end_of("2027-03-08")
    assert w.ready() == {"traef_afgoerelse": "afgoerelse"}


# ----------------------------------------------------------------------------- point 13 and point 6
@pytest.mark.parametrize("municipality, too_early, first_day", [("aaby", "2027-01-24", "2027-01-25"),
                                                               ("cederholm", "2027-01-31", "2027-02-01")])
def test_meeting_date_is_checked_against_the_booking_lead_time_on_the_form(runtime, municipality, too_early,
                                                                         first_day):
    w = Rehab(runtime, municipality, "rehabilitering")
    prepare(w)
    errors = w.refused("book_moede", bookingdato="2027-01-11", moededato=too_early)
    assert errors == {"moededato": ["Mødet skal ligge mindst bookingfristen efter bookingdatoen."]}
    w.complete("book_moede", bookingdato="2027-01-11", moededato=first_day)
    assert "forbered_borger" in w.ready()


def test_cross_field_checks_on_facts_and_decisions(runtime):
    w = Rehab(runtime, "cederholm", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=True, samtykke_deling="givet")
    # LÆ 265 received tomorrow is a fact that has not happened yet
    assert set(w.refused("indhent_laegeattest", laegeattest_modtaget="2027-01-05")) == {"laegeattest_modtaget"}
    w.complete("indhent_laegeattest", laegeattest_modtaget="2027-01-04")
    w.complete("indhent_oplysninger")
    w.complete("forberedende_del", borger_medvirken="kommenteret", underskriftsdato="2027-01-04")
    # returned with remarks needs the remarks
    assert set(w.refused("screening", screening_resultat="tilbage")) == {"screening_bemaerkninger"}
    w.complete("screening", screening_resultat="tilbage", screening_bemaerkninger="Mangler helbredsoplysninger")
    assert w.ready() == {"ret_efter_screening": "sagsbehandler"}


def test_written_hearing_reply_date_and_a_decision_in_agreement_must_equal_the_indstilling(runtime):
    w = to_indstilling("boegeby", runtime, "fleksjob")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["fleksjob"])
    data, text = w.letter("partshoering")
    assert data["partshoering_svarfrist_dato"] == "2027-02-17"                 # 14 days, computed by the model
    assert "17. februar 2027" in text                                          # the letter names the reply date
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    decision = {"afgoerelsesdato": "2027-02-18", "afgoerelse_begrundelse": "Arbejdsevnen er varigt nedsat"}
    errors = w.refused("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="ressourceforloeb", **decision)
    assert errors == {"afgoerelse": ["Er du enig i indstillingen, skal afgørelsen svare til den."]}
    assert set(w.refused("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="fleksjob",
                         afgoerelsesdato="2027-02-18")) == {"afgoerelse_begrundelse"}
    w.complete("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="fleksjob", **decision)
    assert w.templates() == ["invitation_moede", "partshoering", "afgoerelse", "indkaldelse_samtale"]


# ----------------------------------------------------------------------------- citizen involvement
def test_citizen_involvement_is_recorded_and_no_meeting_without_the_citizen(runtime):
    w = Rehab(runtime, "boegeby", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    assert set(w.refused("planlaeg_forberedelse", laegeattest_noedvendig=False)) == {"samtykke_deling"}
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-01-11")
    w.complete("indhent_oplysninger")
    assert set(w.refused("forberedende_del", underskriftsdato="2027-01-11")) == {"borger_medvirken"}
    assert set(w.refused("forberedende_del", underskriftsdato="2027-01-11",
                         borger_medvirken="kunne_ikke")) == {"borger_medvirken_note"}
    w.complete("forberedende_del", underskriftsdato="2027-01-11", borger_medvirken="kunne_ikke",
               borger_medvirken_note="Indlagt; kommenteret telefonisk")
    w.complete("book_moede", bookingdato="2027-01-11", moededato="2027-02-01")
    w.complete("forbered_sundhedskoordinator")
    # the meeting does not start before the citizen has been prepared
    w.at("2027-02-01")
    assert w.ready() == {"forbered_borger": "sagsbehandler"}
    talk = {"forberedende_samtale_dato": "2027-01-28", "samtale_sagen": True, "samtale_udfald": True}
    assert set(w.refused("forbered_borger", samtale_bisidder=False, **talk)) == {"samtale_bisidder"}
    w.complete("forbered_borger", samtale_bisidder=True, **talk)
    assert w.ready() == {"rehabiliteringsmoede": "rehabiliteringsteam"}
    # the citizen did not come: no indstilling, the meeting is postponed and booked again
    absent = {"borger_deltog": False, "sagsbehandler_deltog": True, "indstilling_begrundelse": "Borgeren udeblev"}
    assert set(w.refused("rehabiliteringsmoede", indstilling="fleksjob", **absent)) == {"indstilling"}
    w.complete("rehabiliteringsmoede", indstilling="udsaettelse", **absent)
    assert w.ready() == {"book_moede": "sekretariat"}
    assert "moede_holdt" not in [key for key, _, _ in w.milestones()]       # no meeting was held


def test_milestones_are_recorded_with_their_dates(runtime):
    w = to_indstilling("boegeby", runtime, "fleksjob")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["fleksjob"])
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    w.complete("traef_afgoerelse", enig_i_indstilling=True, afgoerelse="fleksjob", afgoerelsesdato="2027-02-18",
               afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    assert w.milestones() == [
        ("forberedelse_startet", "2027-01-04", "planlaeg_forberedelse"),
        ("forberedende_del_underskrevet", "2027-01-11", "forberedende_del"),
        ("moede_holdt", "2027-02-01", "moede_holdt"),
        ("indstilling_afgivet", "2027-02-03", "skriv_indstilling"),
        ("afgoerelse", "2027-02-18", "traef_afgoerelse"),
    ]


def test_the_preparing_caseworker_owns_the_case_and_gets_the_caseworker_tasks(runtime):
    w = Rehab(runtime, "cederholm", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    with runtime.sessions() as s:
        caseworker = s.scalar(select(User.id).where(User.username == "cederholm.sagsbehandler"))
        assert s.get(Case, w.case_id).owner_id == caseworker
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, sundhedskoordinator_raadgivning=True,
               samtykke_deling="givet")
    with runtime.sessions() as s:
        claimed = {t.bpmn_id: t.claimed_by_id for t in s.scalars(
            select(HumanTask).where(HumanTask.case_id == w.case_id, HumanTask.state == "open"))}
    assert claimed == {"indhent_oplysninger": caseworker, "forberedende_del": caseworker,
                       "sundhedsfaglig_raadgivning": None}


# ----------------------------------------------------------------------------- hand-offs (contract §6)
def test_rf_decision_hands_over_the_structured_interventions(runtime):
    w = to_indstilling("aaby", runtime, "ressourceforloeb")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-01", **INDSTILLING["ressourceforloeb"])
    w.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, afgoerelse="ressourceforloeb",
               afgoerelsesdato="2027-02-01", afgoerelse_begrundelse="Teamets indstilling følges")
    (name, payload), = w.messages()
    assert name == "start_ressourceforloeb"
    assert payload == {"fra": "rehabilitering", "afgoerelsesdato": "2027-02-01", "indstilling": "ressourceforloeb",
                       "beskaeftigelsesmaal": "Job i detailhandlen", "indsatser": INDSATSER,
                       "teamet_vil_se_sagen_igen": True, "ejer": payload["ejer"]}
    assert [p for p, _ in w.instances()] == ["rehabilitering", "ressourceforloeb"]
    # issue 10's funnel: the indstilling records each recommended intervention, dated by it
    with runtime.sessions() as s:
        rows = [(m.key, m.item, m.date.isoformat()) for m in s.scalars(
            select(Milestone).where(Milestone.case_id == w.case_id, Milestone.item != "").order_by(Milestone.id))]
    assert rows == [("indsats_anbefalet", i["indsats"], "2027-02-01") for i in INDSATSER]


def test_foep_indstilling_hands_over_with_the_transfer_deadline(runtime):
    w = to_indstilling("boegeby", runtime, "foertidspension", ansoegt_om="foertidspension")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["foertidspension"])
    assert w.messages() == [("start_foertidspension", {
        "fra": "rehabilitering", "indstillingsdato": "2027-02-03", "oversendelse_senest": "2027-02-24",
        "indstilling": "foertidspension", "indstilling_begrundelse": "Helbred og skånehensyn er vægtet",
        "ansoegt_om": "foertidspension", "genforelagt": False})]


def test_a_case_the_pensionsteam_sends_back_goes_to_the_team_again(runtime):
    """The pensionsteam disagrees with the team's FØP indstilling: the case must go back to the
    team before any decision (LOB § 11, stk. 2), so the new rehabilitering starts on the team
    path, with no route assessment where »afslag uden team« could be chosen."""
    w = to_indstilling("boegeby", runtime, "foertidspension", ansoegt_om="foertidspension")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["foertidspension"])
    w.complete("oversend_til_pensionsteam", oversendelsesdato="2027-02-03", pensionstype="ordinaer")
    w.complete("tilbyd_moede", moedetilbud_dato="2027-02-03", moede_oensket=False)
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    w.complete("afgoer_foertidspension", afgoerelse="tilbage_til_team", afgoerelsesdato="2027-02-18",
               afgoerelse_begrundelse="Arbejdsevnen kan udvikles")
    assert w.messages()[-1] == ("start_rehabilitering", {"fra": "foertidspension", "ansoegt_om": "foertidspension",
                                                        "begrundelse": "Arbejdsevnen kan udvikles"})
    assert w.ready() == {"planlaeg_forberedelse": "sagsbehandler"}           # not vurder_rute
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    assert sorted(w.ready()) == ["forberedende_del", "indhent_oplysninger"]


def test_after_the_case_went_back_to_the_team_the_pensionsteam_may_refuse(runtime):
    """LOB § 11, stk. 2 asks for the case to go before the team again, not for agreement:
    when the team has dealt with it again and still recommends førtidspension, the
    pensionsteam may refuse (the hand-off says the case was put before the team again)."""
    w = to_indstilling("boegeby", runtime, "foertidspension", ansoegt_om="foertidspension")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["foertidspension"])
    assert w.messages()[-1][1]["genforelagt"] is False
    w.complete("oversend_til_pensionsteam", oversendelsesdato="2027-02-03", pensionstype="ordinaer")
    w.complete("tilbyd_moede", moedetilbud_dato="2027-02-03", moede_oensket=False)
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    refusal = {"afgoerelse": "afslag", "afgoerelsesdato": "2027-02-18", "arbejdsfunktion": "Lettere kontorarbejde",
               "afgoerelse_begrundelse": "Arbejdsevnen kan udvikles"}
    assert "afgoerelse" in w.refused("afgoer_foertidspension", **refusal)   # the first time: back to the team
    w.complete("afgoer_foertidspension", afgoerelse="tilbage_til_team", afgoerelsesdato="2027-02-18",
               afgoerelse_begrundelse="Arbejdsevnen kan udvikles")
    # the team deals with the case again and recommends førtidspension again
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-02-22")
    w.complete("indhent_oplysninger", oplysninger="Ingen nye oplysninger")
    w.complete("forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-02-22")
    w.complete("book_moede", bookingdato="2027-02-22", moededato="2027-03-15")
    w.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Uændret")
    w.at("2027-03-11")
    w.complete("forbered_borger", forberedende_samtale_dato="2027-03-11", samtale_sagen=True, samtale_udfald=True,
               samtale_bisidder=True)
    w.at("2027-03-15")
    w.complete("rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=True, sagsbehandler_deltog=True,
               indstilling="foertidspension", indstilling_begrundelse="Pensionsteamets bemærkninger er vægtet")
    w.complete("skriv_indstilling", indstillingsdato="2027-03-15", **INDSTILLING["foertidspension"])
    name, payload = w.messages()[-1]
    assert (name, payload["genforelagt"], payload["indstilling"]) == ("start_foertidspension", True, "foertidspension")
    w.complete("oversend_til_pensionsteam", oversendelsesdato="2027-03-15", pensionstype="ordinaer")
    w.complete("tilbyd_moede", moedetilbud_dato="2027-03-15", moede_oensket=False)
    w.end_of("2027-03-29")
    w.at("2027-03-30")
    w.complete("afgoer_foertidspension", **{**refusal, "afgoerelsesdato": "2027-03-30"})
    assert "afgoer_foertidspension" not in w.ready()


def test_foep_without_the_team_needs_the_forberedende_del_and_carries_the_application_date(runtime):
    w = Rehab(runtime, "aaby", "rehabilitering")
    route = {"oprindelig_ydelse": "kontanthjaelp", "ansoegt_om": "foertidspension", "rute": "foep_uden_team"}
    assert set(w.refused("vurder_rute", **route)) == {"ansoegningsdato"}
    w.at("2027-01-05")
    w.complete("vurder_rute", ansoegningsdato="2027-01-04", **route)
    assert w.ready() == {"forberedende_del_uden_team": "sagsbehandler"}
    w.at("2027-01-08")
    w.complete("forberedende_del_uden_team", forberedende_del_tekst="Relevante overskrifter",
               borger_medvirken="sammen", underskriftsdato="2027-01-08")
    w.complete("udtalelse_sundhedskoordinator", udtalelse="aabenbart", indstillingsdato="2027-01-08")
    (name, payload), = w.messages()
    assert name == "start_foertidspension"
    assert (payload["uden_team"], payload["ansoegningsdato"], payload["oversendelse_senest"]) == (
        True, "2027-01-04", "2027-01-25")                                  # 3 weeks from the application


def test_start_from_a_ressourceforloeb_goes_straight_to_the_team_path(runtime):
    overdragelse = {"fra_ressourceforloeb": True, "rf_slutdato": "2027-06-30", "naeste_skridt": "fleksjob",
                    "indsatser": INDSATSER}
    w = Rehab(runtime, "boegeby", "rehabilitering", {"overdragelse": overdragelse})
    assert w.ready() == {"planlaeg_forberedelse": "sagsbehandler"}          # no route assessment
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    assert sorted(w.ready()) == ["forberedende_del", "indhent_oplysninger"]
    plain = Rehab(runtime, "boegeby", "rehabilitering", cpr="020290-2345")
    assert plain.ready() == {"vurder_rute": "sagsbehandler"}


# ----------------------------------------------------------------------------- declarations (contract §1, §2)
def _properties(path: Path) -> dict[str, dict[str, str]]:
    root = ET.parse(path).getroot()
    out = {}
    for element in root.iter():
        ext = element.find("bpmn:extensionElements/camunda:properties", NS)
        if ext is not None and element.get("id"):
            out[element.get("id")] = {p.get("name"): p.get("value") for p in ext.findall("camunda:property", NS)
                                      if p.get("name")}
    return out


def _lane_of(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {ref.text: lane.get("name") for lane in root.iter(f"{{{NS['bpmn']}}}lane")
            for ref in lane.findall("bpmn:flowNodeRef", NS)}


@pytest.mark.parametrize("municipality", list(MODELS), ids=lambda m: m or "shared")
def test_milestones_and_case_owner_marks_are_declared(municipality):
    path = MODELS[municipality]
    props = _properties(path)
    milestones = {}
    for node, p in props.items():
        if "milestone" in p:
            milestones.setdefault(p["milestone"], set()).add((node, p.get("milestone_date")))
    decisions = {("afslag_uden_team", "afgoerelsesdato")}
    decisions |= {("afgoerelse_paa_moedet", "afgoerelsesdato")} if municipality in ("aaby", "cederholm") else set()
    decisions |= {("traef_afgoerelse", "afgoerelsesdato")} if municipality != "aaby" else set()
    assert milestones == {
        "forberedelse_startet": {("planlaeg_forberedelse", None)},
        "forberedende_del_underskrevet": {("forberedende_del", "underskriftsdato"),
                                          ("forberedende_del_uden_team", "underskriftsdato")},
        "moede_holdt": {("moede_holdt", "moededato")},
        "indstilling_afgivet": {("skriv_indstilling", "indstillingsdato")},
        "afgoerelse": decisions,
    }
    lanes = _lane_of(path)
    root = ET.parse(path).getroot()
    caseworker_tasks = {t.get("id") for t in root.iter(f"{{{NS['bpmn']}}}userTask")
                        if lanes.get(t.get("id")) == "sagsbehandler"}
    assert {n for n, p in props.items() if p.get("owner_task") == "true"} == caseworker_tasks
    assert {n for n, p in props.items() if p.get("takes_ownership") == "true"} == {"vurder_rute"}
    if municipality in ("aaby", "cederholm"):
        assert lanes["afgoerelse_paa_moedet"] == "jobcenterrepraesentant"
