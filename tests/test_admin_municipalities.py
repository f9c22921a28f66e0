"""The national administrator registers a municipality by uploading its folder as a zip
(issue 13): the validation of ``sagsflow municipality add``, every problem as
``file: element: problem``, nothing stored on any problem; zip bombs, paths leaving the
folder and symbolic links refused before anything is unpacked."""
from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from inbox import create_app
from processes import archives
from processes.library import ModelInvalid
from processes.models import AuditEvent, ModelVersion, Municipality, PolicyVersion
from sagsflow.cli import main
from test_inbox import Browser, text

ROOT = Path(__file__).resolve().parent.parent
BOEGEBY = ROOT / "bpmn" / "municipalities" / "boegeby"


def dalby(**changes) -> dict:
    config = json.loads((BOEGEBY / "municipality.json").read_text(encoding="utf-8"))
    config.update({"key": "dalby", "name": "Dalby Kommune", **changes})
    return config


def zipped(files: dict[str, bytes | str], folder: str = "dalby/") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(folder + name, content)
    return out.getvalue()


def dalby_zip(config: dict | None = None, folder: str = "dalby/") -> bytes:
    return zipped({"municipality.json": json.dumps(config or dalby()),
                   "rehabilitering.bpmn": (BOEGEBY / "rehabilitering.bpmn").read_bytes()}, folder)


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


def _upload(browser, data: bytes, name="dalby.zip", update=False):
    form = {"mappe": (io.BytesIO(data), name)}
    if update:
        form["opdater"] = "ja"
    return browser.post("/admin/kommuner", form, content_type="multipart/form-data")


def _problems(response) -> list[str]:
    import re
    return [re.sub(r"&#3[49];|&quot;|&#x27;", "'", p) for p in
            re.findall(r'<li><a href="#felt-mappe">([^<]+)</a></li>', text(response))]


def _stored(rt) -> tuple:
    with rt.sessions() as db:
        return (db.scalar(select(func.count()).select_from(Municipality)),
                db.scalar(select(func.count()).select_from(ModelVersion)),
                db.scalar(select(func.count()).select_from(PolicyVersion)))


def test_a_valid_zip_registers_the_municipality_audited(app, runtime):
    national = Browser(app, "national.admin")
    response = _upload(national, dalby_zip())
    assert response.status_code == 200, _problems(response)
    assert "Dalby Kommune (dalby) er registreret." in text(response)
    with runtime.sessions() as db:
        found = db.scalar(select(Municipality).where(Municipality.key == "dalby"))
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "municipality.register",
                                                    AuditEvent.municipality_id == found.id)).one()
    assert found.name == "Dalby Kommune" and event.actor == "national.admin"
    page = text(national.get("/admin/kommuner"))
    assert "Dalby Kommune" in page and "Bøgeby Kommune" in page and "rehabilitering.bpmn" in page
    again = _upload(national, dalby_zip())
    assert again.status_code == 409 and "kommunen dalby findes allerede" in text(again)
    assert _upload(national, dalby_zip(dalby(name="Dalby Kommune (ny)")), update=True).status_code == 200


def test_every_problem_is_listed_as_file_element_problem_and_nothing_is_stored(app, runtime):
    before = _stored(runtime)
    config = dalby(models={"rehabilitering": "mangler.bpmn", "bogus": "shared"})
    config["policy"]["values"]["fj_foerste_samtale"] = "P5W"
    response = _upload(Browser(app, "national.admin"), dalby_zip(config))
    assert response.status_code == 422
    problems = _problems(response)
    assert "dalby/municipality.json: policy: fleksjob: first talk must be within 3 weeks (P3W); got P5W" in problems
    assert "dalby/municipality.json: models.bogus: unknown case type" in problems
    assert "dalby/municipality.json: models.rehabilitering: model file 'mangler.bpmn' not found" in problems
    assert not any("sagsflow-upload" in p or "/tmp" in p for p in problems)
    assert _stored(runtime) == before
    # the same folder, unzipped, gives the CLI the same problems
    with archives.unpacked(dalby_zip(config)) as (_, folder):
        cli = CliRunner().invoke(main, ["--database-url", runtime.url, "municipality", "add", str(folder)])
    assert cli.exit_code == 6
    assert [line.split("municipality.json: ", 1)[1] for line in cli.output.splitlines() if "municipality.json" in line] \
        == [p.split("municipality.json: ", 1)[1] for p in problems]


def _symlink_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("dalby/municipality.json", json.dumps(dalby()))
        link = zipfile.ZipInfo("dalby/rehabilitering.bpmn")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dalby/municipality.json", json.dumps(dalby()))
        archive.writestr("dalby/rehabilitering.bpmn", b"\0" * (4 * 1024 * 1024))
    return out.getvalue()


