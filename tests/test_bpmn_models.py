"""Pure SpiffWorkflow tests of the BPMN library in ``bpmn/`` (no database).

Every model is parsed with the validating Spiff parser and checked against the modelling
conventions (lanes are role keys, every user task resolves to a role, statutory timers
read a policy parameter, gateways read form fields). The main paths of each process are
then walked on a :class:`FixedClock`, with a serialize/deserialize round trip between
steps, asserting which user tasks are READY for which role and when each timer falls.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from zoneinfo import ZoneInfo
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from processes.clock import FixedClock, use_clock
from processes.letters import TEMPLATES, compose
from processes.policy import BY_KEY, defaults
from processes.scripting import SagsflowScriptEngine

ROOT = Path(__file__).resolve().parents[1]
BPMN = ROOT / "bpmn"
SHARED = BPMN / "shared"
MUNICIPALITIES = BPMN / "municipalities"
CASE_TYPES = ("rehabilitering", "ressourceforloeb", "fleksjob", "foertidspension", "sygedagpenge")
ROLE_KEYS = {
    "sagsbehandler", "fagkonsulent", "sekretariat", "sundhedskoordinator", "moedeleder",
    "rehabiliteringsteam", "afgoerelse", "pensionsteam", "koordinerende_sagsbehandler",
    "virksomhedskonsulent", "ydelse", "teamleder", "jobcenterrepraesentant",
}
LETTER_TEMPLATES = set(TEMPLATES)
# Policy keys the models read that are not (yet) in processes/policy.py, with their defaults.
EXTRA_POLICY = {
    "ressourceforloeb": {"rf_ny_koordinerende_sagsbehandler": False},
}

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
UTC = timezone.utc
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


def d(text: str) -> datetime:
    """'2027-01-04' -> midnight in Copenhagen (case dates are Danish calendar dates)."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)


def all_model_files() -> list[Path]:
    files = sorted(SHARED.glob("*.bpmn")) + sorted(MUNICIPALITIES.glob("*/*.bpmn"))
    return files


def model_path(case_type: str, municipality: str | None = None) -> Path:
    if municipality is None:
        return SHARED / f"{case_type}.bpmn"
    config = json.loads((MUNICIPALITIES / municipality / "municipality.json").read_text(encoding="utf-8"))
    ref = config["models"][case_type]
    if ref == "shared":
        return SHARED / f"{case_type}.bpmn"
    return MUNICIPALITIES / municipality / ref


def policy_for(case_type: str, municipality: str | None = None, **overrides) -> dict:
    values = defaults(case_type)
    values.update(EXTRA_POLICY.get(case_type, {}))
    if municipality is not None:
        config = json.loads((MUNICIPALITIES / municipality / "municipality.json").read_text(encoding="utf-8"))
        for key, value in config["policy"]["values"].items():
            param = BY_KEY.get(key)
            if (param is not None and param.case_type == case_type) or key in EXTRA_POLICY.get(case_type, {}):
                values[key] = value
    values.update(overrides)
    return values


# --------------------------------------------------------------------------- static model facts
def parse(path: Path):
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(path))
    return parser


class ModelFacts:
    """What the XML says beyond what Spiff parses: roles, forms, deadline tags."""

    def __init__(self, path: Path):
        self.tree = etree.parse(str(path))
        root = self.tree.getroot()
        self.lanes = {}
        for lane in root.iterfind(".//bpmn:lane", NS):
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                self.lanes[ref.text.strip()] = lane.get("name")
        self.lane_names = [lane.get("name") for lane in root.iterfind(".//bpmn:lane", NS)]
        self.user_tasks = {}
        self.form_fields = {}
        self.form_defaults = {}
        for task in root.iterfind(".//bpmn:userTask", NS):
            tid = task.get("id")
            self.user_tasks[tid] = task.get(CAMUNDA + "candidateGroups") or self.lanes.get(tid)
            self.form_fields[tid] = [f.get("id") for f in task.iterfind(".//camunda:formField", NS)]
            self.form_defaults[tid] = {f.get("id"): _default(f) for f in task.iterfind(".//camunda:formField", NS)}
        self.deadlines = {}
        for event in root.iterfind(".//bpmn:boundaryEvent", NS):
            if event.find("bpmn:timerEventDefinition", NS) is None:
                continue    # a message or signal boundary is not a deadline
            tag = event.find(".//camunda:property[@name='deadline']", NS)
            self.deadlines[event.get("id")] = tag.get("value") if tag is not None else None
        self.timers = {}
        for ted in root.iterfind(".//bpmn:timerEventDefinition", NS):
            event = ted.getparent()
            expr = "".join(ted.itertext()).strip()
            self.timers[event.get("id")] = (event.tag.split("}")[1], expr)
        self.conditions = [c.text for c in root.iterfind(".//bpmn:conditionExpression", NS)]
        self.letters = {}
        for st in root.iterfind(".//bpmn:serviceTask", NS):
            op = st.find(".//spiffworkflow:serviceTaskOperator", NS)
            param = op.find(".//spiffworkflow:parameter[@id='template']", NS)
            self.letters[st.get("id")] = (op.get("id"), param.get("value").strip('"'))
        self.messages = {m.get("id"): m.get("name") for m in root.iterfind("bpmn:message", NS)}
        self.process_ids = [p.get("id") for p in root.iterfind("bpmn:process", NS)]

    def all_fields(self) -> set[str]:
        return {f for fields in self.form_fields.values() for f in fields}


def _default(field):
    """The value a submitted form carries for a field the user left alone."""
    value = field.get("defaultValue")
    if field.get("type") == "boolean":
        return value == "true"
    if value is not None and field.get("type") == "long":
        return int(value)
    return value


def role_of(facts: ModelFacts, task) -> str | None:
    return facts.user_tasks.get(task.task_spec.bpmn_id) or task.task_spec.lane


