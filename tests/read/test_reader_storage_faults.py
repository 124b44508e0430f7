"""The reader against storage faults: a silent endpoint, and an S3 server stopped mid-epoch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("s3fs")

from faults import FAST_FAIL, StoppableS3, silent_endpoint

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import StorageUnavailableError
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader
from shardkit.read.stream import UNAVAILABLE_IN_A_ROW, ShardReadError

SMALL = FrontendConfig(name="mel", n_frames=64)


@pytest.fixture
def s3_shards(shard_sets: dict[str, Path]):
    """The pcm16 shard set uploaded to a moto server of this test's own, which the test may stop."""
    import s3fs

    server = StoppableS3()
    server.start()
    bucket = server.create_bucket()
    fs = s3fs.S3FileSystem(**server.options(), skip_instance_cache=True)
    fs.put(str(shard_sets["pcm16"]) + "/", f"{bucket}/shards/", recursive=True)
    yield server, f"s3://{bucket}/shards", json.loads((shard_sets["pcm16"] / "manifest.json").read_text())
    server.stop()


def _config(server: StoppableS3, **kwargs) -> ReaderConfig:
    """Eval order (no shuffles), one shard fetched at a time, one quick retry."""
    settings = {"split": "val", "training": False, "frontend": SMALL, "prefetch_shards": 0, "retries": 1, "storage_options": server.options(**FAST_FAIL)}
    return ReaderConfig(**{**settings, **kwargs})


def test_constructor_fails_fast_naming_a_silent_endpoint():
    with silent_endpoint() as endpoint:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=f"storage endpoint {endpoint} is unavailable"):
            ShardReader("s3://bucket/shards", ReaderConfig(storage_options={"endpoint_url": endpoint, "key": "k", "secret": "s", **FAST_FAIL}))
        assert time.monotonic() - started < 10


@pytest.mark.slow
def test_constructor_fails_a_silent_endpoint_within_60_s_with_default_timeouts():
    with silent_endpoint() as endpoint:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=f"storage endpoint {endpoint} is unavailable"):
            ShardReader("s3://bucket/shards", ReaderConfig(storage_options={"endpoint_url": endpoint, "key": "k", "secret": "s"}))
        assert time.monotonic() - started < 60


def _first_shards(url: str, manifest: dict, n: int) -> list[str]:
    shards = manifest["splits"]["train"]["shards"]
    assert len(shards) >= n, "the test needs more train shards"
    return [f"{url}/{shard['name']}" for shard in shards[:n]]


def _read_stopping_after_the_first_sample(reader: ShardReader, server: StoppableS3) -> list:
    seen = []
    for _, sample in reader.samples(0):
        if not seen:
            server.stop()  # the first shard is in memory; every later fetch meets a dead endpoint
        seen.append(sample)
    return seen


def test_server_stopped_mid_epoch_skips_and_counts_the_unreachable_shards(s3_shards):
    server, url, manifest = s3_shards
    urls = _first_shards(url, manifest, 3)
    reader = ShardReader(urls, _config(server, classes=tuple(manifest["classes"]), codec="pcm16"))
    seen = _read_stopping_after_the_first_sample(reader, server)
    assert {s.shard for s in seen} == {urls[0]}
    assert len(seen) == manifest["splits"]["train"]["shards"][0]["samples"]
    assert (reader.stats.counts["shards_read"], reader.stats.counts["shards_failed"], reader.stats.counts["shards_unavailable"]) == (1, 2, 2)


def test_an_endpoint_gone_for_several_shards_in_a_row_stops_the_epoch_naming_it(s3_shards):
    server, url, manifest = s3_shards
    reader = ShardReader(_first_shards(url, manifest, 6), _config(server, classes=tuple(manifest["classes"]), codec="pcm16"))
    with pytest.raises(StorageUnavailableError, match=f"{UNAVAILABLE_IN_A_ROW} shards in a row: storage endpoint {server.endpoint} is unavailable"):
        _read_stopping_after_the_first_sample(reader, server)
    assert reader.stats.counts["shards_failed"] == UNAVAILABLE_IN_A_ROW


def test_server_stopped_mid_epoch_raises_naming_the_endpoint_under_raise_policy(s3_shards):
    server, url, _ = s3_shards
    reader = ShardReader(url, _config(server, on_error="raise"))
    samples = reader.samples(0)
    next(samples)
    server.stop()
    with pytest.raises(ShardReadError, match=f"storage endpoint {server.endpoint} is unavailable"):
        list(samples)


def test_a_tf_epoch_after_the_server_stopped_ends_without_a_tf_error(s3_shards):
    server, url, manifest = s3_shards
    reader = ShardReader(
        _first_shards(url, manifest, UNAVAILABLE_IN_A_ROW - 1), _config(server, batch_size=4, classes=tuple(manifest["classes"]), codec="pcm16")
    )
    server.stop()
    assert list(reader.dataset()) == []
    assert reader.stats.counts["shards_failed"] == UNAVAILABLE_IN_A_ROW - 1
