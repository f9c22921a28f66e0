"""Hardening of model code and registration (issue 9, items 1-4).

Model code (scripts, gateway conditions, timer expressions) runs on a budget of
operations, size and time; a step that goes over it, or whose code fails, is refused
with a 422 that names the element, and rolls back: the case is as it was (checked in
the database), and other cases go on working. Policy values are read-only to model
code, and a tagged deadline is checked against its bound when the timer is computed.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from SpiffWorkflow.bpmn import BpmnWorkflow

from inbox import create_app
from inbox.tokens import issue_token
from processes import timekeeping
from processes.errors import EngineFault, InvalidInput, ModelFault
from processes.models import AuditEvent, Case, HumanTask, Municipality, PolicyVersion, ProcessInstance, User
from test_inbox import Browser
from test_municipality_config import DALBY_FLEKSJOB, counts, run_cli, write_folder
from walk import Walk
from worker.service import Worker

VISITATION = {"overdragelse": {"visitationsdato": "2027-01-04"}}
SCRIPT = """try:
    visitationsdato = overdragelse["visitationsdato"]
except Exception:
    visitationsdato = startdato</bpmn:script>"""


def dalby(script: str | None = None, condition: str | None = None, replace: tuple[str, str] | None = None) -> str:
    """Dalby's fleksjob model with its first script, the job-club condition or any text replaced."""
    model = DALBY_FLEKSJOB
    if script is not None:
        model = model.replace(SCRIPT, script + "</bpmn:script>")
    if condition is not None:
        model = model.replace("<bpmn:conditionExpression>jobklub</bpmn:conditionExpression>",
                              f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>")
    if replace is not None:
        assert replace[0] in model
        model = model.replace(*replace)
    assert model != DALBY_FLEKSJOB
    return model


def register(runtime, tmp_path: Path, model: str) -> None:
    result = run_cli(runtime.url, "municipality", "add", str(write_folder(tmp_path, model=model)), "--demo-users")
    assert result.exit_code == 0, result.output + result.stderr


def case_rows(runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return {"sag": session.scalar(select(func.count()).select_from(Case)),
                "instances": session.scalar(select(func.count()).select_from(ProcessInstance)),
                "tasks": session.scalar(select(func.count()).select_from(HumanTask)),
                "audit": session.scalar(select(func.count()).select_from(AuditEvent))}


def refused_start(runtime, name: str = "Test Borger", cpr: str = "010190-1234", data=VISITATION) -> ModelFault:
    before = case_rows(runtime)
    with pytest.raises(ModelFault) as refused:
        runtime.engine.start_case("dalby", "fleksjob", cpr, name, data)
    assert case_rows(runtime) == before  # nothing of the step is stored
    return refused.value


# ------------------------------------------------------------ 1. budget of model code
ENDLESS = """visitationsdato = startdato
if borger["navn"] == "Evig Loekke":
    while True:
        pass"""


def test_endless_script_fails_its_step_and_other_cases_go_on(runtime, tmp_path):
    register(runtime, tmp_path, dalby(script=ENDLESS))
    fault = refused_start(runtime, name="Evig Loekke")
    assert fault.status == 422 and fault.element == "registrer_visitation"
    assert "ran more than 1,000,000 operations" in str(fault)
    # the same municipality, the same model, another citizen: works
    walk = Walk(runtime, "dalby", "fleksjob", VISITATION, cpr="020290-2345")
    assert walk.ready() == {"foerste_samtale": "virksomhedskonsulent"}
    assert walk.due("foerste_samtale") == "2027-01-18"
    # and another municipality
    other = Walk(runtime, "aaby", "fleksjob", VISITATION, cpr="030390-3456")
    assert other.ready() == {"foerste_samtale": "sagsbehandler"}
    assert other.due("foerste_samtale") == "2027-01-25"


ESCAPING_THE_BUDGET = {
    # a script that catches the budget's error and loops again is still stopped
    "caught": ("while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
               "ran more than 1,000,000 operations"),
    "recursion": ("def f(n):\n    return f(n + 1) + f(n + 1)\nvisitationsdato = f(0)", "RecursionError"),
    "lambda": ("f = lambda n: [f(n + 1) for i in [1, 2]]\nvisitationsdato = f(0)", "RecursionError"),
    "power": ("visitationsdato = 10 ** 10 ** 10", "an integer of about 40,000,000,000 bits"),
    "repeat": ("visitationsdato = [0] * 10 ** 10", "a value of 10,000,000,000 items"),
    "ljust": ("visitationsdato = 'x'.ljust(10 ** 10)", "a value of 10,000,000,000 items"),
    "fstring": ("visitationsdato = f'{1:>1000000000}'", "format width 1000000000"),
    "doubling": ("x = [1]\nfor i in range(64):\n    x.extend(x)", "a value of 1,048,576 items"),
    "shared": ("x = 'x' * 999999\nvisitationsdato = [x] * 1000", "case data would hold more than 1,000,000 items"),
    "built": ("x = ['x' * 999999 + str(i) for i in range(100)]", "built more than 20,000,000 items"),
    "working_days": ("visitationsdato = add_working_days(startdato, 10 ** 12)", "more than 100 years"),
    "duration": ("visitationsdato = add_duration(startdato, 'P99999999999999999999Y')", "longer than 100 years"),
}


@pytest.mark.parametrize("kind", sorted(ESCAPING_THE_BUDGET))
def test_model_code_over_its_budget_is_refused(sqlite_runtime, tmp_path, kind):
    script, expected = ESCAPING_THE_BUDGET[kind]
    register(sqlite_runtime, tmp_path, dalby(script=script))
    fault = refused_start(sqlite_runtime)
    assert fault.element == "registrer_visitation"
    assert expected in str(fault), str(fault)


def test_gateway_condition_over_budget_keeps_the_task_open(runtime, tmp_path):
    register(runtime, tmp_path, dalby(condition="jobklub and 10 ** 10 ** 10 > 0"))
    walk = Walk(runtime, "dalby", "fleksjob", VISITATION)
    task = walk._open("foerste_samtale")
    with runtime.sessions() as session:
        state_before = session.get(ProcessInstance, task.instance_id).state
    before = case_rows(runtime)
    with pytest.raises(ModelFault) as refused:
        walk.complete("foerste_samtale", samtaledato="2027-01-19", jobklub=True)
    assert refused.value.element == "gw_jobklub"
    assert "an integer of about 40,000,000,000 bits" in str(refused.value)
    assert case_rows(runtime) == before
    with runtime.sessions() as session:
        row = session.get(HumanTask, task.id)
        assert (row.state, row.revision, row.completed_by_id) == ("open", task.revision, None)
        assert session.get(ProcessInstance, task.instance_id).state == state_before
    # without the job club the gateway takes the default flow: the case goes on
    walk.complete("foerste_samtale", samtaledato="2027-01-19", jobklub=False)
    assert walk.instances() == [("fleksjob", "completed")]


ESCALATION_SCRIPT = (
    '<bpmn:sequenceFlow id="f_esk" sourceRef="frist_foerste_samtale" targetRef="eskaler_foerste_samtale"/>',
    '<bpmn:sequenceFlow id="f_esk" sourceRef="frist_foerste_samtale" targetRef="noter_frist"/>'
    '<bpmn:scriptTask id="noter_frist" name="Notér fristen" scriptFormat="python"><bpmn:script>'
    'if borger["navn"] == "Evig Loekke":\n    while True:\n        pass\nfrist_noteret = True</bpmn:script>'
    '</bpmn:scriptTask><bpmn:sequenceFlow id="f_esk2" sourceRef="noter_frist" targetRef="eskaler_foerste_samtale"/>')


def test_worker_defers_a_step_over_budget_and_fires_the_other_cases(runtime, tmp_path):
    register(runtime, tmp_path, dalby(replace=ESCALATION_SCRIPT))
    looping = Walk(runtime, "dalby", "fleksjob", VISITATION, name="Evig Loekke")
    other = Walk(runtime, "dalby", "fleksjob", VISITATION, cpr="020290-2345")
    runtime.engine.advance_clock(timedelta(weeks=2, days=1), fire=False)  # past the 2-week deadline
    Worker(runtime).poll_once()
    assert other.ready() == {"foerste_samtale": "virksomhedskonsulent", "eskaler_foerste_samtale": "teamleder"}
    assert looping.ready() == {"foerste_samtale": "virksomhedskonsulent"}
    assert looping.timers() == {"frist_foerste_samtale": "2027-01-18"}  # still pending: rolled back
    with runtime.sessions() as session:
        failed = session.scalars(select(AuditEvent).where(AuditEvent.action == "worker.step_failed",
                                                          AuditEvent.case_id == looping.case_id)).one()
        assert failed.detail["error"].startswith(
            "ModelFault: the model failed in element noter_frist: model code ran more than 1,000,000 operations")
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == looping.case_id)).one()
        assert row.next_due_at > timekeeping.now(session)  # tried again later, with backoff


