"""Tests that enumerate their subject from where it is defined (issue 16), so a new route,
bound or letter is covered the day it is added.

1. Isolation: the cross-municipality and missing-role matrix is generated from the Flask
   URL map. Every route with an id in it (pages and API alike) is requested with the ids
   of one object of each kind, created in two municipalities, by a user of the other
   municipality, by the owner with the other municipality's ids (and with mixed ids where
   a route takes several), and by a user of the same municipality without the role. A
   route the matrix cannot exercise is listed in :data:`NOT_IN_MATRIX` with the reason; a
   route that is neither fails.
2. Statutory bounds: every bounded parameter of the policy catalogue, just inside and
   just outside each bound, through the CLI (``sagsflow policy set``), the policy service
   (:func:`processes.policy_changes.set_policy`) and model registration (a municipality
   folder whose tagged timer has a literal beyond the bound, or whose policy is beyond
   it). The values come from the bounds as the domain catalogue states the law
   (:data:`LAW`), written down apart from ``processes/policy.py``, so a bound loosened
   there is caught, and a new bounded parameter must be added here with its source.
3. Letters: every decision letter, rendered from the data the models really hold, names
   the decision in words, the reasons and the complaint guidance: that is the domain
   letter test (``tests/test_letters_complete.py``, over ``tests/letter_walks.py``'s walk
   of every model). Here every template of :mod:`processes.letters` must be either one of
   its ``DECISION_TEMPLATES`` (so that test checks it) or listed with the reason it is not
   a decision, so a new decision template cannot slip past it.
4./5. The PostgreSQL fixture skips only when no server listens, fails on any other error,
   and fails instead of skipping where PostgreSQL is required (CI), so the
   PostgreSQL-only locking tests cannot drop out of CI unnoticed.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url, select, text

from conftest import empty_schema, make_runtime
from inbox import create_app
from inbox.cases import _lanes_by_role_name
from inbox.tokens import issue_token, tokens_of
from processes import municipalities, studio, timekeeping
from processes.engine import Actor
from processes.errors import InvalidInput
from processes.library import ModelInvalid
from processes.letters import DECISION_TEMPLATES, TEMPLATES
from processes.models import (
    Document, ModelVersion, Notification, PolicyVersion, ProcessInstance, SavedFilter, User, UserRole,
)
from processes.policy import BY_KEY, CATALOGUE, duration_length
from processes.policy_changes import set_policy
from processes.simulation import runs as simulation_runs
from sagsflow.cli import main
from test_drawings import drawing

MUNICIPALITIES = ("aaby", "boegeby")
# Routes with parameters that the matrix does not request, and why. Anything else with a
# parameter in its URL must be exercised.
NOT_IN_MATRIX = {
    "static": "the application's own CSS and JavaScript files, the same for every user",
    "vendor.bpmn_js": "the bpmn-js library's files from node_modules, the same for every user",
    "vendor.asset": "front-end libraries' files from node_modules, the same for every user",
}
# The object each id parameter names; the fixture creates one of each per municipality.
KINDS = ("task_id", "case_id", "instance_id", "document_id", "notification_id", "filter_id", "token_id",
         "user_id", "policy_version_id", "draft_id", "version_id", "run_id")
# Who may use a route: the task's role unless listed here.
OWNER_ROLE = {"api.reassign_task": "teamleder", "inbox.reassign": "teamleder", "cases.change_owner": "teamleder",
              **{f"studio.{name}": "procesdesigner" for name in (
                  "editor", "draft_xml", "save", "run_tests", "publish", "draft_diff", "version_xml", "version_diff",
                  "migrate", "revert")},
              "simulation.run": "leder", "simulation.status": "leder"}
# A user of the same municipality without that role gets 403, except where the object is
# addressed to a user or role (a notification, a saved filter): then it does not exist
# for them (404).
MISSING_ROLE_STATUS = {"notifications.read": 404, "api.read_notification": 404, "inbox.delete_filter": 404,
                       "api.revoke_token": 404, "auth.revoke_api_token": 404}


def _parameters(rule) -> list[tuple[str, str]]:
    """``(converter, name)`` of each parameter in a URL rule (``default`` if none given)."""
    return [(conv or "default", name) for conv, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule)]


def _url_map():
    """The routes as the application defines them (the app is not started)."""
    return list(create_app("sqlite:///:memory:").url_map.iter_rules())


RULES = _url_map()
MATRIX = sorted((rule.endpoint, method) for rule in RULES if _parameters(rule) and rule.endpoint not in NOT_IN_MATRIX
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
LISTS = sorted(rule.endpoint for rule in RULES if not _parameters(rule) and "GET" in rule.methods)
# The administration area (inbox/admin.py) belongs to the municipality's administrator.
OWNER_ROLE.update({endpoint: "admin" for endpoint, _ in MATRIX if endpoint.startswith("admin.")})


def test_every_route_with_a_parameter_is_in_the_matrix_or_listed_with_a_reason():
    by_endpoint = {rule.endpoint: rule for rule in RULES}
    assert set(NOT_IN_MATRIX) <= set(by_endpoint), "a listed route no longer exists: remove it from NOT_IN_MATRIX"
    unknown = {endpoint: [name for conv, name in _parameters(by_endpoint[endpoint]) if name not in KINDS]
               for endpoint, _ in MATRIX}
    assert {e: names for e, names in unknown.items() if names} == {}, (
        "a route takes an id the isolation fixture does not create: add the object to `world` "
        "(and KINDS), or list the route in NOT_IN_MATRIX with the reason")
    assert len(MATRIX) >= 17  # the enumeration found the routes (17 route methods when it was written)


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    """One installation per database for the whole matrix; each test adds its own objects."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'sagsflow.sqlite3'}"
    else:
        url = empty_schema(request.getfixturevalue("pg_database_url"))
    rt = make_runtime(url)
    yield rt, create_app(rt, TESTING=True), {}
    rt.close()


