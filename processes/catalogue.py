"""Immutable model versions: store each parsed spec once, cache it per process.

A model version is never edited. Registering the same file again returns the existing
version; a changed file becomes version n+1. Running cases stay on their version.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes.library import ParsedModel
from processes.models import ModelPublication, ModelVersion, MunicipalModel
from processes.serialization import spec_from_json, spec_to_json


@dataclass
class LoadedSpec:
    spec: object
    subprocess_specs: dict
    metadata: dict
    process_id: str


def register_model(session: Session, parsed: ParsedModel, municipality_id: int | None, now) -> ModelVersion:
    """Store ``parsed`` as a new model version unless the newest version is identical."""
    scope = (ModelVersion.municipality_id.is_(None) if municipality_id is None
             else ModelVersion.municipality_id == municipality_id)
    latest = session.scalars(
        select(ModelVersion).where(scope, ModelVersion.process_id == parsed.process_id)
        .order_by(ModelVersion.version.desc()).limit(1)).first()
    if latest is not None and latest.sha256 == parsed.sha256:
        return latest
    version = ModelVersion(
        municipality_id=municipality_id, process_id=parsed.process_id,
        version=(latest.version + 1) if latest else 1, sha256=parsed.sha256,
        file_name=parsed.file_name, bpmn_xml=parsed.xml,
        spec_json=spec_to_json(parsed.spec, parsed.subprocess_specs),
        metadata_json=parsed.metadata, created_at=now)
    session.add(version)
    session.flush()
    return version


def version_in_force(session: Session, municipality_id: int, case_type: str, now) -> int | None:
    """The model version id a municipality's new case of ``case_type`` starts on at ``now``:
    the newest publication (studio, or a changed folder) effective by then, else the
    registered folder's choice; None if the municipality does not run the case type."""
    published = session.scalar(
        select(ModelPublication.model_version_id)
        .where(ModelPublication.municipality_id == municipality_id, ModelPublication.case_type == case_type,
               ModelPublication.effective_from <= now)
        .order_by(ModelPublication.effective_from.desc(), ModelPublication.id.desc()).limit(1))
    if published is not None:
        return published
    choice = session.get(MunicipalModel, (municipality_id, case_type))
    return choice.model_version_id if choice is not None else None


class SpecCache:
    """Parsed specs by model version id; specs are immutable, so the cache never expires."""

    def __init__(self):
        self._specs: dict[int, LoadedSpec] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, version_id: int) -> LoadedSpec:
        """The parsed spec of a model version, read from the database once per process."""
        loaded = self._specs.get(version_id)
        if loaded is None:
            version = session.get(ModelVersion, version_id)
            spec, subs = spec_from_json(version.spec_json)
            loaded = LoadedSpec(spec, subs, version.metadata_json, version.process_id)
            with self._lock:
                self._specs.setdefault(version_id, loaded)
        return self._specs[version_id]


def model_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ModelVersion))
