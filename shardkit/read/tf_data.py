"""The reader's thin tf.data adapter: blocks from the Python stages → batches of (features, labels).

tf.data receives the blocks of `shardkit.read.stages` through ``from_generator``, rebatches
them (fixed batching) or decodes and buckets them per element (bucketed batching), then
converts to float once per batch, augments, runs the frontend and prefetches. Every random
draw is stateless and seeded from (seed, epoch, first index of the batch, a sub-stream tag).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import tensorflow as tf

from shardkit.audio.frontends_tf import tf_frontend
from shardkit.read.config import ReaderConfig

#: multiplies the epoch in per-sample seeds (indices within an epoch stay below it)
EPOCH_STRIDE = 1 << 32
#: sub-stream tags folded into seeds so crop, augmentation and mixup draw independently
CROP, AUGMENT, MIXUP, SPEC, BACKGROUND = 1, 2, 3, 4, 5
#: a block's arrays in order (`shardkit.read.stages`); ``soft`` and ``mask`` only with soft labels
BLOCK_FIELDS = ("epoch", "index", "audio", "labels", "soft", "mask")


def block_signature(n_classes: int, chunk_samples: int | None = None, soft_labels: bool = False) -> tuple:
    """A block's ``(epochs, indices, audio, labels[, soft, mask])`` specs: dense int16 rows of ``chunk_samples``, or encoded bytes when None."""
    audio = tf.TensorSpec([None], tf.string) if chunk_samples is None else tf.TensorSpec([None, chunk_samples], tf.int16)
    columns = 3 if soft_labels else 1
    return (tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64), audio, *[tf.TensorSpec([None, n_classes], tf.float32)] * columns)


def as_element(*block) -> dict:
    """A block's (or one row's) arrays as a dict keyed by `BLOCK_FIELDS`."""
    return dict(zip(BLOCK_FIELDS, block, strict=False))


def stage_seed(seed: int, epoch, index, tag: int) -> tf.Tensor:
    """The stateless seed of one random draw: (seed, tag) and (epoch, index) folded into two int64s."""
    return tf.stack([tf.constant(seed, tf.int64) * 8 + tag, tf.cast(epoch, tf.int64) * EPOCH_STRIDE + tf.cast(index, tf.int64)])


