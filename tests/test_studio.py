"""The process designers' studio (issue 12), below the browser: drafts with their
problems, scenario runs, publishing from a date, the diff table, imports from other
tools, and the pages' access rules. The browser test is tests/test_browser_studio.py."""
from __future__ import annotations

import json
import re
from datetime import date
from html import escape

import pytest
from sqlalchemy import select

from processes import studio, timekeeping
from processes.catalogue import version_in_force
from processes.errors import InvalidInput
from processes.models import AuditEvent, ModelDraft, ModelPublication, ModelVersion, Municipality, ProcessInstance
from walk import Walk

NEW_TASK = """
    <bpmn:userTask id="forbered_samtale" name="Forbered første samtale">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="forberedt" label="Forberedt" type="{kind}">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="frist_forbered_samtale" name="Frist: forberedelse" cancelActivity="false" attachedToRef="forbered_samtale">
      <bpmn:extensionElements><camunda:properties><camunda:property name="deadline" value="fj_foerste_samtale" /></camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDuration>{timer}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
"""


def with_new_task(xml: str, kind: str = "boolean", timer: str = 'policy["fj_foerste_samtale"]') -> str:
    """The fleksjob model with a user task (a form and a deadline) between the invitation
    letter and the first talk, in the sagsbehandler lane: what the editor's test adds."""
    xml = xml.replace('<bpmn:flowNodeRef>foerste_samtale</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>foerste_samtale</bpmn:flowNodeRef><bpmn:flowNodeRef>forbered_samtale</bpmn:flowNodeRef>', 1)
    xml = xml.replace('targetRef="foerste_samtale"', 'targetRef="forbered_samtale"', 1)
    task = NEW_TASK.format(kind=kind, timer=escape(timer))
    task += ('<bpmn:sequenceFlow id="f_forbered_samtale__foerste_samtale" sourceRef="forbered_samtale" '
             'targetRef="foerste_samtale" />')
    return xml.replace('<bpmn:userTask id="foerste_samtale"', task + '<bpmn:userTask id="foerste_samtale"', 1)


WALK_NEW_TASK = [{
    "name": "Forberedelse før første samtale",
    "start": "2027-01-04",
    "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
    "steps": [
        {"expect": {"task": "forbered_samtale", "role": "sagsbehandler", "due": "2027-01-25"}},
        {"complete": "forbered_samtale", "values": {"forberedt": True}},
        {"expect": {"task": "foerste_samtale", "role": "sagsbehandler", "due": "2027-01-25"}},
    ],
}]


def _boegeby(session) -> int:
    return session.scalar(select(Municipality.id).where(Municipality.key == "boegeby"))


def test_a_draft_with_errors_is_saved_with_each_problem_on_its_element_and_not_published(sqlite_runtime):
    rt = sqlite_runtime
    with rt.sessions.begin() as s:
        now = timekeeping.now(s)
        draft = studio.create_draft(s, _boegeby(s), "fleksjob", "boegeby.procesdesigner", now)
        assert draft.problems == []
        assert draft.scenarios and draft.scenarios[0]["name"].startswith("Første samtale")  # the shipped ones
        broken = with_new_task(draft.bpmn_xml, kind="enum", timer='"P30Y" if x else "P2D"')
        problems = studio.save_draft(s, draft, "boegeby.procesdesigner", now, xml=broken)
        draft_id = draft.id
    errors = {(p["element"], p["severity"]) for p in problems}
    assert ("forbered_samtale", "error") in errors  # enum without values
    assert ("frist_forbered_samtale", "error") in errors  # tagged deadline that does not read its rule
    assert any("enum field 'forberedt' has no values" in p["message"] for p in problems)
    assert all(p["name"] for p in problems if p["element"])
    with rt.sessions.begin() as s:
        draft = s.get(ModelDraft, draft_id)
        assert draft.bpmn_xml == broken and studio.has_errors(draft.problems)  # kept as it was
        publication, results = studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 4), "Ny opgave",
                                              timekeeping.now(s))
        assert publication is None and "errors" in results[0]["failure"]
        assert s.scalar(select(ModelPublication.id)) is None
        # fixed (the enum becomes a yes/no field, the deadline reads its rule): no errors left
        base = s.get(ModelVersion, draft.base_version_id).bpmn_xml
        problems = studio.save_draft(s, draft, "boegeby.procesdesigner", timekeeping.now(s), xml=with_new_task(base))
        assert [p for p in problems if p["severity"] == "error"] == []


