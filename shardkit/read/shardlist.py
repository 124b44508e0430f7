"""Which shards a reader reads: resolve a source, split it across hosts, order it per epoch.

A source is a manifest (a shard folder or a URL ending in ``manifest.json``, the trusted
form), a brace pattern (``s3://b/p/train-{000000..000009}.tar``) or a list of shard URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shardkit.errors import ConfigError
from shardkit.manifest import MANIFEST_NAME, read_manifest, shard_urls


@dataclass(frozen=True)
class ShardSource:
    """Resolved shards plus what the manifest says about them (None without a manifest)."""

    urls: tuple[str, ...]
    manifest: dict | None
    samples_per_shard: tuple[int, ...] | None
    #: each shard's manifest entry (``samples``, ``seconds``, ``bytes`` ...), in ``urls`` order
    entries: tuple[dict, ...] | None = None


def _is_manifest(source: str, storage_options: dict[str, Any] | None) -> bool:
    if source.endswith(MANIFEST_NAME):
        return True
    if source.endswith(".tar") or "{" in source:
        return False
    from shardkit.storage import Store

    return Store(source, storage_options or {}).exists(MANIFEST_NAME)


def resolve_shards(source: str | list[str], split: str, storage_options: dict[str, Any] | None = None) -> ShardSource:
    """Resolve ``source`` to the shard URLs of ``split``.

    Raises:
        ConfigError: no shards, an unknown split, or a source that is neither a manifest,
            a pattern nor a list.
    """
    if isinstance(source, (list, tuple)):
        urls = tuple(str(u) for u in source)
        if not urls:
            raise ConfigError("shard list is empty")
        return ShardSource(urls, None, None)
    if not isinstance(source, str):
        raise ConfigError(f"source must be a manifest URL, a shard pattern or a list of shard URLs; got {type(source).__name__}")
    if _is_manifest(source, storage_options):
        manifest = read_manifest(source, storage_options)
        if split not in manifest["splits"]:
            raise ConfigError(f"split {split!r} is not in the manifest of {source!r}; it has {sorted(manifest['splits'])}")
        shards = manifest["splits"][split]["shards"]
        return ShardSource(tuple(shard_urls(source, manifest, split)), manifest, tuple(s["samples"] for s in shards), tuple(shards))
    import braceexpand

    urls = tuple(braceexpand.braceexpand(source))
    if not urls or (len(urls) == 1 and not urls[0].endswith(".tar")):
        raise ConfigError(f"source {source!r} is not a shard folder with {MANIFEST_NAME}, a .tar pattern or a list")
    return ShardSource(urls, None, None)


def host_shards(urls: tuple[str, ...], num_shards: int, index: int) -> tuple[str, ...]:
    """The shards host ``index`` of ``num_shards`` reads: disjoint across hosts, covering all.

    Raises:
        ConfigError: bad ``num_shards``/``index``, or fewer shards than hosts.
    """
    if num_shards < 1 or not 0 <= index < num_shards:
        raise ConfigError(f"host split needs num_shards >= 1 and 0 <= index < num_shards; got num_shards={num_shards}, index={index}")
    if len(urls) < num_shards:
        raise ConfigError(f"{len(urls)} shards cannot be split over num_shards={num_shards} hosts; build with smaller shards")
    return urls[index::num_shards]


def epoch_order(urls: tuple[str, ...], seed: int, epoch: int, shuffle: bool) -> list[str]:
    """Shard order for one epoch: a permutation seeded by (seed, epoch), or as given."""
    if not shuffle:
        return list(urls)
    order = np.random.default_rng([seed, epoch, 1]).permutation(len(urls))
    return [urls[i] for i in order]
