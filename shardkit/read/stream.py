"""The sample stream: tiny generator stages from shard bytes to shuffled, labelled samples.

Each stage takes an iterator and returns one, so each is testable with a plain list. Members
are chosen by extension from a whitelist (audio + ``json``): pickles (``.pyd``, ``.pickle``)
and anything else are never decoded, only counted; so are members whose key is not a plain
name (a path, ``..``, spaces). A truncated or corrupt shard is skipped with a warning and
counted (or raises, by policy); samples before the damage are kept. Data that contradicts
the manifest is never used quietly: a shard yields at most the samples the manifest lists,
and a sample with a label outside the class list is skipped, counted and warned about (or
raises), never read as a negative. `teacher_vector` reads a sample's stored teacher soft
labels (format shardkit/2) beside `labels_vector`'s hard ones. A shard whose storage endpoint stays
unavailable after retries is skipped the same way, but several in a row mean the endpoint is
gone, and the stream stops with a `StorageUnavailableError`.
"""

from __future__ import annotations

import io
import json
import logging
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from shardkit.codecs import CODECS
from shardkit.errors import StorageUnavailableError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(codec.extension for codec in CODECS.values())
#: members shardkit writes that the audio stream does not use (the teacher's embedding, format
#: shardkit/2): skipped unread and counted as ``members_unused``, not as foreign members
UNUSED_EXTENSIONS = frozenset({"emb.npy"})
ERROR_POLICIES = ("skip", "raise")
#: a well-formed sample key: a plain name (no folder, no dot, no ``..``), as shardkit writes them
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")

#: shards in a row whose endpoint was unavailable (after retries) before the stream gives up:
#: skipping one shard is a policy, skipping every remaining shard of a dead endpoint is not
UNAVAILABLE_IN_A_ROW = 3


class ShardReadError(RuntimeError):
    """A shard could not be read and the policy is ``raise``."""


class UnknownLabelError(ShardReadError):
    """A sample carries a label outside the class list and the policy is ``raise``."""


@dataclass(frozen=True)
class RawSample:
    """One sample as stored: encoded audio plus its metadata."""

    key: str
    extension: str
    audio: bytes
    meta: dict
    shard: str


@dataclass
class ReadStats:
    """Counts of what the stream skipped; shared by reference across stages."""

    counts: Counter = field(default_factory=Counter)

    def add(self, what: str, n: int = 1) -> None:
        """Count one event (``shards_read``, ``shards_failed``, ``members_ignored`` ...)."""
        self.counts[what] += n


TAR_BLOCK = 512
#: ustar type flags of regular files; anything else but directories sends us to `tarfile`
_REGULAR = (b"0", b"\x00", b"7")


def tar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the regular files in a tar, in order (no extraction to disk).

    Plain ustar headers (what shardkit writes) are parsed directly, about 20x faster than
    `tarfile`; a header this fast path does not handle (PAX or GNU long names, sparse
    files, a bad checksum) hands the rest of the archive to `tarfile`, which also raises
    the errors for damaged data.
    """
    view = memoryview(data)
    offset = 0
    while offset + TAR_BLOCK <= len(data):
        header = view[offset : offset + TAR_BLOCK]
        if header[0] == 0 and not any(header):
            return  # end-of-archive marker
        flag = bytes(header[156:157])
        if flag not in _REGULAR and flag != b"5" or not _checksum_ok(header):
            yield from _tarfile_members(data, offset)
            return
        size = int(bytes(header[124:136]).strip(b"\x00 ") or b"0", 8)
        start = offset + TAR_BLOCK
        if start + size > len(data):
            raise tarfile.ReadError("unexpected end of data")
        if flag != b"5":
            name = bytes(header[0:100]).split(b"\x00", 1)[0]
            prefix = bytes(header[345:500]).split(b"\x00", 1)[0] if bytes(header[257:262]) == b"ustar" else b""
            full = (prefix + b"/" + name) if prefix else name
            yield full.decode("utf-8", "surrogateescape"), data[start : start + size]
        offset = start + (size + TAR_BLOCK - 1) // TAR_BLOCK * TAR_BLOCK
    if offset < len(data):
        raise tarfile.ReadError("unexpected end of data")


def _checksum_ok(header: memoryview) -> bool:
    raw = bytes(header[148:156]).strip(b"\x00 ")
    try:
        stored = int(raw, 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 256 + sum(header[156:])


def _tarfile_members(data: bytes, offset: int) -> Iterator[tuple[str, bytes]]:
    """The general path: `tarfile` from ``offset`` to the end."""
    with tarfile.open(fileobj=io.BytesIO(data[offset:]), mode="r|") as tar:
        for member in tar:
            if member.isfile():
                yield member.name, tar.extractfile(member).read()


def split_name(name: str) -> tuple[str, str]:
    """webdataset's rule: key = path up to the first dot of the base name, extension = the rest."""
    folder, _, base = name.rpartition("/")
    stem, _, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension


def group_samples(members: Iterable[tuple[str, bytes]], shard: str, stats: ReadStats) -> Iterator[RawSample]:
    """Group consecutive members by key into samples; keep only audio + json members with well-formed keys.

    A sample is yielded as soon as it has its JSON and one audio member, so damage later
    in the shard never costs a sample that was already complete. A member whose key does
    not match `KEY_PATTERN` is counted (``members_bad_name``) and never read.
    """
    key, parts, done = None, {}, False
    for name, data in members:
        member_key, extension = split_name(name)
        if not KEY_PATTERN.fullmatch(member_key):
            if not stats.counts["members_bad_name"]:
                log.warning("skipping member %r of shard %s: a sample key must match %s", name, shard, KEY_PATTERN.pattern)
            stats.add("members_bad_name")
            continue
        if member_key != key:
            if key is not None and not done:
                stats.add("samples_incomplete")
            key, parts, done = member_key, {}, False
        if extension in UNUSED_EXTENSIONS:
            stats.add("members_unused")
            continue
        if extension != "json" and extension not in AUDIO_EXTENSIONS:
            stats.add("members_ignored")  # never decoded: pickles and anything unknown
            continue
        if done:
            stats.add("members_ignored")
            continue
        parts[extension] = data
        if "json" in parts and len(parts) == 2:
            done = True
            yield from _complete(key, parts, shard, stats)
    if key is not None and not done:
        stats.add("samples_incomplete")


