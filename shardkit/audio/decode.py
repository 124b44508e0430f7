"""Decode audio files in bounded memory: mono float32 blocks, segment reads, resampling.

Every problem with a file surfaces as `InputFileError` with a stable reason code, so the
build can record it and go on. Nothing here holds a whole long recording in memory: files
are streamed block by block, and segments are read by seeking.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf

from shardkit.errors import InputFileError
from shardkit.storage import RangeReader, is_local_url, local_path, open_object

#: frames decoded per block when streaming (about 5.5 s at 48 kHz)
DEFAULT_BLOCK_FRAMES = 1 << 18
#: libsndfile subtypes that store integer samples (they decode to finite floats by construction)
INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ALAC_16", "ALAC_20", "ALAC_24", "ALAC_32"})


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about an audio file."""

    frames: int
    sample_rate_hz: int
    channels: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds according to the header."""
        return self.frames / self.sample_rate_hz


def open_audio(path: str, storage_options: dict[str, Any] | None = None) -> sf.SoundFile:
    """Open ``path`` for reading, mapping every failure to an `InputFileError`.

    Args:
        path: a local path, or any fsspec URL (``s3://bucket/raw/x.flac``): the object is then
            read by byte ranges (`storage.RangeReader`), never downloaded whole.
        storage_options: fsspec options for a URL.

    Raises:
        InputFileError: reasons ``missing``, ``unreadable``, ``empty_file``, ``undecodable``,
            ``no_frames``, ``truncated`` (a WAV holding less data than its header says).
        StorageUnavailableError: the store of a URL keeps failing (not a property of the file).
    """
    if not is_local_url(path):
        return _open_remote(path, storage_options)
    path = local_path(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError as exc:
        raise InputFileError("missing", f"file does not exist or is a dangling link ({exc.strerror})") from exc
    except OSError as exc:
        raise InputFileError("unreadable", f"cannot stat file: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputFileError("empty_file", "file is 0 bytes")
    try:
        handle = sf.SoundFile(path)
    except PermissionError as exc:
        raise InputFileError("unreadable", f"permission denied ({exc.strerror})") from exc
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputFileError("undecodable", _libsndfile_message(exc, path)) from exc
    return _checked(handle, lambda: _wav_frames_at(path))


def _open_remote(url: str, storage_options: dict[str, Any] | None) -> sf.SoundFile:
    """`open_audio` for an object in a store: the same checks and reasons, through a `RangeReader`."""
    try:
        reader = _StorageFaults(open_object(url, storage_options))
    except FileNotFoundError as exc:
        raise InputFileError("missing", f"object {url} does not exist") from exc
    except PermissionError as exc:
        raise InputFileError("unreadable", f"permission denied reading {url} ({exc})") from exc
    if reader.raw.size_bytes == 0:
        raise InputFileError("empty_file", "file is 0 bytes")
    try:
        handle = sf.SoundFile(reader)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        reader.raise_fault()
        raise InputFileError("undecodable", _libsndfile_message(exc, reader)) from exc
    reader.raise_fault()
    return _checked(handle, lambda: _wav_declared_frames(reader.at_start()))


def _checked(handle: sf.SoundFile, wav_frames: Callable[[], int | None]) -> sf.SoundFile:
    """``handle``, or an `InputFileError` when its header has no frames or promises more than a WAV holds.

    Args:
        handle: the file just opened.
        wav_frames: reads the frames a WAV header declares (called for WAV files only).
    """
    if handle.frames <= 0 or handle.samplerate <= 0:
        handle.close()
        raise InputFileError("no_frames", f"header reports {handle.frames} frames at {handle.samplerate} Hz")
    declared = wav_frames() if handle.format in ("WAV", "WAVEX") else None
    if declared is not None and declared > handle.frames:
        handle.close()  # libsndfile quietly shortens a WAV to the data present; the header says more
        raise _truncated(declared, handle.frames, handle.samplerate)
    return handle


class _StorageFaults:
    """The file object soundfile reads a remote recording through.

    soundfile's callbacks cannot raise: an error there becomes end-of-file, and the file would
    be reported as truncated or corrupt. This keeps the storage error instead (the reader has
    retried it already); `raise_fault` raises it after the soundfile call, so a store that
    keeps failing stops the task instead of blaming the recording.
    """

    def __init__(self, raw) -> None:
        self.raw = raw
        self.fault: BaseException | None = None

    def __repr__(self) -> str:
        return self.raw.url

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, n: int = -1) -> bytes:
        try:
            return self.raw.read(n)
        except Exception as exc:  # noqa: BLE001 - kept for raise_fault
            self.fault = self.fault or exc
            return b""

    def readinto(self, buffer) -> int:
        try:
            return self.raw.readinto(buffer)
        except Exception as exc:  # noqa: BLE001 - kept for raise_fault
            self.fault = self.fault or exc
            return 0

    def at_start(self):
        """A second view of the same object from its first byte (for reading a header beside soundfile)."""
        return RangeReader(self.raw.fs, self.raw.path, self.raw.size_bytes, url=self.raw.url, endpoint=self.raw.endpoint)

    def raise_fault(self) -> None:
        """Raise the storage error a read met, if any."""
        if self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault


def raise_storage_fault(handle: sf.SoundFile) -> None:
    """Raise the storage error met while decoding a remote ``handle``, if any (no-op for local files)."""
    if isinstance(handle.name, _StorageFaults):
        handle.name.raise_fault()


def _truncated(header_frames: int, data_frames: int, sample_rate_hz: int) -> InputFileError:
    return InputFileError("truncated", f"header says {header_frames / sample_rate_hz:.2f} s, data holds {data_frames / sample_rate_hz:.2f} s")


def _wav_frames_at(path: str) -> int | None:
    with open(path, "rb") as handle:
        return _wav_declared_frames(handle)


def _wav_declared_frames(handle) -> int | None:
    """Frames the data chunk header of a RIFF/RIFX WAV (an open binary file) promises; None when it does not say.

    Streaming writers that never patch the header leave a data size of 0 or 0xFFFFFFFF:
    that means "unknown", not "truncated".
    """
    head = handle.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    order = "little" if head[:4] == b"RIFF" else "big"
    block_align = 0
    while len(chunk := handle.read(8)) == 8:
        chunk_id, size = chunk[:4], int.from_bytes(chunk[4:], order)
        if chunk_id == b"data":
            return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
        body_start = handle.tell()
        if chunk_id == b"fmt ":
            block_align = int.from_bytes(handle.read(16)[12:14], order)
        handle.seek(body_start + size + (size & 1))
    return None


def _libsndfile_message(exc: BaseException, path) -> str:
    """libsndfile's message without the repeated path (or file object)."""
    path = str(path)
    text = str(exc).replace(f"'{path}'", "file").replace(path, "file")
    return text.replace("Error opening file: ", "").strip() or type(exc).__name__


def audio_info(path: str) -> AudioInfo:
    """Read the header of ``path`` (no decoding)."""
    with open_audio(path) as handle:
        return AudioInfo(handle.frames, handle.samplerate, handle.channels, handle.format, handle.subtype)


def _to_mono(block: np.ndarray) -> np.ndarray:
    """Average channels of a ``(frames, channels)`` block into float32 mono."""
    if block.shape[1] == 1:
        return block[:, 0]
    return block.mean(axis=1, dtype=np.float32)


def _check_finite(block: np.ndarray, first_frame: int, sample_rate_hz: int) -> None:
    """Raise ``non_finite`` if the block holds NaN or Inf."""
    if not np.isfinite(block).all():
        bad = int(np.flatnonzero(~np.isfinite(block))[0]) + first_frame
        raise InputFileError("non_finite", f"NaN or Inf sample at {bad / sample_rate_hz:.3f} s")


def iter_mono_blocks(handle: sf.SoundFile, block_frames: int = DEFAULT_BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Stream a file as float32 mono blocks, checking integrity on the way.

    Args:
        handle: an open file, positioned anywhere (it is rewound).
        block_frames: frames per block; memory use is bounded by this, not the file length.

    Yields:
        1-D float32 arrays; the last one may be shorter.

    Raises:
        InputFileError: ``corrupt`` (decoder error mid-file), ``truncated`` (fewer frames
            decoded than the header promises), ``non_finite`` (NaN/Inf samples).
    """
    handle.seek(0)
    decoded = 0
    check_finite = handle.subtype not in INTEGER_SUBTYPES  # integer samples cannot be NaN/Inf
    while True:
        try:
            block = handle.read(block_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise_storage_fault(handle)
            at_s = decoded / handle.samplerate
            raise InputFileError("corrupt", f"decoder failed at {at_s:.2f} s: {_libsndfile_message(exc, handle.name)}") from exc
        raise_storage_fault(handle)
        if len(block) == 0:
            break
        mono = _to_mono(block)
        if check_finite:
            _check_finite(mono, decoded, handle.samplerate)
        decoded += len(mono)
        yield mono
    if decoded < handle.frames:
        raise _truncated(handle.frames, decoded, handle.samplerate)


def read_mono(handle: sf.SoundFile, start_frame: int, n_frames: int) -> np.ndarray:
    """Read ``n_frames`` mono frames from ``start_frame`` (fewer at the end of the file)."""
    handle.seek(start_frame)
    try:
        block = handle.read(n_frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise_storage_fault(handle)
        raise InputFileError("corrupt", f"decoder failed reading at frame {start_frame}: {_libsndfile_message(exc, handle.name)}") from exc
    raise_storage_fault(handle)
    mono = _to_mono(block)
    _check_finite(mono, start_frame, handle.samplerate)
    return mono


def read_resampled(handle: sf.SoundFile, offset_s: float, n_out: int, sample_rate_hz: int, margin_s: float = 0.02) -> np.ndarray:
    """Read a segment and resample it to ``sample_rate_hz``, exactly ``n_out`` samples long.

    A little context is read on both sides so the resampler has no edge transient inside the
    segment; the segment is zero-padded where it runs past the end of the file.

    Args:
        handle: the open source file.
        offset_s: segment start in seconds.
        n_out: segment length in output samples.
        sample_rate_hz: output rate.
        margin_s: context read on each side before resampling.
    """
    import soxr

    native_hz = handle.samplerate
    ratio = sample_rate_hz / native_hz
    start = int(round(offset_s * native_hz))
    n_native = int(math.ceil(n_out / ratio))
    if native_hz == sample_rate_hz:
        segment = read_mono(handle, start, n_out)
    else:
        margin = int(round(margin_s * native_hz))
        read_start = max(0, start - margin)
        native = read_mono(handle, read_start, n_native + (start - read_start) + margin)
        resampled = soxr.resample(native, native_hz, sample_rate_hz, quality="HQ").astype(np.float32, copy=False)
        skip = int(round((start - read_start) * ratio))
        segment = resampled[skip : skip + n_out]
    if len(segment) < n_out:
        segment = np.pad(segment, (0, n_out - len(segment)))
    return np.ascontiguousarray(segment, dtype=np.float32)
