"""Shards of two new classes for the linear probe (the shared `tiny_shards` and `tiny_run` are in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import make_class_corpus

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def probe_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two new tone classes (not in `tiny_shards`) for the linear probe."""
    root = tmp_path_factory.mktemp("probe_shards")
    corpus = make_class_corpus(root / "corpus", n_per_class=5, classes=(("delta", 1500), ("epsilon", 6000)))
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), progress=False)
    return root / "shards"
