"""Scan the input tree: which files are recordings, their class, their split.

``INPUT/<class>/**/<file>``: the class is the first folder under INPUT. Folders named like a
negative class hold negatives. Non-audio files and hidden files are ignored and counted; an
empty class folder or a name that is not valid UTF-8 is recorded as a skipped input.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field

from shardkit.build.config import NEGATIVE_CLASS_NAMES
from shardkit.errors import ConfigError

log = logging.getLogger(__name__)

#: file extensions treated as audio (anything libsndfile may decode)
AUDIO_EXTENSIONS = frozenset({".flac", ".wav", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf"})

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SourceFile:
    """One recording found in the input tree.

    Attributes:
        source: path relative to INPUT, POSIX separators (the provenance every sample keeps).
        path: absolute path on this machine.
        label: the class folder name.
        negative: whether the class folder is a negative class.
        size_bytes: file size.
        split: ``train``, ``val`` or ``test``.
        duration_s: duration from the header, 0.0 when the header could not be read.
    """

    source: str
    path: str
    label: str
    negative: bool
    size_bytes: int
    split: str
    duration_s: float = 0.0


@dataclass(frozen=True)
class Skip:
    """An input that will not become samples, and why."""

    source: str
    reason: str
    detail: str

    def to_dict(self) -> dict:
        """The failed-input report line."""
        return {"source": self.source, "reason": self.reason, "detail": self.detail}


@dataclass
class InputScan:
    """Everything the scan found."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)


def split_of(source: str, val_fraction: float, test_fraction: float) -> str:
    """Stable split of a recording from a hash of its relative path.

    The same path always lands in the same split, whatever else is in the tree, so adding
    files never moves an old recording.
    """
    digest = hashlib.sha256(f"shardkit-split:{source}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < val_fraction:
        return "val"
    if u < val_fraction + test_fraction:
        return "test"
    return "train"


def is_negative_class(name: str) -> bool:
    """Whether a class folder name denotes negatives (case-insensitive)."""
    return name.lower() in NEGATIVE_CLASS_NAMES


def _decoded_name(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def scan_inputs(input_dir: str, val_fraction: float, test_fraction: float, read_headers: bool = True) -> InputScan:
    """Walk ``input_dir`` and classify every file.

    Args:
        input_dir: the INPUT folder.
        val_fraction: share of recordings in ``val``.
        test_fraction: share of recordings in ``test``.
        read_headers: read each file's header for its duration (used to balance shards).

    Raises:
        ConfigError: INPUT is missing, not a folder, or holds no class folder with audio.
    """
    root = os.fsencode(os.path.abspath(input_dir))
    if not os.path.isdir(root):
        raise ConfigError(f"INPUT {input_dir!r} does not exist or is not a folder")
    scan = InputScan()
    for class_entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = _decoded_name(class_entry.name)
        if class_entry.name.startswith(b"."):
            scan.ignored["hidden"] += 1
            continue
        if not class_entry.is_dir():
            scan.ignored["not_in_class_folder"] += 1
            continue
        if name is None:
            shown = class_entry.name.decode("utf-8", "backslashreplace") + "/"
            scan.skipped.append(Skip(shown, "bad_name", "class folder name is not valid UTF-8"))
            continue
        found = _scan_class(scan, class_entry.path, root, name, val_fraction, test_fraction, read_headers)
        if not found:
            scan.skipped.append(Skip(name + "/", "empty_class", "class folder holds no audio files"))
    if not scan.files:
        raise ConfigError(f"INPUT {input_dir!r} holds no audio files under a class folder (INPUT/<class>/<file>)")
    return scan


def _scan_class(
    scan: InputScan, class_dir: bytes, root: bytes, label: str, val_fraction: float, test_fraction: float, read_headers: bool
) -> int:
    """Add the audio files under one class folder; return how many were found."""
    found = 0
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(b"."))
        for raw in sorted(filenames):
            full = os.path.join(dirpath, raw)
            rel_raw = os.path.relpath(full, root)
            if raw.startswith(b"."):
                scan.ignored["hidden"] += 1
                continue
            if os.path.splitext(raw)[1].decode("ascii", "replace").lower() not in AUDIO_EXTENSIONS:
                scan.ignored["not_audio"] += 1
                continue
            found += 1
            rel = _decoded_name(rel_raw)
            if rel is None:
                shown = rel_raw.decode("utf-8", "backslashreplace").replace(os.sep, "/")
                scan.skipped.append(Skip(shown, "bad_name", "path is not valid UTF-8"))
                continue
            source = rel.replace(os.sep, "/")
            try:
                size = os.path.getsize(full)
            except OSError:
                size = 0
            split = split_of(source, val_fraction, test_fraction)
            duration = _header_duration(full) if read_headers else 0.0
            scan.files.append(SourceFile(source, os.fsdecode(full), label, is_negative_class(label), size, split, duration))
    return found


def _header_duration(path: bytes) -> float:
    """Duration from the header; 0.0 when unreadable (the worker records the real failure)."""
    import soundfile as sf  # noqa: PLC0415

    try:
        info = sf.info(os.fsdecode(path))
        return info.frames / info.samplerate if info.samplerate > 0 else 0.0
    except Exception:  # noqa: BLE001 - the worker reports the failure with its reason
        return 0.0
