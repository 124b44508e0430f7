"""Test-data factories: tiny audio made in code (tones in noise) and written with soundfile."""

from __future__ import annotations

import io
import tarfile
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


def make_class_corpus(root: Path, n_per_class: int = 6, classes: tuple[tuple[str, float], ...] = (("alpha", 2000), ("beta", 3000), ("gamma", 4500))) -> Path:
    """Class folders (a tone frequency each; three by default) and a noise folder of 7-10 s recordings with tones at known times."""
    for c, (label, freq) in enumerate(classes):
        for i in range(n_per_class):
            calls = ((1.5, 0.5, freq), (5.0, 0.5, freq * 1.1))
            write_audio(root / label / f"{label}{i}.flac", tone_in_noise(8 + i % 3, 24000, calls=calls, seed=100 * c + i), 24000)
    for i in range(4):
        write_audio(root / "noise" / f"n{i}.flac", tone_in_noise(7, 24000, seed=900 + i), 24000)
    return root


def make_learnable_corpus(root: Path, n_per_class: int = 10, classes: tuple[tuple[str, float], ...] = (("low", 1000), ("high", 5000))) -> Path:
    """Class folders of 6.5 s recordings whose 0.3 s tones repeat every 0.5 s at 20 dB over the noise, and a noise folder.

    Every 1 s chunk holds a call, so a tiny model learns the classes in a few epochs (build with ``chunk_s=1.0``).
    """
    for c, (label, freq) in enumerate(classes):
        for i in range(n_per_class):
            calls = tuple((0.1 + 0.5 * k, 0.3, freq) for k in range(12))
            write_audio(root / label / f"{label}{i}.flac", tone_in_noise(6.5, 24000, calls=calls, noise_rms=0.01, call_amplitude=0.1, seed=100 * c + i), 24000)
    for i in range(n_per_class // 2):
        write_audio(root / "noise" / f"n{i}.flac", tone_in_noise(6.5, 24000, noise_rms=0.01, seed=500 + i), 24000)
    return root


def tar_bytes(members: list[tuple[str, bytes]], tar_format: int = tarfile.USTAR_FORMAT) -> bytes:
    """A tar archive of ``(name, bytes)`` members, in order, as bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
