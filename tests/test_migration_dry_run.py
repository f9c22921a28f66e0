"""The dry run of moving running cases to another model version (issue 12), built on
SpiffWorkflow's workflow diff: what would happen to each running case; nothing changes."""
from __future__ import annotations

from sqlalchemy import select

from processes import migration, timekeeping
from processes.catalogue import register_model, version_in_force
from processes.library import parse_model
from processes.models import ModelPublication, ModelVersion, Municipality, ProcessInstance
from test_studio import with_new_task
from walk import Walk

EXTRA = ('<bpmn:userTask id="tjek_kontrakt" name="Tjek kontrakten"><bpmn:extensionElements><camunda:formData>'
         '<camunda:formField id="kontrakt_ok" label="Kontrakt i orden" type="boolean" /></camunda:formData>'
         '</bpmn:extensionElements></bpmn:userTask>'
         '<bpmn:sequenceFlow id="f_tjek_kontrakt__gw_fastholdelse" sourceRef="tjek_kontrakt" targetRef="gw_fastholdelse" />')


def extra_task_elsewhere(xml: str) -> str:
    """An extra task after the employment is registered, far from the first talk."""
    xml = xml.replace('<bpmn:flowNodeRef>registrer_ansaettelse</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>registrer_ansaettelse</bpmn:flowNodeRef><bpmn:flowNodeRef>tjek_kontrakt</bpmn:flowNodeRef>', 1)
    xml = xml.replace('sourceRef="registrer_ansaettelse" targetRef="gw_fastholdelse"',
                      'sourceRef="registrer_ansaettelse" targetRef="tjek_kontrakt"', 1)
    return xml.replace('<bpmn:userTask id="registrer_ansaettelse"', EXTRA + '<bpmn:userTask id="registrer_ansaettelse"', 1)


def _register(rt, xml: str, key: str = "boegeby"):
    with rt.sessions.begin() as s:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == key))
        version = register_model(s, parse_model(xml.encode(), f"{key}/fleksjob.bpmn", expected_process="fleksjob"),
                                 municipality_id, timekeeping.now(s))
        return municipality_id, version.id


def _shared_xml(rt) -> str:
    with rt.sessions() as s:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == "boegeby"))
        return s.get(ModelVersion, version_in_force(s, municipality_id, "fleksjob", timekeeping.now(s))).bpmn_xml


def test_a_case_waiting_on_its_first_talk_maps_cleanly_to_a_version_with_an_extra_task_elsewhere(sqlite_runtime):
    rt = sqlite_runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    assert case.ready() == {"foerste_samtale": "sagsbehandler"}
    with rt.sessions() as s:
        before = s.scalars(select(ProcessInstance.state)).all()
    municipality_id, target = _register(rt, extra_task_elsewhere(_shared_xml(rt)))
    with rt.sessions() as s:
        reports = migration.dry_run(s, municipality_id, "fleksjob", target)
        assert s.scalars(select(ProcessInstance.state)).all() == before  # a dry run changes nothing
    assert len(reports) == 1
    report = reports[0]
    assert report.case_id == case.case_id and report.status == "clean" and report.reasons == []
    assert {(w.bpmn_id, w.outcome) for w in report.waiting} == {
        ("foerste_samtale", "same"), ("frist_foerste_samtale", "same")}


def test_a_case_waiting_in_a_removed_task_is_reported_and_one_in_a_changed_deadline_too(sqlite_runtime):
    rt = sqlite_runtime
    with rt.sessions() as s:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == "boegeby"))
        shared_id = version_in_force(s, municipality_id, "fleksjob", timekeeping.now(s))
        shared = s.get(ModelVersion, shared_id).bpmn_xml
    _, with_task = _register(rt, with_new_task(shared))
    with rt.sessions.begin() as s:  # the new version in force, so the case starts on it
        s.add(ModelPublication(municipality_id=municipality_id, case_type="fleksjob", model_version_id=with_task,
                               effective_from=timekeeping.now(s), comment="test", scenarios=[],
                               published_by="test", published_at=timekeeping.now(s)))
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    assert case.ready() == {"forbered_samtale": "sagsbehandler"}
    with rt.sessions() as s:
        back = migration.dry_run(s, municipality_id, "fleksjob", shared_id)
    assert [r.status for r in back] == ["blocked"]
    assert back[0].reasons == ["waits in 'Forbered første samtale' (forbered_samtale), which the new version removes",
                               "waits in 'Frist: forberedelse' (frist_forbered_samtale), which the new version removes"]
    # a stricter hard-coded deadline on the same task is a change, not a removal
    _, stricter = _register(rt, with_new_task(shared, timer='policy["fj_foerste_samtale"] if True else "P1W"'))
    assert stricter != with_task
    with rt.sessions() as s:
        changed = migration.dry_run(s, municipality_id, "fleksjob", stricter)
    assert [r.status for r in changed] == ["changed"]
    assert ("frist_forbered_samtale", "changed") in {(w.bpmn_id, w.outcome) for w in changed[0].waiting}
