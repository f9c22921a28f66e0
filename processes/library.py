"""Loading BPMN models: parse, validate against Sagsflow's conventions, extract metadata.

A model is refused with a :class:`ModelInvalid` listing every problem as
``file: element id: problem``. Conventions are in ``docs/modelling.md``.
"""
from __future__ import annotations

import ast
import hashlib
import re
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from processes.milestones import BY_KEY as MILESTONES
from processes.spiff_fixes import Parser
from processes.policy import BY_KEY, check_value
from processes.roles import ROLES
from processes.scripting import (
    RestrictedEnvironment, ScriptRejected, budget, check_timer_result, compile_expression, compile_script,
    run_expression,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """A folder that ships with Sagsflow (``bpmn``, ``alembic``).

    An installed wheel carries them as package data in ``processes/_data/`` (copied there
    by the build, see ``setup.py``); a source checkout or an editable install reads them
    from the repository root, where they are edited.
    """
    packaged = Path(__file__).resolve().parent / "_data" / name
    return packaged if packaged.is_dir() else REPO_ROOT / name


BPMN_DIR = data_dir("bpmn")

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
CASE_TYPES = ("rehabilitering", "ressourceforloeb", "fleksjob", "foertidspension", "sygedagpenge")
FIELD_TYPES = {"string", "long", "boolean", "date", "enum", "list"}
ITEM_TYPES = {"string", "long", "boolean", "date"}  # plus enum(a=Label A|b=Label B)
DEFAULT_LIST_ROWS = 3
_ITEM_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(enum\([^)]*\)|[a-z]+)\s*:\s*(.*?)\s*$")
HANDOFF_PREFIX = "start_"
# Process data only Sagsflow sets at the start: the policy (read-only to model code, so a
# statutory bound cannot be loosened through it) and the case reference. Neither start
# data nor a form field may set them.
RESERVED_DATA = frozenset({"policy", "sag"})


@dataclass(frozen=True)
class Problem:
    file: str
    element: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.element}" if self.element else self.file
        return f"{where}: {self.message}"


# English beside the Danish (docs/modelling.md, "English"): a property on the element or
# the form field, read by the parser, never by Spiff (which ignores camunda:properties).
NAME_EN = "name_en"            # element (task, event, sub-process ...): its name in English
LABEL_EN = "label_en"          # form field: its label in English
OPTION_EN = "name_en:"         # form field: ``name_en:<value id>``, an enum value's name in English
CHECK_MESSAGE_EN = "check_message_en"
ITEM_FIELDS_EN = "item_fields_en"  # list field: ``column=Label;column:value=Label`` in English
SHOW_EN = "show_en"            # user task: ``entry=Label`` for the entries ``show`` labels


class ModelInvalid(ValueError):
    """A model (or a municipality's configuration) that Sagsflow refuses."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class ParsedModel:
    process_id: str
    file_name: str
    xml: str
    sha256: str
    spec: Any
    subprocess_specs: dict
    metadata: dict = field(default_factory=dict)
    # Not errors: a draft with them saves and publishes (a missing English text).
    warnings: list[Problem] = field(default_factory=list)


def _q(tag: str) -> str:
    prefix, name = tag.split(":")
    return f"{{{NS[prefix]}}}{name}"


def parse_item_fields(text: str) -> tuple[list[dict], list[str]]:
    """``maal:string:Mål;status:enum(a=A|b=B):Status`` -> item specs and problems."""
    items, problems = [], []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        match = _ITEM_FIELD.match(part)
        if match is None:
            problems.append(f"item field {part.strip()!r} is not 'id:type:Label'")
            continue
        key, kind, label = match.groups()
        item: dict[str, Any] = {"id": key, "type": kind, "label": label or key, "options": []}
        if kind.startswith("enum("):
            item["type"] = "enum"
            for choice in kind[5:-1].split("|"):
                value, _, name = choice.partition("=")
                if value.strip():
                    item["options"].append({"id": value.strip(), "name": name.strip() or value.strip()})
            if not item["options"]:
                problems.append(f"item field {key!r}: enum without values")
        elif kind not in ITEM_TYPES:
            problems.append(f"item field {key!r} has unknown type {kind!r}")
        items.append(item)
    if not items and not problems:
        problems.append("a list field needs item_fields")
    return items, problems


def parse_english_pairs(text: str | None) -> dict[str, str]:
    """``key=Text;key2=Text 2`` (``item_fields_en``, ``show_en``) -> {key: text}."""
    pairs = {}
    for part in (text or "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() and value.strip():
            pairs[key.strip()] = value.strip()
    return pairs


def _english_items(items: list[dict], text: str | None) -> None:
    """Put the English of ``item_fields_en`` on a list field's columns and their enum values."""
    english = parse_english_pairs(text)
    for item in items:
        if english.get(item["id"]):
            item["label_en"] = english[item["id"]]
        for option in item.get("options", []):
            if english.get(f"{item['id']}:{option['id']}"):
                option["name_en"] = english[f"{item['id']}:{option['id']}"]


