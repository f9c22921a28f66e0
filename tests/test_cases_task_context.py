"""Issue 14, point 1: the case at hand on every task page.

A user task declares what of the case it shows (``show``: earlier form fields and
milestones, docs/modelling.md); registration refuses a field no earlier task sets. The
named tasks of the shipped models show what the person decides from, every task shows the
case's letters and a short history, and finished steps are readable by everyone who may
see the case (the sundhedskoordinator and the afgørelse unit got 403 before)."""
from __future__ import annotations

import re

import pytest

from inbox import create_app
from processes.library import ModelInvalid, parse_model
from test_domain_rehab import INDSTILLING, Rehab, book, meet, prepare, to_indstilling
from test_inbox import Browser, text

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="https://sagsflow.dk/test">
  <bpmn:process id="rehabilitering" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="sagsbehandler">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>first</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>second</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:userTask id="first" name="Først">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="show" value="{first}" /></camunda:properties>
        <camunda:formData><camunda:formField id="vurdering" label="Vurdering" type="string" /></camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second" />
    <bpmn:userTask id="second" name="Dernæst">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="show" value="{second}" /></camunda:properties>
        <camunda:formData><camunda:formField id="afgoerelse" label="Afgørelse" type="string" /></camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>"""


def _model(first: str = "", second: str = ""):
    return parse_model(MODEL.format(first=first, second=second), "test.bpmn")


def test_a_task_shows_fields_an_earlier_task_sets_and_milestones():
    parsed = _model(second="vurdering=Sagsbehandlerens vurdering;milestone:moede_holdt")
    assert parsed.metadata["tasks"]["second"]["show"] == [
        {"field": "vurdering", "label": "Sagsbehandlerens vurdering"},
        {"milestone": "moede_holdt", "label": "Rehabiliteringsmøde holdt",
         "label_en": "Rehabilitation team meeting held"}]  # the catalogue's label in both languages


@pytest.mark.parametrize("first,second,problem", [
    ("afgoerelse", "", "first: shows field 'afgoerelse', which no earlier task's form sets"),   # set later
    ("", "ukendt_felt", "second: shows field 'ukendt_felt', which no earlier task's form sets"),
    ("", "afgoerelse", "second: shows field 'afgoerelse', which no earlier task's form sets"),  # its own field
    ("", "milestone:ukendt", "milestone 'ukendt' is not in the catalogue"),
    ("", "vurdering:x", "is not 'field[=Label]' or 'milestone:key[=Label]'"),
])
def test_registration_refuses_what_no_earlier_task_can_show(first, second, problem):
    with pytest.raises(ModelInvalid) as refused:
        _model(first, second)
    assert problem in str(refused.value)


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def _task_page(app, w: Rehab, bpmn_id: str, username: str | None = None):
    task = w._open(bpmn_id)
    page = Browser(app, username or f"{w.municipality}.{task.role}").get(f"/opgaver/{task.id}")
    assert page.status_code == 200
    return _section(text(page))


def _section(html: str) -> str:
    """The page's "Fra sagen" section as plain text."""
    start = html.index('id="h-sagen"')
    part = html[start:html.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def to_meeting(rt, name: str = "Test Borger") -> Rehab:
    """An Aaby case on the day of its meeting, with LÆ 265 and the health advice in."""
    w = Rehab(rt, "aaby", "rehabilitering", name=name)
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=True, sundhedskoordinator_raadgivning=True,
               samtykke_deling="givet")
    w.complete("indhent_laegeattest", laegeattest_modtaget="2027-01-04")
    w.complete("sundhedsfaglig_raadgivning", raadgivning="Smerter begrænser løft")
    w.at("2027-01-11")
    w.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    w.complete("forberedende_del", forberedende_del_tekst="8 overskrifter udfyldt", borger_medvirken="sammen",
               underskriftsdato="2027-01-11")
    book(w)
    w.at("2027-02-01")
    return w


def test_the_meeting_shows_the_forberedende_del_lae265_health_advice_and_meeting_date(sqlite_runtime, app):
    w = to_meeting(sqlite_runtime)
    shown = _task_page(app, w, "rehabiliteringsmoede")
    assert "Forberedende del 8 overskrifter udfyldt" in shown
    assert "Udarbejdet sammen med borgeren på samtaler" in shown                # the label, not the key
    assert "LÆ 265 nødvendig Ja" in shown
    assert "LÆ 265 modtaget 4. jan. 2027" in shown
    assert "Sundhedsfaglig rådgivning i forberedelsen Smerter begrænser løft" in shown
    assert "Sundhedskoordinatorens vurdering til mødet Kan arbejde 12 timer" in shown
    assert "Mødedato 1. feb. 2027" in shown
    assert "Invitation til møde i rehabiliteringsteamet" in shown          # the case's letters
    assert "Forbered borgeren til mødet" in shown                           # the short history


