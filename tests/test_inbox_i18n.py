"""Every UI message (Danish) has an English translation in the compiled catalogue."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo

ROOT = Path(__file__).resolve().parent.parent
INBOX = ROOT / "inbox"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}
# Texts outside inbox/ that the web app translates (scripts/translations extracts them too).
ELSEWHERE = [ROOT / "processes" / "notices.py"]


def ui_messages() -> set:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(INBOX), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            keywords=KEYWORDS, options_map={"templates/**.html": {"extensions": "jinja2.ext.do"}}):
        found.add(message)
    for path in ELSEWHERE:
        found.update(message for _line, message, _comments, _context in extract_from_file("python", str(path),
                                                                                         keywords=KEYWORDS))
    return found


def test_every_message_has_english_in_the_compiled_catalogue():
    with open(INBOX / "translations" / "en" / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = read_mo(f)
    messages = ui_messages()
    assert len(messages) > 100
    missing = []
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        entry = compiled.get(key)
        translated = entry is not None and (all(entry.string) if isinstance(entry.string, tuple) else entry.string)
        if not translated:
            missing.append(message)
    assert not missing, ("messages without English (add them to inbox/translations/english.py or en_<area>.py "
                         f"and run scripts/translations): {sorted(map(str, missing))}")