WAIT = ('<bpmn:sequenceFlow id="f2" sourceRef="registrer_visitation" targetRef="foerste_samtale"/>',
        '<bpmn:sequenceFlow id="f2" sourceRef="registrer_visitation" targetRef="vent"/>'
        '<bpmn:intermediateCatchEvent id="vent" name="Ventetid"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration>ventetid if ventetid.startswith("P") else "P1D"</bpmn:timeDuration>'
        '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
        '<bpmn:sequenceFlow id="f2b" sourceRef="vent" targetRef="foerste_samtale"/>')


def test_timer_computed_beyond_the_horizon_is_refused_at_run_time(runtime, tmp_path):
    """At registration the sample data gives the timer "P1D"; at run time the case data
    gives a duration Spiff would count month by month for ever."""
    register(runtime, tmp_path, dalby(replace=WAIT))
    fault = refused_start(runtime, data=dict(VISITATION, ventetid="P99999999999999999999Y"))
    assert fault.element == "vent"
    assert "duration 'P99999999999999999999Y' is longer than 100 years" in str(fault)
    walk = Walk(runtime, "dalby", "fleksjob", dict(VISITATION, ventetid="P2D"), cpr="020290-2345")
    assert walk.timers() == {"vent": "2027-01-06"}
    walk.at("2027-01-06", hour=12)
    assert walk.ready() == {"foerste_samtale": "virksomhedskonsulent"}


