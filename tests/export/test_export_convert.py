"""`shardkit convert`: a real full-INT8 TFLite model, run by ai_edge_litert, gated, promoted atomically."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.export.config import CalibrationConfig, ConvertConfig
from shardkit.export.convert import GateFailed, convert, draw_samples
from shardkit.export.runtime import TFLitePredictor
from shardkit.export.samples import stratified_pick
from shardkit.train.trained_model import load_checkpoint


@pytest.fixture(scope="module")
def converted(tiny_model: Path, tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("converted")
    return convert(str(tiny_model), str(tiny_shards), str(out)), out


def test_converted_model_runs_with_int8_internals_and_float_io(converted, tiny_model):
    result, out = converted
    assert result.passed and result.tflite_path == str(out / "tiny_int8.tflite")
    content = (out / "tiny_int8.tflite").read_bytes()
    predictor = TFLitePredictor(content)
    assert predictor.input["dtype"] == np.float32 and predictor.output["dtype"] == np.float32
    interpreter = predictor.interpreter
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "FULLY_CONNECTED"} <= ops
    tensors = interpreter.get_tensor_details()
    conv_outputs = [
        interpreter.get_tensor_details()[op["outputs"][0]] for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
    ]
    assert conv_outputs and all(t["dtype"] == np.int8 for t in conv_outputs)
    weights = [t for t in tensors if t["dtype"] == np.int8 and len(t["quantization_parameters"]["scales"]) > 1]
    assert weights, "per-channel INT8 weights expected"
    scores = predictor(np.random.default_rng(0).random((2, *predictor.input_shape), dtype=np.float32))
    classes = json.loads((tiny_model.parent / "tiny_model_config.json").read_text())["classes"]
    assert scores.shape == (2, len(classes)) and np.all((scores >= 0) & (scores <= 1))


def test_report_gates_hashes_and_config(converted, tiny_model):
    result, out = converted
    report = json.loads((out / "tiny_int8_report.json").read_text())
    assert report["passed"] and report["tflite"]["promoted"]
    assert report["gates"]["cosine_mean"]["passed"] and report["gates"]["cosine_mean"]["value"] >= 0.95
    assert report["gates"]["cosine_p5"]["passed"] and report["gates"]["n6"]["passed"]
    digest = hashlib.sha256((out / "tiny_int8.tflite").read_bytes()).hexdigest()
    assert report["tflite"]["sha256"] == digest
    model_config = json.loads((out / "tiny_int8_model_config.json").read_text())
    assert model_config["sha256"] == {"tiny_int8.tflite": digest}
    assert model_config["quantization"]["input"]["dtype"] == "float32"
    assert model_config["classes"] == json.loads((tiny_model.parent / "tiny_model_config.json").read_text())["classes"]
    assert (out / "tiny_int8_labels.txt").read_text().split() == model_config["classes"]
    text = (out / "tiny_int8_report.txt").read_text()
    assert "PASSED" in text and "cosine mean" in text
    assert not list(out.glob("*.partial"))


def test_calibration_and_gate_keys_are_disjoint_stratified_and_deterministic(converted, tiny_model, tiny_shards):
    result, _ = converted
    calibration, gate = set(result.report["calibration"]["keys"]), set(result.report["gate_samples"]["keys"])
    assert calibration and gate and not calibration & gate
    checkpoint = load_checkpoint(str(tiny_model))
    # one split for both: the calibration draw skips the gate keys
    config = ConvertConfig(calibration=CalibrationConfig(split="train", samples=12), gate_split="train", gate_samples=12)
    gate_set, calibration_set = draw_samples(str(tiny_shards), checkpoint, config, None)
    assert len(gate_set) == 12 and len(calibration_set) == 12
    assert not set(gate_set.keys) & set(calibration_set.keys)
    again = draw_samples(str(tiny_shards), checkpoint, config, None)
    assert again[0].keys == gate_set.keys and again[1].keys == calibration_set.keys
    counts = calibration_set.labels.sum(axis=0)
    assert counts.min() >= 2  # every class drawn, not only the first shards'


def test_stratified_pick_takes_turns_between_strata():
    candidates = {"a": [(b"\x01", "a1"), (b"\x00", "a0"), (b"\x02", "a2")], "b": [(b"\x05", "b0")], "": [(b"\x03", "n0"), (b"\x04", "n1")]}
    assert stratified_pick(candidates, 5) == ["n0", "a0", "b0", "n1", "a1"]
    assert stratified_pick(candidates, 100) == ["n0", "a0", "b0", "n1", "a1", "a2"]


def test_int8_io_on_request(tiny_model, tiny_shards, tmp_path):
    result = convert(str(tiny_model), str(tiny_shards), str(tmp_path), ConvertConfig(int8_io=True, gate_samples=20, calibration=CalibrationConfig(samples=40)))
    predictor = TFLitePredictor((tmp_path / "tiny_int8.tflite").read_bytes())
    assert predictor.input["dtype"] == np.int8 and predictor.output["dtype"] == np.int8
    assert result.report["quantization"]["input"]["dtype"] == "int8"
    assert result.report["agreement"]["cosine_mean"] >= 0.95


def test_failing_gate_writes_the_report_and_promotes_nothing(converted, tiny_model, tiny_shards, tmp_path):
    _, promoted = converted
    for name in ("tiny_int8.tflite", "tiny_int8_model_config.json"):  # an earlier run's promoted model
        (tmp_path / name).write_bytes((promoted / name).read_bytes())
    with pytest.raises(GateFailed, match="cosine_mean"):
        convert(
            str(tiny_model), str(tiny_shards), str(tmp_path), ConvertConfig(min_cosine_mean=1.0, gate_samples=20, calibration=CalibrationConfig(samples=40))
        )
    assert not (tmp_path / "tiny_int8.tflite").exists()
    assert not (tmp_path / "tiny_int8_model_config.json").exists()
    report = json.loads((tmp_path / "tiny_int8_report.json").read_text())
    assert report["passed"] is False and report["tflite"]["promoted"] is False
    assert any("cosine_mean" in failure for failure in report["failures"])


def test_cli_gate_failure_exits_non_zero_with_a_clear_message(tiny_model, tiny_shards, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(tiny_model),
            "--shards",
            str(tiny_shards),
            "--out",
            str(tmp_path),
            "--min-cosine-mean",
            "1.0",
            "--gate-samples",
            "20",
            "--calibration-samples",
            "40",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "conversion gates failed" in result.output and "not promoted" in result.output
    assert not (tmp_path / "tiny_int8.tflite").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--calibration-samples", "0"], "calibration samples must be an integer >= 1; got 0"),
        (["--min-cosine-mean", "1.5"], "min_cosine_mean must be a cosine in [-1, 1]; got 1.5"),
        (["--gate-samples", "-3"], "gate_samples must be an integer >= 1; got -3"),
        (["--bundle-vectors", "-1"], "bundle_vectors must be an integer >= 0; got -1"),
    ],
)
def test_cli_bad_options_exit_2_naming_the_value(tiny_model, tiny_shards, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["convert", str(tiny_model), "--shards", str(tiny_shards), "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
    assert not list(tmp_path.iterdir())


def test_not_a_trained_checkpoint_is_refused(tiny_shards, tmp_path):
    (tmp_path / "model.h5").write_bytes(b"x")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "model.h5"), "--shards", str(tiny_shards)])
    assert result.exit_code == 2 and "must be a .keras file" in result.output
    (tmp_path / "lonely.keras").write_bytes(b"x")
    with pytest.raises(ConfigError, match="no lonely_model_config.json beside it"):
        convert(str(tmp_path / "lonely.keras"), str(tiny_shards))


def test_fake_quant_twin_calibrates_the_ranges_the_converter_chose(converted, tiny_model, tiny_shards):
    """QAT trains against the converter's scheme: the twin's per-tensor ranges are the TFLite model's."""
    from shardkit.export.quantize import calibrate, deployable_model, fake_quant_model, quantizers

    result, out = converted
    checkpoint = load_checkpoint(str(tiny_model))
    _, calibration = draw_samples(str(tiny_shards), checkpoint, ConvertConfig(), None)
    assert list(calibration.keys) == result.report["calibration"]["keys"]  # the very samples the converter used
    twin = fake_quant_model(deployable_model(checkpoint.model))
    calibrate(twin, calibration.features)
    converted_ranges = {}
    for tensor in TFLitePredictor((out / "tiny_int8.tflite").read_bytes()).interpreter.get_tensor_details():
        scale, zero_point = tensor["quantization"]
        if tensor["dtype"] == np.int8 and scale:
            converted_ranges[tensor["name"].split(";")[0]] = (scale * (-128 - zero_point), scale * (127 - zero_point))
    errors = []
    for quantizer in quantizers(twin):
        if quantizer.fixed_range or not quantizer.name.endswith("_out_quant"):
            continue
        layer = quantizer.name[: -len("_out_quant")]
        hits = [bounds for name, bounds in converted_ranges.items() if f"/{layer}_1/" in name]
        if hits:
            low, high = hits[-1]
            width = max(high - low, 1e-9)
            errors.append(max(abs(float(quantizer.low.numpy()) - low), abs(float(quantizer.high.numpy()) - high)) / width)
    assert len(errors) >= 10, f"only {len(errors)} quantized tensors matched by layer name"
    assert np.median(errors) < 0.02 and max(errors) < 0.15, sorted(errors)


