"""Settings of the deployment stages: calibration draw, QAT, conversion gates, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from shardkit.checks import DictConfig, check, integer, number, optional, positive
from shardkit.errors import is_int


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
        teacher_weight: share of the loss that is distillation from the float model (binary
            cross-entropy against its scores); the rest is the labels. 1.0 trains the INT8
            model to reproduce the float one, which is what the conversion gates measure.
        calibration: the calibration draw (the same as the converter's, so the ranges agree).
    """

    epochs: int = 3
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_steps_per_epoch: int | None = None
    train_split: str = "train"
    val_split: str = "val"
    seed: int = 0
    teacher_weight: float = 1.0
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    NESTED: ClassVar[dict[str, type]] = {"calibration": CalibrationConfig}

    def __post_init__(self) -> None:
        check(
            "qat",
            [
                ("epochs", self.epochs, integer(1), "an integer >= 1"),
                ("teacher_weight", self.teacher_weight, number(0, 1), "a number in [0, 1]"),
                ("learning_rate", self.learning_rate, number(0, 1, open_low=True, open_high=True), "a number in (0, 1)"),
                ("batch_size", self.batch_size, integer(1), "an integer >= 1"),
                ("max_steps_per_epoch", self.max_steps_per_epoch, optional(integer(1)), "None or an integer >= 1"),
            ],
        )

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
    min_score_std: float = 1.0 / 256.0
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
