"""BatchNorm folding, the flat float32 rebuild, and fake quantization that mirrors the converter."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from shardkit.audio.frontends import FrontendConfig
from shardkit.export.quantize import (
    SIGMOID_RANGE,
    ActivationQuantizer,
    QuantizedWeights,
    calibrate,
    deployable_model,
    fake_quant_activation,
    fake_quant_model,
    fake_quant_weights,
    quantizers,
)
from shardkit.model.config import ModelConfig
from shardkit.model.dscnn import build_model

FRONTEND = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)


def _randomise_batchnorms(model: keras.Model, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics, as training would."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.2, n))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, n))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n))
            layer.beta.assign(rng.normal(0, 0.2, n))


def _features(n: int = 8, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, *FRONTEND.output_shape, 1), dtype=np.float32) ** 3).astype(np.float32)


@pytest.mark.parametrize(
    "model_config",
    [
        ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32),
        ModelConfig(architecture="dscnn", alpha=0.25, se=True, inverted_residual=True, pooling="attention", embeddings_size=32),
        ModelConfig(architecture="dscnn", alpha=0.25, mag_scale="pcen", pooling="max", embeddings_size=32),
    ],
    ids=["lite", "se-ir-attention", "pcen-max"],
)
def test_deployable_model_folds_batchnorm_and_keeps_outputs(model_config):
    model = build_model(FRONTEND, 3, model_config)
    _randomise_batchnorms(model)
    deployable = deployable_model(model)
    x = _features()
    np.testing.assert_allclose(deployable.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-5)
    kinds = [type(layer).__name__ for layer in deployable.layers]
    folded = sum(1 for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)) - kinds.count("BatchNormalization")
    assert folded >= 4
    assert kinds.count("BatchNormalization") == 1  # input_bn follows a reshape: nothing to fold into
    assert all(layer.dtype_policy.name == "float32" for layer in deployable.layers)


def test_deployable_model_inlines_nested_models_and_drops_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inner = build_model(FRONTEND, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    _randomise_batchnorms(inner)
    inputs = keras.Input((*FRONTEND.output_shape, 1))
    outer = keras.Model(inputs, inner(inputs), name="outer")
    deployable = deployable_model(outer, batch_size=1)
    assert not any(isinstance(layer, keras.Model) for layer in deployable.layers)
    assert deployable.inputs[0].shape[0] == 1
    assert {layer.dtype_policy.name for layer in deployable.layers} == {"float32"}
    x = _features(1)
    np.testing.assert_allclose(deployable.predict(x, verbose=0), outer.predict(x, verbose=0), atol=5e-3)  # the source ran in float16


def test_build_model_keeps_its_name():
    assert build_model(FRONTEND, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25), name="mine").name == "mine"


def test_fake_quant_activation_rounds_to_256_levels_and_passes_gradients_inside_the_range():
    import tensorflow as tf

    x = tf.constant(np.linspace(-1.5, 2.5, 1001, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fake_quant_activation(x, -1.0, 2.0)
    values = np.unique(y.numpy())
    assert len(values) <= 256
    scale = 3.0 / 255
    np.testing.assert_allclose(np.diff(values), scale, rtol=1e-3)
    assert np.any(np.isclose(values, 0.0, atol=1e-7))  # zero is exact
    assert values.min() >= -1.0 - scale and values.max() <= 2.0 + scale
    grad = tape.gradient(y, x).numpy()
    inside = (x.numpy() > -0.99) & (x.numpy() < 1.99)
    assert np.all(grad[inside] == 1.0)
    assert np.all(grad[x.numpy() < -1.1] == 0.0) and np.all(grad[x.numpy() > 2.1] == 0.0)


def test_fake_quant_weights_are_symmetric_per_channel():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 8)).astype(np.float32) * np.arange(1, 9, dtype=np.float32)
    quantized = np.asarray(fake_quant_weights(keras.ops.convert_to_tensor(kernel), (0, 1, 2)))
    for channel in range(8):
        scale = np.abs(kernel[..., channel]).max() / 127
        levels = quantized[..., channel] / scale
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
        assert np.abs(levels).max() == pytest.approx(127, abs=1e-3)
        assert np.abs(quantized[..., channel] - kernel[..., channel]).max() <= scale / 2 + 1e-6


def test_fake_quant_model_shares_weights_and_calibrates_ranges():
    model = build_model(FRONTEND, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32))
    _randomise_batchnorms(model)
    deployable = deployable_model(model)
    twin = fake_quant_model(deployable)
    assert any(isinstance(layer, QuantizedWeights) for layer in twin.layers)
    conv = next(layer for layer in twin.layers if isinstance(layer, QuantizedWeights))
    assert conv.inner is deployable.get_layer(conv.inner.name)  # training the twin trains the deployable model
    x = _features(16)
    assert calibrate(twin, x) >= 10
    ranges = {q.name: (float(q.low.numpy()), float(q.high.numpy())) for q in quantizers(twin)}
    assert ranges["input_quant"] == (0.0, pytest.approx(float(x.max())))
    assert all(low <= 0.0 <= high for low, high in ranges.values())
    head = next(layer for layer in twin.layers if isinstance(layer, QuantizedWeights) and layer.inner.name == "head")
    assert head.pre_activation is not None and float(head.pre_activation.high.numpy()) > float(head.pre_activation.low.numpy())
    scores = twin.predict(x, verbose=0)
    np.testing.assert_allclose(scores * 256, np.round(scores * 256), atol=1e-3)  # the sigmoid's INT8 grid: k / 256
    assert scores.max() <= SIGMOID_RANGE[1] + 1e-6
    np.testing.assert_allclose(scores, deployable.predict(x, verbose=0), atol=0.05)


def test_observing_quantizer_passes_values_and_widens_its_range():
    quantizer = ActivationQuantizer()
    quantizer.observing = True
    x = np.array([[-0.5, 0.25, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(quantizer(x)), x)
    assert (float(quantizer.low.numpy()), float(quantizer.high.numpy())) == (-0.5, 3.0)
    quantizer.observing = False
    assert len(np.unique(np.asarray(quantizer(np.linspace(-1, 4, 2000, dtype=np.float32))))) <= 256