def _field(node) -> dict:
    spec: dict[str, Any] = {
        "id": node.get("id"), "label": node.get("label") or node.get("id"),
        "type": node.get("type") or "string", "required": False,
        "options": [{"id": v.get("id"), "name": v.get("name") or v.get("id")}
                    for v in node.findall("camunda:value", NS)],
    }
    english_options: dict[str, str] = {}
    items_en = None
    if node.get("defaultValue") is not None:
        spec["default"] = node.get("defaultValue")
    for constraint in node.findall("camunda:validation/camunda:constraint", NS):
        name, config = constraint.get("name"), constraint.get("config")
        if name == "required":
            spec["required"] = True
        elif name in ("min", "max", "minlength", "maxlength") and config is not None:
            spec[name] = int(config)
    for prop in node.findall("camunda:properties/camunda:property", NS):
        name, value = prop.get("id") or prop.get("name"), prop.get("value")
        if name in ("multiline", "past_only", "prefill"):
            spec[name] = value == "true"
        elif name in ("check", "check_message") and value:
            spec[name] = value
        elif name == "item_fields":
            spec["items"], spec["item_problems"] = parse_item_fields(value)
        elif name == "rows" and (value or "").isdigit():
            spec["rows"] = int(value)
        elif name in (LABEL_EN, CHECK_MESSAGE_EN) and (value or "").strip():
            spec[name] = value.strip()
        elif (name or "").startswith(OPTION_EN) and (value or "").strip():
            english_options[name[len(OPTION_EN):]] = value.strip()
        elif name == ITEM_FIELDS_EN:
            items_en = value
    for option in spec["options"]:
        if english_options.get(option["id"]):
            option["name_en"] = english_options[option["id"]]
    if spec["type"] == "list":
        spec.setdefault("rows", DEFAULT_LIST_ROWS)
        if "items" not in spec:
            spec["items"], spec["item_problems"] = [], ["a list field needs item_fields"]
        _english_items(spec["items"], items_en)
    return spec


