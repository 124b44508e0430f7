"""`ShardReader`: shards to a `tf.data.Dataset` of (features, labels).

The Python part is light: it fetches shards, parses tar headers and JSON, shuffles and
yields encoded bytes. Everything per-sample that costs (decoding, crop/pad, frontend,
augmentation) runs in tf ops or in C libraries that release the GIL, in parallel map calls.
Every random choice is stateless and seeded from (seed, epoch, sample index), so the same
seed gives the same batches, epochs differ, and a reader restarted at a position yields
exactly the remaining sequence.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import tensorflow as tf

from shardkit.audio.frontends_tf import tf_frontend
from shardkit.codecs import CODECS
from shardkit.errors import ConfigError
from shardkit.manifest import class_list_problem
from shardkit.read.bucketing import Buckets, plan_buckets
from shardkit.read.chunks import decode_int16, fit_into
from shardkit.read.config import ReaderConfig
from shardkit.read.lifecycle import producer, track_dataset, until_stopped
from shardkit.read.shardlist import epoch_order, host_shards, resolve_shards
from shardkit.read.stream import (
    RawSample,
    ReadStats,
    balance_classes,
    class_keep_probabilities,
    known_labels,
    labels_vector,
    read_shards,
    shuffle_buffer,
)
from shardkit.storage import read_url_bytes

log = logging.getLogger(__name__)

#: multiplies the epoch in per-sample seeds (indices within an epoch stay below it)
EPOCH_STRIDE = 1 << 32
#: samples handed from the Python stream to tf.data at a time
GROUP_SIZE = 32
#: sub-stream tags folded into seeds so crop, augmentation and mixup draw independently
_CROP, _AUGMENT, _MIXUP, _SPEC, _BACKGROUND = 1, 2, 3, 4, 5


def _groups(numbered: Iterator[tuple[int, RawSample]]) -> Iterator[list[tuple[int, RawSample]]]:
    """Consecutive lists of up to `GROUP_SIZE` numbered samples."""
    numbered = iter(numbered)
    while group := list(itertools.islice(numbered, GROUP_SIZE)):
        yield group


def keep_large_buffers_on_the_heap() -> bool:
    """Stop glibc from mapping and unmapping every batch-sized buffer.

    A batch of 3 s chunks is tens of MB; above glibc's mmap threshold each such buffer is a
    fresh mapping, so every batch pays page faults for memory it just gave back (TensorFlow's
    generator op also lowers the trim threshold to 128 kB). Measured on a 2-core VM, the
    faults cost as much CPU as the reader itself. This raises the mmap and trim thresholds
    for the process (like ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``) and caps
    the number of malloc arenas at two; freed memory is reused instead of returned, and RSS
    stays flat at its working size.

    Returns:
        Whether the settings were applied (False off glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    # two arenas: with many allocating threads, per-thread arenas each keeping freed buffers would grow RSS epoch after epoch
    return bool(libc.mallopt(m_arena_max, 2) and libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(m_trim_threshold, 256 << 20))


@dataclass(frozen=True)
class ReaderPosition:
    """Where a reader is: ``samples`` samples of ``epoch`` have been consumed."""

    epoch: int = 0
    samples: int = 0

    @classmethod
    def from_batch(cls, position: np.ndarray) -> ReaderPosition:
        """The position after a batch, from the batch's ``[epoch, next_index]`` tensor."""
        return cls(int(position[0]), int(position[1]))


class ShardReader:
    """Streams one split of a shard set (local or ``s3://``) into tf.data.

    Args:
        source: a shard folder / manifest URL, a ``.tar`` brace pattern, or a list of URLs.
        config: reader settings.

    Raises:
        ConfigError: bad source, split, class list or settings, before anything is read.
    """

    def __init__(self, source: str | list[str], config: ReaderConfig = ReaderConfig()) -> None:
        self.config = config
        resolved = resolve_shards(source, config.split, config.storage_options)
        self.manifest = resolved.manifest
        self.urls = host_shards(resolved.urls, config.num_shards, config.shard_index)
        #: samples per shard URL as the manifest lists them (a shard yields no more); None without a manifest
        self.listed = None if resolved.samples_per_shard is None else dict(zip(resolved.urls, resolved.samples_per_shard, strict=True))
        manifest = self.manifest or {}
        problem = class_list_problem(manifest) if self.manifest and not config.classes else None
        if problem:
            raise ConfigError(f"the manifest of {source!r} contradicts itself: {problem}; rebuild the shards or fix its class list")
        self.classes = list(config.classes or manifest.get("classes") or [])
        if not self.classes:
            raise ConfigError("the reader needs a class list: read from a manifest or pass classes=...")
        self.class_index = {name: i for i, name in enumerate(self.classes)}
        self.codec = config.codec or manifest.get("codec")
        if self.codec not in CODECS:
            raise ConfigError(f"reader codec must be one of {sorted(CODECS)}; got {self.codec!r} (pass codec=... without a manifest)")
        self.sample_rate_hz = int(manifest.get("sample_rate", config.frontend.sample_rate_hz))
        if self.sample_rate_hz != config.frontend.sample_rate_hz:
            raise ConfigError(f"frontend sample_rate_hz {config.frontend.sample_rate_hz} differs from the shards' {self.sample_rate_hz} Hz")
        split_info = manifest.get("splits", {}).get(config.split, {})
        self.keep = class_keep_probabilities(split_info.get("classes", {}), config.balance_cap) if config.balance == "cap" else {}
        if config.balance == "cap" and not self.keep:
            raise ConfigError("balance='cap' needs the manifest's per-class counts")
        self.buckets: Buckets | None = None
        if config.batching == "bucketed":
            if "duration_histogram" not in split_info:
                raise ConfigError("bucketed batching needs the manifest's duration histogram")
            b = config.bucket
            self.buckets = plan_buckets(
                split_info["duration_histogram"], max_padding_ratio=b.max_padding_ratio, max_buckets=b.max_buckets, seconds_per_batch=b.seconds_per_batch
            )
        self.stats = ReadStats()
        self._pool: ThreadPoolExecutor | None = None

    # ----- the Python side: shards to raw samples --------------------------------------------

    def _read_bytes(self, url: str) -> bytes:
        return read_url_bytes(url, self.config.storage_options, retries=self.config.retries)

    def samples(self, epoch: int, skip: int = 0) -> Iterator[tuple[int, RawSample]]:
        """``(index, sample)`` of one epoch in reading order, starting after ``skip`` samples."""
        config = self.config
        shuffle = config.training
        rng = np.random.default_rng([config.seed, epoch, 2])
        order = until_stopped(epoch_order(self.urls, config.seed, epoch, config.shuffle_shards and shuffle))
        stream = read_shards(order, self._read_bytes, self.stats, config.on_error, prefetch=config.prefetch_shards, listed=self.listed)
        stream = (s for s in stream if s.extension == CODECS[self.codec].extension or self._wrong_codec())
        stream = known_labels(stream, self.class_index, self.stats, config.on_error)
        if self.keep:
            stream = balance_classes(stream, self.keep, np.random.default_rng([config.seed, epoch, 3]))
        if shuffle:
            stream = shuffle_buffer(stream, config.shuffle_buffer, rng)
        return itertools.islice(enumerate(stream), skip, None)

    def _wrong_codec(self) -> bool:
        self.stats.add("samples_wrong_codec")
        return False

    @producer
    def _generator(self, epoch: np.int64, skip: np.int64) -> Iterator[tuple]:
        """Bucketed batching: groups of encoded members, one Python→TF hand-over per group."""
        numbered = ((i, s) for i, s in self.samples(int(epoch), int(skip)) if self._decodable_by_tf(s))
        for group in _groups(numbered):
            yield self._pack(int(epoch), group)

    def _decodable_by_tf(self, sample: RawSample) -> bool:
        """tf.io.decode_raw fails the whole pipeline on an odd-length pcm16 member: drop it here."""
        if self.codec == "pcm16" and len(sample.audio) % 2:
            self.stats.add("samples_undecodable")
            return False
        return True

    def _pack(self, epoch: int, group: list[tuple[int, RawSample]]) -> tuple:
        return (
            np.full(len(group), epoch, dtype=np.int64),
            np.array([index for index, _ in group], dtype=np.int64),
            np.array([sample.audio for _, sample in group], dtype=object),
            np.stack([labels_vector(sample.meta, self.class_index) for _, sample in group]),
        )

    def _signature(self) -> tuple:
        return (
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None, len(self.classes)], tf.float32),
        )

    def _decode_group(self, members: list[bytes]) -> list[np.ndarray | None]:
        """Decode a group of members to int16 (a thread pool for FLAC/WAV); None marks a bad one."""

        def one(data: bytes) -> np.ndarray | None:
            try:
                return decode_int16(data, self.codec, self.sample_rate_hz)
            except ValueError as exc:
                self.stats.add("samples_undecodable")
                log.warning("skipping an undecodable %s member: %s", self.codec, exc)
                return None

        if self.codec == "pcm16" or len(members) == 1:
            return [one(data) for data in members]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="shardkit-decode")
        return list(self._pool.map(one, members))

    def _dense_groups(self, numbered: Iterator[tuple[int, RawSample]], epoch: int, tag: int) -> Iterator[tuple]:
        """Fixed batching: groups as dense ``[K, N]`` int16 blocks, cropped/padded in numpy."""
        n = self.config.frontend.chunk_samples
        for group in _groups(numbered):
            decoded = self._decode_group([sample.audio for _, sample in group])
            rows = [(index, sample, pcm) for (index, sample), pcm in zip(group, decoded, strict=True) if pcm is not None]
            if not rows:
                continue
            audio = np.zeros((len(rows), n), dtype=np.int16)
            for row, (index, _, pcm) in zip(audio, rows, strict=True):
                rng = np.random.default_rng([self.config.seed, tag, epoch, index]) if self.config.training and len(pcm) != n else None
                fit_into(row, pcm, rng)
            yield (
                np.full(len(rows), epoch, dtype=np.int64),
                np.array([index for index, _, _ in rows], dtype=np.int64),
                audio,
                np.stack([labels_vector(sample.meta, self.class_index) for _, sample, _ in rows]),
            )

    @producer
    def _fixed_generator(self, epoch: np.int64, skip: np.int64) -> Iterator[tuple]:
        if self.config.tune_malloc:  # again: TensorFlow's generator op resets the trim threshold
            keep_large_buffers_on_the_heap()
        return self._dense_groups(self.samples(int(epoch), int(skip)), int(epoch), _CROP)

    def _dense_signature(self) -> tuple:
        return (
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None, self.config.frontend.chunk_samples], tf.int16),
            tf.TensorSpec([None, len(self.classes)], tf.float32),
        )

    # ----- the tf side -------------------------------------------------------------------------

    def _decode_numpy(self, data: bytes) -> tuple[np.ndarray, np.bool_]:
        """FLAC/WAV member → int16 samples, for the per-sample (bucketed) path."""
        (pcm,) = self._decode_group([data])
        return (np.zeros(0, dtype=np.int16), np.bool_(False)) if pcm is None else (pcm, np.bool_(True))

    def _decode(self, epoch, index, data, labels):
        """Encoded member → int16 samples; the float conversion happens once per batch."""
        if self.codec == "pcm16":
            audio = tf.io.decode_raw(data, tf.int16, little_endian=True)
            ok = tf.size(audio) > 0
        else:
            audio, ok = tf.numpy_function(self._decode_numpy, [data], (tf.int16, tf.bool), stateful=False)
            audio.set_shape([None])
            ok.set_shape([])
        return {"audio": audio, "labels": labels, "epoch": epoch, "index": index, "ok": ok}

    def _seed(self, epoch, index, tag: int) -> tf.Tensor:
        return tf.stack([tf.constant(self.config.seed, tf.int64) * 8 + tag, tf.cast(epoch, tf.int64) * EPOCH_STRIDE + tf.cast(index, tf.int64)])

    def _limit_length(self, element: dict, n_max: int) -> dict:
        audio = element["audio"][:n_max]
        return {**element, "audio": audio, "length": tf.shape(audio)[0]}

    def _epoch_dataset(self, epoch: tf.Tensor, skip: tf.Tensor) -> tf.data.Dataset:
        if self.buckets is None:
            ds = tf.data.Dataset.from_generator(self._fixed_generator, output_signature=self._dense_signature(), args=(epoch, skip))
            ds = ds.map(lambda e, i, audio, labels: {"epoch": e, "index": i, "audio": audio, "labels": labels})
            return ds.rebatch(self.config.batch_size, drop_remainder=self.config.training)
        ds = tf.data.Dataset.from_generator(self._generator, output_signature=self._signature(), args=(epoch, skip)).unbatch()
        ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.filter(lambda e: e["ok"])
        sr = self.sample_rate_hz
        uppers = [int(round(u * sr)) for u in self.buckets.upper_s]
        ds = ds.map(partial(self._limit_length, n_max=uppers[-1]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.map(lambda e: {k: v for k, v in e.items() if k != "ok"})
        return ds.bucket_by_sequence_length(
            element_length_func=lambda e: e["length"],
            bucket_boundaries=[u + 1 for u in uppers],
            bucket_batch_sizes=[*self.buckets.batch_sizes, 1],
            pad_to_bucket_boundary=True,
            drop_remainder=False,
        )

    def _finish_batch(self, batch: dict):
        """Augment (training), apply the frontend (pipeline placement), shape the output."""
        config = self.config
        audio, labels = tf.cast(batch["audio"], tf.float32) / 32768.0, batch["labels"]
        first = batch["index"][0]
        epoch = batch["epoch"][0]
        if config.training and config.augment is not None:
            from shardkit.augment import augment_waveforms

            audio = augment_waveforms(audio, config.augment, self._seed(epoch, first, _AUGMENT), background=batch.get("background"))
        if config.training and config.mixup is not None:
            from shardkit.augment import mixup

            audio, labels = mixup(audio, labels, config.mixup, self._seed(epoch, first, _MIXUP))
        bucketed = self.buckets is not None
        if config.placement == "pipeline" and config.frontend.name != "raw":
            features = tf_frontend(audio, config.frontend, variable_length=bucketed)
            if config.training and config.spec_augment is not None:
                from shardkit.augment import spec_augment

                features = spec_augment(features, config.spec_augment, self._seed(epoch, first, _SPEC))
            lengths = (batch["length"] + config.frontend.hop_length - 1) // config.frontend.hop_length if bucketed else None
            features = features[..., tf.newaxis]
        else:
            features, lengths = audio, (batch["length"] if bucketed else None)
        x = (
            {"features": features, "lengths": tf.minimum(lengths, tf.shape(features)[2] if features.shape.rank == 4 else tf.shape(features)[1])}
            if bucketed
            else features
        )
        if config.with_position:
            position = tf.stack([epoch, tf.reduce_max(batch["index"]) + 1])
            return x, labels, position
        return x, labels

    def _with_background(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Zip training batches with batches of negative-class audio for background mixing."""
        if self.buckets is not None or not (self.manifest or {}).get("negative_classes"):
            return ds
        background = tf.data.Dataset.from_generator(self._background_generator, output_signature=self._dense_signature())
        background = background.map(lambda e, i, audio, labels: audio).rebatch(self.config.batch_size, drop_remainder=True)
        background = background.map(lambda b: tf.cast(b, tf.float32) / 32768.0)
        return tf.data.Dataset.zip(ds, background).map(lambda b, noise: {**b, "background": noise})

    @producer
    def _background_generator(self) -> Iterator[tuple]:
        """Negative-class samples of this host's shards, reshuffled every pass, forever."""
        for cycle in itertools.count():
            rng = np.random.default_rng([self.config.seed, cycle, 5])
            order = until_stopped(epoch_order(self.urls, self.config.seed + 7919, cycle, True))
            negatives = (
                s
                for s in read_shards(order, self._read_bytes, ReadStats(), "skip", listed=self.listed)
                if not s.meta.get("labels") and s.extension == CODECS[self.codec].extension
            )
            found = False
            for group in self._dense_groups(enumerate(shuffle_buffer(negatives, 256, rng)), cycle, _BACKGROUND):
                found = True
                yield group
            if not found:
                return

    def dataset(self, start: ReaderPosition | None = None) -> tf.data.Dataset:
        """The `tf.data.Dataset` of ``(features, labels)`` batches (see `ReaderConfig`).

        Fixed batching yields ``features`` of shape ``[B, rows, W, 1]`` (spectrogram
        frontends, pipeline placement) or ``[B, N]`` (raw or deferred); bucketed batching
        yields ``{"features": ..., "lengths": ...}`` with lengths in frames (or samples).
        With ``with_position`` a third element ``[epoch, next_index]`` gives the position
        to restart from.

        Args:
            start: restart mid-way: skip to this position (same seed → same remaining batches).
        """
        start = start or ReaderPosition()
        if self.config.tune_malloc:
            keep_large_buffers_on_the_heap()
        if start.samples and self.config.batching == "bucketed":
            raise ConfigError("restarting mid-epoch needs fixed batching; bucketed batches are grouped out of order")
        last = start.epoch + self.config.epochs if self.config.epochs is not None else np.iinfo(np.int64).max
        epochs = tf.data.Dataset.range(start.epoch, last)
        first_epoch, first_skip = start.epoch, start.samples
        ds = epochs.flat_map(lambda e: self._epoch_dataset(e, tf.where(e == first_epoch, tf.constant(first_skip, tf.int64), 0)))
        augment = self.config.augment
        if self.config.training and augment is not None and getattr(augment, "background_prob", 0) > 0:
            ds = self._with_background(ds)
        ds = ds.map(self._finish_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_optimization.map_fusion = True
        return track_dataset(ds.with_options(options))


def make_dataset(source: str | list[str], config: ReaderConfig = ReaderConfig(), start: ReaderPosition | None = None) -> tf.data.Dataset:
    """Shards to a `tf.data.Dataset` of ``(features, labels)``: the one-call form of `ShardReader`."""
    return ShardReader(source, config).dataset(start)
