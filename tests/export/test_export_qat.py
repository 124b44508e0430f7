"""`shardkit qat`: fine-tuning through fake quantization; the saved model is plain Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

keras = pytest.importorskip("keras")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.export.config import CalibrationConfig, ConvertConfig, QATConfig
from shardkit.export.convert import convert
from shardkit.export.qat import qat
from shardkit.export.quantize import ActivationQuantizer, QuantizedWeights
from shardkit.train.artifacts import load_model


@pytest.fixture(scope="module")
def fine_tuned(tiny_model: Path, tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("qat")
    return qat(str(tiny_model), str(tiny_shards), str(out), QATConfig(epochs=2, batch_size=8, calibration=CalibrationConfig(samples=40))), out


def test_qat_model_reloads_without_fake_quant_ops(fine_tuned, tiny_model):
    result, out = fine_tuned
    assert result.model_path == str(out / "tiny_qat.keras")
    model = load_model(result.model_path)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {ActivationQuantizer.__name__, QuantizedWeights.__name__}
    assert not any("quant" in layer.name for layer in model.layers)
    assert "BatchNormalization" in kinds and sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 1  # folded but for input_bn
    original = load_model(str(tiny_model))
    weights_moved = any(not np.allclose(a, b) for a, b in zip(model.get_layer("head").get_weights(), original.get_layer("head").get_weights(), strict=True))
    assert weights_moved == (result.best_epoch > 0)  # the kept epoch's weights (0: the model as trained)
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    assert model.predict(x, verbose=0).shape == (2, original.output_shape[-1])


def test_qat_records_history_and_config(fine_tuned, tiny_shards):
    result, out = fine_tuned
    train_samples = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]["samples"]
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert all(np.isfinite(row["loss"]) for row in result.history)
    config = json.loads((out / "tiny_qat_model_config.json").read_text())
    assert config["qat"]["config"]["epochs"] == 2 and config["qat"]["calibration_samples"] == min(40, train_samples)
    assert set(config["qat"]["after"]) == {"float", "fake_quant"}
    assert list(config["sha256"]) == ["tiny_qat.keras"]
    assert (out / "tiny_qat_labels.txt").exists()


def test_qat_model_converts_and_passes_the_gates(fine_tuned, tiny_shards, tmp_path):
    result, _ = fine_tuned
    converted = convert(result.model_path, str(tiny_shards), str(tmp_path), ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40)))
    assert converted.passed and (tmp_path / "tiny_qat_int8.tflite").exists()


def test_qat_refuses_a_model_trained_from_scratch(tiny_model, tiny_shards, tmp_path):
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.model.config import ModelConfig
    from shardkit.model.dscnn import build_model

    config = json.loads((tiny_model.parent / "tiny_model_config.json").read_text())
    frontend = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)
    model = build_model(frontend, 4, ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32))
    model.save(tmp_path / "fresh.keras")
    model_config = {**config, "format": "shardkit-model/1", "frontend": frontend.to_dict(), "classes": ["a", "b", "c", "d"], "best": {}}
    (tmp_path / "fresh_model_config.json").write_text(json.dumps(model_config))
    with pytest.raises(ConfigError, match="records no trained epoch"):
        qat(str(tmp_path / "fresh.keras"), str(tiny_shards))
    model_config["best"] = {"epoch": 3}
    (tmp_path / "fresh_model_config.json").write_text(json.dumps(model_config))
    result = CliRunner().invoke(cli, ["qat", str(tmp_path / "fresh.keras"), "--shards", str(tiny_shards)])
    assert result.exit_code == 2 and "looks untrained" in result.output and "initial statistics" in result.output
    assert not (tmp_path / "fresh_qat.keras").exists()


def test_qat_cli_bad_values_exit_2(tiny_model, tiny_shards):
    result = CliRunner().invoke(cli, ["qat", str(tiny_model), "--shards", str(tiny_shards), "--learning-rate", "2"])
    assert result.exit_code == 2 and "qat learning_rate must be a number in (0, 1); got 2.0" in result.output


def test_a_qat_step_trains_the_deployable_model_through_the_twin(tiny_model):
    from shardkit.export.qat import _train_step
    from shardkit.export.quantize import calibrate, deployable_model, fake_quant_model

    original = load_model(str(tiny_model))
    deployable = deployable_model(original)
    twin = fake_quant_model(deployable)
    rng = np.random.default_rng(0)
    features = rng.random((8, *deployable.input_shape[1:]), dtype=np.float32) ** 3
    calibrate(twin, features)
    before = [w.copy() for w in deployable.get_layer("head").get_weights()]
    labels = (rng.random((8, deployable.output_shape[-1])) > 0.5).astype(np.float32)
    step = _train_step(twin, deployable_model(original), keras.optimizers.Adam(1e-2), teacher_weight=0.5)
    losses = [float(step(features, labels)) for _ in range(3)]
    assert all(np.isfinite(losses))
    after = deployable.get_layer("head").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))  # the twin's gradients reach the saved model's variables