def missing_english(meta: dict) -> list[tuple[str, str]]:
    """``(element id, what)`` for every model text the UI shows that has no English beside
    the Danish: user task names, form labels, enum values, list columns, check messages,
    the labels a task's ``show`` gives, and deadline timers' names. A warning, not an
    error: the UI falls back to the Danish."""
    found = []
    for tid, task in meta.get("tasks", {}).items():
        if not task.get("name_en"):
            found.append((tid, f"task name {task['name']!r} has no English ({NAME_EN})"))
        for spec in task.get("form", []):
            fid = spec["id"]
            if not spec.get("label_en"):
                found.append((tid, f"form field {fid!r}: label {spec['label']!r} has no English ({LABEL_EN})"))
            for option in spec.get("options", []):
                if not option.get("name_en"):
                    found.append((tid, f"form field {fid!r}: enum value {option['id']!r} ({option['name']!r}) "
                                       f"has no English ({OPTION_EN}{option['id']})"))
            if spec.get("check_message") and not spec.get("check_message_en"):
                found.append((tid, f"form field {fid!r}: check_message has no English ({CHECK_MESSAGE_EN})"))
            for item in spec.get("items", []):
                if not item.get("label_en"):
                    found.append((tid, f"list field {fid!r}: column {item['id']!r} has no English "
                                       f"({ITEM_FIELDS_EN}: {item['id']}=...)"))
                for option in item.get("options", []):
                    if not option.get("name_en"):
                        found.append((tid, f"list field {fid!r}: column {item['id']!r} value {option['id']!r} "
                                           f"has no English ({ITEM_FIELDS_EN}: {item['id']}:{option['id']}=...)"))
        for entry in task.get("show", []):
            if entry.get("label") and not entry.get("label_en"):
                ref = entry.get("field") or f"milestone:{entry.get('milestone')}"
                found.append((tid, f"show entry {ref!r}: label {entry['label']!r} has no English ({SHOW_EN})"))
    for eid, timer in meta.get("timers", {}).items():
        if timer["name"] != eid and not timer.get("name_en"):  # the case page lists timers by name
            found.append((eid, f"timer {timer['name']!r} has no English name ({NAME_EN})"))
    return found


