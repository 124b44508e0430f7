"""Wait for an event a running build makes observable (a file it writes, a process it starts), not for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: how often `wait_for` looks again; only latency, never what a test sees
LOOK_EVERY_S = 0.005


def wait_for(observe: Callable[[], T], what: str, *, running: Callable[[], bool] = lambda: True, timeout_s: float = 120.0) -> T:
    """Return the first truthy value of ``observe()``.

    Args:
        observe: looks at the event (a listing, a count); falsy until it has happened.
        what: the event, for the failure message ("3 commit records").
        running: whether the producer (build process, thread) still runs; once it has ended
            without the event, waiting longer cannot help.
        timeout_s: give up after this long.

    Raises:
        AssertionError: the producer ended, or ``timeout_s`` passed, before the event.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = observe()
        if value:
            return value
        assert running(), f"the build ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout_s:.0f} s"
        time.sleep(LOOK_EVERY_S)


def committed_records(out: Path) -> list[Path]:
    """Commit records in a local OUTPUT: ``_shardkit/done/*.json`` (not a record still being written)."""
    return sorted((out / "_shardkit" / "done").glob("*.json"))
