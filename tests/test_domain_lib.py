"""Issue 8, the engine/library side: Danish calendar dates (11), Danish working days (14),
cross-field form checks and list fields (13), milestones, the case owner, the end-of-day
deadline convention (12) and bounds that are grants (9). Dates are asserted exactly."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from conftest import make_runtime
from processes.errors import InvalidInput
from processes.forms import validate_form
from processes.library import ModelInvalid, parse_item_fields, parse_model
from processes.milestones import MILESTONES as MILESTONE_CATALOGUE
from processes.engine import Actor
from processes.models import (
    AuditEvent, Case, Milestone, Municipality, PolicyVersion, ProcessInstance, Timer, User, UserRole,
)
from processes.policy import CASE_TYPES, check_policy
from processes.scripting import (
    RestrictedEnvironment, add_duration, add_working_days, danish_date, is_working_day, subtract_duration,
)
from processes.serialization import instance_from_json
from sagsflow.cli import main
from walk import Walk

BOOKING_CHECK = 'moededato < add_duration(bookingdato, policy["rehab_booking_frist"])[:10]'


def instance_data(rt, instance_id: int) -> dict:
    with rt.sessions() as session:
        row = session.get(ProcessInstance, instance_id)
        loaded = rt.engine.specs.get(session, row.model_version_id)
        wf = instance_from_json(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
    return wf.task_tree.data


# ---------------------------------------------------------------- point 11 (2026-11-30)
def test_booking_check_compares_danish_dates_not_utc_cut_datetimes():
    """14 days' lead from 2027-01-04 is 2027-01-18: a meeting on 2027-01-17 is too early
    (the old helper answered 2027-01-17T23:00Z, whose date part accepted the 17th)."""
    env = RestrictedEnvironment()
    policy = {"rehab_booking_frist": "P14D"}
    too_early = {"moededato": "2027-01-17", "bookingdato": "2027-01-04", "policy": policy}
    on_time = {"moededato": "2027-01-18", "bookingdato": "2027-01-04", "policy": policy}
    assert env.evaluate(BOOKING_CHECK, too_early) is True           # refused: book again
    assert env.evaluate(BOOKING_CHECK, on_time) is False
    with_helper = 'moededato < danish_date(add_duration(bookingdato, policy["rehab_booking_frist"]))'
    assert env.evaluate(with_helper, too_early) is True
    assert env.evaluate(with_helper, on_time) is False


def test_helpers_answer_in_danish_time_and_danish_date_converts():
    assert add_duration("2027-01-04", "P14D") == "2027-01-18T00:00:00+01:00"
    assert add_duration("2027-06-01", "P1M") == "2027-07-01T00:00:00+02:00"        # summer time
    assert subtract_duration("2027-04-01", "P1W") == "2027-03-25T00:00:00+01:00"   # across DST
    assert danish_date("2027-01-17T23:00:00+00:00") == "2027-01-18"
    assert danish_date("2027-06-30T22:30:00+00:00") == "2027-07-01"
    assert danish_date("2027-01-17T22:59:59+00:00") == "2027-01-17"
    assert danish_date("2027-01-17") == "2027-01-17"
    assert danish_date(datetime(2027, 12, 31, 23, 30, tzinfo=timezone.utc)) == "2028-01-01"
    with pytest.raises(ValueError):
        danish_date("17-01-2027")


def test_case_start_date_is_the_danish_date(sqlite_url):
    """A case started at 00:30 Danish time on 2027-01-05 (23:30 UTC the day before)
    starts on 2027-01-05."""
    rt = make_runtime(sqlite_url, start=datetime(2027, 1, 4, 23, 30, tzinfo=timezone.utc))
    try:
        row = rt.engine.start_case("aaby", "sygedagpenge", "010190-1234", "Test Borger")
        assert instance_data(rt, row.id)["startdato"] == "2027-01-05"
    finally:
        rt.close()


# ---------------------------------------------------------------- point 14 (2026-11-30)
def test_working_days_skip_danish_public_holidays():
    """From Maundy Thursday 2027-03-25: Langfredag 26/3, the weekend, 2. påskedag 29/3 are
    not working days; the fifth working day is Monday 2027-04-05 (not Thursday 1/4)."""
    assert add_working_days("2027-03-25", 5) == "2027-04-05T00:00:00+02:00"
    assert add_working_days("2027-03-24", 1) == "2027-03-30T00:00:00+02:00"
    # Kristi himmelfart 2027-05-06, 2. pinsedag 2027-05-17, juledagene 2027-12-25/26
    assert danish_date(add_working_days("2027-05-05", 1)) == "2027-05-07"
    assert danish_date(add_working_days("2027-05-14", 1)) == "2027-05-18"
    assert danish_date(add_working_days("2027-12-31", 1)) == "2028-01-03"   # nytårsdag is a Saturday
    # Store bededag was abolished from 2024: Friday 2024-04-26 is a working day, 2023-05-05 was not
    assert is_working_day(datetime(2024, 4, 26).date()) is True
    assert is_working_day(datetime(2023, 5, 5).date()) is False
    assert is_working_day(datetime(2027, 3, 26).date()) is False


# ------------------------------------------------------ a model using the conventions
# Domby (fictional) runs a small rehabilitering model that declares every convention of
# docs/modelling.md that the library implements: cross-field checks, past-only dates, a
# structured list, milestones, the case owner and a tagged deadline.
DOMBY_REHAB = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_domby" targetNamespace="https://sagsflow.dk/bpmn/domby">
  <bpmn:process id="rehabilitering" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="l_sb" name="sagsbehandler">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>book_moede</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>opfoelgning</bpmn:flowNodeRef><bpmn:flowNodeRef>frist_opfoelgning</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>slut</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="l_team" name="rehabiliteringsteam"><bpmn:flowNodeRef>skriv_indstilling</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="l_afg" name="afgoerelse"><bpmn:flowNodeRef>afgoer</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="l_tl" name="teamleder">
        <bpmn:flowNodeRef>eskaler</bpmn:flowNodeRef><bpmn:flowNodeRef>eskalering_slut</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="milestone" value="forberedelse_startet"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="book_moede"/>
    <bpmn:userTask id="book_moede" name="Book mødet">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="owner_task" value="true"/></camunda:properties>
        <camunda:formData>
        <camunda:formField id="bookingdato" label="Bookingdato" type="date">
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="moededato" label="Mødedato" type="date">
          <camunda:properties>
            <camunda:property id="check" value="moededato &gt;= danish_date(add_duration(bookingdato, policy['rehab_booking_frist']))"/>
            <camunda:property id="check_message" value="Mødet skal ligge mindst bookingfristen efter bookingdatoen."/>
          </camunda:properties>
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="laegeattest_modtaget" label="LÆ 265 modtaget" type="date">
          <camunda:properties><camunda:property id="past_only" value="true"/></camunda:properties>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="book_moede" targetRef="skriv_indstilling"/>
    <bpmn:userTask id="skriv_indstilling" name="Teamets indstilling">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="milestone" value="moede_holdt"/>
          <camunda:property name="milestone_date" value="moededato"/>
        </camunda:properties>
        <camunda:formData>
        <camunda:formField id="indstilling" label="Indstilling" type="enum">
          <camunda:value id="ressourceforloeb" name="Ressourceforløb"/><camunda:value id="fleksjob" name="Fleksjob"/>
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="indsatser" label="Indsatser" type="list">
          <camunda:properties>
            <camunda:property id="item_fields" value="maal:string:Mål;indsats:string:Indsats;leverandoer:string:Leverandør;raekkefoelge:long:Rækkefølge;mentor:boolean:Mentor"/>
            <camunda:property id="rows" value="4"/>
          </camunda:properties>
        </camunda:formField>
        <camunda:formField id="teamet_vil_se_sagen_igen" label="Teamet vil se sagen igen" type="boolean"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="skriv_indstilling" targetRef="afgoer"/>
    <bpmn:userTask id="afgoer" name="Afgørelse">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="milestone" value="afgoerelse"/>
          <camunda:property name="milestone_date" value="afgoerelsesdato"/>
          <camunda:property name="takes_ownership" value="true"/>
        </camunda:properties>
        <camunda:formData>
        <camunda:formField id="i_overensstemmelse" label="I overensstemmelse med indstillingen" type="boolean"/>
        <camunda:formField id="afgoerelse" label="Afgørelse" type="enum">
          <camunda:properties>
            <camunda:property id="check" value="not i_overensstemmelse or afgoerelse == indstilling"/>
            <camunda:property id="check_message" value="En afgørelse i overensstemmelse med indstillingen skal være den samme som indstillingen."/>
          </camunda:properties>
          <camunda:value id="ressourceforloeb" name="Ressourceforløb"/><camunda:value id="fleksjob" name="Fleksjob"/>
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="afgoerelsesdato" label="Afgørelsesdato" type="date">
          <camunda:properties><camunda:property id="past_only" value="true"/></camunda:properties>
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="afgoer" targetRef="opfoelgning"/>
    <bpmn:userTask id="opfoelgning" name="Opfølgning">
      <bpmn:extensionElements><camunda:properties><camunda:property name="owner_task" value="true"/></camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="frist_opfoelgning" name="Frist: opfølgning" attachedToRef="opfoelgning" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties><camunda:property name="deadline" value="rehab_afgoerelse_frist"/></camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDate>add_duration(afgoerelsesdato, policy["rehab_afgoerelse_frist"])</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_esk" sourceRef="frist_opfoelgning" targetRef="eskaler"/>
    <bpmn:userTask id="eskaler" name="Frist overskredet: opfølgning"/>
    <bpmn:sequenceFlow id="f_esk_slut" sourceRef="eskaler" targetRef="eskalering_slut"/>
    <bpmn:endEvent id="eskalering_slut"/>
    <bpmn:sequenceFlow id="f5" sourceRef="opfoelgning" targetRef="slut"/>
    <bpmn:endEvent id="slut"/>
  </bpmn:process>
</bpmn:definitions>
"""
INDSATSER = "maal:string:Mål;indsats:string:Indsats;leverandoer:string:Leverandør;raekkefoelge:long:Rækkefølge;mentor:boolean:Mentor"


