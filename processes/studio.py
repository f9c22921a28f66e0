"""The process designers' studio (issue 12): drafts, checks, scenario runs, publishing,
comparing and importing a municipality's BPMN models.

A designer works on a :class:`~processes.models.ModelDraft` of one case type of their own
municipality. Saving runs the same validation as ``sagsflow municipality add``
(:func:`processes.library.parse_model` under the municipality's policy) plus the import
report (:func:`unsupported_elements`), and stores the problems with the draft: a draft
with errors is kept, but only a draft without errors whose scenarios all pass is
published. Publishing registers an immutable model version (the catalogue's
:func:`~processes.catalogue.register_model`) and a dated
:class:`~processes.models.ModelPublication`, audited as ``model.publish``.
Everything here is scoped to one municipality; the caller checks the role.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from lxml import etree
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from processes import scenarios as scenario_runner
from processes.catalogue import register_model, version_in_force
from processes.errors import Conflict, InvalidInput, NotFound
from processes.library import _SAFE_PARSER, CASE_TYPES, NS, ModelInvalid, parse_model
from processes.models import (
    AuditEvent, ModelDraft, ModelPublication, ModelVersion, Municipality, MunicipalModel, PolicyVersion,
)
from processes.scripting import LOCAL_TZ

DESIGNER = "procesdesigner"
BPMN_NS = NS["bpmn"]
MAX_XML = 2_000_000  # characters: a model larger than this is refused before parsing
COMMENT_LENGTH = 2000

# BPMN elements Sagsflow runs, by local name; anything else inside a process is reported.
RUNS = {
    "laneSet", "lane", "flowNodeRef", "childLaneSet", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "userTask", "manualTask", "scriptTask", "serviceTask", "task",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "subProcess",
    "sequenceFlow", "conditionExpression", "script", "incoming", "outgoing", "extensionElements",
    "documentation", "timerEventDefinition", "timeDuration", "timeDate", "timeCycle",
    "messageEventDefinition", "signalEventDefinition", "terminateEventDefinition", "linkEventDefinition",
    "errorEventDefinition", "escalationEventDefinition",
}
# Elements that document a diagram: kept as drawn, never executed.
DOCUMENTS = {"textAnnotation", "association", "group", "dataObject", "dataObjectReference",
             "dataStoreReference", "dataInputAssociation", "dataOutputAssociation", "text", "property",
             "sourceRef", "targetRef", "category", "categoryValue"}


@dataclass
class Finding:
    element: str
    name: str
    message: str
    severity: str  # error: blocks publishing | warning: kept, not run

    def as_dict(self) -> dict:
        return {"element": self.element, "name": self.name, "message": self.message, "severity": self.severity}


def _root(xml: str | bytes):
    """Parse a model safely (no DTD, no entities, no network), as parse_model does;
    ValueError names why a file is refused."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = etree.fromstring(raw, parser=_SAFE_PARSER)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ValueError("a model may not contain a DOCTYPE or entity declarations")
    return root


