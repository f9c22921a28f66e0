"""A municipality from files: ``sagsflow municipality add PATH`` registers a folder with a
policy file and its own model, or refuses it naming file, element and problem and
storing nothing.

Dalby (fictional) runs its own fleksjob model, written here: the virksomhedskonsulent
holds the first talk within 2 weeks (stricter than the law's 3), may enrol the citizen
in a job club, and a letter confirms the plan. No Python change is needed to run it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from processes.models import Municipality
from sagsflow.cli import main
from walk import Walk

DALBY_FLEKSJOB = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_dalby_fleksjob" targetNamespace="https://sagsflow.dk/bpmn/dalby">
  <bpmn:collaboration id="collab"><bpmn:participant id="p" name="Dalby Jobcenter" processRef="fleksjob"/></bpmn:collaboration>
  <bpmn:process id="fleksjob" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lane_vk" name="virksomhedskonsulent">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>registrer_visitation</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>foerste_samtale</bpmn:flowNodeRef><bpmn:flowNodeRef>frist_foerste_samtale</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw_jobklub</bpmn:flowNodeRef><bpmn:flowNodeRef>tilmeld_jobklub</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw_samlet</bpmn:flowNodeRef><bpmn:flowNodeRef>send_plan</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>slut</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_tl" name="teamleder">
        <bpmn:flowNodeRef>eskaler_foerste_samtale</bpmn:flowNodeRef><bpmn:flowNodeRef>eskalering_slut</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="registrer_visitation"/>
    <bpmn:scriptTask id="registrer_visitation" name="Registrér visitationsdato" scriptFormat="python">
      <bpmn:script>try:
    visitationsdato = overdragelse["visitationsdato"]
except Exception:
    visitationsdato = startdato</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="registrer_visitation" targetRef="foerste_samtale"/>
    <bpmn:userTask id="foerste_samtale" name="Første samtale med virksomhedskonsulenten">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="samtaledato" label="Samtaledato" type="date">
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="jobklub" label="Tilmeld jobklub" type="boolean" defaultValue="false"/>
        <camunda:formField id="note" label="Note" type="string"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="frist_foerste_samtale" name="Frist: første samtale" attachedToRef="foerste_samtale" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties><camunda:property name="deadline" value="fj_foerste_samtale"/></camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDate>add_duration(add_duration(visitationsdato, policy["fj_foerste_samtale"]), "PT23H59M59S")</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_esk" sourceRef="frist_foerste_samtale" targetRef="eskaler_foerste_samtale"/>
    <bpmn:userTask id="eskaler_foerste_samtale" name="Frist overskredet: første samtale"/>
    <bpmn:sequenceFlow id="f_esk_slut" sourceRef="eskaler_foerste_samtale" targetRef="eskalering_slut"/>
    <bpmn:endEvent id="eskalering_slut"/>
    <bpmn:sequenceFlow id="f3" sourceRef="foerste_samtale" targetRef="gw_jobklub"/>
    <bpmn:exclusiveGateway id="gw_jobklub" default="f_uden_jobklub"/>
    <bpmn:sequenceFlow id="f_jobklub" sourceRef="gw_jobklub" targetRef="tilmeld_jobklub">
      <bpmn:conditionExpression>jobklub</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_uden_jobklub" sourceRef="gw_jobklub" targetRef="gw_samlet"/>
    <bpmn:userTask id="tilmeld_jobklub" name="Tilmeld jobklub">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="jobklub_start" label="Første mødedag" type="date">
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="tilmeld_jobklub" targetRef="gw_samlet"/>
    <bpmn:exclusiveGateway id="gw_samlet"/>
    <bpmn:sequenceFlow id="f5" sourceRef="gw_samlet" targetRef="send_plan"/>
    <bpmn:serviceTask id="send_plan" name="Send plan til borgeren">
      <bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="letter"><spiffworkflow:parameters>
        <spiffworkflow:parameter id="template" type="str" value="&quot;indkaldelse_samtale&quot;"/>
      </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f6" sourceRef="send_plan" targetRef="slut"/>
    <bpmn:endEvent id="slut"/>
  </bpmn:process>
</bpmn:definitions>
"""

DALBY_POLICY = {"fj_foerste_samtale": "P2W", "fj_tidlig_opfoelgning": True, "fj_tidlig_opfoelgning_efter": "P4M"}


