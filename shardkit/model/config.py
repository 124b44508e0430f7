"""`ModelConfig`: the DS-CNN family's settings, validated up front and saved with the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shardkit.checks import DictConfig, check, integer, number, one_of
from shardkit.errors import is_int, is_number

if TYPE_CHECKING:
    from shardkit.audio.frontends import FrontendConfig


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
class ModelConfig(DictConfig):
    """Settings of one model of the family.

    The defaults (``dscnn_lite``, 64 embeddings, max pooling) are the ones that learn from a
    few hundred chunks; README "Defaults" has the measurements. The wide ``dscnn`` with global
    average pooling collapsed there (every input scored alike).

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

    architecture: str = "dscnn_lite"
    alpha: float = 1.0
    depth_multiplier: int = 1
    embeddings_size: int = 64
    se: bool = False
    se_reduction: int = 4
    inverted_residual: bool = False
    expansion: int = 4
    pooling: str = "max"
    dropout: float = 0.3
    mag_scale: str = "pwl"
    mel_trainable: bool = False
    l2: float = 0.0

    def __post_init__(self) -> None:
        check(
            "model",
            [
                *((name, getattr(self, name), is_int, "an integer") for name in ("depth_multiplier", "embeddings_size", "se_reduction", "expansion")),
                *((name, getattr(self, name), is_number, "a number") for name in ("alpha", "dropout", "l2")),
                ("architecture", self.architecture, one_of(ARCHITECTURES), f"one of {sorted(ARCHITECTURES)}"),
                ("alpha", self.alpha, number(0.1, 4.0), "a width multiplier in [0.1, 4]"),
                ("depth_multiplier", self.depth_multiplier, integer(1, 8), "an integer in [1, 8]"),
                ("embeddings_size", self.embeddings_size, integer(8, 4096), "an integer in [8, 4096]"),
                ("se_reduction", self.se_reduction, integer(1, 64), "an integer in [1, 64]"),
                ("expansion", self.expansion, integer(1, 8), "an integer in [1, 8]"),
                ("pooling", self.pooling, one_of(POOLINGS), f"one of {list(POOLINGS)}"),
                ("dropout", self.dropout, number(0.0, 1.0, open_high=True), "a rate in [0, 1)"),
                ("mag_scale", self.mag_scale, one_of(MAG_SCALES), f"one of {list(MAG_SCALES)}"),
                ("l2", self.l2, number(0.0), "a penalty >= 0"),
            ],
        )

    CONFIG_NAME = "model config"


def round_channels(channels: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (never below it, never 10% under)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def variable_length_problem(frontend: FrontendConfig, config: ModelConfig) -> str | None:
    """Why this frontend and model cannot train on a free time axis, or None."""
    if frontend.name == "raw":
        return "the raw frontend's learned filterbank has no frame lengths to mask; use hybrid, mel or mfcc"
    if config.mag_scale == "pcen":
        return "mag_scale 'pcen' smooths along time, so padding would leak into the last valid frames; use pwl, db or none"
    return None
