"""Member bytes to fixed-length int16 rows: decoding and crop/pad, in numpy (pure, testable).

Fixed-length batches are assembled here, in groups, so tf.data receives dense ``[K, N]``
int16 blocks instead of one small tensor per sample (its per-element overhead, not the
arithmetic, was the reader's cost). FLAC/WAV decoding goes through libsndfile, which
releases the GIL, so a thread pool decodes a group on all cores.
"""

from __future__ import annotations

import io

import numpy as np


def decode_int16(data: bytes, codec: str, sample_rate_hz: int) -> np.ndarray:
    """One audio member → 1-D int16 samples.

    Raises:
        ValueError: empty, odd-length pcm16, undecodable, not mono, or another sample rate.
    """
    if codec == "pcm16":
        if not data or len(data) % 2:
            raise ValueError(f"pcm16 member of {len(data)} bytes (must be a positive even number)")
        return np.frombuffer(data, dtype="<i2")
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"undecodable {codec} member: {exc}") from exc
    if rate != sample_rate_hz or audio.ndim != 1 or len(audio) == 0:
        raise ValueError(f"expected mono {codec} at {sample_rate_hz} Hz, got shape {audio.shape} at {rate} Hz")
    return audio


def fit_into(row: np.ndarray, samples: np.ndarray, rng: np.random.Generator | None) -> int:
    """Write ``samples`` into ``row`` (pre-zeroed, length N), cropping or padding.

    Args:
        row: destination of length N, zeros.
        samples: the decoded segment.
        rng: random crop offset and pad position (training); None centres both (evaluation).

    Returns:
        The number of real (not padding) samples written.
    """
    n, length = len(row), len(samples)
    if length == n:
        row[:] = samples
        return n
    excess, missing = max(length - n, 0), max(n - length, 0)
    if rng is None:
        start, before = excess // 2, missing // 2
    else:
        start, before = int(rng.integers(excess + 1)), int(rng.integers(missing + 1))
    valid = min(length, n)
    row[before : before + valid] = samples[start : start + valid]
    return valid