def _local(node) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def unsupported_elements(xml: str) -> list[Finding]:
    """What in a BPMN file (Camunda Modeler, bpmn.io, other tools) Sagsflow does not run,
    per element with its id and name. Never raises: a file that is not BPMN is one finding."""
    try:
        root = _root(xml)
    except etree.XMLSyntaxError as exc:
        return [Finding("", "", f"not well-formed XML: {exc}", "error")]
    except ValueError as exc:
        return [Finding("", "", str(exc), "error")]
    if etree.QName(root).namespace != BPMN_NS or _local(root) != "definitions":
        return [Finding("", "", "not a BPMN 2.0 file (no bpmn:definitions root)", "error")]
    found: list[Finding] = []

    def add(node, message, severity):
        found.append(Finding(node.get("id") or "", node.get("name") or "", message, severity))

    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    for collaboration in root.findall(f"{{{BPMN_NS}}}collaboration"):
        for node in collaboration:
            kind = _local(node)
            if kind == "participant":
                ref = node.get("processRef")
                if ref is None:
                    add(node, "pool without a process (a black box): drawn, not run", "warning")
                elif ref not in {p.get("id") for p in executable}:
                    add(node, f"pool of the non-executable process {ref!r}: drawn, not run", "warning")
            elif kind == "messageFlow":
                add(node, "message flow between pools: drawn, not run (Sagsflow routes messages by name "
                          "within the case)", "warning")
            elif kind in DOCUMENTS or kind in ("extensionElements", "documentation"):
                if kind not in ("extensionElements", "documentation", "text"):
                    add(node, f"{kind}: documentation, kept, not run", "warning")
            else:
                add(node, f"{kind} is not supported in a collaboration", "warning")
    for definition in root:
        kind = _local(definition)
        if kind not in ("process", "collaboration", "message", "signal", "error", "escalation", "BPMNDiagram",
                        "itemDefinition", "category", "extensionElements", "documentation"):
            add(definition, f"{kind} is not used by Sagsflow", "warning")
    for proc in processes:
        run = proc in executable
        if not run:
            add(proc, "process is not executable (isExecutable is not true): drawn, not run", "warning")
            continue
        for node in proc.iter():
            if node is proc or not isinstance(node.tag, str):
                continue
            if etree.QName(node).namespace != BPMN_NS:
                continue  # extension elements (camunda:, spiffworkflow:) are checked by the validation
            if any(etree.QName(a).namespace != BPMN_NS for a in node.iterancestors() if isinstance(a.tag, str)):
                continue
            kind = _local(node)
            if kind in RUNS:
                if kind == "subProcess" and node.get("triggeredByEvent") == "true":
                    continue
                if kind in ("errorEventDefinition", "escalationEventDefinition") and \
                        _local(node.getparent()) not in ("boundaryEvent", "endEvent", "startEvent"):
                    add(node.getparent(), f"{kind} on {_local(node.getparent())}: not run", "error")
                continue
            if kind in DOCUMENTS:
                if kind not in ("text", "property", "sourceRef", "targetRef"):
                    add(node, f"{kind}: documentation, kept, not run", "warning")
                continue
            reason = {
                "complexGateway": "complex gateways are not run: use exclusive or parallel gateways",
                "businessRuleTask": "business rule tasks (DMN) are not run: use a script task or a gateway",
                "sendTask": "send tasks are not run: use a message throw event (hand-off) or a letter service task",
                "receiveTask": "receive tasks are not run: use a message catch event",
                "callActivity": "call activities are not run: a hand-off starts the next process in the case",
                "transaction": "transactions are not run: use a sub-process",
                "adHocSubProcess": "ad hoc sub-processes are not run",
                "conditionalEventDefinition": "conditional events are not run: use a gateway or a timer",
                "compensateEventDefinition": "compensation is not run",
                "cancelEventDefinition": "cancel events are not run",
                "multiInstanceLoopCharacteristics": "multi-instance activities are not run: use a loop back",
                "standardLoopCharacteristics": "loop activities are not run: use a gateway looping back",
            }.get(kind, f"{kind} is not run by Sagsflow")
            target = node.getparent() if kind.endswith(("EventDefinition", "Characteristics")) else node
            add(target, reason, "error")
    return found


def validate(session: Session, municipality_id: int, case_type: str, xml: str, now: datetime) -> list[dict]:
    """The problems of a model as the studio shows them: the server validation of
    ``sagsflow municipality add`` under the municipality's policy, then what Sagsflow does
    not run. Each is {element, name, message, severity}."""
    if len(xml) > MAX_XML:
        return [{"element": "", "name": "", "message": f"the model is larger than {MAX_XML} characters",
                 "severity": "error"}]
    findings = [f.as_dict() for f in unsupported_elements(xml)]
    names = _names(xml)
    policy = policy_values(session, municipality_id, case_type, now)
    def shown(p, severity: str) -> dict:
        return {"element": p.element if p.element in names else "", "name": names.get(p.element, ""),
                "message": p.message if p.element in names or not p.element else f"{p.element}: {p.message}",
                "severity": severity}

    try:
        parsed = parse_model(xml.encode("utf-8"), f"{case_type}.bpmn", policy=policy, expected_process=case_type)
    except ModelInvalid as exc:
        problems = [shown(p, "error") for p in exc.problems]
        return problems + [f for f in findings if f not in problems]
    # A missing English text is a warning: the draft saves and publishes, the UI shows the Danish.
    return findings + [shown(p, "warning") for p in parsed.warnings]


