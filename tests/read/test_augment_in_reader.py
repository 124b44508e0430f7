"""Augmentation inside the reader: training only, seeded, every branch wired (background included)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader

RAW = FrontendConfig(name="raw")
NOTHING = dict(gain_prob=0.0, noise_prob=0.0, shift_prob=0.0, background_prob=0.0)


def read(source, **kwargs) -> list[tuple[np.ndarray, np.ndarray]]:
    config = ReaderConfig(**{"batch_size": 4, "shuffle_buffer": 8, "frontend": RAW, "epochs": 1, **kwargs})
    return [(x, y) for x, y in ShardReader(str(source), config).dataset().as_numpy_iterator()]


def test_background_mixing_fires_and_is_seeded(shard_sets):
    plain = read(shard_sets["pcm16"])
    mixed = read(shard_sets["pcm16"], augment=WaveAugmentConfig(**{**NOTHING, "background_prob": 1.0, "background_snr_db": (0.0, 0.0)}))
    assert len(plain) == len(mixed)
    for (x, y), (xm, ym) in zip(plain, mixed, strict=True):
        np.testing.assert_array_equal(y, ym)
        added = xm - x
        snr = 10 * np.log10(np.mean(x**2, axis=1) / np.mean(added**2, axis=1))
        assert np.all(np.abs(snr) < 1.0), f"every row got background at 0 dB SNR: {snr}"
    again = read(shard_sets["pcm16"], augment=WaveAugmentConfig(**{**NOTHING, "background_prob": 1.0, "background_snr_db": (0.0, 0.0)}))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(mixed, again, strict=True))


def test_mixup_labels_are_the_max_of_the_sources(shard_sets):
    plain = read(shard_sets["pcm16"])
    mixed = read(shard_sets["pcm16"], mixup=MixupConfig(prob=1.0, max_sources=2))
    for (x, y), (xm, ym) in zip(plain, mixed, strict=True):
        assert np.all(ym >= y), "a mixed row keeps its own labels"
        assert not np.array_equal(x, xm)
        for row in range(len(y)):
            partners = [j for j in range(len(y)) if j != row and np.array_equal(np.maximum(y[row], y[j]), ym[row])]
            assert partners, "labels equal the max of the row's and another source's labels"


def test_spec_augment_masks_and_evaluation_untouched(shard_sets):
    frontend = FrontendConfig(name="mel", n_frames=64)
    spec = SpecAugmentConfig(freq_masks=1, freq_mask_max=8, time_masks=1, time_mask_max=8)
    (x, _), *_ = read(shard_sets["pcm16"], frontend=frontend, spec_augment=spec, batch_size=8)
    (x0, _), *_ = read(shard_sets["pcm16"], frontend=frontend, batch_size=8)
    changed = x[..., 0] != x0[..., 0]
    assert changed.any() and np.all(x[..., 0][changed] == 0), "only masked cells change, to the mask value"
    evaluation = dict(training=False, augment=WaveAugmentConfig(), mixup=MixupConfig(prob=1.0), spec_augment=spec, frontend=frontend)
    untouched = dict(training=False, frontend=frontend)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(read(shard_sets["pcm16"], **evaluation), read(shard_sets["pcm16"], **untouched), strict=True))
