"""Model texts in the reader's language: the English a model declares beside its Danish.

A model carries Danish names and labels, and the English beside them as properties
(``docs/modelling.md``, "English"); :mod:`processes.library` puts both in a model
version's metadata (``name_en`` on tasks and timers, ``label_en`` / ``name_en`` on form
fields, enum values and list columns, ``check_message_en``, ``label_en`` on ``show``
entries, ``names_en`` for every element). Here they are chosen by language, always
falling back to the Danish where the English is missing.

Rows that store a task's or timer's Danish name (``human_task.name``, ``timer.name``)
are translated with :class:`NameIndex`: the English of ``(process, bpmn id, Danish name)``
in the newest model version that declares it, the municipality's own models before the
shared ones. It is built once per set of model versions (they are immutable; a new
registration or publication adds a row and the index is rebuilt).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.models import ModelVersion

ENGLISH = "en"


def _pick(obj: dict, key: str, language: str) -> Any:
    if language == ENGLISH and obj.get(f"{key}_en"):
        return obj[f"{key}_en"]
    return obj.get(key)


def localize_field(spec: dict, language: str) -> dict:
    """A form field spec with its label, enum values, list columns and check message in
    ``language`` (a copy; Danish is returned as it is)."""
    if language != ENGLISH:
        return spec
    out = dict(spec, label=_pick(spec, "label", language))
    if spec.get("check_message"):
        out["check_message"] = _pick(spec, "check_message", language)
    if spec.get("options"):
        out["options"] = [dict(o, name=_pick(o, "name", language)) for o in spec["options"]]
    if spec.get("items"):
        out["items"] = [localize_field(item, language) for item in spec["items"]]
    return out


def localize_form(form: list[dict], language: str) -> list[dict]:
    """A task's form (the model's field specs) in ``language``."""
    if language != ENGLISH:
        return form
    return [localize_field(spec, language) for spec in form]


def name_in(meta: dict | None, language: str, default: str = "") -> str:
    """The name of a task or timer (its metadata) in ``language``."""
    if not meta:
        return default
    return _pick(meta, "name", language) or default


@dataclass
class NameIndex:
    """English of task and timer names: ``(process id, bpmn id, Danish) -> {municipality id
    or None (shared): English}``, newest model version winning."""

    built_for: tuple = ()
    names: dict[tuple[str, str, str], dict[int | None, str]] = field(default_factory=dict)

    def add(self, municipality_id: int | None, process_id: str, metadata: dict) -> None:
        for group in ("tasks", "timers"):
            for bpmn_id, item in (metadata.get(group) or {}).items():
                if item.get("name_en") and item.get("name"):
                    self.names.setdefault((process_id, bpmn_id, item["name"]), {})[municipality_id] = item["name_en"]

    def english(self, process_id: str, bpmn_id: str, danish: str, municipality_id: int | None = None) -> str:
        """The English of a stored name, or the Danish when no model declares it."""
        found = self.names.get((process_id, bpmn_id, danish))
        if not found:
            return danish
        return found.get(municipality_id) or found.get(None) or next(iter(found.values()))

    def name(self, row: Any, language: str) -> str:
        """A row's (``HumanTask``, ``Timer`` with ``process_id``) name in ``language``."""
        if language != ENGLISH:
            return row.name
        return self.english(row.process_id, row.bpmn_id, row.name, getattr(row, "municipality_id", None))


_INDEX = NameIndex()
_LOCK = threading.Lock()


def name_index(session: Session) -> NameIndex:
    """The index for the model versions in the database (rebuilt when a version is added)."""
    global _INDEX
    # The database and its versions (a few dozen short rows): cheap to read per page, and
    # two databases (tests, a CLI next to the web app) never share a stale index.
    stamp = (str(session.get_bind().url),
             tuple(session.execute(select(ModelVersion.id, ModelVersion.sha256).order_by(ModelVersion.id))))
    if _INDEX.built_for == stamp:
        return _INDEX
    with _LOCK:
        if _INDEX.built_for != stamp:
            index = NameIndex(stamp)
            for mid, process_id, metadata in session.execute(
                    select(ModelVersion.municipality_id, ModelVersion.process_id, ModelVersion.metadata_json)
                    .order_by(ModelVersion.id)):
                index.add(mid, process_id, metadata or {})
            _INDEX = index
    return _INDEX


def localize_errors(form: list[dict], errors: dict[str, list[str]], language: str) -> dict[str, list[str]]:
    """A form's errors with each field's ``check_message`` (the Danish the engine reports)
    in ``language``; other messages as they are."""
    if language != ENGLISH:
        return errors
    english = {spec["id"]: (spec["check_message"], spec["check_message_en"]) for spec in form
               if spec.get("check_message") and spec.get("check_message_en")}
    out = {}
    for key, messages in errors.items():
        danish, translated = english.get(key, (None, None))
        out[key] = [translated if danish is not None and message == danish else message for message in messages]
    return out


def english_names(root) -> None:
    """Give every element of a parsed model (an lxml root) the English name its model
    declares beside the Danish (``name_en``), in place: a diagram in English."""
    from processes.library import NAME_EN, _q
    extension = _q("bpmn:extensionElements")
    for prop in root.iter(_q("camunda:property")):
        if (prop.get("name") or prop.get("id")) != NAME_EN or not (prop.get("value") or "").strip():
            continue
        holder = prop.getparent().getparent()  # property < properties < extensionElements < element
        if holder is not None and holder.tag == extension and holder.getparent().get("name") is not None:
            holder.getparent().set("name", prop.get("value").strip())
