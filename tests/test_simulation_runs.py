"""The Simulér page and its stored runs (issue 11; docs/simulation.md, "The Simulér page"):
form validation in Danish, a run end to end through the worker's code path, isolation
between municipalities, and a run surviving a worker restart or death. Runs are tiny
(a handful of cases over a quarter of a year) so each takes a second or two."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import make_runtime
from inbox import create_app
from processes import studio, timekeeping
from processes.engine import Actor
from processes.errors import InvalidInput
from processes.models import AuditEvent, Municipality, SimulationRun, WorkerHeartbeat
from processes.policy import label_in
from processes.simulation import runs
from test_inbox import Browser
from worker import status as worker_status
from worker.service import Worker, start_background

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"per_week": "2", "cases": "4", "years": "0,25", "warmup_weeks": "0", "replications": "2", "seed": "1",
         "slots": "7", "own": "1"}
SMALL_SCENARIO = {"period": {"years": 0.25, "warmup_weeks": 0, "cases": 4},
                  "arrivals": {"rehabilitering": {"per_week": 2, "distribution": "poisson"}}}


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simulation-runs")
    runtime = make_runtime(f"sqlite:///{folder / 'sagsflow.sqlite3'}")
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def app(rt):
    return create_app(rt, TESTING=True)


def text(response):
    return response.get_data(as_text=True)


def municipality_id(rt, key):
    with rt.sessions() as db:
        return db.scalar(select(Municipality.id).where(Municipality.key == key))


def queue(rt, key="aaby", variants=None, scenario=None, replications=1, seed=1) -> int:
    with rt.sessions.begin() as db:
        run = runs.create(db, municipality_id(rt, key), Actor.system(f"{key}.leder"), "test",
                          variants or [{"kind": "own", "key": key, "label": key}], scenario or SMALL_SCENARIO,
                          seed, replications)
        return run.id


def get_run(rt, run_id) -> SimulationRun:
    with rt.sessions() as db:
        run = db.get(SimulationRun, run_id)
        db.expunge(run)
        return run


def drain(rt):
    """Let the worker's simulation job run every queued run (as its scheduler would)."""
    worker = Worker(rt)
    while worker.run_simulation():
        pass
    return worker


# ------------------------------------------------------------------ the form
def test_the_form_refuses_bad_parameters_with_danish_errors_and_stores_nothing(app, rt):
    manager = Browser(app, "aaby.leder")
    page = manager.get("/analytik/simuler/")
    assert page.status_code == 200
    assert 'name="others" value="boegeby"' in text(page) and 'name="others" value="aaby"' not in text(page)
    with rt.sessions() as db:
        before = db.query(SimulationRun).count()
    bad = manager.post("/analytik/simuler/", data={
        "per_week": "mange", "years": "9", "warmup_weeks": "-1", "replications": "0", "seed": "x", "slots": "0",
        "cases": "0", "staff_sagsbehandler": "nul"})
    assert bad.status_code == 422
    body = text(bad)
    for message in ("Skriv antal nye sager pr. uge som et tal mellem 0,1 og 100.",
                    "Skriv perioden i år som et tal mellem 0,1 og 5.",
                    "Skriv indkøringsperioden som et helt antal uger (0 eller mere).",
                    "Antal gentagelser skal være et helt tal fra 1 til 10.",
                    "Startværdien skal være et helt tal fra 0 til 999999.",
                    "Mødepladser pr. uge skal være et helt tal fra 1 til 200.",
                    "Højst antal sager skal være et helt tal fra 1 til 5000, eller tomt.",
                    "Antal medarbejdere skal være et helt tal fra 1 til 500, eller tomt (ingen begrænsning).",
                    "Vælg mindst én variant at simulere."):
        assert message in body, message
    # every error links to its field, and the field says it is invalid
    assert 'href="#felt-per_week"' in body and re.search(r'id="felt-per_week"[^>]*aria-invalid="true"', body, re.S)
    assert 'value="mange"' in body  # what was typed is shown again
    # the warm-up must be shorter than the period
    short = text(manager.post("/analytik/simuler/", data={**SMALL, "warmup_weeks": "20"}))
    assert "Indkøringsperioden skal være kortere end perioden" in short
    # too large a run
    big = text(manager.post("/analytik/simuler/", data={**SMALL, "cases": "", "per_week": "100", "years": "5",
                                                         "replications": "10", "others": ["boegeby", "cederholm"]}))
    assert "Kørslen er for stor" in big
    with rt.sessions() as db:
        assert db.query(SimulationRun).count() == before


def test_a_policy_change_is_checked_against_the_statutory_bounds(app):
    manager = Browser(app, "aaby.leder")
    page = text(manager.get("/analytik/simuler/"))
    # the catalogue with each parameter's bound is offered
    assert re.search(r'<option value="sdp_opfoelgning_interval"[^>]*>[^<]*højst 4 uger \(lov\)', page)
    loose = manager.post("/analytik/simuler/", data={**SMALL, "own": "", "policy_param": "sdp_opfoelgning_interval",
                                                      "policy_value": "P6W"})
    assert loose.status_code == 422
    assert "«Opfølgningssamtale senest hver» skal være højst 4 uger (lov); P6W ligger uden for." in text(loose)
    unreadable = text(manager.post("/analytik/simuler/", data={**SMALL, "policy_param": "sdp_opfoelgning_interval",
                                                                "policy_value": "fire uger"}))
    assert "«fire uger» kan ikke læses" in unreadable
    same = text(manager.post("/analytik/simuler/", data={**SMALL, "policy_param": "sdp_opfoelgning_interval",
                                                          "policy_value": "P4W"}))
    assert "P4W er den værdi, der gælder nu" in same
    no_param = text(manager.post("/analytik/simuler/", data={**SMALL, "policy_value": "P2W"}))
    assert "Vælg den parameter, værdien skal gælde for." in no_param


def test_create_refuses_a_policy_change_or_draft_of_another_municipality(rt):
    for variant in ({"kind": "policy", "key": "boegeby", "changes": {"sdp_opfoelgning_interval": "P3W"}},
                    {"kind": "draft", "key": "boegeby", "draft_id": 1, "case_type": "rehabilitering", "xml": ""}):
        with pytest.raises(InvalidInput, match="own municipality only"):
            queue(rt, variants=[variant])
    with pytest.raises(InvalidInput, match="meetings.slots_per_day"):
        queue(rt, scenario={"meetings": {"slots_per_day": 0}})


# ------------------------------------------------------------------ end to end
def test_a_run_from_the_form_through_the_worker_to_the_results(app, rt):
    manager = Browser(app, "aaby.leder")
    posted = manager.post("/analytik/simuler/", data={
        **SMALL, "title": "Som Bøgeby?", "others": "boegeby", "policy_param": "rehab_partshoering_svarfrist",
        "policy_value": "P10D", "staff_sagsbehandler": "3"})
    assert posted.status_code == 302, text(posted)
    run_id = int(posted.headers["Location"].rsplit("/", 1)[1])
    run = get_run(rt, run_id)
    assert run.status == "queued" and run.created_by == "aaby.leder"
    assert [v["kind"] for v in run.request["variants"]] == ["own", "other", "policy"]
    assert run.scenario["staff"] == {"sagsbehandler": {"count": 3}}
    assert run.scenario["period"] == {"years": 0.25, "warmup_weeks": 0, "cases": 4}
    waiting = text(manager.get(f"/analytik/simuler/{run_id}"))
    assert "I kø" in waiting and '<progress id="fremskridt"' in waiting
    assert manager.get(f"/analytik/simuler/{run_id}/status").get_json()["status"] == "queued"

    worker = Worker(rt)
    assert worker.run_simulation() == (run_id, "done")
    run = get_run(rt, run_id)
    assert run.status == "done" and run.progress == 1.0 and run.attempts == 1 and run.error is None
    variants = run.result["variants"]
    assert [v["variant"] for v in variants] == ["aaby", "boegeby", "aaby:rehab_partshoering_svarfrist=P10D"]
    assert all(len(v["runs"]) == 2 and [r["seed"] for r in v["runs"]] == [1, 2] for v in variants)
    assert all(r["stats"]["cases"] == 4 for v in variants for r in v["runs"])
    # the actual figures: the own municipality, the same case type, the standard period
    assert run.result["actual"]["filters"]["case_type"] == "rehabilitering"
    status = manager.get(f"/analytik/simuler/{run_id}/status").get_json()
    assert (status["status"], status["percent"]) == ("done", 100)

    page = text(manager.get(f"/analytik/simuler/{run_id}"))
    assert "Færdig" in page and "<progress" not in page
    # the Sammenlign table: a column per variant and the actual figures, the same rows
    head = re.search(r'<table id="tabel-simulering">.*?</thead>', page, re.S).group(0)
    for column in ("Simuleret: Aaby Kommune", "Simuleret: Bøgeby Kommune",
                   "Simuleret: Aaby Kommune med Svarfrist ved skriftlig partshøring", "Faktisk: Aaby Kommune"):
        assert column in head, column
    assert "Fra underskrevet forberedende del til rehabiliteringsmøde (median, dage)" in page
    assert 'id="tabel-usikkerhed"' in page and 'id="tabel-simuleret-faktisk"' in page
    assert 'id="chart-simulering"' in page
    # the simulated median in the table is the mean of the replications' medians
    medians = [r["measures"]["lead_times"][0]["median"]["value"] for r in variants[0]["runs"]]
    row = re.search(r"<tr><th scope=\"row\">Fra underskrevet forberedende del til rehabiliteringsmøde \(median, dage\)"
                    r"</th><td>([^<]*)</td>", page).group(1)
    # (≥ when censored: in a quarter of a year most cases are still behind the default
    # scenario's standing waiting list for the team, docs/simulation.md "Calibration")
    assert row.lstrip("≥ ") == f"{sum(medians) / 2:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    # each table as CSV, as on the other manager pages
    csv = manager.get(f"/analytik/eksport.csv?side=simulering&tabel=simulering&run={run_id}")
    assert csv.status_code == 200 and "Faktisk: Aaby Kommune" in text(csv)
    # reopened from the list
    listing = text(manager.get("/analytik/simuler/"))
    assert f'href="/analytik/simuler/{run_id}"' in listing and "Som Bøgeby?" in listing
    # audited: who asked for what, and what became of it
    with rt.sessions() as db:
        events = {e.action: e for e in db.scalars(select(AuditEvent).where(AuditEvent.action.like("simulation.%")))
                  if e.detail.get("run") == run_id}
    assert events["simulation.start"].actor == "aaby.leder"
    assert events["simulation.start"].detail["variants"] == ["aaby", "boegeby", "aaby:rehab_partshoering_svarfrist=P10D"]
    assert "simulation.done" in events
    # a new run from these settings: the form filled in as this one was asked for
    again = text(manager.get(f"/analytik/simuler/?fra={run_id}"))
    for field, value in (("per_week", "2"), ("cases", "4"), ("years", "0,25"), ("replications", "2"),
                         ("staff_sagsbehandler", "3"), ("policy_value", "P10D")):
        assert re.search(rf'id="felt-{field}" name="{field}" value="{re.escape(value)}"', again), field
    assert 'value="Som Bøgeby?"' in again and re.search(r'value="boegeby" checked', again)
    assert re.search(r'<option value="rehab_partshoering_svarfrist" selected', again)
    assert Browser(app, "boegeby.leder").get(f"/analytik/simuler/?fra={run_id}").status_code == 404
    # in English too
    manager.post("/sprog", data={"lang": "en", "next": "/"})
    english = text(manager.get(f"/analytik/simuler/{run_id}"))
    assert "Simulated: Bøgeby Kommune" in english and "Actual: Aaby Kommune" in english
    assert '<span id="status-tekst">Done</span>' in english
    assert "Choose at least one variant to simulate." in text(manager.post("/analytik/simuler/", data={**SMALL, "own": ""}))
    # the policy catalogue's parameters by their English labels (they were Danish)
    rule = "rehab_partshoering_svarfrist"
    form = text(manager.get("/analytik/simuler/"))
    options = form[form.index('id="felt-policy_param"'):]
    options = options[:options.index("</select>")]
    assert label_in(rule, "en") in options and label_in(rule, "da") not in options
    refused = text(manager.post("/analytik/simuler/", data={**SMALL, "policy_param": rule, "policy_value": ""}))
    assert f"Enter the proposed value for “{label_in(rule, 'en')}”." in refused


def test_a_studio_draft_of_the_own_municipality_can_be_simulated(app, rt):
    with rt.sessions.begin() as db:
        draft = studio.create_draft(db, municipality_id(rt, "aaby"), "rehabilitering", "aaby.procesdesigner",
                                    timekeeping.now(db))
        draft_id = draft.id
    manager = Browser(app, "aaby.leder")
    assert f'name="drafts" value="{draft_id}"' in text(manager.get("/analytik/simuler/"))
    # another municipality's leder is not offered it
    assert f'name="drafts" value="{draft_id}"' not in text(Browser(app, "boegeby.leder").get("/analytik/simuler/"))
    posted = manager.post("/analytik/simuler/", data={**SMALL, "own": "", "drafts": str(draft_id)})
    assert posted.status_code == 302, text(posted)
    run_id = int(posted.headers["Location"].rsplit("/", 1)[1])
    drain(rt)
    run = get_run(rt, run_id)
    assert run.status == "done", run.error
    assert run.result["variants"][0]["variant"] == f"aaby+draft:{draft_id}"