class Page:
    """A signed-in browser: session cookie, and the page's CSRF token with every form."""

    def __init__(self, app, username):
        self.http = app.test_client()
        token = _csrf(self.http.get("/login").get_data(as_text=True))
        signed_in = self.http.post("/login", data={"username": username, "password": "demo", "csrf_token": token})
        assert signed_in.status_code == 302, username
        self.csrf = _csrf(self.http.get("/").get_data(as_text=True))

    def call(self, method, path, body):
        if method == "GET":
            return self.http.get(path)
        if isinstance(body, bytes):   # JSON the page's script sends, with the token in a header
            return self.http.open(path, method=method, data=body,
                                  headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf})
        return self.http.open(path, method=method, data={"csrf_token": self.csrf, **(body or {})})


class Api:
    """An API client with the user's bearer token."""

    def __init__(self, runtime, app, username):
        self.http = app.test_client()
        with runtime.sessions.begin() as session:
            self.token = issue_token(session, session.scalar(select(User).where(User.username == username)))

    def call(self, method, path, body):
        return self.http.open(path, method=method, json=body if method != "GET" else None,
                              headers={"Authorization": f"Bearer {self.token}"})


def _csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@dataclass
class Side:
    """One municipality's objects: an id of each kind, and the citizen they concern."""

    key: str
    ids: dict
    citizen: str
    cpr: str
    role: str          # the role of the task
    form: list         # the task's form
    today: str         # the installation's date (ISO), for date fields
    drawing: bytes     # a drawing of the case's model (what the case page's script sends)


_serial = itertools.count(1)


