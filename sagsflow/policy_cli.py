"""``sagsflow policy``: show, change and apply a municipality's policy.

    sagsflow policy show aaby [fleksjob]
    sagsflow policy set aaby fj_foerste_samtale=P2W --effective-from 2027-03-01 --user aaby.admin
    sagsflow policy history aaby
    sagsflow policy apply aaby fleksjob --user aaby.admin          (dry run: what would move)
    sagsflow policy apply aaby fleksjob --yes --user aaby.admin    (do it)
"""
from __future__ import annotations

from datetime import date

import click
from sqlalchemy import select

from processes import policy_changes, timekeeping
from processes.models import PolicyVersion
from processes.policy import CASE_TYPES, CATALOGUE


def _runtime(ctx):
    from sagsflow.cli import _runtime as runtime  # the group's runtime; imported late (cli imports us)
    return runtime(ctx)


def _local(value, with_time: bool = False) -> str:
    from sagsflow.cli import local
    return local(value, with_time)


def _show_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bound(param) -> str:
    parts = []
    if param.at_most is not None:
        parts.append(f"at most {param.at_most}")
    if param.at_least is not None:
        parts.append(f"at least {param.at_least}")
    return (", ".join(parts) + (" (law)" if param.statutory else " (local)")) if parts else ""


@click.group()
def policy():
    """A municipality's policy: typed parameters with dates, history and statutory bounds."""


@policy.command("show")
@click.argument("municipality")
@click.argument("case_type", required=False, type=click.Choice(CASE_TYPES))
@click.pass_context
def policy_show(ctx, municipality, case_type):
    """Show the policy in force now (and any version dated later) per case type."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        found = policy_changes.municipality_by_key(session, municipality)
        now = timekeeping.now(session)
        for ct in [case_type] if case_type else CASE_TYPES:
            current = policy_changes.in_force(session, found.id, ct, now)
            if current is None:
                click.echo(f"{ct}: no policy")
                continue
            click.echo(f"{ct}: version {current.id}, in force from {_local(current.effective_from)}"
                       f" (set by {current.changed_by or '-'})")
            for param in (p for p in CATALOGUE if p.case_type == ct):
                value = current.values.get(param.key, param.default)
                mark = "" if value == param.default else "  *"
                bound = _bound(param)
                click.echo(f"  {param.key:32} {_show_value(value):8}{mark:3} {param.label}"
                           + (f" [{bound}]" if bound else ""))
            later = session.scalars(select(PolicyVersion).where(
                PolicyVersion.municipality_id == found.id, PolicyVersion.case_type == ct,
                PolicyVersion.effective_from > now).order_by(PolicyVersion.effective_from))
            for version in later:
                changes = {k: v for k, v in version.values.items() if current.values.get(k) != v}
                click.echo(f"  from {_local(version.effective_from)} (version {version.id}): "
                           + ", ".join(f"{k}={_show_value(v)}" for k, v in changes.items()))
    click.echo("(* differs from the default)")


@policy.command("set")
@click.argument("municipality")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--effective-from", "effective_from", required=True,
              help="The date (YYYY-MM-DD) from which new cases use the values.")
@click.option("--user", "username", required=True, help="The administrator making the change (recorded).")
@click.option("--reason", default=None, help="Why the change is made (audited).")
@click.pass_context
def policy_set(ctx, municipality, assignments, effective_from, username, reason):
    """Set KEY=VALUE ... from a date; values that loosen a statutory bound are refused."""
    try:
        day = date.fromisoformat(effective_from)
    except ValueError:
        raise click.UsageError(f"--effective-from is not a date (YYYY-MM-DD): {effective_from!r}") from None
    values = policy_changes.parse_assignments(list(assignments))
    rt = _runtime(ctx)
    with rt.sessions.begin() as session:
        now = timekeeping.now(session)
        created = policy_changes.set_policy(session, municipality, values, day, username, now, reason)
        lines = [f"{v.case_type}: version {v.id} from {day.isoformat()}" for v in created]
    for line in lines:
        click.echo(f"stored {line}")
    click.echo("running cases keep their values; `sagsflow policy apply` moves them")


@policy.command("history")
@click.argument("municipality")
@click.pass_context
def policy_history(ctx, municipality):
    """Every policy version: when it applies from, who set it, what it changed."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        rows = policy_changes.history(session, municipality)
    for row in rows:
        changes = ", ".join(f"{k}: {_show_value(old)} -> {_show_value(new)}" for k, (old, new) in row["changes"].items())
        if row["first"]:
            changes = "initial" + (f" ({changes} vs. defaults)" if changes else " (defaults)")
        click.echo(f"{row['case_type']:17} v{row['id']:<4} from {_local(row['effective_from'])}  "
                   f"by {row['changed_by'] or '-':14} at {_local(row['created_at'], True)}  {changes}")


@policy.command("apply")
@click.argument("municipality")
@click.argument("case_type", type=click.Choice(CASE_TYPES))
@click.option("--dry-run/--yes", "dry_run", default=True, show_default=True,
              help="Only list what would change (default), or apply it.")
@click.option("--user", "username", required=True, help="The administrator applying the change (audited).")
@click.pass_context
def policy_apply(ctx, municipality, case_type, dry_run, username):
    """Move the running cases of CASE_TYPE onto the policy in force now.

    Lists every affected case and how each pending deadline moves; with --yes it is done
    and audited per case."""
    rt = _runtime(ctx)
    if dry_run:
        with rt.sessions() as session:
            policy_changes.require_admin(session, policy_changes.municipality_by_key(session, municipality), username)
        target, changes = policy_changes.plan_apply(rt.engine, municipality, case_type)
    else:
        target, changes = policy_changes.apply(rt.engine, municipality, case_type, username)
    verb = "would move" if dry_run else "moved"
    click.echo(f"{case_type} in {municipality}: {len(changes)} running instance(s) {verb} to policy version {target.id}")
    rows = [(str(c.case_id), f"{c.citizen} ({c.cpr})", str(c.instance_id), m.name, f"{_local(m.old)} -> {_local(m.new)}")
            for c in changes for m in c.moves]
    rows += [(str(c.case_id), f"{c.citizen} ({c.cpr})", str(c.instance_id), "(no pending deadline moves)", "")
             for c in changes if not c.moves]
    if rows:
        rows.insert(0, ("case", "citizen", "instance", "timer", "old date -> new date"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            click.echo(("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4]).rstrip())
    if dry_run and changes:
        click.echo("dry run: nothing changed; run again with --yes to apply")