def write_folder(root: Path, model: str = DALBY_FLEKSJOB, values: dict | None = None, key: str = "dalby") -> Path:
    folder = root / key
    folder.mkdir()
    (folder / "fleksjob.bpmn").write_text(model, encoding="utf-8")
    (folder / "municipality.json").write_text(json.dumps({
        "key": key, "name": "Dalby Kommune",
        "models": {"fleksjob": "fleksjob.bpmn", "rehabilitering": "shared"},
        "policy": {"effective_from": "2027-01-01", "values": DALBY_POLICY if values is None else values},
    }), encoding="utf-8")
    return folder


def run_cli(url: str, *args):
    return CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)


TABLES = ("municipality", "model_version", "municipal_model", "policy_version", "app_user")


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
    engine.dispose()
    return found


# ------------------------------------------------------------------ a fourth municipality
def test_register_a_fourth_municipality_from_files_and_run_a_case(runtime, tmp_path):
    folder = write_folder(tmp_path)
    result = run_cli(runtime.url, "municipality", "add", str(folder), "--demo-users", "--user", "it.admin")
    assert result.exit_code == 0, result.output + result.stderr
    # case types the folder does not name run the shared models
    assert result.stdout == ("registered dalby (Dalby Kommune): rehabilitering=shared, ressourceforloeb=shared, "
                             "fleksjob=fleksjob.bpmn, foertidspension=shared, sygedagpenge=shared\n")
    # its own model has no English beside the Danish: warnings (issue 14.7), and it registers
    assert result.stderr and all(line.startswith("warning: fleksjob.bpmn: ") and "has no English" in line
                                 for line in result.stderr.splitlines())
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Municipality)) == 4
    history = run_cli(runtime.url, "policy", "history", "dalby").output
    assert "by it.admin" in history and "fj_foerste_samtale: P3W -> P2W" in history

    # the citizen is visited on Monday 2027-01-04: Dalby's own model, Dalby's 2 weeks
    walk = Walk(runtime, "dalby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    assert walk.ready() == {"foerste_samtale": "virksomhedskonsulent"}
    assert walk.due("foerste_samtale") == "2027-01-18"
    walk.end_of("2027-01-18")
    assert walk.ready() == {"foerste_samtale": "virksomhedskonsulent", "eskaler_foerste_samtale": "teamleder"}
    walk.complete("eskaler_foerste_samtale")
    walk.complete("foerste_samtale", samtaledato="2027-01-19", jobklub=True)
    assert walk.ready() == {"tilmeld_jobklub": "virksomhedskonsulent"}
    walk.complete("tilmeld_jobklub", jobklub_start="2027-01-25")
    assert walk.templates() == ["indkaldelse_samtale"]
    assert walk.instances() == [("fleksjob", "completed")]

    # the optional switch left out of the form takes its default: no job club
    other = Walk(runtime, "dalby", "fleksjob", cpr="020290-2345")
    other.complete("foerste_samtale", samtaledato="2027-01-20")
    assert other.ready() == {} and other.instances() == [("fleksjob", "completed")]

    # updating from the same folder again changes nothing (without --update it is refused)
    before = counts(runtime.url)
    assert run_cli(runtime.url, "municipality", "add", str(folder), "--update").exit_code == 0
    assert counts(runtime.url) == before


# ------------------------------------------------------------------ refused configurations
def _refused(sqlite_runtime, folder: Path) -> str:
    before = counts(sqlite_runtime.url)
    result = run_cli(sqlite_runtime.url, "municipality", "add", str(folder), "--demo-users")
    assert result.exit_code == 6, result.output
    assert counts(sqlite_runtime.url) == before                          # nothing stored
    with sqlite_runtime.sessions() as session:
        assert session.scalar(select(Municipality).where(Municipality.key == "dalby")) is None
    return result.stderr


def _model(old: str, new: str) -> str:
    assert old in DALBY_FLEKSJOB
    return DALBY_FLEKSJOB.replace(old, new)


REFUSED_MODELS = {
    "bad_xml": (DALBY_FLEKSJOB[:-40], "fleksjob.bpmn: not well-formed XML"),
    "unknown_lane": (_model('name="teamleder"', 'name="jobkonsulent"'),
                     "fleksjob.bpmn: lane_tl: lane 'jobkonsulent' is not a known role"),
    "unknown_candidate_group": (
        _model('<bpmn:userTask id="eskaler_foerste_samtale" ',
               '<bpmn:userTask id="eskaler_foerste_samtale" camunda:candidateGroups="direktoer" '),
        "fleksjob.bpmn: eskaler_foerste_samtale: role 'direktoer' is not a known role"),
    "timer_not_iso": (_model("<bpmn:timeDate>add_duration(add_duration(visitationsdato, policy[\"fj_foerste_samtale\"]), \"PT23H59M59S\")</bpmn:timeDate>",
                             "<bpmn:timeDuration>policy[\"fj_foerste_samtale\"] + \" uger\"</bpmn:timeDuration>"),
                      "fleksjob.bpmn: frist_foerste_samtale: timer value 'P2W uger' is not a valid ISO 8601 timeDuration"),
    "unknown_policy_key": (_model("<bpmn:conditionExpression>jobklub</bpmn:conditionExpression>",
                                  "<bpmn:conditionExpression>jobklub and policy[\"fj_jobklub\"]</bpmn:conditionExpression>"),
                           "fleksjob.bpmn: f_jobklub: reads unknown policy parameter 'fj_jobklub'"),
    "script_import": (_model("    visitationsdato = startdato</bpmn:script>",
                             "    import os\n    visitationsdato = os.getcwd()</bpmn:script>"),
                      "fleksjob.bpmn: registrer_visitation: script refused by the restricted evaluator: "
                      "Line 4: import of os is not allowed"),
    "script_dunder": (_model("    visitationsdato = startdato</bpmn:script>",
                             "    visitationsdato = startdato.__class__.__subclasses__()</bpmn:script>"),
                      "fleksjob.bpmn: registrer_visitation: script refused by the restricted evaluator: "
                      "Line 4: \"__subclasses__\" is an invalid attribute name"),
    "loosened_model": (_model('add_duration(add_duration(visitationsdato, policy["fj_foerste_samtale"]), "PT23H59M59S")',
                              'add_duration(visitationsdato, "P4W")'),
                       "fleksjob.bpmn: frist_foerste_samtale: fleksjob: first talk must be within 3 weeks (P3W); got P4W"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED_MODELS))
def test_refused_model(sqlite_runtime, tmp_path, kind):
    model, expected = REFUSED_MODELS[kind]
    stderr = _refused(sqlite_runtime, write_folder(tmp_path, model=model))
    assert f"error: {expected}" in stderr, stderr


def test_refused_model_names_the_tagged_rule_it_must_read(sqlite_runtime, tmp_path):
    """A tagged statutory timer with a hard-wired duration is refused even when the
    duration is within the bound: a stricter policy could not reach it."""
    model = _model('add_duration(add_duration(visitationsdato, policy["fj_foerste_samtale"]), "PT23H59M59S")',
                   'add_duration(visitationsdato, "P2W")')
    stderr = _refused(sqlite_runtime, write_folder(tmp_path, model=model))
    assert stderr.strip().splitlines() == [
        "error: fleksjob.bpmn: frist_foerste_samtale: timer tagged with the rule 'fj_foerste_samtale' "
        "(fleksjob: first talk must be within 3 weeks) must read policy[\"fj_foerste_samtale\"]; "
        "its expression is 'add_duration(visitationsdato, \"P2W\")'"]


def test_refused_policy_loosening_a_statutory_bound(sqlite_runtime, tmp_path):
    folder = write_folder(tmp_path, values={"fj_foerste_samtale": "P4W"})
    stderr = _refused(sqlite_runtime, folder)
    assert stderr.strip().splitlines() == [
        f"error: {folder / 'municipality.json'}: policy: fleksjob: first talk must be within 3 weeks (P3W); got P4W"]


def test_refused_unknown_policy_key_and_bad_values(sqlite_runtime, tmp_path):
    folder = write_folder(tmp_path, values={"fj_foerste_samtal": "P2W", "fj_tidlig_opfoelgning": "ja",
                                            "rehab_booking_frist": "P7D"})
    lines = _refused(sqlite_runtime, folder).strip().splitlines()
    where = f"error: {folder / 'municipality.json'}: policy: "
    assert sorted(lines) == sorted([
        where + "fj_foerste_samtal: unknown policy parameter",
        where + "fj_tidlig_opfoelgning: expected true or false, got 'ja'",
        where + "rehabilitering: local booking lead time (sundhedskoordinator needs 10 days) (at least P10D); got P7D",
    ])


def test_refused_folder_without_policy_file_or_model(sqlite_runtime, tmp_path):
    folder = write_folder(tmp_path)
    (folder / "fleksjob.bpmn").unlink()
    stderr = _refused(sqlite_runtime, folder)
    assert f"error: {folder / 'municipality.json'}: models.fleksjob: model file 'fleksjob.bpmn' not found" in stderr
    (folder / "municipality.json").unlink()
    assert f"error: {folder}: no municipality.json in the folder" in _refused(sqlite_runtime, folder)