def register_domby(rt, tmp_path, policy: dict | None = None) -> None:
    folder = tmp_path / "domby"
    folder.mkdir()
    (folder / "rehabilitering.bpmn").write_text(DOMBY_REHAB, encoding="utf-8")
    (folder / "municipality.json").write_text(json.dumps({
        "key": "domby", "name": "Domby Kommune", "models": {"rehabilitering": "rehabilitering.bpmn"},
        "policy": {"effective_from": "2027-01-01", "values": policy or {}},
    }), encoding="utf-8")
    result = CliRunner().invoke(main, ["--database-url", rt.url, "municipality", "add", str(folder), "--demo-users"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr


@pytest.fixture
def domby(sqlite_runtime, tmp_path):
    register_domby(sqlite_runtime, tmp_path)
    return sqlite_runtime


def refused(walk: Walk, bpmn_id: str, **form) -> dict:
    with pytest.raises(InvalidInput) as info:
        walk.complete(bpmn_id, **form)
    return info.value.errors


# ---------------------------------------------------------------- point 13 (2026-11-30)
def test_cross_field_checks_and_past_only_dates_refuse_next_to_the_field(domby):
    walk = Walk(domby, "domby", "rehabilitering")          # today: 2027-01-04
    # meeting 13 days after booking: before the 14-day lead (policy default P14D)
    assert refused(walk, "book_moede", bookingdato="2027-01-04", moededato="2027-01-17") == {
        "moededato": ["Mødet skal ligge mindst bookingfristen efter bookingdatoen."]}
    # LÆ 265 "received" tomorrow: a fact that has not happened yet
    assert refused(walk, "book_moede", bookingdato="2027-01-04", moededato="2027-01-18",
                   laegeattest_modtaget="2027-01-05") == {
        "laegeattest_modtaget": ["Datoen må ikke ligge efter i dag (2027-01-04)."]}
    assert walk.ready() == {"book_moede": "sagsbehandler"}            # nothing was completed
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18", laegeattest_modtaget="2027-01-04")
    walk.complete("skriv_indstilling", indstilling="fleksjob")
    # "in agreement with the indstilling" must be the indstilling (task data from before)
    assert refused(walk, "afgoer", i_overensstemmelse=True, afgoerelse="ressourceforloeb",
                   afgoerelsesdato="2027-01-04") == {
        "afgoerelse": ["En afgørelse i overensstemmelse med indstillingen skal være den samme som indstillingen."]}
    walk.complete("afgoer", i_overensstemmelse=False, afgoerelse="ressourceforloeb", afgoerelsesdato="2027-01-04")
    assert walk.ready() == {"opfoelgning": "sagsbehandler"}


def test_past_only_uses_the_danish_date_of_the_case_clock(sqlite_url, tmp_path):
    """At 23:30 UTC on 2027-01-04 it is already 2027-01-05 in Denmark: the 5th is not future."""
    rt = make_runtime(sqlite_url, start=datetime(2027, 1, 4, 23, 30, tzinfo=timezone.utc))
    try:
        register_domby(rt, tmp_path)
        walk = Walk(rt, "domby", "rehabilitering")
        assert refused(walk, "book_moede", bookingdato="2027-01-05", moededato="2027-01-19",
                       laegeattest_modtaget="2027-01-06") == {
            "laegeattest_modtaget": ["Datoen må ikke ligge efter i dag (2027-01-05)."]}
        walk.complete("book_moede", bookingdato="2027-01-05", moededato="2027-01-19", laegeattest_modtaget="2027-01-05")
        assert walk.ready() == {"skriv_indstilling": "rehabiliteringsteam"}
    finally:
        rt.close()


def test_model_with_a_bad_check_or_list_is_refused_at_load():
    bad = DOMBY_REHAB.replace("not i_overensstemmelse or afgoerelse == indstilling", "afgoerelse.__class__")
    bad = bad.replace(INDSATSER, "maal:text:Mål;status:enum():Status")
    with pytest.raises(ModelInvalid) as info:
        parse_model(bad, "domby.bpmn")
    messages = [str(p) for p in info.value.problems]
    assert messages == [
        "domby.bpmn: skriv_indstilling: list field 'indsatser': item field 'maal' has unknown type 'text'",
        "domby.bpmn: skriv_indstilling: list field 'indsatser': item field 'status': enum without values",
        "domby.bpmn: afgoer: check of field 'afgoerelse' refused by the restricted evaluator: "
        "Line 1: \"__class__\" is an invalid attribute name because it starts with \"_\".",
    ]


# ------------------------------------------------ structured list fields (2026-11-30)
def test_list_field_parses_validates_and_drops_blank_rows(domby):
    walk = Walk(domby, "domby", "rehabilitering")
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    rows = [{"maal": "Afklaring", "indsats": "Praktik", "leverandoer": "Virksomhed A/S", "raekkefoelge": "1",
             "mentor": True},
            {"maal": "", "indsats": "", "leverandoer": "", "raekkefoelge": "", "mentor": False},
            {"maal": "Job", "indsats": "Mentor", "leverandoer": "", "raekkefoelge": "to", "mentor": False}]
    assert refused(walk, "skriv_indstilling", indstilling="fleksjob", indsatser=rows) == {
        "indsatser": ["Række 3, Rækkefølge: Skal være et helt tal."]}
    assert refused(walk, "skriv_indstilling", indstilling="fleksjob", indsatser="Praktik") == {
        "indsatser": ["Skal være en liste af rækker."]}
    rows[2]["raekkefoelge"] = "2"
    done = walk.complete("skriv_indstilling", indstilling="fleksjob", indsatser=rows, teamet_vil_se_sagen_igen=True)
    assert done.data["indsatser"] == [
        {"maal": "Afklaring", "indsats": "Praktik", "leverandoer": "Virksomhed A/S", "raekkefoelge": 1, "mentor": True},
        {"maal": "Job", "indsats": "Mentor", "leverandoer": None, "raekkefoelge": 2, "mentor": False}]
    parsed = parse_model(DOMBY_REHAB, "domby.bpmn")
    field = parsed.metadata["tasks"]["skriv_indstilling"]["form"][1]
    assert (field["type"], field["rows"], [(i["id"], i["type"]) for i in field["items"]]) == (
        "list", 4, [("maal", "string"), ("indsats", "string"), ("leverandoer", "string"),
                    ("raekkefoelge", "long"), ("mentor", "boolean")])


def test_list_field_enum_and_date_items():
    items, problems = parse_item_fields(
        "indsats:string:Indsats;status:enum(bevilget=Bevilget|planlagt=Planlagt|startet=Startet|afslaaet=Afslået):Status;"
        "planlagt_start:date:Planlagt start")
    assert problems == []
    spec = {"id": "indsatser", "type": "list", "required": True, "items": items}
    clean, errors = validate_form([spec], {"indsatser": [{"indsats": "Mentor", "status": "udsat", "planlagt_start": "1/2"}]})
    assert errors == {"indsatser": ["Række 1, Planlagt start: Skal være en dato (ÅÅÅÅ-MM-DD).",
                                    "Række 1, Status: Vælg en af de mulige værdier."]}
    assert validate_form([spec], {"indsatser": []})[1] == {"indsatser": ["Udfyld mindst én række."]}
    clean, errors = validate_form([spec], {"indsatser": [{"indsats": "Mentor", "status": "planlagt",
                                                          "planlagt_start": "2027-02-01"}]})
    assert (clean, errors) == ({"indsatser": [{"indsats": "Mentor", "status": "planlagt",
                                               "planlagt_start": "2027-02-01"}]}, {})


def test_task_page_renders_list_rows_and_shows_check_errors_next_to_the_field(domby):
    from inbox import create_app
    from test_inbox import Browser, text

    app = create_app(domby, TESTING=True)
    walk = Walk(domby, "domby", "rehabilitering")
    sb = Browser(app, "domby.sagsbehandler")
    book = walk._open("book_moede")
    page = sb.post(f"/opgaver/{book.id}", {"revision": str(book.revision), "bookingdato": "2027-01-04",
                                            "moededato": "2027-01-17"})
    html = text(page)
    assert page.status_code == 422
    field = html[html.index('id="felt-moededato"') - 700:html.index('id="felt-moededato"')]
    assert "Mødet skal ligge mindst bookingfristen efter bookingdatoen." in field   # next to the field
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")

    team = Browser(app, "domby.rehabiliteringsteam")
    task = walk._open("skriv_indstilling")
    html = text(team.get(f"/opgaver/{task.id}"))
    assert html.count('name="indsatser-') == 4 * 5                          # 4 blank rows, 5 columns
    assert 'name="indsatser-3-mentor"' in html and 'name="indsatser-4-maal"' not in html
    assert "<script>" not in html.split('<form method="post" class="task-form')[1].split("</form>")[0]
    posted = {"revision": str(task.revision), "indstilling": "fleksjob",
              "indsatser-0-maal": "Afklaring", "indsatser-0-indsats": "Praktik", "indsatser-0-raekkefoelge": "x",
              "indsatser-2-maal": "Job", "indsatser-2-indsats": "Mentor", "indsatser-2-mentor": "true"}
    page = team.post(f"/opgaver/{task.id}", posted)
    assert page.status_code == 422
    html = text(page)
    assert "Række 1, Rækkefølge: Skal være et helt tal." in html
    assert 'name="indsatser-0-maal" aria-label="Mål, række 1" value="Afklaring"' in html     # rows kept
    assert 'name="indsatser-1-maal" aria-label="Mål, række 2" value="Job"' in html
    posted["indsatser-0-raekkefoelge"] = "1"
    assert team.post(f"/opgaver/{task.id}", posted).status_code == 302
    done = text(team.get(f"/opgaver/{task.id}"))
    answers = done.split('<dl class="answers">')[1]
    assert "<td>Afklaring</td><td>Praktik</td><td>–</td><td>1</td><td>Nej</td>" in answers
    assert "<td>Job</td><td>Mentor</td><td>–</td><td>–</td><td>Ja</td>" in answers
    assert "<dd>Fleksjob</dd>" in answers                                     # the label, not the key


def test_api_form_schema_describes_list_items_and_checks(domby):
    from inbox import create_app
    from test_api import Client

    app = create_app(domby, TESTING=True)
    walk = Walk(domby, "domby", "rehabilitering")
    api = Client(app, domby, "domby.sagsbehandler")
    book = walk._open("book_moede")
    fields = {f["id"]: f for f in api.get(f"/tasks/{book.id}").get_json()["form"]}
    assert fields["laegeattest_modtaget"]["past_only"] is True
    assert fields["moededato"]["check_message"] == "Mødet skal ligge mindst bookingfristen efter bookingdatoen."
    assert "check" not in fields["moededato"]
    response = api.post(f"/tasks/{book.id}/complete", json={"data": {
        "bookingdato": "2027-01-04", "moededato": "2027-01-10"}})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"moededato": ["Mødet skal ligge mindst bookingfristen efter bookingdatoen."]}
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    task = walk._open("skriv_indstilling")
    team = Client(app, domby, "domby.rehabiliteringsteam")
    field = {f["id"]: f for f in team.get(f"/tasks/{task.id}").get_json()["form"]}["indsatser"]
    assert (field["type"], field["rows"]) == ("list", 4)
    assert field["items"][3] == {"id": "raekkefoelge", "label": "Rækkefølge", "type": "long", "options": []}
    response = team.post(f"/tasks/{task.id}/complete", json={"data": {
        "indstilling": "fleksjob", "indsatser": [{"maal": "Job", "indsats": "Mentor", "mentor": True}]}})
    assert response.status_code == 200
    assert response.get_json()["task"]["data"]["indsatser"] == [
        {"maal": "Job", "indsats": "Mentor", "leverandoer": None, "raekkefoelge": None, "mentor": True}]


# ------------------------------------------------------------ milestones (2026-11-30)
def milestone_rows(rt, case_id):
    with rt.sessions() as session:
        return [(m.key, m.date.isoformat(), m.process_id, m.bpmn_id, m.actor, m.recorded_at.isoformat())
                for m in session.scalars(select(Milestone).where(Milestone.case_id == case_id).order_by(Milestone.id))]


def test_milestones_are_recorded_when_the_node_completes_with_danish_dates(runtime, tmp_path):
    register_domby(runtime, tmp_path)
    walk = Walk(runtime, "domby", "rehabilitering")              # 2027-01-04 09:00 Danish time
    assert milestone_rows(runtime, walk.case_id) == [
        ("forberedelse_startet", "2027-01-04", "rehabilitering", "start", "system", "2027-01-04T08:00:00+00:00")]
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    assert len(milestone_rows(runtime, walk.case_id)) == 1      # book_moede is no milestone
    walk.at("2027-01-20", hour=0)                                # 00:00 Danish = 23:00 UTC the day before
    walk.complete("skriv_indstilling", indstilling="fleksjob")
    walk.at("2027-01-26")
    walk.complete("afgoer", afgoerelse="fleksjob", afgoerelsesdato="2027-01-25")
    assert milestone_rows(runtime, walk.case_id)[1:] == [
        ("moede_holdt", "2027-01-18", "rehabilitering", "skriv_indstilling", "domby.rehabiliteringsteam",
         "2027-01-19T23:00:00+00:00"),                           # the meeting date, not the day of entry
        ("afgoerelse", "2027-01-25", "rehabilitering", "afgoer", "domby.afgoerelse", "2027-01-26T08:00:00+00:00")]


def test_milestone_without_date_takes_the_danish_date_and_unknown_keys_are_refused(sqlite_url, tmp_path):
    rt = make_runtime(sqlite_url, start=datetime(2027, 1, 4, 23, 30, tzinfo=timezone.utc))
    try:
        register_domby(rt, tmp_path)
        walk = Walk(rt, "domby", "rehabilitering")
        assert [r[:2] for r in milestone_rows(rt, walk.case_id)] == [("forberedelse_startet", "2027-01-05")]
    finally:
        rt.close()
    with pytest.raises(ModelInvalid) as info:
        parse_model(DOMBY_REHAB.replace('value="moede_holdt"', 'value="moedet_holdt"'), "domby.bpmn")
    assert [str(p) for p in info.value.problems] == [
        "domby.bpmn: skriv_indstilling: milestone 'moedet_holdt' is not in the catalogue (processes/milestones.py)"]


def test_every_milestone_of_the_contract_has_a_label_definition_and_process():
    assert [m.key for m in MILESTONE_CATALOGUE] == [
        "forberedelse_startet", "forberedende_del_underskrevet", "moede_holdt", "indstilling_afgivet", "afgoerelse",
        "indsats_anbefalet", "overdraget_pension", "foep_afgoerelse", "foep_tilkendt", "foep_afslag",
        "koordinator_tildelt", "foerste_samtale_rf", "foerste_indsats_startet", "indsats_planlagt", "indsats_startet",
        "visitation", "foerste_samtale_fj", "job_startet"]
    assert all(m.label and m.definition and m.process in CASE_TYPES for m in MILESTONE_CATALOGUE)


def test_service_target_between_milestones_warns_like_a_deadline(sqlite_runtime, tmp_path):
    """Domby: preparation start → decision within 2 weeks. Started 2027-01-04, due 2027-01-18."""
    register_domby(sqlite_runtime, tmp_path, policy={"maal_forberedelse_afgoerelse": "P2W"})
    late = Walk(sqlite_runtime, "domby", "rehabilitering")
    waiting = Walk(sqlite_runtime, "domby", "rehabilitering", cpr="020290-2345")
    engine = sqlite_runtime.engine

    def state(walk):
        return [(t["key"], t["start"], t["due"], t["end"], t["state"]) for t in engine.case_detail(walk.case_id)["targets"]]

    assert state(waiting) == [("maal_forberedelse_afgoerelse", "2027-01-04", "2027-01-18", None, "open")]
    late.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    late.complete("skriv_indstilling", indstilling="fleksjob")
    late.at("2027-01-18", hour=23)
    assert state(waiting)[0][4] == "open"                         # the whole due day counts
    late.at("2027-01-19", hour=0)
    assert state(waiting)[0][4] == "overdue"
    late.complete("afgoer", afgoerelse="fleksjob", afgoerelsesdato="2027-01-19")
    assert state(late) == [("maal_forberedelse_afgoerelse", "2027-01-04", "2027-01-18", "2027-01-19", "late")]

    from inbox import create_app
    from test_inbox import Browser, text
    html = text(Browser(create_app(sqlite_runtime, TESTING=True), "domby.teamleder").get(f"/sager/{waiting.case_id}"))
    targets = html.split('id="h-targets"')[1].split("</section>")[0]
    assert ("<td>Fra forberedelse til afgørelse</td><td>4. jan. 2027</td><td>18. jan. 2027</td>" in targets
            and "due-overskredet" in targets)                        # dates in words (issue 14.2)
    milestones = text(Browser(create_app(sqlite_runtime, TESTING=True), "domby.teamleder").get(f"/sager/{late.case_id}"))
    assert "<td>19. jan. 2027</td><td>Afgørelse truffet</td>" in milestones
    assert check_policy({"maal_forberedelse_afgoerelse": None, "maal_moede_foerste_indsats": "P8W"}) == []


# ---------------------------------------------------------------- point 12 (2026-11-30)
def open_due(rt, case_id) -> dict[str, str]:
    """Open tasks of a case: bpmn id -> exact due time (UTC ISO)."""
    return {t.bpmn_id: t.due_at.isoformat() for t in rt.engine.open_tasks(case_id=case_id) if t.due_at}


def test_repeating_talk_due_on_a_day_escalates_only_after_that_danish_day(runtime):
    """Sygedagpenge started Monday 2027-01-04 09:00: the talk is due 2027-02-01 and ends at
    23:59:59 Danish time that day (22:59:59 UTC); at 10:00 it must not have escalated."""
    walk = Walk(runtime, "aaby", "sygedagpenge")
    assert open_due(runtime, walk.case_id) == {"opfoelgningssamtale": "2027-02-01T22:59:59+00:00"}
    walk.at("2027-02-01", hour=10)
    assert walk.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    walk.at("2027-02-01", hour=23)
    assert walk.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    walk.end_of("2027-02-01")
    assert walk.ready() == {"opfoelgningssamtale": "sagsbehandler", "eskaler_opfoelgningssamtale": "teamleder"}
    # the next talk, held at 14:00 on 2027-02-02, is due at the end of 2027-03-02
    walk.at("2027-02-02", hour=14)
    walk.complete("opfoelgningssamtale", samtaledato="2027-02-02", uarbejdsdygtighed="fuld", forloeb="fortsaet")
    assert open_due(runtime, walk.case_id)["opfoelgningssamtale"] == "2027-03-02T22:59:59+00:00"


def test_deadline_from_a_case_date_ends_at_the_end_of_the_day_in_summer_time(domby):
    walk = Walk(domby, "domby", "rehabilitering")
    walk.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    walk.complete("skriv_indstilling", indstilling="fleksjob")
    walk.at("2027-03-08")
    walk.complete("afgoer", afgoerelse="fleksjob", afgoerelsesdato="2027-03-08")
    # 4 weeks from 2027-03-08 is 2027-04-05 (summer time: UTC+2)
    assert open_due(domby, walk.case_id) == {"opfoelgning": "2027-04-05T21:59:59+00:00"}
    walk.at("2027-04-05", hour=23)
    assert "eskaler" not in walk.ready()
    walk.end_of("2027-04-05")
    assert walk.ready()["eskaler"] == "teamleder"


def test_foep_tasks_show_their_own_deadline_else_the_sub_process_deadline(runtime):
    """Transferred 2027-01-04: the 3-month decision deadline ends 2027-04-04 23:59 Danish
    summer time. A task in "Behandling i pensionsteamet" without a deadline of its own
    shows the earliest deadline attached to the sub-process."""
    walk = Walk(runtime, "boegeby", "foertidspension", {"overdragelse": {"indstillingsdato": "2027-01-04"}})
    walk.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-04", pensionstype="ordinaer")
    with runtime.sessions() as session:
        sub = {t.bpmn_id: t.due_at.isoformat() for t in session.scalars(select(Timer).where(
            Timer.case_id == walk.case_id, Timer.attached_to == "behandling_pensionsteam"))}
    assert open_due(runtime, walk.case_id) == {"tilbyd_moede": min(sub.values())}
    walk.complete("tilbyd_moede", moedetilbud_dato="2027-01-04", moede_oensket=False)
    walk.end_of("2027-01-18")
    assert open_due(runtime, walk.case_id)["afgoer_foertidspension"] == "2027-04-04T21:59:59+00:00"


# ------------------------------------------------------------ case owner (2026-11-30)
def add_user(rt, username, roles) -> Actor:
    with rt.sessions.begin() as session:
        mid = session.scalar(select(Municipality.id).where(Municipality.key == "domby"))
        user = User(municipality_id=mid, username=username, full_name=username.title(), password_hash=None,
                    created_at=datetime(2027, 1, 1, tzinfo=timezone.utc))
        user.roles = [UserRole(role_key=r) for r in roles]
        session.add(user)
        session.flush()
        return Actor.for_user(user)


def owner_of(rt, case_id):
    with rt.sessions() as session:
        case = session.get(Case, case_id)
        return session.get(User, case.owner_id).username if case.owner_id else None


def claimed(rt, case_id) -> dict[str, str | None]:
    with rt.sessions() as session:
        names = {u.id: u.username for u in session.scalars(select(User))}
    return {t.bpmn_id: names.get(t.claimed_by_id) for t in rt.engine.open_tasks(case_id=case_id)}


def owner_audits(rt, case_id):
    with rt.sessions() as session:
        return [(a.actor, a.detail) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == "case.owner")
            .order_by(AuditEvent.id))]


