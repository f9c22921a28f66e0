"""Variants to simulate: a model per case type and the policy it runs under.

A variant is written as

- ``KEY``: a registered municipality (its model versions and policy in force, read from
  the database when one is given, else the shipped reference folder of that key);
  ``standard`` is the shared models under the catalogue's default policy;
- ``KEY:PARAM=VALUE[,PARAM=VALUE...]``: the same with a proposed policy change, checked
  as ``sagsflow policy set`` checks it (statutory bounds, types);
- a folder on disk (a draft): validated as ``sagsflow municipality add`` validates it,
  without storing anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from processes.catalogue import LoadedSpec, SpecCache, version_in_force
from processes.errors import InvalidInput, NotFound
from processes.library import BPMN_DIR, CASE_TYPES, ModelInvalid, parse_file
from processes.municipalities import SHARED_DIR, load_folder
from processes.policy import BY_KEY, check_policy, defaults

STANDARD = "standard"


@dataclass
class Variant:
    name: str                                   # as written by the user
    municipality: str                           # the key the case data carries (sag.kommune)
    models: dict[str, LoadedSpec]               # case type -> model
    policies: dict[str, dict]                   # case type -> complete policy values
    source: str = ""                            # where it came from (database, folder, ...)
    changes: dict = field(default_factory=dict)  # the proposed policy change, if any

    def policy_value(self, key: str):
        return self.policies.get(BY_KEY[key].case_type, {}).get(key)


def _loaded(parsed) -> LoadedSpec:
    return LoadedSpec(parsed.spec, parsed.subprocess_specs, parsed.metadata, parsed.process_id)


def _standard() -> Variant:
    models, policies = {}, {}
    for case_type in CASE_TYPES:
        path = SHARED_DIR / f"{case_type}.bpmn"
        if path.is_file():
            policies[case_type] = defaults(case_type)
            models[case_type] = _loaded(parse_file(path, policy=policies[case_type], expected_process=case_type))
    return Variant(STANDARD, STANDARD, models, policies, source="shared models, default policy")


def _from_folder(name: str, folder: Path) -> Variant:
    try:
        config = load_folder(folder)
    except ModelInvalid as exc:
        raise InvalidInput(f"variant {name}: the folder is refused", {name: [str(p) for p in exc.problems]}) from None
    return Variant(name, config.key, {ct: _loaded(parsed) for ct, (parsed, _shared) in config.models.items()},
                   {ct: dict(config.policies[ct]) for ct in config.models}, source=f"folder {folder}")


def _from_database(name: str, key: str, sessions, now: datetime) -> Variant | None:
    from sqlalchemy import select

    from processes.engine import Engine
    from processes.models import Municipality
    specs = SpecCache()
    with sessions() as session:
        municipality = session.scalar(select(Municipality).where(Municipality.key == key))
        if municipality is None:
            return None
        models, policies = {}, {}
        for case_type in CASE_TYPES:
            version_id = version_in_force(session, municipality.id, case_type, now)
            if version_id is None:
                continue
            models[case_type] = specs.get(session, version_id)
            policy = Engine.current_policy(session, municipality.id, case_type, now)
            policies[case_type] = {**defaults(case_type), **(dict(policy.values) if policy else {})}
    return Variant(name, key, models, policies, source="registered municipality")


def parse_changes(text: str) -> dict:
    from processes.policy_changes import parse_assignments
    return parse_assignments([part for part in text.split(",") if part.strip()])


def with_policy(variant: Variant, changes: dict, name: str | None = None) -> Variant:
    """``variant`` under a proposed policy change (refused as ``policy set`` refuses it)."""
    complete = {k: v for values in variant.policies.values() for k, v in values.items()}
    problems = check_policy(changes, complete)
    if problems:
        raise InvalidInput(f"variant {name or variant.name}: the policy change is refused",
                           {name or variant.name: problems})
    policies = {ct: dict(values) for ct, values in variant.policies.items()}
    for key, value in changes.items():
        case_type = BY_KEY[key].case_type
        if case_type in policies:
            policies[case_type][key] = value
    return Variant(name or variant.name, variant.municipality, variant.models, policies,
                   source=variant.source, changes={**variant.changes, **changes})


def resolve(text: str, sessions=None, now: datetime | None = None, policy: dict[str, dict] | None = None) -> Variant:
    """The variant ``text`` names (see the module doc); ``policy`` maps a variant key to a
    policy change (``--policy KEY:PARAM=VALUE``)."""
    text = text.strip()
    if not text:
        raise InvalidInput("an empty variant")
    base_text, _, change_text = text.partition(":") if not Path(text).is_dir() else (text, "", "")
    folder = Path(base_text)
    if ("/" in base_text or folder.is_dir()) and folder.is_dir():
        variant = _from_folder(text, folder)
    elif base_text == STANDARD:
        variant = _standard()
    else:
        variant = None
        if sessions is not None:
            variant = _from_database(base_text, base_text, sessions, now or datetime.now().astimezone())
        if variant is None:
            reference = BPMN_DIR / "municipalities" / base_text
            if not (reference / "municipality.json").is_file():
                raise NotFound(f"variant {base_text!r}: no such municipality or folder")
            variant = _from_folder(base_text, reference)
            variant.source = "reference folder"
        variant.name = base_text
    changes = dict((policy or {}).get(variant.name, {}))
    if change_text:
        changes.update(parse_changes(change_text))
    if changes:
        variant = with_policy(variant, changes, name=text)
    return variant
