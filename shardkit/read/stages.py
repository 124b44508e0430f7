"""The reader's stages after the sample stream: numbering, groups, decoding, dense int16 blocks.

Each stage is a small generator over an iterator, testable with a plain list; `ShardReader`
chains them after the stream stages of `shardkit.read.stream` (shards → samples → known
labels → class caps → shuffle buffer):

    numbered(...) → groups(...) → decoded_rows(...) → dense_blocks(...)    fixed batching
    numbered(...) → tf_decodable(...) → groups(...) → encoded_blocks(...)   bucketed batching

A block is one Python → tf.data hand-over: ``(epochs, indices, audio, labels)`` arrays of one
group, because tf.data's per-element overhead, not the arithmetic, was the reader's cost. With
soft labels asked for, two more arrays follow: the teacher's soft labels and their mask.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from shardkit.read.cache import SplitCache
from shardkit.read.chunks import decode_int16, fit_into
from shardkit.read.stream import RawSample, ReadStats, labels_vector, teacher_vector

log = logging.getLogger(__name__)

#: samples handed from the Python stream to tf.data at a time
GROUP_SIZE = 32

Numbered = tuple[int, RawSample]
Block = tuple[np.ndarray, ...]


def label_columns(samples: Sequence[RawSample], class_index: Mapping[str, int], soft_labels: bool = False) -> tuple[np.ndarray, ...]:
    """A group's ``[K, C]`` label arrays: the multi-hot labels, then (``soft_labels``) the teacher's soft labels and their mask."""
    labels = np.stack([labels_vector(sample.meta, class_index) for sample in samples])
    if not soft_labels:
        return (labels,)
    soft, mask = zip(*(teacher_vector(sample.meta, class_index) for sample in samples), strict=True)
    return labels, np.stack(soft), np.stack(mask)


def with_extension(samples: Iterable[RawSample], extension: str, stats: ReadStats) -> Iterator[RawSample]:
    """Samples whose audio member has ``extension`` (the codec's); others counted as ``samples_wrong_codec``."""
    for sample in samples:
        if sample.extension == extension:
            yield sample
        else:
            stats.add("samples_wrong_codec")


def negatives(samples: Iterable[RawSample], extension: str) -> Iterator[RawSample]:
    """Samples without labels (negative-class audio) whose audio member has ``extension``: background for mixing."""
    return (sample for sample in samples if not sample.meta.get("labels") and sample.extension == extension)


def numbered(samples: Iterable[RawSample], skip: int = 0) -> Iterator[Numbered]:
    """``(index in the epoch, sample)``, starting after ``skip`` samples (a restart's position)."""
    return itertools.islice(enumerate(samples), skip, None)


def groups(items: Iterable, size: int = GROUP_SIZE) -> Iterator[list]:
    """Consecutive lists of up to ``size`` items."""
    items = iter(items)
    while group := list(itertools.islice(items, size)):
        yield group


def tf_decodable(items: Iterable[Numbered], codec: str, stats: ReadStats) -> Iterator[Numbered]:
    """Drop odd-length pcm16 members (counted as ``samples_undecodable``): tf.io.decode_raw would fail the whole pipeline on one."""
    for index, sample in items:
        if codec == "pcm16" and len(sample.audio) % 2:
            stats.add("samples_undecodable")
            continue
        yield index, sample


def encoded_blocks(batches: Iterable[list[Numbered]], epoch: int, class_index: Mapping[str, int], soft_labels: bool = False) -> Iterator[Block]:
    """Groups as blocks of encoded member bytes (bucketed batching decodes them per element in tf.data); see `label_columns`."""
    for group in batches:
        yield (
            np.full(len(group), epoch, dtype=np.int64),
            np.array([index for index, _ in group], dtype=np.int64),
            np.array([sample.audio for _, sample in group], dtype=object),
            *label_columns([sample for _, sample in group], class_index, soft_labels),
        )


class MemberDecoder:
    """Samples' members → int16 samples, a group at a time (a thread pool for FLAC/WAV: libsndfile releases the GIL).

    A member that does not decode becomes None, is counted as ``samples_undecodable`` and warned
    about; it never becomes a sample.

    Args:
        codec: the members' codec.
        sample_rate_hz: the rate every FLAC/WAV member must have.
        stats: where skipped members are counted.
        cache: keeps each member's decoded samples after its first decode (a small split's
            later epochs decode nothing); a kept failure is counted again on each read.
    """

    def __init__(self, codec: str, sample_rate_hz: int, stats: ReadStats, cache: SplitCache | None = None) -> None:
        self.codec, self.sample_rate_hz, self.stats, self.cache = codec, sample_rate_hz, stats, cache
        self._pool: ThreadPoolExecutor | None = None

    def one(self, data: bytes) -> np.ndarray | None:
        """One member, or None (counted) if it does not decode."""
        try:
            return decode_int16(data, self.codec, self.sample_rate_hz)
        except ValueError as exc:
            self.stats.add("samples_undecodable")
            log.warning("skipping an undecodable %s member: %s", self.codec, exc)
            return None

    def sample(self, sample: RawSample) -> np.ndarray | None:
        """One sample's member, from the cache when it holds it."""
        if self.cache is None:
            return self.one(sample.audio)
        pcm, kept = self.cache.member(sample.shard, sample.key, lambda: self.one(sample.audio))
        if pcm is None and kept:
            self.stats.add("samples_undecodable")
        return pcm

    def __call__(self, samples: Sequence[RawSample]) -> list[np.ndarray | None]:
        """Every sample of a group, in order."""
        if self.codec == "pcm16" or len(samples) == 1:
            return [self.sample(sample) for sample in samples]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="shardkit-decode")
        return list(self._pool.map(self.sample, samples))


def decoded_rows(batches: Iterable[list[Numbered]], decode: Callable[[Sequence[RawSample]], list]) -> Iterator[list[tuple[int, RawSample, np.ndarray]]]:
    """Groups of ``(index, sample, int16 samples)``; samples that ``decode`` rejects (None) left out, empty groups dropped."""
    for group in batches:
        decoded = decode([sample for _, sample in group])
        rows = [(index, sample, pcm) for (index, sample), pcm in zip(group, decoded, strict=True) if pcm is not None]
        if rows:
            yield rows


def dense_blocks(
    batches: Iterable[list[tuple[int, RawSample, np.ndarray]]],
    epoch: int,
    chunk_samples: int,
    class_index: Mapping[str, int],
    crop_seed: Sequence[int] | None = None,
    soft_labels: bool = False,
) -> Iterator[Block]:
    """Decoded groups as dense ``[K, chunk_samples]`` int16 blocks, each row cropped or padded.

    Args:
        batches: groups from `decoded_rows`.
        epoch: the epoch every row belongs to.
        chunk_samples: row length N.
        class_index: class name → label column.
        crop_seed: random crop/pad (training): a row of another length draws from
            ``default_rng([*crop_seed, index])``; None centres every row (evaluation).
        soft_labels: add the teacher's soft labels and their mask (`label_columns`).
    """
    for rows in batches:
        audio = np.zeros((len(rows), chunk_samples), dtype=np.int16)
        for row, (index, _, pcm) in zip(audio, rows, strict=True):
            rng = np.random.default_rng([*crop_seed, index]) if crop_seed is not None and len(pcm) != chunk_samples else None
            fit_into(row, pcm, rng)
        yield (
            np.full(len(rows), epoch, dtype=np.int64),
            np.array([index for index, _, _ in rows], dtype=np.int64),
            audio,
            *label_columns([sample for _, sample, _ in rows], class_index, soft_labels),
        )
