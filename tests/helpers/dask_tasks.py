"""Functions the Dask tests run on workers (importable there, unlike a test module's locals)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def check_when_told(started: str, trigger: str, outcome: str, timeout_s: float = 120.0) -> None:
    """Say it started, wait for ``trigger`` to exist, then write whether this task may still commit to ``outcome``."""
    from shardkit.ingest.worker import ParentGone, check_may_commit

    Path(started).write_text("started")
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(trigger) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        check_may_commit(None, None)
        answer = "may commit"
    except ParentGone as exc:
        answer = f"refused: {exc}"
    Path(outcome).write_text(answer)
