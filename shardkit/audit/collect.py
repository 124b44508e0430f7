"""One pass over a shard set: every sample's provenance, and the seeded chunks each class shows.

Memory stays bounded whatever the build's size: the pass keeps the metadata of every sample
(small) but the audio of at most ``per_class`` samples per class, chosen by a seeded hash rank
of the key (the same chunks for the same seed, whatever the shard order).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shardkit.export.samples import key_rank
from shardkit.manifest import shard_urls
from shardkit.read.chunks import decode_int16
from shardkit.read.stream import RawSample, ReadStats, read_shards
from shardkit.storage import read_url_bytes


@dataclass(frozen=True)
class Chunk:
    """A sample the page shows: its key, its decoded audio and its metadata."""

    key: str
    audio: np.ndarray
    meta: dict
    shard: str


@dataclass
class Collected:
    """What the pass found: ``drawn[class]`` (best rank first) and every sample's provenance by source."""

    drawn: dict[str, list[Chunk]]
    by_source: dict[str, list[dict]]
    samples: int = 0
    stats: ReadStats = field(default_factory=ReadStats)


def all_shard_urls(url: str, manifest: dict) -> list[tuple[str, str]]:
    """``(split, shard URL)`` of every shard the manifest lists, splits in name order."""
    return [(split, shard) for split in sorted(manifest["splits"]) for shard in shard_urls(url, manifest, split)]


def raw_samples(urls: Iterable[str], storage_options: dict[str, Any] | None, stats: ReadStats) -> Iterator[RawSample]:
    """Every sample of ``urls``; a damaged shard raises (an audit must not hide damage)."""
    return read_shards(urls, lambda u: read_url_bytes(u, storage_options), stats, on_error="raise")


def provenance(sample: RawSample) -> dict:
    """The per-sample facts the recording view needs (a few fields of ``KEY.json``)."""
    meta = sample.meta
    return {
        "key": sample.key,
        "offset_s": meta.get("offset_s"),
        "duration_s": meta.get("duration_s"),
        "rank": meta.get("rank"),
        "score": meta.get("score"),
        "split": meta.get("split"),
        "class": meta.get("class"),
        "picked_by": meta.get("picked_by"),
    }


def collect(
    url: str, manifest: dict, per_class: int, seed: int, storage_options: dict[str, Any] | None = None, progress: Callable[[int], None] | None = None
) -> Collected:
    """Read every shard once; draw ``per_class`` chunks of each class by seeded rank.

    Args:
        url: the shard folder.
        manifest: its manifest.
        per_class: chunks kept per class (``meta["class"]``: the recording's folder, negatives included).
        seed: seeds the draw.
        storage_options: fsspec options.
        progress: called with 1 after each sample.
    """
    heaps: dict[str, list[tuple[bytes, str, RawSample]]] = {}
    by_source: dict[str, list[dict]] = {}
    stats = ReadStats()
    count = 0
    for sample in raw_samples([u for _, u in all_shard_urls(url, manifest)], storage_options, stats):
        count += 1
        by_source.setdefault(str(sample.meta.get("source", "")), []).append(provenance(sample))
        name = str(sample.meta.get("class", ""))
        # a max-heap on rank (negated bytes) keeps the per_class smallest ranks seen so far
        entry = (bytes(255 - b for b in key_rank(sample.key, seed)), sample.key, sample)
        heap = heaps.setdefault(name, [])
        if len(heap) < per_class:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
        if progress is not None:
            progress(1)
    codec, rate = manifest["codec"], manifest["sample_rate"]
    drawn = {}
    for name in sorted(heaps):
        chosen = sorted(heaps[name], reverse=True)
        drawn[name] = [Chunk(s.key, decode_int16(s.audio, codec, rate), s.meta, s.shard) for _, _, s in chosen]
    for chunks in by_source.values():
        chunks.sort(key=lambda c: (c["offset_s"] is None, c["offset_s"] or 0.0))
    return Collected(drawn, by_source, count, stats)


def fetch_chunks(url: str, manifest: dict, split: str, keys: set[str], storage_options: dict[str, Any] | None = None) -> dict[str, Chunk]:
    """The samples of ``split`` whose keys are in ``keys``, decoded (a second, targeted pass)."""
    found: dict[str, Chunk] = {}
    codec, rate = manifest["codec"], manifest["sample_rate"]
    for sample in raw_samples(shard_urls(url, manifest, split), storage_options, ReadStats()):
        if sample.key in keys and sample.key not in found:
            found[sample.key] = Chunk(sample.key, decode_int16(sample.audio, codec, rate), sample.meta, sample.shard)
            if len(found) == len(keys):
                break
    return found
