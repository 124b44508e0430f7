"""The audit's settings: what to sample, how much to draw, and which model view to add."""

from __future__ import annotations

from dataclasses import dataclass

from shardkit.checks import DictConfig, check, integer, number


@dataclass(frozen=True)
class AuditConfig(DictConfig):
    """Settings of `shardkit audit`.

    Attributes:
        per_class: chunks drawn per class (and for the negatives) in the class grids.
        seed: seeds which chunks are drawn (same seed, same chunks, whatever the shard order).
        recordings: at most this many source recordings get a salience view (with ``--input``).
        split: the split the model view scores.
        threshold: score at which the model view counts a class as predicted.
        worst: clips listed in each of the model view's "worst" tables.
        thumb_width: spectrogram thumbnails are at most this many pixels wide...
        thumb_height: ...and this many high.
    """

    per_class: int = 8
    seed: int = 0
    recordings: int = 12
    split: str = "val"
    threshold: float = 0.5
    worst: int = 12
    thumb_width: int = 160
    thumb_height: int = 64

    def __post_init__(self) -> None:
        check(
            "audit",
            [
                ("per_class", self.per_class, integer(1, 1000), "an integer in [1, 1000]"),
                ("seed", self.seed, integer(0, 2**63 - 1), "an integer >= 0"),
                ("recordings", self.recordings, integer(0, 10000), "an integer in [0, 10000]"),
                ("split", self.split, lambda v: isinstance(v, str) and v != "", "a split name such as 'val'"),
                ("threshold", self.threshold, number(0.0, 1.0), "a number in [0, 1]"),
                ("worst", self.worst, integer(1, 1000), "an integer in [1, 1000]"),
                ("thumb_width", self.thumb_width, integer(16, 1024), "an integer in [16, 1024]"),
                ("thumb_height", self.thumb_height, integer(16, 512), "an integer in [16, 512]"),
            ],
        )

    CONFIG_NAME = "audit config"
