"""Training-time augmentation as seeded TensorFlow ops on batches, and their settings.

Waveform augmentation (`waveform`: time shift, gain, coloured noise and background mixing at
a target SNR) and batch / spectrogram augmentation (`spectral`: multi-source mixup with
max-combined labels, SpecAugment masks). Every function is a pure TF op on a batch, works
eagerly and inside ``tf.data.Dataset.map`` (graph mode), and is deterministic given a
stateless seed: an int32/int64 tensor of shape ``[2]``. Same seed, same output. Training only:
never apply these to validation, calibration or test data.

The settings (`config`) are plain dataclasses importable without TensorFlow; the ops load
TensorFlow on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from shardkit.augment.config import NOISE_SLOPES_DB_PER_OCTAVE, MixupConfig, SpecAugmentConfig, WaveAugmentConfig

#: op name → module that defines it (imported, with TensorFlow, on first access)
_OPS = {
    "augment_waveforms": "waveform",
    "coloured_noise": "waveform",
    "mix_at_snr": "waveform",
    "random_gain": "waveform",
    "time_shift": "waveform",
    "mixup": "spectral",
    "spec_augment": "spectral",
}


def __getattr__(name: str) -> Any:
    if name not in _OPS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"shardkit.augment needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'") from exc
    return getattr(importlib.import_module(f"{__name__}.{_OPS[name]}"), name)


__all__ = [
    "NOISE_SLOPES_DB_PER_OCTAVE",
    "MixupConfig",
    "SpecAugmentConfig",
    "WaveAugmentConfig",
    "augment_waveforms",
    "coloured_noise",
    "mix_at_snr",
    "mixup",
    "random_gain",
    "spec_augment",
    "time_shift",
]