# --------------------------------------------------------------------------- a walkable case
class Case:
    """One process instance on a fixed clock, saved and restored between steps."""

    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def __init__(self, case_type: str, start: str, municipality: str | None = None, overdragelse=None,
                 policy: dict | None = None, alder: int = 45):
        self.path = model_path(case_type, municipality)
        self.facts = ModelFacts(self.path)
        parser = parse(self.path)
        spec = parser.get_spec(case_type)
        subs = parser.get_subprocess_specs(case_type)
        self.clock = FixedClock(d(start) + timedelta(hours=9))
        self.letters: list[tuple[str, str]] = []
        self.messages: list[tuple[str, dict]] = []
        self.engine = SagsflowScriptEngine(service=self._service)
        self.wf = BpmnWorkflow(spec, subs, script_engine=self.engine)
        self.wf.task_tree.data.update(
            policy=policy if policy is not None else policy_for(case_type, municipality),
            sag={"id": "SAG-1", "kommune": municipality or "standard"},
            borger={"navn": "Test Borger", "alder": alder},
            startdato=start,
            overdragelse=overdragelse or {},
        )
        self._step()

    def _service(self, task, operation, params):
        assert operation == "letter"
        self.letters.append((task.task_spec.bpmn_id, params["template"]))
        return {"queued": params["template"]}

    def _step(self):
        with use_clock(self.clock):
            self.wf.do_engine_steps()
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
        for event in self.wf.get_events():
            if isinstance(event.event_definition, MessageEventDefinition):
                self.messages.append((event.event_definition.name, event.payload))
        self._roundtrip()

    def _roundtrip(self):
        js = self.serializer.serialize_json(self.wf)
        self.wf = self.serializer.deserialize_json(js)
        self.wf.script_engine = self.engine

    @property
    def today(self) -> str:
        return self.clock.now().date().isoformat()

    # -- inspection ------------------------------------------------------
    def ready(self) -> dict[str, str]:
        """READY user tasks: bpmn id -> role."""
        return {t.task_spec.bpmn_id: role_of(self.facts, t)
                for t in self.wf.get_tasks(state=TaskState.READY, manual=True)}

    def timers(self) -> dict[str, str]:
        """Pending timers: bpmn id -> the Danish calendar date they fall on (engineering notes §1.6)."""
        with use_clock(self.clock):
            self.wf.refresh_timers()
        rows = {}
        for task in self.wf.get_tasks(state=TaskState.WAITING):
            ed = getattr(task.task_spec, "event_definition", None)
            if isinstance(ed, TimerEventDefinition) and ed.details(task).value:
                rows[task.task_spec.bpmn_id] = datetime.fromisoformat(ed.details(task).value).astimezone(LOCAL_TZ)
        return {k: v.date().isoformat() for k, v in rows.items()}

    def templates(self) -> list[str]:
        return [template for _, template in self.letters]

    # -- actions -----------------------------------------------------------
    def complete(self, bpmn_id: str, **form):
        tasks = [t for t in self.wf.get_tasks(state=TaskState.READY, manual=True)
                 if t.task_spec.bpmn_id == bpmn_id]
        assert tasks, f"{bpmn_id} is not ready; ready: {self.ready()}"
        task = tasks[0]
        unknown = set(form) - set(self.facts.form_fields.get(bpmn_id, []))
        assert not unknown, f"{bpmn_id}: not form fields: {unknown}"
        submitted = dict(self.facts.form_defaults.get(bpmn_id, {}))
        submitted.update(form)
        task.data.update(submitted)
        with use_clock(self.clock):
            task.run()
        self._step()

    def at(self, when: str, hour: int = 9):
        """Move the clock to ``when`` (date) at ``hour`` and let due timers fire."""
        target = d(when) + timedelta(hours=hour)
        assert target >= self.clock.now()
        self.clock.set(target)
        self._step()

    def end_of(self, when: str):
        """Move the clock to the end of ``when`` (next midnight): every timer falling on that date fires."""
        target = d(when) + timedelta(days=1)
        assert target >= self.clock.now()
        self.clock.set(target)
        self._step()

    @property
    def completed(self) -> bool:
        return self.wf.is_completed()


# =========================================================================== static checks
MODEL_FILES = all_model_files()


def test_model_inventory():
    names = {p.relative_to(BPMN).as_posix() for p in MODEL_FILES}
    for case_type in CASE_TYPES:
        assert f"shared/{case_type}.bpmn" in names
    for municipality in ("aaby", "boegeby", "cederholm"):
        assert f"municipalities/{municipality}/rehabilitering.bpmn" in names


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.relative_to(BPMN).as_posix())
def test_model_parses_and_follows_conventions(path):
    facts = ModelFacts(path)
    assert len(facts.process_ids) == 1 and facts.process_ids[0] in CASE_TYPES
    case_type = facts.process_ids[0]
    assert path.stem == case_type
    parser = parse(path)
    spec = parser.get_spec(case_type)
    parser.get_subprocess_specs(case_type)

    # one collaboration with one participant that references the process
    root = facts.tree.getroot()
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [case_type]

    # the fact extraction found what every model has, so the loops below check something
    assert facts.user_tasks and facts.deadlines and facts.timers and facts.letters and facts.conditions, path
    # lanes are role keys; every user task resolves to exactly one role key
    assert facts.lane_names and set(facts.lane_names) <= ROLE_KEYS
    for task_id, role in facts.user_tasks.items():
        assert role in ROLE_KEYS, f"{task_id} has no role ({role})"
    for task_spec in spec.task_specs.values():
        if task_spec.lane is not None:
            assert task_spec.lane in ROLE_KEYS

    # deadlines: every boundary timer is non-interrupting, tagged with a policy key of this case
    # type (or a key we asked to add), and its expression reads that key
    known = set(policy_for(case_type))
    for event_id, key in facts.deadlines.items():
        event = root.find(f".//bpmn:boundaryEvent[@id='{event_id}']", NS)
        assert event.get("cancelActivity") == "false", event_id
        assert key in known, f"{event_id}: deadline tag {key!r} is not a {case_type} policy key"
        assert f'policy["{key}"]' in facts.timers[event_id][1], event_id
    for event_id, (_, expr) in facts.timers.items():
        keys = re.findall(r'policy\["(\w+)"\]', expr)
        assert all(k in known for k in keys), (event_id, keys)
        assert not re.search(r'(?<!")\bP\d', expr), f"{event_id}: unquoted ISO duration in {expr!r}"

    # letters use the letter operator and a known template; messages are hand-offs
    for task_id, (operator, template) in facts.letters.items():
        assert operator == "letter" and template in LETTER_TEMPLATES, task_id
    for name in facts.messages.values():
        assert name.startswith("start_") and name[len("start_"):] in CASE_TYPES

    # gateway conditions only read form fields, policy, a few computed variables and
    # variables that a script task of the same model assigns
    computed = {"policy", "afslut_tidligt", "ly_udfald", "add_duration", "subtract_duration",
                "add_working_days", "danish_date", "fra_ressourceforloeb", "fra_foertidspension", "and", "or", "not", "True", "False"}
    for script in root.iterfind(".//bpmn:scriptTask/bpmn:script", NS):
        computed |= set(re.findall(r"^([a-z_][a-z0-9_]*)\s*=(?!=)", script.text or "", re.M))
    fields = facts.all_fields()
    for cond in facts.conditions:
        for name in re.findall(r'(?<![".\w])([a-z_][a-z0-9_]*)\b(?!")', re.sub(r'"[^"]*"', '""', cond)):
            assert name in fields or name in computed, f"{path.name}: condition {cond!r} reads {name!r}"

    # form field ids never collide with element ids (Spiff looks nodes up by @id)
    element_ids = {e.get("id") for e in root.iter() if e.get("id") and not e.tag.startswith(CAMUNDA)}
    assert not (fields & element_ids), fields & element_ids


def test_every_node_reaches_an_end_event():
    """No dead ends: from every flow node some path leads to an end event (within its scope)."""
    for path in MODEL_FILES:
        root = etree.parse(str(path)).getroot()
        for scope in list(root.iterfind(".//bpmn:process", NS)) + list(root.iterfind(".//bpmn:subProcess", NS)):
            nodes = {}
            for child in scope:
                tag = etree.QName(child).localname
                if tag in ("sequenceFlow", "laneSet", "documentation", "extensionElements", "incoming",
                           "outgoing"):
                    continue
                nodes[child.get("id")] = tag
            succ = {n: set() for n in nodes}
            for flow in scope.iterfind("bpmn:sequenceFlow", NS):
                succ[flow.get("sourceRef")].add(flow.get("targetRef"))
            for event in scope.iterfind("bpmn:boundaryEvent", NS):
                succ[event.get("attachedToRef")].add(event.get("id"))
            ends = {n for n, tag in nodes.items() if tag == "endEvent"}
            good = set(ends)
            changed = True
            while changed:
                changed = False
                for n, targets in succ.items():
                    if n not in good and targets & good:
                        good.add(n)
                        changed = True
            assert set(nodes) == good, f"{path.name}: no path to an end from {set(nodes) - good}"
            incoming = {t for targets in succ.values() for t in targets}
            starts = {n for n, tag in nodes.items() if tag == "startEvent"}
            assert set(nodes) - incoming <= starts, f"{path.name}: unreachable {set(nodes) - incoming - starts}"