def _make_side(rt, key: str, n: int) -> Side:
    citizen, cpr = f"Borger{n} {key.capitalize()}markoer", f"{n:06d}{MUNICIPALITIES.index(key) + 1:04d}"
    with rt.sessions() as session:
        starter = Actor.for_user(session.scalar(select(User).where(User.username == f"{key}.sagsbehandler")))
    instance = rt.engine.start_case(key, "rehabilitering", cpr, citizen, actor=starter)
    task = rt.engine.open_tasks(case_id=instance.case_id)[0]
    with rt.sessions.begin() as session:
        now = timekeeping.now(session)
        owner = session.scalar(select(User).where(User.username == f"{key}.{task.role}"))
        document = Document(municipality_id=instance.municipality_id, case_id=instance.case_id,
                            instance_id=instance.id, template="afgoerelse", title="Afgørelse",
                            body=f"<p>Kære {citizen}</p>", created_at=now)
        note = Notification(municipality_id=instance.municipality_id, recipient_role=task.role,
                            case_id=instance.case_id, task_id=task.id, kind="due_soon",
                            title="Frist nærmer sig", body=f"Sagen om {citizen}", created_at=now)
        saved = SavedFilter(user_id=owner.id, name=f"Filter for {citizen}", query={}, created_at=now)
        colleague = User(municipality_id=instance.municipality_id, username=f"matrix{n}.{key}",
                         full_name=f"Kollega {n}", password_hash=None, created_at=now)
        colleague.roles = [UserRole(role_key="ydelse")]
        session.add_all([document, note, saved, colleague])
        session.flush()
        issue_token(session, owner, name=f"Nøgle for {citizen}")
        session.flush()
        token_id = tokens_of(session, owner)[0].id
        # the studio: a draft of the municipality's model, and its own model version
        draft = studio.create_draft(session, instance.municipality_id, "rehabilitering", f"{key}.procesdesigner", now)
        own_version = session.scalar(select(ModelVersion.id).where(
            ModelVersion.municipality_id == instance.municipality_id).order_by(ModelVersion.id).limit(1))
        # the Simulér page: a leder's what-if run, named after the citizen so a leak shows
        run = simulation_runs.create(session, instance.municipality_id, Actor.system(f"{key}.leder"),
                                     f"Simulering for {citizen}", [{"kind": "own", "key": key, "label": key}],
                                     {}, 1, 1)
        ids = {"run_id": run.id, "task_id": task.id, "case_id": instance.case_id, "instance_id": instance.id,
               "document_id": document.id, "notification_id": note.id, "filter_id": saved.id, "token_id": token_id,
               "user_id": colleague.id, "policy_version_id": session.scalar(
                   select(PolicyVersion.id).where(PolicyVersion.municipality_id == instance.municipality_id)
                   .order_by(PolicyVersion.id).limit(1)),
               "draft_id": draft.id, "version_id": own_version}
    with rt.sessions() as session:
        version = session.get(ModelVersion, session.get(ProcessInstance, instance.id).model_version_id)
        drawn = json.dumps(drawing(_lanes_by_role_name(version.id, "da", version.bpmn_xml))).encode("utf-8")
    return Side(key, ids, citizen, cpr, task.role, rt.engine.task_form(task), now.date().isoformat(), drawn)


@pytest.fixture
def world(installation):
    rt, app, clients = installation
    n = next(_serial)
    sides = {key: _make_side(rt, key, 100 * n + i) for i, key in enumerate(MUNICIPALITIES)}

    def client(endpoint: str, username: str):
        kind = "api" if endpoint.startswith("api.") else "page"
        if (kind, username) not in clients:
            clients[(kind, username)] = Api(rt, app, username) if kind == "api" else Page(app, username)
        return clients[(kind, username)]
    return rt, sides, client


# ---------------------------------------------------------------------- bodies
def _form_value(spec: dict, typed: bool, today: str):
    kind = spec["type"]
    if kind == "enum":
        return spec["options"][0]["id"]
    if kind == "boolean":
        return True if typed else "true"
    if kind == "long":
        value = spec.get("min", 1)
        return value if typed else str(value)
    if kind == "date":
        return today  # the installation's today: neither in the future nor long past
    return "Begrundelse"


def _body(endpoint: str, requester: Side, owner: Side) -> dict | None:
    """A request body the route accepts from the owner (so a refusal is about access)."""
    form = {spec["id"]: _form_value(spec, endpoint.startswith("api."), owner.today) for spec in owner.form}
    colleague = f"{requester.key}.{owner.role}"
    return {
        "api.complete_task": {"data": form, "revision": 1},
        "api.reassign_task": {"username": colleague},
        "tasks.show": {"revision": "1", **form},
        "inbox.reassign": {"username": colleague},
        "drawings.drawing": owner.drawing,
    }.get(endpoint, {})


def _snapshot(rt) -> dict:
    """Everything a request could change about the objects (reads leave no trace here:
    audit events of a case count, logins and sign-outs do not)."""
    tables = {"human_task": "", "sag": "", "process_instance": "", "document": "", "notification": "",
              "saved_filter": "", "outbox": "", "audit_event": " WHERE case_id IS NOT NULL",
              "app_user": "", "user_role": "", "policy_version": "",
              "model_draft": "", "model_publication": "", "model_version": "", "simulation_run": "",
              "diagram_drawing": ""}
    with rt.db.connect() as conn:
        return {t: conn.execute(text(f"SELECT * FROM {t}{where} ORDER BY 1")).all() for t, where in tables.items()}


