"""Scan the input tree: which files are recordings, their class, their split.

``INPUT/<class>/**/<file>``: the class is the first folder under INPUT. Folders named like a
negative class hold negatives. Non-audio files and hidden files are ignored and counted; an
empty class folder or a name that is not valid UTF-8 is recorded as a skipped input. Links are
followed once per real folder or file: a loop or a second name for something already scanned
is recorded as a skipped input too.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shardkit.audio.decode import open_audio
from shardkit.errors import ConfigError, InputFileError
from shardkit.ingest.config import NEGATIVE_CLASS_NAMES
from shardkit.storage import is_local_url, join_url, list_files, local_path, object_version

log = logging.getLogger(__name__)

#: file extensions treated as audio (anything libsndfile may decode)
AUDIO_EXTENSIONS = frozenset({".flac", ".wav", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf"})

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SourceFile:
    """One recording found in the input tree.

    Attributes:
        source: path relative to INPUT, POSIX separators (the provenance every sample keeps).
        path: absolute path on this machine, or the object's URL when INPUT is a URL.
        label: the class folder name.
        negative: whether the class folder is a negative class.
        size_bytes: file size.
        split: ``train``, ``val`` or ``test``.
        duration_s: duration from the header, 0.0 when the header could not be read.
        mtime_ns: modification time when scanned (with ``size_bytes``, tells a changed file).
        etag: an object's ETag when the store gives one (then it tells a changed object); "" for files.
    """

    source: str
    path: str
    label: str
    negative: bool
    size_bytes: int
    split: str
    duration_s: float = 0.0
    mtime_ns: int = 0
    etag: str = ""

    def failure(self, reason: str, detail: str) -> dict:
        """The failed-input report line for this file, with the size and mtime (and ETag) it failed at."""
        line = {**Skip(self.source, reason, detail).to_dict(), "size_bytes": self.size_bytes, "mtime_ns": self.mtime_ns}
        return {**line, "etag": self.etag} if self.etag else line


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


def scan_inputs(
    input_dir: str, val_fraction: float, test_fraction: float, read_headers: bool = True, storage_options: dict[str, Any] | None = None
) -> InputScan:
    """Walk ``input_dir`` and classify every file.

    Symbolic links are followed, but each real folder and file is scanned once: the real tree
    under INPUT first, then the links, shallowest first. A link to something already scanned
    is skipped and reported (``symlink_loop`` when it points at a folder holding it,
    ``symlink_alias`` otherwise), so a link to a class folder never makes a second class; a
    link to a folder outside INPUT is followed once, under the link's name.

    Args:
        input_dir: the INPUT folder, or any fsspec URL (`scan_remote`).
        val_fraction: share of recordings in ``val``.
        test_fraction: share of recordings in ``test``.
        read_headers: read each file's header for its duration (used to balance shards).
        storage_options: fsspec options when INPUT is a URL.

    Raises:
        ConfigError: INPUT is missing, not a folder, or holds no class folder with audio.
    """
    if not is_local_url(input_dir):
        return scan_remote(input_dir, val_fraction, test_fraction, read_headers, storage_options)
    input_dir = local_path(input_dir)
    root = os.fsencode(os.path.abspath(input_dir))
    if not os.path.isdir(root):
        raise ConfigError(f"INPUT {input_dir!r} does not exist or is not a folder")
    walk = _Walk(InputScan(), root, os.path.realpath(root), val_fraction, test_fraction, read_headers)
    for class_entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = _decoded_name(class_entry.name)
        if class_entry.name.startswith(b"."):
            walk.scan.ignored["hidden"] += 1
        elif not class_entry.is_dir():
            walk.scan.ignored["not_in_class_folder"] += 1
        elif name is None:
            shown = class_entry.name.decode("utf-8", "backslashreplace") + "/"
            walk.scan.skipped.append(Skip(shown, "bad_name", "class folder name is not valid UTF-8"))
        else:
            walk.visit(class_entry, walk.real_root, name)
    walk.follow_links()
    return _finished(walk.scan, walk.found, input_dir)


def _finished(scan: InputScan, found: Counter, input_dir: str) -> InputScan:
    """Record the class folders without audio; refuse an INPUT without any; sort the files."""
    scan.skipped.extend(Skip(label + "/", "empty_class", "class folder holds no audio files") for label, n in found.items() if n == 0)
    if not scan.files:
        raise ConfigError(f"INPUT {input_dir!r} holds no audio files under a class folder (INPUT/<class>/<file>)")
    scan.files.sort(key=lambda f: f.source)
    return scan


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


#: headers read at once when scanning a store (each is one small range request)
HEADER_THREADS = 8


def scan_remote(url: str, val_fraction: float, test_fraction: float, read_headers: bool = True, storage_options: dict[str, Any] | None = None) -> InputScan:
    """`scan_inputs` for an INPUT in a store: one listing, then each object's header.

    The same rules as on disk: the first folder is the class; hidden files, and everything in
    hidden folders, are ignored (a hidden entry directly under INPUT counted once, as on
    disk); non-audio files are ignored and counted; a class folder without audio (a folder
    marker, or only other files) is an ``empty_class``. A file's identity for reruns is its
    size and ETag (its modification time where the store gives no ETag).

    Raises:
        ConfigError: INPUT lists nothing, or holds no class folder with audio.
    """
    files, folders = list_files(url, storage_options)
    if not files and not folders:
        raise ConfigError(f"INPUT {url!r} does not exist or is not a folder")
    scan, found = InputScan(), Counter()
    hidden_top: set[str] = set()
    for folder in folders:
        parts = folder.split("/")
        if parts[0].startswith("."):
            hidden_top.add(parts[0])
        elif len(parts) == 1:
            found[parts[0]] += 0
    candidates: list[tuple[str, dict]] = []
    for relative, info in files:
        parts = relative.split("/")
        if parts[0].startswith("."):
            hidden_top.add(parts[0])
        elif len(parts) == 1:
            scan.ignored["not_in_class_folder"] += 1
        elif any(part.startswith(".") for part in parts[1:-1]):
            continue  # inside a hidden folder: not looked at, as on disk
        elif parts[-1].startswith("."):
            scan.ignored["hidden"] += 1
        elif not _is_audio(parts[-1]):
            scan.ignored["not_audio"] += 1
            found[parts[0]] += 0
        else:
            found[parts[0]] += 1
            candidates.append((relative, info))
    if hidden_top:
        scan.ignored["hidden"] += len(hidden_top)
    durations = _remote_durations([join_url(url, r) for r, _ in candidates], storage_options) if read_headers else [0.0] * len(candidates)
    for (relative, info), duration in zip(candidates, durations, strict=True):
        label = relative.split("/", 1)[0]
        mtime_ns, etag = object_version(info)
        split = split_of(relative, val_fraction, test_fraction)
        size = int(info.get("size") or 0)
        scan.files.append(SourceFile(relative, join_url(url, relative), label, is_negative_class(label), size, split, duration, mtime_ns, etag))
    return _finished(scan, found, url)


def _remote_durations(urls: list[str], storage_options: dict[str, Any] | None) -> list[float]:
    """Header durations of objects, a few at a time (each a small range request)."""
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        return list(pool.map(lambda u: _header_duration(u, storage_options), urls))


@dataclass
class _Walk:
    """One scan in progress: what was found, which real paths it covered, the links still to follow."""

    scan: InputScan
    root: bytes
    real_root: bytes
    val_fraction: float
    test_fraction: float
    read_headers: bool
    #: real path of every folder and audio file scanned -> the name it was scanned under
    owners: dict[bytes, str] = field(default_factory=dict)
    #: heap of links to follow after the real tree: (depth, path, real parent folder, class)
    links: list[tuple[int, bytes, bytes, str]] = field(default_factory=list)
    #: audio files per class folder scanned
    found: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.owners[self.real_root] = "INPUT/"

    def shown(self, path: bytes) -> str:
        """``path`` relative to INPUT, POSIX separators, undecodable bytes escaped."""
        return os.path.relpath(path, self.root).decode("utf-8", "backslashreplace").replace(os.sep, "/")

    def visit(self, entry: os.DirEntry, real_parent: bytes, label: str) -> None:
        """Scan one entry of a folder under ``real_parent``: a link is deferred, a folder walked."""
        if entry.is_symlink():
            depth = os.path.relpath(entry.path, self.root).count(os.sep.encode())
            heapq.heappush(self.links, (depth, entry.path, real_parent, label))
        elif entry.is_dir():
            self.walk_folder(entry.path, os.path.join(real_parent, entry.name), real_parent, label)
        else:
            self.add_file(entry.path, os.path.join(real_parent, entry.name), label)

    def walk_folder(self, path: bytes, real: bytes, real_parent: bytes, label: str) -> None:
        """Scan a folder (reached through ``path`` from ``real_parent``, really at ``real``) unless scanned already."""
        if self._already_scanned(path, real, real_parent):
            return
        self.owners[real] = self.shown(path) + "/"
        self.found[label] += 0
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self._skip(self.shown(path) + "/", "unreadable", f"cannot list folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if entry.name.startswith(b"."):
                if not entry.is_dir():
                    self.scan.ignored["hidden"] += 1
                continue
            self.visit(entry, real, label)

    def follow_links(self) -> None:
        """Follow the deferred links, shallowest first (a link found inside a followed folder joins the queue)."""
        while self.links:
            _, path, real_parent, label = heapq.heappop(self.links)
            real = os.path.realpath(path)
            if os.path.isdir(real):
                self.walk_folder(path, real, real_parent, label)
            else:
                self.add_file(path, real, label)

    def add_file(self, path: bytes, real: bytes, label: str) -> None:
        """Add one file as a recording, unless it is not audio, badly named or already scanned."""
        if os.path.splitext(path)[1].decode("ascii", "replace").lower() not in AUDIO_EXTENSIONS:
            self.scan.ignored["not_audio"] += 1
            return
        self.found[label] += 1
        rel = _decoded_name(os.path.relpath(path, self.root))
        if rel is None:
            self.scan.skipped.append(Skip(self.shown(path), "bad_name", "path is not valid UTF-8"))
            return
        source = rel.replace(os.sep, "/")
        if real in self.owners:
            self._skip(source, "symlink_alias", f"alias of {self.owners[real]}: the same file is scanned under that name")
            return
        self.owners[real] = source
        try:
            stat = os.stat(path)
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime_ns = 0, 0
        split = split_of(source, self.val_fraction, self.test_fraction)
        duration = _header_duration(path) if self.read_headers else 0.0
        self.scan.files.append(SourceFile(source, os.fsdecode(path), label, is_negative_class(label), size, split, duration, mtime_ns))

    def _already_scanned(self, path: bytes, real: bytes, real_parent: bytes) -> bool:
        """Report and return True when the folder ``real`` is scanned already or holds ``real_parent``."""
        if real_parent == real or real_parent.startswith(real + os.sep.encode()):
            where = self.owners.get(real, os.fsdecode(real))
            self._skip(self.shown(path) + "/", "symlink_loop", f"links to {where}, a folder that holds this link; not followed")
            return True
        if real in self.owners:
            self._skip(self.shown(path) + "/", "symlink_alias", f"alias of {self.owners[real]}: the same folder is scanned under that name")
            return True
        return False

    def _skip(self, source: str, reason: str, detail: str) -> None:
        log.warning("skipping %s (%s): %s", source, reason, detail)
        self.scan.skipped.append(Skip(source, reason, detail))


def _header_duration(path: bytes | str, storage_options: dict[str, Any] | None = None) -> float:
    """Duration from the header of a file or object; 0.0 when unreadable (the worker records the real failure).

    Raises:
        StorageUnavailableError: the store holding an object keeps failing (the scan stops:
            a guessed duration would change the plan).
    """
    if isinstance(path, str):
        try:
            with open_audio(path, storage_options) as handle:
                return handle.frames / handle.samplerate
        except InputFileError:
            return 0.0
    import soundfile as sf

    try:
        info = sf.info(os.fsdecode(path))
        return info.frames / info.samplerate if info.samplerate > 0 else 0.0
    except Exception:  # noqa: BLE001 - the worker reports the failure with its reason
        return 0.0
