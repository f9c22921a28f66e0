"""Issue 8 on the førtidspension, fleksjob and sygedagpenge models: dated walks of the
models themselves (pure Spiff, see ``test_bpmn_models.Case``) and through the persisted
engine (``walk.Walk``), each failing on the models before the issue."""
from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from processes.errors import InvalidInput
from processes.letters import compose
from processes.policy import BY_KEY, check_policy
from test_bpmn_models import NS, SHARED, Case
from walk import Walk

TEAM_HANDOFF = {"fra": "rehabilitering", "indstillingsdato": "2027-01-04", "indstilling": "foertidspension",
                "indstilling_begrundelse": "Arbejdsevnen kan ikke forbedres", "ansoegt_om": "fleksjob"}


def _properties(path, element_id: str) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    node = root.find(f".//*[@id='{element_id}']", NS)
    return {p.get("name"): p.get("value")
            for p in node.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS)}


# =========================================================================== point 4: FØP without the team
def test_foep_without_team_three_weeks_from_application_and_forberedende_del_required():
    # The application is dated 2027-01-04, the case reaches the pension process on 2027-01-11.
    case = Case("foertidspension", "2027-01-11", overdragelse={"ansoegningsdato": "2027-01-04", "uden_team": True})
    # no forberedende del in the hand-off: it is required before the transfer
    assert case.ready() == {"forberedende_del_uden_team": "sagsbehandler"}
    assert case.timers() == {}
    case.complete("forberedende_del_uden_team", forberedende_del_underskrevet="2027-01-08")
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler"}
    # 3 weeks from the application (2027-01-25), not from the start of this case (2027-02-01)
    assert case.timers() == {"frist_oversend_til_pensionsteam": "2027-01-25"}
    case.end_of("2027-01-25")
    assert "eskaler_oversend_til_pensionsteam" in case.ready()


def test_foep_without_team_with_signed_forberedende_del_goes_straight_to_transfer():
    case = Case("foertidspension", "2027-01-11", overdragelse={
        "ansoegningsdato": "2027-01-06", "uden_team": True, "forberedende_del_underskrevet": "2027-01-05"})
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler"}
    assert case.timers() == {"frist_oversend_til_pensionsteam": "2027-01-27"}


def test_foep_with_team_three_weeks_from_the_indstilling():
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF)
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler"}
    assert case.timers() == {"frist_oversend_til_pensionsteam": "2027-01-25"}


def test_forberedende_del_is_a_required_field():
    case = Case("foertidspension", "2027-01-11", overdragelse={"ansoegningsdato": "2027-01-04", "uden_team": True})
    form = {f["id"]: f for f in _form("forberedende_del_uden_team")}
    assert form["forberedende_del_underskrevet"]["required"] and form["forberedende_del_underskrevet"]["type"] == "date"
    assert case.ready() == {"forberedende_del_uden_team": "sagsbehandler"}


def _form(task_id: str) -> list[dict]:
    from processes.library import parse_file
    from processes.policy import defaults
    parsed = parse_file(SHARED / "foertidspension.bpmn", policy=defaults("foertidspension"))
    return parsed.metadata["tasks"][task_id]["form"]


# =========================================================================== point 5: partshøring with a reply period
def test_foep_partshoering_reply_period_before_the_decision_and_the_letter_names_date_and_indstilling():
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF)
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-11", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-11", moede_oensket=False)
    assert case.templates() == ["oversendelse_pension", "partshoering"]
    # the decision task does not open before the reply period (14 days from 2027-01-11) has run out
    assert case.ready() == {}
    assert case.timers()["svarfrist_udloebet"] == "2027-01-25"
    case.at("2027-01-25", hour=16)
    assert case.ready() == {}
    case.end_of("2027-01-25")
    assert case.ready() == {"afgoer_foertidspension": "pensionsteam"}
    data = case.wf.get_tasks(spec_name="afgoer_foertidspension")[0].data
    assert data["partshoering_svarfrist_dato"] == "2027-01-25"
    letter = compose("partshoering", data, "Test Borger", "Bøgeby Kommune", date(2027, 1, 11))
    assert "senest den 25. januar 2027" in letter.body
    assert "Rehabiliteringsteamet har indstillet til: <strong>førtidspension</strong>" in letter.body
    assert "foertidspension" not in letter.body and letter.missing == ()


def test_foep_reply_period_is_a_bounded_policy_key():
    param = BY_KEY["foep_partshoering_svarfrist"]
    assert (param.case_type, param.default, param.at_least, param.at_most) == ("foertidspension", "P14D", "P8D", "P4W")
    assert check_policy({"foep_partshoering_svarfrist": "P10D"}) == []
    assert "at least P8D" in check_policy({"foep_partshoering_svarfrist": "P5D"})[0]
    assert check_policy({"foep_partshoering_svarfrist": "P5W"})[0].endswith("(P4W); got P5W")
    # a 10-day reply period: the decision opens after 2027-01-21
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF,
                policy={**_default_foep_policy(), "foep_partshoering_svarfrist": "P10D"})
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-11", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-11", moede_oensket=False)
    assert case.timers()["svarfrist_udloebet"] == "2027-01-21"


def _default_foep_policy() -> dict:
    from processes.policy import defaults
    return defaults("foertidspension")


