"""Training-time augmentation only: seeded, stateless TensorFlow ops on batches (waveform, mixup, SpecAugment), and their TF-free settings."""

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
    "mix_teacher": "spectral",
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
    "mix_teacher",
    "mixup",
    "random_gain",
    "spec_augment",
    "time_shift",
]