def test_municipality_configs():
    for key, name in (("aaby", "Aaby Kommune"), ("boegeby", "Bøgeby Kommune"), ("cederholm", "Cederholm Kommune")):
        config = json.loads((MUNICIPALITIES / key / "municipality.json").read_text(encoding="utf-8"))
        assert config["key"] == key and config["name"] == name
        assert set(config["models"]) == set(CASE_TYPES)
        for case_type, ref in config["models"].items():
            assert model_path(case_type, key).exists()
        values = config["policy"]["values"]
        extra = {k for ct in EXTRA_POLICY.values() for k in ct}
        for k, v in values.items():
            assert k in BY_KEY or k in extra, k
    aaby = json.loads((MUNICIPALITIES / "aaby" / "municipality.json").read_text())["policy"]["values"]
    assert aaby["fj_tidlig_opfoelgning"] is True and aaby["fj_tidlig_opfoelgning_efter"] == "P3M"
    assert aaby["rf_opfoelgning_interval"] == "P1M"
    boegeby = json.loads((MUNICIPALITIES / "boegeby" / "municipality.json").read_text())["policy"]["values"]
    assert boegeby["rf_opfoelgning_interval"] == "P2M" and boegeby["rehab_partshoering_svarfrist"] == "P14D"
    assert boegeby["rehab_indstilling_arbejdsdage"] == 5 and boegeby["fj_tidlig_opfoelgning"] is False
    cederholm = json.loads((MUNICIPALITIES / "cederholm" / "municipality.json").read_text())["policy"]["values"]
    assert cederholm["fj_tidlig_opfoelgning_efter"] == "P6M" and cederholm["rehab_booking_frist"] == "P21D"
    assert cederholm["rehab_partshoering_svarfrist"] == "P10D"


# =========================================================================== walks: sygedagpenge
def test_sygedagpenge_talk_every_four_weeks_then_rehabilitering():
    case = Case("sygedagpenge", "2027-01-04")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-02-01"}
    assert case.templates() == ["indkaldelse_samtale"]
    case.end_of("2027-01-31")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    case.end_of("2027-02-01")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler", "eskaler_opfoelgningssamtale": "teamleder"}
    case.complete("eskaler_opfoelgningssamtale", eskalering_handling="rykket")
    case.at("2027-02-02")
    case.complete("opfoelgningssamtale", samtaledato="2027-02-02", uarbejdsdygtighed="fuld", forloeb="fortsaet")
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-03-02"}
    case.at("2027-03-01")
    case.complete("opfoelgningssamtale", samtaledato="2027-03-01", uarbejdsdygtighed="fuld", forloeb="fortsaet",
                  standby=True)
    assert case.ready() == {"standby_status": "sagsbehandler"}
    assert case.timers() == {"frist_standby_status": "2027-03-29"}
    case.at("2027-03-20")
    case.complete("standby_status", statusattest_dato="2027-03-20", standby=False, forloeb="fortsaet")
    assert case.ready() == {"opfoelgningssamtale": "sagsbehandler"}
    assert case.templates().count("indkaldelse_samtale") == 3
    case.complete("opfoelgningssamtale", samtaledato="2027-03-20", uarbejdsdygtighed="delvis",
                  vurdering="Behov for afklaring", forloeb="rehabilitering")
    assert case.completed
    assert case.messages == [("start_rehabilitering", {"fra": "sygedagpenge", "oprindelig_ydelse": "sygedagpenge",
                                                        "vurdering": "Behov for afklaring"})]


def test_sygedagpenge_raskmeldt_and_ophoer():
    case = Case("sygedagpenge", "2027-01-04")
    case.complete("opfoelgningssamtale", samtaledato="2027-01-10", uarbejdsdygtighed="arbejdsdygtig",
                  forloeb="raskmeldt")
    assert case.completed and case.messages == [] and case.templates() == ["indkaldelse_samtale"]
    # issue 8: ending sygedagpenge is heard first (partshøring with a reply period), then decided
    case = Case("sygedagpenge", "2027-01-04")
    case.complete("opfoelgningssamtale", samtaledato="2027-01-04", uarbejdsdygtighed="fuld", forloeb="ophoer")
    case.complete("forbered_ophoer", paataenkt_afgoerelse="ophoer_medvirken", paataenkt_begrundelse="Udeblevet")
    assert case.templates() == ["indkaldelse_samtale", "partshoering"] and case.ready() == {}
    case.end_of("2027-01-18")
    case.complete("afgoer_ophoer", afgoerelse="ophoer", afgoerelsesdato="2027-01-19",
                  afgoerelse_begrundelse="Udeblevet uden grund")
    assert case.completed and case.templates() == ["indkaldelse_samtale", "partshoering", "afgoerelse"]


# =========================================================================== walks: førtidspension
def test_foertidspension_transfer_three_weeks_decision_three_months_delay_letter():
    # Model changed (issue 8 points 5 and 12): partshøring with a reply period before the decision,
    # the delay letter is assessed 2 weeks BEFORE the 3 months run out (not at the deadline), and the
    # decision task carries the 3-month deadline itself (its due date in the inbox).
    case = Case("foertidspension", "2027-01-06", overdragelse={"indstillingsdato": "2027-01-04"})
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler"}
    assert case.timers() == {"frist_oversend_til_pensionsteam": "2027-01-25"}   # 3 weeks after the indstilling
    case.end_of("2027-01-25")
    assert case.ready() == {"oversend_til_pensionsteam": "sagsbehandler",
                            "eskaler_oversend_til_pensionsteam": "teamleder"}
    case.complete("eskaler_oversend_til_pensionsteam", eskalering_handling="rykket")
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-26", pensionstype="ordinaer")
    assert case.templates() == ["oversendelse_pension"]
    assert case.ready() == {"tilbyd_moede": "pensionsteam"}
    assert case.timers() == {"frist_behandling_pensionsteam": "2027-04-26",     # 3 months after the transfer
                             "varsel_forsinkelse": "2027-04-12"}                # 2 weeks before
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-27", moede_oensket=True, moede_dato="2027-03-01")
    assert case.ready() == {"moede_med_borger": "pensionsteam"}
    case.end_of("2027-04-11")
    assert case.ready() == {"moede_med_borger": "pensionsteam"}
    case.end_of("2027-04-12")
    assert case.ready() == {"moede_med_borger": "pensionsteam", "vurder_forsinkelse": "pensionsteam"}
    case.complete("vurder_forsinkelse", fristen_holdes="nej", forsinkelse_aarsag="Afventer speciallægeerklæring",
                  forventet_afgoerelsesdato="2027-05-10")
    assert case.templates() == ["oversendelse_pension", "forsinkelse"]
    case.end_of("2027-04-26")
    assert case.ready() == {"moede_med_borger": "pensionsteam", "eskaler_behandling_pensionsteam": "teamleder"}
    case.complete("moede_med_borger", moede_holdt_dato="2027-04-27", moede_referat="Borgeren uddybede")
    assert case.templates()[-1] == "partshoering"
    assert case.timers() == {"svarfrist_udloebet": "2027-05-11"}                # sent 2027-04-27 + 14 days
    case.end_of("2027-05-11")
    case.complete("afgoer_foertidspension", afgoerelse="tilkendt", afgoerelsesdato="2027-05-12",
                  afgoerelse_begrundelse="Arbejdsevnen er varigt nedsat")
    assert case.templates() == ["oversendelse_pension", "forsinkelse", "partshoering", "afgoerelse"]
    assert case.ready() == {"eskaler_behandling_pensionsteam": "teamleder"}
    case.complete("eskaler_behandling_pensionsteam", eskalering_handling="begrundet")
    assert case.completed