def test_publishing_runs_the_scenarios_refuses_a_failure_and_puts_the_version_in_force_from_its_date(sqlite_runtime):
    rt = sqlite_runtime
    with rt.sessions.begin() as s:
        now = timekeeping.now(s)
        municipality_id = _boegeby(s)
        old_version = version_in_force(s, municipality_id, "fleksjob", now)
        draft = studio.create_draft(s, municipality_id, "fleksjob", "boegeby.procesdesigner", now)
        studio.save_draft(s, draft, "boegeby.procesdesigner", now, xml=with_new_task(draft.bpmn_xml))
        # the shipped scenario expects the first talk at once: it fails now, and publishing is refused
        publication, results = studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 11),
                                              "Forberedelse før første samtale", now)
        assert publication is None
        assert results[0]["passed"] is False and results[0]["step"] == 1
        assert "expected task 'foerste_samtale' to be open" in results[0]["failure"]
        assert results[0]["element"] == "foerste_samtale"
        studio.save_draft(s, draft, "boegeby.procesdesigner", now, scenarios=WALK_NEW_TASK)
        with pytest.raises(InvalidInput):  # the comment is required
            studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 11), "  ", now)
        with pytest.raises(InvalidInput):  # not in the past
            studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 3), "Ny opgave", now)
        publication, results = studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 11),
                                              "Forberedelse før første samtale", now)
        assert publication is not None and [r["passed"] for r in results] == [True]
        new_version = publication.model_version_id
        assert draft.status == "published" and draft.published_version_id == new_version
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "model.publish")).one()
        assert audit.actor == "boegeby.procesdesigner"
        assert audit.detail["comment"] == "Forberedelse før første samtale"
        assert audit.detail["effective_from"] == "2027-01-11" and audit.detail["from"] == "shared v1"
    # before the date new cases start on the old version, from it on the new one
    before = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}}, cpr="010190-1111")
    assert set(before.ready()) == {"foerste_samtale"}
    Walk.at(before, "2027-01-11", hour=0)
    after = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-11"}}, cpr="010190-2222")
    assert after.ready() == {"forbered_samtale": "sagsbehandler"}
    with rt.sessions() as s:
        instances = {w.case_id: s.scalar(select(ProcessInstance.model_version_id)
                                         .where(ProcessInstance.case_id == w.case_id)) for w in (before, after)}
        assert instances == {before.case_id: old_version, after.case_id: new_version}
        # the model list shows the publication: who, when, why, and that it is in force
        rows = {r["case_type"]: r for r in studio.overview(s, _boegeby(s), timekeeping.now(s))}
        fleksjob = rows["fleksjob"]
        assert fleksjob["in_force"].id == new_version and not fleksjob["shared"]
        published = [h for h in fleksjob["history"] if h["publications"]]
        assert published[0]["publications"][0].comment == "Forberedelse før første samtale"
        assert published[0]["in_force"] is True