REFUSED_AT_REGISTRATION = {
    "huge_literal": ('<bpmn:timeDuration>"P99999999999999999999Y"</bpmn:timeDuration>',
                     "vent: timer value 'P99999999999999999999Y': duration 'P99999999999999999999Y' "
                     "is longer than 100 years"),
    "huge_condition": ("<bpmn:timeDuration>'P1D' if 10 ** 10 ** 10 else 'P2D'</bpmn:timeDuration>",
                       "vent: timer expression \"'P1D' if 10 ** 10 ** 10 else 'P2D'\" fails: model code would "
                       "build an integer of about 40,000,000,000 bits (at most 10,000)"),
    "far_date": ('<bpmn:timeDate>"2200-01-01"</bpmn:timeDate>',
                 "vent: timer value '2200-01-01': timer date '2200-01-01' is more than 100 years away"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED_AT_REGISTRATION))
def test_timer_beyond_the_horizon_is_refused_at_registration(sqlite_runtime, tmp_path, kind):
    timer, expected = REFUSED_AT_REGISTRATION[kind]
    model = dalby(replace=WAIT).replace(
        '<bpmn:timeDuration>ventetid if ventetid.startswith("P") else "P1D"</bpmn:timeDuration>', timer)
    before = counts(sqlite_runtime.url)
    result = run_cli(sqlite_runtime.url, "municipality", "add", str(write_folder(tmp_path, model=model)))
    assert result.exit_code == 6
    assert result.stderr.splitlines() == [f"error: fleksjob.bpmn: {expected}"]
    assert counts(sqlite_runtime.url) == before


