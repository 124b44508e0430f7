"""Training-time augmentation as seeded TensorFlow ops on batches.

Waveform augmentation (`waveform`: time shift, gain, coloured noise and background mixing at
a target SNR) and batch / spectrogram augmentation (`spectral`: multi-source mixup with
max-combined labels, SpecAugment masks). Every function is a pure TF op on a batch, works
eagerly and inside ``tf.data.Dataset.map`` (graph mode), and is deterministic given a
stateless seed: an int32/int64 tensor of shape ``[2]``. Same seed, same output. Training only:
never apply these to validation, calibration or test data.
"""

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
