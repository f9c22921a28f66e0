"""Moving running cases to another model version (issue 12), built on SpiffWorkflow's
workflow diff and migration: the dry run (what would happen to each running case; nothing
changes), moving one case with its deadline kept, the audit, and reverting."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from processes import migration, timekeeping
from processes.catalogue import register_model, version_in_force
from processes.engine import Actor
from processes.errors import Conflict
from processes.library import parse_model
from processes.models import AuditEvent, HumanTask, ModelPublication, ModelVersion, Municipality, ProcessInstance, Timer
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


def test_a_case_waiting_on_its_first_talk_maps_cleanly_to_a_version_with_an_extra_task_elsewhere(runtime):
    rt = runtime
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


def test_a_case_waiting_in_a_removed_task_is_reported_and_one_in_a_changed_deadline_too(runtime):
    rt = runtime
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


def _open_and_timers(rt, case_id):
    with rt.sessions() as s:
        tasks = sorted((t.bpmn_id, t.due_at, t.task_guid) for t in s.scalars(select(HumanTask).where(
            HumanTask.case_id == case_id, HumanTask.state == "open")))
        timers = sorted((t.bpmn_id, t.due_at) for t in s.scalars(select(Timer).where(Timer.case_id == case_id)))
    return tasks, timers


def test_moving_a_case_keeps_its_deadline_to_the_minute_is_audited_and_can_be_reverted(runtime):
    rt = runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    case.at("2027-01-12")  # a week on: a restarted 3-week timer would now fall on 2027-02-02
    assert case.due("foerste_samtale") == "2027-01-25"
    before = _open_and_timers(rt, case.case_id)
    assert [t[0] for t in before[0]] == ["foerste_samtale"] and [b for b, _ in before[1]] == ["frist_foerste_samtale"]
    municipality_id, target = _register(rt, extra_task_elsewhere(_shared_xml(rt)))
    with rt.sessions() as s:
        instance_id = s.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.case_id))
        old_version = s.get(ProcessInstance, instance_id).model_version_id
    designer = Actor.system("boegeby.procesdesigner")
    report = migration.migrate_instance(rt.engine, instance_id, target, designer)
    assert report.status == "clean"
    assert _open_and_timers(rt, case.case_id) == before  # the same open task and deadline, to the minute
    with rt.sessions() as s:
        assert s.get(ProcessInstance, instance_id).model_version_id == target
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.migrate")).one()
        assert (audit.detail["from_version_id"], audit.detail["to_version_id"]) == (old_version, target)
        assert audit.actor == "boegeby.procesdesigner" and audit.case_id == case.case_id
    # nothing happened since: it can go back, again with the same deadline
    assert migration.revert_instance(rt.engine, instance_id, designer) == old_version
    assert _open_and_timers(rt, case.case_id) == before
    # moved again and worked on: the new version runs, and going back is refused
    migration.migrate_instance(rt.engine, instance_id, target, designer)
    case.complete("foerste_samtale", samtaledato="2027-01-12", situation="job")
    case.complete("registrer_ansaettelse", ansaettelse_start="2027-02-01", arbejdsgiver="Virksomhed A/S",
                  ugentlige_timer=15)
    assert case.ready() == {"tjek_kontrakt": "virksomhedskonsulent"}  # the new version's extra task
    with pytest.raises(Conflict):
        migration.revert_instance(rt.engine, instance_id, designer)


def test_a_case_in_a_removed_task_is_refused_and_left_alone(runtime):
    rt = runtime
    with rt.sessions() as s:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.key == "boegeby"))
        shared_id = version_in_force(s, municipality_id, "fleksjob", timekeeping.now(s))
        shared = s.get(ModelVersion, shared_id).bpmn_xml
    _, with_task = _register(rt, with_new_task(shared))
    with rt.sessions.begin() as s:
        s.add(ModelPublication(municipality_id=municipality_id, case_type="fleksjob", model_version_id=with_task,
                               effective_from=timekeeping.now(s), comment="test", scenarios=[],
                               published_by="test", published_at=timekeeping.now(s)))
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    with rt.sessions() as s:
        row = s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.case_id)).one()
        state, instance_id = row.state, row.id
    with pytest.raises(Conflict, match="forbered_samtale"):
        migration.migrate_instance(rt.engine, instance_id, shared_id, Actor.system("boegeby.procesdesigner"))
    with rt.sessions() as s:
        row = s.get(ProcessInstance, instance_id)
        assert (row.state, row.model_version_id) == (state, with_task)
    assert case.ready() == {"forbered_samtale": "sagsbehandler"}


def test_the_command_line_shows_the_diff_and_moves_cases_after_a_dry_run(runtime):
    from click.testing import CliRunner
    from sagsflow.cli import main
    rt = runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    due = _open_and_timers(rt, case.case_id)
    municipality_id, target = _register(rt, extra_task_elsewhere(_shared_xml(rt)))
    with rt.sessions.begin() as s:
        s.add(ModelPublication(municipality_id=municipality_id, case_type="fleksjob", model_version_id=target,
                               effective_from=timekeeping.now(s), comment="test", scenarios=[],
                               published_by="test", published_at=timekeeping.now(s)))
    cli = CliRunner()
    args = ["--database-url", rt.url, "model"]
    shown = cli.invoke(main, args + ["diff", "fleksjob", "--municipality", "boegeby", "--json"])
    assert shown.exit_code == 0, shown.output
    changes = {(r["element"], r["change"]) for r in json.loads(shown.output)["changes"]}
    assert ("tjek_kontrakt", "added") in changes
    dry = cli.invoke(main, args + ["migrate", "fleksjob", "--municipality", "boegeby"])
    assert dry.exit_code == 0, dry.output
    assert f"case {case.case_id} (from v1): clean" in dry.output and "dry run: nothing moved" in dry.output
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case.case_id)) != target
    moved = cli.invoke(main, args + ["migrate", "fleksjob", "--municipality", "boegeby", "--yes",
                                     "--user", "boegeby.procesdesigner", "--json"])
    assert moved.exit_code == 0, moved.output
    assert [c["moved"] for c in json.loads(moved.output)["cases"]] == [True]
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case.case_id)) == target
        assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "case.migrate")).all() == [
            "boegeby.procesdesigner"]
    assert _open_and_timers(rt, case.case_id) == due
    # and back again by case number, with the same deadline; a second revert is refused
    assert "Put case CASE_ID, moved by `model migrate`" in cli.invoke(main, args + ["revert", "--help"]).output
    back = cli.invoke(main, args + ["revert", str(case.case_id), "--municipality", "boegeby",
                                    "--user", "boegeby.procesdesigner"])
    assert back.exit_code == 0, back.output
    assert back.output.startswith(f"case {case.case_id} (fleksjob) is back on v1 (id ")
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case.case_id)) != target
        assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "case.migrate_revert")).all() == [
            "boegeby.procesdesigner"]
    assert _open_and_timers(rt, case.case_id) == due
    again = cli.invoke(main, args + ["revert", str(case.case_id), "--municipality", "boegeby"])
    assert again.exit_code == 1 and "has no move to another model version to revert" in again.output
    elsewhere = cli.invoke(main, args + ["revert", str(case.case_id), "--municipality", "aaby"])
    assert elsewhere.exit_code == 1 and f"no case {case.case_id} in this municipality" in elsewhere.output


def test_the_api_shows_the_diff_and_the_dry_run_and_moves_on_confirmation(runtime):
    from inbox import create_app
    from inbox.tokens import issue_token
    from processes.models import User
    rt = runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    municipality_id, target = _register(rt, extra_task_elsewhere(_shared_xml(rt)))
    with rt.sessions.begin() as s:
        s.add(ModelPublication(municipality_id=municipality_id, case_type="fleksjob", model_version_id=target,
                               effective_from=timekeeping.now(s), comment="test", scenarios=[],
                               published_by="test", published_at=timekeeping.now(s)))
        tokens = {name: issue_token(s, s.scalar(select(User).where(User.username == name)))
                  for name in ("boegeby.procesdesigner", "boegeby.sagsbehandler", "aaby.procesdesigner")}
    http = create_app(rt, TESTING=True).test_client()

    def call(method, path, user="boegeby.procesdesigner", body=None):
        return http.open(f"/api/v1{path}", method=method, json=body,
                         headers={"Authorization": f"Bearer {tokens[user]}"})
    diff = call("GET", "/models/diff?case_type=fleksjob")
    assert diff.status_code == 200
    assert ("tjek_kontrakt", "added") in {(r["element"], r["change"]) for r in diff.json[0]["changes"]}
    dry = call("GET", "/models/migrations?case_type=fleksjob")
    assert dry.status_code == 200 and [(c["case_id"], c["status"]) for c in dry.json[0]["cases"]] == [
        (case.case_id, "clean")]
    assert call("GET", "/models/migrations", user="boegeby.sagsbehandler").status_code == 403
    assert call("GET", "/models/migrations?case_type=fleksjob", user="aaby.procesdesigner").json[0]["cases"] == []
    assert call("POST", "/models/migrations", body={"case_type": "fleksjob"}).json["cases"][0].get("moved") is None
    moved = call("POST", "/models/migrations", body={"case_type": "fleksjob", "confirm": True})
    assert moved.status_code == 200 and [c["moved"] for c in moved.json["cases"]] == [True]
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case.case_id)) == target
    # revert: only a designer of the case's municipality, only once nothing has happened since
    revert = {"case_id": case.case_id}
    assert call("POST", "/models/migrations/revert", user="boegeby.sagsbehandler", body=revert).status_code == 403
    assert call("POST", "/models/migrations/revert", user="aaby.procesdesigner", body=revert).status_code == 404
    back = call("POST", "/models/migrations/revert", body=revert)
    assert back.status_code == 200, back.json
    assert back.json["from_version_id"] == target and back.json["to_version_id"] != target
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(
            ProcessInstance.case_id == case.case_id)) == back.json["to_version_id"]
        assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "case.migrate_revert")).all() == [
            "boegeby.procesdesigner"]
    assert call("POST", "/models/migrations/revert", body=revert).status_code == 409
    call("POST", "/models/migrations", body={"case_type": "fleksjob", "confirm": True})
    case.complete("foerste_samtale", samtaledato="2027-01-04", situation="job")  # work on the new version
    refused = call("POST", "/models/migrations/revert", body=revert)
    assert refused.status_code == 409 and "something has happened" in refused.json["message"]
    with rt.sessions() as s:
        assert s.scalar(select(ProcessInstance.model_version_id).where(ProcessInstance.case_id == case.case_id)) == target
    paths = http.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/models/diff", "/api/v1/models/migrations", "/api/v1/models/migrations/revert"} <= set(paths)
    assert set(paths["/api/v1/models/migrations"]) >= {"get", "post"}
    assert set(paths["/api/v1/models/migrations/revert"]["post"]["responses"]) >= {"200", "403", "404", "409"}


def test_a_changed_deadline_is_recomputed_from_its_original_start(runtime):
    import re
    rt = runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    case.at("2027-01-12")
    assert case.due("foerste_samtale") == "2027-01-25"
    shared = _shared_xml(rt)
    block = re.search(r'<bpmn:boundaryEvent id="frist_foerste_samtale".*?</bpmn:boundaryEvent>', shared, re.S).group(0)
    stricter = re.sub(r"(<bpmn:timeDate[^>]*>)[^<]*(</bpmn:timeDate>)",
                      r"\1subtract_duration(add_duration(visitationsdato, policy[&quot;fj_foerste_samtale&quot;]), &quot;P1W&quot;)\2",
                      block)
    assert stricter != block
    _, target = _register(rt, shared.replace(block, stricter))
    with rt.sessions() as s:
        instance_id = s.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.case_id))
    report = migration.migrate_instance(rt.engine, instance_id, target, Actor.system("boegeby.procesdesigner"))
    assert report.status == "changed"
    # two weeks from the visitation on 2027-01-04, to the end of that Danish day
    assert case.due("foerste_samtale") == "2027-01-18"
    assert case.timers() == {"frist_foerste_samtale": "2027-01-18"}
    with rt.sessions() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.migrate")).one()
        assert [m["timer"] for m in audit.detail["deadlines"]] == ["frist_foerste_samtale"]
    designer = Actor.system("boegeby.procesdesigner")
    migration.revert_instance(rt.engine, instance_id, designer)  # back: the old deadline again
    assert case.timers() == {"frist_foerste_samtale": "2027-01-25"}
    migration.migrate_instance(rt.engine, instance_id, target, designer)
    assert case.due("foerste_samtale") == "2027-01-18"
    case.end_of("2027-01-18")
    assert case.ready() == {"foerste_samtale": "sagsbehandler", "eskaler_foerste_samtale": "teamleder"}


def test_a_changed_deadline_that_reads_a_missing_attribute_refuses_the_move_naming_the_timer(runtime):
    """Recomputing a changed deadline runs the new version's timer expression: a misspelt
    attribute there is the model's fault (422, the timer named), not the engine's, and
    the case stays on its version with its deadline."""
    import re
    from processes.errors import ModelFault
    rt = runtime
    case = Walk(rt, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}})
    shared = _shared_xml(rt)
    block = re.search(r'<bpmn:boundaryEvent id="frist_foerste_samtale".*?</bpmn:boundaryEvent>', shared, re.S).group(0)
    typo = re.sub(r"(<bpmn:timeDate[^>]*>)[^<]*(</bpmn:timeDate>)",
                  r"\1add_duration(visitationsdato.dato, policy[&quot;fj_foerste_samtale&quot;])\2", block)
    assert typo != block
    _, target = _register(rt, shared.replace(block, typo))
    with rt.sessions() as s:
        instance_id = s.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case.case_id))
        version_before = s.get(ProcessInstance, instance_id).model_version_id
    with pytest.raises(ModelFault) as refused:
        migration.migrate_instance(rt.engine, instance_id, target, Actor.system("boegeby.procesdesigner"))
    assert refused.value.element == "frist_foerste_samtale" and refused.value.status == 422
    assert "AttributeError: 'str' object has no attribute 'dato'" in str(refused.value), str(refused.value)
    with rt.sessions() as s:
        assert s.get(ProcessInstance, instance_id).model_version_id == version_before
    assert case.timers() == {"frist_foerste_samtale": "2027-01-25"}
