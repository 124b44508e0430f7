"""Waveform augmentation: time shift, gain, coloured noise and background mixing at a target SNR.

Batches are float32 ``[B, N]``. Every random choice comes from ``tf.random.stateless_*`` ops
driven by a seed tensor of shape ``[2]``, so the same seed gives the same batch, eagerly or
inside ``tf.data.Dataset.map``. Each step of `augment_waveforms` fires per row with its own
probability (a per-row Bernoulli mask and ``tf.where``), and the result is clipped to
``[-1, 1]``: loud rows saturate, they never wrap around.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from shardkit.augment.config import NOISE_SLOPES_DB_PER_OCTAVE, RANGE, WaveAugmentConfig
from shardkit.checks import check, ordered_pair
from shardkit.errors import ConfigError

#: sub-seed slots of `augment_waveforms`; fixed so switching one step off leaves the others' draws alone
_SHIFT_MASK, _SHIFT, _GAIN_MASK, _GAIN, _NOISE_MASK, _NOISE, _BACKGROUND_MASK, _BACKGROUND = range(8)


def as_seed(seed: Any) -> tf.Tensor:
    """A stateless seed as an int64 tensor of shape ``[2]`` (accepts int32/int64 tensors, lists, tuples)."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"augment seed must be an integer tensor of shape [2]; got dtype {seed.dtype.name}")
    if not seed.shape.is_compatible_with([2]):
        raise ValueError(f"augment seed must have shape [2]; got {seed.shape}")
    return tf.reshape(tf.cast(seed, tf.int64), [2])


def split_seed(seed: Any, num: int) -> list[tf.Tensor]:
    """``num`` independent sub-seeds of ``seed`` (each an int64 ``[2]`` tensor)."""
    return tf.unstack(tf.random.experimental.stateless_split(as_seed(seed), num=num), num=num)


def row_mask(batch_size: tf.Tensor, prob: float, seed: Any) -> tf.Tensor:
    """Per-row Bernoulli(prob) draw as a bool ``[B]`` tensor: prob 0 selects none, prob 1 all."""
    return tf.random.stateless_uniform([batch_size], seed=as_seed(seed)) < prob


def _where_rows(mask: tf.Tensor, changed: tf.Tensor, unchanged: tf.Tensor) -> tf.Tensor:
    return tf.where(mask[:, tf.newaxis], changed, unchanged)


def _psd_exponent(colour: str) -> float:
    """Exponent a of PSD ∝ f**a for a colour: a slope of s dB/octave is a = s / (10 log10 2)."""
    if colour not in NOISE_SLOPES_DB_PER_OCTAVE:
        raise ConfigError(f"noise colour must be one of {sorted(NOISE_SLOPES_DB_PER_OCTAVE)}; got {colour!r}")
    return NOISE_SLOPES_DB_PER_OCTAVE[colour] / (10.0 * math.log10(2.0))


def _shaped_noise(shape: Any, psd_exponents: tf.Tensor, seed: Any) -> tf.Tensor:
    """Unit-RMS rows whose PSD ∝ f**psd_exponents[row]; DC is zero, so every row has zero mean."""
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
    batch, n = shape[0], shape[1]
    bins = n // 2 + 1
    real_seed, imag_seed = split_seed(seed, 2)
    # complex white Gaussian spectrum: flat expected power in every bin
    spectrum = tf.complex(tf.random.stateless_normal([batch, bins], seed=real_seed), tf.random.stateless_normal([batch, bins], seed=imag_seed))
    # the PSD slope is scale-free, so the bin index stands in for the frequency
    index = tf.range(bins, dtype=tf.float32)[tf.newaxis, :]
    safe_index = tf.maximum(index, 1.0)
    amplitude = tf.where(index > 0.0, tf.pow(safe_index, 0.5 * psd_exponents[:, tf.newaxis]), 0.0)
    noise = tf.signal.irfft(spectrum * tf.complex(amplitude, 0.0), fft_length=n[tf.newaxis])
    rms = tf.sqrt(tf.reduce_mean(tf.square(noise), axis=1, keepdims=True))
    return tf.math.divide_no_nan(noise, rms)


def coloured_noise(shape: Any, colour: str, seed: Any) -> tf.Tensor:
    """Noise whose power spectral density follows the colour's slope.

    White noise is shaped in the rFFT domain by ``f ** (a / 2)`` in amplitude, where
    ``a = slope_db_per_octave / (10 log10 2)`` (DC set to zero), then each row is scaled to
    unit RMS.

    Args:
        shape: ``[B, N]`` (a list or an int tensor; may be dynamic, e.g. ``tf.shape(x)``).
        colour: a key of `NOISE_SLOPES_DB_PER_OCTAVE`.
        seed: stateless seed, int tensor of shape ``[2]``.

    Returns:
        float32 ``[B, N]``, zero mean and unit RMS per row.

    Raises:
        ConfigError: unknown colour.
    """
    exponent = _psd_exponent(colour)
    shape = tf.convert_to_tensor(shape)
    return _shaped_noise(shape, tf.fill(shape[:1], tf.constant(exponent, tf.float32)), seed)


