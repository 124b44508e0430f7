"""Shard sets for reader tests, built once per module from tiny generated recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from factories import tone_in_noise, write_audio
from shardkit.build.config import BuildConfig
from shardkit.build.runner import build

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_corpus(root: Path, n_per_class: int = 6) -> Path:
    """Three classes and a noise folder of 8-10 s recordings with tones at known times."""
    for c, (label, freq) in enumerate((("alpha", 2000), ("beta", 3000), ("gamma", 4500))):
        for i in range(n_per_class):
            calls = ((1.5, 0.5, freq), (5.0, 0.5, freq * 1.1))
            write_audio(root / label / f"{label}{i}.flac", tone_in_noise(8 + i % 3, 24000, calls=calls, seed=100 * c + i), 24000)
    for i in range(4):
        write_audio(root / "noise" / f"n{i}.flac", tone_in_noise(7, 24000, seed=900 + i), 24000)
    return root


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