# ---------------------------------------------------------------------- matrix
@pytest.mark.parametrize("endpoint,method", MATRIX, ids=[f"{e}-{m}" for e, m in MATRIX])
def test_isolation_matrix_from_the_url_map(world, endpoint, method):
    rt, sides, client = world
    rule = next(r for r in RULES if r.endpoint == endpoint)
    names = [name for _, name in _parameters(rule)]
    assert set(names) <= set(KINDS), f"{endpoint}: unknown id kind (see the test above)"
    a, b = sides["aaby"], sides["boegeby"]
    role = OWNER_ROLE.get(endpoint, a.role)
    # A role of the municipality that has no task in the case and is not the teamleder's.
    lacking = "ydelse" if role != "ydelse" and a.role != "ydelse" else "pensionsteam"

    def path(assignment: tuple[Side, ...]) -> str:
        return rule.build({name: side.ids[name] for name, side in zip(names, assignment)}, append_unknown=False)[1]

    def request(username: str, requester: Side, assignment: tuple[Side, ...]):
        response = client(endpoint, username).call(method, path(assignment), _body(endpoint, requester, a))
        shown = response.get_data(as_text=True)
        return response.status_code, shown

    before = _snapshot(rt)
    refusals = []
    for assignment in itertools.product((a, b), repeat=len(names)):
        if any(side is a for side in assignment):  # the other municipality's user, with a's ids in it
            refusals.append((f"{b.key}.{role}", b, assignment, 404))
        if any(side is b for side in assignment):  # the owner, with b's ids in it
            refusals.append((f"{a.key}.{role}", a, assignment, 404))
    refusals.append((f"{a.key}.{lacking}", a, (a,) * len(names), MISSING_ROLE_STATUS.get(endpoint, 403)))
    for username, requester, assignment, expected in refusals:
        status, shown = request(username, requester, assignment)
        where = f"{username} {method} {path(assignment)}"
        assert status == expected, f"{where}: {status}, expected {expected}"
        for side in (a, b):
            if side is not requester or expected == 403:
                assert side.citizen not in shown and side.cpr not in shown, f"{where} shows {side.citizen}"
    assert _snapshot(rt) == before, f"{endpoint} {method}: a refused request changed something"

    # The owner's own request goes through: the refusals above were about access.
    status, shown = request(f"{a.key}.{role}", a, (a,) * len(names))
    assert status < 400, f"{endpoint} {method} as the owner: {status}"
    assert "/login" not in (shown if status >= 300 else "")


@pytest.mark.parametrize("endpoint", LISTS)
def test_lists_never_show_another_municipalitys_citizens(world, endpoint):
    rt, sides, client = world
    rule = next(r for r in RULES if r.endpoint == endpoint)
    a, b = sides["aaby"], sides["boegeby"]
    with rt.sessions() as session:
        users = list(session.scalars(select(User.username).where(User.username.like(f"{b.key}.%"))))
    assert len(users) >= 10
    for username in users:
        response = client(endpoint, username).call("GET", rule.rule, None)
        shown = response.get_data(as_text=True)
        assert response.status_code in (200, 302, 403), f"{username} GET {rule.rule}: {response.status_code}"
        assert "Aabymarkoer" not in shown and a.cpr not in shown, f"{username} GET {rule.rule} shows aaby's citizen"


# ----------------------------------------------------------------------- bounds
# The bounds as the process catalogue (processes.md §3, from the Danish sources) states
# them: (at least, at most). Kept apart from processes/policy.py on purpose.
LAW = {
    "sdp_opfoelgning_interval": (None, "P4W"),      # sygedagpenge follow-up every 4 weeks
    # Partshøring before an adverse decision (forvaltningsloven §19): a reply period the
    # citizen can use (at least 8 days in practice) and at most 4 weeks (issue 8).
    "sdp_partshoering_svarfrist": ("P8D", "P4W"),
    "fj_partshoering_svarfrist": ("P8D", "P4W"),
    "foep_partshoering_svarfrist": ("P8D", "P4W"),  # and inside PL §21's 3 months
    "foep_forsinkelse_varsel": ("P1W", "P6W"),      # PL §21: the delay letter arrives before the 3 months end
    "fj_anden_aktoer_mulig": ("P6M", "P12M"),       # anden aktør optional after 6 months on LY
    "rf_opfoelgning_interval": (None, "P2M"),       # >= 6 follow-ups a year
    "rf_varighed": ("P1Y", "P5Y"),                  # a ressourceforløb lasts 1-5 years
    "rf_naeste_skridt_foer_udloeb": ("P2W", None),  # RSL §7a: next step >= 2 weeks before the end
    "rf_foerste_samtale_efter_afgoerelse": (None, "P2M"),  # the first talk within the statutory talk interval
    "fj_foerste_samtale": (None, "P3W"),            # first talk <= 3 weeks after visitation
    "fj_ly_kontakt_interval": (None, "P3M"),        # LY contact course at least every 3 months
    "fj_anden_aktoer": (None, "P12M"),              # anden aktør mandatory after 12 months on LY
    "fj_revurdering": (None, "P12M"),               # LY re-evaluation after 12 months
    "fj_opfoelgning": (None, "P30M"),               # fleksjob follow-up at the latest after 2½ years
    "fj_tidlig_opfoelgning_efter": (None, "P30M"),  # a local earlier follow-up comes before the statutory one
    "fj_status": ("P54M", "P54M"),                  # status exactly 4½ years after the job starts
    "fj_periode": ("P5Y", "P5Y"),                   # a temporary fleksjob is granted for exactly 5 years
    "foep_overfoersel": (None, "P3W"),              # principle decision 39-17: transfer <= 3 weeks
    "foep_afgoerelse": (None, "P3M"),               # PL §21: decision <= 3 months after transfer
    "rehab_booking_frist": ("P10D", None),          # the sundhedskoordinator needs >= 10 days
}
BOUNDED = [p for p in CATALOGUE if p.at_least is not None or p.at_most is not None]
ENDS = [(p.key, end) for p in BOUNDED for end in ("at_least", "at_most") if getattr(p, end) is not None]


