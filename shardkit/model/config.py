"""`ModelConfig`: the DS-CNN family's settings, validated up front and saved with the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from shardkit.errors import ConfigError, is_int, is_number


@dataclass(frozen=True)
class Architecture:
    """Channel plan of one family member (before the width multiplier).

    Attributes:
        stem_channels: output channels of the stride-2 3x3 stem conv.
        stage_channels: output channels of each stage (each stage halves both axes).
        full_conv_stages: how many leading stages use full 3x3 convs instead of depthwise-
            separable / inverted-residual blocks. Depthwise convs on few channels generalise
            poorly from small sets: on the demo corpus (260 training chunks) a stem + two
            full-conv stages reached 0.80 validation ROC-AUC where the same widths in
            depthwise-separable blocks reached 0.66. Full convs are N6-friendly (CONV_2D).
    """

    stem_channels: int
    stage_channels: tuple[int, ...]
    full_conv_stages: int = 0


#: the model registry: name → channel plan (built by `shardkit.model.dscnn.build_model`)
ARCHITECTURES: dict[str, Architecture] = {
    "dscnn": Architecture(stem_channels=32, stage_channels=(64, 128, 256, 512)),
    "dscnn_lite": Architecture(stem_channels=16, stage_channels=(32, 64, 128), full_conv_stages=2),
}

#: magnitude scaling modes (see `shardkit.model.scaling`)
MAG_SCALES = ("pwl", "pcen", "db", "none")
#: pooling heads
POOLINGS = ("gap", "attention", "time", "max")


@dataclass(frozen=True)
class ModelConfig:
    """Settings of one model of the family.

    Attributes:
        architecture: a name in `ARCHITECTURES` (stage widths).
        alpha: width multiplier; every channel count is scaled and rounded up to a multiple of 8.
        depth_multiplier: blocks per stage (the first one downsamples by 2).
        embeddings_size: channels of the 1x1 conv before pooling (the embedding a linear
            probe reuses); rounded up to a multiple of 8.
        se: squeeze-and-excite after each block's depthwise conv.
        se_reduction: SE bottleneck ratio.
        inverted_residual: MobileNetV2 blocks (expand, depthwise, project) instead of
            depthwise-separable ones.
        expansion: expansion factor of the inverted-residual blocks.
        pooling: ``gap`` (global average), ``attention`` (sigmoid-gated average) or ``time``
            (average over time only, frequency positions kept and flattened) or ``max``
            (global maximum as one max-pool window: short calls are not averaged away).
        dropout: dropout before the head.
        mag_scale: magnitude scaling after the frontend: ``pwl`` (learned piecewise-linear
            compression), ``pcen`` (PCEN-like background subtraction + compression), ``db``
            (log; falls back to the MCU on the N6) or ``none``.
        mel_trainable: for the ``hybrid`` frontend, let the mel mixer (a matrix over frequency initialised
            from Slaney mel weights) train.
        l2: L2 penalty on conv kernels (0 disables).
    """

    architecture: str = "dscnn"
    alpha: float = 1.0
    depth_multiplier: int = 1
    embeddings_size: int = 256
    se: bool = False
    se_reduction: int = 4
    inverted_residual: bool = False
    expansion: int = 4
    pooling: str = "gap"
    dropout: float = 0.3
    mag_scale: str = "pwl"
    mel_trainable: bool = False
    l2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("depth_multiplier", "embeddings_size", "se_reduction", "expansion"):
            if not is_int(getattr(self, name)):
                raise ConfigError(f"model {name} must be an integer; got {getattr(self, name)!r}")
        for name in ("alpha", "dropout", "l2"):
            if not is_number(getattr(self, name)):
                raise ConfigError(f"model {name} must be a number; got {getattr(self, name)!r}")
        checks = [
            (self.architecture in ARCHITECTURES, "architecture", self.architecture, f"one of {sorted(ARCHITECTURES)}"),
            (0.1 <= self.alpha <= 4.0, "alpha", self.alpha, "a width multiplier in [0.1, 4]"),
            (1 <= self.depth_multiplier <= 8, "depth_multiplier", self.depth_multiplier, "an integer in [1, 8]"),
            (8 <= self.embeddings_size <= 4096, "embeddings_size", self.embeddings_size, "an integer in [8, 4096]"),
            (1 <= self.se_reduction <= 64, "se_reduction", self.se_reduction, "an integer in [1, 64]"),
            (1 <= self.expansion <= 8, "expansion", self.expansion, "an integer in [1, 8]"),
            (self.pooling in POOLINGS, "pooling", self.pooling, f"one of {list(POOLINGS)}"),
            (0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a rate in [0, 1)"),
            (self.mag_scale in MAG_SCALES, "mag_scale", self.mag_scale, f"one of {list(MAG_SCALES)}"),
            (self.l2 >= 0.0, "l2", self.l2, "a penalty >= 0"),
        ]
        for ok, name, value, allowed in checks:
            if not ok:
                raise ConfigError(f"model {name} must be {allowed}; got {value!r}")

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def round_channels(channels: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (never below it, never 10% under)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded
