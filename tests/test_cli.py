"""The ``sagsflow`` command as a user runs it: results, one-line errors, nothing changed on error."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from sagsflow.cli import main

COMMANDS = [[], ["init"], ["case"], ["case", "start"], ["case", "show"], ["tasks"], ["task"], ["task", "complete"],
            ["task", "show"], ["task", "claim"], ["clock"], ["clock", "show"], ["clock", "advance"],
            ["municipality", "add"], ["municipality", "list"]]


@pytest.fixture
def cli(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, ["--database-url", url, *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    run.url = url
    return run


def snapshot(url):
    """Everything a failed command must leave untouched."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                for t in ("process_instance", "human_task", "timer", "audit_event", "outbox", "sag")}
    engine.dispose()
    return rows


def test_every_command_has_help(cli):
    for command in COMMANDS:
        result = cli(*command, "--help")
        assert "Usage:" in result.output


def test_demo_walk_and_errors(cli):
    out = cli("init", "--no-history").output
    assert "municipalities: aaby, boegeby, cederholm" in out and "clock: virtual, now 2027-01-04 09:00" in out
    out = cli("case", "start", "boegeby", "fleksjob", "--cpr", "010190-1234", "--name", "Test Borger",
              "--data", '{"overdragelse": {"visitationsdato": "2027-01-04"}}', "--json").output
    started = json.loads(out)
    assert started["process"] == "fleksjob"
    inbox = json.loads(cli("tasks", "--user", "boegeby.sagsbehandler", "--json").output)
    assert {t["cpr"] for t in inbox} >= {"010190-XXXX", "030375-XXXX"}          # with a demo case
    tasks = [t for t in inbox if t["case_id"] == started["case_id"]]
    assert [(t["task"], t["role"], t["due_at"][:10], t["cpr"]) for t in tasks] == [
        ("foerste_samtale", "sagsbehandler", "2027-01-25", "010190-XXXX")]
    task_id = tasks[0]["id"]
    other = json.loads(cli("tasks", "--user", "aaby.sagsbehandler", "--json").output)   # other municipality
    assert other and all(t["case_id"] != started["case_id"] for t in other)

    shown = cli("task", "show", str(task_id), "--user", "boegeby.sagsbehandler").output
    assert "situation: enum (required) one of ledig, job" in shown
    before = snapshot(cli.url)
    failures = [
        (["task", "complete", "9999", "--user", "boegeby.sagsbehandler"], 3, "task 9999 not found"),
        (["task", "complete", str(task_id), "--user", "aaby.sagsbehandler"], 3, "not found"),
        (["task", "complete", str(task_id), "--user", "boegeby.teamleder"], 4, "needs the role 'sagsbehandler'"),
        (["task", "complete", str(task_id), "--user", "boegeby.sagsbehandler", "--data", "{bad"], 2, "not valid JSON"),
        (["task", "complete", str(task_id), "--user", "boegeby.sagsbehandler", "--data", '{"situation": "x"}'], 6,
         "the form has errors"),
        (["task", "complete", str(task_id), "--user", "nobody"], 2, "unknown user 'nobody'"),
        (["case", "show", "9999"], 3, "case 9999 not found"),
        (["task", "show", str(task_id), "--user", "aaby.sagsbehandler"], 3, "not found"),
        (["case", "start", "nowhere", "fleksjob", "--cpr", "0101901234", "--name", "X"], 3, "municipality 'nowhere'"),
        (["case", "start", "aaby", "fleksjob", "--cpr", "12", "--name", "X"], 6, "CPR number must be 10 digits"),
        (["clock", "advance", "3 weeks"], 2, "not an ISO 8601 duration"),
    ]
    for args, code, message in failures:
        result = cli(*args, ok=False)
        assert result.exit_code == code, (args, result.output, result.stderr)
        assert message in result.stderr.splitlines()[0], (args, result.stderr)
        assert result.stderr.startswith("error: ")
    assert snapshot(cli.url) == before

    out = cli("task", "complete", str(task_id), "--user", "boegeby.sagsbehandler",
              "--data", '{"samtaledato": "2027-01-04", "situation": "job"}').output
    assert "new: " in out and "Registrér ansættelse" in out and "-> virksomhedskonsulent" in out
    again = cli("task", "complete", str(task_id), "--user", "boegeby.sagsbehandler", "--data", "{}", ok=False)
    assert again.exit_code == 5 and "no longer open" in again.stderr

    cli("clock", "advance", "P1W")
    assert "2027-01-11 09:00 (virtual clock" in cli("clock", "show").output
    shown = cli("case", "show", str(started["case_id"])).output
    assert "Hold første samtale efter visitation (sagsbehandler) by boegeby.sagsbehandler" in shown
    assert "by boegeby.sagsbehandler" in shown and "010190-XXXX" in shown
    assert "1234" not in shown


def test_clock_cannot_move_on_a_real_clock_installation(cli):
    cli("init", "--no-demo")
    result = cli("clock", "advance", "P1D", ok=False)
    assert result.exit_code == 2 and "real clock" in result.stderr


def test_console_script_is_installed(tmp_path):
    env = dict(os.environ, SAGSFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    exe = Path(sys.executable).parent / "sagsflow"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "Sagsflow" in result.stdout
