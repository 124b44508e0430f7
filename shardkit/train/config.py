"""`TrainConfig`: every setting of `shardkit train`, validated before anything is read or built."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment.config import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
from shardkit.checks import DictConfig, Need, check, check_needs, ignored_unless, integer, number, one_of, optional, positive
from shardkit.errors import ConfigError, is_int, is_number
from shardkit.model.config import ModelConfig, variable_length_problem
from shardkit.read.config import BALANCE_MODES, PLACEMENTS

OPTIMIZERS = ("adam", "adamw", "sgd")
LOSSES = ("bce", "focal")
#: validation metrics a checkpoint can be chosen by, and whether higher is better
MONITORS = {"val_roc_auc": "max", "val_cmap": "max", "val_loss": "min"}
DISTRIBUTIONS = ("none", "mirrored")
#: how training batches are made: every chunk cropped/padded to the frontend's chunk, or length buckets
BATCHINGS = ("fixed", "bucketed")
#: settings that must be numbers (ints or floats)
NUMBERS = ("learning_rate", "final_lr_ratio", "weight_decay", "momentum", "focal_gamma", "label_smoothing")


def _keras_path(value: Any) -> bool:
    return isinstance(value, str) and value.endswith(".keras")


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    """Settings of one training run (saved in ``<name>_model_config.json`` and the train state).

    Attributes:
        name: artifact prefix in the output folder (``<name>.keras`` ...).
        frontend: the spectrogram contract; must match the shards' sample rate.
        model: the model family settings.
        placement: ``pipeline`` (the reader computes spectrograms on the CPU) or ``deferred``
            (the reader yields waveforms and the training model starts with the frontend
            layer, on the accelerator; the saved model still starts after it).
        batch_size: global batch size (split across replicas under ``mirrored``); None: chosen
            from the training split's size (`shardkit.train.schedule`: the largest of 64/32/16
            giving 16 steps per epoch), and the chosen value is what the saved config records.
        epochs: total epochs of the run (a resumed run counts the epochs already done); None:
            enough to reach about 1200 optimizer steps, within 5 to 60 epochs.
        max_steps_per_epoch: stop an epoch after this many batches (None: the whole split).
        learning_rate: peak learning rate.
        warmup_epochs: linear warm-up from 0 to the peak, then cosine decay to
            ``learning_rate * final_lr_ratio`` at the last step; None: one epoch, at most 5 %
            of the run's steps.
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
        batching: ``fixed`` (every chunk cropped or padded to the frontend's chunk) or
            ``bucketed`` (length buckets planned from the manifest, each batch about
            ``batch_size x chunk_s`` seconds of audio; the model trains on a free time axis
            with padding masked out, and the saved model is its fixed-length copy at the
            frontend's chunk, the deployed shape: see README "Variable-length training").
        deploy_chunk_s: under bucketed batching, the chunk the saved (deployed) model takes,
            rounded to whole frames of the training hop; None: the frontend's chunk. The model
            config's frontend is the deployed one, so QAT, conversion and evaluation read
            chunks of this length.
        augment: waveform augmentation settings (WaveAugmentConfig) or None.
        mixup: mixup settings (MixupConfig) or None.
        spec_augment: SpecAugment settings (SpecAugmentConfig, pipeline placement) or None.
        train_split: split to train on.
        val_split: split the metrics are computed on.
        distill_weight: share ``w`` of the teacher's stored soft labels in the training target
            (`shardkit.train.distill`; 0: off, hard labels only); needs shards built with a teacher.
        distill_temperature: ``T`` of the soft labels, ``sigmoid(logit(p) / T)`` (1: as stored).
        teacher_model: a trained shardkit ``.keras`` whose scores of each (augmented) training
            batch are the soft labels (`shardkit.train.teacher_model`: self-distillation; its
            frontend must be the run's); None: the soft labels stored in the shards. Given, it
            wins over stored ones. Needs ``distill_weight > 0``.
    """

    name: str = "model"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    placement: str = "pipeline"
    batch_size: int | None = None
    epochs: int | None = None
    max_steps_per_epoch: int | None = None
    learning_rate: float = 3e-3
    warmup_epochs: float | None = None
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
    batching: str = "fixed"
    deploy_chunk_s: float | None = None
    augment: Any = None
    mixup: Any = None
    spec_augment: Any = None
    train_split: str = "train"
    val_split: str = "val"
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    teacher_model: str | None = None

    NESTED: ClassVar[dict[str, type]] = {
        "frontend": FrontendConfig,
        "model": ModelConfig,
        "augment": WaveAugmentConfig,
        "mixup": MixupConfig,
        "spec_augment": SpecAugmentConfig,
    }

    def __post_init__(self) -> None:
        check(
            "train",
            [
                *((name, getattr(self, name), is_int, "an integer") for name in ("seed", "shuffle_buffer")),
                *((name, getattr(self, name), optional(is_int), "an integer") for name in ("batch_size", "epochs", "max_steps_per_epoch", "patience")),
                ("warmup_epochs", self.warmup_epochs, optional(is_number), "a number"),
                *((name, getattr(self, name), is_number, "a number") for name in NUMBERS),
                ("clip_norm", self.clip_norm, optional(is_number), "a number"),
                ("name", self.name, lambda v: isinstance(v, str) and bool(v) and "/" not in v and not v.startswith("."), "a file name prefix without '/'"),
                ("placement", self.placement, one_of(PLACEMENTS), f"one of {list(PLACEMENTS)}"),
                ("batch_size", self.batch_size, optional(integer(1)), "None (auto) or an integer >= 1"),
                ("epochs", self.epochs, optional(integer(1)), "None (auto) or an integer >= 1"),
                ("max_steps_per_epoch", self.max_steps_per_epoch, optional(integer(1)), "None or an integer >= 1"),
                ("learning_rate", self.learning_rate, positive, "a positive number"),
                ("warmup_epochs", self.warmup_epochs, optional(number(0)), "None (auto) or a number of epochs >= 0"),
                ("final_lr_ratio", self.final_lr_ratio, number(0, 1), "a ratio in [0, 1]"),
                ("optimizer", self.optimizer, one_of(OPTIMIZERS), f"one of {list(OPTIMIZERS)}"),
                ("weight_decay", self.weight_decay, number(0), "a number >= 0"),
                ("momentum", self.momentum, number(0, 1, open_high=True), "a number in [0, 1)"),
                ("clip_norm", self.clip_norm, optional(positive), "None or a positive norm"),
                ("loss", self.loss, one_of(LOSSES), f"one of {list(LOSSES)}"),
                ("focal_gamma", self.focal_gamma, number(0), "a number >= 0"),
                ("label_smoothing", self.label_smoothing, number(0, 1, open_high=True), "a number in [0, 1)"),
                ("monitor", self.monitor, one_of(MONITORS), f"one of {list(MONITORS)}"),
                ("patience", self.patience, optional(integer(1)), "None or an integer >= 1"),
                ("distribute", self.distribute, one_of(DISTRIBUTIONS), f"one of {list(DISTRIBUTIONS)}"),
                ("balance", self.balance, one_of(BALANCE_MODES), f"one of {list(BALANCE_MODES)}"),
                ("shuffle_buffer", self.shuffle_buffer, integer(0), "an integer >= 0"),
                ("batching", self.batching, one_of(BATCHINGS), f"one of {list(BATCHINGS)}"),
                ("deploy_chunk_s", self.deploy_chunk_s, optional(positive), "None or a positive number of seconds"),
                ("val_split", self.val_split, lambda v: v != self.train_split, f"a split other than train_split={self.train_split!r}"),
                ("distill_weight", self.distill_weight, number(0, 1), "a number in [0, 1]"),
                ("distill_temperature", self.distill_temperature, positive, "a positive number"),
                ("teacher_model", self.teacher_model, optional(_keras_path), "None or the path of a .keras written by shardkit train"),
            ],
        )
        hybrid = self.frontend.name == "hybrid"
        mixer = "a multiple of 8 with the hybrid frontend (the mel mixer's channels, an N6 rule)"
        check("", [("frontend n_mels", self.frontend.n_mels, lambda v: not hybrid or v % 8 == 0, mixer)])
        spectrogram = self.placement == "pipeline" and self.frontend.name != "raw"
        found = f"placement={self.placement!r}, frontend={self.frontend.name!r}"
        check_needs("train", [("spec_augment", self.spec_augment is None or spectrogram, "placement='pipeline' and a spectrogram frontend", found)])
        if self.batching == "bucketed":
            problem = variable_length_problem(self.frontend, self.model)
            bucketed = [
                ("batching='bucketed'", spectrogram, "placement='pipeline' and a spectrogram frontend", found),
                ("batching='bucketed'", problem is None, "a frontend and scaling that can mask padding", problem),
                (
                    "batching='bucketed'",
                    self.distill_weight == 0,
                    "distill_weight=0 (distillation takes fixed-length batches)",
                    f"distill_weight={self.distill_weight}",
                ),
                ("batching='bucketed'", self.distribute == "none", "distribute='none'", f"distribute={self.distribute!r}"),
            ]
            check_needs("train", bucketed)
        deploy = (self.batching == "bucketed", "batching='bucketed'", f"batching={self.batching!r}")
        check_needs("train", ignored_unless(["deploy_chunk_s"] if self.deploy_chunk_s is not None else [], {"deploy_chunk_s": deploy}))
        needs_weight = (self.distill_weight > 0, "distill_weight > 0", f"distill_weight={self.distill_weight}")
        set_here = [
            name for name, is_set in (("distill_temperature", self.distill_temperature != 1.0), ("teacher_model", self.teacher_model is not None)) if is_set
        ]
        check_needs("train", ignored_unless(set_here, dict.fromkeys(("distill_temperature", "teacher_model"), needs_weight)))

    @property
    def scheduled(self) -> bool:
        """Whether the batch size, epochs and warm-up are all set (none left to choose from the data)."""
        return None not in (self.batch_size, self.epochs, self.warmup_epochs)

    @property
    def deploy_frontend(self) -> FrontendConfig:
        """The frontend of the saved model: the training frontend, or under ``deploy_chunk_s`` the same hop over that many seconds."""
        if self.deploy_chunk_s is None:
            return self.frontend
        hop = self.frontend.hop_length
        frames = max(1, round(self.deploy_chunk_s * self.frontend.sample_rate_hz / hop))
        return replace(self.frontend, chunk_s=frames * hop / self.frontend.sample_rate_hz, n_frames=frames)

    @property
    def monitor_mode(self) -> str:
        """``max`` or ``min``: which way the monitored metric improves."""
        return MONITORS[self.monitor]

    CONFIG_NAME = "train config"


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
    "compression": "compression",
    "log_floor_db": "log_floor_db",
}
#: flat option name → MixupConfig / SpecAugmentConfig field
MIXUP_OPTIONS = {"mixup_prob": "prob", "mixup_sources": "max_sources", "mixup_alpha": "alpha"}
SPEC_AUGMENT_OPTIONS = {"freq_masks": "freq_masks", "freq_mask_max": "freq_mask_max", "time_masks": "time_masks", "time_mask_max": "time_mask_max"}


def config_from_options(options: dict[str, Any]) -> TrainConfig:
    """A `TrainConfig` from flat options (CLI names without dashes); None values take defaults.

    Frontend, model, mixup and SpecAugment settings are recognised by name; ``mixup_prob``
    of 0 disables mixup, ``spec_augment`` / ``augment`` (booleans) switch those stages on
    with their defaults and any of their flat settings given. An option that would be
    ignored in the combination given is refused (see `ignored_options`).

    Raises:
        ConfigError: an unknown option, a bad value or an option that would be ignored, naming it.
    """
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
    config = TrainConfig(
        frontend=frontend,
        model=ModelConfig(**{k: v for k, v in given.items() if k in model_fields}),
        augment=augment,
        mixup=mixup,
        spec_augment=spec_augment,
        **{k: v for k, v in given.items() if k in train_fields},
    )
    check_needs("train", ignored_options(given, config))
    return config


def with_options(config: TrainConfig, options: dict[str, Any]) -> TrainConfig:
    """``config`` with flat options (as `config_from_options` names them) replaced.

    Raises:
        ConfigError: an option that is not a frontend, model or top-level training setting,
            a bad value, or an option that would be ignored in the result.
    """
    model_fields = {f.name for f in fields(ModelConfig)}
    top = {f.name for f in fields(TrainConfig)} - {"frontend", "model"}
    unknown = sorted(set(options) - model_fields - top - set(FRONTEND_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown train options {unknown}")
    frontend = replace(config.frontend, **{FRONTEND_OPTIONS[k]: v for k, v in options.items() if k in FRONTEND_OPTIONS})
    model = replace(config.model, **{k: v for k, v in options.items() if k in model_fields})
    result = replace(config, frontend=frontend, model=model, **{k: v for k, v in options.items() if k in top})
    check_needs("train", ignored_options(options, result))
    return result


def ignored_options(given: dict[str, Any], config: TrainConfig) -> list[Need]:
    """`check_needs` rows for the flat options in ``given`` that ``config`` would ignore.

    Mixup and SpecAugment settings need their switch (``mixup_prob``, ``spec_augment``; an
    explicit ``mixup_prob = 0`` or ``spec_augment = false`` turns the stage off on purpose and
    keeps its settings quiet); optimizer, loss, block and frontend settings need the choice
    that uses them.
    """
    mixup = ("mixup_prob" in given, "mixup_prob > 0", "no mixup_prob")
    masks = ("spec_augment" in given, "spec_augment=True", "no spec_augment")
    optimizer, loss = f"optimizer={config.optimizer!r}", f"loss={config.loss!r}"
    table = {
        "mixup_alpha": mixup,
        "mixup_sources": mixup,
        **dict.fromkeys(SPEC_AUGMENT_OPTIONS, masks),
        "momentum": (config.optimizer == "sgd", "optimizer='sgd'", optimizer),
        "weight_decay": (config.optimizer == "adamw", "optimizer='adamw'", optimizer),
        "focal_gamma": (config.loss == "focal", "loss='focal'", loss),
        "se_reduction": (config.model.se, "se=True", f"se={config.model.se}"),
        "expansion": (config.model.inverted_residual, "inverted_residual=True", f"inverted_residual={config.model.inverted_residual}"),
        "log_floor_db": (config.frontend.compression == "log", "compression='log'", f"compression={config.frontend.compression!r}"),
        "distill_temperature": (config.distill_weight > 0, "distill_weight > 0", f"distill_weight={config.distill_weight}"),
    }
    return ignored_unless(given, table)
