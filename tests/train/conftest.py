"""Tiny shard sets and a tiny, fast training configuration for the training tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from factories import make_class_corpus
from shardkit.audio.frontends import FrontendConfig
from shardkit.build.config import BuildConfig
from shardkit.build.runner import build
from shardkit.model.config import ModelConfig
from shardkit.train.config import TrainConfig

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: 1 s chunks, a 64 x 32 linear spectrogram: steps take milliseconds
TINY_FRONTEND = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)
TINY_MODEL = ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32)


def tiny_config(**overrides) -> TrainConfig:
    """A few-step run on the tiny frontend and model."""
    settings = {"name": "tiny", "frontend": TINY_FRONTEND, "model": TINY_MODEL, "batch_size": 8, "epochs": 3, "learning_rate": 3e-3, "shuffle_buffer": 50}
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def train_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tone classes and noise, pcm16 shards with a val split."""
    root = tmp_path_factory.mktemp("train_shards")
    corpus = make_class_corpus(root / "corpus")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), progress=False)
    return root / "shards"


@pytest.fixture(scope="session")
def probe_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two new tone classes (not in `train_shards`) for the linear probe."""
    root = tmp_path_factory.mktemp("probe_shards")
    corpus = make_class_corpus(root / "corpus", n_per_class=5, classes=(("delta", 1500), ("epsilon", 6000)))
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), progress=False)
    return root / "shards"
