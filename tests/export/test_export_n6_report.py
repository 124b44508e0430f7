"""The N6 report on real converted models: tiny Keras models, full-INT8 (and float) TFLite."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from shardkit.errors import ConfigError
from shardkit.export.n6_report import N6Report, format_n6_report, n6_report
from shardkit.n6_rules import ALLOWED_OPS

INPUT_SHAPE = (16, 12, 1)
L = keras.layers


def _convert(model: keras.Model, quantize: bool = True, int8_io: bool = False) -> bytes:
    """A batch-1 clone of ``model`` converted to TFLite (full INT8 with random calibration by default)."""
    batch1 = keras.models.clone_model(model, input_tensors=keras.Input(batch_shape=(1, *INPUT_SHAPE)))
    batch1.set_weights(model.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(batch1)
    if quantize:
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(8):
                yield [rng.standard_normal((1, *INPUT_SHAPE)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def _good_model() -> keras.Model:
    """Stride-2 stem (8), BN, ReLU, depthwise, pointwise (16), max-pool, 3-class sigmoid head."""
    inputs = keras.Input(INPUT_SHAPE)
    x = L.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.ReLU(name="dw_relu")(x)
    x = L.Conv2D(16, 1, name="pw")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    return keras.Model(inputs, L.Dense(3, activation="sigmoid", name="head")(x), name="good")


def _bad_model() -> keras.Model:
    """A stride-3 conv, a 12-filter conv and a 12-unit dense; the 3-unit head is exempt from the channel rule."""
    inputs = keras.Input(INPUT_SHAPE)
    x = L.Conv2D(8, 3, strides=3, padding="same", name="bad_stride")(inputs)
    x = L.Conv2D(12, 1, activation="relu", name="bad_channels")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(12, activation="relu", name="bad_dense")(x)
    return keras.Model(inputs, L.Dense(3, activation="sigmoid", name="head")(x), name="bad")


def _mcu_ops_model() -> keras.Model:
    """ReLU6 fused into a conv, a standalone ReLU6 after a concatenation, and a Maximum."""
    inputs = keras.Input(INPUT_SHAPE)
    a = L.ReLU(max_value=6, name="clip")(L.Conv2D(8, 3, padding="same", name="conv_a")(inputs))
    b = L.Conv2D(8, 1, name="conv_b")(inputs)
    x = L.ReLU(max_value=6, name="clip_concat")(L.Concatenate(name="concat")([a, b]))
    y = L.Maximum(name="maxi")([a, b])
    x = L.Add(name="add")([L.Conv2D(8, 1, name="squeeze")(x), y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Dense(3, activation="sigmoid", name="head")(x), name="mcu")


@pytest.fixture(scope="module")
def good() -> bytes:
    return _convert(_good_model())


@pytest.fixture(scope="module")
def good_int8_io() -> bytes:
    return _convert(_good_model(), int8_io=True)


@pytest.fixture(scope="module")
def good_float() -> bytes:
    return _convert(_good_model(), quantize=False)


@pytest.fixture(scope="module")
def bad() -> bytes:
    return _convert(_bad_model())


@pytest.fixture(scope="module")
def mcu_ops() -> bytes:
    return _convert(_mcu_ops_model())


def _found(report: N6Report) -> set[tuple[str, str]]:
    return {(violation.layer, violation.rule) for violation in report.violations}


def test_good_model_passes_with_sizes(good: bytes) -> None:
    report = n6_report(good)
    assert report.ok, format_n6_report(report)
    assert report.violations == []
    assert report.op_counts == {
        "QUANTIZE": 1,
        "CONV_2D": 2,
        "DEPTHWISE_CONV_2D": 1,
        "MAX_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "LOGISTIC": 1,
        "DEQUANTIZE": 1,
    }
    assert set(report.op_counts) <= ALLOWED_OPS
    # input_bytes is the model's input tensor as the caller feeds it: float32 I/O → 4 bytes a value
    assert (report.input_shape, report.input_dtype, report.input_bytes) == ((1, *INPUT_SHAPE), "float32", 16 * 12 * 4)
    assert (report.output_shape, report.output_dtype) == ((1, 3), "float32")
    kernels = 8 * 3 * 3 + 3 * 3 * 8 + 16 * 8 + 3 * 192  # int8 weights: stem, dw, pw, head
    assert kernels <= report.weight_bytes < len(good)
    # the largest activation is pw's [1, 8, 6, 16] int8 output; the peak holds dw's [1, 8, 6, 8] input with it
    assert (report.largest_activation.layer, report.largest_activation.shape, report.largest_activation.bytes) == ("pw", (1, 8, 6, 16), 768)
    assert report.peak_activation_bytes == 384 + 768
    assert report.peak_activation_bytes >= report.largest_activation.bytes


def test_good_model_ops_name_their_layers(good: bytes) -> None:
    ops = n6_report(good).ops
    assert [op.op for op in ops][1:] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "LOGISTIC", "DEQUANTIZE"]
    assert [op.layer for op in ops][1:] == ["stem", "dw", "pw", "pool", "flat", "head", "head", "head"]
    assert ops[1].layers == ("stem", "stem_relu")  # the conv first, the fused ReLU after
    assert [op.index for op in ops] == list(range(len(ops)))
    assert (ops[3].output_shape, ops[3].output_dtype) == ((1, 8, 6, 16), "int8")


def test_int8_io_model_has_no_quantize_edges(good_int8_io: bytes) -> None:
    report = n6_report(good_int8_io)
    assert report.ok, format_n6_report(report)
    assert "QUANTIZE" not in report.op_counts and "DEQUANTIZE" not in report.op_counts
    assert (report.input_dtype, report.input_bytes, report.output_dtype) == ("int8", 16 * 12, "int8")


def test_bad_model_flags_stride_and_channels_by_layer(bad: bytes) -> None:
    report = n6_report(bad)
    assert not report.ok
    assert _found(report) == {("bad_stride", "stride above 2"), ("bad_channels", "channels not a multiple of 8"), ("bad_dense", "channels not a multiple of 8")}
    by_layer = {violation.layer: violation.detail for violation in report.violations}
    assert by_layer["bad_stride"] == "strides=(3, 3) (CONV_2D)"
    assert by_layer["bad_channels"] == "12 output channels (CONV_2D)"
    assert by_layer["bad_dense"] == "12 output channels (FULLY_CONNECTED)"  # only the FULLY_CONNECTED feeding the output is exempt


def test_clips_and_maximum_are_flagged(mcu_ops: bytes) -> None:
    report = n6_report(mcu_ops)
    # the converter fuses a ReLU6 that follows a conv into it (fused RELU6), but emits a RELU6 op after a concatenation
    assert report.op_counts.get("RELU6") == 1 and report.op_counts.get("MAXIMUM") == 1
    # two int8 → int8 QUANTIZE ops requantize the concatenation's inputs: integer-only, not flagged
    assert report.op_counts["QUANTIZE"] == 3
    assert _found(report) == {("clip", "activation not run by the NPU"), ("clip_concat", "op not run by the NPU"), ("maxi", "op not run by the NPU")}
    details = {violation.layer: violation.detail for violation in report.violations}
    assert details["clip"].startswith("RELU6 fused into CONV_2D of layer 'conv_a'")
    assert details["clip_concat"] == "RELU6 would fall back to the MCU"
    assert details["maxi"] == "MAXIMUM would fall back to the MCU"


def test_float_conversion_is_not_int8(good_float: bytes) -> None:
    report = n6_report(good_float)
    assert not report.ok
    not_int8 = {violation.layer: violation.detail for violation in report.violations if violation.rule == "not INT8"}
    assert {"stem", "dw", "pw", "pool", "flat", "head"} <= set(not_int8)
    assert not_int8["stem"] == "CONV_2D: input float32, constant float32, output float32 tensors"
    assert "QUANTIZE" not in report.op_counts


def test_to_dict_is_json_ready(bad: bytes) -> None:
    data = json.loads(json.dumps(n6_report(bad).to_dict()))
    assert data["ok"] is False
    assert {"layer": "bad_stride", "rule": "stride above 2", "detail": "strides=(3, 3) (CONV_2D)"} in data["violations"]
    assert data["input_shape"] == [1, *INPUT_SHAPE]
    assert data["largest_activation"]["layer"] == "bad_channels"
    assert data["ops"][1]["layer"] == "bad_stride"
    assert data["op_counts"] == {"QUANTIZE": 1, "CONV_2D": 2, "MEAN": 1, "FULLY_CONNECTED": 2, "LOGISTIC": 1, "DEQUANTIZE": 1}


def test_format_names_the_layers(good: bytes, bad: bytes) -> None:
    assert format_n6_report(n6_report(good)).startswith("N6 report: OK")
    text = format_n6_report(n6_report(bad), show_ops=True)
    assert text.startswith("N6 report: 3 violation(s)")
    assert "  violation: layer 'bad_stride': stride above 2: strides=(3, 3) (CONV_2D)" in text.splitlines()
    assert "  violation: layer 'bad_channels': channels not a multiple of 8: 12 output channels (CONV_2D)" in text.splitlines()
    assert "CONV_2D" in text and "peak activations" in text


def test_bytes_and_path_give_the_same_report(bad: bytes, tmp_path) -> None:
    path = tmp_path / "bad_int8.tflite"
    path.write_bytes(bad)
    assert n6_report(str(path)).to_dict() == n6_report(bad).to_dict()


def test_rejects_what_is_not_a_tflite_model(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"must be a TFLite flatbuffer .*got 5 bytes starting b'hello'"):
        n6_report(b"hello")
    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04 not a flatbuffer")
    with pytest.raises(ConfigError, match=r"got file '.*model\.keras' starting b'PK"):
        n6_report(str(path))
    with pytest.raises(ConfigError, match=r"bytes of a \.tflite model or a local path; got int"):
        n6_report(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        n6_report(str(tmp_path / "missing.tflite"))


def test_a_depthwise_conv_keeping_its_input_channels_is_not_flagged() -> None:
    """As in the Keras check: the channel rule is for counts a layer chooses. A 1x1 depthwise on the
    1-channel input (the mel frontend's magnitude scaling) keeps them; a depth multiplier chooses them."""
    inputs = keras.Input(INPUT_SHAPE)
    kept = L.DepthwiseConv2D(1, name="per_channel_scale")(inputs)
    chosen = L.DepthwiseConv2D(1, depth_multiplier=3, name="multiplied")(kept)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(chosen)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    report = n6_report(_convert(keras.Model(inputs, L.Dense(3, activation="sigmoid", name="head")(x))))
    assert _found(report) == {("multiplied", "channels not a multiple of 8")}


def test_importing_the_report_loads_no_keras_or_tensorflow():
    """The report reads flatbuffers only: its rules come from a module without TensorFlow."""
    code = (
        "import sys\nimport shardkit.export.n6_report\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not loaded, f'importing shardkit.export.n6_report loaded {loaded}'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
