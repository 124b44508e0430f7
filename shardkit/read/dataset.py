"""`ShardReader`: shards to a `tf.data.Dataset` of (features, labels), as a chain of named stages.

The Python part is a list of small generator stages (`shardkit.read.stream`, then
`shardkit.read.stages`): shard URLs → fetched shards → samples → the codec's members → known
labels → class caps → shuffle buffer → numbered → groups → decoded, cropped/padded int16 blocks
(or encoded blocks for bucketed batching). `shardkit.read.tf_data` turns the blocks into
batches: rebatch or bucket, augmentation, frontend, prefetch. Every random choice is seeded
from (seed, epoch, sample index), so the same seed gives the same batches, epochs differ, and a
reader restarted at a position yields exactly the remaining sequence. The reader also keeps
batch-sized buffers on glibc's heap (`shardkit.read.malloc`) unless ``tune_malloc=False``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from shardkit.codecs import CODECS
from shardkit.errors import ConfigError
from shardkit.manifest import class_list_problem
from shardkit.read import tf_data
from shardkit.read.bucketing import Buckets, plan_buckets
from shardkit.read.cache import SplitCache, plan_cache
from shardkit.read.config import ReaderConfig
from shardkit.read.lifecycle import producer, track_dataset, until_stopped
from shardkit.read.malloc import keep_large_buffers_on_the_heap
from shardkit.read.shardlist import epoch_order, host_shards, resolve_shards
from shardkit.read.stages import (
    GROUP_SIZE,
    MemberDecoder,
    decoded_rows,
    dense_blocks,
    encoded_blocks,
    groups,
    negatives,
    numbered,
    tf_decodable,
    with_extension,
)
from shardkit.read.stream import RawSample, ReadStats, balance_classes, class_keep_probabilities, known_labels, read_shards, shuffle_buffer
from shardkit.read.tf_data import EPOCH_STRIDE
from shardkit.storage import read_url_bytes

log = logging.getLogger(__name__)

#: the settings `ShardReader.with_settings` may change: how many epochs a dataset spans and whether batches carry their position
STREAM_SETTINGS = ("epochs", "with_position")


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
        entries = None if resolved.entries is None else dict(zip(resolved.urls, resolved.entries, strict=True))
        self.cache_plan = plan_cache(None if entries is None else [entries[url] for url in self.urls], self.sample_rate_hz, config.cache_mb)
        #: the split's shard bytes and decoded members, kept from their first read (None: not cached, see ``cache_plan``)
        self.cache = SplitCache() if self.cache_plan.enabled else None
        log.info("reader, %s split: %s in memory (%s)", config.split, "kept" if self.cache else "not kept", self.cache_plan.reason)
        self._decode = MemberDecoder(self.codec, self.sample_rate_hz, self.stats, self.cache)

    def with_settings(self, **changes: int | bool | None) -> ShardReader:
        """This reader (same shards, classes, decoder and stats) with other `STREAM_SETTINGS` (``epochs``, ``with_position``).

        Raises:
            ConfigError: a setting outside `STREAM_SETTINGS` (those shape what ``__init__`` derived).
        """
        other = sorted(set(changes) - set(STREAM_SETTINGS))
        if other:
            raise ConfigError(f"with_settings changes only {list(STREAM_SETTINGS)}; got {other} (make a new ShardReader for those)")
        reader = copy.copy(self)
        reader.config = dataclasses.replace(self.config, **changes)
        return reader

    # ----- the Python side: the stages --------------------------------------------------------

    def _read_bytes(self, url: str) -> bytes:
        if self.cache is not None:
            return self.cache.shard(url, self._fetch)
        return self._fetch(url)

    def _fetch(self, url: str) -> bytes:
        return read_url_bytes(url, self.config.storage_options, retries=self.config.retries)

    def samples(self, epoch: int, skip: int = 0) -> Iterator[tuple[int, RawSample]]:
        """``(index, sample)`` of one epoch in reading order, starting after ``skip`` samples."""
        config, shuffle = self.config, self.config.training
        stream = until_stopped(epoch_order(self.urls, config.seed, epoch, config.shuffle_shards and shuffle))
        stream = read_shards(stream, self._read_bytes, self.stats, config.on_error, prefetch=config.prefetch_shards, listed=self.listed)
        stream = with_extension(stream, CODECS[self.codec].extension, self.stats)
        stream = known_labels(stream, self.class_index, self.stats, config.on_error)
        if self.keep:
            stream = balance_classes(stream, self.keep, np.random.default_rng([config.seed, epoch, 3]))
        if shuffle:
            stream = shuffle_buffer(stream, config.shuffle_buffer, np.random.default_rng([config.seed, epoch, 2]))
        return numbered(stream, skip)

    def _blocks(self, items: Iterator[tuple[int, RawSample]], epoch: int, tag: int) -> Iterator[tuple]:
        """Numbered samples → dense int16 blocks (decoded, cropped/padded; random crops seeded by (seed, tag, epoch, index))."""
        crop_seed = (self.config.seed, tag, epoch) if self.config.training else None
        rows = decoded_rows(groups(items, GROUP_SIZE), self._decode)
        return dense_blocks(rows, epoch, self.config.frontend.chunk_samples, self.class_index, crop_seed, self.config.soft_labels)

    @producer
    def _fixed_generator(self, epoch: np.int64, skip: np.int64) -> Iterator[tuple]:
        """Fixed batching: one epoch of dense blocks."""
        if self.config.tune_malloc:  # again: TensorFlow's generator op resets the trim threshold
            keep_large_buffers_on_the_heap()
        return self._blocks(self.samples(int(epoch), int(skip)), int(epoch), tf_data.CROP)

    @producer
    def _generator(self, epoch: np.int64, skip: np.int64) -> Iterator[tuple]:
        """Bucketed batching: one epoch of encoded blocks."""
        items = tf_decodable(self.samples(int(epoch), int(skip)), self.codec, self.stats)
        return encoded_blocks(groups(items, GROUP_SIZE), int(epoch), self.class_index, self.config.soft_labels)

    @producer
    def _background_generator(self, epoch: np.int64) -> Iterator[tuple]:
        """Negative-class samples of this host's shards as dense blocks for one epoch: reshuffled every pass, seeded by (seed, epoch, pass), forever."""
        epoch, index = int(epoch), itertools.count()
        for cycle in itertools.count():
            rng = np.random.default_rng([self.config.seed, epoch, cycle, 5])
            order = until_stopped(epoch_order(self.urls, self.config.seed + 7919, cycle, True))
            background = negatives(read_shards(order, self._read_bytes, ReadStats(), "skip", listed=self.listed), CODECS[self.codec].extension)
            found = False
            for block in self._blocks(((next(index), sample) for sample in shuffle_buffer(background, 256, rng)), epoch, tf_data.BACKGROUND):
                found = True
                yield block
            if not found:
                return

    def _decode_numpy(self, data: bytes) -> tuple[np.ndarray, np.bool_]:
        """FLAC/WAV member → int16 samples, for the per-sample (bucketed) path."""
        pcm = self._decode.one(data)
        return (np.zeros(0, dtype=np.int16), np.bool_(False)) if pcm is None else (pcm, np.bool_(True))

    # ----- the tf.data side ---------------------------------------------------------------------

    def _epoch_dataset(self, epoch: tf.Tensor, skip: tf.Tensor, max_batches: int | None = None) -> tf.data.Dataset:
        """One epoch's batches (at most ``max_batches``), with its own background stream when background mixing is on."""
        n_classes, soft = len(self.classes), self.config.soft_labels
        if self.buckets is None:
            signature = tf_data.block_signature(n_classes, self.config.frontend.chunk_samples, soft)
            ds = tf_data.fixed_epoch(self._fixed_generator, (epoch, skip), signature, self.config.batch_size, self.config.training)
        else:
            uppers = [int(round(u * self.sample_rate_hz)) for u in self.buckets.upper_s]
            decode = tf_data.decode_element(self.codec, self._decode_numpy)
            signature = tf_data.block_signature(n_classes, None, soft)
            ds = tf_data.bucketed_epoch(self._generator, (epoch, skip), signature, decode, uppers, self.buckets.batch_sizes)
        if max_batches is not None:
            ds = ds.take(max_batches)
        if self._mixes_background():
            signature = tf_data.block_signature(n_classes, self.config.frontend.chunk_samples, soft)
            ds = tf_data.with_background(ds, self._background_generator, (epoch,), signature, self.config.batch_size, skip)
        return ds

    def _mixes_background(self) -> bool:
        config = self.config
        background_prob = getattr(config.augment, "background_prob", 0) if config.augment is not None else 0
        return bool(config.training and background_prob > 0 and self.buckets is None and (self.manifest or {}).get("negative_classes"))

    def dataset(self, start: ReaderPosition | None = None, max_batches_per_epoch: int | None = None) -> tf.data.Dataset:
        """The `tf.data.Dataset` of ``(features, labels)`` batches (see `ReaderConfig`).

        Fixed batching yields ``features`` of shape ``[B, rows, W, 1]`` (spectrogram
        frontends, pipeline placement) or ``[B, N]`` (raw or deferred); bucketed batching
        yields ``{"features": ..., "lengths": ...}`` with lengths in frames (or samples).
        With ``with_position`` a third element ``[epoch, next_index]`` gives the position
        to restart from. With ``soft_labels`` the labels are a dict: ``labels`` (multi-hot),
        ``soft`` (the teacher's stored probabilities) and ``mask`` (1 where it has one).

        Args:
            start: restart mid-way: skip to this position (same seed → same remaining batches).
            max_batches_per_epoch: cut every epoch after this many batches (None: whole epochs).
        """
        config, start = self.config, start or ReaderPosition()
        if config.tune_malloc:
            keep_large_buffers_on_the_heap()
        if start.samples and config.batching == "bucketed":
            raise ConfigError("restarting mid-epoch needs fixed batching; bucketed batches are grouped out of order")
        epoch_dataset = functools.partial(self._epoch_dataset, max_batches=max_batches_per_epoch)
        ds = tf_data.epochs_dataset(epoch_dataset, start.epoch, start.samples, config.epochs)
        bucketed = self.buckets is not None
        return track_dataset(tf_data.finished(ds, lambda *batch: tf_data.finish_batch(*batch, config, bucketed)))


def make_dataset(source: str | list[str], config: ReaderConfig = ReaderConfig(), start: ReaderPosition | None = None) -> tf.data.Dataset:
    """Shards to a `tf.data.Dataset` of ``(features, labels)``: the one-call form of `ShardReader`."""
    return ShardReader(source, config).dataset(start)


__all__ = ["EPOCH_STRIDE", "GROUP_SIZE", "ReaderPosition", "ShardReader", "keep_large_buffers_on_the_heap", "make_dataset"]
