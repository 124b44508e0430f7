"""The allocator choice is explicit: made by `keep_large_buffers_on_the_heap`, by a reader only with tune_malloc."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("tensorflow")

import shardkit.read.dataset as dataset_module
from shardkit.audio.frontends import FrontendConfig
from shardkit.read import malloc
from shardkit.read.config import ReaderConfig


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuning_applies_on_glibc_and_is_recorded():
    assert malloc.keep_large_buffers_on_the_heap() is True
    assert malloc.malloc_tuned()


@pytest.mark.parametrize("tune", [True, False])
def test_a_reader_tunes_the_allocator_only_when_asked(shard_sets, monkeypatch: pytest.MonkeyPatch, tune: bool):
    calls: list[str] = []
    monkeypatch.setattr(dataset_module, "keep_large_buffers_on_the_heap", lambda: calls.append("tuned") or True)
    config = ReaderConfig(training=False, batch_size=4, frontend=FrontendConfig(name="raw"), tune_malloc=tune)
    reader = dataset_module.ShardReader(str(shard_sets["pcm16"]), config)
    assert calls == [], "constructing a reader changes nothing in the process"
    next(iter(reader.dataset()))
    assert bool(calls) == tune