def test_a_changed_folder_registered_later_wins_over_an_earlier_studio_publication(sqlite_runtime, tmp_path):
    import shutil
    from processes import municipalities
    rt = sqlite_runtime
    with rt.sessions.begin() as s:
        now = timekeeping.now(s)
        draft = studio.create_draft(s, _boegeby(s), "fleksjob", "boegeby.procesdesigner", now)
        studio.save_draft(s, draft, "boegeby.procesdesigner", now, xml=with_new_task(draft.bpmn_xml),
                          scenarios=WALK_NEW_TASK)
        publication, _ = studio.publish(s, draft, "boegeby.procesdesigner", date(2027, 1, 4), "Studie", now)
        studio_version = publication.model_version_id
    folder = tmp_path / "boegeby"
    shutil.copytree(municipalities.reference_folders()[1], folder)
    assert json.loads((folder / "municipality.json").read_text())["key"] == "boegeby"
    with rt.sessions.begin() as s:  # the same folder again (sagsflow init): the studio's version stays
        municipalities.register(s, municipalities.load_folder(folder), timekeeping.now(s), update=True)
        assert version_in_force(s, _boegeby(s), "fleksjob", timekeeping.now(s)) == studio_version
    config = json.loads((folder / "municipality.json").read_text())
    shutil.copy(municipalities.SHARED_DIR / "fleksjob.bpmn", folder / "fleksjob.bpmn")
    (folder / "fleksjob.bpmn").write_text((folder / "fleksjob.bpmn").read_text().replace(
        'name="Hold første samtale efter visitation"', 'name="Hold første samtale"'))
    config["models"]["fleksjob"] = "fleksjob.bpmn"
    (folder / "municipality.json").write_text(json.dumps(config))
    with rt.sessions.begin() as s:
        municipalities.register(s, municipalities.load_folder(folder), timekeeping.now(s), update=True)
        in_force = s.get(ModelVersion, version_in_force(s, _boegeby(s), "fleksjob", timekeeping.now(s)))
        assert in_force.id != studio_version and "Hold første samtale\"" in in_force.bpmn_xml


def test_the_diff_table_names_changed_forms_timers_and_roles_and_the_policy_values_read():
    shared = (studio.scenario_runner.BPMN_DIR / "shared" / "fleksjob.bpmn").read_text(encoding="utf-8")
    changed = with_new_task(shared).replace('camunda:candidateGroups="teamleder"', 'camunda:candidateGroups="sekretariat"', 1)
    changed = changed.replace('policy["fj_ly_kontakt_interval"]', 'policy["fj_anden_aktoer_mulig"]').replace(
        'value="fj_ly_kontakt_interval"', 'value="fj_anden_aktoer_mulig"')
    rows = studio.diff_facts(shared, changed)
    by = {(r["element"], r["change"], r["property"]) for r in rows}
    assert ("forbered_samtale", "added", "userTask") in by
    assert ("frist_forbered_samtale", "added", "boundaryEvent") in by
    assert ("f_indkald_foerste_samtale__foerste_samtale", "changed", "flow") in by
    timer = {r["property"]: (r["old"], r["new"]) for r in rows if r["element"] == "frist_ly_kontaktsamtale"}
    assert timer == {"deadline": ("fj_ly_kontakt_interval", "fj_anden_aktoer_mulig"),
                     "timer": ('timeDuration: policy["fj_ly_kontakt_interval"]', 'timeDuration: policy["fj_anden_aktoer_mulig"]')}
    escalation = next(r for r in rows if r["property"] == "role")
    assert (escalation["old"], escalation["new"]) == ("teamleder", "sekretariat")
    assert studio.diff_facts(shared, shared) == []
    policy = studio.policy_diff(shared, changed, {"fj_ly_kontakt_interval": "P3M", "fj_anden_aktoer_mulig": "P6M"},
                                {"fj_ly_kontakt_interval": "P3M", "fj_anden_aktoer_mulig": "P6M"})
    assert policy == [{"key": "fj_ly_kontakt_interval", "old": "P3M", "new": None, "read_old": True, "read_new": False}]
    moved = studio.policy_diff(shared, shared, {"fj_foerste_samtale": "P3W"}, {"fj_foerste_samtale": "P2W"})
    assert moved == [{"key": "fj_foerste_samtale", "old": "P3W", "new": "P2W", "read_old": True, "read_new": True}]


FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.0.0">
  <bpmn:collaboration id="samarbejde">
    <bpmn:participant id="pool_kommune" name="Kommunen" processRef="sygedagpenge" />
    <bpmn:participant id="pool_borger" name="Borgeren" processRef="borger_proces" />
    <bpmn:participant id="pool_laege" name="Lægen" />
    <bpmn:messageFlow id="mf_brev" name="Brev" sourceRef="send_brev" targetRef="pool_borger" />
  </bpmn:collaboration>
  <bpmn:process id="sygedagpenge" isExecutable="true">
    <bpmn:startEvent id="start" name="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send_brev" />
    <bpmn:sendTask id="send_brev" name="Send brev" />
    <bpmn:sequenceFlow id="f2" sourceRef="send_brev" targetRef="regel" />
    <bpmn:businessRuleTask id="regel" name="Beregn ret" />
    <bpmn:sequenceFlow id="f3" sourceRef="regel" targetRef="kompleks" />
    <bpmn:complexGateway id="kompleks" name="Kompleks" />
    <bpmn:sequenceFlow id="f4" sourceRef="kompleks" targetRef="betinget" />
    <bpmn:intermediateCatchEvent id="betinget" name="Når betingelsen holder"><bpmn:conditionalEventDefinition /></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="betinget" targetRef="kald" />
    <bpmn:callActivity id="kald" name="Kald andet forløb" calledElement="andet" />
    <bpmn:sequenceFlow id="f6" sourceRef="kald" targetRef="modtag" />
    <bpmn:receiveTask id="modtag" name="Modtag svar" />
    <bpmn:sequenceFlow id="f7" sourceRef="modtag" targetRef="slut" />
    <bpmn:endEvent id="slut" name="Slut"><bpmn:compensateEventDefinition /></bpmn:endEvent>
    <bpmn:dataObjectReference id="dokument_ref" name="Lægeattest" dataObjectRef="dokument" />
    <bpmn:dataObject id="dokument" />
    <bpmn:textAnnotation id="note"><bpmn:text>Husk samtykke</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="note_assoc" sourceRef="start" targetRef="note" />
  </bpmn:process>
  <bpmn:process id="borger_proces" name="Borgerens forløb" isExecutable="false">
    <bpmn:startEvent id="b_start" name="Brev modtaget"><bpmn:messageEventDefinition /></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="b_timer" name="Efter en uge"><bpmn:timerEventDefinition><bpmn:timeDuration>P1W</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="b_signal" name="Signal"><bpmn:signalEventDefinition /></bpmn:intermediateCatchEvent>
    <bpmn:intermediateThrowEvent id="b_eskalering" name="Eskalér"><bpmn:escalationEventDefinition /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateThrowEvent id="b_link_ud" name="Til B"><bpmn:linkEventDefinition name="B" /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="b_link_ind" name="Fra B"><bpmn:linkEventDefinition name="B" /></bpmn:intermediateCatchEvent>
    <bpmn:task id="b_svar" name="Svar kommunen" />
    <bpmn:boundaryEvent id="b_fejl" name="Fejl" attachedToRef="b_svar"><bpmn:errorEventDefinition /></bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="b_kompensation" name="Fortryd" attachedToRef="b_svar"><bpmn:compensateEventDefinition /></bpmn:boundaryEvent>
    <bpmn:endEvent id="b_slut_fejl" name="Fejlslut"><bpmn:errorEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="b_slut_stop" name="Stop"><bpmn:terminateEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="b_slut_signal" name="Signalslut"><bpmn:signalEventDefinition /></bpmn:endEvent>
    <bpmn:sequenceFlow id="bf1" sourceRef="b_start" targetRef="b_timer" />
    <bpmn:sequenceFlow id="bf2" sourceRef="b_timer" targetRef="b_svar" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d">
    <bpmndi:BPMNPlane id="p" bpmnElement="samarbejde">
      <bpmndi:BPMNShape id="pool_kommune_di" bpmnElement="pool_kommune" isHorizontal="true"><dc:Bounds x="100" y="50" width="900" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="150" y="130" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="send_brev_di" bpmnElement="send_brev"><dc:Bounds x="240" y="108" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="note_di" bpmnElement="note"><dc:Bounds x="400" y="70" width="120" height="30" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="pool_borger_di" bpmnElement="pool_borger" isHorizontal="true"><dc:Bounds x="100" y="300" width="900" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="b_start_di" bpmnElement="b_start"><dc:Bounds x="150" y="380" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="186" y="148" /><di:waypoint x="240" y="148" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="mf_brev_di" bpmnElement="mf_brev"><di:waypoint x="290" y="188" /><di:waypoint x="290" y="300" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_a_foreign_file_reports_per_element_what_sagsflow_does_not_run_and_never_raises():
    findings = {f.element: f for f in studio.unsupported_elements(FOREIGN)}
    expected_errors = {"send_brev": "Send brev", "regel": "Beregn ret", "kompleks": "Kompleks",
                       "betinget": "Når betingelsen holder", "kald": "Kald andet forløb", "modtag": "Modtag svar",
                       "slut": "Slut"}
    for element, name in expected_errors.items():
        assert findings[element].severity == "error" and findings[element].name == name, element
    for element in ("pool_borger", "pool_laege", "mf_brev", "dokument_ref", "dokument", "note", "note_assoc",
                    "borger_proces"):
        assert findings[element].severity == "warning", element
    assert "pool_kommune" not in findings  # the executable process's own pool runs
    for broken in ("", "not xml", "<html><body/></html>", "\x00", '<?xml version="1.0"?><a>'):
        found = studio.unsupported_elements(broken)
        assert len(found) == 1 and found[0].severity == "error" and not found[0].element