def test_case_owner_gets_owner_tasks_takes_ownership_and_absence(domby):
    anna = add_user(domby, "domby.anna", ["sagsbehandler"])
    bo = add_user(domby, "domby.bo", ["afgoerelse", "sagsbehandler"])
    first = domby.engine.start_case("domby", "rehabilitering", "010190-1234", "Test Borger", actor=anna)
    case_id = first.case_id
    assert owner_of(domby, case_id) == "domby.anna"                 # who starts the case owns it
    assert claimed(domby, case_id) == {"book_moede": "domby.anna"}   # owner task in her inbox
    domby.engine.complete_task(claimed_id(domby, case_id, "book_moede"),
                               {"bookingdato": "2027-01-04", "moededato": "2027-01-18"}, anna)
    assert claimed(domby, case_id) == {"skriv_indstilling": None}    # not an owner task: the role
    with domby.sessions() as session:
        team = Actor.for_user(session.scalar(select(User).where(User.username == "domby.rehabiliteringsteam")))
    domby.engine.complete_task(claimed_id(domby, case_id, "skriv_indstilling"), {"indstilling": "fleksjob"}, team)
    domby.engine.complete_task(claimed_id(domby, case_id, "afgoer"),
                               {"afgoerelse": "fleksjob", "afgoerelsesdato": "2027-01-04"}, bo)
    assert owner_of(domby, case_id) == "domby.bo"                    # takes_ownership
    assert claimed(domby, case_id) == {"opfoelgning": "domby.bo"}
    assert owner_audits(domby, case_id) == [
        ("domby.anna", {"from": None, "to": "domby.anna", "why": "case.start"}),
        ("domby.bo", {"from": "domby.anna", "to": "domby.bo", "why": "task:afgoer"})]

    # an absent owner (away until and including 2027-01-04): the task goes to the role
    carl = add_user(domby, "domby.carl", ["sagsbehandler"])
    result = CliRunner().invoke(main, ["--database-url", domby.url, "user", "absent", "domby.carl",
                                       "--until", "2027-01-04"], catch_exceptions=False)
    assert (result.exit_code, result.output) == (0, "domby.carl: away until 2027-01-04\n")
    other = domby.engine.start_case("domby", "rehabilitering", "020290-2345", "Anden Borger", actor=carl)
    assert owner_of(domby, other.case_id) == "domby.carl"
    assert claimed(domby, other.case_id) == {"book_moede": None}
    CliRunner().invoke(main, ["--database-url", domby.url, "user", "absent", "domby.carl"], catch_exceptions=False)
    third = domby.engine.start_case("domby", "rehabilitering", "030390-3456", "Tredje Borger", actor=carl)
    assert claimed(domby, third.case_id) == {"book_moede": "domby.carl"}