def mix_at_snr(signal: tf.Tensor, noise: tf.Tensor, snr_db: Any) -> tf.Tensor:
    """Add ``noise`` scaled so each row's SNR is exactly ``snr_db``.

    SNR is ``10 log10(P_signal / P_scaled_noise)`` with P the mean square over the row. A
    silent signal row (or a silent noise row) comes back unchanged, never NaN.

    Args:
        signal: float32 ``[B, N]``.
        noise: float32 ``[B, N]``.
        snr_db: a scalar or a ``[B]`` tensor of per-row SNRs in dB (negative values allowed).

    Returns:
        float32 ``[B, N]``: ``signal + scale * noise``.
    """
    signal = tf.convert_to_tensor(signal, tf.float32)
    noise = tf.convert_to_tensor(noise, tf.float32)
    snr_db = tf.reshape(tf.convert_to_tensor(snr_db, tf.float32), [-1, 1])
    p_signal = tf.reduce_mean(tf.square(signal), axis=1, keepdims=True)
    p_noise = tf.reduce_mean(tf.square(noise), axis=1, keepdims=True)
    scale = tf.sqrt(tf.math.divide_no_nan(p_signal, p_noise * tf.pow(10.0, snr_db / 10.0)))
    return signal + scale * noise


def random_gain(x: tf.Tensor, gain_db: tuple[float, float], seed: Any) -> tf.Tensor:
    """Multiply each row by a gain drawn uniformly in dB from ``gain_db = (lo, hi)`` (no clipping here)."""
    check("random_gain", [("gain_db", gain_db, ordered_pair(), RANGE)])
    lo, hi = float(gain_db[0]), float(gain_db[1])
    x = tf.convert_to_tensor(x, tf.float32)
    db = tf.random.stateless_uniform(tf.shape(x)[:1], seed=as_seed(seed), minval=lo, maxval=hi)
    return x * tf.pow(10.0, db / 20.0)[:, tf.newaxis]


def time_shift(x: tf.Tensor, max_shift_samples: int, seed: Any) -> tf.Tensor:
    """Shift each row by an integer drawn uniformly in ``[-max, max]`` samples, zero fill, no wrap-around.

    A positive shift delays the row: ``out[j] = x[j - s]`` where ``0 <= j - s < N``, else 0.

    Raises:
        ConfigError: ``max_shift_samples`` is not an integer >= 0.
    """
    if isinstance(max_shift_samples, bool) or not isinstance(max_shift_samples, int) or max_shift_samples < 0:
        raise ConfigError(f"time_shift max_shift_samples must be an integer >= 0; got {max_shift_samples!r}")
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[1]
    shifts = tf.random.stateless_uniform(tf.shape(x)[:1], seed=as_seed(seed), minval=-max_shift_samples, maxval=max_shift_samples + 1, dtype=tf.int32)
    source = tf.range(n)[tf.newaxis, :] - shifts[:, tf.newaxis]
    inside = (source >= 0) & (source < n)
    moved = tf.gather(x, tf.clip_by_value(source, 0, tf.maximum(n - 1, 0)), batch_dims=1)
    return tf.where(inside, moved, tf.zeros_like(moved))


def augment_waveforms(x: tf.Tensor, config: WaveAugmentConfig, seed: Any, background: tf.Tensor | None = None) -> tf.Tensor:
    """Shift → gain → coloured noise → background, each per row with its probability, then clip to [-1, 1].

    Args:
        x: float32 ``[B, N]`` waveforms.
        config: the step probabilities and ranges.
        seed: stateless seed, int tensor of shape ``[2]`` (vary it per batch and per epoch).
        background: optional float32 ``[B, N]`` batch of background recordings; row i is mixed
            into row i. Without it the background step is skipped.

    Returns:
        float32 ``[B, N]`` in ``[-1, 1]``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank != 2:
        raise ValueError(f"augment_waveforms expects waveforms [B, N]; got shape {x.shape}")
    seeds = split_seed(seed, 8)
    batch = tf.shape(x)[0]

    shifted = time_shift(x, config.shift_max_samples, seeds[_SHIFT])
    x = _where_rows(row_mask(batch, config.shift_prob, seeds[_SHIFT_MASK]), shifted, x)

    gained = random_gain(x, config.gain_db, seeds[_GAIN])
    x = _where_rows(row_mask(batch, config.gain_prob, seeds[_GAIN_MASK]), gained, x)

    colour_seed, noise_seed, snr_seed = split_seed(seeds[_NOISE], 3)
    exponents = tf.constant([_psd_exponent(c) for c in config.noise_colours], tf.float32)
    choice = tf.random.stateless_uniform([batch], seed=colour_seed, minval=0, maxval=len(config.noise_colours), dtype=tf.int32)
    noise = _shaped_noise(tf.shape(x), tf.gather(exponents, choice), noise_seed)
    snr_db = tf.random.stateless_uniform([batch], seed=snr_seed, minval=config.noise_snr_db[0], maxval=config.noise_snr_db[1])
    x = _where_rows(row_mask(batch, config.noise_prob, seeds[_NOISE_MASK]), mix_at_snr(x, noise, snr_db), x)

    if background is not None:
        background = tf.convert_to_tensor(background, tf.float32)
        if not background.shape.is_compatible_with(x.shape):
            raise ValueError(f"augment_waveforms background must match the waveforms' shape {x.shape}; got {background.shape}")
        lo, hi = config.background_snr_db
        snr_db = tf.random.stateless_uniform([batch], seed=seeds[_BACKGROUND], minval=lo, maxval=hi)
        mixed = mix_at_snr(x, background, snr_db)
        x = _where_rows(row_mask(batch, config.background_prob, seeds[_BACKGROUND_MASK]), mixed, x)

    return tf.clip_by_value(x, -1.0, 1.0)
