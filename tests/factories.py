"""Test-data factories: tiny audio made in code (tones in noise) and written with soundfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone_in_noise(
    duration_s: float,
    sample_rate_hz: int,
    *,
    calls: tuple[tuple[float, float, float], ...] = (),
    noise_rms: float = 0.02,
    call_amplitude: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """White noise with Hann-windowed tones: ``calls`` holds (start_s, length_s, freq_hz)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate_hz))
    signal = (rng.standard_normal(n) * noise_rms).astype(np.float32)
    for start_s, length_s, freq_hz in calls:
        start, length = int(start_s * sample_rate_hz), int(length_s * sample_rate_hz)
        t = np.arange(length) / sample_rate_hz
        signal[start : start + length] += (call_amplitude * np.sin(2 * np.pi * freq_hz * t) * np.hanning(length)).astype(np.float32)
    return signal


def write_audio(path: Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> Path:
    """Write ``samples`` with soundfile, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sample_rate_hz, subtype=subtype)
    return path
