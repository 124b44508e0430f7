"""Shard sets for reader tests, built once per module from tiny generated recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import make_class_corpus as make_corpus

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def shard_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same corpus built with the flac and the pcm16 codec into small shards."""
    root = tmp_path_factory.mktemp("reader")
    corpus = make_corpus(root / "corpus")
    out = {}
    for codec in ("flac", "pcm16"):
        config = BuildConfig(workers=2, codec=codec, shard_max_samples=5, val_fraction=0.25)
        build(str(corpus), str(root / codec), config, progress=False)
        out[codec] = root / codec
    return out
