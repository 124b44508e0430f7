"""The automatic batch size, epoch count and warm-up of a run, from the size of its training split.

A fixed batch and epoch count cannot fit both a few hundred chunks and hundreds of thousands:
batch 64 over 94 chunks is one step per epoch (30 epochs, 30 steps: the model never leaves its
starting point), and 30 epochs over 300,000 chunks is 140,000 steps. The run is sized in
optimizer steps instead: the batch is the largest of `BATCH_SIZES` that still gives
`MIN_STEPS_PER_EPOCH` steps per epoch, the epochs are enough to reach `TARGET_STEPS` steps
(within `EPOCH_RANGE`), and the warm-up is one epoch but at most `WARMUP_SHARE` of the steps. A value given
explicitly is kept, and the others are chosen around it. Pure: no reading, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shardkit.errors import ConfigError, is_int

#: batch sizes the automatic choice picks from, largest first
BATCH_SIZES = (64, 32, 16)
#: the automatic batch is the largest giving at least this many steps per epoch
MIN_STEPS_PER_EPOCH = 16
#: optimizer steps an automatic run aims at (the demo's 238 chunks at batch 16: 14 steps x 60 epochs = 840).
#: 1000 gave the bird corpus's 329 chunks 50 epochs and 0.942 val ROC-AUC where the demo's 60
#: reached 0.965 (one seed, README "Defaults"); 1200 gives a split of up to ~320 chunks at least
#: the demo's 60 epochs
TARGET_STEPS = 1200
#: automatic epochs are clamped to this range: at least a few passes over a large split, at
#: most the demo's 60 over a small one (100 epochs over the real corpus's 94 chunks over-fitted:
#: best val ROC-AUC 0.69, against 0.83 at 60; README "Defaults")
EPOCH_RANGE = (5, 60)
#: the warm-up is one epoch (as it always was), but at most this share of the run's steps
WARMUP_SHARE = 0.05
#: without a manifest the split's size is unknown: these are used
UNKNOWN_SIZE = {"batch_size": 32, "epochs": 30, "warmup_epochs": 1.0}


@dataclass(frozen=True)
class Schedule:
    """A run's batch size, epochs and warm-up, and which of them were chosen here.

    Attributes:
        batch_size: global batch size.
        epochs: epochs of the run.
        warmup_epochs: warm-up length in epochs (a fraction is fine).
        steps_per_epoch: optimizer steps per epoch (None: the split's size is unknown).
        train_samples: the training split's samples (None: unknown).
        chosen: names of the settings chosen here rather than given.
    """

    batch_size: int
    epochs: int
    warmup_epochs: float
    steps_per_epoch: int | None
    train_samples: int | None
    chosen: tuple[str, ...]

    @property
    def total_steps(self) -> int | None:
        """Optimizer steps of the whole run (None: unknown)."""
        return None if self.steps_per_epoch is None else self.steps_per_epoch * self.epochs

    def describe(self) -> str:
        """One line for a person: what was chosen and from what, e.g. ``batch 16, 60 epochs (840 steps), warm-up 1 epochs: chosen for 238 training samples``."""
        steps = f" ({self.total_steps} steps)" if self.total_steps is not None else ""
        parts = f"batch {self.batch_size}, {self.epochs} epochs{steps}, warm-up {self.warmup_epochs:g} epochs"
        given = [name for name in ("batch_size", "epochs", "warmup_epochs") if name not in self.chosen]
        kept = f" (given: {', '.join(given)})" if given else ""
        if self.train_samples is None:
            return f"{parts}: the defaults for a split of unknown size (no manifest){kept}"
        return f"{parts}: chosen for {self.train_samples} training samples{kept}"


def auto_batch_size(train_samples: int) -> int:
    """The largest of `BATCH_SIZES` giving `MIN_STEPS_PER_EPOCH` steps; the smallest otherwise (never above the split)."""
    for size in BATCH_SIZES:
        if train_samples // size >= MIN_STEPS_PER_EPOCH:
            return size
    return min(BATCH_SIZES[-1], train_samples)


def auto_epochs(steps_per_epoch: int) -> int:
    """Epochs reaching `TARGET_STEPS` steps, clamped to `EPOCH_RANGE`."""
    low, high = EPOCH_RANGE
    return min(high, max(low, math.ceil(TARGET_STEPS / steps_per_epoch)))


def resolve_schedule(
    train_samples: int | None,
    *,
    batch_size: int | None = None,
    epochs: int | None = None,
    warmup_epochs: float | None = None,
    max_steps_per_epoch: int | None = None,
) -> Schedule:
    """The run's schedule: the settings given kept, those left None chosen from the split's size.

    Args:
        train_samples: samples in the training split (the manifest's count; None: unknown,
            then `UNKNOWN_SIZE` fills in).
        batch_size: the batch size given, or None to choose it.
        epochs: the epochs given, or None to choose them from the steps per epoch.
        warmup_epochs: the warm-up given, or None for one epoch, at most `WARMUP_SHARE` of the run.
        max_steps_per_epoch: the cut of each epoch, if any (counts in the steps per epoch).

    Raises:
        ConfigError: ``train_samples`` not None and not an integer >= 1.
    """
    if train_samples is not None and not (is_int(train_samples) and train_samples >= 1):
        raise ConfigError(f"the training split's sample count must be an integer >= 1 to size the run; got {train_samples!r}")
    chosen = tuple(name for name, value in (("batch_size", batch_size), ("epochs", epochs), ("warmup_epochs", warmup_epochs)) if value is None)
    if train_samples is None:
        batch = batch_size if batch_size is not None else UNKNOWN_SIZE["batch_size"]
        count = epochs if epochs is not None else UNKNOWN_SIZE["epochs"]
        warmup = warmup_epochs if warmup_epochs is not None else UNKNOWN_SIZE["warmup_epochs"]
        return Schedule(batch, count, warmup, None, None, chosen)
    batch = batch_size if batch_size is not None else auto_batch_size(train_samples)
    steps = max(1, train_samples // batch)
    if max_steps_per_epoch:
        steps = min(steps, max_steps_per_epoch)
    count = epochs if epochs is not None else auto_epochs(steps)
    warmup = warmup_epochs if warmup_epochs is not None else round(min(1.0, WARMUP_SHARE * count), 3)
    return Schedule(batch, count, warmup, steps, train_samples, chosen)
