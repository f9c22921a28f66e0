"""A municipality's configuration from files: models per case type and a policy.

Folder format (``docs/municipalities.md``)::

    municipality.json   {"key", "name", "models": {case_type: "shared" | file},
                         "policy": {"effective_from": "YYYY-MM-DD", "values": {...}}}
    *.bpmn              the municipality's own models (process id = case type)

:func:`load_folder` validates everything before :func:`register` stores anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.catalogue import register_model
from processes.library import BPMN_DIR, CASE_TYPES, ModelInvalid, ParsedModel, Problem, parse_file
from processes.errors import Conflict
from processes.models import ModelPublication, ModelVersion, Municipality, MunicipalModel, PolicyVersion
from processes.policy import check_policy, defaults, split_by_case_type
from processes.scripting import LOCAL_TZ

SHARED_DIR = BPMN_DIR / "shared"


@dataclass
class MunicipalityConfig:
    key: str
    name: str
    effective_from: datetime
    policy_values: dict
    policies: dict[str, dict]
    models: dict[str, tuple[ParsedModel, bool]]  # case type -> (model, shared?)
    folder: Path


def load_folder(folder: Path, shared_dir: Path = SHARED_DIR) -> MunicipalityConfig:
    """Read and validate a municipality folder; raise ModelInvalid naming every problem."""
    folder = Path(folder)
    config_file = folder / "municipality.json"
    name = str(config_file)
    if not config_file.is_file():
        raise ModelInvalid([Problem(str(folder), "", "no municipality.json in the folder")])
    if not _inside(folder, config_file):
        raise ModelInvalid([Problem(name, "", "municipality.json is a link out of the folder")])
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelInvalid([Problem(name, "", f"invalid JSON: {exc}")]) from None
    problems: list[Problem] = []
    key, display = raw.get("key"), raw.get("name")
    if not isinstance(key, str) or not key.isidentifier() or key != key.lower():
        problems.append(Problem(name, "key", f"key must be a lower-case identifier, got {key!r}"))
    if not isinstance(display, str) or not display.strip():
        problems.append(Problem(name, "name", "name is required"))
    policy = raw.get("policy") or {}
    values = policy.get("values") or {}
    try:
        effective = date.fromisoformat(policy.get("effective_from", "2000-01-01"))
    except (TypeError, ValueError):
        problems.append(Problem(name, "policy.effective_from", "must be a date YYYY-MM-DD"))
        effective = date(2000, 1, 1)
    for problem in check_policy(values):
        problems.append(Problem(name, "policy", problem))
    policies = split_by_case_type({k: v for k, v in values.items() if not any(
        p.element == "policy" and p.message.startswith(f"{k}:") for p in problems)})
    models: dict[str, tuple[ParsedModel, bool]] = {}
    choices = raw.get("models") or {}
    for case_type in choices:
        if case_type not in CASE_TYPES:
            problems.append(Problem(name, f"models.{case_type}", "unknown case type"))
    for case_type in CASE_TYPES:
        choice = choices.get(case_type, "shared")
        shared = choice == "shared"
        if not shared and (not isinstance(choice, str) or not _inside(folder, folder / choice)):
            problems.append(Problem(name, f"models.{case_type}", f"model file {choice!r} is outside the "
                                                                  "municipality's folder"))
            continue
        path = shared_dir / f"{case_type}.bpmn" if shared else folder / choice
        if case_type not in choices and not path.is_file():
            continue  # a case type the municipality does not run
        if not path.is_file():
            problems.append(Problem(name, f"models.{case_type}", f"model file {choice!r} not found"))
            continue
        try:
            models[case_type] = (parse_file(path, policy=policies[case_type], expected_process=case_type), shared)
        except ModelInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise ModelInvalid(problems)
    # A Danish date: the policy applies from midnight in Copenhagen.
    starts = datetime.combine(effective, datetime.min.time(), LOCAL_TZ).astimezone(timezone.utc)
    return MunicipalityConfig(key, display, starts,
                              values, policies, models, folder)


def _inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (symbolic links resolved) lies inside ``folder``; checked before
    the file is opened, so ``../../etc/passwd`` or a link out of the folder is never read."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _label(version: ModelVersion) -> str:
    return f"{'shared' if version.municipality_id is None else Path(version.file_name).name} v{version.version}"


def register(session: Session, config: MunicipalityConfig, now: datetime, changed_by: str = "system",
             update: bool = False) -> Municipality:
    """Store a validated configuration: municipality, model versions, model choice, policy.

    A key that is already registered is refused (:class:`Conflict`) unless ``update`` is
    set. Every registration and update is audited (``municipality.register`` and
    ``municipality.update``): who, and what changed (name, model versions, policy values).
    """
    from processes.engine import Actor, Engine  # the engine imports this module's neighbours
    municipality = session.scalar(select(Municipality).where(Municipality.key == config.key))
    existed = municipality is not None
    if existed and not update:
        raise Conflict(f"municipality {config.key!r} is already registered; add --update to change it")
    changes: dict = {"key": config.key}
    if municipality is None:
        municipality = Municipality(key=config.key, name=config.name, created_at=now, config={})
        session.add(municipality)
        session.flush()
        changes["name"] = config.name
    elif municipality.name != config.name:
        changes["name"] = [municipality.name, config.name]
    municipality.name = config.name
    models: dict = {}
    policies: dict = {}
    for case_type, (parsed, shared) in sorted(config.models.items()):
        version = register_model(session, parsed, None if shared else municipality.id, now)
        choice = session.get(MunicipalModel, (municipality.id, case_type))
        if choice is None:
            session.add(MunicipalModel(municipality_id=municipality.id, case_type=case_type,
                                       model_version_id=version.id))
            models[case_type] = [None, _label(version)] if existed else _label(version)
        elif choice.model_version_id != version.id:
            models[case_type] = [_label(session.get(ModelVersion, choice.model_version_id)), _label(version)]
            choice.model_version_id = version.id
            # A changed folder is a publication too: it wins over earlier studio publications.
            session.add(ModelPublication(municipality_id=municipality.id, case_type=case_type,
                                         model_version_id=version.id, effective_from=now,
                                         comment="municipality add --update", scenarios=[],
                                         published_by=changed_by, published_at=now))
        policy_values = config.policies[case_type]
        current = session.scalars(select(PolicyVersion).where(
            PolicyVersion.municipality_id == municipality.id, PolicyVersion.case_type == case_type)
            .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()).limit(1)).first()
        old_values = current.values if current is not None else defaults(case_type)
        changed = {k: [old_values.get(k), v] for k, v in sorted(policy_values.items()) if old_values.get(k) != v}
        if changed:
            policies[case_type] = changed
        # The folder's version is stored once: registering the folder again (``sagsflow
        # init``) must not undo a later ``policy set``; a folder with new values adds a version.
        same_date = session.scalars(select(PolicyVersion).where(
            PolicyVersion.municipality_id == municipality.id, PolicyVersion.case_type == case_type,
            PolicyVersion.effective_from == config.effective_from))
        if not any(v.values == policy_values for v in same_date):
            session.add(PolicyVersion(municipality_id=municipality.id, case_type=case_type,
                                      effective_from=config.effective_from, values=policy_values,
                                      changed_by=changed_by, created_at=now))
    if models:
        changes["models"] = models
    if policies:
        changes["policy"] = policies
    Engine.audit(session, Actor(name=changed_by), "municipality.update" if existed else "municipality.register",
                 municipality.id, None, None, changes, now)
    session.flush()
    return municipality


def reference_folders() -> list[Path]:
    root = BPMN_DIR / "municipalities"
    return sorted(p for p in root.iterdir() if (p / "municipality.json").is_file()) if root.is_dir() else []
