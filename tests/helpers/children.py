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


#: a ``sitecustomize.py`` that makes any TensorFlow or Keras import fail loudly (parent and spawned workers alike)
NO_TENSORFLOW = (
    "import sys\n"
    "class _NoTF:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
    "            raise ImportError('shardkit build must not import ' + name)\n"
    "sys.meta_path.insert(0, _NoTF())\n"
)


def no_tensorflow_dir(folder: Path) -> Path:
    """``folder`` holding `NO_TENSORFLOW` as ``sitecustomize.py``: put it first on a child's ``PYTHONPATH``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(NO_TENSORFLOW)
    return folder
