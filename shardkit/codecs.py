"""Codecs of the audio members in a shard: a plain dict registry of encoder/decoder pairs.

The build encodes with them and the reader decodes with them: the one definition of each
member format, shared by both stages.

Segments are stored as 16-bit PCM (FLAC, WAV or raw little-endian ``pcm16``). Float samples
are clipped before the integer conversion, so a loud sample never wraps around.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

INT16_SCALE = 32768.0


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, clipping (never wrapping) out-of-range values."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32) * INT16_SCALE, -INT16_SCALE, INT16_SCALE - 1)
    return np.round(scaled).astype(np.int16)


def clipping_ratio(samples: np.ndarray) -> float:
    """Share of samples at or beyond full scale."""
    return float(np.mean(np.abs(samples) >= (INT16_SCALE - 1) / INT16_SCALE)) if len(samples) else 0.0


def _encode_soundfile(fmt: str) -> Callable[[np.ndarray, int], bytes]:
    def encode(samples: np.ndarray, sample_rate_hz: int) -> bytes:
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, to_int16(samples), sample_rate_hz, format=fmt, subtype="PCM_16")
        return buffer.getvalue()

    return encode


def _decode_soundfile(data: bytes, sample_rate_hz: int) -> np.ndarray:
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if rate != sample_rate_hz:
        raise ValueError(f"member sample rate {rate} Hz differs from the expected {sample_rate_hz} Hz")
    return samples


def _encode_pcm16(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    return to_int16(samples).astype("<i2").tobytes()


def _decode_pcm16(data: bytes, sample_rate_hz: int) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / INT16_SCALE


@dataclass(frozen=True)
class Codec:
    """One way to store a segment: its member extension and its encode/decode functions."""

    extension: str
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes, int], np.ndarray]


CODECS: dict[str, Codec] = {
    "flac": Codec("flac", _encode_soundfile("FLAC"), _decode_soundfile),
    "wav": Codec("wav", _encode_soundfile("WAV"), _decode_soundfile),
    "pcm16": Codec("pcm16", _encode_pcm16, _decode_pcm16),
}
