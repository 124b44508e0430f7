"""Settings of the deployment stages: calibration draw, QAT, conversion gates, evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from shardkit.errors import ConfigError, is_int, is_number


def _check(checks: list[tuple[bool, str, object, str]], stage: str) -> None:
    for ok, name, value, allowed in checks:
        if not ok:
            raise ConfigError(f"{stage} {name} must be {allowed}; got {value!r}")


@dataclass(frozen=True)
class CalibrationConfig:
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
        _check(
            [
                (is_int(self.samples) and self.samples >= 1, "calibration samples", self.samples, "an integer >= 1"),
                (is_int(self.seed), "calibration seed", self.seed, "an integer"),
            ],
            "calibration",
        )


@dataclass(frozen=True)
class QATConfig:
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

    def __post_init__(self) -> None:
        _check(
            [
                (is_int(self.epochs) and self.epochs >= 1, "epochs", self.epochs, "an integer >= 1"),
                (is_number(self.teacher_weight) and 0 <= self.teacher_weight <= 1, "teacher_weight", self.teacher_weight, "a number in [0, 1]"),
                (is_number(self.learning_rate) and 0 < self.learning_rate < 1, "learning_rate", self.learning_rate, "a number in (0, 1)"),
                (is_int(self.batch_size) and self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1"),
                (
                    self.max_steps_per_epoch is None or (is_int(self.max_steps_per_epoch) and self.max_steps_per_epoch >= 1),
                    "max_steps_per_epoch",
                    self.max_steps_per_epoch,
                    "None or an integer >= 1",
                ),
            ],
            "qat",
        )

    def to_dict(self) -> dict:
        """Settings as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ConvertConfig:
    """Full-INT8 conversion and its gates.

    Attributes:
        calibration: the representative data draw.
        gate_split: split whose samples the float-vs-INT8 gates compare (never calibration samples).
        gate_samples: at most this many gate samples, stratified by class.
        min_cosine_mean: gate on the mean per-sample cosine between float and INT8 outputs.
        min_cosine_p5: gate on its 5th percentile.
        int8_io: INT8 model input and output (default float32 I/O with INT8 internals).
        require_n6: an N6 report violation fails the conversion like a gate.
        timeout_s: limit on the converter subprocess.
    """

    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    gate_split: str = "val"
    gate_samples: int = 500
    min_cosine_mean: float = 0.95
    min_cosine_p5: float = 0.90
    int8_io: bool = False
    require_n6: bool = True
    timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        _check(
            [
                (is_int(self.gate_samples) and self.gate_samples >= 1, "gate_samples", self.gate_samples, "an integer >= 1"),
                (is_number(self.min_cosine_mean) and -1 <= self.min_cosine_mean <= 1, "min_cosine_mean", self.min_cosine_mean, "a cosine in [-1, 1]"),
                (is_number(self.min_cosine_p5) and -1 <= self.min_cosine_p5 <= 1, "min_cosine_p5", self.min_cosine_p5, "a cosine in [-1, 1]"),
                (is_number(self.timeout_s) and self.timeout_s > 0, "timeout_s", self.timeout_s, "a positive number of seconds"),
            ],
            "convert",
        )

    def to_dict(self) -> dict:
        """Settings as a JSON-ready dict."""
        return asdict(self)
