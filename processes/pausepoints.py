"""Test-only pause points: let a crash test stop a process at an exact place in a step.

A crash test sets, in the environment of the process it will kill,
``SAGSFLOW_TEST_PAUSE=<point>`` and ``SAGSFLOW_TEST_PAUSE_DIR=<directory>``. When the
process reaches ``pause(<point>, session)``, it flushes the session (every write of the
step is then in the database, uncommitted, and the step's row locks are held), writes
``<directory>/<point>.paused`` with its pid and waits until ``<directory>/<point>.release``
exists. The test kills it there, or releases it. Without the variable ``pause`` returns
at once; nothing else reads it.

The points (see ``tests/test_crash.py``):

- ``worker.step``: a worker's timer step, after the engine step and its audit event,
  before COMMIT (the instance row is locked);
- ``worker.deliver``: an outbox delivery, after the transport wrote the letter or
  notification and the row is marked sent, before COMMIT;
- ``complete.before_commit``: a task completion, after every write, before COMMIT;
- ``complete.after_commit``: a task completion, after COMMIT, before the answer.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

ENV_POINT = "SAGSFLOW_TEST_PAUSE"
ENV_DIR = "SAGSFLOW_TEST_PAUSE_DIR"


def pause(point: str, session=None) -> None:
    """Wait here if a test asked to pause at ``point``; otherwise return at once."""
    if os.environ.get(ENV_POINT) != point:
        return
    directory = Path(os.environ.get(ENV_DIR) or ".")
    if session is not None:
        session.flush()
    marker = directory / f"{point}.paused"
    partial = directory / f"{point}.paused.{os.getpid()}"
    partial.write_text(str(os.getpid()))
    os.replace(partial, marker)  # whoever sees the marker reads the whole pid
    release = directory / f"{point}.release"
    while not release.exists():
        time.sleep(0.02)
