"""The mel mixer as a matrix product: no tall convolution anywhere, same outputs, old models upgraded.

TensorFlow 2.21's oneDNN convolution aborts on Intel AVX-512 VNNI CPUs for a tall (F x 1)
kernel at batch >= 8. These tests keep that form out of every model that TensorFlow runs,
check that the matrix form computes what the convolution computed, and train the default
hybrid model at its full input shape with batch 16 in a child process (which aborted with
exit 134 on such a CPU before the mixer became a matrix product).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shardkit.audio.frontends import FRONTENDS, FrontendConfig
from shardkit.export.quantize import deployable_model, fake_quant_model
from shardkit.model.config import ARCHITECTURES, ModelConfig
from shardkit.model.dscnn import build_model, with_frontend
from shardkit.model.mixer import MEL_MIXER_LAYER, MelMixer, as_tflite_layers, mixers_to_matmul
from shardkit.train.artifacts import load_model

#: the longest kernel side a convolution TensorFlow runs may have: the raw frontend's 9-tap
#: filterbank is the longest legitimate one; the mixer's old kernel was 256 (n_fft / 2) rows
MAX_KERNEL_SIDE = 16
SMALL = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)


def _leaf_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield getattr(layer, "inner", layer)  # a fake-quant wrapper's own layer


def tall_kernels(model: keras.Model) -> list[str]:
    """Names and kernel sizes of the convolutions in ``model`` with a side above `MAX_KERNEL_SIDE`."""
    found = []
    for layer in _leaf_layers(model):
        size = getattr(layer, "kernel_size", None)
        if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Conv1D") and size is not None and max(size) > MAX_KERNEL_SIDE:
            found.append(f"{layer.name} {tuple(size)}")
    return found


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("frontend_name", sorted(FRONTENDS))
def test_no_model_that_tensorflow_runs_has_a_tall_convolution(frontend_name: str, architecture: str):
    frontend = FrontendConfig(name=frontend_name)  # the full default input shape
    model = build_model(frontend, 4, ModelConfig(architecture=architecture, pooling="time"))
    assert tall_kernels(model) == []
    assert tall_kernels(deployable_model(model)) == []
    assert tall_kernels(fake_quant_model(deployable_model(model))) == []
    if frontend_name != "raw":
        assert tall_kernels(with_frontend(model, frontend)) == []


def test_the_check_sees_the_old_tall_mixer():
    """The bad case: the converter's form of the mixer is the (F x 1) convolution the check must catch."""
    model = build_model(FrontendConfig(), 4, ModelConfig(architecture="dscnn_lite"))
    assert tall_kernels(as_tflite_layers(model)) == [f"{MEL_MIXER_LAYER} (256, 1)"]


def test_mixer_is_the_matrix_product_over_frequency():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((24, 8)).astype(np.float32)
    x = rng.random((5, 24, 7, 1), dtype=np.float32)
    mixer = MelMixer(8, kernel_initializer=keras.initializers.Constant(kernel))
    out = keras.ops.convert_to_numpy(mixer(x))
    assert out.shape == (5, 1, 7, 8)
    np.testing.assert_allclose(out[:, 0], np.einsum("bft,fm->btm", x[..., 0], kernel), rtol=1e-5, atol=1e-5)


def test_bad_mixer_arguments_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="bands must be a positive integer; got 0"):
        MelMixer(0)
    with pytest.raises(ValueError, match=r"got shape \(None, 24, 7, 2\)"):
        MelMixer(8)(keras.Input((24, 7, 2)))


@pytest.mark.parametrize("mag_scale", ["pwl", "pcen"])
def test_float_outputs_equal_the_convolution_form_for_the_same_weights(mag_scale: str):
    """The converter's Conv2D form and the trained matrix form: outputs within 1e-5 (batch 1, which oneDNN runs)."""
    frontend = FrontendConfig()
    model = build_model(frontend, 4, ModelConfig(architecture="dscnn_lite", mag_scale=mag_scale, pooling="max"))
    conv_form = as_tflite_layers(model)
    assert type(conv_form.get_layer(MEL_MIXER_LAYER)).__name__ == "Conv2D"
    x = np.random.default_rng(1).random((3, *frontend.output_shape, 1), dtype=np.float32)
    expected = np.concatenate([keras.ops.convert_to_numpy(conv_form(x[i : i + 1], training=False)) for i in range(len(x))])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, atol=1e-5, rtol=0)


