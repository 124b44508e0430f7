"""A trained tiny model and its shards, shared by the deployment-stage tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from factories import make_class_corpus

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def export_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tone classes and noise, pcm16 shards with a val split."""
    root = tmp_path_factory.mktemp("export_shards")
    corpus = make_class_corpus(root / "corpus")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), progress=False)
    return root / "shards"


@pytest.fixture(scope="session")
def trained(export_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny.keras`` trained for a few epochs on `export_shards` (with its model config)."""
    from train_helpers import tiny_config

    from shardkit.train.runner import train

    out = tmp_path_factory.mktemp("trained")
    train(str(export_shards), str(out), tiny_config(epochs=6), verbose=0)
    return out / "tiny.keras"
