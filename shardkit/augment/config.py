"""Augmentation settings (waveform, mixup, SpecAugment): plain validated dataclasses, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

from shardkit.checks import DictConfig, check, integer, non_empty_subset, number, ordered_pair, positive, probability

#: slope of the power spectral density of each noise colour, in dB per octave
NOISE_SLOPES_DB_PER_OCTAVE: dict[str, float] = {"white": 0.0, "pink": -3.0, "brown": -6.0, "blue": 3.0, "violet": 6.0}

PROBABILITY = "a probability in [0, 1]"
RANGE = "a pair (lo, hi) of finite numbers with lo <= hi"


@dataclass(frozen=True)
class WaveAugmentConfig(DictConfig):
    """Settings of `augment_waveforms`; each ``*_prob`` is the fraction of rows the step touches.

    Attributes:
        gain_prob: probability of a random gain.
        gain_db: gain range in dB, drawn uniformly.
        noise_prob: probability of adding coloured noise.
        noise_colours: colours to pick from (uniformly per row); keys of `NOISE_SLOPES_DB_PER_OCTAVE`.
        noise_snr_db: SNR range of the added noise in dB (signal power over noise power).
        shift_prob: probability of a time shift.
        shift_max_s: largest shift either way, in seconds (vacated samples become zeros).
        background_prob: probability of mixing in the row of the background batch.
        background_snr_db: SNR range of the background in dB.
        sample_rate_hz: sample rate of the waveforms (turns ``shift_max_s`` into samples).
    """

    gain_prob: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 6.0)
    noise_prob: float = 0.3
    noise_colours: tuple[str, ...] = ("white", "pink", "brown", "blue", "violet")
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    shift_prob: float = 0.5
    shift_max_s: float = 0.5
    background_prob: float = 0.3
    background_snr_db: tuple[float, float] = (0.0, 20.0)
    sample_rate_hz: int = 24000

    def __post_init__(self) -> None:
        check(
            "wave augment",
            [
                *((name, getattr(self, name), probability, PROBABILITY) for name in ("gain_prob", "noise_prob", "shift_prob", "background_prob")),
                *((name, getattr(self, name), ordered_pair(), RANGE) for name in ("gain_db", "noise_snr_db", "background_snr_db")),
                (
                    "noise_colours",
                    self.noise_colours,
                    non_empty_subset(NOISE_SLOPES_DB_PER_OCTAVE),
                    f"a non-empty list of {sorted(NOISE_SLOPES_DB_PER_OCTAVE)}",
                ),
                ("shift_max_s", self.shift_max_s, number(0.0), "a finite number of seconds >= 0"),
                ("sample_rate_hz", self.sample_rate_hz, integer(1), "a positive integer"),
            ],
        )
        for name in ("gain_db", "noise_snr_db", "background_snr_db"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        object.__setattr__(self, "noise_colours", tuple(self.noise_colours))

    @property
    def shift_max_samples(self) -> int:
        """Largest shift either way, in samples."""
        return int(round(self.shift_max_s * self.sample_rate_hz))

    CONFIG_NAME = "wave augment config"


@dataclass(frozen=True)
class MixupConfig(DictConfig):
    """Settings of `mixup`.

    Attributes:
        prob: fraction of rows that are mixed.
        max_sources: most sources in one mixed row (the row itself plus 1 or 2 others); each
            mixed row draws its count uniformly in ``[2, max_sources]``.
        alpha: Dirichlet concentration of the mixing weights (1 = uniform on the simplex).
    """

    prob: float = 0.5
    max_sources: int = 3
    alpha: float = 1.0

    def __post_init__(self) -> None:
        check(
            "mixup",
            [
                ("prob", self.prob, probability, PROBABILITY),
                ("max_sources", self.max_sources, integer(2, 3), "an integer in [2, 3]"),
                ("alpha", self.alpha, positive, "a finite number > 0"),
            ],
        )

    CONFIG_NAME = "mixup config"


@dataclass(frozen=True)
class SpecAugmentConfig(DictConfig):
    """Settings of `spec_augment`.

    Attributes:
        freq_masks: frequency masks per spectrogram (full-width stripes of rows).
        freq_mask_max: widest frequency mask, in rows (width uniform in ``[0, max]``).
        time_masks: time masks per spectrogram (full-height stripes of frames).
        time_mask_max: widest time mask, in frames.
        mask_value: value written into masked cells.
    """

    freq_masks: int = 2
    freq_mask_max: int = 16
    time_masks: int = 2
    time_mask_max: int = 24
    mask_value: float = 0.0

    def __post_init__(self) -> None:
        check(
            "spec augment",
            [
                *((name, getattr(self, name), integer(0), "an integer >= 0") for name in ("freq_masks", "freq_mask_max", "time_masks", "time_mask_max")),
                ("mask_value", self.mask_value, number(), "a finite number"),
            ],
        )

    CONFIG_NAME = "spec augment config"
