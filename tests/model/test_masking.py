"""A model on a free time axis: a sample scores the same alone or padded; its fixed-length copy is the deployable model."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import ConfigError
from shardkit.model import masking
from shardkit.model.config import ModelConfig
from shardkit.model.dscnn import build_model, fixed_length_copy, is_variable_length
from shardkit.model.n6 import check_n6

#: frontend, model settings: every pooling, both block kinds, SE, both time axes (hybrid: 1, mel/mfcc: 2)
CASES = {
    "hybrid-max": ("hybrid", {}),
    "hybrid-gap-se": ("hybrid", {"pooling": "gap", "se": True, "mag_scale": "pwl"}),
    "mel-attention-inverted": ("mel", {"pooling": "attention", "inverted_residual": True, "se": True, "architecture": "dscnn", "alpha": 0.25}),
    "mfcc-time-depth2": ("mfcc", {"pooling": "time", "depth_multiplier": 2, "mag_scale": "db"}),
}


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Weights drawn alike in every run, alone or in the whole suite."""
    keras.utils.set_random_seed(0)


def trained_looking(model: keras.Model, seed: int = 0) -> keras.Model:
    """``model`` with BatchNorm statistics and shifts far from their initial values (a shift turns padded zeros non-zero)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    gamma * rng.uniform(0.5, 2, gamma.shape),
                    rng.normal(0.3, 0.5, beta.shape),
                    rng.normal(0, 0.1, mean.shape),
                    var * rng.uniform(0.5, 2, var.shape),
                ]
            )
    return model


def score(model: keras.Model, features: np.ndarray, lengths: list[int]) -> np.ndarray:
    return model.predict({"features": features, "lengths": np.array(lengths, np.int32)}, verbose=0)


def padded(features: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((*features.shape[:2], width, 1), np.float32)
    out[:, :, : features.shape[2]] = features
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_padded_and_an_unpadded_copy_of_a_sample_score_the_same(case):
    name, options = CASES[case]
    frontend, config = FrontendConfig(name=name), ModelConfig(**options)
    model = trained_looking(build_model(frontend, 3, config, variable_length=True))
    rows = frontend.output_shape[0]
    rng = np.random.default_rng(1)
    sample = rng.uniform(0, 1, (1, rows, 173, 1)).astype(np.float32)  # odd, and no multiple of the model's stride
    alone = score(model, sample, [173])
    for width in (174, 176, 256, 301):
        assert np.max(np.abs(score(model, padded(sample, width), [173]) - alone)) <= 1e-5, f"padded to {width}"
    neighbour = rng.uniform(0, 1, (1, rows, 301, 1)).astype(np.float32)
    batch = np.concatenate([padded(sample, 301), neighbour])
    assert np.max(np.abs(score(model, batch, [173, 301])[0] - alone[0])) <= 1e-5, "in a batch beside a longer sample"


def test_without_the_masks_padding_changes_the_score(monkeypatch):
    """The bad case of the test above: a model that does not zero its padded frames scores a padded sample differently."""
    monkeypatch.setattr(masking.TimeMask, "call", lambda self, inputs: inputs[0])
    frontend = FrontendConfig()
    model = trained_looking(build_model(frontend, 3, ModelConfig(pooling="gap"), variable_length=True))
    sample = np.random.default_rng(1).uniform(0, 1, (1, frontend.output_shape[0], 173, 1)).astype(np.float32)
    assert np.max(np.abs(score(model, padded(sample, 256), [173]) - score(model, sample, [173]))) > 1e-4, "ten times the tolerance of the test above"


@pytest.mark.parametrize("case", ["hybrid-max", "mel-attention-inverted"])
def test_the_fixed_length_copy_scores_full_length_samples_alike_and_is_n6_clean(case):
    name, options = CASES[case]
    frontend, config = FrontendConfig(name=name), ModelConfig(**options)
    model = trained_looking(build_model(frontend, 3, config, variable_length=True), seed=2)
    fixed = fixed_length_copy(model, frontend, config)
    assert is_variable_length(model) and not is_variable_length(fixed)
    assert fixed.input_shape == (None, *frontend.output_shape, 1)
    features = np.random.default_rng(3).uniform(0, 1, (2, *frontend.output_shape, 1)).astype(np.float32)
    width = frontend.output_shape[1]
    assert np.max(np.abs(fixed.predict(features, verbose=0) - score(model, features, [width, width]))) <= 1e-5
    assert fixed.count_params() == model.count_params()
    assert not any(isinstance(layer, (masking.TimeMask, masking.MaskedPool, masking.FrameMask, masking.PadTime)) for layer in fixed.layers)
    assert check_n6(fixed) == []


def test_a_free_time_axis_model_survives_a_save_and_load(tmp_path):
    frontend = FrontendConfig()
    model = trained_looking(build_model(frontend, 2, ModelConfig(), variable_length=True))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    sample = np.random.default_rng(4).uniform(0, 1, (1, frontend.output_shape[0], 200, 1)).astype(np.float32)
    np.testing.assert_allclose(score(loaded, sample, [150]), score(model, sample, [150]), atol=1e-6)


@pytest.mark.parametrize(
    "frontend, options, reason",
    [("raw", {}, "the raw frontend's learned filterbank"), ("hybrid", {"mag_scale": "pcen"}, "mag_scale 'pcen' smooths along time")],
)
def test_what_cannot_mask_its_padding_is_refused_by_name(frontend, options, reason):
    with pytest.raises(ConfigError, match=reason):
        build_model(FrontendConfig(name=frontend), 2, ModelConfig(**options), variable_length=True)
