"""Issue 14, point 2: words, not codes. Enum values by their labels on completed tasks,
deadlines by the rule's name (not the policy key), lanes in the diagram by the role's
name, dates in the Danish format, and date fields that take Danish dates."""
from __future__ import annotations

import re

import pytest
from lxml import etree
from sqlalchemy import select

from inbox import create_app
from processes.models import HumanTask, Timer
from processes.policy import BY_KEY
from processes.roles import ROLES
from test_domain_rehab import Rehab
from test_inbox import Browser, text

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
ROUTE = {"oprindelig_ydelse": "sygedagpenge", "ansoegt_om": "foertidspension", "rute": "team"}


@pytest.fixture
def app(sqlite_runtime):
    return create_app(sqlite_runtime, TESTING=True)


def test_a_completed_task_shows_enum_labels_and_danish_dates(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", ansoegningsdato="2027-01-04", **ROUTE)
    with sqlite_runtime.sessions() as session:
        done = session.scalar(select(HumanTask).where(HumanTask.case_id == w.case_id,
                                                      HumanTask.bpmn_id == "vurder_rute"))
    page = text(Browser(app, "aaby.sagsbehandler").get(f"/opgaver/{done.id}"))
    answers = page[page.index('class="answers"'):]
    assert "Sygedagpenge" in answers and "Førtidspension" in answers
    assert "4. jan. 2027" in answers
    for key in ("sygedagpenge", "foertidspension", "2027-01-04"):
        assert key not in answers


def test_deadlines_are_named_by_their_rule_not_the_policy_key(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", **{**ROUTE, "ansoegt_om": "fleksjob"})
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    with sqlite_runtime.sessions() as session:
        rules = {t.deadline_rule for t in session.scalars(select(Timer).where(Timer.case_id == w.case_id))} - {None}
    assert rules, "the case should have a running deadline"
    w.at("2027-06-01")                                             # every running deadline is breached by now
    page = text(Browser(app, "aaby.teamleder").get(f"/sager/{w.case_id}"))
    breached = page[page.index("Overskredne frister"):page.index('id="h-processes"')]
    for rule in rules:
        assert BY_KEY[rule].label in breached
        assert rule not in page
    assert "Frist" in breached                                     # the timer's name, not its BPMN id
    assert not re.search(r"\bfrist_[a-z_]+\b", breached)


def test_the_diagram_names_lanes_by_role(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    browser = Browser(app, "aaby.sagsbehandler")
    url = f"/sager/{w.case_id}/forloeb/{task.instance_id}/diagram.bpmn"
    lanes = [lane.get("name") for lane in etree.fromstring(browser.get(url).data).iter(f"{BPMN}lane")]
    assert "Sagsbehandler (myndighed)" in lanes and "Teamleder" in lanes
    assert not set(lanes) & set(ROLES)                             # no role key left
    browser.post("/sprog", data={"lang": "en", "next": "/"})
    english = [lane.get("name") for lane in etree.fromstring(browser.get(url).data).iter(f"{BPMN}lane")]
    assert ROLES["sagsbehandler"][1] in english


def test_date_fields_take_and_show_danish_dates(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    task = w._open("vurder_rute")
    browser = Browser(app, "aaby.sagsbehandler")
    page = text(browser.get(f"/opgaver/{task.id}"))
    field = re.search(r'<input [^>]*id="felt-ansoegningsdato"[^>]*>', page).group(0)
    assert 'type="text"' in field and "data-datefield" in field and 'type="date"' not in field
    assert "Dato som dd.mm.åååå, fx 31.01.2027" in page

    refused = browser.post(f"/opgaver/{task.id}", data={"revision": str(task.revision), "ansoegningsdato": "31.02.2027",
                                                         **ROUTE})
    assert refused.status_code == 422
    assert "Skal være en dato (dd.mm.åååå)." in text(refused)
    assert 'value="31.02.2027"' in text(refused)                    # what was typed is kept

    done = browser.post(f"/opgaver/{task.id}", data={"revision": str(task.revision), "ansoegningsdato": "4.1.2027",
                                                      **ROUTE})
    assert done.status_code == 302
    with sqlite_runtime.sessions() as session:
        assert session.get(HumanTask, task.id).data["ansoegningsdato"] == "2027-01-04"
    shown = text(browser.get(f"/opgaver/{task.id}"))
    assert "4. jan. 2027" in shown


def test_the_case_page_shows_dates_in_danish(sqlite_runtime, app):
    w = Rehab(sqlite_runtime, "aaby", "rehabilitering")
    w.complete("vurder_rute", **{**ROUTE, "ansoegt_om": "fleksjob"})
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    page = text(Browser(app, "aaby.sagsbehandler").get(f"/sager/{w.case_id}"))
    milestones = page[page.index('id="h-milestones"'):page.index('id="h-history"')]
    assert "4. jan. 2027" in milestones and "2027-01-04" not in milestones
