"""`BuildConfig`: every setting of `shardkit build`, validated up front and saved with the output."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields

from shardkit.errors import ConfigError
from shardkit.ingest.salience import SalienceConfig

#: folder names (case-insensitive) whose recordings are negatives: all-zero label vector
NEGATIVE_CLASS_NAMES = frozenset({"noise", "silence", "background", "other"})

#: settings that change what the samples are; an existing OUTPUT must match them to resume
CONTENT_FIELDS = (
    "sample_rate_hz",
    "chunk_s",
    "max_chunks_per_file",
    "variable_length",
    "min_segment_s",
    "max_segment_s",
    "min_file_s",
    "val_fraction",
    "test_fraction",
    "codec",
    "salience",
)


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one build.

    Attributes:
        sample_rate_hz: sample rate of the stored segments.
        chunk_s: segment length in fixed-length mode.
        max_chunks_per_file: at most this many segments per recording.
        variable_length: pick variable-length segments between ``min_segment_s`` and
            ``max_segment_s`` instead of fixed ``chunk_s`` chunks.
        min_segment_s: shortest segment in variable-length mode.
        max_segment_s: longest segment in variable-length mode.
        min_file_s: recordings shorter than this are skipped (reason ``too_short``).
        val_fraction: share of recordings (by a stable hash of the path) in ``val``.
        test_fraction: share of recordings in ``test``.
        codec: how segments are stored: ``flac``, ``wav`` or ``pcm16``.
        shard_max_samples: a shard is closed when it would exceed this many samples...
        shard_max_seconds: ...or this many seconds of audio.
        workers: worker processes (0 runs everything in this process, for debugging).
        seed: seeds the order in which recordings are packed into shards.
        salience: the detector's settings.
        lease_ttl_s: the build's lease on OUTPUT expires this long after its last heartbeat
            (renewed every quarter of it); a crashed build's OUTPUT is free again after this.
            Not a content setting.
    """

    sample_rate_hz: int = 24000
    chunk_s: float = 3.0
    max_chunks_per_file: int = 3
    variable_length: bool = False
    min_segment_s: float = 1.0
    max_segment_s: float = 10.0
    min_file_s: float = 0.5
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    codec: str = "flac"
    shard_max_samples: int = 1000
    shard_max_seconds: float = 3600.0
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int = 0
    salience: SalienceConfig = field(default_factory=SalienceConfig)
    lease_ttl_s: float = 60.0

    def __post_init__(self) -> None:
        from shardkit.codecs import CODECS

        _require(8000 <= self.sample_rate_hz <= 192000, "sample_rate_hz", self.sample_rate_hz, "an integer in [8000, 192000]")
        _require(_positive(self.chunk_s) and self.chunk_s <= 600, "chunk_s", self.chunk_s, "a number of seconds in (0, 600]")
        _require(self.max_chunks_per_file >= 1, "max_chunks_per_file", self.max_chunks_per_file, "an integer >= 1")
        _require(_positive(self.min_segment_s), "min_segment_s", self.min_segment_s, "a positive number of seconds")
        _require(
            _positive(self.max_segment_s) and self.max_segment_s >= self.min_segment_s,
            "max_segment_s",
            self.max_segment_s,
            f"a number of seconds >= min_segment_s ({self.min_segment_s})",
        )
        _require(_positive(self.min_file_s), "min_file_s", self.min_file_s, "a positive number of seconds")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            _require(math.isfinite(value) and 0.0 <= value < 1.0, name, value, "a fraction in [0, 1)")
        _require(
            self.val_fraction + self.test_fraction < 1.0,
            "val_fraction + test_fraction",
            self.val_fraction + self.test_fraction,
            "a sum below 1 (train must keep some recordings)",
        )
        _require(self.codec in CODECS, "codec", self.codec, f"one of {sorted(CODECS)}")
        _require(self.shard_max_samples >= 1, "shard_max_samples", self.shard_max_samples, "an integer >= 1")
        _require(_positive(self.shard_max_seconds), "shard_max_seconds", self.shard_max_seconds, "a positive number of seconds")
        _require(0 <= self.workers <= 1024, "workers", self.workers, "an integer in [0, 1024]")
        _require(_positive(self.lease_ttl_s) and 1 <= self.lease_ttl_s <= 86400, "lease_ttl_s", self.lease_ttl_s, "a number of seconds in [1, 86400]")

    @property
    def longest_segment_s(self) -> float:
        """Upper bound of a segment's duration."""
        return self.max_segment_s if self.variable_length else self.chunk_s

    def to_dict(self) -> dict:
        """All settings as a JSON-ready dict."""
        return asdict(self)

    def content_settings(self) -> dict:
        """The settings that decide the samples' content (not layout or parallelism)."""
        full = self.to_dict()
        return {name: full[name] for name in CONTENT_FIELDS}

    @classmethod
    def from_dict(cls, data: dict) -> BuildConfig:
        """Inverse of `to_dict` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown build settings {unknown}; allowed: {sorted(known)}")
        data = dict(data)
        if isinstance(data.get("salience"), dict):
            data["salience"] = SalienceConfig(**data["salience"])
        return cls(**data)


def _positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    """Raise a `ConfigError` naming the setting, the value received and what is allowed."""
    if not ok:
        raise ConfigError(f"{name} must be {allowed}; got {value!r}")