def test_foep_delay_letter_goes_out_before_the_three_months_with_cause_and_expected_date():
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF)
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-12", pensionstype="ordinaer")
    # transferred 2027-01-12: decision due 2027-04-12; the delay is assessed 2 weeks before
    assert case.timers() == {"frist_behandling_pensionsteam": "2027-04-12", "varsel_forsinkelse": "2027-03-29"}
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-12", moede_oensket=True, moede_dato="2027-04-20")
    case.end_of("2027-03-28")
    assert "vurder_forsinkelse" not in case.ready()
    case.end_of("2027-03-29")
    assert case.ready() == {"moede_med_borger": "pensionsteam", "vurder_forsinkelse": "pensionsteam"}
    # "delayed" without a cause is not accepted by the model: the task comes back
    case.complete("vurder_forsinkelse", fristen_holdes="nej", forventet_afgoerelsesdato="2027-05-17")
    assert case.templates() == ["oversendelse_pension"] and "vurder_forsinkelse" in case.ready()
    case.complete("vurder_forsinkelse", fristen_holdes="nej", forsinkelse_aarsag="Mødet med borgeren er 20. april",
                  forventet_afgoerelsesdato="2027-05-17")
    assert case.templates() == ["oversendelse_pension", "forsinkelse"]
    # sent while the 3-month deadline (2027-04-12) is still ahead
    assert case.timers()["frist_behandling_pensionsteam"] == "2027-04-12"
    assert "eskaler_behandling_pensionsteam" not in case.ready()
    data = case.wf.get_tasks(spec_name="brev_forsinkelse")[0].data
    letter = compose("forsinkelse", data, "Test Borger", "Bøgeby Kommune", date(2027, 3, 30))
    assert "Mødet med borgeren er 20. april" in letter.body and "senest den 17. maj 2027" in letter.body
    assert letter.missing == ()


def test_foep_no_delay_letter_when_the_pensionsteam_will_decide_in_time():
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF)
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-12", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-12", moede_oensket=True, moede_dato="2027-04-01")
    case.end_of("2027-03-29")
    case.complete("vurder_forsinkelse", fristen_holdes="ja")
    assert case.templates() == ["oversendelse_pension"] and case.ready() == {"moede_med_borger": "pensionsteam"}


def test_foep_delay_lead_time_is_bounded():
    param = BY_KEY["foep_forsinkelse_varsel"]
    assert (param.default, param.at_least, param.at_most) == ("P2W", "P1W", "P6W")
    assert check_policy({"foep_forsinkelse_varsel": "P3D"}) and check_policy({"foep_forsinkelse_varsel": "P3W"}) == []


# =========================================================================== point 6: FØP refusal
def test_foep_refusal_without_work_function_waits_for_one():
    case = Case("foertidspension", "2027-01-11", overdragelse=TEAM_HANDOFF)
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-11", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-11", moede_oensket=False)
    case.end_of("2027-01-25")
    case.complete("afgoer_foertidspension", afgoerelse="afslag", afgoerelsesdato="2027-01-26",
                  afgoerelse_begrundelse="Arbejdsevnen kan udvikles")
    assert case.templates() == ["oversendelse_pension", "partshoering"]      # no refusal letter yet
    assert case.ready() == {"angiv_arbejdsfunktion": "pensionsteam"}
    case.complete("angiv_arbejdsfunktion", arbejdsfunktion="Lettere lagerarbejde 10 timer om ugen")
    assert case.templates()[-1] == "afslag" and case.completed
    data = case.wf.get_tasks(spec_name="brev_afslag")[0].data
    letter = compose("afslag", data, "Test Borger", "Bøgeby Kommune", date(2027, 1, 26))
    assert "afslag på førtidspension" in letter.body and "Lettere lagerarbejde 10 timer om ugen" in letter.body
    assert "Arbejdsevnen kan udvikles" in letter.body and "Klagevejledning" in letter.body
    # point 8: the refusal says when the meeting with the deciders was offered
    assert "Du blev den 11. januar 2027 tilbudt et møde" in letter.body
    assert letter.missing == ()


# =========================================================================== point 8: PL §20 stk. 3
def test_foep_decision_needs_the_recorded_meeting_offer(runtime):
    case = Walk(runtime, "boegeby", "foertidspension", {"overdragelse": TEAM_HANDOFF})
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-04", pensionstype="ordinaer")
    with pytest.raises(InvalidInput) as refused:
        case.complete("tilbyd_moede", moede_oensket=False)
    assert refused.value.errors == {"moedetilbud_dato": ["Feltet skal udfyldes."]}
    assert case.ready(process="foertidspension") == {"tilbyd_moede": "pensionsteam"}
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-04", moede_oensket=False)
    assert case.templates() == ["oversendelse_pension", "partshoering"]


# =========================================================================== point 12: due date in the inbox
def test_foep_decision_task_shows_its_three_month_due_date(runtime):
    case = Walk(runtime, "boegeby", "foertidspension", {"overdragelse": TEAM_HANDOFF})
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-04", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-04", moede_oensket=False)
    case.end_of("2027-01-18")
    assert case.ready(process="foertidspension") == {"afgoer_foertidspension": "pensionsteam"}
    assert case.due("afgoer_foertidspension") == "2027-04-04"


# =========================================================================== milestones and case owner (contract §1-2)
@pytest.mark.parametrize("model, element, milestone, date_expr", [
    ("foertidspension", "oversend_til_pensionsteam", "overdraget_pension", "oversendelsesdato"),
    ("foertidspension", "brev_tilkendelse", "foep_afgoerelse", "afgoerelsesdato"),
    ("foertidspension", "brev_afslag", "foep_afgoerelse", "afgoerelsesdato"),
])
def test_milestones_declared(model, element, milestone, date_expr):
    props = _properties(SHARED / f"{model}.bpmn", element)
    assert props["milestone"] == milestone and props.get("milestone_date") == date_expr


@pytest.mark.parametrize("model, element", [
    ("foertidspension", "oversend_til_pensionsteam"),
    ("foertidspension", "forberedende_del_uden_team"),
])
def test_caseworker_tasks_are_owner_tasks(model, element):
    assert _properties(SHARED / f"{model}.bpmn", element)["owner_task"] == "true"