def test_foertidspension_refusal_and_back_to_team():
    # a refusal only where the case lawfully went around the team (with the team's
    # indstilling, the form refuses it: tests/test_domain_models.py); 3 weeks from the application
    case = Case("foertidspension", "2027-01-04", overdragelse={
        "uden_team": True, "ansoegningsdato": "2027-01-04", "forberedende_del_underskrevet": "2027-01-04"})
    assert case.timers() == {"frist_oversend_til_pensionsteam": "2027-01-25"}
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-05", pensionstype="senior")
    assert case.timers() == {"frist_behandling_pensionsteam": "2027-04-05", "varsel_forsinkelse": "2027-03-22"}
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-05", moede_oensket=False)
    case.complete("beskriv_grundlag", partshoering_grundlag="Lægeattest og arbejdsprøvning")
    case.end_of("2027-01-19")
    case.complete("afgoer_foertidspension", afgoerelse="afslag", afgoerelsesdato="2027-02-01",
                  arbejdsfunktion="Lettere kontorarbejde", afgoerelse_begrundelse="Arbejdsevnen kan udvikles")
    assert case.completed and case.templates() == ["oversendelse_pension", "partshoering", "afslag"]
    case = Case("foertidspension", "2027-01-04")          # no hand-off: the indstilling date is the start date
    case.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-05", pensionstype="ordinaer")
    case.complete("tilbyd_moede", moedetilbud_dato="2027-01-05", moede_oensket=False)
    case.end_of("2027-01-19")
    case.complete("afgoer_foertidspension", afgoerelse="tilbage_til_team", afgoerelsesdato="2027-02-01",
                  afgoerelse_begrundelse="Uenig")
    assert case.completed and case.messages[0][0] == "start_rehabilitering"


# =========================================================================== walks: fleksjob
def _fleksjob_to_job(case, job_start):
    case.complete("registrer_ansaettelse", ansaettelse_start=job_start, arbejdsgiver="Virksomhed A/S",
                  ugentlige_timer=15)
    assert case.ready() == {"beregn_fleksloentilskud": "ydelse"}
    case.complete("beregn_fleksloentilskud", tilskud_fra=job_start, fleksloentilskud=14000, afgoerelsesdato=job_start,
                  afgoerelse_begrundelse="Løn 24.000 kr., 15 timer")
    assert case.templates()[-1] == "fleksloentilskud"


def test_fleksjob_issue_example_first_talk_and_two_and_a_half_years():
    case = Case("fleksjob", "2027-01-04", overdragelse={"visitationsdato": "2027-01-04"})
    assert case.templates() == ["indkaldelse_samtale"]
    assert case.ready() == {"foerste_samtale": "sagsbehandler"}
    assert case.timers() == {"frist_foerste_samtale": "2027-01-25"}
    case.end_of("2027-01-24")
    assert case.ready() == {"foerste_samtale": "sagsbehandler"}
    case.at("2027-01-25", hour=15)                              # still on time on the due day
    assert "eskaler_foerste_samtale" not in case.ready()
    case.end_of("2027-01-25")
    assert case.ready() == {"foerste_samtale": "sagsbehandler", "eskaler_foerste_samtale": "teamleder"}
    case.complete("eskaler_foerste_samtale", eskalering_handling="rykket")
    case.complete("foerste_samtale", samtaledato="2027-01-26", situation="job")
    assert case.ready() == {"registrer_ansaettelse": "virksomhedskonsulent"}
    _fleksjob_to_job(case, "2027-01-04")
    assert case.ready() == {"opfoelgning_fleksjob": "sagsbehandler"}
    assert case.timers() == {"frist_opfoelgning_fleksjob": "2029-07-04", "status_tid": "2031-07-04"}
    case.end_of("2029-07-04")
    assert case.ready() == {"opfoelgning_fleksjob": "sagsbehandler", "eskaler_opfoelgning_fleksjob": "teamleder"}
    case.complete("opfoelgning_fleksjob", samtaledato="2029-07-05", fleksjob_status="fortsaetter")
    case.complete("eskaler_opfoelgning_fleksjob", eskalering_handling="begrundet")
    # issue 8 point 10: the follow-up recurs, 2½ years after the last talk
    assert case.timers() == {"frist_opfoelgning_fleksjob": "2032-01-05", "status_tid": "2031-07-04"}
    case.end_of("2031-07-04")
    assert case.ready() == {"status_fleksjob": "sagsbehandler", "opfoelgning_fleksjob": "sagsbehandler"}
    case.complete("status_fleksjob", status_udfald="foertidspension", status_begrundelse="Arbejdsevnen er faldet")
    assert case.messages == [("start_rehabilitering", {"fra": "fleksjob", "ansoegt_om": "foertidspension",
                                                        "begrundelse": "Arbejdsevnen er faldet"})]
    assert case.timers() == {"periode_slut": "2032-01-04",          # 5 years from the job start
                             "frist_opfoelgning_fleksjob": "2032-01-05"}
    case.end_of("2032-01-04")
    assert case.completed


def test_fleksjob_ledighedsydelse_loops_end_when_job_found():
    case = Case("fleksjob", "2027-01-04", overdragelse={"visitationsdato": "2027-01-04"})
    case.complete("foerste_samtale", samtaledato="2027-01-11", situation="ledig", cv_jobnet=True)
    # issue 8 point 10: anden aktør appears after 6 months on LY (not at once), due at 12
    assert case.ready() == {"ly_kontaktsamtale": "sagsbehandler", "jobsoegning": "virksomhedskonsulent"}
    assert case.timers() == {"frist_ly_kontaktsamtale": "2027-04-04",     # contact at least every 3 months
                             "anden_aktoer_mulig": "2027-07-04",          # anden aktør possible after 6 months
                             "revurdering_1_tid": "2028-01-04"}           # re-evaluation after 12 months
    case.at("2027-04-01")
    case.complete("ly_kontaktsamtale", samtaledato="2027-04-01", ly_udfald="fortsat")
    assert case.timers()["frist_ly_kontaktsamtale"] == "2027-07-01"
    case.end_of("2027-07-01")
    assert case.ready()["eskaler_ly_kontaktsamtale"] == "teamleder"
    case.complete("eskaler_ly_kontaktsamtale", eskalering_handling="rykket")
    case.complete("ly_kontaktsamtale", samtaledato="2027-07-02", ly_udfald="fortsat")
    case.end_of("2027-07-04")
    assert case.ready()["henvis_anden_aktoer"] == "sagsbehandler"
    assert case.timers()["frist_henvis_anden_aktoer"] == "2028-01-04"    # mandatory after 12 months
    case.at("2027-07-15")
    case.complete("henvis_anden_aktoer", anden_aktoer="Jobhuset", henvisningsdato="2027-07-15")
    case.end_of("2028-01-04")
    assert "revurdering_1" in case.ready()
    case.complete("revurdering_1", revurdering_1_dato="2028-01-05", ly_udfald="fortsat")
    assert case.timers()["revurdering_2_tid"] == "2029-01-04"            # again after another 12 months
    case.at("2028-03-01")
    case.complete("jobsoegning", arbejdsgiver="Lager ApS")
    # the job ends the LY phase: every LY loop and timer is gone
    assert case.ready() == {"registrer_ansaettelse": "virksomhedskonsulent"}
    assert case.timers() == {}
    _fleksjob_to_job(case, "2028-03-15")
    assert case.timers() == {"frist_opfoelgning_fleksjob": "2030-09-15", "status_tid": "2032-09-15"}