def claimed_id(rt, case_id, bpmn_id) -> int:
    return next(t.id for t in rt.engine.open_tasks(case_id=case_id) if t.bpmn_id == bpmn_id)


def test_teamleder_changes_the_owner_on_the_case_page_audited_and_visible(domby):
    from inbox import create_app
    from test_inbox import Browser, text

    anna = add_user(domby, "domby.anna", ["sagsbehandler"])
    bo = add_user(domby, "domby.bo", ["sagsbehandler"])
    case_id = domby.engine.start_case("domby", "rehabilitering", "010190-1234", "Test Borger", actor=anna).case_id
    app = create_app(domby, TESTING=True)
    caseworker = Browser(app, "domby.sagsbehandler")
    assert caseworker.post(f"/sager/{case_id}/ejer", {"owner": str(bo.user_id)}).status_code == 403
    assert owner_of(domby, case_id) == "domby.anna"
    leader = Browser(app, "domby.teamleder")
    page = text(leader.get(f"/sager/{case_id}"))
    assert '<dd id="sagsejer">Domby.Anna</dd>' in page and 'name="owner"' in page
    assert leader.post(f"/sager/{case_id}/ejer", {"owner": str(bo.user_id)}).status_code == 302
    assert owner_of(domby, case_id) == "domby.bo"
    assert claimed(domby, case_id) == {"book_moede": "domby.bo"}     # her open owner task moves with the case
    assert owner_audits(domby, case_id)[-1] == (
        "domby.teamleder", {"from": "domby.anna", "to": "domby.bo", "why": "teamleder"})
    assert '<dd id="sagsejer">Domby.Bo</dd>' in text(leader.get(f"/sager/{case_id}"))
    assert 'name="owner"' not in text(caseworker.get(f"/sager/{case_id}"))


