"""The readers a training run uses, and the validation pass over one of them."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shardkit.errors import ConfigError, ShardkitError
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader
from shardkit.train.config import TrainConfig
from shardkit.train.metrics import classification_metrics


class TrainingDiverged(ShardkitError):
    """The model's outputs became NaN or infinite."""


def make_readers(source: str, config: TrainConfig, storage_options: dict[str, Any] | None = None) -> tuple[ShardReader, ShardReader]:
    """The training reader (shuffled, augmented, one epoch per `dataset` call) and the validation reader.

    Raises:
        ConfigError: no class list, an empty split, or shards that do not fit the frontend.
    """
    common = {
        "batch_size": config.batch_size,
        "frontend": config.frontend,
        "placement": config.placement,
        "seed": config.seed,
        "epochs": 1,
        "storage_options": storage_options or {},
    }
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
            **common,
        ),
    )
    val = ShardReader(source, ReaderConfig(split=config.val_split, training=False, **common))
    for reader, split in ((train, config.train_split), (val, config.val_split)):
        if not reader.urls:
            raise ConfigError(f"the {split!r} split of {source!r} has no shards (build with a non-zero --val-fraction for a val split)")
    if train.classes != val.classes:
        raise ConfigError(f"train and val class lists differ: {train.classes} vs {val.classes}")
    return train, val


def steps_per_epoch(reader: ShardReader, config: TrainConfig) -> int:
    """Expected batches per training epoch, from the manifest (the schedule's unit)."""
    split = ((reader.manifest or {}).get("splits") or {}).get(config.train_split, {})
    samples = int(split.get("samples", 0))
    if reader.keep:
        counts = split.get("classes", {})
        kept = sum(n * reader.keep.get(name, 1.0) for name, n in counts.items())
        samples = int(kept + max(0, samples - sum(counts.values())))
    if samples and samples < config.batch_size:
        raise ConfigError(f"train batch_size {config.batch_size} is larger than the {samples} training samples; lower --batch-size")
    steps = max(1, samples // config.batch_size) if samples else 1
    return min(steps, config.max_steps_per_epoch) if config.max_steps_per_epoch else steps


def inference_function(model: keras.Model):
    """``features → scores`` in inference mode, traced once (make it once per model)."""
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def predict_split(predict, dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, scores)`` of every sample of a (finite) evaluation dataset, through `inference_function`."""
    labels, scores = [], []
    for features, batch_labels in dataset:
        scores.append(np.asarray(predict(features), dtype=np.float64))
        labels.append(batch_labels.numpy())
    if not labels:
        raise ConfigError("the validation split yielded no samples")
    return np.concatenate(labels), np.concatenate(scores)


def validate(predict, dataset, loss: keras.losses.Loss) -> dict[str, float]:
    """Validation loss, macro ROC-AUC and cmAP (over the classes present)."""
    labels, scores = predict_split(predict, dataset)
    if not np.all(np.isfinite(scores)):
        raise TrainingDiverged(
            "the model's validation outputs are not finite: training diverged; lower --learning-rate, set --clip-norm, or drop --mixed-precision"
        )
    metrics = classification_metrics(labels, scores)
    val_loss = float(keras.ops.convert_to_numpy(loss(labels.astype("float32"), scores.astype("float32"))))
    return {"val_loss": val_loss, "val_roc_auc": metrics["roc_auc"], "val_cmap": metrics["cmap"], "val_samples": len(labels)}


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (NaN never improves; anything beats no best)."""
    if best is None or (math.isnan(best) and not math.isnan(value)):
        return True
    if math.isnan(value):
        return False
    return value > best if mode == "max" else value < best
