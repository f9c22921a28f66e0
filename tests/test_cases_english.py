"""Issue 14, point 7: the model's texts in English. A user who chose English sees the
English the model declares beside the Danish (task names, form labels, enum values, check
messages, deadline names, diagram names) on the inbox, the task page, the completed
task's answers, the case page and its timeline; a Danish user sees exactly the Danish."""
from __future__ import annotations

import re

import pytest
from lxml import etree
from sqlalchemy import select

from inbox import create_app
from processes.models import Case, Document, HumanTask
from test_domain_rehab import Rehab
from test_inbox import Browser, text

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
ROUTE = {"oprindelig_ydelse": "sygedagpenge", "ansoegt_om": "foertidspension", "rute": "team"}


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def english(app, username: str) -> Browser:
    browser = Browser(app, username)
    browser.post("/sprog", data={"lang": "en", "next": "/"})
    return browser


def _task(runtime, case_id: int, bpmn_id: str) -> HumanTask:
    with runtime.sessions() as session:
        return session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id)
                               .order_by(HumanTask.id.desc())).first()


def _form(page: str) -> str:
    return page[page.index("<form"):]


def test_the_open_task_page_in_english_shows_the_models_english(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    page = text(english(app, "aaby.sagsbehandler").get(f"/opgaver/{task.id}"))
    assert "<h1>Assess target group and route</h1>" in page
    form = _form(page)
    for label in ("Current benefit", "The citizen has applied for", "Route"):
        assert f">{label}" in form, label
    for option in ("Social assistance", "Sickness benefit", "Disability pension", "Flex job"):
        assert f">{option}</option>" in form, option
    for danish in ("Vurdér målgruppe og rute", "Nuværende ydelse", "Borgeren har søgt om", ">Kontanthjælp<",
                   ">Førtidspension</option>"):
        assert danish not in page, danish
    assert 'value="foertidspension"' in form  # the values posted stay the model's ids


def test_the_open_task_page_in_danish_is_unchanged(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    page = text(Browser(app, "aaby.sagsbehandler").get(f"/opgaver/{task.id}"))
    assert "<h1>Vurdér målgruppe og rute</h1>" in page
    form = _form(page)
    for label in ("Nuværende ydelse", "Borgeren har søgt om"):
        assert f">{label}" in form
    assert ">Kontanthjælp</option>" in form and ">Førtidspension</option>" in form
    for english_text in ("Assess target group", "Current benefit", "Social assistance", "Disability pension"):
        assert english_text not in page


def test_a_refused_check_shows_its_english_message(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    browser = english(app, "aaby.sagsbehandler")
    page = text(browser.get(f"/opgaver/{task.id}"))
    revision = re.search(r'name="revision" value="(\d+)"', page).group(1)
    refused = browser.post(f"/opgaver/{task.id}", data={**ROUTE, "revision": revision})
    assert refused.status_code == 422
    body = text(refused)
    assert "Give the date of the application for disability pension." in body
    assert "Angiv datoen for ansøgningen om førtidspension." not in body


def test_a_completed_task_shows_english_labels_and_enum_values(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", ansoegningsdato="2027-01-04", **ROUTE)
    done = _task(sqlite_runtime, w.case_id, "vurder_rute")
    page = text(english(app, "aaby.sagsbehandler").get(f"/opgaver/{done.id}"))
    answers = page[page.index('class="answers"'):]
    assert "Current benefit" in answers and "Sickness benefit" in answers
    assert "The citizen has applied for" in answers and "Disability pension" in answers
    assert "Sygedagpenge" not in answers and "Førtidspension" not in answers
    danish = text(Browser(app, "aaby.sagsbehandler").get(f"/opgaver/{done.id}"))
    answers = danish[danish.index('class="answers"'):]
    assert "Nuværende ydelse" in answers and "Sygedagpenge" in answers and "Sickness benefit" not in answers


def test_the_inbox_lists_tasks_by_their_english_name(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w._open("vurder_rute")
    page = text(english(app, "aaby.sagsbehandler").get("/"))
    assert "Assess target group and route" in page and "Vurdér målgruppe og rute" not in page
    page = text(Browser(app, "aaby.sagsbehandler").get("/"))
    assert "Vurdér målgruppe og rute" in page and "Assess target group and route" not in page


def test_the_case_page_and_timeline_in_english(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", **{**ROUTE, "ansoegt_om": "fleksjob"})
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-06-01")                                             # every running deadline is breached
    with sqlite_runtime.sessions.begin() as db:                    # a letter (its heading is Danish) and a note
        case = db.get(Case, w.case_id)
        for template, title in (("afgoerelse", "Afgørelse"), ("notat", "Notat fra mødet")):
            db.add(Document(municipality_id=case.municipality_id, case_id=case.id, template=template, title=title,
                            body="<p>x</p>", created_at=case.created_at))
    page = text(english(app, "aaby.teamleder").get(f"/sager/{w.case_id}"))
    letters = page[page.index('id="h-letters"'):]
    assert ">Decision</a>" in letters and ">Afgørelse</a>" not in letters  # a letter by its kind in English
    assert ">Notat fra mødet</a>" in letters                      # any other document by its title
    timeline = page[page.index('class="timeline-table"'):]
    assert "Assess target group and route" in timeline             # the task, by its English name
    assert "The citizen has applied for: <strong>Flex job</strong>" in timeline  # the decision in words
    assert "Deadline: " in timeline and "Frist: " not in timeline  # breached deadlines by their English name
    breached = page[page.index('id="h-deadlines"'):page.index('id="h-processes"')]
    assert "Deadline: " in breached and "Frist:" not in breached
    assert "Vurdér målgruppe og rute" not in page
    danish = text(Browser(app, "aaby.teamleder").get(f"/sager/{w.case_id}"))
    timeline = danish[danish.index('class="timeline-table"'):]
    assert ">Afgørelse</a>" in danish[danish.index('id="h-letters"'):]
    assert "Vurdér målgruppe og rute" in timeline and "Borgeren har søgt om: <strong>Fleksjob</strong>" in timeline
    assert "Frist: " in timeline and "Deadline: " not in timeline


def test_the_diagram_in_english_names_tasks_in_english(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    url = f"/sager/{w.case_id}/forloeb/{task.instance_id}/diagram.bpmn"

    def names(browser):
        root = etree.fromstring(browser.get(url).data)
        return {n.get("id"): n.get("name") for n in root.iter(f"{BPMN}userTask")}

    assert names(Browser(app, "aaby.sagsbehandler"))["vurder_rute"] == "Vurdér målgruppe og rute"
    assert names(english(app, "aaby.sagsbehandler"))["vurder_rute"] == "Assess target group and route"


def test_registration_warns_about_missing_english_and_registers(tmp_path):
    """``sagsflow municipality add``: a model without English registers, with warnings."""
    import shutil

    from click.testing import CliRunner

    from processes.library import BPMN_DIR
    from sagsflow.cli import main

    folder = tmp_path / "dalby"
    shutil.copytree(BPMN_DIR / "municipalities" / "aaby", folder)
    config = (folder / "municipality.json").read_text().replace('"aaby"', '"dalby"').replace("Aaby", "Dalby")
    (folder / "municipality.json").write_text(config)
    model = folder / "rehabilitering.bpmn"
    xml = model.read_text()
    # the English name of one user task (vurder_rute) goes missing
    stripped = xml.replace('<camunda:property name="name_en" value="Assess target group and route" />', "")
    assert stripped != xml
    model.write_text(stripped)
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    runner = CliRunner()
    ready = runner.invoke(main, ["--database-url", url, "init", "--no-demo"], catch_exceptions=False)
    assert ready.exit_code == 0, ready.output
    assert "warning:" not in ready.stderr                          # the shipped models have all their English
    result = runner.invoke(main, ["--database-url", url, "municipality", "add", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    assert "registered dalby" in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "has no English (name_en)" in warnings[0] and "rehabilitering.bpmn" in warnings[0]


def test_the_managers_heatmap_names_tasks_in_english(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", **{**ROUTE, "ansoegt_om": "fleksjob"})
    browser = english(app, "aaby.leder")
    page = text(browser.get("/analytik/diagram?case_type=rehabilitering"))
    table = page[page.index("<table"):]
    assert "Assess target group and route" in table and "Vurdér målgruppe og rute" not in table
    root = etree.fromstring(browser.get("/analytik/diagram.bpmn?case_type=rehabilitering").data)
    names = {n.get("id"): n.get("name") for n in root.iter(f"{BPMN}userTask")}
    assert names["vurder_rute"] == "Assess target group and route"
    danish = text(Browser(app, "aaby.leder").get("/analytik/diagram?case_type=rehabilitering"))
    assert "Vurdér målgruppe og rute" in danish[danish.index("<table"):]


def test_the_national_administrators_upload_lists_missing_english_as_warnings(sqlite_runtime, app):
    from test_admin_municipalities import BOEGEBY, _upload, dalby, zipped
    import json

    xml = (BOEGEBY / "rehabilitering.bpmn").read_text(encoding="utf-8")
    stripped = re.sub(r'<camunda:property id="label_en" value="[^"]*" />', "", xml, count=1)
    assert stripped != xml
    national = Browser(app, "national.admin")
    response = _upload(national, zipped({"municipality.json": json.dumps(dalby()), "rehabilitering.bpmn": stripped}))
    page = text(response)
    assert response.status_code == 200 and "Dalby Kommune (dalby) er registreret." in page
    warnings = re.findall(r"<ul class=\"warnings\"><li>([^<]+)</li></ul>", page)
    assert len(warnings) == 1 and "has no English (label_en)" in warnings[0], warnings
    complete = _upload(national, zipped({"municipality.json": json.dumps(dalby()), "rehabilitering.bpmn": xml}),
                       update=True)
    assert complete.status_code == 200 and 'class="warnings"' not in text(complete)


def test_a_note_about_a_task_names_it_in_english(sqlite_runtime, app):
    from test_cases_teamleder import _deliver, colleague, late_preparation
    colleague(sqlite_runtime)
    w = late_preparation(sqlite_runtime)
    late = w._open("forberedende_del")
    Browser(app, "aaby.teamleder").post(f"/opgaver/{late.id}/fordel", data={"username": "aaby.kollega"})
    _deliver(sqlite_runtime)
    page = text(english(app, "aaby.kollega").get("/beskeder"))
    assert "Task given to you" in page and "Draw up the preparatory part with the citizen" in page
    assert "Udarbejd den forberedende del" not in page
    danish = text(Browser(app, "aaby.kollega").get("/beskeder"))
    assert "Opgave givet til dig: Udarbejd den forberedende del med borgeren" in danish


def test_what_the_meeting_shows_of_the_case_in_english(sqlite_runtime, app):
    from test_cases_task_context import _section, to_meeting
    w = to_meeting(sqlite_runtime)
    task = w._open("rehabiliteringsmoede")
    shown = _section(text(english(app, f"aaby.{task.role}").get(f"/opgaver/{task.id}")))
    assert "Preparatory part 8 overskrifter udfyldt" in shown         # the show label, the user's own text
    assert "Drawn up with the citizen in talks" in shown               # an enum value of an earlier form
    assert "How the citizen took part in the preparatory part" in shown  # the setting form's label
    assert "LÆ 265 needed Yes" in shown and "LÆ 265 received Jan 4, 2027" in shown
    assert "Meeting date Feb 1, 2027" in shown
    assert "Prepare the citizen for the meeting" in shown              # the short history
    for danish in ("Forberedende del ", "Udarbejdet sammen med borgeren", "Mødedato", "Forbered borgeren"):
        assert danish not in shown, danish