def _properties(node) -> dict[str, str]:
    out = {}
    for prop in node.findall("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        out[prop.get("name") or prop.get("id")] = prop.get("value")
    return out


_CONTAINERS = ("bpmn:subProcess", "bpmn:transaction", "bpmn:adHocSubProcess")


def unreachable_user_tasks(proc) -> list[str]:
    """User and manual tasks that no sequence flow reaches from a start event.

    Reached: the start events of the process, everything a reached element's outgoing
    flows lead to, the boundary events of a reached activity, the start events of a
    reached subprocess and of event subprocesses, every element of a reached ad hoc
    subprocess, and link catch events (their throw decides).
    """
    flows: dict[str, list[str]] = {}
    for flow in proc.iter(_q("bpmn:sequenceFlow")):
        flows.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    boundaries: dict[str, list[str]] = {}
    for event in proc.iter(_q("bpmn:boundaryEvent")):
        boundaries.setdefault(event.get("attachedToRef"), []).append(event.get("id"))
    by_id = {node.get("id"): node for node in proc.iter() if node.get("id")}
    containers = {_q(tag) for tag in _CONTAINERS}

    def entries(container) -> list[str]:
        found = []
        for child in container:
            if child.tag == _q("bpmn:startEvent"):
                found.append(child.get("id"))
            elif child.tag in containers and child.get("triggeredByEvent") == "true":
                found.extend(entries(child))
            elif container.tag == _q("bpmn:adHocSubProcess") and child.get("id"):
                found.append(child.get("id"))
        return found

    pending = entries(proc) + [event.get("id") for event in proc.iter(_q("bpmn:intermediateCatchEvent"))
                               if event.find("bpmn:linkEventDefinition", NS) is not None]
    reached: set[str] = set()
    while pending:
        node_id = pending.pop()
        if node_id in reached:
            continue
        reached.add(node_id)
        pending.extend(flows.get(node_id, ()))
        pending.extend(boundaries.get(node_id, ()))
        node = by_id.get(node_id)
        if node is not None and node.tag in containers:
            pending.extend(entries(node))
    return [task.get("id") for task in proc.iter(_q("bpmn:userTask"), _q("bpmn:manualTask"))
            if task.get("id") not in reached]


def parse_show(text: str | None, english: str | None = None) -> tuple[list[dict], list[str]]:
    """A user task's ``show`` property: what of the case the task page shows.

    ``field[=Label];milestone:key[=Label];...``: an earlier task's form field (shown with
    the label of the form that set it unless a label is given) or a milestone of the case.
    Returns the declarations and problems (the earlier-task check is :func:`check_show`).
    ``english`` is the task's ``show_en``: ``entry=Label`` (``field`` or ``milestone:key``)."""
    shown, problems = [], []
    labels_en = parse_english_pairs(english)
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        ref, _, label = (s.strip() for s in part.partition("="))
        kind, _, key = ref.rpartition(":")
        if kind not in ("", "milestone") or not key.isidentifier():
            problems.append(f"show entry {part.strip()!r} is not 'field[=Label]' or 'milestone:key[=Label]'")
        elif kind == "milestone":
            if key not in MILESTONES:
                problems.append(f"show entry {part.strip()!r}: milestone {key!r} is not in the catalogue "
                                f"(processes/milestones.py)")
            entry = {"milestone": key, "label": label or (MILESTONES[key].label if key in MILESTONES else key)}
            english = labels_en.get(ref) or (None if label or key not in MILESTONES else MILESTONES[key].label_en)
            if english:
                entry["label_en"] = english
            shown.append(entry)
        else:
            entry = {"field": key, "label": label or None}
            if label and labels_en.get(ref):
                entry["label_en"] = labels_en[ref]
            shown.append(entry)
    return shown, problems


def _successors(proc) -> dict[str, set[str]]:
    """Where the flow can go next from each element: its outgoing flows and boundary
    events, into a sub-process's start events, and from an inner element on to what
    follows the sub-process (generous on purpose: it only says what cannot come before)."""
    nexts: dict[str, set[str]] = {}
    for flow in proc.iter(_q("bpmn:sequenceFlow")):
        nexts.setdefault(flow.get("sourceRef"), set()).add(flow.get("targetRef"))
    for event in proc.iter(_q("bpmn:boundaryEvent")):
        nexts.setdefault(event.get("attachedToRef"), set()).add(event.get("id"))
    containers = {_q(tag) for tag in _CONTAINERS}
    for container in proc.iter(*containers):
        cid = container.get("id")
        for child in container:
            if child.get("id") and isinstance(child.tag, str) and child.tag != _q("bpmn:sequenceFlow"):
                nexts.setdefault(cid, set()).add(child.get("id"))
                nexts.setdefault(child.get("id"), set()).add(cid)
    return nexts


def check_show(proc, tasks: dict[str, dict]) -> list[tuple[str, str]]:
    """``(task id, problem)`` for every shown field that no task before it can set: a form
    field of another user task from which the flow can reach this task."""
    wanted = [(tid, entry["field"]) for tid, t in tasks.items() for entry in t["show"] if "field" in entry]
    if not wanted:
        return []
    setters: dict[str, list[str]] = {}
    for tid, t in tasks.items():
        for f in t["form"]:
            setters.setdefault(f["id"], []).append(tid)
    nexts = _successors(proc)
    reach: dict[str, set[str]] = {}

    def reachable(start: str) -> set[str]:
        if start not in reach:
            seen, pending = set(), list(nexts.get(start, ()))
            while pending:
                node = pending.pop()
                if node not in seen:
                    seen.add(node)
                    pending.extend(nexts.get(node, ()))
            reach[start] = seen
        return reach[start]

    problems = []
    for tid, key in wanted:
        if not any(tid in reachable(setter) for setter in setters.get(key, ()) if setter != tid or tid in reachable(tid)):
            problems.append((tid, f"shows field {key!r}, which no earlier task's form sets"))
    return problems


def policy_keys(expression: str) -> set[str]:
    """Policy parameters an expression reads as ``policy["key"]``."""
    keys = set()
    try:
        tree = ast.parse(expression, mode="exec")
    except SyntaxError:
        return keys
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id == "policy" and isinstance(node.slice, ast.Constant)):
            keys.add(node.slice.value)
    return keys