# ----------------------------------------------------------------- point 9 (2026-11-30)
def test_grants_cannot_be_shortened_and_the_notice_must_precede_the_7a_deadline():
    assert check_policy({"fj_periode": "P4Y"}) == [
        "fleksjob: a temporary fleksjob is granted for 5 years (P5Y); a grant to the citizen, not a deadline: "
        "it cannot be shortened or lengthened by policy; got P4Y"]
    assert check_policy({"fj_status": "P48M"}) == [
        "fleksjob: status 4½ years after the job starts (P54M); a grant to the citizen, not a deadline: "
        "it cannot be shortened or lengthened by policy; got P48M"]
    assert check_policy({"fj_periode": "P5Y", "fj_status": "P54M"}) == []
    notice = ("rf_naeste_skridt_varsel: the 'next step' task ({w} before the end) must open before the RSL §7a "
              "deadline rf_naeste_skridt_foer_udloeb ({d} before the end); got {w}")
    assert check_policy({"rf_naeste_skridt_varsel": "P1W"}) == [notice.format(w="P1W", d="P2W")]
    assert check_policy({"rf_naeste_skridt_varsel": "P2W"}) == [notice.format(w="P2W", d="P2W")]
    assert check_policy({"rf_naeste_skridt_foer_udloeb": "P8W"}) == [notice.format(w="P6W", d="P8W")]
    assert check_policy({"rf_naeste_skridt_foer_udloeb": "P8W", "rf_naeste_skridt_varsel": "P10W"}) == []