def _days(duration: str) -> int:
    return duration_length(duration).days


def test_the_catalogue_states_every_bound_as_the_law_does():
    catalogue = {p.key: tuple(_days(b) if b else None for b in (p.at_least, p.at_most)) for p in BOUNDED}
    law = {key: tuple(_days(b) if b else None for b in bounds) for key, bounds in LAW.items()}
    assert catalogue == law, "a bound differs from the law, or a bounded parameter has no entry in LAW"
    assert len(ENDS) == sum(b is not None for bounds in LAW.values() for b in bounds) >= 16


def _edge(key: str, end: str) -> tuple[str, str]:
    """(just inside, just outside) the law's bound, in days."""
    bound = LAW.get(key, (BY_KEY[key].at_least, BY_KEY[key].at_most))[0 if end == "at_least" else 1]
    days = _days(bound)
    return f"P{days}D", f"P{days - 1 if end == 'at_least' else days + 1}D"


@pytest.fixture(scope="module")
def policy_installation(tmp_path_factory):
    rt = make_runtime(f"sqlite:///{tmp_path_factory.mktemp('bounds') / 'sagsflow.sqlite3'}")
    yield rt
    rt.close()


MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://sagsflow.dk/test">
  <bpmn:process id="{case_type}" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="sagsbehandler">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>opgave</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>frist</bpmn:flowNodeRef><bpmn:flowNodeRef>slut</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>slut_frist</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="opgave"/>
    <bpmn:userTask id="opgave" name="Opgave"/>
    <bpmn:boundaryEvent id="frist" name="Frist" attachedToRef="opgave" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties><camunda:property name="deadline" value="{key}"/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDuration>{expression}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="opgave" targetRef="slut"/>
    <bpmn:endEvent id="slut"/>
    <bpmn:sequenceFlow id="f3" sourceRef="frist" targetRef="slut_frist"/>
    <bpmn:endEvent id="slut_frist"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _register(tmp_path, key: str, expression: str, values: dict) -> None:
    """Validate a municipality folder as ``sagsflow municipality add`` does."""
    param = BY_KEY[key]
    folder = tmp_path / f"kommune_{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "model.bpmn").write_text(MODEL.format(case_type=param.case_type, key=key, expression=expression))
    (folder / "municipality.json").write_text(json.dumps({
        "key": "graenseby", "name": "Grænseby Kommune", "models": {param.case_type: "model.bpmn"},
        "policy": {"effective_from": "2027-01-01", "values": values}}))
    empty = tmp_path / "no_shared_models"
    empty.mkdir(exist_ok=True)
    municipalities.load_folder(folder, shared_dir=empty)


