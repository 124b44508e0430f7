"""Keyed evaluation samples from shards: deterministic, class-stratified picks and their features.

Calibration (the converter's representative data, QAT's activation ranges) and the gates'
validation samples are drawn here, by key, so the two sets can be proven disjoint. A pick
depends only on the seed and the keys present (a hash rank per key), not on shard order.
Features are computed as the training pipeline computes them: centred crop/pad, then the
tf frontend of the model's spectrogram contract.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import ConfigError
from shardkit.read.chunks import decode_int16, fit_into
from shardkit.read.config import ReaderConfig
from shardkit.read.stream import labels_vector

#: stratum of samples without labels (negatives / noise)
NEGATIVE_STRATUM = ""
#: samples put through the frontend at a time
FEATURE_BATCH = 64


@dataclass(frozen=True)
class SampleSet:
    """Samples with their keys: ``features[i]`` and ``labels[i]`` belong to ``keys[i]``.

    ``audio`` (int16 ``[n, N]``, the cropped/padded chunks the features were computed from;
    ``audio / 32768`` is the frontend's input) is kept only when asked for.
    """

    keys: tuple[str, ...]
    features: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    audio: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)


def _reader(source: str, split: str, frontend: FrontendConfig, storage_options: dict[str, Any] | None):
    from shardkit.read.dataset import ShardReader

    reader = ShardReader(source, ReaderConfig(split=split, training=False, frontend=frontend, storage_options=storage_options or {}))
    if not reader.urls:
        raise ConfigError(f"the {split!r} split of {source!r} has no shards")
    return reader


def stratum(meta: dict, classes: list[str]) -> str:
    """The class a sample counts for when stratifying: its first label in class order."""
    labels = [name for name in classes if name in meta.get("labels", [])]
    return labels[0] if labels else NEGATIVE_STRATUM


def key_rank(key: str, seed: int) -> bytes:
    """A seeded pseudo-random rank of ``key`` (stable across runs, machines and shard orders)."""
    return hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()


def stratified_pick(candidates: dict[str, list[tuple[bytes, Any]]], count: int) -> list[Any]:
    """Round-robin over strata (in sorted order), each stratum's items in rank order, up to ``count``.

    Args:
        candidates: stratum → ``(rank, item)`` pairs, any order.
        count: how many items to pick in all.
    """
    queues = {name: sorted(items, key=lambda pair: pair[0]) for name, items in sorted(candidates.items())}
    picked: list[Any] = []
    depth = 0
    while len(picked) < count and any(depth < len(q) for q in queues.values()):
        for items in queues.values():
            if depth < len(items) and len(picked) < count:
                picked.append(items[depth][1])
        depth += 1
    return picked


def pick_samples(
    source: str,
    split: str,
    frontend: FrontendConfig,
    count: int,
    *,
    seed: int = 0,
    exclude: frozenset[str] | set[str] = frozenset(),
    storage_options: dict[str, Any] | None = None,
    keep_audio: bool = False,
) -> SampleSet:
    """Up to ``count`` samples of ``split``, stratified by class, deterministic in ``seed``.

    One pass over the split: each stratum keeps its ``count`` lowest-ranked samples (encoded
    bytes only), then strata take turns. Keys in ``exclude`` are never picked. With
    ``keep_audio`` the set also holds the int16 chunks (`SampleSet.audio`).

    Raises:
        ConfigError: the split has no shards or no usable sample.
    """
    reader = _reader(source, split, frontend, storage_options)
    heaps: dict[str, list] = {}
    for _, sample in reader.samples(0):
        if sample.key in exclude:
            continue
        heap = heaps.setdefault(stratum(sample.meta, reader.classes), [])
        entry = (_negated(key_rank(sample.key, seed)), sample.key, sample)
        if len(heap) < count:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
    candidates = {name: [(_negated(neg), sample) for neg, _, sample in heap] for name, heap in heaps.items()}
    chosen = stratified_pick(candidates, count)
    if not chosen:
        raise ConfigError(f"the {split!r} split of {source!r} has no samples to pick" + (f" outside the {len(exclude)} excluded keys" if exclude else ""))
    return _features(reader, chosen, keep_audio)


def _negated(rank: bytes) -> bytes:
    """Byte-wise complement: a max-heap on the rank out of Python's min-heap."""
    return bytes(255 - b for b in rank)


def iter_split(
    source: str, split: str, frontend: FrontendConfig, *, batch: int = FEATURE_BATCH, storage_options: dict[str, Any] | None = None
) -> Iterator[SampleSet]:
    """Every sample of ``split`` in reading order, as `SampleSet` batches of up to ``batch``."""
    reader = _reader(source, split, frontend, storage_options)
    pending = []
    for _, sample in reader.samples(0):
        pending.append(sample)
        if len(pending) == batch:
            yield _features(reader, pending)
            pending = []
    if pending:
        yield _features(reader, pending)


def _features(reader, samples: list, keep_audio: bool = False) -> SampleSet:
    """Decode, centre-crop/pad and put ``samples`` through the frontend (undecodable ones skipped, counted)."""
    from shardkit.audio.frontends_tf import tf_frontend

    frontend = reader.config.frontend
    rows, kept = [], []
    for sample in samples:
        try:
            pcm = decode_int16(sample.audio, reader.codec, reader.sample_rate_hz)
        except ValueError:
            reader.stats.add("members_undecodable")
            continue
        row = np.zeros(frontend.chunk_samples, dtype=np.int16)
        fit_into(row, pcm, None)
        rows.append(row)
        kept.append(sample)
    if not kept:
        return SampleSet((), np.zeros((0, *_feature_shape(frontend)), np.float32), np.zeros((0, len(reader.classes)), np.float32), tuple(reader.classes))
    audio = np.stack(rows).astype(np.float32) / 32768.0
    features = np.concatenate([np.asarray(tf_frontend(audio[i : i + FEATURE_BATCH], frontend)) for i in range(0, len(audio), FEATURE_BATCH)])
    if frontend.name != "raw":
        features = features[..., np.newaxis]
    labels = np.stack([labels_vector(sample.meta, reader.class_index) for sample in kept])
    return SampleSet(tuple(sample.key for sample in kept), features.astype(np.float32), labels, tuple(reader.classes), np.stack(rows) if keep_audio else None)


def _feature_shape(frontend: FrontendConfig) -> tuple[int, ...]:
    return frontend.output_shape if frontend.name == "raw" else (*frontend.output_shape, 1)