# ------------------------------------------------------------ 2. policy is read-only
@pytest.mark.parametrize("script", [
    'policy["fj_foerste_samtale"] = "P104W"\nvisitationsdato = startdato',
    'policy.update({"fj_foerste_samtale": "P104W"})\nvisitationsdato = startdato',
    'policy = dict(policy, fj_foerste_samtale="P104W")\nvisitationsdato = startdato',
    # dict's own method changed the script's view of the policy (not the stored policy)
    'dict.update(policy, {"fj_foerste_samtale": "P104W"})\nvisitationsdato = startdato',
])
def test_a_script_cannot_change_the_policy(runtime, tmp_path, script):
    register(runtime, tmp_path, dalby(script=script))
    fault = refused_start(runtime)
    assert fault.element == "registrer_visitation"
    assert "policy values are read-only to model code" in str(fault)


def test_start_data_cannot_set_the_policy(runtime):
    before = case_rows(runtime)
    with pytest.raises(InvalidInput) as refused:
        runtime.engine.start_case("aaby", "sygedagpenge", "010190-1234", "Test Borger",
                                  {"policy": {"sdp_opfoelgning_interval": "P104W"}})
    assert refused.value.errors == {"policy": ["Sagsflow sets this value; it cannot be given."]}
    assert case_rows(runtime) == before


def test_tagged_deadline_is_checked_against_its_bound_when_computed(runtime):
    """A policy loosened behind the checks (here: edited in the database) cannot set a
    statutory deadline: the timer is refused when it is computed, not only at registration."""
    walk = Walk(runtime, "aaby", "sygedagpenge", cpr="020290-2345")
    assert walk.timers() == {"frist_opfoelgningssamtale": "2027-02-01"}  # 4 weeks from 2027-01-04
    with runtime.sessions.begin() as session:
        aaby = session.scalar(select(Municipality.id).where(Municipality.key == "aaby"))
        version = session.scalars(select(PolicyVersion).where(PolicyVersion.municipality_id == aaby,
                                                              PolicyVersion.case_type == "sygedagpenge")).first()
        session.execute(update(PolicyVersion).where(PolicyVersion.id == version.id).values(
            values=dict(version.values, sdp_opfoelgning_interval="P104W")))
    before = case_rows(runtime)
    with pytest.raises(ModelFault) as refused:
        runtime.engine.start_case("aaby", "sygedagpenge", "010190-1234", "Test Borger")
    assert refused.value.element == "frist_opfoelgningssamtale"
    assert ("tagged with the rule 'sdp_opfoelgning_interval', and the value breaks its bound: "
            "sygedagpenge: follow-up talk at least every 4 weeks (P4W); got P104W") in str(refused.value)
    assert case_rows(runtime) == before


# ------------------------------------------------------ 3. failures without tracebacks
RUNTIME_FAILURES = {
    "name_error": ("visitationsdato = ukendt_navn", "NameError"),
    "recursion": ("def f(n):\n    return f(n + 1)\nvisitationsdato = f(0)", "RecursionError"),
    "memory": ("visitationsdato = [0] * 10 ** 10", "a value of 10,000,000,000 items"),
    "generator": ("visitationsdato = startdato\nnaeste = (d for d in [1, 2])",
                  "naeste holds a generator, which case data cannot hold"),
    "key_error": ("visitationsdato = {}[5]", "KeyError"),
    "system_exit": ("raise SystemExit(1)", "NameError"),
}


@pytest.mark.parametrize("kind", sorted(RUNTIME_FAILURES))
def test_cli_prints_one_error_line_and_stores_nothing(sqlite_runtime, tmp_path, kind):
    script, expected = RUNTIME_FAILURES[kind]
    register(sqlite_runtime, tmp_path, dalby(script=script))
    before = case_rows(sqlite_runtime)
    result = run_cli(sqlite_runtime.url, "case", "start", "dalby", "fleksjob", "--cpr", "010190-1234",
                     "--name", "Test Borger", "--data", json.dumps(VISITATION))
    assert result.exit_code == 6, result.output + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the model failed in element registrer_visitation: ")
    assert expected in lines[0]
    assert case_rows(sqlite_runtime) == before


