"""The readers a training run uses: the shuffled, augmented training reader and the validation reader.

With distillation from stored soft labels (no ``teacher_model``), the training reader also
carries them; the validation reader never does: validation scores against the hard labels.
"""

from __future__ import annotations

from typing import Any

from shardkit.errors import ConfigError
from shardkit.read.config import BucketConfig, ReaderConfig
from shardkit.read.dataset import ShardReader
from shardkit.train.config import TrainConfig
from shardkit.train.distill import require_teacher


def make_readers(source: str, config: TrainConfig, storage_options: dict[str, Any] | None = None) -> tuple[ShardReader, ShardReader]:
    """The training reader (shuffled, augmented, one epoch per `dataset` call) and the validation reader.

    Raises:
        ConfigError: no class list, an empty split, shards that do not fit the frontend, or
            distillation asked of shards without teacher data.
    """
    common = {
        "batch_size": config.batch_size,
        "frontend": config.frontend,
        "placement": config.placement,
        "seed": config.seed,
        "epochs": 1,
        "storage_options": storage_options or {},
        "batching": config.batching,
    }
    if config.batching == "bucketed":  # a bucketed batch holds about the audio of a fixed one: batch_size chunks' worth
        common["bucket"] = BucketConfig(seconds_per_batch=config.batch_size * config.frontend.chunk_s)
    train = ShardReader(
        source,
        ReaderConfig(
            split=config.train_split,
            training=True,
            shuffle_buffer=config.shuffle_buffer,
            balance=config.balance,
            augment=config.augment,
            mixup=config.mixup,
            spec_augment=config.spec_augment,
            soft_labels=stored_soft_labels(config),
            **common,
        ),
    )
    if stored_soft_labels(config):
        require_teacher(train.manifest, source)
    val = ShardReader(source, ReaderConfig(split=config.val_split, training=False, **common))
    for reader, split in ((train, config.train_split), (val, config.val_split)):
        if not reader.urls:
            raise ConfigError(f"the {split!r} split of {source!r} has no shards (build with a non-zero --val-fraction for a val split)")
    if train.classes != val.classes:
        raise ConfigError(f"train and val class lists differ: {train.classes} vs {val.classes}")
    return train, val


def stored_soft_labels(config: TrainConfig) -> bool:
    """Whether the run distils from the soft labels stored in the shards (a ``teacher_model`` wins over them)."""
    return config.distill_weight > 0 and config.teacher_model is None


def steps_per_epoch(reader: ShardReader, config: TrainConfig) -> int:
    """Expected batches per training epoch, from the manifest (the schedule's unit)."""
    split = ((reader.manifest or {}).get("splits") or {}).get(config.train_split, {})
    if config.batching == "bucketed" and reader.buckets is not None:
        steps = max(1, reader.buckets.expected_batches(split["duration_histogram"]))
        return min(steps, config.max_steps_per_epoch) if config.max_steps_per_epoch else steps
    samples = int(split.get("samples", 0))
    if reader.keep:
        counts = split.get("classes", {})
        kept = sum(n * reader.keep.get(name, 1.0) for name, n in counts.items())
        samples = int(kept + max(0, samples - sum(counts.values())))
    if samples and samples < config.batch_size:
        raise ConfigError(f"train batch_size {config.batch_size} is larger than the {samples} training samples; lower --batch-size")
    steps = max(1, samples // config.batch_size) if samples else 1
    return min(steps, config.max_steps_per_epoch) if config.max_steps_per_epoch else steps