@pytest.mark.parametrize("key,end", ENDS, ids=[f"{k}-{e}" for k, e in ENDS])
def test_a_bound_admits_the_edge_and_refuses_one_day_beyond_it_everywhere(policy_installation, tmp_path, key, end):
    rt, param = policy_installation, BY_KEY[key]
    inside, outside = _edge(key, end)
    words = param.rule
    assert words and len(words) > 10, f"{key}: a bounded parameter needs its rule in words"

    # The CLI, dated ahead; one municipality per end, so an exact bound (at least and at
    # most the same) is a change at both ends.
    where = "aaby" if end == "at_least" else "boegeby"

    def cli(value):
        return CliRunner().invoke(main, ["--database-url", rt.url, "policy", "set", where, f"{key}={value}",
                                         "--effective-from", "2027-03-01", "--user", f"{where}.admin"])
    refused = cli(outside)
    assert refused.exit_code == 6 and words in refused.stderr, ("cli", outside, refused.output, refused.stderr)
    accepted = cli(inside)
    assert accepted.exit_code == 0, ("cli", inside, accepted.output, accepted.stderr)

    # The policy service (Cederholm's administrator; rolled back afterwards).
    with rt.sessions() as session:
        now = timekeeping.now(session)
        with pytest.raises(InvalidInput) as error:
            set_policy(session, "cederholm", {key: outside}, date(2027, 3, 1), "cederholm.admin", now)
        assert words in str(error.value), ("service", outside, str(error.value))
        stored, = set_policy(session, "cederholm", {key: inside}, date(2027, 3, 1), "cederholm.admin", now)
        assert stored.values[key] == inside
        session.rollback()

    # Registration: a policy beyond the bound, a tagged timer with a literal beyond it.
    with pytest.raises(ModelInvalid) as error:
        _register(tmp_path, key, f'policy["{key}"]', {key: outside})
    assert words in str(error.value), ("registration policy", outside, str(error.value))
    with pytest.raises(ModelInvalid) as error:
        _register(tmp_path, key, f'"{outside}"', {})
    assert words in str(error.value) and outside in str(error.value), ("registration literal", str(error.value))
    _register(tmp_path, key, f'policy["{key}"]', {key: inside})  # the edge itself registers


# ---------------------------------------------------------------------- letters
NOT_DECISIONS = {
    "forsinkelse": "tells the citizen the decision is delayed; decides nothing",
    "indkaldelse_samtale": "a summons to a talk",
    "invitation_moede": "an invitation to the rehabilitation team's meeting",
    "oversendelse_pension": "tells the citizen the case went to the pension team; decides nothing",
    "partshoering": "the hearing before a decision; the decision letter follows",
}


def test_every_letter_template_is_a_decision_or_says_why_not():
    assert set(NOT_DECISIONS) <= set(TEMPLATES), "a listed template no longer exists"
    assert not set(NOT_DECISIONS) & set(DECISION_TEMPLATES)
    unclassified = set(TEMPLATES) - set(DECISION_TEMPLATES) - set(NOT_DECISIONS)
    assert unclassified == set(), ("a new letter template: add it to processes.letters.DECISION_TEMPLATES if it "
                                   "decides anything (the letter test then checks it), else to NOT_DECISIONS")
    assert len(DECISION_TEMPLATES) >= 3


# ------------------------------------------------------ the PostgreSQL fixture and CI
ROOT = Path(__file__).resolve().parent.parent


def _run_smoke_test(pg_url: str, **env) -> subprocess.CompletedProcess:
    """Run the PostgreSQL variant of a small fixture test in a fresh pytest."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAGSFLOW_TEST_")}
    environment.update(SAGSFLOW_TEST_PG_URL=pg_url, **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "tests/test_smoke_fixture.py", "-k", "postgresql"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)


def test_postgresql_tests_skip_only_when_no_server_listens():
    nobody = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"  # port 1: nothing listens
    skipped = _run_smoke_test(nobody)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    assert "PostgreSQL not reachable at" in skipped.stdout and "ConnectionRefusedError" in skipped.stdout
    required = _run_smoke_test(nobody, SAGSFLOW_TEST_REQUIRE_PG="1")
    assert required.returncode == 1 and "1 error" in required.stdout, required.stdout
    assert "SAGSFLOW_TEST_REQUIRE_PG is set" in required.stdout


def test_a_postgresql_server_that_refuses_is_an_error_not_a_skip(pg_database_url):
    server = make_url(pg_database_url)
    refused = _run_smoke_test(server.set(username="no_such_role_sagsflow", database="postgres")
                              .render_as_string(hide_password=False))
    assert refused.returncode == 1 and "1 error" in refused.stdout and "skipped" not in refused.stdout, refused.stdout
    assert "no_such_role_sagsflow" in refused.stdout


def test_ci_requires_postgresql():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export SAGSFLOW_TEST_REQUIRE_PG=1$", ci, re.MULTILINE), ci