@pytest.mark.parametrize("municipality, early", [("aaby", "2027-05-01"), ("cederholm", "2027-08-01"),
                                                  ("boegeby", None)])
def test_fleksjob_early_follow_up_by_policy(municipality, early):
    case = Case("fleksjob", "2027-01-04", municipality=municipality, overdragelse={"visitationsdato": "2027-01-04"})
    case.complete("foerste_samtale", samtaledato="2027-01-11", situation="job")
    _fleksjob_to_job(case, "2027-02-01")
    expected = {"frist_opfoelgning_fleksjob": "2029-08-01", "status_tid": "2031-08-01"}
    if early:
        expected["tidlig_opfoelgning_tid"] = early
    assert case.timers() == expected
    if early:
        case.end_of(early)
        assert case.ready() == {"opfoelgning_fleksjob": "sagsbehandler", "tidlig_opfoelgning": "sagsbehandler"}


def test_fleksjob_revurdering_ends_in_rehabilitering():
    case = Case("fleksjob", "2027-01-04")
    case.complete("foerste_samtale", samtaledato="2027-01-11", situation="ledig")
    case.end_of("2028-01-04")
    case.complete("revurdering_1", revurdering_1_dato="2028-01-05", ly_udfald="rehabilitering")
    assert case.messages[0][0] == "start_rehabilitering"
    assert set(case.ready()) <= {"eskaler_ly_kontaktsamtale", "eskaler_henvis_anden_aktoer"}


# =========================================================================== walks: ressourceforløb
def test_ressourceforloeb_two_month_loop_and_rsl_7a():
    case = Case("ressourceforloeb", "2027-01-04", overdragelse={"afgoerelsesdato": "2027-01-04"})
    assert case.ready() == {"foerste_samtale": "koordinerende_sagsbehandler"}     # same caseworker continues
    # first talk within rf_foerste_samtale_efter_afgoerelse (P4W) of the decision
    assert case.timers() == {"frist_foerste_samtale": "2027-02-01"}
    case.at("2027-01-11")
    case.complete("foerste_samtale", samtaledato="2027-01-11", forloeb_start="2027-01-11", varighed="standard",
                  indsatsplan="Praktik og behandling", borger_enig_i_indsatsplan="enig", indsatser=[])
    # slutdato 2028-01-11 (policy rf_varighed P1Y); §7a task 6 weeks before, due 2 weeks before
    assert case.timers() == {"frist_opfoelgningssamtale": "2027-03-11", "varsel_udloeb": "2027-11-30"}
    talks = ["2027-03-10", "2027-05-10", "2027-07-09", "2027-09-08", "2027-11-05"]
    for day in talks:
        case.at(day)
        assert case.ready() == {"opfoelgningssamtale": "koordinerende_sagsbehandler"}
        case.complete("opfoelgningssamtale", samtaledato=day, progression="OK")
    assert case.timers() == {"frist_opfoelgningssamtale": "2028-01-05", "varsel_udloeb": "2027-11-30"}
    assert case.templates().count("indkaldelse_samtale") == 1 + len(talks) + 1
    case.end_of("2027-11-29")
    assert "beslut_naeste_skridt" not in case.ready()
    case.end_of("2027-11-30")
    assert case.ready() == {"opfoelgningssamtale": "koordinerende_sagsbehandler",
                            "beslut_naeste_skridt": "koordinerende_sagsbehandler"}
    assert case.timers() == {"frist_opfoelgningssamtale": "2028-01-05", "frist_beslut_naeste_skridt": "2027-12-28"}
    case.end_of("2027-12-28")
    assert case.ready()["eskaler_beslut_naeste_skridt"] == "teamleder"
    case.complete("beslut_naeste_skridt", naeste_skridt="ny_rehabilitering", naeste_skridt_dato="2027-12-29",
                  naeste_skridt_begrundelse="Nyt ressourceforløb bør vurderes")
    # the case goes to the team when the next step is decided, not when the programme ends
    assert case.messages == [("start_rehabilitering", {
        "fra": "ressourceforloeb", "fra_ressourceforloeb": True, "oprindelig_ydelse": "ressourceforloebsydelse",
        "rf_slutdato": "2028-01-11", "naeste_skridt": "ny_rehabilitering",
        "begrundelse": "Nyt ressourceforløb bør vurderes", "indsatser": []})]
    assert case.timers() == {"frist_opfoelgningssamtale": "2028-01-05", "udloeb": "2028-01-11"}
    case.end_of("2028-01-05")
    assert case.ready()["eskaler_opfoelgningssamtale"] == "teamleder"   # talks go on until the end
    case.end_of("2028-01-11")
    # the programme ended: the loop is gone; no second hand-off
    assert case.completed and case.ready() == {}
    assert len(case.messages) == 1


def test_ressourceforloeb_next_step_hands_over_the_plan_as_revised_in_the_follow_up_loop():
    """The §7a decision opens from the task the follow-up loop waits at, so the hand-off to the
    team carries the interventions as last revised (not the plan at the start of the period)."""
    item = {"maal": "Job", "indsats": "Praktik", "leverandoer": "Praktiksted A/S", "raekkefoelge": 1, "mentor": False}
    case = Case("ressourceforloeb", "2027-01-04", overdragelse={"afgoerelsesdato": "2027-01-04", "indsatser": [item]})
    case.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                  indsatsplan="Plan", borger_enig_i_indsatsplan="enig",
                  indsatser=[dict(item, status="planlagt", planlagt_start="2027-02-01", faktisk_start=None,
                                  afslag_begrundelse=None)])
    started = dict(item, status="startet", planlagt_start="2027-02-01", faktisk_start="2027-02-03",
                   afslag_begrundelse=None)
    case.at("2027-03-01")
    case.complete("opfoelgningssamtale", samtaledato="2027-03-01", plan_revideres=True)
    case.complete("revider_plan", indsatsplan="Praktikken er startet", indsatser=[started])
    case.at("2027-04-30")
    case.complete("opfoelgningssamtale", samtaledato="2027-04-30")
    case.end_of("2027-11-23")
    assert case.ready()["beslut_naeste_skridt"] == "koordinerende_sagsbehandler"
    assert case.timers()["frist_beslut_naeste_skridt"] == "2027-12-21"
    case.complete("beslut_naeste_skridt", naeste_skridt="ny_rehabilitering", naeste_skridt_dato="2027-11-24")
    assert [m for m, _ in case.messages] == ["start_rehabilitering"]
    assert case.messages[0][1]["indsatser"] == [started]


