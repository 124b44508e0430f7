"""Frontend parity: the tf ops match the numpy reference within 1e-3; the reference matches librosa."""

from __future__ import annotations

import numpy as np
import pytest
from factories import tone_in_noise

from shardkit.audio.frontends import (
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    FrontendConfig,
    mel_filters,
    periodic_hann,
    reference_frontend,
    stft_magnitude,
)
from shardkit.errors import ConfigError

tf = pytest.importorskip("tensorflow")
from shardkit.audio.frontends_tf import MAX_SLICED_HOPS, frames, tf_frontend


def _chunks(config: FrontendConfig, n: int = 4) -> np.ndarray:
    chunks = [
        tone_in_noise(config.chunk_s, config.sample_rate_hz, calls=((0.2 * config.chunk_s, 0.5 * config.chunk_s, 1000 + 700 * i),), seed=i)
        for i in range(n - 1)
    ]
    chunks.append(np.zeros(config.chunk_samples, dtype=np.float32))  # silence normalises to zeros
    return np.stack(chunks)


#: every frontend with every compression it takes
VARIANTS = [(name, c) for name in ("hybrid", "mel") for c in sorted(COMPRESSIONS)] + [("mfcc", "none"), ("raw", "none")]


@pytest.mark.parametrize("name, compression", VARIANTS)
@pytest.mark.parametrize("shape", [dict(), dict(sample_rate_hz=16000, chunk_s=1.0, n_fft=256, n_frames=98, n_mels=40)])
def test_tf_matches_numpy_reference(name, compression, shape):
    config = FrontendConfig(name=name, compression=compression, **shape)
    chunks = _chunks(config)
    fast = tf_frontend(chunks, config).numpy()
    reference = np.stack([reference_frontend(c, config) for c in chunks])
    assert fast.shape == reference.shape == (len(chunks), *config.output_shape)
    assert np.max(np.abs(fast - reference)) <= 1e-3
    if name != "raw":
        assert reference[:-1].min() == pytest.approx(0, abs=1e-6) and reference[:-1].max() == pytest.approx(1, abs=1e-3)
    if name in ("hybrid", "mel"):
        assert np.all(reference[-1] == 0), "a silent chunk is all zeros, not NaN"


