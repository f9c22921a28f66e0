"""``sagsflow kpi``: a municipality's manager measures beside others' and the national figure.

    sagsflow kpi aaby
    sagsflow kpi aaby --compare boegeby,cederholm --from 2027-01-01 --to 2027-12-31
    sagsflow kpi aaby --case-type rehabilitering --json

The figures are ``processes.analytics.compare``'s: other municipalities and the nation
aggregated and suppressed ("<5"), exactly as on the Sammenlign page and in the API.
"""
from __future__ import annotations

import json
from datetime import date

import click

from processes import analytics, timekeeping
from processes.scripting import danish_date


def _runtime(ctx):
    from sagsflow.cli import _runtime as runtime  # the group's runtime; imported late (cli imports us)
    return runtime(ctx)


@click.command("kpi")
@click.argument("municipality")
@click.option("--compare", "others", default="", help="Other municipalities to show beside it (KEY,KEY).")
@click.option("--from", "start", default=None, help="First day of the period (YYYY-MM-DD; default 12 months back).")
@click.option("--to", "end", default=None, help="Last day of the period (YYYY-MM-DD; default today).")
@click.option("--case-type", default=None, help="Only cases of this type (the process they started with).")
@click.option("--model-version", type=int, default=None, help="Only own cases on this model version.")
@click.option("--policy-version", type=int, default=None, help="Only own cases under this policy version (id).")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
@click.pass_context
def kpi(ctx, municipality, others, start, end, case_type, model_version, policy_version, as_json):
    """Lead times, deadline compliance, funnel and outcomes of MUNICIPALITY (docs/analytics.md)."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        now = timekeeping.now(session)
        filters = analytics.make_filters(date.fromisoformat(danish_date(now)), start, end, case_type,
                                         model_version, policy_version)
        result = analytics.compare(session, municipality, [k for k in others.split(",") if k.strip()], filters, now)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    f = result["filters"]
    click.echo(f"computed {result['computed_at']} ({result['source']})")
    click.echo(f"period {f['from']} .. {f['to']}" + (f", case type {f['case_type']}" if f["case_type"] else "")
               + (f", model version {f['model_version']}" if f["model_version"] else "")
               + (f", policy version {f['policy_version']}" if f["policy_version"] else ""))
    names = [c["key"] for c in result["columns"]]
    rows = analytics.comparison_rows(result)
    width = max(len(r["label"]) for r in rows)
    click.echo(f"{'':{width}}  " + "  ".join(f"{n:>10}" for n in names))
    for row in rows:
        click.echo(f"{row['label']:{width}}  " + "  ".join(f"{v if v is not None else '-':>10}" for v in row["values"]))


@click.command("kpi-refresh")
@click.pass_context
def kpi_refresh(ctx):
    """Recompute the manager figures' snapshot now (the worker does it every 15 minutes
    and when the day changes); prints how many rows it wrote and how long it took."""
    import time
    from datetime import datetime, timezone
    rt = _runtime(ctx)
    started = time.perf_counter()
    with rt.sessions.begin() as session:
        rows = analytics.refresh(session, timekeeping.now(session), datetime.now(timezone.utc))
    click.echo(f"{rows} snapshot rows in {time.perf_counter() - started:.1f} s")
