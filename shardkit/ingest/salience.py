"""Pick salient segments in a recording: pure signal processing, arrays in, segments out.

The detector looks for sound that stands out from a stationary background, per frequency
band: band powers are smoothed over time, divided by each band's noise floor (its median
over the whole file) and the frame score is the largest excess in dB. A quiet, narrow-band
call under broadband noise therefore scores high even when it barely moves the broadband
energy, while the noise alone stays near 0 dB whatever its level or colour.

Segments are peak-centred, non-overlapping and ranked by score. Frames below
``threshold_db`` never start a segment; a file with no such frame yields its centre chunk
(or the whole file when it is shorter than one chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shardkit.checks import DictConfig, check, number, positive
from shardkit.errors import ConfigError

#: upper bound on the number of analysis bands (keeps features at ~45 MB per hour of audio)
MAX_BANDS = 64


@dataclass(frozen=True)
class SalienceConfig(DictConfig):
    """Settings of the salient-segment detector.

    Attributes:
        threshold_db: band power above its noise floor needed to start a segment.
        fmin_hz: lowest frequency analysed (wind and hum live below).
        frame_s: analysis frame length (rounded up to a power of two in samples).
        smooth_s: moving-average length applied to band powers before scoring.
        context_s: in variable-length mode, padding added around the active region.
    """

    threshold_db: float = 6.0
    fmin_hz: float = 150.0
    frame_s: float = 0.02
    smooth_s: float = 0.2
    context_s: float = 0.25

    def __post_init__(self) -> None:
        check(
            "salience",
            [
                *((name, getattr(self, name), positive, "a positive number") for name in ("threshold_db", "fmin_hz", "frame_s", "smooth_s")),
                ("context_s", self.context_s, number(0.0), ">= 0"),
            ],
            separator=", ",
        )

    CONFIG_NAME = "salience config"


@dataclass(frozen=True)
class Segment:
    """A chosen segment of a recording.

    Attributes:
        start_s: offset of the segment in the recording.
        duration_s: segment length.
        score_db: detector score at the segment's peak (dB above the noise floor).
        peak_s: time of the peak the segment is centred on.
        rank: 0 for the best segment of the file.
        picked_by: ``"salience"``, ``"centre"`` (nothing salient) or ``"whole"`` (short file).
    """

    start_s: float
    duration_s: float
    score_db: float
    peak_s: float
    rank: int
    picked_by: str

    @property
    def end_s(self) -> float:
        """End of the segment in seconds."""
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class FrameLayout:
    """How a signal at one sample rate is cut into analysis frames and bands."""

    n_fft: int
    band_slices: tuple[tuple[int, int], ...]

    @classmethod
    def for_rate(cls, sample_rate_hz: int, max_freq_hz: float, config: SalienceConfig) -> FrameLayout:
        """Frames of about ``frame_s``; bands of whole FFT bins between fmin and ``max_freq_hz``."""
        n_fft = 1 << max(5, int(np.ceil(np.log2(config.frame_s * sample_rate_hz))))
        bin_hz = sample_rate_hz / n_fft
        lo = max(1, int(np.ceil(config.fmin_hz / bin_hz)))
        hi = min(n_fft // 2, int(np.floor(min(max_freq_hz, sample_rate_hz / 2) / bin_hz)))
        hi = max(hi, lo + 1)
        width = max(1, int(np.ceil((hi - lo) / MAX_BANDS)))
        slices = tuple((start, min(start + width, hi)) for start in range(lo, hi, width))
        return cls(n_fft=n_fft, band_slices=slices)

    @property
    def band_edges(self) -> np.ndarray:
        """Start bin of every band plus the end bin of the last one."""
        return np.array([s for s, _ in self.band_slices] + [self.band_slices[-1][1]])


class BandPowerAccumulator:
    """Streams blocks of samples into per-frame band powers, keeping only the features.

    Memory is ``frames x bands`` float32 (about 45 MB per hour at 48 kHz), never the audio.
    """

    def __init__(self, layout: FrameLayout) -> None:
        self.layout = layout
        # float64 frames take numpy's fastest FFT path; a 0/1 matrix sums bins into bands
        self._window = np.hanning(layout.n_fft + 1)[:-1]
        self._carry = np.zeros(0, dtype=np.float32)
        self._parts: list[np.ndarray] = []
        edges = layout.band_edges
        self._lo, self._hi = int(edges[0]), int(edges[-1])
        self._band_matrix = np.zeros((self._hi - self._lo, len(edges) - 1))
        for band, (start, stop) in enumerate(layout.band_slices):
            self._band_matrix[start - self._lo : stop - self._lo, band] = 1.0

    def add(self, block: np.ndarray) -> None:
        """Append a block of mono samples."""
        data = np.concatenate([self._carry, block]) if len(self._carry) else block
        n_fft = self.layout.n_fft
        n_frames = len(data) // n_fft
        self._carry = data[n_frames * n_fft :].copy()
        if n_frames:
            frames = data[: n_frames * n_fft].reshape(n_frames, n_fft) * self._window
            spectrum = np.fft.rfft(frames, axis=1)[:, self._lo : self._hi]
            power = spectrum.real**2 + spectrum.imag**2
            self._parts.append((power @ self._band_matrix).astype(np.float32))

    def result(self) -> np.ndarray:
        """Band powers, shape ``(frames, bands)``.

        A final partial frame is dropped: zero-padding it would put a step into the frame,
        whose broadband leakage looks like an event against a steep (brown) noise floor.
        """
        if not self._parts:
            return np.zeros((0, len(self.layout.band_slices)), dtype=np.float32)
        return np.concatenate(self._parts)


def band_powers(signal: np.ndarray, layout: FrameLayout) -> np.ndarray:
    """Band powers of a whole in-memory signal (same as streaming it block by block)."""
    acc = BandPowerAccumulator(layout)
    acc.add(np.asarray(signal, dtype=np.float32))
    return acc.result()


def frame_scores(powers: np.ndarray, frame_s: float, smooth_s: float, bands_per_pass: int = 8) -> np.ndarray:
    """Per-frame salience in dB: the largest band excess over that band's noise floor.

    Bands are processed a few at a time so the float64 temporaries stay small (hour-long
    files have ~170k frames).

    Args:
        powers: ``(frames, bands)`` band powers.
        frame_s: frame duration in seconds.
        smooth_s: moving-average length over time, applied to the powers first.
        bands_per_pass: bands processed together.
    """
    n_frames = len(powers)
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    width = max(1, min(n_frames, int(round(smooth_s / frame_s))))
    lo = np.clip(np.arange(n_frames) - width // 2, 0, n_frames - width)
    tiny = np.finfo(np.float32).tiny
    best_ratio = np.zeros(n_frames, dtype=np.float64)
    for first in range(0, powers.shape[1], bands_per_pass):
        block = powers[:, first : first + bands_per_pass].astype(np.float64)
        csum = np.concatenate([np.zeros((1, block.shape[1])), np.cumsum(block, axis=0)])
        smoothed = (csum[lo + width] - csum[lo]) / width
        floor = np.median(smoothed, axis=0) + tiny
        np.maximum(best_ratio, ((smoothed + tiny) / floor).max(axis=1), out=best_ratio)
    return (10.0 * np.log10(best_ratio)).astype(np.float32)  # log of the max == max of the logs


def select_segments(
    scores: np.ndarray,
    frame_s: float,
    duration_s: float,
    *,
    max_segments: int,
    threshold_db: float,
    chunk_s: float | None = None,
    min_segment_s: float | None = None,
    max_segment_s: float | None = None,
    context_s: float = 0.25,
) -> list[Segment]:
    """Choose up to ``max_segments`` peak-centred, non-overlapping segments.

    Fixed mode (``chunk_s`` given): every segment is ``chunk_s`` long (the whole file when it
    is shorter). Variable mode (``min_segment_s``/``max_segment_s``): a segment spans the
    active region around its peak plus ``context_s``, clamped to the min/max length.

    Args:
        scores: per-frame salience in dB (from `frame_scores`).
        frame_s: frame duration; frame ``i`` is centred at ``(i + 0.5) * frame_s``.
        duration_s: duration of the recording.
        max_segments: at most this many segments.
        threshold_db: minimum peak score of a salient segment.
        chunk_s: fixed segment length.
        min_segment_s: variable mode minimum length.
        max_segment_s: variable mode maximum length.
        context_s: variable mode padding around the active region.

    Returns:
        Segments ranked by score (best first), all inside ``[0, duration_s]``, non-overlapping.
    """
    fixed = chunk_s is not None
    shortest = chunk_s if fixed else min_segment_s
    if shortest is None or (not fixed and max_segment_s is None):
        raise ConfigError("select_segments needs chunk_s, or both min_segment_s and max_segment_s")
    if duration_s <= shortest:
        return [Segment(0.0, duration_s, _peak_score(scores), _peak_time(scores, frame_s), 0, "whole")]
    available = np.ones(len(scores), dtype=bool)
    taken: list[tuple[float, float]] = []
    picked: list[Segment] = []
    while len(picked) < max_segments and available.any():
        idx = int(np.argmax(np.where(available, scores, -np.inf)))
        if scores[idx] < threshold_db:
            break
        peak_s = (idx + 0.5) * frame_s
        if fixed:
            want_start, want_len = peak_s - chunk_s / 2, chunk_s
        else:
            want_start, want_len = _active_span(scores, idx, frame_s, threshold_db, context_s, min_segment_s, max_segment_s)
        gap = _gap_around(peak_s, taken, duration_s)
        if gap[1] - gap[0] < (chunk_s if fixed else min_segment_s):
            available[_frames_in(gap, frame_s, len(scores))] = False
            continue
        start, length = _fit(want_start, min(want_len, gap[1] - gap[0]), gap)
        if fixed and length < chunk_s:  # the gap lost a millisecond to rounding
            available[_frames_in(gap, frame_s, len(scores))] = False
            continue
        taken.append((start, start + length))
        available[_frames_in((start, start + length), frame_s, len(scores))] = False
        picked.append(Segment(start, length, float(scores[idx]), peak_s, len(picked), "salience"))
    if not picked:
        length = chunk_s if fixed else min(max_segment_s, duration_s)
        centre = duration_s / 2
        start, length = _fit(centre - length / 2, length, (0.0, duration_s))
        picked.append(Segment(start, length, _peak_score(scores), centre, 0, "centre"))
    return picked


def _peak_score(scores: np.ndarray) -> float:
    return float(scores.max()) if len(scores) else 0.0


def _peak_time(scores: np.ndarray, frame_s: float) -> float:
    return (int(np.argmax(scores)) + 0.5) * frame_s if len(scores) else 0.0


def _frames_in(span: tuple[float, float], frame_s: float, n_frames: int) -> slice:
    """Frames whose centre lies inside ``span``."""
    lo = max(0, int(np.ceil(span[0] / frame_s - 0.5)))
    hi = min(n_frames, int(np.floor(span[1] / frame_s - 0.5)) + 1)
    return slice(lo, max(lo, hi))


def _gap_around(t_s: float, taken: list[tuple[float, float]], duration_s: float) -> tuple[float, float]:
    """The free interval between chosen segments (and file edges) containing ``t_s``."""
    lo, hi = 0.0, duration_s
    for start, end in taken:
        if end <= t_s:
            lo = max(lo, end)
        elif start >= t_s:
            hi = min(hi, start)
    return lo, hi


def _fit(start: float, length: float, gap: tuple[float, float]) -> tuple[float, float]:
    """Shift ``[start, start + length]`` into ``gap``, in whole milliseconds, staying inside."""
    gap_lo_ms = int(np.ceil(gap[0] * 1000 - 1e-6))
    gap_hi_ms = int(np.floor(gap[1] * 1000 + 1e-6))
    length_ms = min(round(length * 1000), gap_hi_ms - gap_lo_ms)
    start_ms = min(max(round(start * 1000), gap_lo_ms), gap_hi_ms - length_ms)
    return start_ms / 1000.0, length_ms / 1000.0


def _active_span(scores: np.ndarray, idx: int, frame_s: float, threshold_db: float, context_s: float, min_s: float, max_s: float) -> tuple[float, float]:
    """Variable mode: the region above half the threshold around peak ``idx``, padded by
    ``context_s`` and clamped to ``[min_s, max_s]`` (a long region keeps the window centred on
    its peak; a short one grows around its own centre)."""
    active = scores >= threshold_db / 2
    lo = idx
    while lo > 0 and active[lo - 1]:
        lo -= 1
    hi = idx
    while hi + 1 < len(scores) and active[hi + 1]:
        hi += 1
    start = lo * frame_s - context_s
    end = (hi + 1) * frame_s + context_s
    if end - start > max_s:
        return (idx + 0.5) * frame_s - max_s / 2, max_s
    if end - start < min_s:
        return (start + end) / 2 - min_s / 2, min_s
    return start, end - start


def segment_snr_db(powers: np.ndarray, frame_s: float, segment: Segment) -> float | None:
    """Rough SNR of a segment: its mean power over the file's noise floor, in the analysed band.

    Returns:
        The SNR in dB, or None where it is undefined: a silent segment (no power) or a
        silent noise floor (digital silence in most of the file).
    """
    if len(powers) == 0:
        return 0.0
    total = powers.sum(axis=1, dtype=np.float64)
    floor = float(np.median(total))
    span = _frames_in((segment.start_s, segment.end_s), frame_s, len(powers))
    inside = total[span]
    signal = float(inside.mean()) if len(inside) else floor
    if not (signal > 0 and floor > 0):
        return None
    return float(10.0 * np.log10(signal / floor))