def test_an_imported_file_becomes_a_draft_with_validation_and_import_findings(sqlite_runtime):
    with sqlite_runtime.sessions.begin() as s:
        draft = studio.create_draft(s, _boegeby(s), "sygedagpenge", "boegeby.procesdesigner", timekeeping.now(s),
                                    xml=FOREIGN, title="Importeret: fremmed.bpmn")
        elements = {p["element"] for p in draft.problems}
        assert {"send_brev", "regel", "kompleks", "kald", "modtag"} <= elements
        assert studio.has_errors(draft.problems)
        assert draft.bpmn_xml == FOREIGN  # nothing lost: the file is kept as it came


@pytest.mark.parametrize("path", sorted(studio.scenario_runner.SCENARIO_DIR.glob("*/*.json")),
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_the_shipped_models_pass_their_scenarios(sqlite_runtime, path):
    municipality, case_type = path.parent.name, path.stem
    scenarios = json.loads(path.read_text(encoding="utf-8"))
    assert scenarios, f"{path} has no scenario"
    with sqlite_runtime.sessions() as s:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == municipality))
        version = s.get(ModelVersion, version_in_force(s, municipality_id, case_type, timekeeping.now(s)))
        box = studio.sandbox(s, municipality_id, case_type, version.bpmn_xml, timekeeping.now(s))
    results = studio.scenario_runner.run_scenarios(box, case_type, scenarios)
    assert [(r.name, r.failure) for r in results if not r.passed] == []
    assert all(r.steps == len(s["steps"]) for r, s in zip(results, scenarios))


def test_every_shipped_model_has_scenarios():
    """Each model file that ships (a shared model, a municipality's own) has scenario tests
    under at least one reference municipality that runs it."""
    from processes.municipalities import load_folder, reference_folders
    tested: dict[str, list[str]] = {}
    for folder in reference_folders():
        config = load_folder(folder)
        for case_type, (parsed, _shared) in config.models.items():
            tested.setdefault(parsed.file_name, [])
            if studio.scenario_runner.shipped(config.key, case_type):
                tested[parsed.file_name].append(config.key)
    assert len(tested) == 7 and {name: keys for name, keys in tested.items() if not keys} == {}


def test_a_scenario_that_fails_says_where_and_why(sqlite_runtime):
    wrong = [{"name": "Forkert dato", "start": "2027-01-04", "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
              "steps": [{"expect": {"task": "foerste_samtale", "role": "sagsbehandler", "due": "2027-01-24"}}]},
             {"name": "Forkert rolle", "start": "2027-01-04", "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
              "steps": [{"expect": {"task": "foerste_samtale", "role": "ydelse"}}]},
             {"name": "Ugyldig formular", "start": "2027-01-04", "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
              "steps": [{"complete": "foerste_samtale", "values": {"situation": "maaske"}}]}]
    with sqlite_runtime.sessions() as s:
        municipality_id = _boegeby(s)
        version = s.get(ModelVersion, version_in_force(s, municipality_id, "fleksjob", timekeeping.now(s)))
        box = studio.sandbox(s, municipality_id, "fleksjob", version.bpmn_xml, timekeeping.now(s))
    due, role, form = studio.scenario_runner.run_scenarios(box, "fleksjob", wrong)
    assert not due.passed and "due 2027-01-25, expected 2027-01-24" in due.failure and due.element == "foerste_samtale"
    assert not role.passed and "in role 'sagsbehandler', expected 'ydelse'" in role.failure
    assert not form.passed and form.step == 1 and form.element == "foerste_samtale"
    assert studio.scenario_runner.check_format([{"name": "x", "start": "januar", "steps": [{"fly": 1}]}]) == [
        "scenario 1 (x): start must be a date YYYY-MM-DD",
        "scenario 1 (x), step 1: one of expect, at, end_of, complete, expect_absent, expect_letters per step, got {'fly': 1}"]