def test_cli_refuses_a_model_file_that_is_not_utf8(sqlite_runtime, tmp_path):
    folder = write_folder(tmp_path)
    latin1 = DALBY_FLEKSJOB.encode("latin-1")
    (folder / "fleksjob.bpmn").write_bytes(latin1)
    before = counts(sqlite_runtime.url)
    result = run_cli(sqlite_runtime.url, "municipality", "add", str(folder))
    assert result.exit_code == 6
    assert result.stderr.splitlines() == [
        f"error: fleksjob.bpmn: not UTF-8 text (byte {next(i for i, b in enumerate(latin1) if b > 127)}): save the model as UTF-8"]
    assert counts(sqlite_runtime.url) == before


def _token(runtime, username: str) -> dict:
    with runtime.sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        return {"Authorization": f"Bearer {issue_token(session, user)}"}


def test_api_and_pages_answer_422_naming_the_element(runtime, tmp_path):
    register(runtime, tmp_path, dalby(script=ENDLESS, condition="jobklub and ukendt_navn"))
    app = create_app(runtime, TESTING=True)
    http = app.test_client()
    before = case_rows(runtime)
    started = http.post("/api/v1/cases", headers=_token(runtime, "dalby.sagsbehandler"),
                        json={"case_type": "fleksjob", "cpr": "010190-1234", "citizen_name": "Evig Loekke"})
    assert started.status_code == 422
    assert started.get_json()["message"].startswith("the model failed in element registrer_visitation: ")
    assert case_rows(runtime) == before

    walk = Walk(runtime, "dalby", "fleksjob", VISITATION, cpr="020290-2345")
    task = walk._open("foerste_samtale")
    before = case_rows(runtime)
    completed = http.post(f"/api/v1/tasks/{task.id}/complete", headers=_token(runtime, "dalby.virksomhedskonsulent"),
                          json={"data": {"samtaledato": "2027-01-19", "jobklub": True}})
    assert completed.status_code == 422
    assert completed.get_json()["message"].startswith("the model failed in element gw_jobklub: ")
    assert "NameError" in completed.get_json()["message"]
    assert case_rows(runtime) == before

    browser = Browser(app, "dalby.virksomhedskonsulent")
    assert browser.login.status_code == 302
    page = browser.post(f"/opgaver/{task.id}", data={"samtaledato": "2027-01-19", "jobklub": "true",
                                                     "revision": str(task.revision)})
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert "Processen kunne ikke fortsætte" in body and "»gw_jobklub«" in body and "intet er gemt" in body
    with runtime.sessions() as session:
        assert session.get(HumanTask, task.id).state == "open"
    assert case_rows(runtime)["tasks"] == before["tasks"]


SPIFF_FAILURE = "'NoneType' object has no attribute 'data'"  # Spiff's, when a timer's task left the tree


def _spiff_fails(monkeypatch) -> None:
    """Spiff's own code fails in the step, outside any model code (as its timer bookkeeping
    did with a dropped branch, docs/simulation.md, "Known Spiff behaviour")."""
    def refresh_timers(_workflow):
        raise AttributeError(SPIFF_FAILURE)
    monkeypatch.setattr(BpmnWorkflow, "refresh_timers", refresh_timers)