class _SampleData(dict):
    """Stand-in process data for checking timer expressions at load time."""

    def __init__(self, known_globals: dict, **data):
        super().__init__(**data)
        self.known_globals = known_globals

    def __missing__(self, key):
        if key.startswith("_") or key in self.known_globals or key in self.known_globals["__builtins__"]:
            raise KeyError(key)  # let eval find helpers and guards in the globals
        return "2027-01-01"


def check_timer_value(kind: str, value: Any) -> str | None:
    """Return a problem description if ``value`` is not a valid timer value of ``kind``."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as TED
    try:
        if kind == "timeDuration":
            TED.parse_iso_duration(value)
        elif kind == "timeDate":
            TED.get_datetime(value)
        else:
            TED.parse_iso_recurring_interval(value)
    except Exception as exc:  # Spiff raises bare Exceptions for bad ISO text
        return f"timer value {value!r} is not a valid ISO 8601 {kind}: {exc}"
    try:
        check_timer_result(kind, value, datetime.now(timezone.utc))
    except ScriptRejected as exc:
        return f"timer value {value!r}: {exc}"
    return None


def _duration_literals(expression: str) -> list[str]:
    """Quoted ISO durations written into an expression (``"P4W"``)."""
    try:
        tree = ast.parse(expression, mode="exec")
    except SyntaxError:
        return []
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith("P") and len(node.value) > 1]


def _refuse_imports(script: str) -> None:
    """RestrictedPython compiles ``import`` and fails only when the script runs (there is
    no ``__import__``); a model is refused at load instead."""
    for node in ast.walk(ast.parse(script, mode="exec")):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ", ".join(a.name for a in node.names)
            raise ScriptRejected(f"Line {node.lineno}: import of {getattr(node, 'module', None) or names} is not allowed")


def _check_deadline_tag(file_name: str, eid: str, key: str | None, expr: str) -> list[Problem]:
    """A timer tagged with a bounded rule must be that rule's clock: it reads the policy
    parameter, so the bound (checked on every policy) governs it. A hard-wired duration
    would loosen the law behind the policy's back; a literal beyond the bound is named."""
    if key is None:
        return []
    param = BY_KEY.get(key)
    if param is None:
        return [Problem(file_name, eid, f"deadline tag {key!r} is not a policy parameter")]
    if key in policy_keys(expr):
        return []
    found = []
    if param.kind == "duration":
        for literal in _duration_literals(expr):
            issue = check_value(param, literal)
            if issue:
                found.append(Problem(file_name, eid, issue))
    if param.statutory or param.at_most is not None or param.at_least is not None:
        found.append(Problem(file_name, eid, f"timer tagged with the rule {key!r} ({param.case_type}: "
                                            f"{param.rule}) must read policy[\"{key}\"]; "
                                            f"its expression is {expr!r}"))
    return found


