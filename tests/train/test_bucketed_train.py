"""`shardkit train --batching bucketed`: variable-length shards, a free time axis, a fixed-length saved model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from factories import make_class_corpus
from helpers.training import TINY_FRONTEND, tiny_config

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.model.dscnn import is_variable_length
from shardkit.model.n6 import check_n6
from shardkit.train.artifacts import load_model
from shardkit.train.runner import train


@pytest.fixture(scope="module")
def variable_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tone classes and noise cut into segments of 0.5-2 s (the tiny frontend's chunk is 1 s)."""
    root = tmp_path_factory.mktemp("variable_shards")
    corpus = make_class_corpus(root / "corpus")
    config = BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25, variable_length=True, min_segment_s=0.5, max_segment_s=2.0)
    build(str(corpus), str(root / "shards"), config, progress=False)
    return root / "shards"


@pytest.fixture(scope="module")
def bucketed_run(variable_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bucketed_run")
    train(str(variable_shards), str(out), tiny_config(batching="bucketed", epochs=2))
    return out


def test_a_bucketed_run_trains_on_a_free_time_axis_and_saves_the_fixed_length_model(bucketed_run: Path):
    state = json.loads((bucketed_run / "tiny_train_state.json").read_text())
    rows = state["history"]
    assert len(rows) == 2 and all(np.isfinite(row["val_roc_auc"]) for row in rows)
    assert all(row["steps"] == state["steps_per_epoch"] for row in rows), "the schedule is sized by the batches the buckets make"
    saved = load_model(str(bucketed_run / "tiny.keras"))
    assert not is_variable_length(saved) and saved.input_shape == (None, *TINY_FRONTEND.output_shape, 1)
    assert check_n6(saved) == []
    model_config = json.loads((bucketed_run / "tiny_model_config.json").read_text())
    assert model_config["batching"] == "bucketed" and model_config["input"]["shape"] == [*TINY_FRONTEND.output_shape, 1]
    checkpoints = sorted((bucketed_run / "tiny_checkpoints").glob("*.keras"))
    assert checkpoints and is_variable_length(load_model(str(checkpoints[-1]))), "the checkpoint (what --resume loads) keeps the free time axis"
    fresh = "import sys; from shardkit.train.artifacts import load_model; print(sorted(load_model(sys.argv[1]).input))"
    loaded = subprocess.run([sys.executable, "-c", fresh, str(checkpoints[-1])], capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0 and "['features', 'lengths']" in loaded.stdout, f"a new process (--resume) loads it: {loaded.stderr[-500:]}"


def test_the_trained_model_scores_a_padded_and_an_unpadded_copy_alike(bucketed_run: Path):
    checkpoint = sorted((bucketed_run / "tiny_checkpoints").glob("*.keras"))[-1]
    model = load_model(str(checkpoint))
    rows = TINY_FRONTEND.output_shape[0]
    sample = np.random.default_rng(0).uniform(0, 1, (1, rows, 27, 1)).astype(np.float32)
    wider = np.zeros((1, rows, 45, 1), np.float32)
    wider[:, :, :27] = sample
    alone = model.predict({"features": sample, "lengths": np.array([27])}, verbose=0)
    padded = model.predict({"features": wider, "lengths": np.array([27])}, verbose=0)
    assert np.max(np.abs(alone - padded)) <= 1e-5


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"placement": "deferred"}, "batching='bucketed' needs placement='pipeline' and a spectrogram frontend"),
        ({"distill_weight": 0.5}, "batching='bucketed' needs distill_weight=0"),
    ],
)
def test_bucketed_batching_refuses_what_it_cannot_mask_by_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(batching="bucketed", **overrides)


def test_deploy_chunk_s_keeps_the_training_hop_and_needs_bucketed_batching():
    config = tiny_config(batching="bucketed", deploy_chunk_s=1.5)
    deployed, trained = config.deploy_frontend, config.frontend
    assert deployed.hop_length == trained.hop_length and deployed.n_frames == round(1.5 * trained.sample_rate_hz / trained.hop_length)
    assert abs(deployed.chunk_s - 1.5) <= trained.hop_length / trained.sample_rate_hz
    assert tiny_config(batching="bucketed").deploy_frontend == trained
    with pytest.raises(ConfigError, match="deploy_chunk_s needs batching='bucketed'"):
        tiny_config(deploy_chunk_s=1.5)


def test_a_bucketed_run_deploys_at_deploy_chunk_s(variable_shards: Path, tmp_path: Path):
    config = tiny_config(batching="bucketed", epochs=1, deploy_chunk_s=2.0)
    train(str(variable_shards), str(tmp_path), config)
    saved = load_model(str(tmp_path / "tiny.keras"))
    assert saved.input_shape == (None, *config.deploy_frontend.output_shape, 1) and config.deploy_frontend.n_frames == 64
    model_config = json.loads((tmp_path / "tiny_model_config.json").read_text())
    assert model_config["frontend"]["n_frames"] == 64 and model_config["frontend"]["chunk_s"] == config.deploy_frontend.chunk_s
    assert check_n6(saved) == []


class Interrupted(Exception):
    """Stands in for a crash in the middle of an epoch."""


class InterruptIn(keras.callbacks.Callback):
    """Raise after the first batch of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch, self.current = epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise Interrupted(f"interrupted in epoch {self.epoch}")


def test_an_interrupted_bucketed_run_resumed_ends_like_the_uninterrupted_one(bucketed_run: Path, variable_shards: Path, tmp_path: Path):
    """The run restarts at its last finished epoch (the reader refuses mid-epoch positions of buckets) and replays the rest exactly."""
    full = json.loads((bucketed_run / "tiny_train_state.json").read_text())["history"]
    with pytest.raises(Interrupted):
        train(str(variable_shards), str(tmp_path), tiny_config(batching="bucketed", epochs=2), callbacks=[InterruptIn(epoch=1)])
    resumed = train(str(variable_shards), str(tmp_path), resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert [row["steps"] for row in resumed.history] == [row["steps"] for row in full]
    assert resumed.history[-1]["loss"] == pytest.approx(full[-1]["loss"], rel=1e-3)
    assert resumed.history[-1]["val_loss"] == pytest.approx(full[-1]["val_loss"], rel=1e-3)
