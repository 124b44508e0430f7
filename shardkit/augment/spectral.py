"""Batch and spectrogram augmentation: multi-source mixup with max-combined labels (and teacher soft labels), SpecAugment masks.

`mixup` works on waveforms ``[B, N]`` or spectrograms ``[B, F, T]``; `spec_augment` on
spectrograms ``[B, F, T]`` (frequency rows, time frames). Both are stateless-seeded TF ops
(seed: int tensor of shape ``[2]``), usable eagerly and inside ``tf.data.Dataset.map``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

from shardkit.augment.config import MixupConfig, SpecAugmentConfig
from shardkit.augment.waveform import row_mask, split_seed

#: gammas are floored here so Dirichlet weights stay > 0 and their sum never reaches 0
_GAMMA_FLOOR = 1e-30


def _per_row(values: tf.Tensor, rank: int) -> tf.Tensor:
    """Reshape ``[B]`` to ``[B, 1, ...]`` so it broadcasts against a rank-``rank`` batch."""
    return tf.reshape(values, tf.concat([tf.shape(values), tf.ones([rank - 1], tf.int32)], axis=0))


class MixupPlan(NamedTuple):
    """One batch's mixup draw, shared by the rows and every label column mixed with them.

    Attributes:
        sources: ``max_sources`` int ``[B]`` tensors; ``sources[0]`` is the row itself.
        active: bool ``[B, max_sources]``: which sources a row mixes.
        weights: float32 ``[B, max_sources]`` Dirichlet weights (0 for inactive sources).
        mixed: bool ``[B]``: rows picked by the ``prob`` draw (the others stay unchanged).
    """

    sources: list
    active: tf.Tensor
    weights: tf.Tensor
    mixed: tf.Tensor


def mixup_plan(batch: Any, config: MixupConfig, seed: Any) -> MixupPlan:
    """The stateless draw of `mixup` for a batch of ``batch`` rows (see `mixup` for the rule)."""
    mask_seed, perm_seed, count_seed, gamma_seed = split_seed(seed, 4)
    # random permutation; row perm[m] takes the rows perm[m + 1], perm[m + 2] (cyclically) as partners
    order = tf.argsort(tf.random.stateless_uniform([batch], seed=perm_seed))
    position = tf.math.invert_permutation(order)
    sources = [tf.range(batch)] + [tf.gather(order, (position + j) % batch) for j in range(1, config.max_sources)]

    count = tf.random.stateless_uniform([batch], seed=count_seed, minval=2, maxval=config.max_sources + 1, dtype=tf.int32)
    active = tf.range(config.max_sources)[tf.newaxis, :] < count[:, tf.newaxis]  # [B, max_sources]
    gammas = tf.random.stateless_gamma([batch, config.max_sources], seed=gamma_seed, alpha=float(config.alpha))
    gammas = tf.where(active, tf.maximum(gammas, _GAMMA_FLOOR), 0.0)
    weights = gammas / tf.reduce_sum(gammas, axis=1, keepdims=True)
    return MixupPlan(sources, active, weights, row_mask(batch, config.prob, mask_seed))


def _combine(values: tf.Tensor, plan: MixupPlan, combine) -> tf.Tensor:
    """``[B, C]`` columns combined element-wise over each mixed row's active sources; other rows unchanged."""
    out = values
    for j in range(1, len(plan.sources)):
        out = tf.where(plan.active[:, j : j + 1], combine(out, tf.gather(values, plan.sources[j])), out)
    return tf.where(plan.mixed[:, tf.newaxis], out, values)


