"""Task forms: the fields a model defines (camunda:formData) validated with marshmallow.

The same validation serves the CLI, the web form and the REST API. Messages are Danish;
each error is keyed by the field id, so every page shows it next to its field.

Besides the types and constraints, a field may declare (``docs/modelling.md``):
- ``past_only`` (date fields): a date after today, the case clock's Danish date, is refused;
- ``check`` / ``check_message``: a restricted expression over the submitted data merged
  over the task data; falsy (or failing) shows ``check_message`` next to the field;
- type ``list`` with ``item_fields``: a list of dicts (blank rows dropped), each item
  validated by its own little schema; errors name the row and the column.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MESSAGES = {
    "required": "Feltet skal udfyldes.",
    "null": "Feltet skal udfyldes.",
    "invalid": "Ugyldig værdi.",
}
# Text fields without a declared maxlength: one line, or a multiline text.
DEFAULT_MAXLENGTH = 500
DEFAULT_MULTILINE_MAXLENGTH = 10_000
UNSTORABLE_MESSAGE = "Teksten indeholder et tegn, der ikke kan gemmes (NUL eller ugyldig Unicode)."
# NUL cannot be stored in PostgreSQL text; a lone surrogate is not Unicode text at all.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TYPE_MESSAGES = {
    "long": "Skal være et helt tal.",
    "boolean": "Skal være ja eller nej.",
    "date": "Skal være en dato (ÅÅÅÅ-MM-DD).",
    "string": "Skal være tekst.",
}


CHECK_FAILED = "Værdien passer ikke med de andre oplysninger."
PAST_ONLY = "Datoen må ikke ligge efter i dag ({today})."
LIST_TYPE = "Skal være en liste af rækker."


def _field(spec: dict) -> fields.Field:
    kind = spec["type"]
    if kind == "list":
        return fields.Raw(required=bool(spec.get("required")), allow_none=True,
                          error_messages=dict(MESSAGES))
    required = bool(spec.get("required"))
    messages = dict(MESSAGES, invalid=_TYPE_MESSAGES.get(kind, MESSAGES["invalid"]))
    opts: dict[str, Any] = {"required": required, "allow_none": not required, "error_messages": messages}
    validators = []
    if kind == "long":
        if "min" in spec or "max" in spec:
            validators.append(validate.Range(min=spec.get("min"), max=spec.get("max"),
                                             error="Skal være mellem {min} og {max}."))
        return fields.Integer(strict=False, validate=validators, **opts)
    if kind == "boolean":
        return fields.Boolean(**opts)
    if kind == "date":
        return fields.Date(**opts)
    if kind == "enum":
        choices = [o["id"] for o in spec.get("options", [])]
        validators.append(validate.OneOf(choices, error="Vælg en af de mulige værdier."))
        return fields.String(validate=validators, **opts)
    validators.append(_length(spec.get("minlength"), maxlength(spec)))
    validators.append(storable_text)
    if required:
        validators.append(validate.Length(min=1, error=MESSAGES["required"]))
    return fields.String(validate=validators, **opts)


def maxlength(spec: dict) -> int:
    """The most characters a text field takes: its declared maxlength or the default."""
    if spec.get("maxlength") is not None:
        return int(spec["maxlength"])
    return DEFAULT_MULTILINE_MAXLENGTH if spec.get("multiline") else DEFAULT_MAXLENGTH


def _length(minimum: int | None, maximum: int) -> validate.Length:
    if minimum is None:
        return validate.Length(max=maximum, error="Højst {max} tegn.")
    return validate.Length(min=minimum, max=maximum, error="Længden skal være mellem {min} og {max} tegn.")


def storable_text(value: str) -> None:
    """Refuse a NUL byte or a lone surrogate (marshmallow validator)."""
    if UNSTORABLE.search(value):
        raise ValidationError(UNSTORABLE_MESSAGE)


def text_errors(value: str, maximum: int) -> list[str]:
    """Danish messages for a free-text value outside a form (empty when it is fine)."""
    try:
        _length(None, maximum)(value)
        storable_text(value)
    except ValidationError as err:
        return list(err.messages)
    return []


# Schemas of the forms seen last, by the form list's identity (a model's form is read-only
# once parsed): building a marshmallow schema costs more than loading a form with it.
_SCHEMAS: dict[int, tuple[list, Schema]] = {}
_SCHEMAS_KEPT = 256


def schema_for(form: list[dict]) -> Schema:
    """A marshmallow schema for one task's form; unknown keys are refused."""
    cached = _SCHEMAS.get(id(form))
    if cached is not None and cached[0] is form:
        return cached[1]
    schema = Schema.from_dict({f["id"]: _field(f) for f in form}, name="TaskForm")()
    if len(_SCHEMAS) >= _SCHEMAS_KEPT:
        _SCHEMAS.clear()
    _SCHEMAS[id(form)] = (form, schema)
    return schema


