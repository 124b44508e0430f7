"""`TrainConfig`: every setting of `shardkit train`, validated before anything is read or built."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import ConfigError, is_int, is_number
from shardkit.model.config import ModelConfig
from shardkit.read.config import BALANCE_MODES, PLACEMENTS

OPTIMIZERS = ("adam", "adamw", "sgd")
LOSSES = ("bce", "focal")
#: validation metrics a checkpoint can be chosen by, and whether higher is better
MONITORS = {"val_roc_auc": "max", "val_cmap": "max", "val_loss": "min"}
DISTRIBUTIONS = ("none", "mirrored")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (saved in ``<name>_model_config.json`` and the train state).

    Attributes:
        name: artifact prefix in the output folder (``<name>.keras`` ...).
        frontend: the spectrogram contract; must match the shards' sample rate.
        model: the model family settings.
        placement: ``pipeline`` (the reader computes spectrograms on the CPU) or ``deferred``
            (the reader yields waveforms and the training model starts with the frontend
            layer, on the accelerator; the saved model still starts after it).
        batch_size: global batch size (split across replicas under ``mirrored``).
        epochs: total epochs of the run (a resumed run counts the epochs already done).
        max_steps_per_epoch: stop an epoch after this many batches (None: the whole split).
        learning_rate: peak learning rate.
        warmup_epochs: linear warm-up from 0 to the peak, then cosine decay to
            ``learning_rate * final_lr_ratio`` at the last step.
        final_lr_ratio: see above.
        optimizer: ``adam``, ``adamw`` (decoupled ``weight_decay``) or ``sgd`` (Nesterov momentum).
        weight_decay: AdamW weight decay.
        momentum: SGD momentum.
        clip_norm: clip gradients by this global norm (None: no clipping).
        loss: ``bce`` or ``focal``.
        focal_gamma: focal loss focusing parameter.
        label_smoothing: towards 0.5 for both losses.
        monitor: the validation metric that picks the best checkpoint and drives early
            stopping: ``val_roc_auc`` (default: threshold-free and stable on small
            validation sets), ``val_cmap`` or ``val_loss``.
        patience: early stopping after this many epochs without improvement (None: off).
        seed: seeds weights, shuffling, augmentation and dropout.
        mixed_precision: compute in float16 (the head and the loss stay float32).
        distribute: ``none`` or ``mirrored`` (all GPUs of one VM; see docs/training.md).
        balance: ``none`` or ``cap`` (per-epoch class caps from the manifest; Keras
            class_weight is wrong for multi-hot labels).
        shuffle_buffer: reader sample shuffle buffer.
        augment: waveform augmentation settings (WaveAugmentConfig) or None.
        mixup: mixup settings (MixupConfig) or None.
        spec_augment: SpecAugment settings (SpecAugmentConfig, pipeline placement) or None.
        train_split: split to train on.
        val_split: split the metrics are computed on.
    """

    name: str = "model"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    placement: str = "pipeline"
    batch_size: int = 64
    epochs: int = 30
    max_steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    warmup_epochs: float = 1.0
    final_lr_ratio: float = 0.01
    optimizer: str = "adam"
    weight_decay: float = 1e-4
    momentum: float = 0.9
    clip_norm: float | None = None
    loss: str = "bce"
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0
    monitor: str = "val_roc_auc"
    patience: int | None = None
    seed: int = 0
    mixed_precision: bool = False
    distribute: str = "none"
    balance: str = "none"
    shuffle_buffer: int = 1000
    augment: Any = None
    mixup: Any = None
    spec_augment: Any = None
    train_split: str = "train"
    val_split: str = "val"

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "seed", "shuffle_buffer", "max_steps_per_epoch", "patience"):
            value = getattr(self, name)
            if not (is_int(value) or (value is None and name in ("max_steps_per_epoch", "patience"))):
                raise ConfigError(f"train {name} must be an integer; got {value!r}")
        for name in ("learning_rate", "warmup_epochs", "final_lr_ratio", "weight_decay", "momentum", "focal_gamma", "label_smoothing", "clip_norm"):
            value = getattr(self, name)
            if not (is_number(value) or (value is None and name == "clip_norm")):
                raise ConfigError(f"train {name} must be a number; got {value!r}")
        checks = [
            (
                isinstance(self.name, str) and bool(self.name) and "/" not in self.name and not self.name.startswith("."),
                "name",
                self.name,
                "a file name prefix without '/'",
            ),
            (self.placement in PLACEMENTS, "placement", self.placement, f"one of {list(PLACEMENTS)}"),
            (self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1"),
            (self.epochs >= 1, "epochs", self.epochs, "an integer >= 1"),
            (self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1, "max_steps_per_epoch", self.max_steps_per_epoch, "None or an integer >= 1"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0, "learning_rate", self.learning_rate, "a positive number"),
            (self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, "a number of epochs >= 0"),
            (0 <= self.final_lr_ratio <= 1, "final_lr_ratio", self.final_lr_ratio, "a ratio in [0, 1]"),
            (self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {list(OPTIMIZERS)}"),
            (self.weight_decay >= 0, "weight_decay", self.weight_decay, "a number >= 0"),
            (0 <= self.momentum < 1, "momentum", self.momentum, "a number in [0, 1)"),
            (self.clip_norm is None or self.clip_norm > 0, "clip_norm", self.clip_norm, "None or a positive norm"),
            (self.loss in LOSSES, "loss", self.loss, f"one of {list(LOSSES)}"),
            (self.focal_gamma >= 0, "focal_gamma", self.focal_gamma, "a number >= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing", self.label_smoothing, "a number in [0, 1)"),
            (self.monitor in MONITORS, "monitor", self.monitor, f"one of {list(MONITORS)}"),
            (self.patience is None or self.patience >= 1, "patience", self.patience, "None or an integer >= 1"),
            (self.distribute in DISTRIBUTIONS, "distribute", self.distribute, f"one of {list(DISTRIBUTIONS)}"),
            (self.balance in BALANCE_MODES, "balance", self.balance, f"one of {list(BALANCE_MODES)}"),
            (self.shuffle_buffer >= 0, "shuffle_buffer", self.shuffle_buffer, "an integer >= 0"),
            (self.train_split != self.val_split, "val_split", self.val_split, f"a split other than train_split={self.train_split!r}"),
        ]
        for ok, name, value, allowed in checks:
            if not ok:
                raise ConfigError(f"train {name} must be {allowed}; got {value!r}")
        if self.frontend.name == "hybrid" and self.frontend.n_mels % 8:
            raise ConfigError(
                f"frontend n_mels must be a multiple of 8 with the hybrid frontend (the mel mixer's channels, an N6 rule); got {self.frontend.n_mels!r}"
            )
        if self.spec_augment is not None and (self.placement == "deferred" or self.frontend.name == "raw"):
            raise ConfigError(
                f"train spec_augment needs placement='pipeline' and a spectrogram frontend; got placement={self.placement!r}, frontend={self.frontend.name!r}"
            )

    @property
    def monitor_mode(self) -> str:
        """``max`` or ``min``: which way the monitored metric improves."""
        return MONITORS[self.monitor]

    def to_dict(self) -> dict:
        """Settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of `to_dict` (as read back from a train state or model config)."""
        from shardkit.augment import MixupConfig, SpecAugmentConfig, WaveAugmentConfig

        nested = {"frontend": FrontendConfig, "model": ModelConfig, "augment": WaveAugmentConfig, "mixup": MixupConfig, "spec_augment": SpecAugmentConfig}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"train config has unknown settings {unknown}")
        values = dict(data)
        for key, kind in nested.items():
            if isinstance(values.get(key), dict):
                allowed = {f.name for f in fields(kind)}
                stray = sorted(set(values[key]) - allowed)
                if stray:
                    raise ConfigError(f"train config {key} has unknown settings {stray}")
                values[key] = kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values[key].items()})
        return cls(**values)