def test_the_decision_unit_sees_the_indstilling_and_the_hearing_letter(sqlite_runtime, app):
    w = to_indstilling("boegeby", sqlite_runtime, "fleksjob")
    w.at("2027-02-03")
    w.complete("skriv_indstilling", indstillingsdato="2027-02-03", **INDSTILLING["fleksjob"])
    w.end_of("2027-02-17")
    w.at("2027-02-18")
    shown = _task_page(app, w, "traef_afgoerelse")
    assert "Teamets indstilling Fleksjob" in shown
    assert "Teamets begrundelse Helbred og skånehensyn er vægtet" in shown
    assert "(skånehensyn) og evt. overgangsstøtte (fleksjob) Ingen tunge løft; 12 timer om ugen" in shown
    assert "Indsatser (ressourceforløb) – ( Skriv indstillingen efter mødet" in shown   # set, but left empty
    assert "Tilbud om samtale (PL § 20, stk. 3) Ikke oplyst endnu" in shown            # no task set it yet
    assert "Indstillingen er afgivet 3. feb. 2027" in shown
    assert "Partshøring" in shown                                            # the hearing letter


def test_the_correction_after_screening_shows_the_remarks(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "cederholm", "rehabilitering")
    w.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.complete("indhent_oplysninger")
    w.complete("forberedende_del", borger_medvirken="kommenteret", underskriftsdato="2027-01-04")
    w.complete("screening", screening_resultat="tilbage", screening_bemaerkninger="Mangler helbredsoplysninger")
    shown = _task_page(app, w, "ret_efter_screening")
    assert "Fagkonsulentens bemærkninger Mangler helbredsoplysninger" in shown
    assert "Fagkonsulentens vurdering" in shown and "tilbage" not in shown   # the label, not the key


def test_the_indstilling_task_shows_the_meetings_outcome(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    prepare(w)
    book(w)
    meet(w, "fleksjob")
    shown = _task_page(app, w, "skriv_indstilling")
    assert "Teamets indstilling Fleksjob" in shown
    assert "Borgeren deltog i mødet Ja" in shown


def test_earlier_steps_open_for_everyone_on_the_case(sqlite_runtime, app):
    """The history links on the case page used to answer 403 to the sundhedskoordinator
    and the afgørelse unit; a finished step is readable by whoever may see the case, an
    open task of another role still is not."""
    w = to_indstilling("boegeby", sqlite_runtime, "fleksjob")
    done = _completed(sqlite_runtime, w.case_id, "forberedende_del")
    open_task = w._open("skriv_indstilling")
    for username in ("boegeby.sundhedskoordinator", "boegeby.afgoerelse"):
        browser = Browser(app, username)
        page = browser.get(f"/opgaver/{done.id}")
        assert page.status_code == 200, username
        assert "Indsendte oplysninger" in text(page) and "8 overskrifter" in text(page)
        assert browser.get(f"/opgaver/{open_task.id}").status_code == 403, username
        assert browser.get(f"/sager/{w.case_id}").status_code == 200, username
    outsider = Browser(app, "boegeby.ydelse")      # no task of the rehabilitering model
    assert outsider.get(f"/opgaver/{done.id}").status_code == 403
    assert Browser(app, "aaby.sundhedskoordinator").get(f"/opgaver/{done.id}").status_code == 404


def _completed(rt, case_id: int, bpmn_id: str):
    from sqlalchemy import select
    from processes.models import HumanTask
    with rt.sessions() as session:
        return session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
                                                       HumanTask.state == "completed")).first()


def test_the_api_gives_the_same_case_context(sqlite_runtime, app):
    from inbox.tokens import issue_token
    from processes.models import User
    from sqlalchemy import select
    w = to_meeting(sqlite_runtime)
    task = w._open("rehabiliteringsmoede")
    with sqlite_runtime.sessions.begin() as session:
        token = issue_token(session, session.scalar(select(User).where(User.username == "aaby.rehabiliteringsteam")),
                            name="test")
    body = app.test_client().get(f"/api/v1/tasks/{task.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    by_label = {item["label"]: item for item in body["case_context"]}
    assert by_label["LÆ 265 nødvendig"]["value"] is True and by_label["LÆ 265 nødvendig"]["text"] == "Ja"
    medvirken = by_label["Sådan har borgeren medvirket i den forberedende del"]
    assert (medvirken["value"], medvirken["text"]) == ("sammen", "Udarbejdet sammen med borgeren på samtaler")
    assert by_label["Mødedato"]["text"] == "1. feb. 2027" and by_label["Mødedato"]["set_by_task"] is not None
    assert by_label["Mødetidspunkt"]["missing"] is False