def test_a_model_saved_with_the_old_convolution_mixer_loads_as_a_matrix(tmp_path: Path):
    model = build_model(SMALL, 3, ModelConfig(architecture="dscnn_lite", alpha=0.25))
    old = as_tflite_layers(model)  # exactly the layer earlier versions saved: Conv2D "mel_mixer", (F, 1)
    old.compile(optimizer="adam", loss="binary_crossentropy")
    old.save(tmp_path / "old.keras")
    loaded = load_model(str(tmp_path / "old.keras"))
    assert isinstance(loaded.get_layer(MEL_MIXER_LAYER), MelMixer)
    assert loaded.optimizer is not None
    x = np.random.default_rng(2).random((8, *SMALL.output_shape, 1), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5, rtol=0)
    assert mixers_to_matmul(model) is model  # nothing to upgrade: the same object


TRAIN_ONE_STEP = textwrap.dedent(
    """
    import numpy as np
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.model.config import ModelConfig
    from shardkit.model.dscnn import build_model
    frontend = FrontendConfig(name={frontend!r})
    model = build_model(frontend, 4, ModelConfig(architecture={architecture!r}))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    shape = (16, frontend.chunk_samples) if frontend.name == "raw" else (16, *frontend.output_shape, 1)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    model.fit(x, np.zeros((16, 4), np.float32), batch_size=16, epochs=1, verbose=0)
    assert model.predict(x, batch_size=16, verbose=0).shape == (16, 4)
    print("trained", frontend.name, {architecture!r})
    """
)


def _train_one_step(frontend: str, architecture: str) -> subprocess.CompletedProcess:
    script = TRAIN_ONE_STEP.format(frontend=frontend, architecture=architecture)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_default_hybrid_model_trains_one_step_at_full_shape_with_batch_16():
    """The default model at its default [16, 256, 256, 1] input: exit 134 on AVX-512 VNNI CPUs with the tall mixer."""
    done = _train_one_step("hybrid", ModelConfig().architecture)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained hybrid" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("frontend_name", sorted(set(FRONTENDS) - {"hybrid"}))
def test_other_frontends_train_one_step_at_full_shape_with_batch_16(frontend_name: str):
    done = _train_one_step(frontend_name, "dscnn_lite")
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("frontend_name", sorted(FRONTENDS))
def test_every_default_model_converts_to_an_n6_clean_int8_model(frontend_name: str, architecture: str, tmp_path: Path):
    """Full default shapes through the real converter child process; the hybrid mixer is one CONV_2D op."""
    from shardkit.export.converter_process import convert_in_subprocess
    from shardkit.export.n6_report import n6_report

    frontend = FrontendConfig(name=frontend_name)
    model = build_model(frontend, 4, ModelConfig(architecture=architecture))
    deployable_model(model, batch_size=1).save(tmp_path / "m.keras")
    shape = (8, frontend.chunk_samples) if frontend_name == "raw" else (8, *frontend.output_shape, 1)
    np.save(tmp_path / "calibration.npy", np.random.default_rng(0).random(shape, dtype=np.float32))
    convert_in_subprocess(str(tmp_path / "m.keras"), str(tmp_path / "calibration.npy"), str(tmp_path / "m.tflite"), int8_io=False, timeout_s=600)
    report = n6_report(tmp_path / "m.tflite")
    assert report.violations == [], [str(v) for v in report.violations]
    if frontend_name == "hybrid":
        assert [op.op for op in report.ops if MEL_MIXER_LAYER in op.layers] == ["CONV_2D"]