# ------------------------------------------------------------------------- pages
def _client(app, username):
    http = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True)).group(1)
    assert http.post("/login", data={"username": username, "password": "demo", "csrf_token": token}).status_code == 302
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/").get_data(as_text=True)).group(1)
    return http, csrf


def test_the_studio_pages_are_for_designers_and_each_sees_only_their_own_municipality(sqlite_runtime):
    from inbox import create_app
    app = create_app(sqlite_runtime, TESTING=True)
    designer, csrf = _client(app, "boegeby.procesdesigner")
    page = designer.get("/studio/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Processtudie" in text and "Ny kladde af Fleksjob" in text
    created = designer.post("/studio/kladder", data={"case_type": "fleksjob", "csrf_token": csrf})
    assert created.status_code == 302
    draft_url = created.headers["Location"]
    draft_id = int(draft_url.rstrip("/").split("/")[-1])
    assert designer.get(draft_url).status_code == 200
    saved = designer.post(f"/studio/kladder/{draft_id}/gem", headers={"X-CSRFToken": csrf},
                          json={"xml": with_new_task(designer.get(f"/studio/kladder/{draft_id}/model.bpmn")
                                                     .get_data(as_text=True), kind="enum")})
    assert saved.status_code == 200 and saved.json["errors"] == 1
    assert saved.json["problems"][0]["element"] == "forbered_samtale"
    bad = designer.post(f"/studio/kladder/{draft_id}/gem", headers={"X-CSRFToken": csrf}, json={"scenarios": {"x": 1}})
    assert bad.status_code == 422 and "JSON list" in bad.json["message"]
    refused = designer.post(f"/studio/kladder/{draft_id}/udgiv",
                            data={"csrf_token": csrf, "effective_from": "2027-01-04", "comment": "Prøve"})
    assert refused.status_code == 302
    assert "ikke udgivet" in designer.get(refused.headers["Location"]).get_data(as_text=True)

    other, other_csrf = _client(app, "aaby.procesdesigner")
    assert other.get(f"/studio/kladder/{draft_id}").status_code == 404
    assert other.post(f"/studio/kladder/{draft_id}/gem", headers={"X-CSRFToken": other_csrf}, json={}).status_code == 404
    assert "Kladde af fleksjob" not in other.get("/studio/").get_data(as_text=True)
    caseworker, _ = _client(app, "boegeby.sagsbehandler")
    assert caseworker.get("/studio/").status_code == 403
    assert caseworker.get(f"/studio/kladder/{draft_id}").status_code == 403
    assert "Processtudie" not in caseworker.get("/").get_data(as_text=True)
    with sqlite_runtime.sessions() as s:
        aaby_own = s.scalar(select(ModelVersion.id).join(Municipality, Municipality.id == ModelVersion.municipality_id)
                            .where(Municipality.key == "aaby"))
    assert other.get(f"/studio/versioner/{aaby_own}/model.bpmn").status_code == 200
    assert designer.get(f"/studio/versioner/{aaby_own}/model.bpmn").status_code == 404
    assert designer.get(f"/studio/versioner/{aaby_own}/diff").status_code == 404


def test_an_upload_that_is_not_bpmn_is_refused_with_the_reason(sqlite_runtime):
    import io
    from inbox import create_app
    app = create_app(sqlite_runtime, TESTING=True)
    designer, csrf = _client(app, "boegeby.procesdesigner")
    response = designer.post("/studio/importer", data={"csrf_token": csrf, "case_type": "fleksjob",
                                                       "fil": (io.BytesIO(b"<html>not bpmn"), "x.bpmn")},
                             content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert "Filen kan ikke åbnes: not well-formed XML" in response.get_data(as_text=True)
    response = designer.post("/studio/importer", data={"csrf_token": csrf, "case_type": "sygedagpenge",
                                                       "fil": (io.BytesIO(FOREIGN.encode()), "fremmed.bpmn")},
                             content_type="multipart/form-data")
    assert response.status_code == 302 and "/studio/kladder/" in response.headers["Location"]


def test_a_file_with_entity_declarations_is_refused_before_anything_expands_them(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
           '<bpmn:process id="fleksjob" isExecutable="true" name="&x;"/></bpmn:definitions>')
    internal = xxe.replace(f'SYSTEM "file://{secret}"', '"lol"').replace('name="&x;"', 'name="x"')
    for refused in (xxe, internal):
        found = studio.unsupported_elements(refused)
        assert len(found) == 1 and found[0].severity == "error" and "entit" in found[0].message, found
        assert studio.facts(refused) == {} and "TOPSECRET" not in json.dumps(studio.diff_facts(refused, refused))
    assert studio.unsupported_elements(internal)[0].message == "a model may not contain a DOCTYPE or entity declarations"


EVENT_DEFINITIONS = ["message", "timer", "signal", "error", "escalation", "conditional", "compensate", "cancel", "link",
                     "terminate"]
# Where BPMN 2.0 allows each definition (bpmn.io offers the same choices in its replace menu).
EVENT_POSITIONS = {
    "startEvent": ["message", "timer", "signal", "error", "escalation", "conditional", "compensate"],
    "intermediateCatchEvent": ["message", "timer", "signal", "conditional", "link"],
    "intermediateThrowEvent": ["message", "signal", "escalation", "compensate", "link"],
    "boundaryEvent": ["message", "timer", "signal", "error", "escalation", "conditional", "compensate", "cancel"],
    "endEvent": ["message", "signal", "error", "escalation", "compensate", "cancel", "terminate"],
}
NOT_RUN = {"conditional", "compensate", "cancel"}


def _every_event_type() -> tuple[str, dict[str, str]]:
    """An executable process holding every event type BPMN 2.0 has (blank ones too), each
    with an id and a name; returns the XML and {id: name} of those Sagsflow cannot run."""
    nodes, unsupported = ['<bpmn:task id="holder" name="Holder" />'], {}
    for position, kinds in EVENT_POSITIONS.items():
        for kind in [None, *kinds]:
            if kind is None and position == "boundaryEvent":
                continue  # a boundary event always has a definition
            element_id = f"{position}_{kind or 'blank'}"
            name = f"{position} {kind or 'blank'} æøå"
            attached = ' attachedToRef="holder"' if position == "boundaryEvent" else ""
            body = f'<bpmn:{kind}EventDefinition />' if kind else ""
            if kind == "link":
                body = '<bpmn:linkEventDefinition name="L" />'
            nodes.append(f'<bpmn:{position} id="{element_id}" name="{name}"{attached}>{body}</bpmn:{position}>')
            if kind in NOT_RUN or (kind in ("error", "escalation") and position.startswith("intermediate")):
                unsupported[element_id] = name
    event_sub = ('<bpmn:subProcess id="haendelse_delforloeb" name="Hændelse" triggeredByEvent="true">'
                 '<bpmn:startEvent id="hs_start" name="Ved fejl"><bpmn:errorEventDefinition /></bpmn:startEvent>'
                 '<bpmn:endEvent id="hs_slut" name="Slut" /></bpmn:subProcess>')
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
           'targetNamespace="http://example.org/events">'
           '<bpmn:process id="alle_haendelser" isExecutable="true">' + "".join(nodes) + event_sub +
           '<bpmn:dataStoreReference id="lager" name="Journal" /><bpmn:group id="gruppe" />'
           '</bpmn:process></bpmn:definitions>')
    return xml, unsupported


def test_every_event_type_is_either_run_or_reported_by_id_and_name():
    xml, unsupported = _every_event_type()
    assert len(unsupported) == 10  # conditional, compensation, cancel; error/escalation thrown midway
    findings = studio.unsupported_elements(xml)
    errors = {f.element: f for f in findings if f.severity == "error"}
    assert set(errors) == set(unsupported)
    for element_id, name in unsupported.items():
        assert errors[element_id].name == name and errors[element_id].message, element_id
    warnings = {f.element for f in findings if f.severity == "warning"}
    assert warnings == {"lager", "gruppe"}  # drawn and kept, not run
    # nothing else: every other event type (blank, message, timer, signal, error and
    # escalation where they catch or end, link, terminate) and the event sub-process run
    assert {f.element for f in findings} == set(unsupported) | warnings


def test_the_editors_catalogue_speaks_the_designers_language(sqlite_runtime):
    """Roles, deadline rules and milestones the properties panel offers, in the UI's language."""
    from inbox import create_app
    from processes.milestones import BY_KEY as MILESTONE
    from processes.policy import label_in
    from processes.roles import ROLES
    app = create_app(sqlite_runtime, TESTING=True)
    designer, csrf = _client(app, "boegeby.procesdesigner")
    danish = designer.get("/studio/katalog.json").json
    designer.post("/sprog", data={"lang": "en", "next": "/studio/", "csrf_token": csrf})
    english = designer.get("/studio/katalog.json").json
    assert [r["key"] for r in danish["roles"]] == [r["key"] for r in english["roles"]]
    roles = {r["key"]: (r["label"], e["label"]) for r, e in zip(danish["roles"], english["roles"])}
    assert roles["sagsbehandler"] == ROLES["sagsbehandler"] and roles["sagsbehandler"][0] != roles["sagsbehandler"][1]
    policy = {p["key"]: p["label"] for p in english["policy"]}
    assert policy["fj_foerste_samtale"] == label_in("fj_foerste_samtale", "en") != \
        label_in("fj_foerste_samtale", "da")
    assert {p["key"]: p["label"] for p in danish["policy"]}["fj_foerste_samtale"] == \
        label_in("fj_foerste_samtale", "da")
    milestone = {m["key"]: m["label"] for m in english["milestones"]}
    assert milestone["moede_holdt"] == MILESTONE["moede_holdt"].label_in("en") != MILESTONE["moede_holdt"].label
    # a new draft is named in the designer's language (was "Kladde af fleksjob" in English too)
    created = designer.post("/studio/kladder", data={"case_type": "fleksjob", "csrf_token": csrf})
    editor = designer.get(created.headers["Location"]).get_data(as_text=True)
    assert "Draft of flex job" in editor and "Kladde af" not in editor


def test_a_misspelt_attribute_fails_the_drafts_scenario_naming_the_gateway(sqlite_runtime):
    """The studio's scenario run reports the engine's model fault: the element and
    Python's message, not a wrong branch taken on ``None``."""
    walk = [{"name": "Job på hånden", "start": "2027-01-04", "data": {"overdragelse": {"visitationsdato": "2027-01-04"}},
             "steps": [{"complete": "foerste_samtale", "values": {"samtaledato": "2027-01-04", "situation": "job"}}]}]
    with sqlite_runtime.sessions.begin() as s:
        now = timekeeping.now(s)
        draft = studio.create_draft(s, _boegeby(s), "fleksjob", "boegeby.procesdesigner", now)
        condition = '>situation == "job"</bpmn:conditionExpression>'
        assert condition in draft.bpmn_xml
        for xml, passed in ((draft.bpmn_xml, True),
                            (draft.bpmn_xml.replace(condition, '>situation.udfald == "job"</bpmn:conditionExpression>'),
                             False)):
            studio.save_draft(s, draft, "boegeby.procesdesigner", now, xml=xml, scenarios=walk)
            [result] = studio.run_draft_scenarios(s, draft, now)
            assert result["passed"] is passed, result
    assert result["step"] == 1 and result["element"] == "gw_situation"
    assert ("the model failed in element gw_situation: AttributeError: 'str' object has no attribute 'udfald'"
            in result["failure"]), result["failure"]
