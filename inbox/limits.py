"""Request limits: what the web app refuses before it reaches the database.

- Ids in URLs are 32-bit (the database's ``INTEGER``): a larger id matches no route (404)
  instead of overflowing SQLite or PostgreSQL.
- A page number beyond :data:`MAX_PAGE` is a bad request (400).
- A request body is at most :data:`MAX_BODY` bytes (413); JSON is at most
  :data:`MAX_JSON_DEPTH` levels deep (400) and its strings hold no NUL and no lone
  surrogate (400), as neither can be stored in PostgreSQL text.
- A NUL byte in the path, the query or a posted form is refused (400) for the same reason.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from processes.forms import UNSTORABLE

DB_INT_MAX = 2**31 - 1
MAX_PAGE = 1_000_000
MAX_BODY = 1024 * 1024
MAX_JSON_DEPTH = 32


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to the database's id range (a larger id finds nothing: 404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, *args, **kwargs)


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL byte or a lone surrogate), or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    return "NUL byte" if found.group() == "\x00" else "lone surrogate (invalid Unicode)"


def page_number(value: str | None) -> int:
    """A page parameter: 1 when absent or not a number, 400 when beyond :data:`MAX_PAGE`."""
    try:
        page = int(value or 1)
    except ValueError:
        return 1
    if page > MAX_PAGE:
        raise BadRequest(f"page must be at most {MAX_PAGE}")
    return max(1, page)


def load_json(data: bytes) -> Any:
    """Parse a JSON body within the limits above; :class:`BadRequest` says what is wrong."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadRequest(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            for key, child in children:
                if key is not None:
                    stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, str) and (reason := unstorable(item)):
            raise BadRequest(f"JSON text contains a {reason}")
    return value


class LimitedParser(FlaskParser):
    """webargs' parser for the API, reading JSON through :func:`load_json`."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data.strip():
            return core.missing
        return load_json(data)


def _refuse_nul() -> None:
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise BadRequest("the address contains a NUL byte")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if reason := unstorable(key + value):
                raise BadRequest(f"a form field contains a {reason}")


def register(app: Flask) -> None:
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_BODY)
    app.url_map.converters["int"] = IdConverter
    app.before_request(_refuse_nul)