def _blank(value: Any) -> bool:
    return value is None or value == "" or value is False


def _list_value(spec: dict, value: Any) -> tuple[list[dict], list[str]]:
    """Validate a list field's rows; blank rows are dropped. Returns ``(rows, errors)``."""
    if value is None:
        return [], []
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        return [], [LIST_TYPE]
    items = spec.get("items", [])
    keys = {item["id"] for item in items}
    item_schema = schema_for(items)
    rows, errors = [], []
    for number, row in enumerate(value, start=1):
        if all(_blank(v) for v in row.values()):
            continue
        unknown = sorted(set(row) - keys)
        if unknown:
            errors.append(f"Række {number}: ukendt kolonne {', '.join(unknown)}.")
            continue
        try:
            loaded = item_schema.load({k: (None if v == "" else v) for k, v in row.items()})
        except ValidationError as err:
            labels = {item["id"]: item["label"] for item in items}
            for key, messages in sorted(err.normalized_messages().items()):
                errors.append(f"Række {number}, {labels.get(key, key)}: {' '.join(messages)}")
            continue
        clean = {item["id"]: _default(item) for item in items}
        clean.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in loaded.items()})
        rows.append(clean)
    if spec.get("required") and not rows and not errors:
        errors.append("Udfyld mindst én række.")
    return rows, errors


def validate_form(form: list[dict], data: dict, today: str | None = None) -> tuple[dict, dict]:
    """Return ``(clean, errors)``. Clean values are JSON-ready (dates as ISO strings).

    ``today`` (ISO date, the case clock's Danish date) enables ``past_only``.
    """
    if not isinstance(data, dict):
        return {}, {"_schema": ["Formularen skal være et JSON-objekt."]}
    cleaned_input = {k: (None if v == "" else v) for k, v in data.items()}
    errors: dict[str, list[str]] = {}
    loaded: dict = {}
    try:
        loaded = schema_for(form).load(cleaned_input)
    except ValidationError as err:
        for key, value in err.normalized_messages().items():
            if key in {f["id"] for f in form}:
                errors[key] = value
            else:
                errors[key] = ["Ukendt felt."]
    # Gateways may read any field of the form, so every field gets a value: what the
    # user gave, else the model's defaultValue, else None.
    complete = {f["id"]: _default(f) for f in form}
    complete.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in loaded.items()})
    for spec in form:
        fid = spec["id"]
        if fid in errors:
            continue
        if spec["type"] == "list":
            rows, problems = _list_value(spec, loaded.get(fid))
            complete[fid] = rows
            if problems:
                errors[fid] = problems
        elif spec.get("past_only") and today and complete.get(fid) and complete[fid] > today:
            errors[fid] = [PAST_ONLY.format(today=today)]
    if errors:
        return {}, errors
    return complete, {}


def check_form(form: list[dict], clean: dict, task_data: dict) -> dict:
    """The cross-field ``check`` of every field, over ``clean`` merged over ``task_data``.

    Returns errors keyed by field id (``check_message``, Danish). A check that raises
    (e.g. compares an empty optional field) counts as failed: write ``not x or ...``
    for optional fields.
    """
    checks = [spec for spec in form if spec.get("check")]
    if not checks:
        return {}
    env = _check_environment()
    context = {**{k: v for k, v in task_data.items() if not k.startswith("_")}, **clean}
    errors = {}
    for spec in checks:
        try:
            ok = env.evaluate(spec["check"], context)   # (evaluate changes neither context nor env)
        except Exception:  # noqa: BLE001 - any failure of a model's check refuses the value
            ok = False
        if not ok:
            errors[spec["id"]] = [spec.get("check_message") or CHECK_FAILED]
    return errors


_ENVIRONMENT: list = []


def _check_environment():
    """One restricted environment for all checks (``RestrictedEnvironment.evaluate`` reads
    its globals and never changes them)."""
    if not _ENVIRONMENT:
        from processes.scripting import RestrictedEnvironment
        _ENVIRONMENT.append(RestrictedEnvironment())
    return _ENVIRONMENT[0]


def _default(spec: dict) -> Any:
    value = spec.get("default")
    if spec["type"] == "boolean":
        return value == "true" if value is not None else False
    if spec["type"] == "long" and value is not None:
        return int(value)
    if spec["type"] == "list":
        return []
    return value