# Models come from designers' browsers and uploaded folders: no entities, no DTD, no
# network, no huge trees. parse_model refuses a DOCTYPE before any other parser sees the file.
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def parse_model(xml: str | bytes, file_name: str, policy: dict | None = None,
                expected_process: str | None = None) -> ParsedModel:
    """Parse and validate one BPMN file; raise :class:`ModelInvalid` on any problem.

    ``policy`` is the policy the model will run under: timer expressions are evaluated
    with it and must give valid ISO 8601 values.
    """
    raw = xml.encode() if isinstance(xml, str) else xml
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelInvalid([Problem(file_name, "", f"not UTF-8 text (byte {exc.start}): save the model as UTF-8")]) from None
    problems: list[Problem] = []
    try:
        root = etree.fromstring(raw, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ModelInvalid([Problem(file_name, "", f"not well-formed XML: {exc}")]) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # A BPMN file never needs a DTD; entity declarations could read local files
        # (external entities) or blow up in memory (nested ones) in the parsers after this.
        raise ModelInvalid([Problem(file_name, "", "a model may not contain a DOCTYPE or entity declarations")])
    processes = [p for p in root.findall("bpmn:process", NS) if p.get("isExecutable") == "true"]
    if len(processes) != 1:
        raise ModelInvalid([Problem(file_name, "", f"expected one executable process, found {len(processes)}")])
    proc = processes[0]
    process_id = proc.get("id")
    if expected_process and process_id != expected_process:
        problems.append(Problem(file_name, process_id, f"process id must be the case type {expected_process!r}"))

    meta: dict[str, Any] = {"tasks": {}, "timers": {}, "letters": {}, "handoffs": [], "lanes": [],
                            "policy_keys": []}
    lane_of: dict[str, str] = {}
    for lane in proc.iter(_q("bpmn:lane")):
        name = (lane.get("name") or "").strip()
        meta["lanes"].append(name)
        if name not in ROLES:
            problems.append(Problem(file_name, lane.get("id"), f"lane {name!r} is not a known role "
                                    f"(known: {', '.join(sorted(ROLES))})"))
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lane_of[ref.text.strip()] = name

    def lane_for(node) -> str | None:
        current = node
        while current is not None:
            if current.get("id") in lane_of:
                return lane_of[current.get("id")]
            current = current.getparent()
        return None

    for task in proc.iter(_q("bpmn:userTask"), _q("bpmn:manualTask")):
        tid = task.get("id")
        role = task.get(_q("camunda:candidateGroups")) or lane_for(task)
        if role is None:
            problems.append(Problem(file_name, tid, "user task has no lane and no camunda:candidateGroups"))
        elif role not in ROLES:
            problems.append(Problem(file_name, tid, f"role {role!r} is not a known role"))
        fields = [_field(f) for f in task.findall("bpmn:extensionElements/camunda:formData/camunda:formField", NS)]
        for f in fields:
            if f["type"] not in FIELD_TYPES:
                problems.append(Problem(file_name, tid, f"form field {f['id']!r} has unknown type {f['type']!r}"))
            if not (f["id"] or "").isidentifier():
                problems.append(Problem(file_name, tid, f"form field id {f['id']!r} is not an identifier"))
            elif f["id"] in RESERVED_DATA:
                problems.append(Problem(file_name, tid, f"form field id {f['id']!r} is reserved: Sagsflow sets it"))
            if f["type"] == "enum" and not f["options"]:
                problems.append(Problem(file_name, tid, f"enum field {f['id']!r} has no values"))
            for issue in f.pop("item_problems", []):
                problems.append(Problem(file_name, tid, f"list field {f['id']!r}: {issue}"))
            if f.get("past_only") and f["type"] != "date":
                problems.append(Problem(file_name, tid, f"past_only on {f['id']!r}, which is not a date field"))
            if "check" in f:
                try:
                    compile_expression(f["check"])
                except ScriptRejected as exc:
                    problems.append(Problem(file_name, tid, f"check of field {f['id']!r} refused by the "
                                                          f"restricted evaluator: {exc}"))
                else:
                    for key in policy_keys(f["check"]):
                        if key not in BY_KEY:
                            problems.append(Problem(file_name, tid, f"check of field {f['id']!r} reads unknown "
                                                                  f"policy parameter {key!r}"))
        props = _properties(task)
        shown, show_problems = parse_show(props.get("show"), props.get(SHOW_EN))
        problems.extend(Problem(file_name, tid, issue) for issue in show_problems)
        meta["tasks"][tid] = {"name": task.get("name") or tid, "role": role, "form": fields,
                              "owner_task": props.get("owner_task") == "true",
                              "takes_ownership": props.get("takes_ownership") == "true",
                              "show": shown}
        if (props.get(NAME_EN) or "").strip():
            meta["tasks"][tid]["name_en"] = props[NAME_EN].strip()
    problems.extend(Problem(file_name, tid, issue) for tid, issue in check_show(proc, meta["tasks"]))

    for node in proc.iter():
        if not isinstance(node.tag, str) or node.find("bpmn:extensionElements", NS) is None:
            continue
        props = _properties(node)
        if (props.get(NAME_EN) or "").strip() and node.get("id"):
            meta.setdefault("names_en", {})[node.get("id")] = props[NAME_EN].strip()
        for name, expression in props.items():
            if not (name or "").startswith("milestone_items:"):
                continue
            item_key = name.split(":", 1)[1]
            if item_key not in MILESTONES:
                problems.append(Problem(file_name, node.get("id"), f"milestone {item_key!r} is not in the catalogue "
                                                                  f"(processes/milestones.py)"))
            try:
                compile_expression(expression or "")
            except ScriptRejected as exc:
                problems.append(Problem(file_name, node.get("id"), f"{name} refused by the restricted "
                                                                  f"evaluator: {exc}"))
            meta.setdefault("item_milestones", {}).setdefault(node.get("id"), []).append(
                {"key": item_key, "items": expression, "date": props.get("milestone_date")})
        if "milestone" not in props:
            continue
        key, when = props["milestone"], props.get("milestone_date")
        if key not in MILESTONES:
            problems.append(Problem(file_name, node.get("id"), f"milestone {key!r} is not in the catalogue "
                                                              f"(processes/milestones.py)"))
        if when:
            try:
                compile_expression(when)
            except ScriptRejected as exc:
                problems.append(Problem(file_name, node.get("id"), f"milestone_date refused by the restricted "
                                                                  f"evaluator: {exc}"))
        meta.setdefault("milestones", {})[node.get("id")] = {"key": key, "date": when}
    for tid in unreachable_user_tasks(proc):
        problems.append(Problem(file_name, tid, "user task that no sequence flow reaches"))

    expressions: list[tuple[str, str, str]] = []  # (element id, kind, text)
    for flow in proc.iter(_q("bpmn:sequenceFlow")):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            expressions.append((flow.get("id"), "condition", cond.text.strip()))
    for script_task in proc.iter(_q("bpmn:scriptTask")):
        script = script_task.find("bpmn:script", NS)
        if script is not None and (script.text or "").strip():
            expressions.append((script_task.get("id"), "script", script.text))
    for node in proc.iter(_q("spiffworkflow:preScript"), _q("spiffworkflow:postScript")):
        if (node.text or "").strip():
            expressions.append((node.getparent().getparent().get("id"), "script", node.text))
    for payload in proc.iter(_q("spiffworkflow:messagePayload")):
        if (payload.text or "").strip():
            owner = payload.getparent().getparent().getparent()
            expressions.append((owner.get("id"), "expression", payload.text.strip()))

    for svc in proc.iter(_q("bpmn:serviceTask")):
        op = svc.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if op is None:
            problems.append(Problem(file_name, svc.get("id"), "service task without spiffworkflow:serviceTaskOperator"))
            continue
        params = {p.get("id"): p.get("value") for p in op.iter(_q("spiffworkflow:parameter"))}
        for value in params.values():
            expressions.append((svc.get("id"), "expression", value))
        if op.get("id") == "letter":
            try:
                template = ast.literal_eval(params.get("template") or "")
            except (ValueError, SyntaxError):
                template = None
            if not isinstance(template, str):
                problems.append(Problem(file_name, svc.get("id"), "letter task needs a quoted template parameter"))
            meta["letters"][svc.get("id")] = template
        else:
            problems.append(Problem(file_name, svc.get("id"), f"unknown service operator {op.get('id')!r}"))

    messages = {m.get("id"): m.get("name") for m in root.findall("bpmn:message", NS)}
    for event in list(proc.iter(_q("bpmn:intermediateThrowEvent"))) + list(proc.iter(_q("bpmn:endEvent"))):
        med = event.find("bpmn:messageEventDefinition", NS)
        if med is not None:
            name = messages.get(med.get("messageRef"))
            if name and name.startswith(HANDOFF_PREFIX):
                target = name[len(HANDOFF_PREFIX):]
                if target not in CASE_TYPES:
                    problems.append(Problem(file_name, event.get("id"), f"hand-off to unknown case type {target!r}"))
                meta["handoffs"].append({"element": event.get("id"), "case_type": target})

    for ted in proc.iter(_q("bpmn:timerEventDefinition")):
        event = ted.getparent()
        eid = event.get("id")
        for kind in ("timeDuration", "timeDate", "timeCycle"):
            node = ted.find(f"bpmn:{kind}", NS)
            if node is None:
                continue
            expr = (node.text or "").strip()
            props = _properties(event)
            meta["timers"][eid] = {
                "name": event.get("name") or eid, "kind": kind, "expression": expr,
                "attached_to": event.get("attachedToRef"),
                "interrupting": event.get("cancelActivity", "true") != "false",
                "deadline": props.get("deadline"),
            }
            if (props.get(NAME_EN) or "").strip():
                meta["timers"][eid]["name_en"] = props[NAME_EN].strip()
            expressions.append((eid, kind, expr))
            problems.extend(_check_deadline_tag(file_name, eid, props.get("deadline"), expr))

    env = RestrictedEnvironment()
    sample = _SampleData(env.globals, policy=dict(policy or {}))
    for eid, kind, expr in expressions:
        try:
            if kind == "script":
                compile_script(expr)
                _refuse_imports(expr)
            else:
                compile_expression(expr)
        except ScriptRejected as exc:
            problems.append(Problem(file_name, eid, f"{kind} refused by the restricted evaluator: {exc}"))
            continue
        for key in policy_keys(expr):
            meta["policy_keys"].append(key)
            if key not in BY_KEY:
                problems.append(Problem(file_name, eid, f"reads unknown policy parameter {key!r}"))
            elif policy is not None and key not in policy:
                problems.append(Problem(file_name, eid, f"policy parameter {key!r} is not set"))
        if kind in ("timeDuration", "timeDate", "timeCycle") and policy is not None:
            try:
                with budget():  # its own budget: `'P1D' if 10 ** 10 ** 10 else 'P2D'` must not hang
                    value = run_expression(expr, dict(env.globals), sample)
            except Exception as exc:
                problems.append(Problem(file_name, eid, f"timer expression {expr!r} fails: {exc}"))
                continue
            issue = check_timer_value(kind, value)
            if issue:
                problems.append(Problem(file_name, eid, issue))
    meta["policy_keys"] = sorted(set(meta["policy_keys"]))

    spec = subs = None
    if not problems:
        parser = Parser(validator=VALIDATOR)
        try:
            parser.add_bpmn_str(raw, filename=file_name)
            spec = parser.get_spec(process_id)
            subs = parser.get_subprocess_specs(process_id)
        except ValidationException as exc:
            problems.append(Problem(file_name, getattr(exc, "id", "") or "", str(exc).splitlines()[0]))
        except Exception as exc:  # lxml schema errors and the like
            problems.append(Problem(file_name, "", f"does not parse: {exc}"))
    if problems:
        raise ModelInvalid(problems)
    warnings = [Problem(file_name, eid, message) for eid, message in missing_english(meta)]
    return ParsedModel(process_id, file_name, text, hashlib.sha256(raw).hexdigest(), spec, subs, meta, warnings)


def parse_file(path: Path, policy: dict | None = None, expected_process: str | None = None) -> ParsedModel:
    try:
        display = str(path.relative_to(BPMN_DIR.parent))  # bpmn/shared/x.bpmn, installed or not
    except ValueError:
        display = path.name
    return parse_model(path.read_bytes(), display, policy=policy, expected_process=expected_process)