def test_a_failure_of_spiff_in_a_step_is_an_engine_fault_not_the_models(runtime, monkeypatch, caplog):
    walk = Walk(runtime, "aaby", "fleksjob", VISITATION, cpr="020290-2345")
    task = walk._open("foerste_samtale")
    before = case_rows(runtime)
    _spiff_fails(monkeypatch)
    with pytest.raises(EngineFault) as failed:
        runtime.engine.complete_task(task.id, {"samtaledato": "2027-01-04", "situation": "job"},
                                     walk.user("sagsbehandler"))
    assert not isinstance(failed.value, ModelFault) and failed.value.status == 500
    assert str(failed.value) == ("the step failed inside the engine (not in the model's code); nothing is saved: "
                                 f"AttributeError: {SPIFF_FAILURE}")
    assert isinstance(failed.value.__cause__, AttributeError)  # the traceback is kept
    assert case_rows(runtime) == before
    with runtime.sessions() as session:
        assert session.get(HumanTask, task.id).state == "open"

    app = create_app(runtime, TESTING=True)
    completed = app.test_client().post(f"/api/v1/tasks/{task.id}/complete", headers=_token(runtime, "aaby.sagsbehandler"),
                                       json={"data": {"samtaledato": "2027-01-04", "situation": "job"}})
    assert completed.status_code == 500
    assert completed.get_json()["message"] == str(failed.value)
    logged = [r for r in caplog.records if r.getMessage().startswith("step failed inside the engine")]
    assert logged and logged[-1].exc_info[0] is EngineFault
    page = Browser(app, "aaby.sagsbehandler").post(f"/opgaver/{task.id}", data={
        "samtaledato": "2027-01-04", "situation": "job", "revision": str(task.revision)})
    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "Der opstod en fejl i Sagsflow" in body and "ikke i processens model" in body
    assert "Processen kunne ikke fortsætte" not in body
    assert case_rows(runtime)["tasks"] == before["tasks"]
    monkeypatch.undo()
    assert walk.ready() == {"foerste_samtale": "sagsbehandler"}


def test_a_models_own_attribute_error_is_still_a_model_fault(runtime, tmp_path):
    register(runtime, tmp_path, dalby(script='raise AttributeError("modellens egen fejl")'))
    fault = refused_start(runtime)
    assert fault.element == "registrer_visitation" and fault.status == 422
    assert "AttributeError: modellens egen fejl" in str(fault), str(fault)


def test_a_misspelt_attribute_in_a_script_is_a_model_fault_naming_the_element(runtime, tmp_path):
    """RestrictedPython's ``safer_getattr`` gives ``None`` for a missing attribute; the
    sandbox raises ``AttributeError`` as Python does, so a typo is the model's fault."""
    register(runtime, tmp_path, dalby(script="visitationsdato = startdato\nmaaned = startdato.maanede"))
    fault = refused_start(runtime)
    assert fault.element == "registrer_visitation" and fault.status == 422
    assert "AttributeError: 'str' object has no attribute 'maanede'" in str(fault), str(fault)


def test_a_misspelt_attribute_in_a_gateway_condition_keeps_the_task_open(runtime, tmp_path):
    """Before, ``samtaledato.udfald`` read as ``None`` and the gateway quietly took its
    default flow; now the completion is refused naming the gateway, and nothing changes."""
    register(runtime, tmp_path, dalby(condition='jobklub and samtaledato.udfald != "afbrudt"'))
    walk = Walk(runtime, "dalby", "fleksjob", VISITATION)
    task = walk._open("foerste_samtale")
    before = case_rows(runtime)
    with pytest.raises(ModelFault) as refused:
        walk.complete("foerste_samtale", samtaledato="2027-01-19", jobklub=True)
    assert refused.value.element == "gw_jobklub" and refused.value.status == 422
    assert "AttributeError: 'str' object has no attribute 'udfald'" in str(refused.value), str(refused.value)
    assert case_rows(runtime) == before
    with runtime.sessions() as session:
        assert session.get(HumanTask, task.id).state == "open"


def test_a_script_that_handles_a_missing_attribute_goes_on(runtime, tmp_path):
    register(runtime, tmp_path, dalby(
        script="visitationsdato = startdato\ntry:\n    jobklub_fra = startdato.ukendt\nexcept AttributeError:\n"
               "    jobklub_fra = 0",
        condition="jobklub and jobklub_fra == 0"))
    walk = Walk(runtime, "dalby", "fleksjob", VISITATION)
    walk.complete("foerste_samtale", samtaledato="2027-01-19", jobklub=True)
    assert "tilmeld_jobklub" in walk.ready()