def test_ressourceforloeb_monthly_in_aaby_and_handover_in_boegeby():
    aaby = Case("ressourceforloeb", "2027-01-04", municipality="aaby")
    aaby.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P2Y",
                  indsatsplan="Plan", borger_enig_i_indsatsplan="enig")
    assert aaby.timers() == {"frist_opfoelgningssamtale": "2027-02-04", "varsel_udloeb": "2028-11-23"}
    boegeby = Case("ressourceforloeb", "2027-01-04", municipality="boegeby")
    assert boegeby.ready() == {"tildel_koordinerende": "teamleder"}
    boegeby.complete("tildel_koordinerende", koordinerende_sagsbehandler="Ny KS")
    assert boegeby.ready() == {"overdragelsesmoede": "koordinerende_sagsbehandler"}
    boegeby.complete("overdragelsesmoede", overdragelsesdato="2027-01-06")
    assert boegeby.ready() == {"foerste_samtale": "koordinerende_sagsbehandler"}
    boegeby.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                     indsatsplan="Plan", borger_enig_i_indsatsplan="enig")
    assert boegeby.timers()["frist_opfoelgningssamtale"] == "2027-03-04"


def test_ressourceforloeb_early_end_and_extension_without_team():
    case = Case("ressourceforloeb", "2027-01-04")
    case.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                  indsatsplan="Plan", borger_enig_i_indsatsplan="enig")
    case.at("2027-02-01")
    case.complete("opfoelgningssamtale", samtaledato="2027-02-01", fravaer=True)
    assert case.ready() == {"vurder_fravaer": "koordinerende_sagsbehandler"}
    case.complete("vurder_fravaer", fravaer_aarsag="Sygdom")
    case.complete("opfoelgningssamtale", samtaledato="2027-02-02", afslut_tidligt=True)
    assert case.ready() == {"beslut_naeste_skridt": "koordinerende_sagsbehandler"}
    assert case.timers() == {"frist_beslut_naeste_skridt": "2027-12-21", "varsel_udloeb": "2027-11-23"}
    case.complete("beslut_naeste_skridt", naeste_skridt="fleksjob", naeste_skridt_dato="2027-02-03")
    assert case.completed
    # a fleksjob after a ressourceforløb goes through the team (issue 8 point 2), never straight to fleksjob
    assert [name for name, _ in case.messages] == ["start_rehabilitering"]
    assert case.messages[0][1]["naeste_skridt"] == "fleksjob"

    # extension without the team (policy switch): decided before the end, with a decision letter
    case = Case("ressourceforloeb", "2027-01-04",
                policy=policy_for("ressourceforloeb", rf_forlaengelse_uden_team=True))
    case.complete("foerste_samtale", samtaledato="2027-01-04", forloeb_start="2027-01-04", varighed="P1Y",
                  indsatsplan="Plan", borger_enig_i_indsatsplan="enig")
    case.end_of("2027-11-23")
    case.complete("beslut_naeste_skridt", naeste_skridt="forlaengelse", naeste_skridt_dato="2027-11-24")
    assert case.ready()["forlaeng_forloeb"] == "koordinerende_sagsbehandler"   # decided before the end
    case.complete("forlaeng_forloeb", forlaengelse_varighed="P1Y", indsatsplan="Ny plan",
                  afgoerelse_begrundelse="Progression; praktikken fortsætter", afgoerelsesdato="2027-11-24")
    assert case.templates()[-1] == "afgoerelse" and case.messages == []
    case.end_of("2028-01-04")
    # the extension's first talk counts from its start (a calendar date: the end of the day two months on)
    assert case.timers() == {"frist_opfoelgningssamtale": "2028-03-04", "varsel_udloeb": "2028-11-23"}


# =========================================================================== walks: rehabilitering
def _rehab_prepare(case):
    """The common story: Monday 2027-01-04, the citizen has applied for fleksjob."""
    assert case.ready() == {"vurder_rute": "sagsbehandler"}
    case.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    case.complete("planlaeg_forberedelse", laegeattest_noedvendig=True, samtykke_deling="givet")
    assert case.ready() == {"indhent_laegeattest": "sagsbehandler", "indhent_oplysninger": "sagsbehandler",
                            "forberedende_del": "sagsbehandler"}
    assert case.timers() == {"paamind_laege": "2027-01-18", "frist_forberedende_del": "2027-03-04"}
    case.end_of("2027-01-18")
    assert case.ready()["ryk_laege"] == "sagsbehandler"                  # local GP reminder, not an escalation
    case.complete("ryk_laege", rykket_dato="2027-01-19")
    case.at("2027-01-25")
    case.complete("indhent_laegeattest", laegeattest_modtaget="2027-01-25")
    case.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    case.at("2027-01-29")
    case.complete("forberedende_del", underskriftsdato="2027-01-29", borger_medvirken="sammen")


def _rehab_book_and_meet(case, indstilling="fleksjob"):
    assert case.ready() == {"book_moede": "sekretariat"}
    case.complete("book_moede", bookingdato="2027-02-01", moededato="2027-02-22")
    assert case.ready() == {"forbered_sundhedskoordinator": "sundhedskoordinator", "forbered_borger": "sagsbehandler"}
    expected_invitation = "2027-02-15"
    assert case.timers() == {"invitation_tid": expected_invitation}
    case.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Kan arbejde 12 timer")
    case.complete("forbered_borger", forberedende_samtale_dato="2027-02-01", samtale_sagen=True,
                  samtale_udfald=True, samtale_bisidder=True)
    case.end_of(expected_invitation)
    assert case.templates() == ["invitation_moede"]
    assert case.timers() == {"moededag": "2027-02-22"}
    case.at("2027-02-22")
    assert case.ready() == {"rehabiliteringsmoede": "rehabiliteringsteam"}
    case.complete("rehabiliteringsmoede", borger_deltog=True, indstilling=indstilling,
                  indstilling_begrundelse="Nedsat arbejdsevne")


def _ready_sequence(case):
    return sorted(case.ready().items())


def test_rehabilitering_standard_written_hearing_separate_decision():
    case = Case("rehabilitering", "2027-01-04")
    _rehab_prepare(case)
    _rehab_book_and_meet(case)
    assert case.ready() == {"skriv_indstilling": "moedeleder"}
    assert case.timers() == {}                                       # written at the meeting: no deadline
    case.complete("skriv_indstilling", indstillingsdato="2027-02-22", indstilling_tekst="Fleksjob",
                  jobtyper="Lager", skaanehensyn="Ingen tunge løft")
    assert case.templates() == ["invitation_moede", "partshoering"]
    assert case.timers() == {"svarfrist": "2027-03-08"}
    case.end_of("2027-03-08")
    assert case.ready() == {"traef_afgoerelse": "afgoerelse"}
    case.complete("traef_afgoerelse", afgoerelse="fleksjob", afgoerelsesdato="2027-03-10")
    assert case.completed
    assert case.templates() == ["invitation_moede", "partshoering", "afgoerelse"]
    assert case.messages == [("start_fleksjob", {"fra": "rehabilitering", "visitationsdato": "2027-03-10",
                                                  "indstilling": "fleksjob", "jobtyper": "Lager",
                                                  "skaanehensyn": "Ingen tunge løft"})]


