"""`shardkit evaluate`: a .keras or a .tflite over a split, metrics, agreement, report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from shardkit.cli import cli
from shardkit.export.config import CalibrationConfig, ConvertConfig
from shardkit.export.convert import convert
from shardkit.export.evaluate import evaluate
from shardkit.scoring import classification_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def int8_model(tiny_model: Path, tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval_models")
    convert(str(tiny_model), str(tiny_shards), str(out), ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40)))
    return out / "tiny_int8.tflite"


def test_evaluate_keras_against_tflite(tiny_model, int8_model, tiny_shards, tmp_path):
    report = evaluate(str(tiny_model), str(tiny_shards), "val", compare=str(int8_model), out=str(tmp_path))
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    assert report["samples"] == manifest["splits"]["val"]["samples"]
    keras_row, tflite_row = report["models"]
    assert (keras_row["kind"], tflite_row["kind"]) == ("keras", "tflite")
    assert set(keras_row["per_class"]) == set(report["classes"])
    agreement = report["agreement"]
    assert agreement["samples"] == report["samples"] and agreement["cosine_mean"] >= 0.95
    written = json.loads((tmp_path / "tiny_eval_val.json").read_text())
    assert written["models"][0]["roc_auc"] == pytest.approx(keras_row["roc_auc"])
    assert (tmp_path / "tiny_eval_val.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "agreement: cosine mean" in (tmp_path / "tiny_eval_val.txt").read_text()


def test_evaluate_metrics_match_a_direct_computation(tiny_model, tiny_shards, tmp_path):
    from shardkit.export.samples import iter_split
    from shardkit.train.trained_model import load_checkpoint

    checkpoint = load_checkpoint(str(tiny_model))
    batches = list(iter_split(str(tiny_shards), "val", checkpoint.frontend))
    features = np.concatenate([b.features for b in batches])
    labels = np.concatenate([b.labels for b in batches])
    expected = classification_metrics(labels, checkpoint.model.predict(features, verbose=0))
    report = evaluate(str(tiny_model), str(tiny_shards), out=str(tmp_path))
    assert report["models"][0]["roc_auc"] == pytest.approx(expected["roc_auc"], abs=1e-6)
    assert report["models"][0]["cmap"] == pytest.approx(expected["cmap"], abs=1e-6)


def test_evaluate_cli_tflite_alone_json(int8_model, tiny_shards, tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", str(int8_model), "--shards", str(tiny_shards), "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["models"][0]["kind"] == "tflite" and 0 <= report["models"][0]["roc_auc"] <= 1
    assert (tmp_path / "tiny_int8_eval_val.png").exists()


def test_evaluate_cli_refuses_other_files(tiny_shards, tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "model.onnx"), "--shards", str(tiny_shards)])
    assert result.exit_code == 2 and "MODEL must end in .keras or .tflite; got" in result.output
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "missing.tflite"), "--shards", str(tiny_shards)])
    assert result.exit_code == 2 and "does not exist" in result.output
