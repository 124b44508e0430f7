"""Collapse seen during training: the validation scores' spread in every epoch row, the epoch line and the summary."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from helpers.training import tiny_config

from shardkit.model.inference import inference_function
from shardkit.train.report import collapse_note, format_result
from shardkit.train.runner import train
from shardkit.train.validation import validate


def _head(kernel: np.ndarray, bias: np.ndarray) -> keras.Model:
    inputs = keras.Input((kernel.shape[0],))
    dense = keras.layers.Dense(kernel.shape[1], activation="sigmoid")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model


def _dataset(features: np.ndarray, labels: np.ndarray):
    return tf.data.Dataset.from_tensor_slices((features.astype("float32"), labels.astype("float32"))).batch(4)


def test_validate_measures_the_largest_per_class_spread():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 3))
    labels = (rng.random((12, 2)) < 0.5).astype(float)
    kernel, bias = np.array([[1.0, 0.0], [0.0, 0.01], [0.0, 0.0]]), np.array([0.2, -1.0])
    expected = (1 / (1 + np.exp(-(features @ kernel + bias)))).std(axis=0).max()  # class 0 varies, class 1 barely
    row = validate(inference_function(_head(kernel, bias)), _dataset(features, labels), keras.losses.BinaryCrossentropy())
    assert row["val_score_std"] == pytest.approx(expected, rel=1e-4) and collapse_note(row) == ""
    flat = validate(inference_function(_head(np.zeros((3, 2)), np.array([0.3, -2.0]))), _dataset(features, labels), keras.losses.BinaryCrossentropy())
    assert flat["val_score_std"] == pytest.approx(0.0, abs=1e-7)
    assert collapse_note(flat).startswith(" COLLAPSED: val scores barely vary across samples")


def _result(best_std: float) -> SimpleNamespace:
    row = {"val_roc_auc": 0.86, "val_cmap": 0.4, "val_loss": 0.6, "val_score_std": best_std, "steps": 2, "samples_per_s": 10.0, "input_wait": 0.0}
    config = SimpleNamespace(name="m", epochs=3, monitor="val_roc_auc")
    return SimpleNamespace(config=config, epochs_done=3, stopped_early=False, best_epoch=2, best=row, history=[row], artifacts={"model": "m.keras"}, out="o")


def test_the_summary_names_a_collapsed_best_model_and_only_that():
    assert "COLLAPSED" in format_result(_result(2e-4)) and "convert will refuse it" in format_result(_result(2e-4))
    assert "COLLAPSED" not in format_result(_result(0.08))
    older = _result(0.08)
    del older.best["val_score_std"]  # a run recorded before the spread was: nothing claimed
    assert "COLLAPSED" not in format_result(older)


def test_a_training_run_records_the_spread_and_says_collapse_where_it_is(tiny_shards: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="shardkit.train.runner"):
        result = train(str(tiny_shards), str(tmp_path), tiny_config(epochs=2), verbose=0)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.getMessage().startswith("epoch ")]
    assert len(lines) == 2 and all(0.0 <= row["val_score_std"] <= 0.5 for row in result.history)
    for line, row in zip(lines, result.history, strict=True):
        assert ("COLLAPSED" in line) == (row["val_score_std"] < 1 / 256), (line, row)
    assert ("COLLAPSED" in format_result(result)) == (result.best["val_score_std"] < 1 / 256)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "COLLAPSED" in r.getMessage()]
    collapsed = [row["epoch"] for row in result.history if row["val_score_std"] < 1 / 256]
    assert len(warnings) == (1 if collapsed else 0), warnings  # shown at the default verbosity, once
    assert not collapsed or warnings[0].startswith(f"epoch {collapsed[0]}: COLLAPSED")
