"""The deferred placement: the Keras frontend layer equals the pipeline frontend and survives saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from factories import tone_in_noise

from shardkit.audio.frontend_layer import SpectrogramFrontend
from shardkit.audio.frontends import FrontendConfig, reference_frontend


def test_layer_matches_reference_and_round_trips(tmp_path: Path):
    config = FrontendConfig(name="mel", n_frames=64)
    waveforms = np.stack([tone_in_noise(3, 24000, calls=((1, 1, 2000 + 500 * i),), seed=i) for i in range(3)])
    inputs = keras.Input((config.chunk_samples,))
    features = SpectrogramFrontend(config)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    assert model.layers[1].trainable is False and not model.layers[1].trainable_weights
    frontend_only = keras.Model(inputs, features)
    got = frontend_only.predict(waveforms, verbose=0)
    assert got.shape == (3, 64, 64, 1)
    reference = np.stack([reference_frontend(w, config) for w in waveforms])[..., None]
    assert np.max(np.abs(got - reference)) < 1e-3
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(waveforms, verbose=0), model.predict(waveforms, verbose=0), atol=1e-6)
    assert restored.layers[1].frontend == config


def test_layer_saved_before_v2_stays_linear():
    """A layer config written by a v1 model (no compression key) computes the v1 features."""
    v1 = {k: v for k, v in FrontendConfig(n_frames=64).to_dict().items() if k not in ("compression", "log_floor_db")}
    layer = SpectrogramFrontend.from_config({"name": "frontend", "trainable": False, "frontend": v1})
    waveform = tone_in_noise(3, 24000, calls=((1, 1, 2500),), seed=3)
    linear = reference_frontend(waveform, FrontendConfig(n_frames=64, compression="none"))
    got = np.asarray(layer(waveform[None].astype(np.float32)))[0, ..., 0]
    assert np.max(np.abs(got - linear)) < 1e-3
    assert np.max(np.abs(got - reference_frontend(waveform, FrontendConfig(n_frames=64, compression="sqrt")))) > 0.05, "the v2 features differ"
