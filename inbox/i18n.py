"""Language: Danish by default; a user may switch to English (kept in the session)."""
from __future__ import annotations

from flask import session

LANGUAGES = {"da": "Dansk", "en": "English"}


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "da"
