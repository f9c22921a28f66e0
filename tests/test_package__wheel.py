"""The package installs like a package: the wheel built from this checkout, installed
(not editable) into a fresh virtual environment, runs ``sagsflow init`` on an empty
database from a directory that is not the checkout. Migrations, the shared models and
the reference municipalities must come from inside the installed package.

The fresh environment gets the already-installed dependencies through a ``.pth`` line
(so the test needs no download besides the build backend); the project itself is
installed from the wheel only, and the test checks that it is that copy which runs.
"""
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)])
    wheels = list((root / "dist").glob("sagsflow-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # pip installs into the fresh environment from outside it (no ensurepip needed).
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheels[0])])
    target_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                       .stdout.strip())
    # Dependencies (Flask, SpiffWorkflow, ...) from this interpreter, after the
    # environment's own site-packages, written only now so pip above saw a clean target.
    (target_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAGSFLOW_DATABASE_URL")}
    return {"bin": env_dir / "bin", "python": python, "site": target_site, "cwd": elsewhere, "env": env}


def test_the_installed_copy_runs_not_the_checkout(installed):
    out = _run([str(installed["python"]), "-c",
                "import processes, sagsflow, inbox, worker; from processes.library import BPMN_DIR, data_dir;"
                "print(processes.__file__); print(BPMN_DIR); print(data_dir('alembic'))"],
               cwd=installed["cwd"], env=installed["env"]).stdout.split()
    for path in out:
        assert Path(path).is_relative_to(installed["site"]), (path, installed["site"])
        assert not Path(path).is_relative_to(REPO)
    assert (Path(out[1]) / "shared" / "fleksjob.bpmn").is_file()
    assert (Path(out[2]) / "env.py").is_file()
    assert sorted(p.name for p in (Path(out[2]) / "versions").glob("*.py")) == \
        sorted(p.name for p in (REPO / "alembic" / "versions").glob("*.py"))


def test_sagsflow_init_on_an_empty_database_from_any_directory(installed):
    database = installed["cwd"] / "fresh.sqlite3"
    url = f"sqlite:///{database}"
    sagsflow = str(installed["bin"] / "sagsflow")
    init = _run([sagsflow, "--database-url", url, "init"], cwd=installed["cwd"], env=installed["env"])
    listed = _run([sagsflow, "--database-url", url, "municipality", "list"], cwd=installed["cwd"],
                  env=installed["env"]).stdout.split()
    assert {"aaby", "boegeby", "cederholm"} <= set(listed), init.stdout + init.stderr
    engine = create_engine(url)
    with engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        files = conn.execute(text("SELECT DISTINCT file_name FROM model_version ORDER BY 1")).scalars().all()
        cases = conn.execute(text("SELECT count(*) FROM sag")).scalar()
    engine.dispose()
    assert head == sorted((REPO / "alembic" / "versions").glob("*.py"))[-1].stem  # migrated to the newest
    assert "bpmn/shared/fleksjob.bpmn" in files
    assert cases > 0  # the demo cases started on the installed models
    # Running it again is safe (an upgrade of an initialised database).
    _run([sagsflow, "--database-url", url, "init"], cwd=installed["cwd"], env=installed["env"])