def _names(xml: str) -> dict[str, str]:
    try:
        root = _root(xml)
    except (etree.XMLSyntaxError, ValueError):
        return {}
    return {n.get("id"): n.get("name") or "" for n in root.iter() if isinstance(n.tag, str) and n.get("id")}


def has_errors(problems: list[dict]) -> bool:
    return any(p.get("severity") == "error" for p in problems)


def policy_values(session: Session, municipality_id: int, case_type: str, at: datetime) -> dict:
    row = session.scalars(
        select(PolicyVersion).where(PolicyVersion.municipality_id == municipality_id,
                                    PolicyVersion.case_type == case_type, PolicyVersion.effective_from <= at)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()).limit(1)).first()
    return dict(row.values) if row is not None else {}


# ------------------------------------------------------------------ the model list
def visible_version(session: Session, municipality_id: int, version_id: int) -> ModelVersion:
    """A model version the municipality's designers may read: shared, or their own."""
    version = session.get(ModelVersion, version_id)
    if version is None or version.municipality_id not in (None, municipality_id):
        raise NotFound(f"model version {version_id} not found")
    return version


def draft_for(session: Session, municipality_id: int, draft_id: int) -> ModelDraft:
    draft = session.get(ModelDraft, draft_id)
    if draft is None or draft.municipality_id != municipality_id:
        raise NotFound(f"draft {draft_id} not found")
    return draft


def overview(session: Session, municipality_id: int, now: datetime) -> list[dict]:
    """Every case type: the model in force (shared or own), its versions with who, when
    and why, the publications waiting for their date, and the open drafts."""
    rows = []
    for case_type in CASE_TYPES:
        in_force_id = version_in_force(session, municipality_id, case_type, now)
        versions = list(session.scalars(
            select(ModelVersion).where(ModelVersion.process_id == case_type,
                                       or_(ModelVersion.municipality_id.is_(None),
                                           ModelVersion.municipality_id == municipality_id))
            .order_by(ModelVersion.municipality_id.is_(None), ModelVersion.version.desc())))
        publications = list(session.scalars(
            select(ModelPublication).where(ModelPublication.municipality_id == municipality_id,
                                           ModelPublication.case_type == case_type)
            .order_by(ModelPublication.effective_from.desc(), ModelPublication.id.desc())))
        by_version: dict[int, list[ModelPublication]] = {}
        for p in publications:
            by_version.setdefault(p.model_version_id, []).append(p)
        registered = _registrations(session, municipality_id)
        history = []
        for v in versions:
            if v.municipality_id is None and v.id != in_force_id and v.id not in by_version:
                continue  # another shared version this municipality never used
            pubs = by_version.get(v.id, [])
            history.append({
                "version": v, "shared": v.municipality_id is None, "in_force": v.id == in_force_id,
                "publications": pubs, "registered_by": registered.get(v.id),
            })
        drafts = list(session.scalars(
            select(ModelDraft).where(ModelDraft.municipality_id == municipality_id,
                                     ModelDraft.case_type == case_type, ModelDraft.status == "open")
            .order_by(ModelDraft.updated_at.desc())))
        pending = [p for p in publications if p.effective_from > now]
        in_force = session.get(ModelVersion, in_force_id) if in_force_id else None
        rows.append({"case_type": case_type, "in_force": in_force,
                     "shared": in_force is not None and in_force.municipality_id is None,
                     "history": history, "drafts": drafts, "pending": pending})
    return rows


