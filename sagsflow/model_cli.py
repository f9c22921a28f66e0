"""``sagsflow model``: compare model versions and move running cases to the version in force.

    sagsflow model diff fleksjob --municipality boegeby [--against VERSION_ID] [--json]
    sagsflow model migrate fleksjob --municipality boegeby              (dry run: what would move)
    sagsflow model migrate fleksjob --municipality boegeby --yes --user boegeby.procesdesigner
    sagsflow model revert CASE_ID --municipality boegeby --user boegeby.procesdesigner
"""
from __future__ import annotations

import json

import click
from sqlalchemy import select

from processes import migration, studio, timekeeping
from processes.catalogue import version_in_force
from processes.errors import Conflict, NotFound
from processes.library import CASE_TYPES
from processes.models import ModelVersion, Municipality


def _runtime(ctx):
    from sagsflow.cli import _runtime as runtime  # the group's runtime; imported late (cli imports us)
    return runtime(ctx)


def _municipality(session, key: str) -> Municipality:
    found = session.scalar(select(Municipality).where(Municipality.key == key))
    if found is None:
        raise NotFound(f"municipality {key!r} not found")
    return found


def _label(version: ModelVersion) -> str:
    return f"{'shared' if version.municipality_id is None else 'own'} v{version.version} (id {version.id})"


@click.group()
def model():
    """Compare model versions and move running cases to the version in force."""


@model.command("diff")
@click.argument("case_type", type=click.Choice(CASE_TYPES))
@click.option("--municipality", "key", required=True, help="Municipality key.")
@click.option("--against", "against", type=int, help="Version id to compare with (default: the one before).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def model_diff(ctx, case_type, key, against, as_json):
    """What changed between the version in force for new cases and another version."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        municipality = _municipality(session, key)
        now = timekeeping.now(session)
        current = session.get(ModelVersion, version_in_force(session, municipality.id, case_type, now))
        other = (studio.visible_version(session, municipality.id, against) if against is not None
                 else studio.previous_version(session, current, municipality.id))
        rows = studio.diff_facts(other.bpmn_xml, current.bpmn_xml)
        policy = studio.policy_diff(
            other.bpmn_xml, current.bpmn_xml,
            studio.policy_values(session, municipality.id, case_type, studio.version_date(session, other, municipality.id)),
            studio.policy_values(session, municipality.id, case_type, studio.version_date(session, current, municipality.id)))
        labels = (_label(other), _label(current))
    if as_json:
        click.echo(json.dumps({"from": labels[0], "to": labels[1], "changes": rows, "policy": policy},
                              ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{case_type} in {key}: {labels[0]} -> {labels[1]}")
    for r in rows:
        detail = f": {r['old']!s} -> {r['new']!s}" if r["change"] == "changed" else ""
        click.echo(f"  {r['change']:8} {r['element']} ({r['name']}) {r['property']}{detail}")
    for r in policy:
        click.echo(f"  policy   {r['key']}: {r['old']} -> {r['new']}")
    if not rows and not policy:
        click.echo("  no differences")


@model.command("migrate")
@click.argument("case_type", type=click.Choice(CASE_TYPES))
@click.option("--municipality", "key", required=True, help="Municipality key.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Only show what would happen (the default).")
@click.option("--yes", is_flag=True, help="Move every running case that can move, each in its own step.")
@click.option("--case", "case_ids", type=int, multiple=True, help="Only this case (repeatable).")
@click.option("--user", "username", help="Who moves them (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def model_migrate(ctx, case_type, key, dry_run, yes, case_ids, username, as_json):
    """Move running cases of CASE_TYPE to the version in force for new cases."""
    from sagsflow.cli import _actor
    if dry_run and yes:
        raise click.UsageError("--dry-run and --yes exclude each other")
    rt = _runtime(ctx)
    with rt.sessions() as session:
        municipality = _municipality(session, key)
        target = version_in_force(session, municipality.id, case_type, timekeeping.now(session))
        reports = [r for r in migration.dry_run(session, municipality.id, case_type, target)
                   if not case_ids or r.case_id in case_ids]
    results = []
    for report in reports:
        outcome = {"case_id": report.case_id, "instance_id": report.instance_id, "from_version": report.from_version,
                   "status": report.status, "waiting": [w.__dict__ for w in report.waiting], "reasons": report.reasons}
        if yes and report.status != "blocked":
            try:
                migration.migrate_instance(rt.engine, report.instance_id, target, _actor(rt, username))
                outcome["moved"] = True
            except Conflict as exc:
                outcome["moved"], outcome["reasons"] = False, [str(exc)]
        results.append(outcome)
    if as_json:
        click.echo(json.dumps({"target_version_id": target, "cases": results}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{case_type} in {key}: {len(results)} running case(s) on other versions; target version id {target}"
               + ("" if yes else " (dry run: nothing moved; --yes moves them)"))
    for r in results:
        moved = " moved" if r.get("moved") else (" NOT moved" if yes else "")
        click.echo(f"  case {r['case_id']} (from v{r['from_version']}): {r['status']}{moved}")
        for w in r["waiting"]:
            click.echo(f"    waits in {w['bpmn_id']} ({w['name']}): {w['outcome']}")
        for reason in r["reasons"]:
            click.echo(f"    {reason}")


@model.command("revert")
@click.argument("case_id", type=int)
@click.option("--municipality", "key", required=True, help="Municipality key.")
@click.option("--user", "username", help="Who reverts it (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def model_revert(ctx, case_id, key, username, as_json):
    """Put case CASE_ID, moved by `model migrate`, back on its previous version.

    Only while nothing has happened on the new version since the move; otherwise it is
    refused (exit code 1) and the case is left as it is."""
    from sagsflow.cli import _actor
    rt = _runtime(ctx)
    with rt.sessions() as session:
        municipality_id = _municipality(session, key).id
    try:
        result = migration.revert_case(rt.engine, municipality_id, case_id, _actor(rt, username))
    except (Conflict, NotFound) as exc:
        raise click.ClickException(str(exc)) from None
    with rt.sessions() as session:
        result["from_version"] = session.get(ModelVersion, result["from_version_id"]).version
        result["to_version"] = session.get(ModelVersion, result["to_version_id"]).version
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(f"case {case_id} ({result['process']}) is back on v{result['to_version']} "
               f"(id {result['to_version_id']}), from v{result['from_version']} (id {result['from_version_id']})")
