"""A model's scores on an evaluation dataset: one traced inference function, predictions gathered as numpy."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from shardkit.errors import ConfigError


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
