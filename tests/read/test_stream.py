"""The pure stages of the reader: members to samples, damaged shards, shuffling, balance, shard lists."""

from __future__ import annotations

import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from factories import tar_bytes
from hypothesis import given
from hypothesis import strategies as st

from shardkit.errors import ConfigError
from shardkit.read.shardlist import epoch_order, host_shards, resolve_shards
from shardkit.read.stream import (
    ReadStats,
    ShardReadError,
    balance_classes,
    class_keep_probabilities,
    group_samples,
    labels_vector,
    read_shards,
    shuffle_buffer,
    split_name,
    tar_members,
)


class Boom:
    """Unpickling this runs code: it would create the file named in its argument."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def make_tar(members: list[tuple[str, bytes]]) -> bytes:
    return tar_bytes(members, tarfile.DEFAULT_FORMAT)


def sample_members(key: str, label: str = "a") -> list[tuple[str, bytes]]:
    return [(f"{key}.pcm16", b"\x01\x00" * 10), (f"{key}.json", json.dumps({"labels": [label], "class": label}).encode())]


def test_pickles_and_unknown_members_are_never_decoded(tmp_path: Path):
    target = tmp_path / "pwned"
    data = make_tar(sample_members("k1") + [("k1.pyd", pickle.dumps(Boom(str(target)))), ("k1.pickle", pickle.dumps(Boom(str(target))))] + sample_members("k2"))
    stats = ReadStats()
    samples = list(group_samples(tar_members(data), "s.tar", stats))
    assert [s.key for s in samples] == ["k1", "k2"]
    assert stats.counts["members_ignored"] == 2
    assert not target.exists(), "no pickle was loaded"
    assert all(isinstance(s.audio, bytes) and isinstance(s.meta, dict) for s in samples)


def test_incomplete_and_bad_json_samples_are_counted():
    members = [("a.pcm16", b"\x00\x00"), ("b.json", b"{not json"), ("b.pcm16", b"\x00\x00"), *sample_members("c"), ("d.json", b"[1, 2]"), ("d.flac", b"x")]
    stats = ReadStats()
    assert [s.key for s in group_samples(members, "s.tar", stats)] == ["c"]
    assert stats.counts == {"samples_incomplete": 1, "samples_bad_json": 2}


def test_key_rule_matches_webdataset():
    assert split_name("dir/abc_0001.flac") == ("dir/abc_0001", "flac")
    assert split_name("abc.seg.json") == ("abc", "seg.json")


def test_truncated_and_garbage_shards_are_skipped_keeping_earlier_samples():
    good = make_tar(sample_members("g1") + sample_members("g2"))
    long = make_tar(sample_members("t1") + [("t2.pcm16", b"\x00" * 4096), ("t2.json", b"{}")])
    shards = {"good.tar": good, "trunc.tar": long[: len(long) // 2], "garbage.tar": b"\x13" * 3000, "gone.tar": None, "good2.tar": good}

    def fetch(url: str) -> bytes:
        if shards[url] is None:
            raise FileNotFoundError(url)
        return shards[url]

    stats = ReadStats()
    keys = [s.key for s in read_shards(list(shards), fetch, stats, "skip")]
    assert keys == ["g1", "g2", "t1", "g1", "g2"]
    assert stats.counts["shards_failed"] == 3 and stats.counts["shards_read"] == 2
    with pytest.raises(ShardReadError, match="shard 'trunc.tar' is damaged or unreadable"):
        list(read_shards(["good.tar", "trunc.tar"], fetch, ReadStats(), "raise"))


@given(st.lists(st.integers(), max_size=300), st.integers(0, 50), st.integers(0, 3))
def test_shuffle_buffer_is_a_seeded_permutation(items, size, seed):
    out = list(shuffle_buffer(items, size, np.random.default_rng(seed)))
    assert sorted(out) == sorted(items)
    assert out == list(shuffle_buffer(items, size, np.random.default_rng(seed)))


def test_shuffle_buffer_mixes():
    out = list(shuffle_buffer(range(1000), 100, np.random.default_rng(0)))
    assert out != list(range(1000)) and np.corrcoef(out, range(1000))[0, 1] > 0.9  # local shuffle, not global


def test_shuffle_buffer_starts_early_and_reaches_full_depth():
    consumed = []

    def source():
        for i in range(5000):
            consumed.append(i)
            yield i

    stream = shuffle_buffer(source(), 1000, np.random.default_rng(0), initial=50)
    first = next(stream)
    assert len(consumed) <= 52 and first < 52, "output starts after about `initial` items, not `size`"
    rest = list(stream)
    lags = np.array(rest[2000:3000]) - np.arange(2000, 3000)
    assert np.abs(lags).mean() > 300, "once grown, the buffer mixes over ~1000 items"


def test_class_caps():
    keep = class_keep_probabilities({"common": 1000, "rare": 10, "mid": 100}, None)
    assert keep == {"common": 0.1, "rare": 1.0, "mid": 1.0}
    from shardkit.read.stream import RawSample

    samples = [RawSample(str(i), "pcm16", b"", {"labels": ["common"], "class": "common"}, "s") for i in range(1000)]
    samples += [RawSample(f"r{i}", "pcm16", b"", {"labels": ["rare", "common"], "class": "rare"}, "s") for i in range(10)]
    kept = list(balance_classes(samples, keep, np.random.default_rng(0)))
    assert sum(s.meta["class"] == "rare" for s in kept) == 10, "a sample with a rare label is always kept"
    assert 70 <= sum(s.meta["class"] == "common" for s in kept) <= 130


def test_labels_vector_multi_hot_and_negatives():
    assert labels_vector({"labels": ["b", "c"]}, {"a": 0, "b": 1, "c": 2}).tolist() == [0, 1, 1]
    assert labels_vector({"labels": []}, {"a": 0, "b": 1}).tolist() == [0, 0]


@given(st.integers(1, 40), st.integers(1, 8))
def test_host_shards_disjoint_and_covering(n_shards, hosts):
    urls = tuple(f"s{i}.tar" for i in range(n_shards))
    if n_shards < hosts:
        with pytest.raises(ConfigError, match="cannot be split"):
            host_shards(urls, hosts, 0)
        return
    parts = [set(host_shards(urls, hosts, i)) for i in range(hosts)]
    assert set().union(*parts) == set(urls)
    assert sum(len(p) for p in parts) == n_shards


def test_epoch_order_seeded_and_reshuffled():
    urls = tuple(f"s{i}.tar" for i in range(20))
    assert epoch_order(urls, 1, 0, True) == epoch_order(urls, 1, 0, True)
    assert epoch_order(urls, 1, 0, True) != epoch_order(urls, 1, 1, True)
    assert sorted(epoch_order(urls, 1, 3, True)) == sorted(urls)
    assert epoch_order(urls, 1, 3, False) == list(urls)


def test_resolve_sources(tmp_path: Path):
    assert resolve_shards(["a.tar", "b.tar"], "train").urls == ("a.tar", "b.tar")
    assert resolve_shards("/d/train-{000000..000002}.tar", "train").urls == tuple(f"/d/train-00000{i}.tar" for i in range(3))
    with pytest.raises(ConfigError, match="not a shard folder with manifest.json"):
        resolve_shards(str(tmp_path), "train")
    with pytest.raises(ConfigError, match="shard list is empty"):
        resolve_shards([], "train")


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_fast_tar_parser_equals_tarfile(fmt, tmp_path: Path):
    rng = np.random.default_rng(0)
    members = [(f"dir/key{i:03d}.{ext}", rng.bytes(int(rng.integers(0, 3000)))) for i in range(20) for ext in ("pcm16", "json")]
    members.append(("deep" * 30 + "/key.json", b"{}"))  # a path over 100 bytes: ustar prefix, or a GNU/PAX extended header
    data = tar_bytes(members, fmt)
    assert list(tar_members(data)) == members
    truncated = data[: len(data) // 2]
    with pytest.raises(tarfile.ReadError):
        list(tar_members(truncated))


def test_prefetch_keeps_order_and_errors():
    good = make_tar(sample_members("g1"))
    shards = {f"s{i}.tar": good for i in range(6)}
    shards["s3.tar"] = b"\x13" * 2000

    def fetch(url: str) -> bytes:
        return shards[url]

    for ahead in (0, 1, 3):
        stats = ReadStats()
        shard_order = [s.shard for s in read_shards(list(shards), fetch, stats, "skip", prefetch=ahead)]
        assert shard_order == ["s0.tar", "s1.tar", "s2.tar", "s4.tar", "s5.tar"]
        assert stats.counts["shards_failed"] == 1
