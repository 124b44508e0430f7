"""`train` from Python with flat options: the sample rate comes from the shards, a probe's frontend from its base model."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_class_corpus

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.train.runner import train

#: the tiny run of train_helpers.py as flat options, one epoch, without a sample rate
TINY_OPTIONS = {
    "chunk_s": 1.0, "n_fft": 128, "n_frames": 32, "n_mels": 16, "n_mfcc": 8,
    "architecture": "dscnn_lite", "alpha": 0.25, "embeddings_size": 32,
    "batch_size": 8, "shuffle_buffer": 50, "epochs": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def shards_16k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shards stored at 16 kHz: not the frontend's default rate (24 kHz)."""
    root = tmp_path_factory.mktemp("shards_16k")
    corpus = make_class_corpus(root / "corpus", n_per_class=4)
    config = BuildConfig(sample_rate_hz=16000, workers=0, codec="pcm16", shard_max_samples=8, val_fraction=0.25)
    build(str(corpus), str(root / "shards"), config, executor="inline", progress=False)
    return root / "shards"


def test_train_from_python_takes_the_sample_rate_from_the_shards_and_a_probes_frontend_from_its_base(shards_16k: Path, tmp_path: Path) -> None:
    base = train(str(shards_16k), str(tmp_path / "base"), {**TINY_OPTIONS, "name": "base"})
    assert base.config.frontend.sample_rate_hz == 16000
    assert base.epochs_done == 1

    settings = {"name": "probe", "epochs": 1, "batch_size": 8, "shuffle_buffer": 50}
    probe = train(str(shards_16k), str(tmp_path / "probe"), settings, base_model=base.artifacts["model"])
    assert probe.config.frontend == base.config.frontend, "the probe feeds the backbone the frontend it was trained on"
    assert probe.epochs_done == 1