def mixup(x: tf.Tensor, y: tf.Tensor, config: MixupConfig, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """Mix a fraction of rows with 1 or 2 other rows of the batch; labels combine by element-wise max.

    A mixed row i draws k uniformly in ``[2, max_sources]``: its sources are row i and the
    k - 1 rows after it in a random permutation of the batch (distinct rows when B >= k).
    Weights are a Dirichlet(alpha) draw (normalised stateless gammas, all > 0, sum 1):
    ``x_i = sum_j w_j x_src_j`` and ``y_i = max_j y_src_j`` (a call of either class is still
    present, whatever its weight). Sources are always the unmixed input rows; rows not picked
    by the ``prob`` draw come back unchanged. `mix_teacher` mixes the teacher's soft labels
    with the same draw (`mixup_plan`, the same seed).

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
    plan = mixup_plan(tf.shape(x)[0], config, seed)
    x_mixed = tf.add_n([_per_row(plan.weights[:, j], rank) * tf.gather(x, plan.sources[j]) for j in range(config.max_sources)])
    x_out = tf.where(_per_row(plan.mixed, rank), x_mixed, x)
    return x_out, _combine(y, plan, tf.maximum)


def mix_teacher(soft: tf.Tensor, mask: tf.Tensor, config: MixupConfig, seed: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """The teacher's soft labels and mask of the rows `mixup` mixed with the same ``config`` and ``seed``.

    The hard labels' rule, per class: a mixed row's soft label is the largest of its
    sources' (the teacher heard the call in one of them, whatever its weight). A class keeps
    its soft label only where every source has one (mask = the smallest of the sources'
    masks); elsewhere the row falls back to its mixed hard label. Soft values are 0 where
    the mask is.

    Args:
        soft: float32 ``[B, C]`` teacher probabilities (0 where masked out).
        mask: float32 ``[B, C]``, 1 where the teacher's probability is known.
        config: the mixup settings `mixup` used.
        seed: the seed `mixup` used.

    Returns:
        ``(soft_mixed, mask_mixed)``, ``[B, C]`` each.
    """
    soft, mask = tf.convert_to_tensor(soft, tf.float32), tf.convert_to_tensor(mask, tf.float32)
    plan = mixup_plan(tf.shape(soft)[0], config, seed)
    mask_out = _combine(mask, plan, tf.minimum)
    return _combine(soft, plan, tf.maximum) * mask_out, mask_out


def _band_mask(batch: tf.Tensor, size: tf.Tensor, masks: int, max_width: int, seed: Any, limit: tf.Tensor | None = None) -> tf.Tensor:
    """Bool ``[B, size]``: the union of ``masks`` bands per row, each of width uniform in
    ``[0, min(max_width, size)]`` starting uniformly so the band lies inside ``[0, size)``.

    ``limit`` (``[B]``): each row's bands lie inside its first ``limit`` cells instead (the
    frames of a padded row that hold audio), so padding neither draws nor hides a mask.
    """
    covered = tf.zeros([batch, size], tf.bool)
    if masks == 0:
        return covered
    width_seed, start_seed = split_seed(seed, 2)
    if limit is not None:
        size = tf.cast(limit, tf.int32)[:, tf.newaxis]
    widest = tf.minimum(max_width, size)
    # floor(u * (m + 1)) with u in [0, 1) is uniform on {0..m}; clamp guards float rounding
    u_width = tf.random.stateless_uniform([batch, masks], seed=width_seed)
    width = tf.minimum(tf.cast(u_width * tf.cast(widest + 1, tf.float32), tf.int32), widest)
    u_start = tf.random.stateless_uniform([batch, masks], seed=start_seed)
    room = size - width  # starts in [0, room]
    start = tf.minimum(tf.cast(u_start * tf.cast(room + 1, tf.float32), tf.int32), room)
    index = tf.range(tf.shape(covered)[1])[tf.newaxis, tf.newaxis, :]
    inside = (index >= start[:, :, tf.newaxis]) & (index < (start + width)[:, :, tf.newaxis])
    return tf.reduce_any(inside, axis=1)


def spec_augment(s: tf.Tensor, config: SpecAugmentConfig, seed: Any, lengths: tf.Tensor | None = None) -> tf.Tensor:
    """Mask random frequency bands (full-width) and time bands (full-height) of each spectrogram.

    Args:
        s: float32 ``[B, F, T]`` spectrograms (frequency rows, time frames).
        config: mask counts, widest masks and the fill value.
        seed: stateless seed, int tensor of shape ``[2]``.
        lengths: frames of each spectrogram that hold audio (``[B]``, a bucketed batch's);
            time masks are drawn inside them and padded frames stay as they are.

    Returns:
        float32 ``[B, F, T]``; masked cells hold ``config.mask_value``, all others are unchanged.
    """
    s = tf.convert_to_tensor(s, tf.float32)
    if s.shape.rank != 3:
        raise ValueError(f"spec_augment expects spectrograms [B, F, T]; got shape {s.shape}")
    freq_seed, time_seed = split_seed(seed, 2)
    shape = tf.shape(s)
    freq = _band_mask(shape[0], shape[1], config.freq_masks, config.freq_mask_max, freq_seed)
    time = _band_mask(shape[0], shape[2], config.time_masks, config.time_mask_max, time_seed, lengths)
    masked = freq[:, :, tf.newaxis] | time[:, tf.newaxis, :]
    if lengths is not None:
        masked &= (tf.range(shape[2])[tf.newaxis, :] < tf.cast(lengths, tf.int32)[:, tf.newaxis])[:, tf.newaxis, :]
    return tf.where(masked, tf.constant(config.mask_value, tf.float32), s)
