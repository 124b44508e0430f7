"""The environment of a child Python process that imports the test helpers (tests/ first on its import path)."""

from __future__ import annotations

import os
from pathlib import Path

#: the tests/ folder, where `factories`, `faults` and `helpers` are importable from
TESTS_DIR = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """``os.environ`` plus ``extra``, with tests/ put first on ``PYTHONPATH`` (keeping what was there)."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **extra, "PYTHONPATH": path}