def fixed_epoch(generator: Callable, args: tuple, signature: tuple, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
    """Dense blocks → batches of ``batch_size`` rows (one element per block, then one rebatch)."""
    ds = tf.data.Dataset.from_generator(generator, output_signature=signature, args=args)
    ds = ds.map(as_element)
    return ds.rebatch(batch_size, drop_remainder=drop_remainder)


def decode_element(codec: str, decode_numpy: Callable[[bytes], tuple[np.ndarray, np.bool_]]) -> Callable:
    """The per-element decode of bucketed batching: an element's encoded member → int16 samples and an ok flag.

    pcm16 decodes in tf; FLAC/WAV through ``decode_numpy`` (``(samples, ok)``). The float
    conversion happens once per batch, later.
    """

    def decode(element: dict) -> dict:
        data = element["audio"]
        if codec == "pcm16":
            audio = tf.io.decode_raw(data, tf.int16, little_endian=True)
            ok = tf.size(audio) > 0
        else:
            audio, ok = tf.numpy_function(decode_numpy, [data], (tf.int16, tf.bool), stateful=False)
            audio.set_shape([None])
            ok.set_shape([])
        return {**element, "audio": audio, "ok": ok}

    return decode


def _limit_length(element: dict, n_max: int) -> dict:
    audio = element["audio"][:n_max]
    return {**element, "audio": audio, "length": tf.shape(audio)[0]}


def bucketed_epoch(
    generator: Callable, args: tuple, signature: tuple, decode: Callable, upper_samples: Sequence[int], batch_sizes: Sequence[int]
) -> tf.data.Dataset:
    """Encoded blocks → decoded elements → length buckets padded to their upper bound (with lengths)."""
    ds = tf.data.Dataset.from_generator(generator, output_signature=signature, args=args).unbatch().map(as_element)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(lambda e: e["ok"])
    ds = ds.map(partial(_limit_length, n_max=upper_samples[-1]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(lambda e: {k: v for k, v in e.items() if k != "ok"})
    return ds.bucket_by_sequence_length(
        element_length_func=lambda e: e["length"],
        bucket_boundaries=[u + 1 for u in upper_samples],
        bucket_batch_sizes=[*batch_sizes, 1],
        pad_to_bucket_boundary=True,
        drop_remainder=False,
    )


def with_background(ds: tf.data.Dataset, generator: Callable, args: tuple, signature: tuple, batch_size: int, skip: Any = 0) -> tf.data.Dataset:
    """Zip batches with batches of negative-class audio (dense blocks from ``generator(*args)``) for background mixing.

    ``skip``: samples of the epoch already consumed (a restart's position); the background batches
    that went with them are skipped too, so a restarted epoch mixes what the uninterrupted one did.
    """
    background = tf.data.Dataset.from_generator(generator, output_signature=signature, args=args)
    background = background.map(lambda *block: block[2]).rebatch(batch_size, drop_remainder=True).skip(skip // batch_size)
    background = background.map(lambda b: tf.cast(b, tf.float32) / 32768.0)
    return tf.data.Dataset.zip(ds, background).map(lambda b, noise: {**b, "background": noise})


def finish_batch(batch: dict, config: ReaderConfig, bucketed: bool) -> tuple:
    """Augment (training), apply the frontend (pipeline placement), shape the output.

    With ``config.soft_labels`` the labels are ``{"labels", "soft", "mask"}``: the hard labels,
    the teacher's soft labels and their mask, mixed by mixup alike (`shardkit.augment.mix_teacher`).
    """
    audio, labels = tf.cast(batch["audio"], tf.float32) / 32768.0, batch["labels"]
    soft, mask = batch.get("soft"), batch.get("mask")
    first = batch["index"][0]
    epoch = batch["epoch"][0]
    if config.training and config.augment is not None:
        from shardkit.augment import augment_waveforms

        audio = augment_waveforms(audio, config.augment, stage_seed(config.seed, epoch, first, AUGMENT), background=batch.get("background"))
    if config.training and config.mixup is not None:
        from shardkit.augment import mix_teacher, mixup

        mixup_seed = stage_seed(config.seed, epoch, first, MIXUP)
        audio, labels = mixup(audio, labels, config.mixup, mixup_seed)
        if config.soft_labels:
            soft, mask = mix_teacher(soft, mask, config.mixup, mixup_seed)
    if config.placement == "pipeline" and config.frontend.name != "raw":
        hop = config.frontend.hop_length
        lengths = tf.minimum((batch["length"] + hop - 1) // hop, tf.shape(audio, out_type=batch["length"].dtype)[1] // hop) if bucketed else None
        features = tf_frontend(audio, config.frontend, variable_length=bucketed, valid=lengths)
        if config.training and config.spec_augment is not None:
            from shardkit.augment import spec_augment

            features = spec_augment(features, config.spec_augment, stage_seed(config.seed, epoch, first, SPEC), lengths=lengths)
        features = features[..., tf.newaxis]
    else:
        features, lengths = audio, (batch["length"] if bucketed else None)
    x = (
        {"features": features, "lengths": tf.minimum(lengths, tf.shape(features)[2] if features.shape.rank == 4 else tf.shape(features)[1])}
        if bucketed
        else features
    )
    if config.soft_labels:
        labels = {"labels": labels, "soft": soft, "mask": mask}
    if config.with_position:
        position = tf.stack([epoch, tf.reduce_max(batch["index"]) + 1])
        return x, labels, position
    return x, labels


def epochs_dataset(epoch_dataset: Callable[[Any, Any], tf.data.Dataset], first_epoch: int, first_skip: int, epochs: int | None) -> tf.data.Dataset:
    """Epochs ``first_epoch, ...`` (``epochs`` of them; None: forever), each ``epoch_dataset(epoch, skip)``; only the first skips."""
    last = first_epoch + epochs if epochs is not None else np.iinfo(np.int64).max
    return tf.data.Dataset.range(first_epoch, last).flat_map(lambda e: epoch_dataset(e, tf.where(e == first_epoch, tf.constant(first_skip, tf.int64), 0)))


def finished(ds: tf.data.Dataset, finish: Callable) -> tf.data.Dataset:
    """``finish`` on every batch in parallel (deterministic order), prefetched, map fusion on."""
    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_optimization.map_fusion = True
    return ds.with_options(options)
