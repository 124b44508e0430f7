"""`ReaderConfig`: every setting of the streaming reader, validated up front."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment.config import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
from shardkit.checks import DictConfig, check, check_needs, ignored_unless, integer, number, one_of, optional, positive
from shardkit.errors import is_int
from shardkit.read.stream import ERROR_POLICIES

BATCHING_MODES = ("fixed", "bucketed")
PLACEMENTS = ("pipeline", "deferred")
BALANCE_MODES = ("none", "cap")


@dataclass(frozen=True)
class BucketConfig(DictConfig):
    """Length-bucketed batching.

    Attributes:
        max_padding_ratio: split buckets until each one's expected padding is at most this.
        max_buckets: bound on the number of buckets, hence of batch shapes.
        seconds_per_batch: audio seconds per batch (batch size = this / bucket length).
    """

    max_padding_ratio: float = 0.05
    max_buckets: int = 32
    seconds_per_batch: float = 192.0

    def __post_init__(self) -> None:
        check(
            "reader",
            [
                ("bucket.max_padding_ratio", self.max_padding_ratio, number(0, 1, open_low=True, open_high=True), "a ratio in (0, 1)"),
                ("bucket.max_buckets", self.max_buckets, integer(1), "an integer >= 1"),
                ("bucket.seconds_per_batch", self.seconds_per_batch, positive, "a positive number of seconds"),
            ],
        )

    CONFIG_NAME = "bucket config"


@dataclass(frozen=True)
class ReaderConfig(DictConfig):
    """Settings of one reader.

    Attributes:
        split: which split of the manifest to read.
        training: random crop/pad, shuffling, augmentation and dropped last batch; False
            reads in order with centre crop/pad and no augmentation.
        batch_size: samples per batch in fixed batching.
        batching: ``fixed`` (every chunk cut/padded to the frontend's chunk length) or
            ``bucketed`` (length buckets from the manifest histogram, padded, with lengths).
        shuffle_shards: shuffle the shard order each epoch (training only).
        shuffle_buffer: sample shuffle buffer size (training only; <= 1 disables).
        seed: seeds every random choice; epochs reseed from (seed, epoch).
        epochs: epochs to read; None repeats forever.
        num_shards: hosts/replicas reading disjoint shards...
        shard_index: ...and which one this is.
        frontend: the spectrogram contract settings.
        placement: ``pipeline`` computes the frontend here; ``deferred`` yields waveforms for
            the model's frontend layer.
        bucket: bucketed batching settings.
        balance: ``none`` or ``cap`` (per-epoch cap per class from the manifest counts).
        balance_cap: samples per class per epoch with ``cap`` (None: the median class count).
        on_error: ``skip`` damaged shards/members (counted, warned) or ``raise``.
        classes: class order when the source has no manifest.
        codec: member codec when the source has no manifest.
        with_position: add ``[epoch, next_index]`` to each batch, for resuming.
        soft_labels: each batch's labels become ``{"labels", "soft", "mask"}``: the hard labels,
            the teacher's stored soft labels and their mask (`shardkit.read.stream.teacher_vector`;
            all masked out for samples without teacher data), mixed by mixup alike.
        storage_options: fsspec options for the shards' storage.
        retries: attempts on transient read errors.
        prefetch_shards: shards fetched ahead in a background thread (hides S3 latency).
        tune_malloc: raise glibc's mmap/trim thresholds for this process so batch-sized
            buffers are reused instead of re-mapped (see `keep_large_buffers_on_the_heap`).
        cache_mb: keep the split's shard bytes and decoded members in memory after their
            first read when the manifest says they fit in this many MB (0: never); later
            epochs then fetch and decode nothing (`shardkit.read.cache`).
        augment: waveform augmentation (training only), a WaveAugmentConfig or None.
        mixup: mixup settings (training only), a MixupConfig or None.
        spec_augment: SpecAugment settings (training only, spectrogram frontends), or None.
    """

    split: str = "train"
    training: bool = True
    batch_size: int = 64
    batching: str = "fixed"
    shuffle_shards: bool = True
    shuffle_buffer: int = 1000
    seed: int = 0
    epochs: int | None = 1
    num_shards: int = 1
    shard_index: int = 0
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    placement: str = "pipeline"
    bucket: BucketConfig = field(default_factory=BucketConfig)
    balance: str = "none"
    balance_cap: int | None = None
    on_error: str = "skip"
    classes: tuple[str, ...] | None = None
    codec: str | None = None
    with_position: bool = False
    soft_labels: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    retries: int = 3
    prefetch_shards: int = 2
    tune_malloc: bool = True
    cache_mb: int = 512
    augment: Any = None
    mixup: Any = None
    spec_augment: Any = None

    NESTED: ClassVar[dict[str, type]] = {
        "frontend": FrontendConfig,
        "bucket": BucketConfig,
        "augment": WaveAugmentConfig,
        "mixup": MixupConfig,
        "spec_augment": SpecAugmentConfig,
    }

    def __post_init__(self) -> None:
        check(
            "reader",
            [
                ("batch_size", self.batch_size, integer(1), "an integer >= 1"),
                ("batching", self.batching, one_of(BATCHING_MODES), f"one of {list(BATCHING_MODES)}"),
                ("placement", self.placement, one_of(PLACEMENTS), f"one of {list(PLACEMENTS)}"),
                ("balance", self.balance, one_of(BALANCE_MODES), f"one of {list(BALANCE_MODES)}"),
                ("on_error", self.on_error, one_of(ERROR_POLICIES), f"one of {list(ERROR_POLICIES)}"),
                ("epochs", self.epochs, optional(integer(1)), "None (repeat) or an integer >= 1"),
                ("shuffle_buffer", self.shuffle_buffer, integer(0), "an integer >= 0"),
                ("retries", self.retries, integer(0), "an integer >= 0"),
                ("prefetch_shards", self.prefetch_shards, integer(0), "an integer >= 0"),
                ("cache_mb", self.cache_mb, integer(0), "an integer >= 0 (MB; 0 turns the cache off)"),
                ("balance_cap", self.balance_cap, optional(integer(1)), "None or an integer >= 1"),
                (
                    "shard_index",
                    self.shard_index,
                    lambda v: is_int(self.num_shards) and self.num_shards >= 1 and 0 <= v < self.num_shards,
                    f"in [0, num_shards={self.num_shards})",
                ),
            ],
        )
        changed = [name for name, off_default in (("bucket", self.bucket != BucketConfig()), ("balance_cap", self.balance_cap is not None)) if off_default]
        check_needs(
            "reader",
            ignored_unless(
                changed,
                {
                    "bucket": (self.batching == "bucketed", "batching='bucketed'", f"batching={self.batching!r}"),
                    "balance_cap": (self.balance == "cap", "balance='cap'", f"balance={self.balance!r}"),
                },
            ),
        )

    CONFIG_NAME = "reader config"

    def to_dict(self) -> dict:
        """Settings as a JSON-ready dict (storage options left out: they may hold secrets; `from_dict` takes them)."""
        data = asdict(self)
        data.pop("storage_options")
        return data
