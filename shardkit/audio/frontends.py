"""Frontends: the spectrogram contract of DESIGN.md, as the numpy reference implementation.

For a chunk of N samples and W frames: zero-pad ``n_fft / 2`` on each side, hop ``N // W``,
keep the first W frames, periodic Hann window, ``|rfft|`` (no power, no scaling), drop the
Nyquist bin, compress the magnitude (contract v2), min-max normalise over the chunk. ``mel``
applies Slaney mel filters (fmin 150 Hz, fmax Nyquist) to the magnitude before compressing
it; ``mfcc`` is the orthonormal DCT-II of the log mel power; ``raw`` is the waveform. This
module is the spec: the TensorFlow implementation in `shardkit.audio.frontends_tf` and the
firmware's C reference must match it within 1e-3.

Compression (v2): ``none`` (v1, the linear magnitude), ``sqrt``, or ``log`` (the natural log
of the magnitude floored at ``log_floor_db`` below the chunk's peak, and at `LOG_FLOOR_ABS`).
A quiet call a few percent of the peak is a few INT8 steps of a linear magnitude, and many
steps after compression; that is why v2 compresses before the model's first INT8 tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shardkit.checks import DictConfig, check, integer, number, one_of
from shardkit.errors import is_int

#: added to the min-max range so a silent chunk normalises to zeros, not NaN
NORM_EPS = 1e-6
#: floor of the mel power before the log in MFCC
LOG_EPS = 1e-6
#: absolute floor of the magnitude before the ``log`` compression (a silent chunk gives zeros)
LOG_FLOOR_ABS = 1e-10
#: the spectrogram contract this code implements; model configs record it (v1: no compression)
CONTRACT_VERSION = 2
#: the default compression, chosen by what the INT8 model scores (tools/bench_int8.py, README):
#: with the default model, sqrt and log shrank the float → INT8 drop but cost the float model far
#: more on the demo corpus and on real recordings, so their INT8 models scored lower
DEFAULT_COMPRESSION = "none"
#: frontends whose magnitude the contract compresses (mfcc takes its own log; raw has no magnitude)
COMPRESSED_FRONTENDS = ("hybrid", "mel")


@dataclass(frozen=True)
class FrontendConfig(DictConfig):
    """Settings shared by training, calibration, evaluation and the firmware.

    Attributes:
        name: ``hybrid`` (linear magnitude), ``mel``, ``mfcc`` or ``raw``.
        sample_rate_hz: sample rate of the chunks.
        chunk_s: chunk length the model takes.
        n_fft: FFT size; ``n_fft / 2`` frequency rows remain after dropping Nyquist.
        n_frames: spectrogram width W (time frames).
        n_mels: mel bands for ``mel`` and ``mfcc``.
        fmin_hz: lowest mel filter edge.
        n_mfcc: cepstral coefficients kept by ``mfcc``.
        compression: ``none``, ``sqrt`` or ``log`` for ``hybrid`` and ``mel``; ``none`` for
            ``mfcc`` and ``raw``. A saved config without it is a v1 config: ``none``.
        log_floor_db: dynamic range kept by the ``log`` compression, in dB below the chunk's peak.
    """

    name: str = "hybrid"
    sample_rate_hz: int = 24000
    chunk_s: float = 3.0
    n_fft: int = 512
    n_frames: int = 256
    n_mels: int = 64
    fmin_hz: float = 150.0
    n_mfcc: int = 20
    compression: str = DEFAULT_COMPRESSION
    log_floor_db: float = 60.0

    def __post_init__(self) -> None:
        check("frontend", [("name", self.name, one_of(FRONTENDS), f"one of {sorted(FRONTENDS)}")])
        compressed = self.name in COMPRESSED_FRONTENDS
        allowed = sorted(COMPRESSIONS) if compressed else ["none"]
        why = f"one of {allowed}" + ("" if compressed else f" with the {self.name} frontend (it compresses nothing)")
        check("frontend", [("compression", self.compression, one_of(allowed), why)])
        check("frontend", [("log_floor_db", self.log_floor_db, number(1.0, 200.0), "a number in [1, 200] dB")])
        check("frontend", [("n_fft", self.n_fft, lambda v: is_int(v) and v >= 16 and not v & (v - 1), "a power of two >= 16")])
        check(
            "frontend",
            [
                ("n_frames", self.n_frames, integer(1, self.chunk_samples), f"in [1, chunk samples = {self.chunk_samples}]"),
                ("fmin_hz", self.fmin_hz, number(0, self.sample_rate_hz / 2, open_high=True), f"in [0, Nyquist = {self.sample_rate_hz / 2})"),
                ("n_mels", self.n_mels, integer(1, self.n_fft // 2), f"in [1, n_fft / 2 = {self.n_fft // 2}]"),
                ("n_mfcc", self.n_mfcc, integer(1, self.n_mels), f"in [1, n_mels = {self.n_mels}]"),
            ],
        )

    @property
    def chunk_samples(self) -> int:
        """N: samples per chunk."""
        return int(round(self.chunk_s * self.sample_rate_hz))

    @property
    def hop_length(self) -> int:
        """Samples between frames: ``N // W``."""
        return self.chunk_samples // self.n_frames

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one chunk's features: (rows, W) for spectrograms, (N,) for raw."""
        rows = {"hybrid": self.n_fft // 2, "mel": self.n_mels, "mfcc": self.n_mfcc}.get(self.name)
        return (self.chunk_samples,) if rows is None else (rows, self.n_frames)

    CONFIG_NAME = "frontend config"
    SAVED_BEFORE = {"compression": "none"}

    @property
    def contract_version(self) -> int:
        """1 for an uncompressed magnitude (what v1 computed), else 2."""
        return 1 if self.compression == "none" else 2


def periodic_hann(n: int) -> np.ndarray:
    """Periodic Hann window of length n (the DFT-even one)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def stft_magnitude(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """``|rfft|`` of zero-padded, centred frames without the Nyquist bin: shape ``(n_fft/2, W)``."""
    chunk = np.asarray(chunk, dtype=np.float64)
    padded = np.pad(chunk, config.n_fft // 2)
    starts = np.arange(config.n_frames) * config.hop_length
    frames = padded[starts[:, None] + np.arange(config.n_fft)]
    spectrum = np.abs(np.fft.rfft(frames * periodic_hann(config.n_fft), axis=1))
    return spectrum[:, : config.n_fft // 2].T


def hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    """Inverse of `hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3.0))


def mel_filters(config: FrontendConfig) -> np.ndarray:
    """Slaney-normalised triangular mel filters over the ``n_fft/2`` kept bins: ``(n_mels, n_fft/2)``."""
    fft_hz = np.arange(config.n_fft // 2) * config.sample_rate_hz / config.n_fft
    edges_mel = np.linspace(hz_to_mel_slaney(config.fmin_hz), hz_to_mel_slaney(config.sample_rate_hz / 2), config.n_mels + 2)
    edges_hz = mel_to_hz_slaney(edges_mel)
    lower = (fft_hz[None, :] - edges_hz[:-2, None]) / (edges_hz[1:-1] - edges_hz[:-2])[:, None]
    upper = (edges_hz[2:, None] - fft_hz[None, :]) / (edges_hz[2:] - edges_hz[1:-1])[:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II basis: ``(n_out, n_in)``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis


def minmax(features: np.ndarray) -> np.ndarray:
    """Scale a chunk's features to [0, 1]."""
    low, high = features.min(), features.max()
    return (features - low) / (high - low + NORM_EPS)


def compress_floored_log(magnitude: np.ndarray, floor_db: float) -> np.ndarray:
    """``log(max(m, peak * 10^(-floor_db / 20), LOG_FLOOR_ABS))`` with the chunk's peak."""
    floor = max(float(magnitude.max()) * 10.0 ** (-floor_db / 20.0), LOG_FLOOR_ABS)
    return np.log(np.maximum(magnitude, floor))


#: compression name → function(magnitude, config) of one chunk's magnitude
COMPRESSIONS: dict[str, Callable[[np.ndarray, FrontendConfig], np.ndarray]] = {
    "none": lambda m, config: m,
    "sqrt": lambda m, config: np.sqrt(m),
    "log": lambda m, config: compress_floored_log(m, config.log_floor_db),
}


def compress(magnitude: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """The configured compression of one chunk's (mel) magnitude."""
    return COMPRESSIONS[config.compression](magnitude, config)


def _fit_length(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    n = config.chunk_samples
    if len(chunk) != n:
        raise ValueError(f"frontend expects chunks of {n} samples ({config.chunk_s} s at {config.sample_rate_hz} Hz); got {len(chunk)}")
    return chunk


def hybrid(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Magnitude spectrogram, compressed and min-max normalised: ``(n_fft/2, W)``."""
    return minmax(compress(stft_magnitude(_fit_length(chunk, config), config), config)).astype(np.float32)


def mel(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Slaney mel magnitude spectrogram, compressed and min-max normalised: ``(n_mels, W)``."""
    return minmax(compress(mel_filters(config) @ stft_magnitude(_fit_length(chunk, config), config), config)).astype(np.float32)


def mfcc(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """MFCC (DCT-II of log mel power), min-max normalised: ``(n_mfcc, W)``."""
    mel_power = (mel_filters(config) @ stft_magnitude(_fit_length(chunk, config), config)) ** 2
    return minmax(dct_matrix(config.n_mfcc, config.n_mels) @ np.log(mel_power + LOG_EPS)).astype(np.float32)


def raw(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """The waveform itself: ``(N,)``."""
    return np.asarray(_fit_length(chunk, config), dtype=np.float32)


FRONTENDS: dict[str, Callable[[np.ndarray, FrontendConfig], np.ndarray]] = {"hybrid": hybrid, "mel": mel, "mfcc": mfcc, "raw": raw}


def reference_frontend(chunk: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Apply the configured frontend to one chunk (the numpy reference)."""
    return FRONTENDS[config.name](chunk, config)
