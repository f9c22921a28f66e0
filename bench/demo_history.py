"""Benchmark: what the demo history adds to ``sagsflow init``.

Runs ``sagsflow init`` on a new SQLite demo database twice, with ``--no-history`` and
with the history (the default), and prints wall time and CPU time (user + system of
the command) of each and the difference. The issue's limit is about 3 minutes more.

    .venv/bin/python bench/demo_history.py
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAGSFLOW = ROOT / ".venv" / "bin" / "sagsflow"


def run(*args: str) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, SAGSFLOW_DATABASE_URL=f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        done = subprocess.run([str(SAGSFLOW), "init", *args], env=env, capture_output=True, text=True, check=True)
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    plain_wall, plain_cpu, _ = run("--no-history")
    wall, cpu, out = run()
    summary = next((line for line in out.splitlines() if line.startswith("history:")), "")
    load = os.getloadavg()[0]
    print(f"sagsflow init --no-history: {plain_wall:6.1f} s wall, {plain_cpu:6.1f} s CPU")
    print(f"sagsflow init (history):    {wall:6.1f} s wall, {cpu:6.1f} s CPU   ({summary})")
    print(f"added by the history:       {wall - plain_wall:6.1f} s wall, {cpu - plain_cpu:6.1f} s CPU"
          f"   (load average {load:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    sys.exit(main())
