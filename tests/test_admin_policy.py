"""Policies within the law from the browser (issue 13): the catalogue, a change with the
CLI's validation (refused with the rule's words, nothing stored), an effective date and
a required reason, the dry run on running cases and the apply with a second
confirmation; versions side by side and against the defaults and another municipality;
only the administrator's own municipality (both databases)."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from inbox import create_app
from processes.models import AuditEvent, Municipality, PolicyVersion, ProcessInstance, Timer
from sagsflow.cli import main
from test_inbox import Browser, text

FLEKSJOB_START = {"overdragelse": {"visitationsdato": "2027-01-04"}}


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


def _count(rt, model, *where):
    with rt.sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def _errors(response) -> list[str]:
    return re.findall(r'<li><a href="#felt-[^"]+">([^<]+)</a>', text(response))


def _change(admin, **form):
    return admin.post("/admin/politik/aendr", {"sagstype": "fleksjob", "effective_from": "2027-01-04", **form})


def test_the_catalogue_shows_value_default_bound_rule_and_history(app, runtime):
    page = text(Browser(app, "boegeby.admin").get("/admin/politik"))
    row = re.search(r"<tr>\s*<th scope=\"row\">Første samtale efter visitation.*?</tr>", page, re.S).group(0)
    assert "fj_foerste_samtale" in row and "højst 3 uger (lov)" in row
    assert "first talk must be within 3 weeks" in row
    assert row.count("3 uger") >= 3  # in force, default, bound
    assert "Midlertidigt fleksjob bevilges for" in page and "præcis 5 år (bevilling til borgeren)" in page
    assert "Historik" in page and "/admin/politik/versioner/" in page


def test_a_value_beyond_the_law_is_refused_with_the_cli_s_words_and_nothing_is_stored(app, runtime):
    cli = CliRunner().invoke(main, ["--database-url", runtime.url, "policy", "set", "boegeby", "fj_foerste_samtale=P4W",
                                    "--effective-from", "2027-01-04", "--user", "boegeby.admin"])
    assert cli.exit_code == 6
    words = cli.output.strip().removeprefix("error: ")
    before = _count(runtime, PolicyVersion)
    refused = _change(Browser(app, "boegeby.admin"), fj_foerste_samtale="P4W", reason="Hurtigere")
    assert refused.status_code == 422
    assert _errors(refused) == [f"Første samtale efter visitation: {words}"]
    assert "first talk must be within 3 weeks (P3W); got P4W" in words
    assert _count(runtime, PolicyVersion) == before
    assert _count(runtime, AuditEvent, AuditEvent.action == "policy.set") == 0
    no_reason = _change(Browser(app, "boegeby.admin"), fj_foerste_samtale="P2W", reason=" ")
    assert no_reason.status_code == 422 and _errors(no_reason) == ["Skriv hvorfor politikken ændres."]
    nonsense = _change(Browser(app, "boegeby.admin"), fj_foerste_samtale="tre uger", reason="x")
    assert nonsense.status_code == 422 and "is not an ISO 8601 duration" in _errors(nonsense)[0]
    assert _count(runtime, PolicyVersion) == before


def test_a_change_is_stored_dry_run_then_applied_after_a_second_confirmation(app, runtime):
    instance = runtime.engine.start_case("boegeby", "fleksjob", "040470-1004", "Dennis Dam", FLEKSJOB_START)
    admin = Browser(app, "boegeby.admin")
    saved = _change(admin, fj_foerste_samtale="P2W", reason="Borgerne skal hurtigere i gang")
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/admin/politik/anvend?sagstype=fleksjob")
    with runtime.sessions() as db:
        version = db.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "policy.set")).one()
    assert version.values["fj_foerste_samtale"] == "P2W" and version.changed_by == "boegeby.admin"
    assert event.detail["reason"] == "Borgerne skal hurtigere i gang"

    dry = text(admin.get("/admin/politik/anvend?sagstype=fleksjob"))
    row = re.search(r"<tr><td>\d+</td><td>Dennis Dam.*?</tr>", dry, re.S).group(0)
    assert "040470-XXXX" in row and "25. jan. 2027" in row and "18. jan. 2027" in row  # 3 weeks -> 2 weeks
    assert "040470-1004" not in dry

    unconfirmed = admin.post("/admin/politik/anvend", {"sagstype": "fleksjob", "version": version.id})
    assert unconfirmed.status_code == 422 and "Sæt kryds" in text(unconfirmed)
    stale = admin.post("/admin/politik/anvend", {"sagstype": "fleksjob", "version": version.id - 1, "bekraeft": "ja"})
    assert stale.status_code == 422
    with runtime.sessions() as db:
        assert db.get(ProcessInstance, instance.id).policy_version_id != version.id
    applied = admin.post("/admin/politik/anvend", {"sagstype": "fleksjob", "version": version.id, "bekraeft": "ja"})
    assert applied.status_code == 302
    with runtime.sessions() as db:
        assert db.get(ProcessInstance, instance.id).policy_version_id == version.id
        dues = {t.due_at.date().isoformat() for t in db.scalars(select(Timer).where(Timer.instance_id == instance.id))}
        applied_event = db.scalars(select(AuditEvent).where(AuditEvent.action == "policy.apply")).one()
    assert "2027-01-18" in dues and "2027-01-25" not in dues
    assert applied_event.actor == "boegeby.admin" and applied_event.case_id == instance.case_id
    assert "Version %d" % version.id in text(admin.get("/admin/politik")) and "Borgerne skal hurtigere" in text(
        admin.get("/admin/politik"))


def test_versions_side_by_side_and_against_defaults_and_another_municipality(app, runtime):
    admin = Browser(app, "boegeby.admin")
    assert _change(admin, fj_foerste_samtale="P2W", reason="Hurtigere").status_code == 302
    with runtime.sessions() as db:
        new, old = _two_latest(db)
    page = text(admin.get(f"/admin/politik/versioner/{new.id}"))
    assert f"Version {old.id}" in page and page.count('class="differs"') == 1
    assert re.search(r"Første samtale efter visitation</th><td>3 uger</td>\s*<td>2 uger", page)
    assert admin.get(f"/admin/politik/versioner/{new.id}?med={old.id}").status_code == 200
    compare = text(admin.get("/admin/politik/sammenlign?sagstype=fleksjob&kommune=aaby"))
    assert "Aaby" in compare and "Bøgeby" in compare
    assert re.search(r"Første samtale efter visitation</th>\s*<td>2 uger.*?</td>\s*<td>3 uger</td>\s*<td>3 uger", compare,
                     re.S)



def test_the_policy_pages_in_english_name_the_rules_in_english(app, runtime):
    """The catalogue, the change form, a version against the defaults and the comparison
    name each parameter by its English label on an English page (they showed the Danish)."""
    from processes.policy import label_in
    admin = Browser(app, "boegeby.admin")
    admin.post("/sprog", {"lang": "en", "next": "/"})
    english, danish = label_in("fj_foerste_samtale", "en"), label_in("fj_foerste_samtale", "da")
    with runtime.sessions() as db:
        version = db.scalar(select(PolicyVersion.id).join(Municipality)
                            .where(Municipality.key == "boegeby", PolicyVersion.case_type == "fleksjob"))
    for path in ("/admin/politik", "/admin/politik/aendr?sagstype=fleksjob", f"/admin/politik/versioner/{version}",
                 "/admin/politik/sammenlign?sagstype=fleksjob&kommune=aaby"):
        page = text(admin.get(path))
        assert english in page and danish not in page, path


def _two_latest(db):
    rows = list(db.scalars(select(PolicyVersion).where(PolicyVersion.case_type == "fleksjob")
                           .order_by(PolicyVersion.id.desc())))
    new = rows[0]
    old = next(r for r in rows[1:] if r.municipality_id == new.municipality_id)
    return new, old


def test_policy_pages_are_the_administrators_own_municipality_only(app, runtime):
    with runtime.sessions() as db:
        aaby = db.scalar(select(Municipality.id).where(Municipality.key == "aaby"))
        boegeby_version = db.scalar(select(PolicyVersion.id).where(PolicyVersion.municipality_id != aaby).limit(1))
        aaby_version = db.scalar(select(PolicyVersion.id).where(PolicyVersion.municipality_id == aaby).limit(1))
    admin = Browser(app, "aaby.admin")
    assert admin.get(f"/admin/politik/versioner/{boegeby_version}").status_code == 404
    assert admin.get(f"/admin/politik/versioner/{aaby_version}?med={boegeby_version}").status_code == 404
    before = _count(runtime, PolicyVersion)
    assert _change(admin, fj_foerste_samtale="P2W", reason="Aaby").status_code == 302
    with runtime.sessions() as db:
        newest = db.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()
    assert newest.municipality_id == aaby and _count(runtime, PolicyVersion) == before + 1
    caseworker = Browser(app, "aaby.teamleder")
    for path in ("/admin/politik", "/admin/politik/aendr", "/admin/politik/anvend", "/admin/politik/sammenlign",
                 f"/admin/politik/versioner/{aaby_version}"):
        assert caseworker.get(path).status_code == 403, path
    assert _change(caseworker, fj_foerste_samtale="P1W", reason="x").status_code == 403
    assert caseworker.post("/admin/politik/anvend", {"sagstype": "fleksjob", "bekraeft": "ja"}).status_code == 403
    assert _count(runtime, PolicyVersion) == before + 1


@pytest.mark.parametrize("lang, expected", [
    ("da", ["1 dag", "1 uge", "1 måned", "1 år", "3 uger", "2 måneder", "ja"]),
    ("en", ["1 day", "1 week", "1 month", "1 year", "3 weeks", "2 months", "yes"])])
def test_durations_read_in_the_singular_for_one(sqlite_runtime, lang, expected):
    from flask import session
    from inbox.admin import duration_words
    app = create_app(sqlite_runtime, TESTING=True)
    with app.test_request_context():
        session["lang"] = lang
        assert [duration_words(v) for v in ("P1D", "P1W", "P1M", "P1Y", "P3W", "P2M", True)] == expected
