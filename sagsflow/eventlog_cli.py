"""``sagsflow eventlog export``: a municipality's event log for process-mining tools.

    sagsflow eventlog export aaby --format xes --out aaby.xes
    sagsflow eventlog export aaby --format ocel --out aaby.jsonocel
    sagsflow eventlog export aaby --format csv --out aaby.csv

CPR numbers are pseudonymised with a keyed hash (``processes/eventlog.py``): a new
random key per export, or the key in ``SAGSFLOW_EVENTLOG_KEY`` for pseudonyms that stay
the same across exports. Every export is audited (``eventlog.export``).
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy import select

from processes import eventlog, timekeeping
from processes.engine import Actor, Engine
from processes.errors import Forbidden
from processes.models import User

KEY_VARIABLE = "SAGSFLOW_EVENTLOG_KEY"


def _runtime(ctx):
    from sagsflow.cli import _runtime as runtime  # the group's runtime; imported late (cli imports us)
    return runtime(ctx)


@click.group("eventlog")
def eventlog_group():
    """Event logs for process mining (XES, OCEL 2.0, CSV)."""


@eventlog_group.command("export")
@click.argument("municipality")
@click.option("--format", "fmt", type=click.Choice(eventlog.FORMATS), required=True,
              help="xes (IEEE 1849), ocel (OCEL 2.0 JSON) or csv.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write.")
@click.option("--user", "username", default=None,
              help="Export as this user (must belong to the municipality); audited as them.")
@click.pass_context
def eventlog_export(ctx, municipality, fmt, out, username):
    """Write MUNICIPALITY's event log (tasks, process starts and ends, milestones, breached
    deadlines, letters) to FILE; CPR numbers pseudonymised."""
    rt = _runtime(ctx)
    secret = os.environ.get(KEY_VARIABLE)
    key = secret.encode("utf-8") if secret else eventlog.new_key()
    with rt.sessions.begin() as session:
        now = timekeeping.now(session)
        actor = Actor.system("cli")
        if username:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise click.UsageError(f"unknown user {username!r}")
            actor = Actor.for_user(user)
        log = eventlog.collect(session, municipality, key, now)
        mid = log.municipality_id
        if not actor.is_system and actor.municipality_id != mid:
            raise Forbidden(f"{username} cannot export {municipality}'s event log")
        data = eventlog.render(log, fmt)
        Engine.audit(session, actor, "eventlog.export", mid, None, None,
                     {"format": fmt, "events": len(log.events), "cases": len(log.cases),
                      "stable_key": bool(secret)}, now)
    out.write_bytes(data)
    click.echo(f"{len(log.events)} events of {len(log.cases)} cases written to {out} ({fmt})")
