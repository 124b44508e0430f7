"""A trained model and the config written beside it, loaded and checked (for the deployment stages and as a teacher)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import ConfigError


@dataclass
class Checkpoint:
    """``<stem>.keras`` and ``<stem>_model_config.json``.

    Attributes:
        path: the ``.keras`` path or URL.
        model: the loaded deployable model (spectrogram in, scores out).
        config: the model config dict.
    """

    path: str
    model: Any
    config: dict

    @property
    def stem(self) -> str:
        """The run's name: the file name without ``.keras``."""
        return self.path.rpartition("/")[2][: -len(".keras")]

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0] or "."

    @property
    def frontend(self) -> FrontendConfig:
        return FrontendConfig.from_dict(self.config["frontend"])

    @property
    def classes(self) -> list[str]:
        return list(self.config["classes"])


def load_checkpoint(path: str, storage_options: dict[str, Any] | None = None) -> Checkpoint:
    """Load a ``.keras`` written by `shardkit train` (or `shardkit qat`) with its model config.

    Raises:
        ConfigError: not a ``.keras`` path, no model config beside it, or unreadable.
    """
    from shardkit.train import artifacts

    if not path.endswith(".keras"):
        raise ConfigError(f"CHECKPOINT must be a .keras file written by shardkit train; got {path!r}")
    config = artifacts.read_model_config(path, storage_options)
    try:
        model = artifacts.load_model(path, storage_options)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load {path!r}: {exc}") from exc
    if model.inputs[0].shape[0] not in (None, 1) or len(model.inputs) != 1:
        raise ConfigError(f"{path!r} must have one input with a free batch dimension")
    return Checkpoint(path, model, config)


def untrained_batchnorms(model) -> list[str]:
    """Names of BatchNorm layers still at their initial statistics (mean 0, variance 1)."""
    import keras

    found = []
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
        elif isinstance(layer, keras.layers.BatchNormalization):
            if np.all(np.asarray(layer.moving_mean) == 0) and np.all(np.asarray(layer.moving_variance) == 1):
                found.append(layer.name)
    return found


def require_trained(checkpoint: Checkpoint, why: str = "QAT fine-tunes a trained model") -> None:
    """Refuse a model that has not been trained (QAT fine-tunes; it does not train from scratch; a teacher must know something).

    Args:
        checkpoint: the loaded model and its config.
        why: what needs a trained model, for the message.

    Raises:
        ConfigError: the model config records no trained epoch, or its BatchNorm statistics
            are still at their initial values.
    """
    best = checkpoint.config.get("best") or {}
    if not best.get("epoch") and not checkpoint.config.get("qat"):
        raise ConfigError(f"{checkpoint.path!r} records no trained epoch: {why}; train it first with shardkit train")
    fresh = untrained_batchnorms(checkpoint.model)
    if fresh:
        raise ConfigError(
            f"{checkpoint.path!r} looks untrained: BatchNorm layers {sorted(fresh)[:5]} still have their initial statistics; train it first with shardkit train"
        )