def test_cosine_counts_rows_silent_in_both_models_as_agreement():
    from shardkit.export.runtime import cosine_per_row

    float_scores = np.array([[0.001, 0.002, 0.0005], [0.9, 0.1, 0.0], [0.001, 0.002, 0.0005]])
    int8_scores = np.array([[0.0, 0.0, 0.0], [0.0, 0.9, 0.0], [0.0, 0.5, 0.0]])
    cosine = cosine_per_row(float_scores, int8_scores)
    assert cosine[0] == 1.0  # a confident negative that INT8 rounds to zeros agrees
    assert cosine[1] == pytest.approx(0.1 * 0.9 / (np.hypot(0.9, 0.1) * 0.9))
    assert cosine[2] < 0.9  # one model speaks up: a real disagreement


def _collapsed_copy(tiny_model: Path, folder: Path) -> Path:
    """``flat.keras``: the tiny model with its head's weights zeroed, so it outputs sigmoid(bias) for every input."""
    import keras

    model = keras.models.load_model(tiny_model)
    layers, head = list(model.layers), None
    while layers:  # the last Dense, nested models included
        layer = layers.pop(0)
        if isinstance(layer, keras.Model):
            layers.extend(layer.layers)
        elif isinstance(layer, keras.layers.Dense):
            head = layer
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), bias])
    model.save(folder / "flat.keras")
    (folder / "flat_model_config.json").write_bytes((tiny_model.parent / "tiny_model_config.json").read_bytes())
    return folder / "flat.keras"


def test_a_collapsed_model_is_refused_before_conversion(tiny_model, tiny_shards, tmp_path):
    from shardkit.export.gates import CollapsedModelError

    flat = _collapsed_copy(tiny_model, tmp_path)
    config = ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40))
    with pytest.raises(CollapsedModelError, match=r"has collapsed: its scores barely vary across the \d+ gate samples .* train longer"):
        convert(str(flat), str(tiny_shards), str(tmp_path / "out"), config)
    assert not list((tmp_path / "out").glob("flat_int8*"))  # nothing converted, no report, nothing promoted
    result = CliRunner().invoke(cli, ["convert", str(flat), "--shards", str(tiny_shards), "--gate-samples", "20", "--calibration-samples", "40"])
    assert result.exit_code == 2 and "has collapsed" in result.output and "check the data" in result.output, result.output
    assert not (tmp_path / "flat_int8.tflite").exists()
