"""Task forms: the fields a model defines (camunda:formData) validated with marshmallow.

The same validation serves the CLI, the web form and the REST API. Messages are Danish;
each error is keyed by the field id.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MESSAGES = {
    "required": "Feltet skal udfyldes.",
    "null": "Feltet skal udfyldes.",
    "invalid": "Ugyldig værdi.",
}
_TYPE_MESSAGES = {
    "long": "Skal være et helt tal.",
    "boolean": "Skal være ja eller nej.",
    "date": "Skal være en dato (ÅÅÅÅ-MM-DD).",
    "string": "Skal være tekst.",
}


def _field(spec: dict) -> fields.Field:
    kind = spec["type"]
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
    if "minlength" in spec or "maxlength" in spec:
        validators.append(validate.Length(min=spec.get("minlength"), max=spec.get("maxlength"),
                                          error="Længden skal være mellem {min} og {max} tegn."))
    if required:
        validators.append(validate.Length(min=1, error=MESSAGES["required"]))
    return fields.String(validate=validators, **opts)


def schema_for(form: list[dict]) -> Schema:
    """A marshmallow schema for one task's form; unknown keys are refused."""
    return Schema.from_dict({f["id"]: _field(f) for f in form}, name="TaskForm")()


def validate_form(form: list[dict], data: dict) -> tuple[dict, dict]:
    """Return ``(clean, errors)``. Clean values are JSON-ready (dates as ISO strings)."""
    if not isinstance(data, dict):
        return {}, {"_schema": ["Formularen skal være et JSON-objekt."]}
    cleaned_input = {k: (None if v == "" else v) for k, v in data.items()}
    try:
        loaded = schema_for(form).load(cleaned_input)
    except ValidationError as err:
        errors = {}
        for key, value in err.normalized_messages().items():
            if key in {f["id"] for f in form}:
                errors[key] = value
            else:
                errors[key] = ["Ukendt felt."]
        return {}, errors
    # Gateways may read any field of the form, so every field gets a value: what the
    # user gave, else the model's defaultValue, else None.
    complete = {f["id"]: _default(f) for f in form}
    complete.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in loaded.items()})
    return complete, {}


def _default(spec: dict) -> Any:
    value = spec.get("default")
    if spec["type"] == "boolean":
        return value == "true" if value is not None else False
    if spec["type"] == "long" and value is not None:
        return int(value)
    return value