#: flat option name → FrontendConfig field (the CLI and the tuner speak in flat names)
FRONTEND_OPTIONS = {
    "frontend": "name",
    "sample_rate_hz": "sample_rate_hz",
    "chunk_s": "chunk_s",
    "n_fft": "n_fft",
    "n_frames": "n_frames",
    "n_mels": "n_mels",
    "fmin_hz": "fmin_hz",
    "n_mfcc": "n_mfcc",
}
#: flat option name → MixupConfig / SpecAugmentConfig field
MIXUP_OPTIONS = {"mixup_prob": "prob", "mixup_sources": "max_sources", "mixup_alpha": "alpha"}
SPEC_AUGMENT_OPTIONS = {"freq_masks": "freq_masks", "freq_mask_max": "freq_mask_max", "time_masks": "time_masks", "time_mask_max": "time_mask_max"}


def config_from_options(options: dict[str, Any]) -> TrainConfig:
    """A `TrainConfig` from flat options (CLI names without dashes); None values take defaults.

    Frontend, model, mixup and SpecAugment settings are recognised by name; ``mixup_prob``
    of 0 disables mixup, ``spec_augment`` / ``augment`` (booleans) switch those stages on
    with their defaults and any of their flat settings given.

    Raises:
        ConfigError: an unknown option or a bad value, naming it.
    """
    from shardkit.augment import MixupConfig, SpecAugmentConfig, WaveAugmentConfig

    given = {k: v for k, v in options.items() if v is not None}
    model_fields = {f.name for f in fields(ModelConfig)}
    train_fields = {f.name for f in fields(TrainConfig)} - {"frontend", "model", "augment", "mixup", "spec_augment"}
    known = set(FRONTEND_OPTIONS) | set(MIXUP_OPTIONS) | set(SPEC_AUGMENT_OPTIONS) | model_fields | train_fields | {"augment", "spec_augment"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"unknown train options {unknown}")
    frontend = FrontendConfig(**{FRONTEND_OPTIONS[k]: v for k, v in given.items() if k in FRONTEND_OPTIONS})
    mixup_settings = {MIXUP_OPTIONS[k]: v for k, v in given.items() if k in MIXUP_OPTIONS}
    mixup = MixupConfig(**mixup_settings) if mixup_settings.get("prob", 0) > 0 else None
    spec_settings = {SPEC_AUGMENT_OPTIONS[k]: v for k, v in given.items() if k in SPEC_AUGMENT_OPTIONS}
    spec_augment = SpecAugmentConfig(**spec_settings) if given.get("spec_augment") else None
    augment = WaveAugmentConfig(sample_rate_hz=frontend.sample_rate_hz) if given.get("augment") else None
    return TrainConfig(
        frontend=frontend,
        model=ModelConfig(**{k: v for k, v in given.items() if k in model_fields}),
        augment=augment,
        mixup=mixup,
        spec_augment=spec_augment,
        **{k: v for k, v in given.items() if k in train_fields},
    )


def with_options(config: TrainConfig, options: dict[str, Any]) -> TrainConfig:
    """``config`` with flat options (as `config_from_options` names them) replaced.

    Raises:
        ConfigError: an option that is not a frontend, model or top-level training setting.
    """
    from dataclasses import replace

    model_fields = {f.name for f in fields(ModelConfig)}
    top = {f.name for f in fields(TrainConfig)} - {"frontend", "model"}
    unknown = sorted(set(options) - model_fields - top - set(FRONTEND_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown train options {unknown}")
    frontend = replace(config.frontend, **{FRONTEND_OPTIONS[k]: v for k, v in options.items() if k in FRONTEND_OPTIONS})
    model = replace(config.model, **{k: v for k, v in options.items() if k in model_fields})
    return replace(config, frontend=frontend, model=model, **{k: v for k, v in options.items() if k in top})
