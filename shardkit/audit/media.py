"""Pictures and sounds for the page, in numpy and the standard library: PNG thumbnails and WAV files.

No plotting library: a thumbnail is the contract's frontend output, resized by block averaging
and coloured through a small perceptual colour map, written as an 8-bit RGB PNG with zlib.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import soundfile as sf

from shardkit.audio.frontends import FrontendConfig, reference_frontend
from shardkit.read.chunks import fit_into

#: anchor colours of the thumbnails' colour map (dark blue → teal → yellow, like viridis)
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


def colour_map(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB (shape + ``(3,)``)."""
    x = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.minimum(x.astype(int), len(_ANCHORS) - 2)
    frac = (x - lo)[..., None]
    return np.round(_ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (``(height, width, 3)`` uint8)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"png_bytes takes a (height, width, 3) image; got shape {rgb.shape}")
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), np.ascontiguousarray(rgb, dtype=np.uint8).reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")


def shrink(image: np.ndarray, max_height: int, max_width: int) -> np.ndarray:
    """Block-average a 2-D image down to at most ``max_height x max_width`` (never up)."""
    out = image
    for axis, limit in ((0, max_height), (1, max_width)):
        n = out.shape[axis]
        if n > limit:
            edges = np.linspace(0, n, limit + 1).astype(int)
            out = np.add.reduceat(out, edges[:-1], axis=axis) / np.diff(edges).reshape((-1, 1) if axis == 0 else (1, -1))
    return out


def display_frontend(frontend: FrontendConfig) -> FrontendConfig:
    """The frontend a thumbnail is drawn with: the contract's, or a log mel one where it draws no picture (``raw``)."""
    if frontend.name != "raw":
        return frontend
    return FrontendConfig(
        name="mel", sample_rate_hz=frontend.sample_rate_hz, chunk_s=frontend.chunk_s, n_frames=min(256, frontend.chunk_samples), compression="log"
    )


def spectrogram_png(audio_int16: np.ndarray, frontend: FrontendConfig, max_height: int, max_width: int) -> bytes:
    """A chunk's features through ``frontend`` (centred crop or pad, as training sees it; low frequencies at the bottom), as a PNG thumbnail."""
    shown = display_frontend(frontend)
    row = np.zeros(shown.chunk_samples, dtype=np.int16)
    fit_into(row, np.asarray(audio_int16, dtype=np.int16), None)
    features = reference_frontend(row.astype(np.float32) / 32768.0, shown)
    small = shrink(np.asarray(features, dtype=np.float64)[::-1], max_height, max_width)
    # the median (the noise floor, for most chunks) is drawn dark, so what rises above it stands out
    floor, top = float(np.median(small)), float(small.max())
    scaled = np.clip((small - floor) / (top - floor), 0.0, 1.0) if top > floor else np.zeros_like(small)
    return png_bytes(colour_map(scaled))


def wav_bytes(audio_int16: np.ndarray, sample_rate_hz: int) -> bytes:
    """Mono 16-bit WAV (every browser plays it)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio_int16, dtype=np.int16), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