def _registrations(session: Session, municipality_id: int) -> dict[int, tuple[str, datetime]]:
    """Model versions that came with a registered folder: who registered it and when."""
    found = {}
    for event in session.scalars(select(AuditEvent).where(
            AuditEvent.municipality_id == municipality_id,
            AuditEvent.action.in_(("municipality.register", "municipality.update"))).order_by(AuditEvent.id)):
        for case_type, label in (event.detail.get("models") or {}).items():
            new = label[1] if isinstance(label, list) else label
            if not isinstance(new, str) or " v" not in new:
                continue
            name, _, number = new.rpartition(" v")
            scope = ModelVersion.municipality_id.is_(None) if name == "shared" else \
                ModelVersion.municipality_id == municipality_id
            version_id = session.scalar(select(ModelVersion.id).where(
                scope, ModelVersion.process_id == case_type, ModelVersion.version == int(number)))
            if version_id is not None:
                found.setdefault(version_id, (event.actor, event.at))
    return found


# ------------------------------------------------------------------------- drafts
def create_draft(session: Session, municipality_id: int, case_type: str, actor: str, now: datetime,
                 xml: str | None = None, title: str | None = None) -> ModelDraft:
    """A new draft of ``case_type``: a copy of the model in force (or ``xml``, an import),
    with the scenarios of its last publication or, failing those, the shipped ones."""
    if case_type not in CASE_TYPES:
        raise InvalidInput("unknown case type", {"case_type": [f"Ukendt sagstype: {case_type}"]})
    base_id = version_in_force(session, municipality_id, case_type, now)
    base = session.get(ModelVersion, base_id) if base_id else None
    if xml is None:
        if base is None:
            raise NotFound(f"no model in force for {case_type!r} to start from")
        xml = base.bpmn_xml
    last = session.scalars(select(ModelPublication).where(
        ModelPublication.municipality_id == municipality_id, ModelPublication.case_type == case_type)
        .order_by(ModelPublication.id.desc()).limit(1)).first()
    key = session.get(Municipality, municipality_id).key
    scenarios = list(last.scenarios) if last is not None and last.scenarios else scenario_runner.shipped(key, case_type)
    draft = ModelDraft(municipality_id=municipality_id, case_type=case_type, base_version_id=base_id,
                       title=(title or f"Kladde af {case_type}")[:200], bpmn_xml=xml, scenarios=scenarios,
                       problems=[], status="open", created_by=actor, created_at=now, updated_by=actor,
                       updated_at=now)
    draft.problems = validate(session, municipality_id, case_type, xml, now)
    session.add(draft)
    session.flush()
    _audit(session, actor, "model.draft", municipality_id, {"draft": draft.id, "case_type": case_type,
                                                            "from_version": base.version if base else None,
                                                            "imported": title is not None}, now)
    return draft


def save_draft(session: Session, draft: ModelDraft, actor: str, now: datetime, xml: str | None = None,
               scenarios: Any = None) -> list[dict]:
    """Store the designer's work as it is (errors and all) and return its problems."""
    if draft.status != "open":
        raise Conflict("the draft is published; start a new draft from the model in force")
    if xml is not None:
        if len(xml) > MAX_XML:
            raise InvalidInput("the model is too large", {"xml": [f"Højst {MAX_XML} tegn."]})
        draft.bpmn_xml = xml
    if scenarios is not None:
        problems = scenario_runner.check_format(scenarios)
        if problems:
            raise InvalidInput("the scenarios are not in the scenario format", {"scenarios": problems})
        draft.scenarios = scenarios
    draft.problems = validate(session, draft.municipality_id, draft.case_type, draft.bpmn_xml, now)
    draft.updated_by, draft.updated_at = actor, now
    return draft.problems


def sandbox(session: Session, municipality_id: int, case_type: str, xml: str, now: datetime):
    """The installation a draft's scenarios run in: the municipality's policy and models
    in force, with the draft for ``case_type``. Raises ModelInvalid if the draft has errors."""
    municipality = session.get(Municipality, municipality_id)
    policies = {ct: policy_values(session, municipality_id, ct, now) for ct in CASE_TYPES}
    models = {case_type: parse_model(xml.encode("utf-8"), f"{case_type}.bpmn", policy=policies[case_type],
                                     expected_process=case_type)}
    for other in CASE_TYPES:
        if other == case_type:
            continue
        version_id = version_in_force(session, municipality_id, other, now)
        if version_id is not None:
            version = session.get(ModelVersion, version_id)
            models[other] = parse_model(version.bpmn_xml.encode("utf-8"), version.file_name, policy=policies[other])
    return scenario_runner.Sandbox(municipality.key, municipality.name, policies, models)