def _complete(key: str, parts: dict[str, bytes], shard: str, stats: ReadStats) -> Iterator[RawSample]:
    extension = next(ext for ext in parts if ext != "json")
    try:
        meta = json.loads(parts["json"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        stats.add("samples_bad_json")
        return
    if not isinstance(meta, dict):
        stats.add("samples_bad_json")
        return
    yield RawSample(key, extension, parts[extension], meta, shard)


def prefetched(urls: Iterable[str], read_bytes: Callable[[str], bytes], ahead: int) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """``(url, get)`` pairs where ``get()`` returns the shard's bytes, fetched ``ahead`` shards early.

    A background thread overlaps object-store latency with parsing; at most ``ahead`` shards
    wait in memory. With ``ahead=0`` each shard is fetched when it is needed.
    """
    if ahead <= 0:
        for url in urls:
            yield url, partial(read_bytes, url)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shardkit-prefetch") as pool:
        pending: deque = deque()
        for url in urls:
            pending.append((url, pool.submit(read_bytes, url)))
            if len(pending) > ahead:
                done_url, future = pending.popleft()
                yield done_url, future.result
        while pending:
            done_url, future = pending.popleft()
            yield done_url, future.result


def listed_only(samples: Iterable[RawSample], listed: int, shard: str, stats: ReadStats) -> Iterator[RawSample]:
    """The first ``listed`` samples of a shard (what its manifest entry counts); the rest are counted, not read."""
    extra = 0
    for n, sample in enumerate(samples):
        if n < listed:
            yield sample
        else:
            extra += 1
    if extra:
        stats.add("samples_unlisted", extra)
        log.warning("shard %s holds %d samples more than the %d its manifest lists: not read", shard, extra, listed)


def read_shards(
    urls: Iterable[str],
    read_bytes: Callable[[str], bytes],
    stats: ReadStats,
    on_error: str = "skip",
    prefetch: int = 0,
    listed: Mapping[str, int] | None = None,
) -> Iterator[RawSample]:
    """Samples of each shard in turn; a damaged shard is skipped (counted, warned) or raises.

    Args:
        urls: shard URLs in reading order.
        read_bytes: fetches a whole shard (retries are its business).
        stats: where skips are counted (``shards_unavailable`` counts those whose endpoint failed).
        on_error: ``skip`` or ``raise``.
        prefetch: shards fetched ahead in a background thread.
        listed: samples per shard URL as the manifest lists them; a shard yields no more.

    Raises:
        ShardReadError: a shard failed and ``on_error`` is ``raise``.
        StorageUnavailableError: `UNAVAILABLE_IN_A_ROW` shards in a row met an unavailable endpoint.
    """
    unavailable = 0
    for url, get in prefetched(urls, read_bytes, prefetch):
        try:
            samples = group_samples(tar_members(get()), url, stats)
            yield from samples if listed is None or url not in listed else listed_only(samples, listed[url], url, stats)
            stats.add("shards_read")
            unavailable = 0
        except (tarfile.TarError, OSError, EOFError) as exc:
            stats.add("shards_failed")
            if on_error == "raise":
                raise ShardReadError(f"shard {url!r} is damaged or unreadable: {exc}") from exc
            if isinstance(exc, StorageUnavailableError):
                stats.add("shards_unavailable")
                unavailable += 1
                if unavailable >= UNAVAILABLE_IN_A_ROW:
                    raise StorageUnavailableError(exc.endpoint, f"giving up after {unavailable} shards in a row", exc.cause) from exc
            log.warning("skipping the rest of shard %s: %s: %s", url, type(exc).__name__, exc)


def shuffle_buffer(samples: Iterable, size: int, rng: np.random.Generator, initial: int = 100) -> Iterator:
    """Shuffle a stream through a buffer of ``size`` items (``size`` <= 1: no shuffling).

    Output starts once ``initial`` items are buffered (not after ``size``); from there the
    buffer grows by one item for every two read until it holds ``size``, as webdataset's
    does, so the first batches come quickly and the mixing still reaches its full depth.
    """
    if size <= 1:
        yield from samples
        return
    initial = max(1, min(initial, size))
    buffer: list = []
    grow = False
    for item in samples:
        buffer.append(item)
        if len(buffer) < initial:
            continue
        if len(buffer) < size:
            grow = not grow
            if grow:
                continue
        yield _pop_random(buffer, rng)
    while buffer:
        yield _pop_random(buffer, rng)


def _pop_random(buffer: list, rng: np.random.Generator):
    slot = int(rng.integers(len(buffer)))
    buffer[slot], buffer[-1] = buffer[-1], buffer[slot]
    return buffer.pop()


def class_keep_probabilities(class_counts: dict[str, int], cap: int | None) -> dict[str, float]:
    """Per-class keep probability so each class yields about ``min(count, cap)`` samples per epoch.

    ``cap=None`` uses the median class count.
    """
    counts = {name: n for name, n in class_counts.items() if n > 0}
    if not counts:
        return {}
    cap = int(np.median(list(counts.values()))) if cap is None else cap
    return {name: min(1.0, cap / n) for name, n in counts.items()}


def balance_classes(samples: Iterable[RawSample], keep: dict[str, float], rng: np.random.Generator) -> Iterator[RawSample]:
    """Per-epoch caps for multi-label data: keep a sample with the largest keep probability of its classes."""
    for sample in samples:
        names = sample.meta.get("labels") or [sample.meta.get("class")]
        p = max((keep.get(name, 1.0) for name in names), default=1.0)
        if p >= 1.0 or rng.random() < p:
            yield sample


def unknown_labels(meta: dict, index: Mapping[str, int]) -> list[str]:
    """The labels of a sample's metadata that are not in the class list (a malformed list counts as one)."""
    labels = meta.get("labels")
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        return [f"<labels {labels!r}>"]
    return [name for name in labels if name not in index]


def known_labels(samples: Iterable[RawSample], index: Mapping[str, int], stats: ReadStats, on_error: str = "skip") -> Iterator[RawSample]:
    """Samples whose labels are all in the class list; never turns another class into a negative.

    A sample with a label outside the list (a manifest whose classes no longer match its
    shards, or the wrong ``classes=``) is skipped and counted as ``samples_unknown_label``
    with a warning the first time each label is seen, or raises under ``on_error="raise"``.

    Raises:
        UnknownLabelError: an unknown label with ``on_error="raise"``.
    """
    for sample in samples:
        unknown = unknown_labels(sample.meta, index)
        if not unknown:
            yield sample
            continue
        message = f"sample {sample.key!r} of shard {sample.shard} has label {unknown[0]!r}, which is not in the class list {list(index)}"
        if on_error == "raise":
            raise UnknownLabelError(f"{message}; do the manifest's classes (or classes=...) match the shards?")
        stats.add("samples_unknown_label")
        for name in unknown:
            if not stats.counts[f"unknown_label:{name}"]:
                log.warning("%s: skipping every sample labelled %r (counted as samples_unknown_label)", message, name)
            stats.add(f"unknown_label:{name}")


def labels_vector(meta: dict, index: Mapping[str, int]) -> np.ndarray:
    """Multi-hot float32 label vector; ``index`` maps class name → position (manifest order).

    Negatives (empty label list) give all zeros.

    Raises:
        ValueError: a label outside the class list (filter with `known_labels` first).
    """
    vector = np.zeros(len(index), dtype=np.float32)
    for name in meta.get("labels", []):
        if name not in index:
            raise ValueError(f"label {name!r} is not in the class list {list(index)}")
        vector[index[name]] = 1.0
    return vector


def teacher_vector(meta: dict, index: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's soft labels and their mask from a sample's metadata (float32, ``index`` order).

    A shardkit/2 build with a teacher stores ``meta["teacher"]["probs"]``: the teacher's
    probability, or null, for every class of the manifest. A class's mask is 1 where that
    probability is a number and 0 where it is null or missing, and for every class of a sample
    without a teacher block (there training uses the hard label); soft values are 0 where
    the mask is. Classes of ``probs`` outside ``index`` are ignored.

    Args:
        meta: the sample's JSON member.
        index: class name → position (manifest order).

    Returns:
        ``(soft, mask)``, each of shape ``[len(index)]``.

    Raises:
        ValueError: a teacher block or its ``probs`` that is not an object, or a probability
            that is not a number in [0, 1] (naming the class and the value).
    """
    soft, mask = np.zeros(len(index), dtype=np.float32), np.zeros(len(index), dtype=np.float32)
    teacher = meta.get("teacher")
    if teacher is None:
        return soft, mask
    probs = teacher.get("probs") if isinstance(teacher, dict) else None
    if not isinstance(probs, dict):
        raise ValueError(f"a sample's teacher block must be an object with a 'probs' object; got {teacher!r}")
    for name, position in index.items():
        p = probs.get(name)
        if p is None:
            continue
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"teacher probability of class {name!r} must be a number in [0, 1] or null; got {p!r}")
        soft[position], mask[position] = p, 1.0
    return soft, mask
