"""A tiny, fast training configuration shared by the training tests."""

from __future__ import annotations

from dataclasses import replace

from shardkit.audio.frontends import FrontendConfig
from shardkit.model.config import ModelConfig
from shardkit.train.config import TrainConfig

#: 1 s chunks, a 64 x 32 linear spectrogram: steps take milliseconds
TINY_FRONTEND = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)
#: average pooling pinned: the export tests deploy this model as it always was (the default is max pooling now)
TINY_MODEL = ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32, pooling="gap")
#: `tiny_config` settings that learn `factories.make_learnable_corpus` in a few epochs (the tiny model's
#: average pooling does not learn it in 6 epochs; max pooling does)
LEARNS = {"batch_size": 4, "epochs": 6, "model": replace(TINY_MODEL, pooling="max")}


def tiny_config(**overrides) -> TrainConfig:
    """A few-step run on the tiny frontend and model."""
    settings = {
        "name": "tiny",
        "frontend": TINY_FRONTEND,
        "model": TINY_MODEL,
        "batch_size": 8,
        "epochs": 3,
        "warmup_epochs": 1.0,
        "learning_rate": 3e-3,
        "shuffle_buffer": 50,
    }
    return TrainConfig(**{**settings, **overrides})
