"""A small split kept in memory: the same batches as without the cache, each shard fetched and each member decoded once."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment import MixupConfig, WaveAugmentConfig
from shardkit.errors import ConfigError
from shardkit.read.cache import SplitCache, plan_cache
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader
from shardkit.read.epochs import EpochStream

#: every seeded draw on: crops, shuffles, waveform augmentation (background mixing included), mixup
SETTINGS = {
    "batch_size": 4,
    "shuffle_buffer": 16,
    "frontend": FrontendConfig(name="raw", chunk_s=0.5),
    "augment": WaveAugmentConfig(background_prob=0.5),
    "mixup": MixupConfig(),
    "with_position": True,
}


def read_epochs(reader: ShardReader, epochs: int) -> list[list[tuple]]:
    with EpochStream(reader.dataset()) as stream:
        return [[tuple(t.numpy() for t in batch) for batch in stream.epoch(e)] for e in range(epochs)]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(all(np.array_equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("codec", ["flac", "pcm16"])
def test_cached_epochs_equal_uncached_ones_and_read_each_shard_and_member_once(shard_sets, codec):
    source = shard_sets[codec]
    train = json.loads((source / "manifest.json").read_text())["splits"]["train"]
    cached = ShardReader(str(source), ReaderConfig(**SETTINGS, epochs=3))
    plain = ShardReader(str(source), ReaderConfig(**SETTINGS, epochs=3, cache_mb=0))
    assert cached.cache is not None and plain.cache is None
    with_cache, without = read_epochs(cached, 3), read_epochs(plain, 3)
    for e in range(3):
        assert len(with_cache[e]) > 2 and same(with_cache[e], without[e]), f"epoch {e}"
    assert not same(with_cache[0], with_cache[1]), "epochs still differ: crops, shuffles and augmentation run every epoch"
    assert cached.cache.fetches == len(train["shards"]), "each shard fetched once over three epochs"
    assert cached.cache.decodes == train["samples"], "each member decoded once over three epochs"
    assert cached.stats.counts == plain.stats.counts, "the reader's counts do not change with the cache"


def test_a_split_over_the_budget_or_without_a_manifest_is_not_kept(shard_sets):
    source = shard_sets["flac"]
    manifest = json.loads((source / "manifest.json").read_text())
    names = ",".join(s["name"] for s in manifest["splits"]["train"]["shards"])
    over = ShardReader(str(source), ReaderConfig(cache_mb=1, **{**SETTINGS, "epochs": 1}))
    needed = over.cache_plan.bytes_needed
    if needed <= 1 << 20:
        pytest.skip(f"the test split needs only {needed} bytes, under the 1 MB floor of cache_mb")
    assert over.cache is None and "over cache_mb=1" in over.cache_plan.reason
    pattern = ShardReader(f"{source}/{{{names}}}", ReaderConfig(**SETTINGS, classes=manifest["classes"], codec="flac"))
    assert pattern.cache is None and pattern.cache_plan.reason == "no manifest sizes for the shards"


def test_plan_counts_shard_bytes_and_decoded_samples():
    shards = [{"bytes": 1000, "seconds": 2.0}, {"bytes": 500, "seconds": 0.5}]
    plan = plan_cache(shards, 8000, budget_mb=1)
    assert plan.enabled and plan.bytes_needed == 1500 + (2.5 * 8000 * 2)
    assert not plan_cache(shards, 8000, budget_mb=0).enabled
    big = plan_cache([{"bytes": 1 << 20, "seconds": 1.0}], 8000, budget_mb=1)
    assert not big.enabled and big.bytes_needed == (1 << 20) + 16000
    assert not plan_cache([{"bytes": 10}], 8000, budget_mb=1).enabled, "a shard without seconds: size unknown"


def test_kept_members_are_read_only_and_a_failed_fetch_is_not_kept():
    cache = SplitCache()
    pcm, kept = cache.member("s", "k", lambda: np.arange(4, dtype=np.int16))
    assert not kept
    with pytest.raises(ValueError, match="read-only"):
        pcm[0] = 7
    again, kept = cache.member("s", "k", lambda: pytest.fail("decoded twice"))
    assert kept and again is pcm
    calls = []

    def flaky(url: str) -> bytes:
        calls.append(url)
        if len(calls) == 1:
            raise OSError("connection reset")
        return b"tar bytes"

    with pytest.raises(OSError):
        cache.shard("u", flaky)
    assert cache.shard("u", flaky) == b"tar bytes" and cache.shard("u", flaky) == b"tar bytes"
    assert (len(calls), cache.fetches) == (2, 1)


def test_cache_mb_must_be_a_whole_number_of_megabytes():
    with pytest.raises(ConfigError, match="cache_mb"):
        ReaderConfig(cache_mb=-1)
