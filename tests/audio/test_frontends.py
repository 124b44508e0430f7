"""Frontend parity: the tf ops match the numpy reference within 1e-3; the reference matches librosa."""

from __future__ import annotations

import numpy as np
import pytest
from factories import tone_in_noise

from shardkit.audio.frontends import FRONTENDS, FrontendConfig, mel_filters, periodic_hann, reference_frontend, stft_magnitude
from shardkit.errors import ConfigError

tf = pytest.importorskip("tensorflow")
from shardkit.audio.frontends_tf import tf_frontend


def _chunks(config: FrontendConfig, n: int = 4) -> np.ndarray:
    chunks = [
        tone_in_noise(config.chunk_s, config.sample_rate_hz, calls=((0.2 * config.chunk_s, 0.5 * config.chunk_s, 1000 + 700 * i),), seed=i)
        for i in range(n - 1)
    ]
    chunks.append(np.zeros(config.chunk_samples, dtype=np.float32))  # silence normalises to zeros
    return np.stack(chunks)


@pytest.mark.parametrize("name", sorted(FRONTENDS))
@pytest.mark.parametrize("shape", [dict(), dict(sample_rate_hz=16000, chunk_s=1.0, n_fft=256, n_frames=98, n_mels=40)])
def test_tf_matches_numpy_reference(name, shape):
    config = FrontendConfig(name=name, **shape)
    chunks = _chunks(config)
    fast = tf_frontend(chunks, config).numpy()
    reference = np.stack([reference_frontend(c, config) for c in chunks])
    assert fast.shape == reference.shape == (len(chunks), *config.output_shape)
    assert np.max(np.abs(fast - reference)) <= 1e-3
    if name != "raw":
        assert reference[:-1].min() == pytest.approx(0, abs=1e-6) and reference[:-1].max() == pytest.approx(1, abs=1e-3)
    if name in ("hybrid", "mel"):
        assert np.all(reference[-1] == 0), "a silent chunk is all zeros, not NaN"


def test_contract_shapes_and_framing():
    config = FrontendConfig()
    assert config.output_shape == (256, 256) and config.hop_length == 72000 // 256
    impulse = np.zeros(config.chunk_samples)
    impulse[0] = 1.0
    spectrum = stft_magnitude(impulse, config)
    # frame 0 is centred on sample 0 (zero padding, not reflection): the impulse meets the window centre
    assert spectrum[:, 0] == pytest.approx(np.full(256, periodic_hann(512)[256]))
    assert np.all(spectrum[:, 2:] == 0)


def test_reference_matches_librosa():
    """Same framing and filters as librosa with center=True, pad_mode='constant', Slaney mel."""
    librosa = pytest.importorskip("librosa")
    config = FrontendConfig(name="mel")
    chunk = _chunks(config, 2)[0].astype(np.float64)
    ours = stft_magnitude(chunk, config)
    theirs = np.abs(librosa.stft(chunk, n_fft=512, hop_length=config.hop_length, window="hann", center=True, pad_mode="constant"))
    np.testing.assert_allclose(ours, theirs[:256, :256], atol=1e-9)
    filters = librosa.filters.mel(sr=24000, n_fft=512, n_mels=64, fmin=150.0, fmax=12000.0, htk=False, norm="slaney")
    np.testing.assert_allclose(mel_filters(config), filters[:, :256], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "cqt"}, "frontend name must be one of ['hybrid', 'mel', 'mfcc', 'raw']; got 'cqt'"),
        ({"n_fft": 500}, "frontend n_fft must be a power of two >= 16; got 500"),
        ({"n_frames": 0}, "frontend n_frames must be in [1, chunk samples = 72000]; got 0"),
        ({"n_mels": 300}, "frontend n_mels must be in [1, n_fft / 2 = 256]; got 300"),
        ({"fmin_hz": 12000.0}, "frontend fmin_hz must be in [0, Nyquist = 12000.0); got 12000.0"),
    ],
)
def test_config_messages(kwargs, message):
    with pytest.raises(ConfigError) as info:
        FrontendConfig(**kwargs)
    assert str(info.value) == message


def test_wrong_chunk_length_is_named():
    with pytest.raises(ValueError, match="expects chunks of 72000 samples .*got 100"):
        reference_frontend(np.zeros(100), FrontendConfig())