def run_draft_scenarios(session: Session, draft: ModelDraft, now: datetime) -> list[dict]:
    try:
        box = sandbox(session, draft.municipality_id, draft.case_type, draft.bpmn_xml, now)
    except ModelInvalid as exc:
        return [{"name": "model", "passed": False, "steps": 0, "step": None, "element": None,
                 "failure": f"the model has errors, so no scenario can run ({len(exc.problems)} problems)"}]
    return [r.as_dict() for r in scenario_runner.run_scenarios(box, draft.case_type, draft.scenarios)]


def effective_start(day: date) -> datetime:
    """Midnight in Copenhagen at the start of a Danish date, in UTC."""
    return datetime.combine(day, time(0), LOCAL_TZ).astimezone(timezone.utc)


def publish(session: Session, draft: ModelDraft, actor: str, effective_from: date, comment: str,
            now: datetime) -> tuple[ModelPublication | None, list[dict]]:
    """Publish a draft: refused (returns None and the reasons) if it has errors, has no
    scenario, or a scenario fails; else a new immutable model version in force for new
    cases from ``effective_from`` (a Danish date, today or later), audited."""
    comment = (comment or "").strip()
    errors = {}
    if not comment:
        errors["comment"] = ["Skriv hvorfor modellen ændres."]
    elif len(comment) > COMMENT_LENGTH:
        errors["comment"] = [f"Højst {COMMENT_LENGTH} tegn."]
    if effective_from < now.astimezone(LOCAL_TZ).date():
        errors["effective_from"] = ["Datoen må ikke ligge før i dag."]
    if errors:
        raise InvalidInput("the publication is incomplete", errors)
    if draft.status != "open":
        raise Conflict("the draft is already published")
    problems = save_draft(session, draft, actor, now)
    if has_errors(problems):
        return None, [{"name": "model", "passed": False, "steps": 0, "step": None, "element": None,
                       "failure": f"the model has {sum(p['severity'] == 'error' for p in problems)} errors"}]
    if not draft.scenarios:
        return None, [{"name": "scenarios", "passed": False, "steps": 0, "step": None, "element": None,
                       "failure": "a model is published with at least one scenario test"}]
    results = run_draft_scenarios(session, draft, now)
    if not all(r["passed"] for r in results):
        return None, results
    policy = policy_values(session, draft.municipality_id, draft.case_type, now)
    municipality = session.get(Municipality, draft.municipality_id)
    parsed = parse_model(draft.bpmn_xml.encode("utf-8"), f"{municipality.key}/{draft.case_type}.bpmn",
                         policy=policy, expected_process=draft.case_type)
    version = register_model(session, parsed, draft.municipality_id, now)
    publication = ModelPublication(
        municipality_id=draft.municipality_id, case_type=draft.case_type, model_version_id=version.id,
        effective_from=effective_start(effective_from), comment=comment, scenarios=list(draft.scenarios),
        published_by=actor, published_at=now)
    session.add(publication)
    draft.status, draft.published_version_id = "published", version.id
    draft.updated_by, draft.updated_at = actor, now
    session.flush()
    base = session.get(ModelVersion, draft.base_version_id) if draft.base_version_id else None
    _audit(session, actor, "model.publish", draft.municipality_id, {
        "case_type": draft.case_type, "draft": draft.id, "model_version": version.version,
        "model_version_id": version.id, "from": _label(base), "effective_from": effective_from.isoformat(),
        "comment": comment, "scenarios": len(results)}, now)
    return publication, results


def _label(version: ModelVersion | None) -> str | None:
    if version is None:
        return None
    return f"{'shared' if version.municipality_id is None else 'own'} v{version.version}"


def _audit(session, actor: str, action: str, municipality_id: int, detail: dict, now: datetime) -> None:
    session.add(AuditEvent(municipality_id=municipality_id, actor=actor, action=action,
                           detail=json.loads(json.dumps(detail, default=str)), at=now,
                           recorded_at=datetime.now(timezone.utc)))