def test_policy_set_checks_the_notice_against_the_version_in_force_and_stores_nothing(sqlite_runtime):
    def policy_set(*assignments, code=0):
        result = CliRunner().invoke(main, ["--database-url", sqlite_runtime.url, "policy", "set", "aaby",
                                           *assignments, "--effective-from", "2027-02-01", "--user", "aaby.admin"],
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result

    def stored():
        with sqlite_runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(PolicyVersion))

    policy_set("rf_naeste_skridt_foer_udloeb=P8W", "rf_naeste_skridt_varsel=P10W")
    before = stored()
    # P7W alone is longer than the law's 2 weeks, but not than the P8W now in force
    result = policy_set("rf_naeste_skridt_varsel=P7W", code=6)
    assert "must open before the RSL §7a deadline rf_naeste_skridt_foer_udloeb (P8W before the end); got P7W" in result.stderr
    result = policy_set("fj_periode=P3Y", code=6)
    assert result.stderr == ("error: fleksjob: a temporary fleksjob is granted for 5 years (P5Y); a grant to the "
                             "citizen, not a deadline: it cannot be shortened or lengthened by policy; got P3Y\n")
    assert stored() == before


def test_milestone_items_keys_and_expressions_are_checked_at_load():
    marked = '<camunda:property name="milestone" value="moede_holdt"/>'
    assert marked in DOMBY_REHAB
    for prop, problem in (
            ('<camunda:property name="milestone_items:indsats_anbefaling" value="[]"/>',
             "milestone 'indsats_anbefaling' is not in the catalogue (processes/milestones.py)"),
            ('<camunda:property name="milestone_items:indsats_anbefalet" value="__import__(&quot;os&quot;)"/>',
             "milestone_items:indsats_anbefalet refused by the restricted evaluator")):
        with pytest.raises(ModelInvalid) as info:
            parse_model(DOMBY_REHAB.replace(marked, marked + prop), "domby.bpmn")
        assert [str(p) for p in info.value.problems][0].startswith(f"domby.bpmn: skriv_indstilling: {problem}")
    ok = parse_model(DOMBY_REHAB.replace(marked, marked + '<camunda:property name="milestone_items:indsats_anbefalet" '
                                                          'value="[i for i in (emner or [])]"/>'), "domby.bpmn")
    assert ok.metadata["item_milestones"] == {"skriv_indstilling": [
        {"key": "indsats_anbefalet", "items": "[i for i in (emner or [])]", "date": "moededato"}]}   # the node's date
