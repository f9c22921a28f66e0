"""Form values a user could submit, generated from a task's form definition.

Shared by the letter explorer (``tests/letter_walks.py``, which walks every branch a form
can choose) and the demo history driver (:mod:`processes.history`, which plays the
caseworkers): one place that knows what a plausible value of each field type is.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def item_value(item: dict) -> Any:
    """A value for one column of a list field's row."""
    if item["type"] == "long":
        return 1
    if item["type"] == "boolean":
        return False
    if item["type"] == "date":
        return None
    if item["type"] == "enum":
        return item["options"][0]["id"]
    return "Eksempel"


def base_value(spec: dict, today: str) -> Any:
    """The plain value of a field: the first option, today's date, a short text; a
    confirmation the form checks (oral partshøring held, the citizen was told ...) given."""
    kind = spec["type"]
    if kind == "enum":
        return spec["options"][0]["id"]
    if kind == "boolean":
        return True if spec.get("check") else spec.get("default") == "true"
    if kind == "date":
        return today
    if kind == "long":
        return max(spec.get("min", 10), min(spec.get("max", 10), 10))
    if kind == "list":
        return [{item["id"]: item_value(item) for item in spec.get("items", [])}] if spec.get("items") else []
    return f"Eksempel på {spec.get('label') or spec['id']}".lower()


def form_variants(form: list[dict], today: str) -> list[dict]:
    """A base submission plus one variant per other enum option, per flipped boolean and
    per date moved 4 weeks ahead (variants the form refuses are dropped by the caller)."""
    base = {spec["id"]: base_value(spec, today) for spec in form}
    variants = [base]
    for spec in form:
        if spec["type"] == "enum":
            for option in spec["options"][1:]:
                variants.append({**base, spec["id"]: option["id"]})
        elif spec["type"] == "boolean":
            variants.append({**base, spec["id"]: not base[spec["id"]]})
        elif spec["type"] == "date":
            # a date some weeks ahead: bookings and planned dates that must lie after a lead time
            later = (date.fromisoformat(today) + timedelta(days=28)).isoformat()
            variants.append({**base, spec["id"]: later})
    return variants