# ---------------------------------------------------------------------------- diff
def facts(xml: str) -> dict[str, dict]:
    """What a designer changes, per element id: kind, name, role, form, timer, letter,
    milestone and owner marks. Read leniently (a draft with errors still compares)."""
    try:
        root = _root(xml)
    except (etree.XMLSyntaxError, ValueError):
        return {}
    out: dict[str, dict] = {}
    lane_of = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lane_of[(ref.text or "").strip()] = (lane.get("name") or "").strip()
    for proc in root.findall("bpmn:process", NS):
        for node in proc.iter():
            if not isinstance(node.tag, str) or not node.get("id") or etree.QName(node).namespace != BPMN_NS:
                continue
            kind = _local(node)
            if kind.endswith("EventDefinition"):
                continue  # part of its event (below)
            if kind in ("lane", "laneSet", "flowNodeRef"):
                if kind == "lane":
                    out[node.get("id")] = {"kind": kind, "name": node.get("name") or ""}
                continue
            entry: dict[str, Any] = {"kind": kind, "name": node.get("name") or ""}
            role = node.get(f"{{{NS['camunda']}}}candidateGroups") or lane_of.get(node.get("id"))
            if kind in ("userTask", "manualTask"):
                entry["role"] = role
            fields = node.findall("bpmn:extensionElements/camunda:formData/camunda:formField", NS)
            if fields:
                entry["form"] = "; ".join(_field_text(f) for f in fields)
            for prop in node.findall("bpmn:extensionElements/camunda:properties/camunda:property", NS):
                key = prop.get("name") or prop.get("id")
                if key in ("deadline", "milestone", "milestone_date", "owner_task", "takes_ownership") \
                        or key.startswith("milestone_items:"):
                    entry[key] = prop.get("value")
            ted = node.find("bpmn:timerEventDefinition", NS)
            if ted is not None:
                for child in ted:
                    if isinstance(child.tag, str):
                        entry["timer"] = f"{_local(child)}: {(child.text or '').strip()}"
                if node.get("attachedToRef"):
                    entry["attached_to"] = node.get("attachedToRef")
                    entry["interrupting"] = node.get("cancelActivity", "true")
            op = node.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
            if op is not None:
                params = {p.get("id"): p.get("value") for p in op.iter(f"{{{NS['spiffworkflow']}}}parameter")}
                entry["service"] = op.get("id")
                if "template" in params:
                    entry["letter"] = params["template"]
            payload = node.find("bpmn:messageEventDefinition/bpmn:extensionElements/spiffworkflow:messagePayload", NS)
            if payload is not None:
                entry["payload"] = " ".join((payload.text or "").split())
            message = node.find("bpmn:messageEventDefinition", NS)
            if message is not None:
                entry["message"] = message.get("messageRef")
            cond = node.find("bpmn:conditionExpression", NS)
            if cond is not None:
                entry["condition"] = (cond.text or "").strip()
            script = node.find("bpmn:script", NS)
            if script is not None:
                entry["script"] = (script.text or "").strip()
            if kind == "sequenceFlow":
                entry["flow"] = f"{node.get('sourceRef')} → {node.get('targetRef')}"
            out[node.get("id")] = entry
    return out


def _field_text(node) -> str:
    parts = [node.get("id") or "?", node.get("type") or "string", node.get("label") or ""]
    for c in node.findall("camunda:validation/camunda:constraint", NS):
        parts.append(c.get("name") + (f"={c.get('config')}" if c.get("config") is not None else ""))
    values = [v.get("id") for v in node.findall("camunda:value", NS)]
    if values:
        parts.append("values=" + "|".join(values))
    for p in node.findall("camunda:properties/camunda:property", NS):
        parts.append(f"{p.get('id') or p.get('name')}={p.get('value')}")
    return ":".join(parts)