def _lying_sizes() -> bytes:
    """An entry whose header declares a small size but which unpacks to much more."""
    data = bytearray(zipped({"municipality.json": json.dumps(dalby()), "big.bin": b"A" * 3_000_000}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("dalby/big.bin")
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02", 0) + 24):  # local and central size
        data[offset:offset + 4] = (1000).to_bytes(4, "little")
    # the central directory entry of big.bin is the last one
    return bytes(data)


@pytest.mark.parametrize("data,expected", [
    (zipped({"../evil.json": "{}"}, ""), "upload.zip: ../evil.json: a path with .. leaves the folder"),
    (zipped({"/etc/cron.d/x": "{}"}, ""), "upload.zip: /etc/cron.d/x: an absolute path leaves the folder"),
    (zipped({"dalby\\..\\x": "{}"}, ""), "the name holds a backslash or NUL"),
    (_symlink_zip(), "upload.zip: dalby/rehabilitering.bpmn: a symbolic link is not accepted"),
    (_bomb(), "a zip bomb is refused"),
    (zipped({f"f{i}.txt": "x" for i in range(archives.MAX_ENTRIES + 1)}), "entries; at most 200 are accepted"),
    (b"not a zip at all", "upload.zip: not a zip file"),
])
def test_unsafe_archives_are_refused_before_anything_is_unpacked(data, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(archives.tempfile, "TemporaryDirectory", lambda **kw: pytest.fail("unpacked"))
    with pytest.raises(ModelInvalid) as refused:
        archives.load_zip(data)
    assert any(expected in str(p) for p in refused.value.problems), [str(p) for p in refused.value.problems]


def test_an_entry_that_unpacks_to_more_than_it_declares_is_stopped(monkeypatch):
    monkeypatch.setattr(archives, "MAX_ENTRY_BYTES", 1_000_000)
    with pytest.raises(ModelInvalid) as refused:
        archives.load_zip(_lying_sizes())
    assert any("zip bomb" in str(p) or "cannot be unpacked" in str(p) for p in refused.value.problems)


def test_the_cli_registers_a_zip_with_the_same_code(runtime, tmp_path):
    path = tmp_path / "dalby.zip"
    path.write_bytes(dalby_zip())
    result = CliRunner().invoke(main, ["--database-url", runtime.url, "municipality", "add", str(path)])
    assert result.exit_code == 0 and "registered dalby" in result.output
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_symlink_zip())
    refused = CliRunner().invoke(main, ["--database-url", runtime.url, "municipality", "add", str(bad)])
    assert refused.exit_code == 6 and "bad.zip: dalby/rehabilitering.bpmn: a symbolic link" in refused.output


def test_only_the_national_administrator_registers(app, runtime):
    before = _stored(runtime)
    for user in ("aaby.admin", "aaby.sagsbehandler"):
        browser = Browser(app, user)
        assert browser.get("/admin/kommuner").status_code == 403
        assert _upload(browser, dalby_zip()).status_code == 403
    assert _stored(runtime) == before
    national = Browser(app, "national.admin")
    for path in ("/admin/brugere", "/admin/politik", "/admin/revision"):
        assert national.get(path).status_code == 403, path
    home = national.get("/")  # no municipality, so no inbox: the register is their home
    assert home.status_code == 302 and home.headers["Location"].endswith("/admin/kommuner")
    page = text(national.get("/admin/kommuner"))
    assert "Indbakke" not in page and "Administration" in page


def test_the_national_administrator_creates_a_new_municipalitys_first_administrator(app, runtime):
    """A municipality registered from a zip has no users: the national administrator
    creates its administrator (one-time password), who then runs the municipality."""
    import re
    national = Browser(app, "national.admin")
    assert _upload(national, dalby_zip()).status_code == 200
    form = {"handling": "administrator", "kommune": "dalby", "username": "dalby.admin",
            "full_name": "Dorthe Dalby"}
    response = national.post("/admin/kommuner", form)
    assert response.status_code == 200
    password = re.search(r'<code id="engangskode">([^<]+)</code>', text(response)).group(1)
    with runtime.sessions() as db:
        from processes.models import User
        user = db.scalar(select(User).where(User.username == "dalby.admin"))
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.create",
                                                    AuditEvent.municipality_id == user.municipality_id)).one()
        dalby_id = db.scalar(select(Municipality.id).where(Municipality.key == "dalby"))
    assert (user.municipality_id, user.is_admin, user.must_change_password) == (dalby_id, True, True)
    assert event.actor == "national.admin" and password not in json.dumps(event.detail)

    taken = national.post("/admin/kommuner", {**form, "full_name": "En anden"})
    assert taken.status_code == 422 and "Brugernavnet er i brug." in text(taken)

    admin = Browser(app, "dalby.admin", password)
    assert "/adgangskode" in admin.login.headers["Location"]
    assert admin.post("/adgangskode", {"password": "dalbys egen lange kode",
                                       "password_again": "dalbys egen lange kode"}).status_code == 302
    users = text(admin.get("/admin/brugere"))
    assert "dalby.admin" in users and "aaby.admin" not in users     # their own municipality only
    assert Browser(app, "aaby.admin").post("/admin/kommuner", {**form, "username": "dalby.x"}).status_code == 403
