"""The training run's input: one pipeline over its epochs, each epoch what a pipeline of its own gave; the step timer's waits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.training import tiny_config

from shardkit.read.dataset import ReaderPosition
from shardkit.train import runner
from shardkit.train.readers import make_readers
from shardkit.train.runner import StepTimer, training_stream


def as_numpy(dataset) -> list[tuple]:
    return [tuple(np.asarray(t) for t in batch) for batch in dataset]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(all(np.array_equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("max_steps", [None, 2])
def test_each_epoch_is_what_a_pipeline_per_epoch_gave_and_a_resumed_run_continues_it(tiny_shards: Path, max_steps: int | None) -> None:
    config = tiny_config(max_steps_per_epoch=max_steps)
    reader, _ = make_readers(str(tiny_shards), config)
    with training_stream(reader, config, None, 0, 3) as stream:
        whole = [as_numpy(stream.epoch(epoch)) for epoch in range(3)]
    for epoch in range(3):
        alone = as_numpy(reader.dataset(start=ReaderPosition(epoch, 0)))
        assert len(whole[epoch]) == (len(alone) if max_steps is None else max_steps) > 1
        assert same(whole[epoch], alone[: len(whole[epoch])]), f"epoch {epoch}"
    with training_stream(reader, config, None, 1, 3) as resumed:  # a run resumed after its first epoch
        assert same(as_numpy(resumed.epoch(1)), whole[1]) and same(as_numpy(resumed.epoch(2)), whole[2])


def test_step_timer_splits_the_epoch_start_wait_from_the_steady_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.5, 1.5, 1.6, 2.6, 2.6, 3.6])  # epoch begin; 3 batches: begin, end
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(clock))
    timer = StepTimer()
    timer.on_epoch_begin(0)
    for batch in range(3):
        timer.on_train_batch_begin(batch)
        timer.on_train_batch_end(batch)
    assert timer.start_wait_s == pytest.approx(0.5)
    assert timer.first_batch_s == pytest.approx(1.5)
    assert (timer.wait_s, timer.step_s) == (pytest.approx(0.1), pytest.approx(2.0))
    assert timer.input_wait_fraction == pytest.approx(0.1 / 2.1)
