"""`BuildConfig`: every setting of `shardkit build`, validated up front and saved with the output."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import ClassVar

from shardkit.checks import DictConfig, check, check_needs, ignored_unless, integer, number, one_of, positive
from shardkit.ingest.salience import SalienceConfig
from shardkit.teacher.config import TeacherConfig

#: folder names (case-insensitive) whose recordings are negatives: all-zero label vector
NEGATIVE_CLASS_NAMES = frozenset({"noise", "silence", "background", "other"})

#: settings of one segment mode only: set off their defaults in the other mode, they are refused
MODE_SETTINGS = ("min_segment_s", "max_segment_s", "chunk_s")

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
    "teacher",
)


@dataclass(frozen=True)
class BuildConfig(DictConfig):
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
        teacher: a pretrained model that re-ranks the detector's candidates and labels each
            chunk (soft labels, top labels, flags; see `shardkit.teacher`), or None.
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
    teacher: TeacherConfig | None = None

    CONFIG_NAME = "build"
    UNKNOWN_MESSAGE = "unknown build settings {unknown}; allowed: {allowed}"
    NESTED: ClassVar[dict[str, type]] = {"salience": SalienceConfig, "teacher": TeacherConfig}
    #: builds saved before the teacher existed had none
    SAVED_BEFORE: ClassVar[dict] = {"teacher": None}

    def __post_init__(self) -> None:
        from shardkit.codecs import CODECS

        seconds = "a positive number of seconds"
        check(
            "",
            [
                ("sample_rate_hz", self.sample_rate_hz, integer(8000, 192000), "an integer in [8000, 192000]"),
                ("chunk_s", self.chunk_s, number(0, 600, open_low=True), "a number of seconds in (0, 600]"),
                ("max_chunks_per_file", self.max_chunks_per_file, integer(1), "an integer >= 1"),
                ("min_segment_s", self.min_segment_s, positive, seconds),
                (
                    "max_segment_s",
                    self.max_segment_s,
                    lambda v: positive(v) and v >= self.min_segment_s,
                    f"a number of seconds >= min_segment_s ({self.min_segment_s})",
                ),
                ("min_file_s", self.min_file_s, positive, seconds),
                ("val_fraction", self.val_fraction, number(0, 1, open_high=True), "a fraction in [0, 1)"),
                ("test_fraction", self.test_fraction, number(0, 1, open_high=True), "a fraction in [0, 1)"),
                (
                    "val_fraction + test_fraction",
                    self.val_fraction + self.test_fraction,
                    number(high=1, open_high=True),
                    "a sum below 1 (train must keep some recordings)",
                ),
                ("codec", self.codec, one_of(CODECS), f"one of {sorted(CODECS)}"),
                ("shard_max_samples", self.shard_max_samples, integer(1), "an integer >= 1"),
                ("shard_max_seconds", self.shard_max_seconds, positive, seconds),
                ("workers", self.workers, integer(0, 1024), "an integer in [0, 1024]"),
                ("lease_ttl_s", self.lease_ttl_s, number(1, 86400), "a number of seconds in [1, 86400]"),
                ("salience", self.salience, lambda v: isinstance(v, SalienceConfig), "a SalienceConfig"),
                ("teacher", self.teacher, lambda v: v is None or isinstance(v, TeacherConfig), "None or a TeacherConfig"),
            ],
        )
        changed = [f.name for f in fields(self) if f.name in MODE_SETTINGS and getattr(self, f.name) != f.default]
        mode = f"variable_length={self.variable_length}"
        check_needs(
            "",
            ignored_unless(
                changed,
                {
                    "min_segment_s": (self.variable_length, "variable_length=True", mode),
                    "max_segment_s": (self.variable_length, "variable_length=True", mode),
                    "chunk_s": (not self.variable_length, "variable_length=False", mode),
                },
            ),
        )

    @property
    def longest_segment_s(self) -> float:
        """Upper bound of a segment's duration."""
        return self.max_segment_s if self.variable_length else self.chunk_s

    def content_settings(self) -> dict:
        """The settings that decide the samples' content (not layout or parallelism)."""
        full = self.to_dict()
        return {name: full[name] for name in CONTENT_FIELDS}