def test_the_worker_logs_an_engine_fault_with_its_traceback_and_tries_again_later(runtime, monkeypatch, caplog):
    walk = Walk(runtime, "aaby", "sygedagpenge", cpr="030390-3456")
    assert walk.timers() == {"frist_opfoelgningssamtale": "2027-02-01"}
    runtime.engine.advance_clock(timedelta(weeks=5), fire=False)  # past the follow-up deadline
    _spiff_fails(monkeypatch)
    Worker(runtime).poll_once()
    assert walk.timers() == {"frist_opfoelgningssamtale": "2027-02-01"}  # still pending: rolled back
    with runtime.sessions() as session:
        failed = session.scalars(select(AuditEvent).where(AuditEvent.action == "worker.step_failed",
                                                          AuditEvent.case_id == walk.case_id)).one()
        assert failed.detail["error"] == ("EngineFault: the step failed inside the engine (not in the model's code); "
                                          f"nothing is saved: AttributeError: {SPIFF_FAILURE}")
    logged = [r for r in caplog.records if r.getMessage() == "step failed"]
    assert logged and logged[-1].exc_info is not None  # unlike a model's fault: with its traceback


# ------------------------------------------------------------------- 4. registration
def test_model_path_leaving_the_folder_is_refused_before_it_is_opened(sqlite_runtime, tmp_path, monkeypatch):
    opened = []
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: opened.append(self.name) or real_read_bytes(self))
    outside = tmp_path / "outside.bpmn"
    outside.write_text(DALBY_FLEKSJOB, encoding="utf-8")
    folder = write_folder(tmp_path)
    (folder / "link.bpmn").symlink_to(outside)
    config = json.loads((folder / "municipality.json").read_text(encoding="utf-8"))
    before = counts(sqlite_runtime.url)
    for model_path in ("../outside.bpmn", "../../etc/passwd", str(outside), "link.bpmn"):
        config["models"]["fleksjob"] = model_path
        (folder / "municipality.json").write_text(json.dumps(config), encoding="utf-8")
        result = run_cli(sqlite_runtime.url, "municipality", "add", str(folder))
        assert result.exit_code == 6, result.output
        assert result.stderr.splitlines() == [
            f"error: {folder / 'municipality.json'}: models.fleksjob: model file {model_path!r} is outside "
            "the municipality's folder"]
    assert "outside.bpmn" not in opened and "passwd" not in opened and "link.bpmn" not in opened
    assert counts(sqlite_runtime.url) == before
    # the shared models and the folder's own model file are read as before
    config["models"]["fleksjob"] = "fleksjob.bpmn"
    (folder / "municipality.json").write_text(json.dumps(config), encoding="utf-8")
    assert run_cli(sqlite_runtime.url, "municipality", "add", str(folder)).exit_code == 0
    assert "fleksjob.bpmn" in opened


def _audits(runtime, action: str) -> list[tuple[str, dict]]:
    """Dalby's audited registrations (the reference municipalities' are there too)."""
    with runtime.sessions() as session:
        return [(a.actor, a.detail) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
            if a.detail.get("key") == "dalby"]


