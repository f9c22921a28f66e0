"""Versioned policies through the ``sagsflow policy`` command on the persisted engine.

A change is a new dated version with who made it; new cases from its date use it,
running cases keep the values they started with until an administrator applies the
change, which first shows a dry run of every moved deadline. Runs on SQLite and
PostgreSQL (the ``runtime`` fixture; the virtual clock starts Monday 2027-01-04 09:00).
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from processes.errors import InvalidInput
from processes.models import AuditEvent, HumanTask, Municipality, PolicyVersion, ProcessInstance
from processes.policy_changes import parse_assignments
from sagsflow.cli import main
from walk import Walk

FIRST_TALK = "Frist: første samtale senest 3 uger efter visitation"  # the boundary timer's name in the model


def cli(runtime, *args, code: int = 0):
    result = CliRunner().invoke(main, ["--database-url", runtime.url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output + result.stderr
    return result


def snapshot(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                for t in ("policy_version", "process_instance", "human_task", "timer", "audit_event")}
    engine.dispose()
    return rows


def versions(runtime, municipality_key="aaby", case_type="fleksjob") -> list[PolicyVersion]:
    with runtime.sessions() as session:
        mid = session.scalar(select(Municipality.id).where(Municipality.key == municipality_key))
        return list(session.scalars(select(PolicyVersion).where(PolicyVersion.municipality_id == mid,
                                                                PolicyVersion.case_type == case_type)
                                    .order_by(PolicyVersion.id)))


def fleksjob(runtime, cpr: str, visitation: str = "2027-01-04") -> Walk:
    return Walk(runtime, "aaby", "fleksjob", {"overdragelse": {"visitationsdato": visitation}}, cpr=cpr)


# ------------------------------------------------------------------ set, show, history
def test_set_refuses_a_looser_bound_and_stores_nothing(runtime):
    before = snapshot(runtime.url)
    result = cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P4W", "--effective-from", "2027-02-01",
                 "--user", "aaby.admin", code=6)
    assert result.stderr == "error: fleksjob: first talk must be within 3 weeks (P3W); got P4W\n"
    result = cli(runtime, "policy", "set", "aaby", "rehab_booking_frist=P7D", "--effective-from", "2027-02-01",
                 "--user", "aaby.admin", code=6)
    assert result.stderr == ("error: rehabilitering: local booking lead time (sundhedskoordinator needs 10 days) "
                             "(at least P10D); got P7D\n")
    result = cli(runtime, "policy", "set", "aaby", "fj_foerste_samtal=P2W", "--effective-from", "2027-02-01",
                 "--user", "aaby.admin", code=6)
    assert result.stderr == "error: fj_foerste_samtal: unknown policy parameter\n"
    result = cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "--effective-from", "2027-02-01",
                 "--user", "boegeby.admin", code=4)
    assert result.stderr == "error: 'boegeby.admin' is not an administrator of aaby\n"
    cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "--effective-from", "2027-02-01",
        "--user", "aaby.sagsbehandler", code=4)
    assert snapshot(runtime.url) == before


def test_set_stricter_show_and_history(runtime):
    out = cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "fj_tidlig_opfoelgning=false",
              "rf_opfoelgning_interval=P6W", "--effective-from", "2027-02-01", "--user", "aaby.admin").output
    assert out.splitlines()[:2] == [f"stored ressourceforloeb: version {versions(runtime, case_type='ressourceforloeb')[-1].id} from 2027-02-01",
                                    f"stored fleksjob: version {versions(runtime)[-1].id} from 2027-02-01"]
    first, second = versions(runtime)
    assert second.changed_by == "aaby.admin" and second.values == dict(
        first.values, fj_foerste_samtale="P2W", fj_tidlig_opfoelgning=False)
    # Danish date: the version applies from midnight in Copenhagen
    assert second.effective_from.isoformat() == "2027-01-31T23:00:00+00:00"

    shown = cli(runtime, "policy", "show", "aaby", "fleksjob").output.splitlines()
    assert shown[0] == f"fleksjob: version {first.id}, in force from 2025-01-01 (set by system)"
    assert any(line.split()[:2] == ["fj_foerste_samtale", "P3W"] for line in shown)      # not yet in force
    assert f"  from 2027-02-01 (version {second.id}): fj_foerste_samtale=P2W, fj_tidlig_opfoelgning=false" in shown

    history = [line for line in cli(runtime, "policy", "history", "aaby").output.splitlines()
               if line.startswith("fleksjob")]
    assert len(history) == 2
    assert history[0].startswith(f"fleksjob          v{first.id:<4} from 2025-01-01  by system")
    assert history[1].startswith(f"fleksjob          v{second.id:<4} from 2027-02-01  by aaby.admin")
    assert history[1].endswith("fj_foerste_samtale: P3W -> P2W, fj_tidlig_opfoelgning: true -> false")
    with runtime.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.set")
                                .order_by(AuditEvent.id)).all()
    assert [(a.actor, a.detail["case_type"], a.detail["changes"]) for a in audit] == [
        ("aaby.admin", "ressourceforloeb", {"rf_opfoelgning_interval": ["P1M", "P6W"]}),
        ("aaby.admin", "fleksjob", {"fj_foerste_samtale": ["P3W", "P2W"], "fj_tidlig_opfoelgning": [True, False]}),
    ]


def test_parse_assignments_types_values():
    assert parse_assignments(["fj_foerste_samtale=p2w", "fj_tidlig_opfoelgning=ja",
                              "rehab_indstilling_arbejdsdage=3"]) == {
        "fj_foerste_samtale": "P2W", "fj_tidlig_opfoelgning": True, "rehab_indstilling_arbejdsdage": 3}
    with pytest.raises(InvalidInput, match="expected KEY=VALUE"):
        parse_assignments(["fj_foerste_samtale"])
    with pytest.raises(InvalidInput, match="expected a whole number"):
        parse_assignments(["rehab_indstilling_arbejdsdage=fem"])


# ------------------------------------------------------------------ running cases keep their values
def test_new_cases_from_the_effective_date_use_the_new_version(runtime):
    before = fleksjob(runtime, "010190-1111")                       # visited Monday 2027-01-04
    assert before.due("foerste_samtale") == "2027-01-25"
    cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "--effective-from", "2027-01-06",
        "--user", "aaby.admin")
    still_old = fleksjob(runtime, "020290-2222")                    # 2027-01-04: not yet in force
    assert still_old.due("foerste_samtale") == "2027-01-25"
    before.at("2027-01-06")
    after = fleksjob(runtime, "030390-3333", visitation="2027-01-06")
    assert after.due("foerste_samtale") == "2027-01-20"             # two weeks, from the new version
    first, second = versions(runtime)
    with runtime.sessions() as session:
        rows = {r.case_id: r.policy_version_id for r in session.scalars(select(ProcessInstance))}
    assert rows == {before.case_id: first.id, still_old.case_id: first.id, after.case_id: second.id}
    # the running case keeps its 3 weeks, also when the clock passes the new date
    before.end_of("2027-01-20")
    assert before.ready() == {"foerste_samtale": "sagsbehandler"}
    assert before.due("foerste_samtale") == "2027-01-25"


# ------------------------------------------------------------------ applying a change to running cases
def test_apply_dry_run_then_yes_moves_each_deadline(runtime):
    anna = fleksjob(runtime, "010190-1111")                                        # timeDate: visitation + P3W
    bo = Walk(runtime, "aaby", "sygedagpenge", cpr="020290-2222", name="Bo Berg")   # timeDate: case start + P4W
    cecilie = Walk(runtime, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}},
                   cpr="030390-3333", name="Cecilie C")                             # another municipality
    assert (anna.due("foerste_samtale"), bo.due("opfoelgningssamtale")) == ("2027-01-25", "2027-02-01")
    anna.at("2027-01-06")
    cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "sdp_opfoelgning_interval=P2W",
        "--effective-from", "2027-01-06", "--user", "aaby.admin")
    fleksjob_version = versions(runtime)[-1].id

    before = snapshot(runtime.url)
    out = cli(runtime, "policy", "apply", "aaby", "fleksjob", "--user", "aaby.admin").output
    assert snapshot(runtime.url) == before                                         # a dry run changes nothing
    assert out.splitlines() == [
        f"fleksjob in aaby: 1 running instance(s) would move to policy version {fleksjob_version}",
        "case  citizen                    instance  " + "timer".ljust(len(FIRST_TALK)) + "  old date -> new date",
        f"{anna.case_id:<4}  Test Borger (010190-XXXX)  {anna_instance(runtime, anna):<8}  "
        f"{FIRST_TALK}  2027-01-25 -> 2027-01-18",
        "dry run: nothing changed; run again with --yes to apply",
    ]

    out = cli(runtime, "policy", "apply", "aaby", "fleksjob", "--yes", "--user", "aaby.admin").output
    assert out.splitlines()[0] == f"fleksjob in aaby: 1 running instance(s) moved to policy version {fleksjob_version}"
    assert out.splitlines()[2].endswith("2027-01-25 -> 2027-01-18")
    assert anna.due("foerste_samtale") == "2027-01-18"                             # the inbox shows the new date
    assert anna.timers() == {"frist_foerste_samtale": "2027-01-18"}
    assert cecilie.due("foerste_samtale") == "2027-01-25"                          # Bøgeby is untouched
    with runtime.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.apply")).one()
        row = session.get(ProcessInstance, audit.instance_id)
    assert row.case_id == anna.case_id and row.policy_version_id == fleksjob_version
    assert audit.actor == "aaby.admin" and audit.case_id == anna.case_id
    assert audit.detail["changed"] == {"fj_foerste_samtale": ["P3W", "P2W"]}
    assert audit.detail["deadlines"] == [{
        "timer": "frist_foerste_samtale", "name": FIRST_TALK,
        "old": "2027-01-25T22:59:59+00:00", "new": "2027-01-18T22:59:59+00:00"}]
    assert "0 running instance(s) would move" in cli(runtime, "policy", "apply", "aaby", "fleksjob",
                                                     "--user", "aaby.admin").output

    # the moved deadline fires on its new date
    anna.end_of("2027-01-17")
    assert anna.ready() == {"foerste_samtale": "sagsbehandler"}
    anna.end_of("2027-01-18")
    assert anna.ready() == {"foerste_samtale": "sagsbehandler", "eskaler_foerste_samtale": "teamleder"}

    # the talk deadline (a date: the case's start, Monday 2027-01-04, + the interval) is
    # evaluated again; moved into the past, it falls due at once; the next talk runs on the
    # new interval too, from the talk's date
    assert bo.due("opfoelgningssamtale") == "2027-02-01"
    out = cli(runtime, "policy", "apply", "aaby", "sygedagpenge", "--yes", "--user", "aaby.admin").output
    assert "Bo Berg (020290-XXXX)" in out and out.splitlines()[2].endswith("2027-02-01 -> 2027-01-18")
    assert bo.ready() == {"opfoelgningssamtale": "sagsbehandler", "eskaler_opfoelgningssamtale": "teamleder"}
    bo.complete("opfoelgningssamtale", samtaledato="2027-01-19", uarbejdsdygtighed="fuld", forloeb="fortsaet")
    assert bo.due("opfoelgningssamtale") == "2027-02-02"                         # 2 weeks, not 4


def test_apply_gives_a_waiting_duration_timer_the_new_length_from_when_it_started(runtime):
    """A ``timeDuration`` deadline (rehabilitering's preparatory part, counted from when the
    task opened) keeps the moment it started waiting and gets the new length from there."""
    dan = Walk(runtime, "aaby", "rehabilitering", cpr="040490-4444", name="Dan Dam")
    dan.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    dan.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    assert dan.due("forberedende_del") == "2027-03-04"                           # P2M from Monday 2027-01-04
    dan.at("2027-01-06")
    cli(runtime, "policy", "set", "aaby", "rehab_forberedelse_frist=P6W", "--effective-from", "2027-01-06",
        "--user", "aaby.admin")
    out = cli(runtime, "policy", "apply", "aaby", "rehabilitering", "--yes", "--user", "aaby.admin").output
    assert out.splitlines()[2].endswith("2027-03-04 -> 2027-02-15")             # 6 weeks from 2027-01-04
    assert dan.due("forberedende_del") == "2027-02-15"


def anna_instance(runtime, walk: Walk) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == walk.case_id))


def test_apply_is_for_administrators_only(runtime):
    fleksjob(runtime, "010190-1111")
    cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "--effective-from", "2027-01-04",
        "--user", "aaby.admin")
    before = snapshot(runtime.url)
    for args in (["--yes"], []):
        result = cli(runtime, "policy", "apply", "aaby", "fleksjob", *args, "--user", "aaby.sagsbehandler", code=4)
        assert result.stderr == "error: 'aaby.sagsbehandler' is not an administrator of aaby\n"
    assert snapshot(runtime.url) == before
    with runtime.sessions() as session:
        assert session.scalars(select(HumanTask.due_at)).one().isoformat() == "2027-01-25T22:59:59+00:00"


def test_a_timer_expression_that_fails_under_the_new_policy_is_a_model_fault_naming_the_timer(runtime, monkeypatch):
    """A waiting deadline's expression is model code: when it fails under the new values
    (here as a misspelt attribute would), the preview and the apply say which timer, as a
    model fault, and change nothing; before, the preview let the raw exception out and
    the apply called it the engine's own failure."""
    from processes import scripting

    anna = fleksjob(runtime, "010190-1111")
    cli(runtime, "policy", "set", "aaby", "fj_foerste_samtale=P2W", "--effective-from", "2027-01-04",
        "--user", "aaby.admin")
    evaluate = scripting.RestrictedEnvironment.evaluate

    def failing_under_p2w(self, expression, context, *args, **kwargs):
        if (context.get("policy") or {}).get("fj_foerste_samtale") == "P2W":
            raise AttributeError("'str' object has no attribute 'uger'")
        return evaluate(self, expression, context, *args, **kwargs)

    monkeypatch.setattr(scripting.RestrictedEnvironment, "evaluate", failing_under_p2w)
    before = snapshot(runtime.url)
    for args in ([], ["--yes"]):
        out = cli(runtime, "policy", "apply", "aaby", "fleksjob", *args, "--user", "aaby.admin", code=6).output
        assert "frist_foerste_samtale" in out and "AttributeError: 'str' object has no attribute 'uger'" in out
        assert snapshot(runtime.url) == before
    assert anna.due("foerste_samtale") == "2027-01-25"
