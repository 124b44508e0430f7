"""The DS-CNN family: N6 construction rules, the hybrid mixer, scaling, saving, config checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from hypothesis import given, settings
from hypothesis import strategies as st

from shardkit.audio.frontends import FrontendConfig, mel_filters
from shardkit.audio.frontends_tf import tf_frontend
from shardkit.errors import ConfigError
from shardkit.model.config import ARCHITECTURES, ModelConfig, round_channels
from shardkit.model.dscnn import EMBEDDINGS_LAYER, HEAD_LAYER, MEL_MIXER_LAYER, build_model, with_frontend
from shardkit.model.n6 import check_layer, check_n6
from shardkit.model.scaling import PWL_BREAKPOINTS, PWL_LOG_EPS, SCALINGS, DecibelScaling, piecewise_linear
from shardkit.n6_rules import N6Violation

#: 1 s chunks at 24 kHz: a 64 x 32 linear spectrogram, 16 mel bands, 8 MFCCs
SMALL = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)
ALPHAS = (0.25, 0.5, 0.75, 1.0, 1.3)
OPTION_COMBOS = {
    "plain": {},
    "se_ir_attention": {"se": True, "inverted_residual": True, "pooling": "attention"},
    "pcen_max": {"mag_scale": "pcen", "pooling": "max"},
    "deep_time": {"depth_multiplier": 2, "pooling": "time"},
}
NUM_CLASSES = 5


def _all_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def graph_problems(model: keras.Model) -> list[str]:
    """The N6 rules, checked on the built graph without `check_n6`: output shapes, strides, activations."""
    problems = []
    for layer in _all_layers(model):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.name != HEAD_LAYER:
            channels = layer.output.shape[-1]
            if channels % 8:
                problems.append(f"{layer.name}: {channels} output channels")
        strides = getattr(layer, "strides", None)
        if strides is not None and max(strides) > 2:
            problems.append(f"{layer.name}: strides {strides}")
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", str(activation)) if activation is not None else ""
        if "relu6" in name or "hard" in name:
            problems.append(f"{layer.name}: activation {name}")
        if isinstance(layer, keras.layers.ReLU) and layer.max_value is not None:
            problems.append(f"{layer.name}: ReLU clipped at {layer.max_value}")
        if isinstance(layer, keras.layers.Maximum | keras.layers.Minimum):
            problems.append(f"{layer.name}: {type(layer).__name__}")
    return problems


def assert_n6(model: keras.Model) -> None:
    assert check_n6(model) == []
    assert graph_problems(model) == []
    head = model.get_layer(HEAD_LAYER)
    assert head.units == NUM_CLASSES and head.activation.__name__ == "sigmoid"


# ----- N6 construction rules --------------------------------------------------------------


@pytest.mark.parametrize("combo", sorted(OPTION_COMBOS))
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_registry_model_meets_n6_rules_at_every_alpha(architecture: str, combo: str):
    for alpha in ALPHAS:
        config = ModelConfig(architecture=architecture, alpha=alpha, **OPTION_COMBOS[combo])
        model = build_model(FrontendConfig(), NUM_CLASSES, config)
        assert model.input_shape == (None, 256, 256, 1)
        assert model.output_shape == (None, NUM_CLASSES)
        assert_n6(model)


@pytest.mark.parametrize("combo", sorted(OPTION_COMBOS))
@pytest.mark.parametrize("frontend_name", ["mel", "mfcc", "raw"])
def test_other_inputs_meet_n6_rules(frontend_name: str, combo: str):
    """The input adapters do not depend on the channel plan: the small architecture covers them."""
    frontend = FrontendConfig(**{**SMALL.to_dict(), "name": frontend_name})
    model = build_model(frontend, NUM_CLASSES, ModelConfig(architecture="dscnn_lite", alpha=0.5, **OPTION_COMBOS[combo]))
    expected = (None, frontend.chunk_samples) if frontend_name == "raw" else (None, *frontend.output_shape, 1)
    assert model.input_shape == expected
    assert_n6(model)


def test_depth_multiplier_and_embeddings_keep_rules():
    config = ModelConfig(architecture="dscnn_lite", alpha=0.35, depth_multiplier=2, embeddings_size=100, se=True, se_reduction=16)
    model = build_model(SMALL, NUM_CLASSES, config)
    assert_n6(model)
    assert model.get_layer(EMBEDDINGS_LAYER).output.shape[-1] == round_channels(100) == 104
    assert "stage2_block1_add" in {layer.name for layer in model.layers}


def test_db_scaling_is_the_only_violation_it_brings():
    model = build_model(SMALL, NUM_CLASSES, ModelConfig(architecture="dscnn_lite", mag_scale="db"))
    violations = check_n6(model)
    assert [(v.layer, v.rule) for v in violations] == [("mag_db", "layer not run by the NPU")]
    assert "DecibelScaling" in violations[0].detail


def test_check_n6_flags_every_bad_layer_and_spares_the_head():
    inputs = keras.Input((24, 24, 1))
    x = keras.layers.Conv2D(8, 3, strides=3, padding="same", name="stride3")(inputs)
    x = keras.layers.Conv2D(12, 1, name="twelve")(x)
    x = keras.layers.Conv2D(16, 1, name="ok_conv")(x)
    x = keras.layers.Activation("relu6", name="relu6_act")(x)
    x = keras.layers.ReLU(max_value=6.0, name="clipped")(x)
    y = keras.layers.Conv2D(16, 1, activation="relu", name="ok_branch")(x)
    x = keras.layers.Maximum(name="maximum")([x, y])
    x = DecibelScaling(name="decibels")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="sigmoid", name=HEAD_LAYER)(x)
    model = keras.Model(inputs, outputs)

    violations = check_n6(model)
    assert all(isinstance(v, N6Violation) for v in violations)
    assert {(v.layer, v.rule) for v in violations} == {
        ("stride3", "stride above 2"),
        ("twelve", "channels not a multiple of 8"),
        ("relu6_act", "activation not run by the NPU"),
        ("clipped", "clipped or leaky ReLU"),
        ("maximum", "layer not run by the NPU"),
        ("decibels", "layer not run by the NPU"),
    }
    assert len(violations) == 6
    text = "\n".join(str(v) for v in violations)
    for fragment in ("'stride3'", "strides=(3, 3)", "'twelve'", "12 output channels", "'relu6'", "max_value=6.0", "Maximum", "DecibelScaling"):
        assert fragment in text
    assert HEAD_LAYER not in {v.layer for v in violations}
    # the graph check agrees on the ones it looks for
    assert len(graph_problems(model)) == 5


def test_check_n6_looks_inside_nested_models():
    inner_in = keras.Input((8, 8, 1))
    inner = keras.Model(inner_in, keras.layers.Conv2D(12, 1, name="inner_twelve")(inner_in), name="inner")
    outer_in = keras.Input((8, 8, 1))
    outer = keras.Model(outer_in, inner(outer_in))
    assert [(v.layer, v.rule) for v in check_n6(outer)] == [("inner_twelve", "channels not a multiple of 8")]


def test_check_layer_head_exemption_is_by_name():
    inputs = keras.Input((4,))
    other = keras.layers.Dense(3, name="not_the_head")
    other(inputs)
    assert [v.rule for v in check_layer(other)] == ["channels not a multiple of 8"]
    assert check_layer(other, exempt_channels=frozenset({"not_the_head"})) == []


# ----- the hybrid input's mel mixer ---------------------------------------------------------


@pytest.mark.parametrize("frontend", [FrontendConfig(), SMALL], ids=["default", "small"])
def test_mel_mixer_starts_from_slaney_weights_and_is_frozen(frontend: FrontendConfig):
    model = build_model(frontend, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25))
    mixer = model.get_layer(MEL_MIXER_LAYER)
    kernel = keras.ops.convert_to_numpy(mixer.kernel)
    rows = frontend.n_fft // 2
    expected = (frontend.sample_rate_hz / frontend.n_fft) * mel_filters(frontend).T
    assert kernel.shape == (rows, frontend.n_mels)
    np.testing.assert_allclose(kernel, expected, rtol=1e-6, atol=1e-8)
    assert [w.name for w in mixer.weights] == ["kernel"]  # no bias
    assert mixer.trainable is False
    assert not any(w is mixer.kernel for w in model.trainable_weights)
    # scaled by the bin width, a band is about the weighted mean of its bins: ones stay about one
    band_sums = kernel.reshape(rows, frontend.n_mels).sum(axis=0)
    assert 0.7 < np.median(band_sums) < 1.3


def test_mel_mixer_trains_when_asked():
    model = build_model(SMALL, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25, mel_trainable=True))
    mixer = model.get_layer(MEL_MIXER_LAYER)
    assert mixer.trainable is True
    assert any(w is mixer.kernel for w in model.trainable_weights)


# ----- magnitude scaling ----------------------------------------------------------------------


def test_piecewise_linear_starts_increasing_concave_and_zero_at_zero():
    n = 401
    inputs = keras.Input((1, n, 1))
    model = keras.Model(inputs, piecewise_linear(inputs))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    curve = keras.ops.convert_to_numpy(model(ramp.reshape(1, 1, n, 1))).reshape(n)
    assert abs(curve[0]) < 1e-7
    slopes = np.diff(curve) / np.diff(ramp)
    assert np.all(slopes > 0), "increasing"
    assert np.all(np.diff(slopes) <= 1e-3), "concave: slopes never grow"
    # at the knots, the initial curve is the log curve it stands in for (0 at 0, 1 at 1)
    knots = np.array([*PWL_BREAKPOINTS, 1.0], dtype=np.float32)
    at_knots = keras.ops.convert_to_numpy(
        keras.Model(inputs, piecewise_linear(inputs, name="pwl_knots"))(np.pad(knots, (0, n - len(knots))).reshape(1, 1, n, 1))
    ).reshape(n)[: len(knots)]
    np.testing.assert_allclose(at_knots, np.log1p(knots / PWL_LOG_EPS) / np.log1p(1 / PWL_LOG_EPS), atol=1e-5)


def test_scaling_registry_matches_model_config():
    from shardkit.model.config import MAG_SCALES

    assert set(SCALINGS) == set(MAG_SCALES)


@pytest.mark.parametrize("options", [{"mag_scale": "db"}, {"mag_scale": "pcen", "pooling": "attention"}], ids=["db", "pcen_attention"])
def test_model_survives_keras_save_and_load(tmp_path: Path, options: dict):
    model = build_model(SMALL, 3, ModelConfig(architecture="dscnn_lite", alpha=0.5, **options))
    features = np.random.default_rng(0).random((4, *SMALL.output_shape, 1), dtype=np.float32)
    before = keras.ops.convert_to_numpy(model(features, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    after = keras.ops.convert_to_numpy(restored(features, training=False))
    assert after.shape == (4, 3)
    np.testing.assert_array_equal(after, before)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]


# ----- argument checks --------------------------------------------------------------------


def test_build_model_refuses_zero_classes():
    with pytest.raises(ValueError, match=r"num_classes must be >= 1; got 0"):
        build_model(SMALL, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alpha", 0),
        ("depth_multiplier", 0),
        ("pooling", "median"),
        ("mag_scale", "log"),
        ("architecture", "resnet"),
        ("dropout", 1.0),
        ("embeddings_size", 4),
        ("l2", -0.1),
    ],
)
def test_model_config_names_bad_field_and_value(field: str, value):
    with pytest.raises(ConfigError, match=rf"model {field} must be .*; got {re.escape(repr(value))}$"):
        ModelConfig(**{field: value})


def test_model_config_refuses_fractional_depth_multiplier():
    with pytest.raises(ConfigError, match=r"depth_multiplier .* got 1\.5"):
        ModelConfig(depth_multiplier=1.5)


# ----- round_channels -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), st.integers(min_value=0, max_value=10**6)))
def test_round_channels_is_a_multiple_of_8_and_never_10_percent_under(channels):
    rounded = round_channels(channels)
    assert isinstance(rounded, int)
    assert rounded % 8 == 0 and rounded >= 8
    assert rounded >= 0.9 * channels
    assert rounded <= max(8, channels + 8)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e5, allow_nan=False), st.sampled_from([4, 8, 16, 32]))
def test_round_channels_other_divisors(channels: float, divisor: int):
    rounded = round_channels(channels, divisor)
    assert rounded % divisor == 0 and rounded >= divisor and rounded >= 0.9 * channels


def test_round_channels_examples():
    assert [round_channels(c) for c in (0, 1, 8, 11.9, 12, 20, 35.9, 64 * 1.3, 100)] == [8, 8, 8, 16, 16, 24, 40, 80, 104]


# ----- the deferred-placement training model ------------------------------------------------


@pytest.mark.parametrize("name", ["hybrid", "raw"])
def test_with_frontend_equals_core_model_on_frontend_features(name: str):
    frontend = FrontendConfig(**{**SMALL.to_dict(), "name": name})
    core = build_model(frontend, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25))
    training = with_frontend(core, frontend)
    assert training.input_shape == (None, frontend.chunk_samples)
    assert training.get_layer("frontend").trainable is False

    rng = np.random.default_rng(1)
    t = np.arange(frontend.chunk_samples) / frontend.sample_rate_hz
    waveforms = np.stack([0.5 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(t.size) for f in (500, 2000, 6000)]).astype(np.float32)
    features = tf_frontend(waveforms, frontend).numpy()
    if name != "raw":
        features = features[..., None]
    expected = keras.ops.convert_to_numpy(core(features, training=False))
    got = keras.ops.convert_to_numpy(training(waveforms, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the core's weights are shared, not copied
    assert training.get_layer(core.name) is core
