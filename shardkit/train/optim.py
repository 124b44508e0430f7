"""Optimizer, learning-rate schedule and loss of a training run, from its `TrainConfig`.

The schedule is a function of the optimizer's step counter, which the checkpoint saves, so
a resumed run continues the warm-up / cosine curve exactly where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras

from shardkit.train.config import TrainConfig


@keras.saving.register_keras_serializable(package="shardkit")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over ``warmup_steps`` steps, then cosine decay to ``peak * final_ratio``.

    Step ``i`` of the warm-up uses ``peak * (i + 1) / warmup_steps`` (no step runs at 0), so
    the last warm-up step and the first cosine step both use the peak.

    Args:
        peak: the learning rate at the end of warm-up.
        warmup_steps: steps of the warm-up (0: start at the peak).
        total_steps: steps of the whole run; the rate stays at its floor after them.
        final_ratio: floor as a share of ``peak``.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int, final_ratio: float = 0.0) -> None:
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)
        self.final_ratio = float(final_ratio)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        progress = keras.ops.clip((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0)
        floor = self.peak * self.final_ratio
        cosine = floor + (self.peak - floor) * 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps, "final_ratio": self.final_ratio}


def make_schedule(config: TrainConfig, steps_per_epoch: int) -> WarmupCosine:
    """The run's schedule for ``steps_per_epoch`` batches per epoch.

    Raises:
        ValueError: ``config`` still has settings to choose from the data (`TrainConfig.scheduled`
            is False): `shardkit.train.settings.with_schedule` chooses them (`train` does).
    """
    if not config.scheduled:
        raise ValueError(
            f"the schedule needs batch_size, epochs and warmup_epochs; got {config.batch_size}, {config.epochs}, {config.warmup_epochs} (with_schedule sets them)"
        )
    return WarmupCosine(config.learning_rate, round(config.warmup_epochs * steps_per_epoch), config.epochs * steps_per_epoch, config.final_lr_ratio)


def _adam(config: TrainConfig, rate, clip: dict) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(rate, **clip)


def _adamw(config: TrainConfig, rate, clip: dict) -> keras.optimizers.Optimizer:
    return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **clip)


def _sgd(config: TrainConfig, rate, clip: dict) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(rate, momentum=config.momentum, nesterov=config.momentum > 0, **clip)


OPTIMIZERS: dict[str, Callable] = {"adam": _adam, "adamw": _adamw, "sgd": _sgd}


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimizer on the warm-up / cosine schedule, with global-norm clipping if asked."""
    clip = {} if config.clip_norm is None else {"global_clipnorm": config.clip_norm}
    return OPTIMIZERS[config.optimizer](config, make_schedule(config, steps_per_epoch), clip)


def _bce(config: TrainConfig) -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)


def _focal(config: TrainConfig) -> keras.losses.Loss:
    return keras.losses.BinaryFocalCrossentropy(gamma=config.focal_gamma, label_smoothing=config.label_smoothing)


LOSSES: dict[str, Callable] = {"bce": _bce, "focal": _focal}


def make_loss(config: TrainConfig) -> keras.losses.Loss:
    """The configured loss (on sigmoid probabilities)."""
    return LOSSES[config.loss](config)
