"""Training-time augmentation only: seeded, stateless TensorFlow ops on batches (waveform, mixup, SpecAugment)."""

try:
    import tensorflow  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"shardkit.augment needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'") from exc

from shardkit.augment.spectral import MixupConfig, SpecAugmentConfig, mixup, spec_augment
from shardkit.augment.waveform import (
    NOISE_SLOPES_DB_PER_OCTAVE,
    WaveAugmentConfig,
    augment_waveforms,
    coloured_noise,
    mix_at_snr,
    random_gain,
    time_shift,
)

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