# ------------------------------------------------------------------ isolation
def test_another_municipalitys_leder_cannot_see_the_run(app, rt):
    run_id = queue(rt)
    drain(rt)
    other = Browser(app, "boegeby.leder")
    assert other.get(f"/analytik/simuler/{run_id}").status_code == 404
    assert other.get(f"/analytik/simuler/{run_id}/status").status_code == 404
    assert other.get(f"/analytik/eksport.csv?side=simulering&tabel=simulering&run={run_id}").status_code == 404
    assert f"/analytik/simuler/{run_id}" not in text(other.get("/analytik/simuler/"))
    own = Browser(app, "aaby.leder")
    assert own.get(f"/analytik/simuler/{run_id}").status_code == 200
    caseworker = Browser(app, "aaby.sagsbehandler")
    assert caseworker.get("/analytik/simuler/").status_code == 403
    assert caseworker.get(f"/analytik/simuler/{run_id}").status_code == 403
    assert caseworker.post("/analytik/simuler/", data=SMALL).status_code == 403
    assert 'href="/analytik/simuler/"' in text(own.get("/analytik/"))


# ------------------------------------------------------------------ restarts
def _claimed_by_dead_worker(rt, run_id, attempts, last_tick_ago=timedelta(minutes=5), state="running"):
    """What a killed worker leaves behind: the run ``running`` under its id, its heartbeat old."""
    wall = runs.wall_now()
    with rt.sessions.begin() as db:
        db.merge(WorkerHeartbeat(worker_id="dead:1", hostname="h", pid=1, started_at=wall - timedelta(hours=1),
                                 last_tick_at=wall - last_tick_ago, steps=0, status=state))
        run = db.get(SimulationRun, run_id)
        run.status, run.worker_id, run.attempts = "running", "dead:1", attempts
        run.started_at = run.heartbeat_at = wall - last_tick_ago
        run.progress = 0.4


def test_a_run_whose_worker_died_is_picked_up_again(app, rt):
    run_id = queue(rt)
    _claimed_by_dead_worker(rt, run_id, attempts=1)
    worker = Worker(rt)
    assert worker.run_simulation() == (run_id, "done")
    run = get_run(rt, run_id)
    assert run.status == "done" and run.attempts == 2 and run.worker_id == worker.worker_id
    assert run.note == "put back in the queue: worker dead:1 stopped while running it"
    page = text(Browser(app, "aaby.leder").get(f"/analytik/simuler/{run_id}"))
    assert "Bemærkning: Sat i kø igen: baggrundsprocessen dead:1 stoppede under kørslen." in page
    # a worker that is alive and beating keeps its run
    alive = queue(rt)
    _claimed_by_dead_worker(rt, alive, attempts=1, last_tick_ago=timedelta(seconds=1))
    assert runs.recover(rt.sessions) == []
    assert get_run(rt, alive).status == "running"
    _claimed_by_dead_worker(rt, alive, attempts=1, state="stopped")  # it stopped without handing the run back
    assert runs.recover(rt.sessions) == [(alive, "queued")]


def test_a_run_interrupted_too_often_fails_with_the_reason(app, rt):
    run_id = queue(rt)
    _claimed_by_dead_worker(rt, run_id, attempts=runs.MAX_ATTEMPTS)
    assert runs.recover(rt.sessions) == [(run_id, "failed")]
    run = get_run(rt, run_id)
    assert run.status == "failed" and "interrupted 3 times" in run.error
    page = text(Browser(app, "aaby.leder").get(f"/analytik/simuler/{run_id}"))
    assert "Kørslen fejlede" in page
    assert ("Kørslen blev afbrudt 3 gange og prøves ikke igen. Sidst: Sat i kø igen: baggrundsprocessen dead:1 "
            "stoppede under kørslen.") in page
    with rt.sessions() as db:
        assert db.scalar(select(AuditEvent.action).where(AuditEvent.action == "simulation.failed",
                                                         AuditEvent.detail["run"].as_integer() == run_id)) is not None


def test_a_failing_run_says_why_and_the_worker_goes_on(rt):
    bad = queue(rt)
    with rt.sessions.begin() as db:  # a variant that cannot be built (the municipality went away)
        db.get(SimulationRun, bad).request = {"variants": [{"kind": "other", "key": "nowhere", "label": "?"}],
                                              "seed": 1, "replications": 1}
    good = queue(rt)
    drain(rt)
    assert get_run(rt, bad).status == "failed" and "nowhere" in get_run(rt, bad).error
    page = text(Browser(create_app(rt, TESTING=True), "aaby.leder").get(f"/analytik/simuler/{bad}"))
    assert "Teknisk fejl: variant &#39;nowhere&#39;: no such municipality or folder" in page
    assert get_run(rt, good).status == "done"


