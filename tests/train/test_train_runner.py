"""`train`: artifacts, resume, refusals, deferred placement and the linear probe, on tiny shards."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers.training import TINY_FRONTEND, tiny_config

from shardkit.errors import ConfigError
from shardkit.model.dscnn import HEAD_LAYER
from shardkit.train.artifacts import HISTORY_COLUMNS, names
from shardkit.train.runner import train


class Interrupt(Exception):
    """Stands in for a crash or a kill in the middle of an epoch."""


class InterruptAt(keras.callbacks.Callback):
    """Raise in the middle of epoch ``epoch`` (0-based), after ``batch`` batches."""

    def __init__(self, epoch: int, batch: int = 1) -> None:
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch + 1 >= self.batch:
            raise Interrupt(f"interrupted in epoch {self.epoch}")


@pytest.fixture(scope="module")
def trained(tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    """One uninterrupted 3-epoch run, shared by the artifact and resume tests."""
    out = tmp_path_factory.mktemp("trained")
    return out, train(str(tiny_shards), str(out), tiny_config())


def test_a_few_step_run_writes_every_artifact(trained, tiny_shards: Path) -> None:
    out, result = trained
    files = names("tiny")
    for key in ("model", "model_config", "labels", "history", "curves", "state"):
        assert (out / files[key]).is_file(), key
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    assert (out / files["labels"]).read_text().splitlines() == manifest["classes"]

    with open(out / files["history"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert tuple(rows[0]) == HISTORY_COLUMNS
    assert all(0.0 <= float(r["val_roc_auc"]) <= 1.0 and float(r["loss"]) > 0 for r in rows)
    assert (out / files["curves"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    config = json.loads((out / files["model_config"]).read_text())
    assert config["classes"] == manifest["classes"] and config["negative_classes"] == ["noise"]
    assert config["frontend"] == TINY_FRONTEND.to_dict()
    assert config["input"]["shape"] == [64, 32, 1]
    assert config["n6_violations"] == []
    assert config["best"]["epoch"] == result.best_epoch
    assert config["sha256"][files["model"]] == hashlib.sha256((out / files["model"]).read_bytes()).hexdigest()
    assert set(config["versions"]) >= {"shardkit", "tensorflow", "keras"}

    state = json.loads((out / files["state"]).read_text())
    assert state["epochs_done"] == 3 and state["finished"]
    assert sorted(p.name for p in (out / files["checkpoints"]).iterdir()) == ["epoch-0003.keras"]
    assert not list(out.rglob("*.partial"))

    model = keras.saving.load_model(out / files["model"])
    scores = model.predict(np.random.default_rng(0).random((2, 64, 32, 1), dtype=np.float32), verbose=0)
    assert scores.shape == (2, 3) and np.all((scores > 0) & (scores < 1))


def test_the_best_checkpoint_is_the_best_epoch_by_the_monitor(trained) -> None:
    _, result = trained
    aucs = [row["val_roc_auc"] for row in result.history]
    assert result.best_epoch == 1 + int(np.nanargmax(aucs))
    assert result.best["val_roc_auc"] == max(aucs)


def test_an_interrupted_run_resumed_ends_like_the_uninterrupted_one(trained, tiny_shards: Path, tmp_path: Path) -> None:
    _, full = trained
    with pytest.raises(Interrupt):
        train(str(tiny_shards), str(tmp_path), tiny_config(), callbacks=[InterruptAt(epoch=1)])
    state = json.loads((tmp_path / names("tiny")["state"]).read_text())
    assert state["epochs_done"] == 1

    resumed = train(str(tiny_shards), str(tmp_path), resume=True)
    assert resumed.epochs_done == full.epochs_done == 3
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    # the schedule continued from the restored step counter: same steps, same final learning rate
    assert [row["steps"] for row in resumed.history] == [row["steps"] for row in full.history]
    assert resumed.history[-1]["lr"] == pytest.approx(full.history[-1]["lr"], rel=1e-6)
    # and training continued from the epoch-1 weights and optimizer state
    assert resumed.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], rel=1e-3)
    assert resumed.history[-1]["val_loss"] == pytest.approx(full.history[-1]["val_loss"], rel=1e-3)


def test_resuming_a_finished_run_does_nothing(trained, tiny_shards: Path) -> None:
    out, full = trained
    before = (out / names("tiny")["model"]).stat().st_mtime_ns
    again = train(str(tiny_shards), str(out), resume=True)
    assert again.epochs_done == 3 and len(again.history) == 3
    assert (out / names("tiny")["model"]).stat().st_mtime_ns == before


def test_a_second_run_into_the_same_output_is_refused(trained, tiny_shards: Path) -> None:
    out, _ = trained
    with pytest.raises(ConfigError, match="already holds a run named 'tiny'.*--resume"):
        train(str(tiny_shards), str(out), tiny_config())


def test_resume_refuses_changed_settings_and_missing_runs(trained, tiny_shards: Path, tmp_path: Path) -> None:
    out, _ = trained
    with pytest.raises(ConfigError, match=r"settings differ from it: \['batch_size', 'learning_rate'\]"):
        train(str(tiny_shards), str(out), tiny_config(batch_size=4, learning_rate=0.1), resume=True)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(str(tiny_shards), str(tmp_path), tiny_config(), resume=True)


def test_deferred_placement_trains_on_waveforms_and_saves_the_spectrogram_model(tiny_shards: Path, tmp_path: Path) -> None:
    result = train(str(tiny_shards), str(tmp_path), tiny_config(placement="deferred", epochs=1))
    model = keras.saving.load_model(Path(result.artifacts["model"]))
    assert model.input_shape == (None, 64, 32, 1)
    assert not any(type(layer).__name__ == "SpectrogramFrontend" for layer in model.layers)
    checkpoint = next((tmp_path / names("tiny")["checkpoints"]).iterdir())
    assert keras.saving.load_model(checkpoint).input_shape == (None, TINY_FRONTEND.chunk_samples)


def test_pipeline_and_deferred_placement_train_the_same_model(tiny_shards: Path, tmp_path: Path) -> None:
    pipeline = train(str(tiny_shards), str(tmp_path / "p"), tiny_config(epochs=1))
    deferred = train(str(tiny_shards), str(tmp_path / "d"), tiny_config(epochs=1, placement="deferred"))
    assert deferred.history[0]["loss"] == pytest.approx(pipeline.history[0]["loss"], rel=1e-3)
    assert deferred.history[0]["val_roc_auc"] == pytest.approx(pipeline.history[0]["val_roc_auc"], abs=0.02)


def test_linear_probe_freezes_the_backbone_and_fits_a_new_head(trained, probe_shards: Path, tmp_path: Path) -> None:
    base_dir, _ = trained
    base_path = base_dir / names("tiny")["model"]
    base = keras.saving.load_model(base_path)
    result = train(str(probe_shards), str(tmp_path), tiny_config(name="probe", epochs=2), base_model=str(base_path))
    probe = keras.saving.load_model(Path(result.artifacts["model"]))
    assert probe.get_layer(HEAD_LAYER).units == 2
    assert (tmp_path / "probe_labels.txt").read_text().splitlines() == ["delta", "epsilon"]
    backbone = probe.get_layer("backbone")
    assert backbone.trainable_weights == []
    for layer in backbone.layers:
        if layer.weights:
            for mine, theirs in zip(layer.get_weights(), base.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(mine, theirs, err_msg=layer.name)
    probe_config = json.loads((tmp_path / "probe_model_config.json").read_text())
    assert probe_config["probe_from"] == str(base_path)
    assert probe_config["model"] == json.loads((base_dir / "tiny_model_config.json").read_text())["model"]


def test_a_probe_with_another_frontend_is_refused(trained, probe_shards: Path, tmp_path: Path) -> None:
    base_dir, _ = trained
    other = tiny_config(name="probe", frontend=TINY_FRONTEND.__class__(**{**TINY_FRONTEND.to_dict(), "n_frames": 16}))
    with pytest.raises(ConfigError, match="probe's frontend .* differs from the base model's"):
        train(str(probe_shards), str(tmp_path), other, base_model=str(base_dir / "tiny.keras"))
