"""Batch and spectrogram augmentation: multi-source mixup with max-combined labels, SpecAugment masks.

`mixup` works on waveforms ``[B, N]`` or spectrograms ``[B, F, T]``; `spec_augment` on
spectrograms ``[B, F, T]`` (frequency rows, time frames). Both are stateless-seeded TF ops
(seed: int tensor of shape ``[2]``), usable eagerly and inside ``tf.data.Dataset.map``.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from shardkit.augment.config import MixupConfig, SpecAugmentConfig
from shardkit.augment.waveform import row_mask, split_seed

#: gammas are floored here so Dirichlet weights stay > 0 and their sum never reaches 0
_GAMMA_FLOOR = 1e-30


def _per_row(values: tf.Tensor, rank: int) -> tf.Tensor:
    """Reshape ``[B]`` to ``[B, 1, ...]`` so it broadcasts against a rank-``rank`` batch."""
    return tf.reshape(values, tf.concat([tf.shape(values), tf.ones([rank - 1], tf.int32)], axis=0))


def mixup(x: tf.Tensor, y: tf.Tensor, config: MixupConfig, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """Mix a fraction of rows with 1 or 2 other rows of the batch; labels combine by element-wise max.

    A mixed row i draws k uniformly in ``[2, max_sources]``: its sources are row i and the
    k - 1 rows after it in a random permutation of the batch (distinct rows when B >= k).
    Weights are a Dirichlet(alpha) draw (normalised stateless gammas, all > 0, sum 1):
    ``x_i = sum_j w_j x_src_j`` and ``y_i = max_j y_src_j`` (a call of either class is still
    present, whatever its weight). Sources are always the unmixed input rows; rows not picked
    by the ``prob`` draw come back unchanged.

    Args:
        x: float32 ``[B, N]`` waveforms or ``[B, F, T]`` spectrograms (any rank >= 2).
        y: float32 multi-hot labels ``[B, C]``.
        config: probability, source count and concentration.
        seed: stateless seed, int tensor of shape ``[2]``.

    Returns:
        ``(x_mixed, y_mixed)`` with the shapes and dtypes of the inputs.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y)
    rank = x.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"mixup expects x of rank >= 2 ([B, N] or [B, F, T]); got shape {x.shape}")
    mask_seed, perm_seed, count_seed, gamma_seed = split_seed(seed, 4)
    batch = tf.shape(x)[0]

    # random permutation; row perm[m] takes the rows perm[m + 1], perm[m + 2] (cyclically) as partners
    order = tf.argsort(tf.random.stateless_uniform([batch], seed=perm_seed))
    position = tf.math.invert_permutation(order)
    sources = [tf.range(batch)] + [tf.gather(order, (position + j) % batch) for j in range(1, config.max_sources)]

    count = tf.random.stateless_uniform([batch], seed=count_seed, minval=2, maxval=config.max_sources + 1, dtype=tf.int32)
    active = tf.range(config.max_sources)[tf.newaxis, :] < count[:, tf.newaxis]  # [B, max_sources]
    gammas = tf.random.stateless_gamma([batch, config.max_sources], seed=gamma_seed, alpha=float(config.alpha))
    gammas = tf.where(active, tf.maximum(gammas, _GAMMA_FLOOR), 0.0)
    weights = gammas / tf.reduce_sum(gammas, axis=1, keepdims=True)

    x_mixed = tf.add_n([_per_row(weights[:, j], rank) * tf.gather(x, sources[j]) for j in range(config.max_sources)])
    y_mixed = y
    for j in range(1, config.max_sources):
        y_mixed = tf.where(active[:, j : j + 1], tf.maximum(y_mixed, tf.gather(y, sources[j])), y_mixed)

    mixed = row_mask(batch, config.prob, mask_seed)
    x_out = tf.where(_per_row(mixed, rank), x_mixed, x)
    y_out = tf.where(mixed[:, tf.newaxis], y_mixed, y)
    return x_out, y_out


def _band_mask(batch: tf.Tensor, size: tf.Tensor, masks: int, max_width: int, seed: Any) -> tf.Tensor:
    """Bool ``[B, size]``: the union of ``masks`` bands per row, each of width uniform in
    ``[0, min(max_width, size)]`` starting uniformly so the band lies inside ``[0, size)``."""
    covered = tf.zeros([batch, size], tf.bool)
    if masks == 0:
        return covered
    width_seed, start_seed = split_seed(seed, 2)
    widest = tf.minimum(max_width, size)
    # floor(u * (m + 1)) with u in [0, 1) is uniform on {0..m}; clamp guards float rounding
    u_width = tf.random.stateless_uniform([batch, masks], seed=width_seed)
    width = tf.minimum(tf.cast(u_width * tf.cast(widest + 1, tf.float32), tf.int32), widest)
    u_start = tf.random.stateless_uniform([batch, masks], seed=start_seed)
    room = size - width  # starts in [0, room]
    start = tf.minimum(tf.cast(u_start * tf.cast(room + 1, tf.float32), tf.int32), room)
    index = tf.range(size)[tf.newaxis, tf.newaxis, :]
    inside = (index >= start[:, :, tf.newaxis]) & (index < (start + width)[:, :, tf.newaxis])
    return tf.reduce_any(inside, axis=1)


def spec_augment(s: tf.Tensor, config: SpecAugmentConfig, seed: Any) -> tf.Tensor:
    """Mask random frequency bands (full-width) and time bands (full-height) of each spectrogram.

    Args:
        s: float32 ``[B, F, T]`` spectrograms (frequency rows, time frames).
        config: mask counts, widest masks and the fill value.
        seed: stateless seed, int tensor of shape ``[2]``.

    Returns:
        float32 ``[B, F, T]``; masked cells hold ``config.mask_value``, all others are unchanged.
    """
    s = tf.convert_to_tensor(s, tf.float32)
    if s.shape.rank != 3:
        raise ValueError(f"spec_augment expects spectrograms [B, F, T]; got shape {s.shape}")
    freq_seed, time_seed = split_seed(seed, 2)
    shape = tf.shape(s)
    freq = _band_mask(shape[0], shape[1], config.freq_masks, config.freq_mask_max, freq_seed)
    time = _band_mask(shape[0], shape[2], config.time_masks, config.time_mask_max, time_seed)
    masked = freq[:, :, tf.newaxis] | time[:, tf.newaxis, :]
    return tf.where(masked, tf.constant(config.mask_value, tf.float32), s)