def _wait(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_worker_restart_puts_the_run_back_and_the_next_worker_takes_it(rt):
    # long enough (a year of arrivals, two replications) to be stopped in the middle
    run_id = queue(rt, scenario={"period": {"years": 1, "warmup_weeks": 0},
                                 "arrivals": {"rehabilitering": {"per_week": 4}}}, replications=2)
    first = start_background(rt.url, interval=0.5)
    try:
        _wait(lambda: get_run(rt, run_id).status == "running" and get_run(rt, run_id).progress > 0)
    finally:
        first.stop()
    run = get_run(rt, run_id)
    assert run.status == "queued" and run.worker_id is None and run.attempts == 0
    assert run.note == "put back in the queue: the worker was stopped"
    second = start_background(rt.url, interval=0.5)
    try:
        taken = _wait(lambda: (r := get_run(rt, run_id)).status == "running" and r.progress > 0 and r)
        assert taken.attempts == 1 and taken.worker_id is not None
    finally:
        second.stop()
    assert get_run(rt, run_id).status == "queued"  # stopped again: back in the queue, not lost
    with rt.sessions.begin() as db:  # leave nothing queued for the other tests
        db.get(SimulationRun, run_id).status = "failed"


def test_claiming_and_recovery_on_both_databases(runtime):
    """One claim per run however many workers ask (PostgreSQL: FOR UPDATE SKIP LOCKED and
    a conditional update), a dead worker's run back in the queue, then run to the end."""
    run_id = queue(runtime)
    with runtime.sessions() as db:
        assert worker_status.collect(db)["simulations"] == {"queued": 1, "running": 0}
    assert runs.claim_next(runtime.sessions, "a") == run_id
    assert runs.claim_next(runtime.sessions, "b") is None
    with runtime.sessions() as db:  # what `sagsflow worker --status` shows
        assert "simulation: 0 run(s) queued, 1 running" in worker_status.render(worker_status.collect(db))
    assert get_run(runtime, run_id).worker_id == "a"  # "a" has no heartbeat: it is gone
    assert runs.recover(runtime.sessions) == [(run_id, "queued")]
    assert runs.run_next(runtime.sessions, "c") == (run_id, "done")
    run = get_run(runtime, run_id)
    assert (run.status, run.attempts, run.worker_id) == ("done", 2, "c")
    assert run.result["variants"][0]["summary"]["cases"]["mean"] == 4


def test_a_killed_worker_process_loses_no_run(rt, tmp_path):
    """A real ``sagsflow worker`` is killed (SIGKILL) in the middle of a run: the run stays
    ``running`` under the dead worker until its heartbeat is stale (30 s; aged here instead
    of waited for), then the next worker puts it back in the queue and runs it."""
    run_id = queue(rt, scenario={"period": {"years": 1, "warmup_weeks": 0},
                                 "arrivals": {"rehabilitering": {"per_week": 4}}}, replications=2)
    process = subprocess.Popen([sys.executable, "-m", "sagsflow.cli", "--database-url", rt.url, "worker"], cwd=ROOT,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"), stderr=open(tmp_path / "worker.log", "w"))
    try:
        taken = _wait(lambda: (r := get_run(rt, run_id)).status == "running" and r.progress > 0 and r, timeout=120)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    run = get_run(rt, run_id)
    assert run.status == "running" and run.worker_id == taken.worker_id  # nobody handed it back
    assert runs.recover(rt.sessions) == []  # its heartbeat is still fresh: it might be alive
    with rt.sessions.begin() as db:
        beat = db.get(WorkerHeartbeat, taken.worker_id)
        assert beat.status == "running"  # a killed worker cannot say it stopped
        beat.last_tick_at -= runs.WORKER_STALE_AFTER + timedelta(seconds=1)
    assert runs.recover(rt.sessions) == [(run_id, "queued")]
    run = get_run(rt, run_id)
    assert run.note == f"put back in the queue: worker {taken.worker_id} stopped while running it"
    assert run.attempts == 1  # the killed attempt counts
    with rt.sessions.begin() as db:  # smaller now, so the test ends soon: the next worker runs it to the end
        db.get(SimulationRun, run_id).scenario = SMALL_SCENARIO
    assert Worker(rt).run_simulation() == (run_id, "done")
