"""``sagsflow simulate``: what-if simulation of variants on one case load (docs/simulation.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from processes.errors import InvalidInput
from processes.simulation.scenario import load_scenario
from processes.simulation.variants import parse_changes


def _policies(values: tuple[str, ...]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for text in values:
        key, sep, change = text.partition(":")
        if not sep or not key.strip() or not change.strip():
            raise InvalidInput(f"--policy {text!r}: expected KEY:PARAM=VALUE[,PARAM=VALUE]")
        out.setdefault(key.strip(), {}).update(parse_changes(change))
    return out


def _days(interval: dict) -> str:
    if interval["mean"] is None:
        return "-"
    if interval["low"] is None:
        return f"{interval['mean']:.1f}"
    return f"{interval['mean']:.1f} [{interval['low']:.1f}; {interval['high']:.1f}]"


@click.command("simulate")
@click.argument("scenario", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--variants", required=True,
              help="Comma-separated: municipality keys (or 'standard'), KEY:PARAM=VALUE, or municipality folders.")
@click.option("--policy", "policies", multiple=True, help="A proposed policy change KEY:PARAM=VALUE (repeatable).")
@click.option("--cases", type=click.IntRange(min=1), default=None, help="Stop arrivals after N cases per run.")
@click.option("--years", type=click.FloatRange(min=0.01, max=20), default=None, help="Simulated period (default: the scenario's).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the first replication.")
@click.option("--replications", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per variant (seeds S, S+1, ...): each measure gets a 95 % interval.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel processes for the variants and replications (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print the measures per variant as JSON (docs/simulation.md).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write each run's simulated event log (XES, OCEL 2.0, CSV as 'sagsflow eventlog export').")
@click.pass_context
def simulate(ctx, scenario, variants, policies, cases, years, seed, replications, workers, as_json, out_dir):
    """Run the case load of SCENARIO (default: the calibrated default scenario) through
    each variant's real models and policy on a virtual clock."""
    # imported here: the kernel needs SimPy, which no other command needs
    from processes.simulation.runner import default_workers, simulate_variants
    loaded = load_scenario(scenario)
    names = [v.strip() for v in variants.split(",") if v.strip()]
    if not names:
        raise click.UsageError("--variants names no variant")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    url = (ctx.find_root().obj or {}).get("url")
    total = len(names) * replications
    bar = None
    if sys.stderr.isatty() and not as_json:
        bar = click.progressbar(length=total, label="Simulerer", file=sys.stderr)
        bar.__enter__()

    def progress(done: int, _total: int) -> None:
        if bar is not None:
            bar.update(1)
        elif not as_json:
            click.echo(f"{done}/{_total} runs done", err=True)

    if workers is None:
        workers = default_workers(total)
    try:
        result = simulate_variants(names, loaded, seed=seed, replications=replications, workers=workers, cases=cases,
                                   years=years, policy=_policies(policies), database_url=url, progress=progress,
                                   out_dir=out_dir)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1, default=str))
        return
    for variant in result["variants"]:
        summary = variant["summary"]
        click.echo(f"\n{variant['variant']}: {summary['cases']['mean']:.0f} sager pr. kørsel, "
                   f"{replications} kørsel(er)")
        click.echo(f"  {'Måling':60} {'median dage':>24} {'gennemsnit dage':>24}")
        for m in summary["lead_times"]:
            click.echo(f"  {m['label'][:60]:60} {_days(m['median']):>24} {_days(m['mean']):>24}")
        for c in summary["compliance"]:
            share = c["share_met"]
            text = "-" if share["mean"] is None else f"{100 * share['mean']:.0f} %"
            click.echo(f"  {('Frist overholdt: ' + c['label'])[:60]:60} {text:>24}")
        faults = [f for run in variant["runs"] for f in run["stats"]["faults"]]
        if faults:
            click.echo(f"  model faults: {len(faults)} (first: {faults[0]})")
        for run in variant["runs"]:
            for path in run["stats"].get("event_logs", []):
                click.echo(f"  event log: {path}")