def test_rehabilitering_aaby_decides_at_the_meeting():
    case = Case("rehabilitering", "2027-01-04", municipality="aaby")
    _rehab_prepare(case)
    _rehab_book_and_meet(case)
    # the team recommends (written at the meeting); the jobcentre's representative decides
    assert case.ready() == {"skriv_indstilling": "moedeleder"}
    case.complete("skriv_indstilling", indstillingsdato="2027-02-22", indstilling_tekst="Fleksjob",
                  jobtyper="Lager", skaanehensyn="Ingen tunge løft")
    assert case.ready() == {"afgoerelse_paa_moedet": "jobcenterrepraesentant"}
    case.complete("afgoerelse_paa_moedet", mundtlig_partshoering=True, afgoerelse="fleksjob",
                  afgoerelsesdato="2027-02-22")
    assert case.completed
    assert "partshoering" not in case.templates()
    assert case.templates() == ["invitation_moede", "afgoerelse"]
    assert case.messages == [("start_fleksjob", {"fra": "rehabilitering", "visitationsdato": "2027-02-22",
                                                  "indstilling": "fleksjob", "jobtyper": "Lager",
                                                  "skaanehensyn": "Ingen tunge løft"})]


def test_rehabilitering_boegeby_indstilling_in_working_days_written_hearing_14_days():
    case = Case("rehabilitering", "2027-01-04", municipality="boegeby")
    _rehab_prepare(case)
    _rehab_book_and_meet(case)
    assert case.ready() == {"skriv_indstilling": "moedeleder"}
    assert case.timers() == {"frist_skriv_indstilling": "2027-03-01"}   # 5 working days after Mon 2027-02-22
    case.end_of("2027-03-01")
    assert case.ready() == {"skriv_indstilling": "moedeleder", "eskaler_skriv_indstilling": "teamleder"}
    case.complete("eskaler_skriv_indstilling", eskalering_handling="rykket")
    case.at("2027-03-02")
    case.complete("skriv_indstilling", indstillingsdato="2027-03-02", indstilling_tekst="Fleksjob")
    assert case.templates() == ["invitation_moede", "partshoering"]
    assert case.timers() == {"svarfrist": "2027-03-16"}                 # 14 days' reply
    case.end_of("2027-03-15")
    assert case.ready() == {}
    case.end_of("2027-03-16")
    assert case.ready() == {"traef_afgoerelse": "afgoerelse"}
    assert case.timers() == {"frist_traef_afgoerelse": "2027-04-14"}   # P4W after the reply period, reached at midnight
    # the decider disagrees: the case goes back to the team before any decision
    case.complete("traef_afgoerelse", enig_i_indstilling=False, afgoerelse="ressourceforloeb",
                  afgoerelsesdato="2027-03-17")
    assert case.ready() == {"book_moede": "sekretariat"}
    assert case.templates() == ["invitation_moede", "partshoering"]


def test_rehabilitering_cederholm_screening_first_fleksjob_at_meeting_rest_written():
    case = Case("rehabilitering", "2027-01-04", municipality="cederholm")
    _rehab_prepare(case)
    assert case.ready() == {"screening": "fagkonsulent"}
    case.complete("screening", screening_resultat="tilbage", screening_bemaerkninger="Mangler LÆ 265-resumé")
    assert case.ready() == {"ret_efter_screening": "sagsbehandler"}
    case.complete("ret_efter_screening", rettelser="Tilføjet")
    case.complete("screening", screening_resultat="klar")
    # booking lead time P21D: a meeting 14 days ahead is refused, 21 days ahead accepted
    case.complete("book_moede", bookingdato="2027-02-01", moededato="2027-02-15")
    assert case.ready() == {"book_moede": "sekretariat"}
    case.complete("book_moede", bookingdato="2027-02-01", moededato="2027-02-22")
    case.complete("forbered_sundhedskoordinator")
    case.complete("forbered_borger", forberedende_samtale_dato="2027-02-15")
    case.at("2027-02-22")
    case.complete("rehabiliteringsmoede", borger_deltog=True, indstilling="fleksjob")
    assert case.ready() == {"skriv_indstilling": "moedeleder"}
    case.complete("skriv_indstilling", indstillingsdato="2027-02-22", indstilling_tekst="Fleksjob")
    assert case.ready() == {"afgoerelse_paa_moedet": "jobcenterrepraesentant"}
    case.complete("afgoerelse_paa_moedet", afgoerelse="fleksjob", afgoerelsesdato="2027-02-22")
    assert case.completed and "partshoering" not in case.templates()
    assert case.messages[0][0] == "start_fleksjob"

    other = Case("rehabilitering", "2027-01-04", municipality="cederholm")
    _rehab_prepare(other)
    other.complete("screening", screening_resultat="klar")
    other.complete("book_moede", bookingdato="2027-02-01", moededato="2027-02-22")
    other.complete("forbered_sundhedskoordinator")
    other.complete("forbered_borger", forberedende_samtale_dato="2027-02-15")
    other.at("2027-02-22")
    other.complete("rehabiliteringsmoede", borger_deltog=True, indstilling="ressourceforloeb")
    assert other.ready() == {"skriv_indstilling": "moedeleder"}
    other.complete("skriv_indstilling", indstillingsdato="2027-02-22", indstilling_tekst="RF",
                   beskaeftigelsesmaal="Job i detail", teamet_vil_se_sagen_igen=True,
                   indsatser=[{"maal": "Afklaring", "indsats": "Virksomhedspraktik", "leverandoer": "Jobcentret",
                               "raekkefoelge": 1, "mentor": True}])
    assert other.timers() == {"svarfrist": "2027-03-04"}               # 10 days' reply
    other.end_of("2027-03-04")
    other.complete("traef_afgoerelse", afgoerelse="ressourceforloeb", afgoerelsesdato="2027-03-05")
    assert other.templates() == ["invitation_moede", "partshoering", "afgoerelse", "afslag"]  # applied for fleksjob
    assert other.messages == [("start_ressourceforloeb", {
        "fra": "rehabilitering", "afgoerelsesdato": "2027-03-05", "indstilling": "ressourceforloeb",
        "beskaeftigelsesmaal": "Job i detail",
        "indsatser": [{"maal": "Afklaring", "indsats": "Virksomhedspraktik", "leverandoer": "Jobcentret",
                       "raekkefoelge": 1, "mentor": True}],
        "teamet_vil_se_sagen_igen": True, "ejer": None})]


@pytest.mark.parametrize("municipality, reply_days, reply_date", [(None, 14, "2027-03-29"),
                                                                  ("boegeby", 14, "2027-03-29"),
                                                                  ("cederholm", 10, "2027-03-25")])
def test_rehabilitering_written_hearing_reply_period_runs_from_the_sending_day(municipality, reply_days,
                                                                               reply_date):
    """An FØP applicant granted a ressourceforløb: the indstilling is dated the meeting day (2027-02-22),
    the PL §20 stk. 3 talk is held 2027-03-15 and the hearing letter goes out that day. The reply
    period runs from the letter (not from the indstilling, which would have given 2027-03-08 and no
    reply time at all)."""
    case = Case("rehabilitering", "2027-01-04", municipality=municipality)
    case.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="foertidspension",
                  ansoegningsdato="2027-01-04", rute="team")
    case.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    case.complete("indhent_oplysninger", oplysninger="Ingen sociale sager")
    case.at("2027-01-29")
    case.complete("forberedende_del", underskriftsdato="2027-01-29", borger_medvirken="sammen")
    if municipality == "cederholm":
        case.complete("screening", screening_resultat="klar")
    _rehab_book_and_meet(case, indstilling="ressourceforloeb")
    case.complete("skriv_indstilling", indstillingsdato="2027-02-22", indstilling_tekst="RF",
                  beskaeftigelsesmaal="Job i detail", indsatser=[{"maal": "Afklaring", "indsats": "Praktik"}])
    assert case.ready() == {"tilbyd_samtale": "sagsbehandler"}          # untimed: the hearing waits for it
    assert case.templates() == ["invitation_moede"]
    case.at("2027-03-15")
    case.complete("tilbyd_samtale", moedetilbud_dato="2027-02-24", moedetilbud_svar="holdt",
                  moede_pl20_dato="2027-03-15")
    assert case.templates() == ["invitation_moede", "partshoering"]
    assert date.fromisoformat(reply_date) - date(2027, 3, 15) == timedelta(days=reply_days)
    assert case.timers() == {"svarfrist": reply_date}
    assert case.ready() == {}                                          # the decision waits for the reply
    data = case.wf.get_tasks(spec_name="svarfrist")[0].data
    assert (data["partshoering_sendt"], data["partshoering_svarfrist_dato"]) == ("2027-03-15", reply_date)
    letter = compose("partshoering", data, "Test Borger", "Bøgeby Kommune", date(2027, 3, 15))
    day = date.fromisoformat(reply_date).day
    assert f"senest den {day}. marts 2027" in letter.body and letter.missing == ()
    case.at(reply_date, hour=16)
    assert case.ready() == {}                                          # the whole reply day is the citizen's
    case.end_of(reply_date)
    assert case.ready() == {"traef_afgoerelse": "afgoerelse"}


@pytest.mark.parametrize("municipality", [None, "aaby", "boegeby", "cederholm"])
def test_rehabilitering_case_sent_back_by_the_pensionsteam_goes_to_the_team(municipality):
    """LOB § 11, stk. 2: the pensionsteam disagrees with the FØP indstilling, so the case goes back to
    the team before any decision; the rehabilitering it starts skips the route assessment (where
    »afslag uden team« could be chosen) and keeps the FØP application for the PL §20 offer."""
    foep = Case("foertidspension", "2027-01-04")
    foep.complete("oversend_til_pensionsteam", oversendelsesdato="2027-01-05", pensionstype="ordinaer")
    foep.complete("tilbyd_moede", moedetilbud_dato="2027-01-05", moede_oensket=False)
    foep.end_of("2027-01-19")
    foep.complete("afgoer_foertidspension", afgoerelse="tilbage_til_team", afgoerelsesdato="2027-01-20",
                  afgoerelse_begrundelse="Uenig")
    [(name, payload)] = foep.messages
    assert name == "start_rehabilitering"
    case = Case("rehabilitering", "2027-01-20", municipality=municipality, overdragelse=payload)
    assert case.ready() == {"planlaeg_forberedelse": "sagsbehandler"}
    data = case.wf.get_tasks(spec_name="planlaeg_forberedelse")[0].data
    assert (data["rute"], data["ansoegt_om"], data["pensionsteam_begrundelse"]) == ("team", "foertidspension", "Uenig")


def test_rehabilitering_variants_differ_for_the_same_story():
    """Same citizen, same dates: after the preparation, each municipality does something else."""
    first_after_preparation = {}
    after_meeting = {}
    for municipality in (None, "aaby", "boegeby", "cederholm"):
        case = Case("rehabilitering", "2027-01-04", municipality=municipality)
        _rehab_prepare(case)
        first_after_preparation[municipality] = case.ready()
        if municipality == "cederholm":
            case.complete("screening", screening_resultat="klar")
        _rehab_book_and_meet(case, indstilling="ressourceforloeb")
        after_meeting[municipality] = case.ready()
    assert first_after_preparation == {None: {"book_moede": "sekretariat"}, "aaby": {"book_moede": "sekretariat"},
                                       "boegeby": {"book_moede": "sekretariat"},
                                       "cederholm": {"screening": "fagkonsulent"}}
    assert after_meeting == {None: {"skriv_indstilling": "moedeleder"},
                             "aaby": {"skriv_indstilling": "moedeleder"},
                             "boegeby": {"skriv_indstilling": "moedeleder"},
                             "cederholm": {"skriv_indstilling": "moedeleder"}}


@pytest.mark.parametrize("municipality", [None, "aaby", "boegeby", "cederholm"])
def test_rehabilitering_foertidspension_goes_to_pensionsteam(municipality):
    case = Case("rehabilitering", "2027-01-04", municipality=municipality)
    _rehab_prepare(case)
    if municipality == "cederholm":
        case.complete("screening", screening_resultat="klar")
    _rehab_book_and_meet(case, indstilling="foertidspension")
    assert case.ready() == {"skriv_indstilling": "moedeleder"}
    case.complete("skriv_indstilling", indstillingsdato="2027-02-24", indstilling_tekst="FØP")
    assert case.completed and "partshoering" not in case.templates()
    assert case.messages == [("start_foertidspension", {"fra": "rehabilitering", "indstillingsdato": "2027-02-24",
                                                         "oversendelse_senest": "2027-03-17",
                                                         "indstilling": "foertidspension",
                                                         "indstilling_begrundelse": "Nedsat arbejdsevne",
                                                         "ansoegt_om": "fleksjob", "genforelagt": False})]


@pytest.mark.parametrize("municipality", [None, "aaby", "boegeby", "cederholm"])
def test_rehabilitering_routes_without_the_team_and_postponement(municipality):
    case = Case("rehabilitering", "2027-01-04", municipality=municipality)
    case.complete("vurder_rute", oprindelig_ydelse="kontanthjaelp", ansoegt_om="foertidspension",
                  ansoegningsdato="2027-01-04", rute="foep_uden_team")
    # the forberedende del is still required on this route
    assert case.ready() == {"forberedende_del_uden_team": "sagsbehandler"}
    case.complete("forberedende_del_uden_team", forberedende_del_tekst="Beskrivelse", borger_medvirken="sammen",
                  underskriftsdato="2027-01-05")
    assert case.ready() == {"udtalelse_sundhedskoordinator": "sundhedskoordinator"}
    case.complete("udtalelse_sundhedskoordinator", udtalelse="terminal", indstillingsdato="2027-01-05")
    assert case.completed and case.messages[0][0] == "start_foertidspension"
    assert case.messages[0][1]["indstillingsdato"] == "2027-01-05"
    assert case.messages[0][1]["ansoegningsdato"] == "2027-01-04"       # 3 weeks from the application
    assert case.messages[0][1]["oversendelse_senest"] == "2027-01-25"

    case = Case("rehabilitering", "2027-01-04", municipality=municipality)
    case.complete("vurder_rute", oprindelig_ydelse="kontanthjaelp", ansoegt_om="fleksjob", rute="afslag_uden_team")
    assert case.ready() == {"afslag_uden_team": "afgoerelse"}
    case.complete("afslag_uden_team", afgoerelse="afslag_fleksjob", arbejdsfunktion="Kassearbejde",
                  afgoerelsesdato="2027-01-10", afgoerelse_begrundelse="Fuld arbejdsevne")
    assert case.completed and case.templates() == ["afslag"]

    case = Case("rehabilitering", "2027-01-04", municipality=municipality)
    _rehab_prepare(case)
    if municipality == "cederholm":
        case.complete("screening", screening_resultat="klar")
    _rehab_book_and_meet(case, indstilling="udsaettelse")
    assert case.ready() == {"planlaeg_forberedelse": "sagsbehandler"}    # back to the preparation
