"""The validation pass of a training epoch: loss, macro ROC-AUC and cmAP, score spread, and the divergence check."""

from __future__ import annotations

import keras
import numpy as np

from shardkit.errors import ShardkitError
from shardkit.model.inference import predict_split
from shardkit.scoring import classification_metrics, score_spread


class TrainingDiverged(ShardkitError):
    """The model's outputs became NaN or infinite."""


def validate(predict, dataset, loss: keras.losses.Loss) -> dict[str, float]:
    """Validation loss, macro ROC-AUC and cmAP (over the classes present), and the scores' spread (`score_spread`)."""
    labels, scores = predict_split(predict, dataset)
    if not np.all(np.isfinite(scores)):
        raise TrainingDiverged(
            "the model's validation outputs are not finite: training diverged; lower --learning-rate, set --clip-norm, or drop --mixed-precision"
        )
    metrics = classification_metrics(labels, scores)
    val_loss = float(keras.ops.convert_to_numpy(loss(labels.astype("float32"), scores.astype("float32"))))
    return {
        "val_loss": val_loss,
        "val_roc_auc": metrics["roc_auc"],
        "val_cmap": metrics["cmap"],
        "val_score_std": score_spread(scores),
        "val_samples": len(labels),
    }