def diff_facts(old_xml: str, new_xml: str) -> list[dict]:
    """Changed properties between two models: rows {element, name, change, property, old, new}."""
    old, new = facts(old_xml), facts(new_xml)
    rows = []
    for eid in sorted(set(old) | set(new)):
        a, b = old.get(eid), new.get(eid)
        name = (b or a).get("name") or ""
        if a is None or b is None:  # added or removed: the element, then what it carried
            entry, change = (b, "added") if a is None else (a, "removed")
            rows.append({"element": eid, "name": name, "change": change, "property": entry["kind"], "old": "", "new": ""})
            for key in sorted(set(entry) - {"kind", "name"}):
                value = entry[key] or ""
                rows.append({"element": eid, "name": name, "change": change, "property": key,
                             "old": value if change == "removed" else "", "new": value if change == "added" else ""})
            continue
        for key in sorted((set(a) | set(b)) - {"kind"}):
            if a.get(key) != b.get(key):
                rows.append({"element": eid, "name": name, "change": "changed", "property": key,
                             "old": a.get(key) or "", "new": b.get(key) or ""})
    return rows


def policy_diff(old_xml: str, new_xml: str, old_policy: dict, new_policy: dict) -> list[dict]:
    """The policy parameters either model reads whose value, or whether it is read, differs."""
    from processes.library import policy_keys

    def read(xml: str) -> set[str]:
        keys = set()
        for entry in facts(xml).values():
            for key in ("timer", "condition", "script", "form"):
                if entry.get(key):
                    keys |= policy_keys(entry[key].split(": ", 1)[-1]) if key == "timer" else policy_keys(entry[key])
            if entry.get("deadline"):
                keys.add(entry["deadline"])
        return keys
    a, b = read(old_xml), read(new_xml)
    rows = []
    for key in sorted(a | b):
        old_value = old_policy.get(key) if key in a else None
        new_value = new_policy.get(key) if key in b else None
        if (key in a) != (key in b) or old_value != new_value:
            rows.append({"key": key, "old": old_value, "new": new_value, "read_old": key in a, "read_new": key in b})
    return rows


def previous_version(session: Session, version: ModelVersion, municipality_id: int) -> ModelVersion:
    """The version a version replaced: the base of the draft it was published from, else
    the version before it in its scope, else the registered folder's model."""
    draft = session.scalar(select(ModelDraft).where(ModelDraft.published_version_id == version.id,
                                                    ModelDraft.municipality_id == municipality_id).limit(1))
    if draft is not None and draft.base_version_id and draft.base_version_id != version.id:
        return session.get(ModelVersion, draft.base_version_id)
    earlier = session.scalar(select(ModelVersion).where(
        ModelVersion.process_id == version.process_id, ModelVersion.municipality_id == version.municipality_id,
        ModelVersion.version < version.version).order_by(ModelVersion.version.desc()).limit(1))
    if earlier is not None:
        return earlier
    choice = session.get(MunicipalModel, (municipality_id, version.process_id))  # the folder's model
    return session.get(ModelVersion, choice.model_version_id) if choice is not None else version


def version_date(session: Session, version: ModelVersion, municipality_id: int) -> datetime:
    """When a version came in force for the municipality (its first publication), else when stored."""
    first = session.scalar(select(ModelPublication.effective_from).where(
        ModelPublication.municipality_id == municipality_id, ModelPublication.model_version_id == version.id)
        .order_by(ModelPublication.effective_from).limit(1))
    return first or version.created_at


def catalogue_for_editor(language: str = "da") -> dict:
    """What the properties panel offers: roles, policy keys (deadlines), letter templates,
    milestones and form field types; their labels in ``language`` (``da`` or ``en``)."""
    from processes.letters import TEMPLATES
    from processes.library import FIELD_TYPES
    from processes.milestones import MILESTONES
    from processes.policy import CATALOGUE, label_in
    from processes.roles import ROLES
    english = language == "en"
    return {
        "roles": [{"key": k, "label": en if english else da} for k, (da, en) in ROLES.items()
                  if k not in (DESIGNER, "leder")],
        "policy": [{"key": p.key, "case_type": p.case_type, "kind": p.kind, "label": label_in(p.key, language),
                    "rule": p.rule, "default": p.default} for p in CATALOGUE],
        "letters": sorted(TEMPLATES),
        "milestones": [{"key": m.key, "process": m.process, "label": m.label_in(language)} for m in MILESTONES],
        "field_types": sorted(FIELD_TYPES),
    }
