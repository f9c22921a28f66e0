"""A small hand-built history for the manager measures (issue 10), made by driving the
real engine on the virtual clock: every milestone, task and instance row is one the
engine wrote.

Two fictional municipalities run a *registration model*: the caseworker picks the next
milestone of the case and its date (``vaelg``), a script task marked with that milestone
records it (``milestone_date: dato``); choosing ``visitation`` opens the first fleksjob
talk, a task with a deadline (``RULES``). The same model
serves the case types rehabilitering and fleksjob. Each step happens on the clock day of
its milestone date, so waiting times and ages are whole Danish days.

The expected figures are worked out by hand in ``tests/test_analytics.py``.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from processes import timekeeping
from sagsflow.cli import main
from walk import Walk

LOCAL = ZoneInfo("Europe/Copenhagen")
NOW = datetime.combine(datetime(2027, 7, 1).date(), time(9), LOCAL).astimezone(timezone.utc)
KEYS = ("forberedelse_startet", "forberedende_del_underskrevet", "moede_holdt", "indstilling_afgivet",
        "afgoerelse", "overdraget_pension", "foep_afgoerelse", "foep_tilkendt", "foep_afslag", "koordinator_tildelt",
        "foerste_samtale_rf", "foerste_indsats_startet")
# Milestones per intervention: the step names the interventions in ``emner``, comma
# separated, each dated ``dato`` or its own ``navn@YYYY-MM-DD``.
ITEM_KEYS = ("indsats_anbefalet", "indsats_planlagt", "indsats_startet")
ITEMS = ('[[e.split("@")[0], e.split("@")[1] if "@" in e else dato] '
         'for e in (emner or "").split(",") if e.strip()]')

# The first talk's deadline: a rule of the case type's own policy (a model reads only its
# own case type's parameters): 3 weeks in fleksjob, 4 weeks (rehab_afgoerelse_frist) in
# rehabilitering.
RULES = {"fleksjob": "fj_foerste_samtale", "rehabilitering": "rehab_afgoerelse_frist"}


def registration_model(process_id: str, title: str = "Registrering") -> str:
    values = "".join(f'<camunda:value id="{k}" name="{k}"/>' for k in (*KEYS, *ITEM_KEYS, "visitation", "slut"))
    nodes, flows = [], []
    for k in KEYS:
        nodes.append(f'''<bpmn:scriptTask id="m_{k}" name="{k}" scriptFormat="python">
      <bpmn:extensionElements><camunda:properties><camunda:property name="milestone" value="{k}"/>
        <camunda:property name="milestone_date" value="dato"/></camunda:properties></bpmn:extensionElements>
      <bpmn:script>registreret = naeste</bpmn:script></bpmn:scriptTask>''')
        flows.append(f'<bpmn:sequenceFlow id="f_to_{k}" sourceRef="gw_valg" targetRef="m_{k}">'
                     f'<bpmn:conditionExpression>naeste == "{k}"</bpmn:conditionExpression></bpmn:sequenceFlow>'
                     f'<bpmn:sequenceFlow id="f_from_{k}" sourceRef="m_{k}" targetRef="gw_join"/>')
    items = ITEMS.replace('"', "&quot;")
    for k in ITEM_KEYS:
        nodes.append(f'''<bpmn:scriptTask id="m_{k}" name="{k}" scriptFormat="python">
      <bpmn:extensionElements><camunda:properties><camunda:property name="milestone_items:{k}" value="{items}"/>
        </camunda:properties></bpmn:extensionElements>
      <bpmn:script>registreret = naeste</bpmn:script></bpmn:scriptTask>''')
        flows.append(f'<bpmn:sequenceFlow id="f_to_{k}" sourceRef="gw_valg" targetRef="m_{k}">'
                     f'<bpmn:conditionExpression>naeste == "{k}"</bpmn:conditionExpression></bpmn:sequenceFlow>'
                     f'<bpmn:sequenceFlow id="f_from_{k}" sourceRef="m_{k}" targetRef="gw_join"/>')
    rule = RULES[process_id]
    script_refs = "".join(f"<bpmn:flowNodeRef>m_{k}</bpmn:flowNodeRef>" for k in (*KEYS, *ITEM_KEYS))
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{process_id}"
    targetNamespace="https://sagsflow.dk/bpmn/test">
  <bpmn:process id="{process_id}" name="{title}" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="l_sb" name="sagsbehandler">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>gw_join</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>vaelg</bpmn:flowNodeRef><bpmn:flowNodeRef>gw_valg</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>slut</bpmn:flowNodeRef><bpmn:flowNodeRef>m_visitation</bpmn:flowNodeRef>{script_refs}
      </bpmn:lane>
      <bpmn:lane id="l_vk" name="virksomhedskonsulent">
        <bpmn:flowNodeRef>foerste_samtale</bpmn:flowNodeRef><bpmn:flowNodeRef>frist</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>frist_slut</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="gw_join"/>
    <bpmn:exclusiveGateway id="gw_join"/>
    <bpmn:sequenceFlow id="f_join" sourceRef="gw_join" targetRef="vaelg"/>
    <bpmn:userTask id="vaelg" name="Registrér næste milepæl">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="naeste" label="Næste" type="enum">{values}
          <camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
        <camunda:formField id="dato" label="Dato" type="date"/>
        <camunda:formField id="emner" label="Indsatser" type="string"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f_valg" sourceRef="vaelg" targetRef="gw_valg"/>
    <bpmn:exclusiveGateway id="gw_valg" default="f_slut"/>
    <bpmn:sequenceFlow id="f_slut" sourceRef="gw_valg" targetRef="slut"/>
    <bpmn:endEvent id="slut"/>
    {"".join(nodes)}
    {"".join(flows)}
    <bpmn:sequenceFlow id="f_to_visitation" sourceRef="gw_valg" targetRef="m_visitation">
      <bpmn:conditionExpression>naeste == "visitation"</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:scriptTask id="m_visitation" name="Visitation" scriptFormat="python">
      <bpmn:extensionElements><camunda:properties><camunda:property name="milestone" value="visitation"/>
        <camunda:property name="milestone_date" value="dato"/></camunda:properties></bpmn:extensionElements>
      <bpmn:script>visitationsdato = dato</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_vis" sourceRef="m_visitation" targetRef="foerste_samtale"/>
    <bpmn:userTask id="foerste_samtale" name="Hold første samtale efter visitation">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="milestone" value="foerste_samtale_fj"/>
          <camunda:property name="milestone_date" value="samtaledato"/></camunda:properties>
        <camunda:formData><camunda:formField id="samtaledato" label="Samtaledato" type="date">
          <camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
        </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="frist" name="Frist: første samtale" attachedToRef="foerste_samtale" cancelActivity="false">
      <bpmn:extensionElements><camunda:properties><camunda:property name="deadline" value="{rule}"/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDate>add_duration(add_duration(visitationsdato, policy["{rule}"]), "PT23H59M59S")</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_frist" sourceRef="frist" targetRef="frist_slut"/>
    <bpmn:endEvent id="frist_slut"/>
    <bpmn:sequenceFlow id="f_samtale" sourceRef="foerste_samtale" targetRef="gw_join"/>
  </bpmn:process>
</bpmn:definitions>
'''


def register(rt, tmp_path, key: str, name: str, update: bool = False, title: str = "Registrering") -> None:
    folder = tmp_path / f"{key}{'_v2' if update else ''}"
    folder.mkdir()
    for case_type in ("rehabilitering", "fleksjob"):
        (folder / f"{case_type}.bpmn").write_text(registration_model(case_type, title), encoding="utf-8")
    (folder / "municipality.json").write_text(json.dumps({
        "key": key, "name": name,
        "models": {"rehabilitering": "rehabilitering.bpmn", "fleksjob": "fleksjob.bpmn"},
        "policy": {"effective_from": "2027-01-01", "values": {}},
    }), encoding="utf-8")
    args = ["--database-url", rt.url, "municipality", "add", str(folder)]
    args += ["--update"] if update else ["--demo-users"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


# (municipality, case, case type, clock day the case starts)
CASES = [
    *[("maaleby", f"M{i}", "rehabilitering", "2027-01-04") for i in range(1, 7)],
    ("maaleby", "M7", "fleksjob", "2027-03-01"),
    ("maaleby", "M8", "fleksjob", "2027-06-01"),
    ("maaleby", "M9", "fleksjob", "2027-06-20"),
    ("maaleby", "M10", "rehabilitering", "2027-03-01"),
    ("maaleby", "M11", "rehabilitering", "2027-06-07"),
    *[("naboby", f"N{i}", "rehabilitering", "2027-01-04") for i in range(1, 6)],
]
# (day, case, step): a milestone key recorded on that date, "visitation", "samtale" (the
# first fleksjob talk held that day) or "slut" (the case's process ends); or
# (day, case, item key, interventions) for the milestones per intervention.
STEPS = [
    *[("2027-01-04", f"M{i}", "forberedelse_startet") for i in range(1, 7)],
    ("2027-01-11", "M1", "forberedende_del_underskrevet"), ("2027-02-01", "M1", "moede_holdt"),
    ("2027-02-01", "M1", "indstilling_afgivet"),
    ("2027-02-01", "M1", "indsats_anbefalet", "Mentorstøtte, Virksomhedspraktik,Smerteforløb"),
    ("2027-02-08", "M1", "afgoerelse"),
    ("2027-02-08", "M1", "koordinator_tildelt"), ("2027-02-22", "M1", "foerste_samtale_rf"),
    # planned: two of the three recommended (another case and spelling) and one not recommended
    ("2027-02-22", "M1", "indsats_planlagt", "mentorstøtte,Virksomhedspraktik ,Jobklub"),
    # started: the mentor on 02-26; a pain course "started" before it was recommended does not count
    ("2027-03-01", "M1", "indsats_startet", "Mentorstøtte@2027-02-26,Smerteforløb@2027-01-20"),
    ("2027-03-01", "M1", "foerste_indsats_startet"), ("2027-03-01", "M1", "slut"),
    ("2027-01-18", "M2", "forberedende_del_underskrevet"), ("2027-02-15", "M2", "moede_holdt"),
    ("2027-02-16", "M2", "indstilling_afgivet"), ("2027-03-01", "M2", "afgoerelse"),
    ("2027-03-01", "M2", "visitation"), ("2027-03-15", "M2", "samtale"), ("2027-03-15", "M2", "slut"),
    ("2027-01-25", "M3", "forberedende_del_underskrevet"), ("2027-03-01", "M3", "moede_holdt"),
    ("2027-03-01", "M3", "indstilling_afgivet"), ("2027-03-08", "M3", "overdraget_pension"),
    ("2027-05-03", "M3", "foep_afgoerelse"), ("2027-05-03", "M3", "foep_tilkendt"), ("2027-05-03", "M3", "slut"),
    ("2027-02-01", "M4", "forberedende_del_underskrevet"), ("2027-03-15", "M4", "moede_holdt"),
    ("2027-03-22", "M4", "indstilling_afgivet"), ("2027-04-05", "M4", "afgoerelse"), ("2027-04-05", "M4", "slut"),
    ("2027-02-01", "M5", "forberedende_del_underskrevet"), ("2027-04-05", "M5", "moede_holdt"),
    ("2027-04-05", "M5", "indstilling_afgivet"), ("2027-04-05", "M5", "indsats_anbefalet", "Psykologforløb,Jobklub"),
    ("2027-04-12", "M5", "afgoerelse"),
    ("2027-04-12", "M5", "koordinator_tildelt"),
    ("2027-03-01", "M6", "forberedende_del_underskrevet"),
    ("2027-03-01", "M7", "visitation"), ("2027-03-29", "M7", "samtale"),
    ("2027-06-01", "M8", "visitation"),
    ("2027-06-20", "M9", "visitation"),
    # M10: sent straight to the pensionsteam, refused; M11: sent 06-07, not decided yet
    ("2027-03-01", "M10", "overdraget_pension"), ("2027-04-26", "M10", "foep_afgoerelse"),
    ("2027-04-26", "M10", "foep_afslag"), ("2027-04-26", "M10", "slut"),
    ("2027-06-07", "M11", "overdraget_pension"), ("2027-06-07", "M11", "slut"),
    *[("2027-01-04", f"N{i}", "forberedelse_startet") for i in range(1, 6)],
    *[("2027-01-04", f"N{i}", "forberedende_del_underskrevet") for i in range(1, 6)],
    *[(day, f"N{i}", "moede_holdt") for i, day in
      enumerate(("2027-01-14", "2027-01-24", "2027-02-03", "2027-02-13", "2027-02-23"), start=1)],
    ("2027-03-01", "N1", "afgoerelse"), ("2027-03-01", "N2", "afgoerelse"),
]


def move_clock(rt, day: str) -> None:
    """To 09:00 Danish time on ``day`` (if not there yet); due timers fire on the way."""
    target = datetime.combine(datetime.fromisoformat(day).date(), time(9), LOCAL)
    with rt.sessions() as session:
        now = timekeeping.now(session)
    if target > now:
        rt.engine.advance_clock(target - now)


def build_history(rt, tmp_path) -> dict[str, int]:
    """Register the two municipalities and play the history; the clock ends at NOW.
    Returns the case ids by name (M1..M9, N1..N5)."""
    register(rt, tmp_path, "maaleby", "Målby Kommune")
    register(rt, tmp_path, "naboby", "Naboby Kommune")
    walks: dict[str, Walk] = {}
    starts = {name: (m, t, day) for m, name, t, day in CASES}
    events = sorted([(day, 0, name, "start") for name, (_m, _t, day) in starts.items()]
                    + [(day, 1 + i, name, step) for i, (day, name, step, *_) in enumerate(STEPS)])
    emner = {1 + i: rest[0] for i, (_d, _n, _s, *rest) in enumerate(STEPS) if rest}
    for serial, (day, order, name, step) in enumerate(events):
        move_clock(rt, day)
        if step == "start":
            municipality, case_type, _ = starts[name]
            walk = Walk(rt, municipality, case_type, cpr=f"0101{70 + serial % 30:02d}-{1000 + serial}",
                        name=f"Testborger {name}")
            walks[name] = walk
        elif step == "samtale":
            walks[name].complete("foerste_samtale", samtaledato=day)
        elif order in emner:
            walks[name].complete("vaelg", naeste=step, dato=day, emner=emner[order])
        else:
            walks[name].complete("vaelg", naeste=step, dato=day)
    move_clock(rt, "2027-07-01")
    return {name: walk.case_id for name, walk in walks.items()}
