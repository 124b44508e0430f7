"""Settings of the deployment stages: calibration draw, QAT, conversion gates, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from shardkit.checks import DictConfig, check, check_needs, ignored_unless, integer, number, one_of, optional, positive
from shardkit.errors import is_int
from shardkit.export.qat_losses import LOSSES, TAIL_DISTILL_WEIGHTS
from shardkit.scoring import COLLAPSED_SCORE_STD
from shardkit.train.config import MONITORS


@dataclass(frozen=True)
class CalibrationConfig(DictConfig):
    """Which samples calibrate the INT8 ranges (QAT and the converter draw the same ones).

    Attributes:
        split: split the calibration samples come from.
        samples: how many, stratified by class (round-robin over classes and negatives).
        seed: seeds the deterministic pick.
    """

    split: str = "train"
    samples: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        check("calibration", [("samples", self.samples, integer(1), "an integer >= 1"), ("seed", self.seed, is_int, "an integer")])

    CONFIG_NAME = "calibration config"


@dataclass(frozen=True)
class QATConfig(DictConfig):
    """Quantization-aware fine-tuning of a trained model.

    Attributes:
        epochs: fine-tuning epochs (short: the model is already trained).
        learning_rate: Adam learning rate, well below the training peak.
        batch_size: training batch size.
        max_steps_per_epoch: cut epochs at this many batches (None: the whole split).
        train_split: split fine-tuned on.
        val_split: split reported before and after.
        seed: reader seed.
        teacher_weight: share of the loss that is distillation from the float model; the rest
            is binary cross-entropy against the labels. 1.0 trains the INT8 model to reproduce
            the float one, which is what the conversion gates measure.
        loss: the distillation loss (`shardkit.export.qat_losses.LOSSES`): ``"bce"``, binary
            cross-entropy against the float model's scores; ``"tail_distill"``, Bernoulli KL
            plus the mean and the worst ``tail_fraction`` of the per-sample output cosines.
        kl_weight: ``tail_distill``'s weight of the Bernoulli KL (float || fake-quant).
        cosine_weight: ``tail_distill``'s weight of 1 - the batch's mean per-sample cosine.
        tail_cosine_weight: ``tail_distill``'s weight of 1 - the mean of the batch's worst cosines.
        tail_fraction: ``tail_distill``'s share of each batch's samples that are its worst (at least one).
        monitor: the fake-quant model's validation metric that picks the epoch kept (the
            choices of training's ``monitor``; ``val_loss`` is this QAT loss on the validation samples).
        calibration: the calibration draw (the same as the converter's, so the ranges agree).
        distill_weight: share of the stored teacher's soft labels (shards built with a
            teacher) in the labels' part of the loss, mixed into the labels as training mixes
            them (`shardkit.train.distill`); 0: the hard labels. Needs ``teacher_weight < 1``.
        distill_temperature: temperature of those soft labels (1: as stored).
    """

    epochs: int = 3
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_steps_per_epoch: int | None = None
    train_split: str = "train"
    val_split: str = "val"
    seed: int = 0
    teacher_weight: float = 1.0
    loss: str = "bce"
    kl_weight: float = TAIL_DISTILL_WEIGHTS["kl_weight"]
    cosine_weight: float = TAIL_DISTILL_WEIGHTS["cosine_weight"]
    tail_cosine_weight: float = TAIL_DISTILL_WEIGHTS["tail_cosine_weight"]
    tail_fraction: float = TAIL_DISTILL_WEIGHTS["tail_fraction"]
    monitor: str = "val_roc_auc"
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    distill_weight: float = 0.0
    distill_temperature: float = 1.0

    NESTED: ClassVar[dict[str, type]] = {"calibration": CalibrationConfig}

    def __post_init__(self) -> None:
        weights = (self.kl_weight, self.cosine_weight, self.tail_cosine_weight)
        check(
            "qat",
            [
                ("epochs", self.epochs, integer(1), "an integer >= 1"),
                ("teacher_weight", self.teacher_weight, number(0, 1), "a number in [0, 1]"),
                ("learning_rate", self.learning_rate, number(0, 1, open_low=True, open_high=True), "a number in (0, 1)"),
                ("batch_size", self.batch_size, integer(1), "an integer >= 1"),
                ("max_steps_per_epoch", self.max_steps_per_epoch, optional(integer(1)), "None or an integer >= 1"),
                ("loss", self.loss, one_of(LOSSES), f"one of {list(LOSSES)}"),
                ("kl_weight", self.kl_weight, number(0), "a number >= 0"),
                ("cosine_weight", self.cosine_weight, number(0), "a number >= 0"),
                ("tail_cosine_weight", self.tail_cosine_weight, number(0), "a number >= 0"),
                ("tail_fraction", self.tail_fraction, number(0, 1, open_low=True), "a number in (0, 1]"),
                ("monitor", self.monitor, one_of(MONITORS), f"one of {list(MONITORS)}"),
                ("distill_weight", self.distill_weight, number(0, 1), "a number in [0, 1]"),
                ("distill_temperature", self.distill_temperature, positive, "a positive number"),
            ],
        )
        if self.loss == "tail_distill":
            check("qat", [("tail_distill weights", weights, lambda w: sum(w) > 0, "not all 0 (kl_weight, cosine_weight, tail_cosine_weight)")])
        changed = [name for name, default in TAIL_DISTILL_WEIGHTS.items() if getattr(self, name) != default]
        check_needs(
            "qat", ignored_unless(changed, dict.fromkeys(TAIL_DISTILL_WEIGHTS, (self.loss == "tail_distill", "loss='tail_distill'", f"loss={self.loss!r}")))
        )
        distill = [
            name
            for name, off_default in (("distill_weight", self.distill_weight != 0.0), ("distill_temperature", self.distill_temperature != 1.0))
            if off_default
        ]
        table = {
            "distill_weight": (self.teacher_weight < 1.0, "teacher_weight < 1 (the labels' share of the loss)", f"teacher_weight={self.teacher_weight}"),
            "distill_temperature": (self.distill_weight > 0, "distill_weight > 0", f"distill_weight={self.distill_weight}"),
        }
        check_needs("qat", ignored_unless(distill, table))

    @property
    def monitor_mode(self) -> str:
        """``max`` or ``min``: which way the monitored metric improves."""
        return MONITORS[self.monitor]

    CONFIG_NAME = "qat config"


@dataclass(frozen=True)
class ConvertConfig(DictConfig):
    """Full-INT8 conversion and its gates.

    Attributes:
        calibration: the representative data draw.
        gate_split: split whose samples the float-vs-INT8 gates compare (never calibration samples).
        gate_samples: at most this many gate samples, stratified by class.
        max_roc_auc_drop: gate on the float → INT8 drop of macro ROC AUC on the gate samples,
            decided by a paired bootstrap interval (passed, failed, or too few gate samples
            to decide).
        max_cmap_drop: the same for cmAP.
        undecided_fails: a drop gate with too few gate samples to decide fails the conversion
            (default: it is reported, and the other gates decide).
        min_rank_agreement: gate on the macro share of sample pairs, per class, that the float
            model orders clearly (two INT8 output steps apart) and INT8 orders alike.
        max_output_mae: gate on the mean absolute difference of float and INT8 outputs (one
            INT8 sigmoid step, 1/256, by default).
        min_score_std: a float model whose every class score varies less than this (standard
            deviation over the gate samples) has collapsed and is refused before converting.
        min_cosine_mean: gate on the mean per-sample cosine between float and INT8 outputs.
        min_cosine_p5: gate on its 5th percentile.
        int8_io: INT8 model input and output (default float32 I/O with INT8 internals).
        require_n6: an N6 report violation fails the conversion like a gate.
        timeout_s: limit on the converter subprocess.
        bundle_vectors: the most validation vectors in the N6 deployment bundle written
            beside a promoted model (stratified gate samples; 0: a bundle without vectors).
    """

    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    gate_split: str = "val"
    gate_samples: int = 500
    max_roc_auc_drop: float = 0.005
    max_cmap_drop: float = 0.01
    undecided_fails: bool = False
    min_rank_agreement: float = 0.95
    max_output_mae: float = 1.0 / 256.0
    min_score_std: float = COLLAPSED_SCORE_STD
    min_cosine_mean: float = 0.95
    min_cosine_p5: float = 0.90
    int8_io: bool = False
    require_n6: bool = True
    timeout_s: float = 1800.0
    bundle_vectors: int = 16

    NESTED: ClassVar[dict[str, type]] = {"calibration": CalibrationConfig}

    def __post_init__(self) -> None:
        check(
            "convert",
            [
                ("gate_samples", self.gate_samples, integer(1), "an integer >= 1"),
                ("max_roc_auc_drop", self.max_roc_auc_drop, number(0, 1), "a number in [0, 1]"),
                ("max_cmap_drop", self.max_cmap_drop, number(0, 1), "a number in [0, 1]"),
                ("min_rank_agreement", self.min_rank_agreement, number(0, 1), "a share in [0, 1]"),
                ("max_output_mae", self.max_output_mae, number(0, 1), "a number in [0, 1]"),
                ("min_score_std", self.min_score_std, number(0, 1), "a number in [0, 1]"),
                ("min_cosine_mean", self.min_cosine_mean, number(-1, 1), "a cosine in [-1, 1]"),
                ("min_cosine_p5", self.min_cosine_p5, number(-1, 1), "a cosine in [-1, 1]"),
                ("timeout_s", self.timeout_s, positive, "a positive number of seconds"),
                ("bundle_vectors", self.bundle_vectors, integer(0), "an integer >= 0"),
            ],
        )

    CONFIG_NAME = "convert config"
