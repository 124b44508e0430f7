"""A small split kept in memory: shard bytes and decoded members after their first read.

A training run reads the same split every epoch. For a small split (the common case for a
new species) the second and later epochs need not fetch a shard again (from disk or S3) nor
decode a FLAC member again: `SplitCache` keeps each shard's bytes and each member's decoded
int16 samples from the first time they are read. Everything after the decode (shuffling,
crops, augmentation, mixup, the frontend) still runs every epoch, so batches are the same
with and without the cache, bit for bit.

Whether a split is cached is decided once, up front, from the manifest (`plan_cache`): its
shards' bytes plus its decoded samples (seconds x rate x 2 bytes) must fit the budget. A
split that does not fit is not cached at all, so memory never grows with the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: bytes per decoded sample (int16, mono)
DECODED_BYTES_PER_SAMPLE = 2
MB = 1 << 20


@dataclass(frozen=True)
class CachePlan:
    """Whether a reader keeps its split in memory, the bytes that takes, and why (for logs and reports)."""

    enabled: bool
    bytes_needed: int | None
    reason: str


def plan_cache(shards: Sequence[dict] | None, sample_rate_hz: int, budget_mb: int) -> CachePlan:
    """Cache the split when its shards (manifest entries with ``bytes`` and ``seconds``) fit ``budget_mb`` MB with their decoded samples.

    A source without a manifest (a pattern, a list of URLs) is never cached: its size is unknown.
    """
    if budget_mb <= 0:
        return CachePlan(False, None, "cache_mb is 0")
    if shards is None or any("bytes" not in s or "seconds" not in s for s in shards):
        return CachePlan(False, None, "no manifest sizes for the shards")
    encoded = sum(int(s["bytes"]) for s in shards)
    decoded = int(sum(float(s["seconds"]) for s in shards) * sample_rate_hz * DECODED_BYTES_PER_SAMPLE)
    needed = encoded + decoded
    if needed > budget_mb * MB:
        return CachePlan(False, needed, f"the split needs {needed / MB:.0f} MB in memory, over cache_mb={budget_mb}")
    return CachePlan(True, needed, f"the split fits: {needed / MB:.0f} MB of cache_mb={budget_mb}")


#: a member that did not decode (its failure is counted again on every read, as without the cache)
UNDECODABLE = object()


class SplitCache:
    """Shard bytes by URL and decoded members by (shard, key), each kept from its first read.

    Thread-safe: shards are fetched on a prefetch thread and members decoded on a thread pool.
    ``fetches`` and ``decodes`` count the work actually done (what the cache saved is the rest).
    """

    def __init__(self) -> None:
        self._shards: dict[str, bytes] = {}
        self._members: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self.fetches = 0
        self.decodes = 0

    def shard(self, url: str, fetch: Callable[[str], bytes]) -> bytes:
        """The bytes of shard ``url``: kept ones, or ``fetch(url)`` (kept; a failed fetch keeps nothing)."""
        data = self._shards.get(url)
        if data is None:
            data = fetch(url)
            with self._lock:
                self._shards[url] = data
                self.fetches += 1
        return data

    def member(self, shard: str, key: str, decode: Callable[[], np.ndarray | None]) -> tuple[np.ndarray | None, bool]:
        """The decoded samples of member ``key`` of ``shard`` (None: undecodable) and whether they were kept from an earlier read.

        A miss calls ``decode()`` and keeps what it returns, a failure (None) included. Kept
        samples are made read-only: a later stage writing into them would change every later
        epoch, so it fails loudly instead.
        """
        found = self._members.get((shard, key))
        if found is not None:
            return (None if found is UNDECODABLE else found), True
        decoded = decode()
        if decoded is not None:
            decoded.flags.writeable = False
        with self._lock:
            self._members[(shard, key)] = UNDECODABLE if decoded is None else decoded
            self.decodes += 1
        return decoded, False
