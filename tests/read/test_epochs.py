"""One long-lived pipeline cut into epochs: the same batches as a pipeline per epoch, resumable across the boundary."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment import MixupConfig, WaveAugmentConfig
from shardkit.errors import ConfigError
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ReaderPosition, ShardReader
from shardkit.read.epochs import EpochStream
from shardkit.read.lifecycle import live_producers

RAW = FrontendConfig(name="raw", chunk_s=0.5)
#: every seeded draw on: crops, shuffles, waveform augmentation (background mixing included), mixup
SETTINGS = {
    "batch_size": 4,
    "shuffle_buffer": 16,
    "frontend": RAW,
    "with_position": True,
    "augment": WaveAugmentConfig(background_prob=0.5),
    "mixup": MixupConfig(),
}


def as_numpy(dataset) -> list[tuple]:
    return [tuple(t.numpy() for t in batch) for batch in dataset]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(all(np.array_equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


def per_epoch(source, epoch: int, skip: int = 0, **kwargs) -> list[tuple]:
    """The old way: a new pipeline for one epoch."""
    reader = ShardReader(str(source), ReaderConfig(**{**SETTINGS, "epochs": 1, **kwargs}))
    return as_numpy(reader.dataset(ReaderPosition(epoch, skip)))


def stream(source, epochs: int, start: ReaderPosition | None = None, max_batches: int | None = None) -> EpochStream:
    reader = ShardReader(str(source), ReaderConfig(**{**SETTINGS, "epochs": epochs}))
    return EpochStream(reader.dataset(start, max_batches_per_epoch=max_batches), keep_position=True)


def test_each_epoch_of_one_stream_equals_a_pipeline_of_its_own(shard_sets):
    with stream(shard_sets["flac"], epochs=2) as epochs:
        read = [as_numpy(epochs.epoch(e)) for e in range(2)]
    for e in range(2):
        alone = per_epoch(shard_sets["flac"], e)
        assert len(alone) > 2 and same(read[e], alone), f"epoch {e}"
        assert {int(b[2][0]) for b in read[e]} == {e}
    assert not same(read[0], read[1])


def test_a_restart_mid_epoch_crosses_the_boundary_like_the_uninterrupted_run(shard_sets):
    with stream(shard_sets["flac"], epochs=2) as epochs:
        whole = [as_numpy(epochs.epoch(e)) for e in range(2)]
    for cut in (2, len(whole[0])):  # mid-epoch (background mixing skipped alike), exactly at the boundary
        position = ReaderPosition.from_batch(whole[0][cut - 1][2])
        with stream(shard_sets["flac"], epochs=2, start=position) as resumed:
            rest = [as_numpy(resumed.epoch(e)) for e in range(2)]
        assert same(rest[0], whole[0][cut:]), f"rest of epoch 0 after batch {cut}"
        assert same(rest[1], whole[1]), f"epoch 1 after a restart at batch {cut}"


def test_an_epoch_not_read_to_its_end_leaves_the_next_one_whole(shard_sets):
    with stream(shard_sets["pcm16"], epochs=2) as epochs:
        next(iter(epochs.epoch(0)))
        second = as_numpy(epochs.epoch(1))
    assert same(second, per_epoch(shard_sets["pcm16"], 1))


def test_max_batches_per_epoch_cuts_every_epoch_and_the_next_starts_at_its_beginning(shard_sets):
    with stream(shard_sets["pcm16"], epochs=2, max_batches=2) as epochs:
        read = [as_numpy(epochs.epoch(e)) for e in range(2)]
    for e in range(2):
        assert same(read[e], per_epoch(shard_sets["pcm16"], e)[:2]), f"epoch {e}"


def test_epochs_are_read_in_order(shard_sets):
    with stream(shard_sets["pcm16"], epochs=2) as epochs:
        epochs.epoch(1)
        with pytest.raises(ValueError, match="epochs are read in order; got epoch 0 after epoch 1"):
            epochs.epoch(0)


def test_with_settings_changes_only_the_stream_settings(shard_sets):
    reader = ShardReader(str(shard_sets["pcm16"]), ReaderConfig(epochs=1))
    longer = reader.with_settings(epochs=3, with_position=True)
    assert (longer.config.epochs, longer.config.with_position, longer.stats) == (3, True, reader.stats)
    assert reader.config.epochs == 1
    with pytest.raises(ConfigError, match=r"with_settings changes only \['epochs', 'with_position'\]; got \['batch_size'\]"):
        reader.with_settings(batch_size=8)


def test_closing_a_stream_mid_epoch_stops_its_threads(shard_sets):
    before = {t.ident for t in threading.enumerate()}
    epochs = stream(shard_sets["flac"], epochs=5)
    it = iter(epochs.epoch(0))
    next(it)
    del it
    epochs.close()
    gc.collect()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and (live_producers() or _new_reader_threads(before)):
        time.sleep(0.05)
        gc.collect()
    assert live_producers() == 0
    assert _new_reader_threads(before) == []


def _new_reader_threads(before: set[int]) -> list[str]:
    """shardkit's shard-prefetch threads started since ``before`` and still alive."""
    return [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("shardkit-prefetch")]


def test_the_epoch_view_skips_tf_data_graph_rewrites(shard_sets):
    """Each epoch starts an iterator over the view; the default rewrites cost about 25 ms there and rewrote nothing."""
    with stream(shard_sets["pcm16"], epochs=1) as epochs:
        view = epochs.epoch(0)
        assert view.options().experimental_optimization.apply_default_optimizations is False
        assert len(as_numpy(view)) > 0