def test_existing_municipality_changes_only_with_update_and_is_audited(runtime, tmp_path):
    folder = write_folder(tmp_path)
    added = run_cli(runtime.url, "municipality", "add", str(folder), "--user", "it.admin")
    assert added.exit_code == 0, added.output
    assert _audits(runtime, "municipality.register") == [("it.admin", {
        "key": "dalby", "name": "Dalby Kommune",
        "models": {"fleksjob": "fleksjob.bpmn v1", "foertidspension": "shared v1", "rehabilitering": "shared v1",
                   "ressourceforloeb": "shared v1", "sygedagpenge": "shared v1"},
        "policy": {"fleksjob": {"fj_foerste_samtale": ["P3W", "P2W"], "fj_tidlig_opfoelgning": [False, True],
                                "fj_tidlig_opfoelgning_efter": ["P6M", "P4M"]}}})]

    # the same key again, with a looser name, another model and another policy: refused
    (folder / "fleksjob.bpmn").write_text(DALBY_FLEKSJOB.replace("Dalby Jobcenter", "Dalby Jobcenter Nord"),
                                          encoding="utf-8")
    config = json.loads((folder / "municipality.json").read_text(encoding="utf-8"))
    config["name"] = "Dalby Storkommune"
    config["policy"]["values"]["fj_foerste_samtale"] = "P1W"
    (folder / "municipality.json").write_text(json.dumps(config), encoding="utf-8")
    before = counts(runtime.url)
    refused = run_cli(runtime.url, "municipality", "add", str(folder), "--user", "it.admin")
    assert refused.exit_code == 5
    assert refused.stderr.splitlines() == [
        "error: municipality 'dalby' is already registered; add --update to change it"]
    assert counts(runtime.url) == before
    with runtime.sessions() as session:
        assert session.scalar(select(Municipality.name).where(Municipality.key == "dalby")) == "Dalby Kommune"
    assert len(_audits(runtime, "municipality.register")) == 1 and _audits(runtime, "municipality.update") == []

    # with --update: changed, and the audit says who and what
    updated = run_cli(runtime.url, "municipality", "add", str(folder), "--update", "--user", "it.chef")
    assert updated.exit_code == 0, updated.output + updated.stderr
    with runtime.sessions() as session:
        assert session.scalar(select(Municipality.name).where(Municipality.key == "dalby")) == "Dalby Storkommune"
    assert _audits(runtime, "municipality.update") == [("it.chef", {
        "key": "dalby", "name": ["Dalby Kommune", "Dalby Storkommune"],
        "models": {"fleksjob": ["fleksjob.bpmn v1", "fleksjob.bpmn v2"]},
        "policy": {"fleksjob": {"fj_foerste_samtale": ["P2W", "P1W"]}}})]
    assert counts(runtime.url)["policy_version"] == before["policy_version"] + 1
    assert counts(runtime.url)["model_version"] == before["model_version"] + 1


UNREACHABLE = ('<bpmn:userTask id="tilmeld_jobklub" name="Tilmeld jobklub">',
               '<bpmn:userTask id="glemt_opgave" name="Glemt opgave"/>\n'
               '    <bpmn:userTask id="tilmeld_jobklub" name="Tilmeld jobklub">')


def test_user_task_no_flow_reaches_is_refused(sqlite_runtime, tmp_path):
    model = dalby(replace=UNREACHABLE).replace(
        "<bpmn:flowNodeRef>slut</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>slut</bpmn:flowNodeRef><bpmn:flowNodeRef>glemt_opgave</bpmn:flowNodeRef>")
    before = counts(sqlite_runtime.url)
    result = run_cli(sqlite_runtime.url, "municipality", "add", str(write_folder(tmp_path, model=model)))
    assert result.exit_code == 6
    assert result.stderr.splitlines() == [
        "error: fleksjob.bpmn: glemt_opgave: user task that no sequence flow reaches"]
    assert counts(sqlite_runtime.url) == before


@pytest.mark.parametrize("doctype", [
    # an external entity would put a local file into the model (a task name, a letter)
    '<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/hostname">]>',
    # nested entities ("billion laughs") would blow up in memory in the parsers after ours
    '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!DOCTYPE definitions SYSTEM "http://example.org/bpmn.dtd">',
])
def test_a_model_with_a_doctype_or_entities_is_refused_before_any_parser_expands_it(sqlite_runtime, tmp_path,
                                                                                     doctype):
    folder = write_folder(tmp_path)
    xml = DALBY_FLEKSJOB.replace("?>", "?>" + doctype, 1) if DALBY_FLEKSJOB.startswith("<?xml") \
        else doctype + DALBY_FLEKSJOB
    (folder / "fleksjob.bpmn").write_text(xml, encoding="utf-8")
    before = counts(sqlite_runtime.url)
    result = run_cli(sqlite_runtime.url, "municipality", "add", str(folder))
    assert result.exit_code == 6
    assert result.stderr.splitlines() == [
        "error: fleksjob.bpmn: a model may not contain a DOCTYPE or entity declarations"]
    assert counts(sqlite_runtime.url) == before