@pytest.mark.parametrize(
    "frame_length, hop, keep",
    [(512, 281, 256), (512, 256, 10), (512, 512, 7), (256, 300, 5), (512, 281, 0), (512, 512 // (MAX_SLICED_HOPS + 1), 40)],
)
def test_sliced_framing_is_tf_signal_frame(frame_length, hop, keep):
    """The sliced framing gives tf.signal.frame's frames bit for bit: hop not dividing the frame, dividing it, equal, longer, no frames, many hops."""
    signal = np.random.default_rng(hop).normal(size=(3, (keep - 1) * hop + frame_length if keep else frame_length)).astype(np.float32)
    expected = tf.signal.frame(signal, frame_length, hop)[:, :keep, :].numpy()
    got = frames(tf.constant(signal), frame_length, hop, keep).numpy()
    assert got.shape == expected.shape == (3, keep, frame_length)
    assert np.array_equal(got, expected)


def test_sliced_framing_with_a_tensor_frame_count():
    """Variable-length batches pass the frame count as a tensor (traced without a static width)."""
    config = FrontendConfig()
    signal = np.random.default_rng(0).normal(size=(2, 5 * config.chunk_samples // 3)).astype(np.float32)
    traced = tf.function(lambda x: tf_frontend(x, config, variable_length=True), input_signature=[tf.TensorSpec([None, None], tf.float32)])
    got = traced(signal).numpy()
    assert got.shape == (2, 256, signal.shape[1] // config.hop_length)
    reference = np.stack([reference_frontend(c, FrontendConfig(chunk_s=signal.shape[1] / 24000, n_frames=got.shape[2])) for c in signal])
    assert np.max(np.abs(got - reference)) <= 1e-3


def _pure_tone(config: FrontendConfig, hz: float = 3000.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(config.chunk_samples) / config.sample_rate_hz)


def test_log_compression_is_decibels_below_the_peak_over_the_floor():
    """Independently of the code: a bin L dB below the chunk's peak sits at 1 - L / floor_db."""
    config = FrontendConfig(compression="log", log_floor_db=60.0)
    chunk = _pure_tone(config)
    magnitude = stft_magnitude(chunk, config)
    decibels = 20 * np.log10(np.maximum(magnitude, 1e-30) / magnitude.max())
    assert decibels.min() < -60, "the tone's far bins lie below the floor"
    expected = np.clip(1 + decibels / 60.0, 0, 1)
    np.testing.assert_allclose(reference_frontend(chunk, config), expected, atol=1e-5)


def test_sqrt_compression_is_the_root_of_the_magnitude():
    config = FrontendConfig(compression="sqrt")
    chunk = _pure_tone(config) + 0.01 * np.random.default_rng(0).standard_normal(config.chunk_samples)
    root = np.sqrt(stft_magnitude(chunk, config))
    np.testing.assert_allclose(reference_frontend(chunk, config), (root - root.min()) / (root.max() - root.min()), atol=1e-5)


@pytest.mark.parametrize("name", ["hybrid", "mel"])
def test_compression_gives_a_quiet_call_more_int8_steps(name):
    """Why v2 exists: a call 40 dB under the loudest one spans a few INT8 steps of the linear magnitude."""
    base = FrontendConfig(name=name, compression="none")
    loud = _pure_tone(base, 6000.0, 0.5)
    quiet = _pure_tone(base, 2000.0, 0.005)
    chunk = loud * (np.arange(base.chunk_samples) < base.chunk_samples // 2) + quiet * (np.arange(base.chunk_samples) >= base.chunk_samples // 2)
    steps = {}
    for compression in sorted(COMPRESSIONS):
        features = reference_frontend(chunk, FrontendConfig(name=name, compression=compression))
        quiet_half = features[:, features.shape[1] * 5 // 8 :]
        steps[compression] = int(np.round(quiet_half.max() * 255))  # INT8 levels the quiet call's peak reaches
    assert steps["none"] <= 8, steps
    assert steps["sqrt"] >= 4 * steps["none"] and steps["log"] >= 60, steps


def test_compression_default_and_v1_configs():
    assert all(FrontendConfig(name=name).compression == DEFAULT_COMPRESSION for name in ("hybrid", "mel"))
    assert FrontendConfig(name="mfcc").compression == "none" and FrontendConfig(name="raw").compression == "none"
    assert FrontendConfig(compression="none").contract_version == 1 and FrontendConfig(compression="log").contract_version == 2
    v1 = {k: v for k, v in FrontendConfig(compression="sqrt").to_dict().items() if k not in ("compression", "log_floor_db")}
    assert FrontendConfig.from_dict(v1).compression == "none", "a config saved before v2 keeps its linear magnitude"
    assert FrontendConfig.from_dict(FrontendConfig(compression="log").to_dict()).compression == "log"


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
        ({"compression": "cbrt"}, "frontend compression must be one of ['log', 'none', 'sqrt']; got 'cbrt'"),
        ({"name": "mfcc", "compression": "log"}, "frontend compression must be one of ['none'] with the mfcc frontend (it compresses nothing); got 'log'"),
        ({"log_floor_db": 0}, "frontend log_floor_db must be a number in [1, 200] dB; got 0"),
    ],
)
def test_config_messages(kwargs, message):
    with pytest.raises(ConfigError) as info:
        FrontendConfig(**kwargs)
    assert str(info.value) == message


def test_wrong_chunk_length_is_named():
    with pytest.raises(ValueError, match="expects chunks of 72000 samples .*got 100"):
        reference_frontend(np.zeros(100), FrontendConfig())


@pytest.mark.parametrize("name, compression", [("hybrid", "none"), ("hybrid", "log"), ("mel", "sqrt"), ("mfcc", "none")])
def test_padding_leaves_a_chunks_features_alone_when_the_valid_frames_are_given(name, compression):
    """A padded chunk's first frames equal the chunk's own (the min-max skips the padding), the rest are 0."""
    config = FrontendConfig(name=name, compression=compression)
    hop = config.hop_length
    chunk = (np.random.default_rng(5).normal(size=(1, 150 * hop)) * 0.1).astype(np.float32)
    alone = tf_frontend(chunk, config, variable_length=True, valid=tf.constant([150])).numpy()
    padded_chunk = np.concatenate([chunk, np.zeros((1, 70 * hop), np.float32)], axis=1)
    padded = tf_frontend(padded_chunk, config, variable_length=True, valid=tf.constant([150])).numpy()
    assert padded.shape[2] == 220 and alone.shape[2] == 150
    assert np.max(np.abs(padded[:, :, :150] - alone)) <= 1e-6 and np.all(padded[:, :, 150:] == 0)
    unmasked = tf_frontend(padded_chunk, config, variable_length=True).numpy()
    assert np.max(np.abs(unmasked[:, :, :150] - alone)) > 1e-3, "without the valid frames the padding shifts the range (the bad case)"
