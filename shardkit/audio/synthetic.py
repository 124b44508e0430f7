"""The synthetic demo corpus: bird-like calls planted at known offsets in long noisy recordings.

Calls of three kinds (``chirp``, ``trill``, ``whistle``) are planted at known offsets and at a
known in-band SNR into stationary coloured background noise; ``noise`` files hold background
only. Everything is written as 16-bit FLAC in the shardkit input-tree layout
``ROOT/<class>/<class>_<index:03d>.flac``, with the ground truth in ``ROOT/truth.json``.

SNR definition (used for planting and recorded in :class:`PlantedCall`): take the rFFT of the
clean call over its own length; its *band* is the contiguous run of bins holding the central
95 % of its energy, from the 2.5 % to the 97.5 % point of its cumulative energy spectrum
(:func:`energy_band_mask`). The SNR is the ratio, in dB, of the call's mean power in that
band to the mean power in the same band of the background segment the call lands on
(:func:`in_band_power`). Because the background is pink-ish (most power below 1 kHz) and the
calls sit at 1.5-8 kHz, a call planted at 0 dB in-band SNR is far below the background in
broadband terms: a salience detector has to look at the right band to find it.

The synthesis functions are pure (arrays out, generator passed in); only
:func:`make_demo_corpus` touches the file system.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

from shardkit.errors import ConfigError
from shardkit.jsonio import dumps

logger = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("chirp", "trill", "whistle")
NOISE_CLASS = "noise"

BAND_ENERGY_FRACTION = 0.95
BACKGROUND_LEVEL_DBFS = (-34.0, -26.0)  # per-file background RMS level, drawn uniformly
MAX_PEAK = 0.9  # the written mix never exceeds this peak
MIN_CALL_GAP_S = 1.0  # silence (background only) between two calls
EDGE_MARGIN_S = 0.5  # no call starts or ends closer than this to a file edge
MAX_CALL_DURATION_S = 1.5  # longest call any synth function returns
MIN_SAMPLE_RATE_HZ = 16000
_MAX_FREQ_FRACTION = 0.45  # keep every synthesised partial below 0.45 * sample rate


@dataclass(frozen=True)
class PlantedCall:
    """One call planted in a demo recording (a row of ``truth.json``).

    Attributes:
        source: Path of the recording relative to ROOT, POSIX style, e.g. ``chirp/chirp_003.flac``.
        label: Class name of the call.
        offset_s: Start of the call in the recording, in seconds.
        duration_s: Length of the call, in seconds.
        snr_db: In-band SNR the call was planted at (see the module docstring).
    """

    source: str
    label: str
    offset_s: float
    duration_s: float
    snr_db: float


_INT_TYPES = (int, np.integer)
_NUMBER_TYPES = (int, float, np.integer, np.floating)


def _is_number(value: object, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool) and bool(np.isfinite(value))


def _check_int(name: str, value: object, minimum: int) -> None:
    if not (_is_number(value, _INT_TYPES) and value >= minimum):
        raise ConfigError(f"DemoCorpusConfig.{name} must be an integer >= {minimum}; got {value!r}")


def _check_pair(name: str, value: object, types: tuple[type, ...], minimum: float | None) -> None:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_number(v, types) for v in value)
        and (minimum is None or minimum <= value[0])
        and value[0] <= value[1]
    )
    if not ok:
        kind = "integers" if types is _INT_TYPES else "finite numbers"
        bound = "low <= high" if minimum is None else f"{minimum} <= low <= high"
        raise ConfigError(f"DemoCorpusConfig.{name} must be a pair (low, high) of {kind} with {bound}; got {value!r}")


@dataclass(frozen=True)
class DemoCorpusConfig:
    """Settings of the demo corpus generator.

    Attributes:
        files_per_class: Recordings written for each of :data:`DEMO_CLASSES`.
        noise_files: Background-only recordings written under :data:`NOISE_CLASS`.
        min_duration_s: Shortest recording; durations are drawn uniformly in
            ``[min_duration_s, max_duration_s]``.
        max_duration_s: Longest recording.
        sample_rate_hz: Sample rate of the written FLAC files.
        calls_per_file: Inclusive range of the number of calls planted per positive file.
        snr_db: Range the in-band SNR of each call is drawn from (uniformly).
        seed: Root seed; file ``i`` of class ``c`` uses ``default_rng([seed, c, i])``.

    Raises:
        ConfigError: a setting out of range, naming the field and the value.
    """

    files_per_class: int = 8
    noise_files: int = 6
    min_duration_s: float = 20.0
    max_duration_s: float = 45.0
    sample_rate_hz: int = 32000
    calls_per_file: tuple[int, int] = (1, 3)
    snr_db: tuple[float, float] = (0.0, 12.0)
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("files_per_class", self.files_per_class, 1)
        _check_int("noise_files", self.noise_files, 0)
        _check_int("sample_rate_hz", self.sample_rate_hz, MIN_SAMPLE_RATE_HZ)
        _check_int("seed", self.seed, 0)
        _check_pair("calls_per_file", self.calls_per_file, _INT_TYPES, 1)
        _check_pair("snr_db", self.snr_db, _NUMBER_TYPES, None)
        shortest_s = _shortest_recording_s(self.calls_per_file[1])
        for name in ("min_duration_s", "max_duration_s"):
            value = getattr(self, name)
            if not (_is_number(value, _NUMBER_TYPES) and value >= shortest_s):
                raise ConfigError(f"DemoCorpusConfig.{name} must be a number >= {shortest_s} s (room for {self.calls_per_file[1]} calls); got {value!r}")
        if self.max_duration_s < self.min_duration_s:
            raise ConfigError(f"DemoCorpusConfig.max_duration_s must be >= min_duration_s ({self.min_duration_s!r}); got {self.max_duration_s!r}")


def _shortest_recording_s(max_calls: int) -> float:
    """Shortest recording that always has room for ``max_calls`` calls of the longest kind."""
    return 2 * EDGE_MARGIN_S + max_calls * MAX_CALL_DURATION_S + (max_calls - 1) * MIN_CALL_GAP_S


# --------------------------------------------------------------------------------------------
# Call synthesis (pure)
# --------------------------------------------------------------------------------------------


def _raised_cosine_envelope(n_samples: int, taper_fraction: float) -> np.ndarray:
    """Tukey envelope: 0 at both ends, raised-cosine ramps over ``taper_fraction`` of the length."""
    t = np.linspace(0.0, 1.0, n_samples)
    ramp = max(taper_fraction / 2.0, 1e-9)
    env = np.ones(n_samples)
    rise, fall = t < ramp, t > 1.0 - ramp
    env[rise] = 0.5 * (1.0 - np.cos(np.pi * t[rise] / ramp))
    env[fall] = 0.5 * (1.0 - np.cos(np.pi * (1.0 - t[fall]) / ramp))
    return env


def _finish(signal: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Apply the envelope, peak-normalise to 1 and return float32."""
    shaped = signal * envelope
    return (shaped / np.max(np.abs(shaped))).astype(np.float32)


def _n_samples(duration_s: float, sample_rate_hz: int) -> int:
    return int(round(duration_s * sample_rate_hz))


def synth_chirp(rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Synthesise a frequency sweep (up or down) inside 2-8 kHz.

    Args:
        rng: Source of all random choices.
        sample_rate_hz: Sample rate of the returned signal (>= 16000; partials are kept below
            0.45 * sample_rate_hz).

    Returns:
        float32 mono signal, 0.2-0.8 s long, peak 1, raised-cosine envelope (0 at both ends).
        The sweep is exponential between two frequencies at least 1 kHz apart in 2-8 kHz.
    """
    top_hz = min(8000.0, _MAX_FREQ_FRACTION * sample_rate_hz)
    low_hz = rng.uniform(2000.0, top_hz - 1000.0)
    high_hz = rng.uniform(low_hz + 1000.0, top_hz)
    start_hz, end_hz = (low_hz, high_hz) if rng.random() < 0.5 else (high_hz, low_hz)
    n = _n_samples(rng.uniform(0.2, 0.8), sample_rate_hz)
    freq_hz = start_hz * (end_hz / start_hz) ** np.linspace(0.0, 1.0, n)
    phase = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * np.cumsum(freq_hz) / sample_rate_hz
    return _finish(np.sin(phase), _raised_cosine_envelope(n, rng.uniform(0.4, 1.0)))


def synth_trill(rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Synthesise a trill: a rapid train of short tone pulses.

    Args:
        rng: Source of all random choices.
        sample_rate_hz: Sample rate of the returned signal (>= 16000).

    Returns:
        float32 mono signal, 0.5-1.5 s long, peak 1, 0 at both ends: 10-25 pulses/s, each a
        Hann-shaped burst of a 3-7 kHz carrier (with a slight downward glide within the pulse).
    """
    carrier_hz = rng.uniform(3000.0, 7000.0)
    pulses_per_s = rng.uniform(10.0, 25.0)
    duty = rng.uniform(0.3, 0.6)
    n = _n_samples(rng.uniform(0.5, 1.5), sample_rate_hz)
    t_s = np.arange(n) / sample_rate_hz
    cycle = np.mod(t_s * pulses_per_s, 1.0)  # position within the current pulse period, 0..1
    in_pulse = cycle < duty
    pulses = np.where(in_pulse, np.sin(np.pi * cycle / duty) ** 2, 0.0)
    freq_hz = carrier_hz * (1.0 + 0.03 * (0.5 - np.minimum(cycle / duty, 1.0)))
    phase = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * np.cumsum(freq_hz) / sample_rate_hz
    return _finish(np.sin(phase) * pulses, _raised_cosine_envelope(n, 0.2))


def synth_whistle(rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Synthesise a harmonic whistle with slow vibrato.

    Args:
        rng: Source of all random choices.
        sample_rate_hz: Sample rate of the returned signal (>= 16000).

    Returns:
        float32 mono signal, 0.4-1.2 s long, peak 1, raised-cosine envelope: a 1.5-4 kHz
        fundamental plus 2-3 harmonics (amplitude ratio 0.15-0.45 per step, those above
        0.45 * sample_rate_hz dropped) with 3-8 Hz vibrato of 1-3 % depth. The fundamental
        carries most of the energy.
    """
    f0_hz = rng.uniform(1500.0, 4000.0)
    n_harmonics = int(rng.integers(2, 4))
    ratio = rng.uniform(0.15, 0.45)
    vibrato_hz = rng.uniform(3.0, 8.0)
    depth = rng.uniform(0.01, 0.03)
    n = _n_samples(rng.uniform(0.4, 1.2), sample_rate_hz)
    t_s = np.arange(n) / sample_rate_hz
    f_hz = f0_hz * (1.0 + depth * np.sin(2 * np.pi * vibrato_hz * t_s + rng.uniform(0, 2 * np.pi)))
    base_phase = 2 * np.pi * np.cumsum(f_hz) / sample_rate_hz
    signal = np.zeros(n)
    for k in range(1, n_harmonics + 2):
        if k * f0_hz * (1.0 + depth) >= _MAX_FREQ_FRACTION * sample_rate_hz:
            break
        signal += ratio ** (k - 1) * np.sin(k * base_phase + rng.uniform(0.0, 2 * np.pi))
    return _finish(signal, _raised_cosine_envelope(n, rng.uniform(0.3, 0.6)))


CALL_SYNTHS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "chirp": synth_chirp,
    "trill": synth_trill,
    "whistle": synth_whistle,
}


# --------------------------------------------------------------------------------------------
# Background and mixing (pure)
# --------------------------------------------------------------------------------------------


def _fast_fft_length(n: int) -> int:
    """Smallest 5-smooth integer (2**a * 3**b * 5**c) >= ``n``: pocketfft is fast at those."""
    best = 1 << max(n - 1, 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best, p35 = min(best, m), p35 * 3
        p5 *= 5
    return best


def background_noise(rng: np.random.Generator, n_samples: int, sample_rate_hz: int) -> np.ndarray:
    """Stationary coloured noise with unit RMS, optionally with low mains hum.

    The power spectrum is ``f**-alpha`` (alpha drawn in 0.6-1.6, flat below 20 Hz, no DC) plus a
    faint white floor 25-45 dB down; half the time a 50 or 60 Hz hum with 4 harmonics is added
    6-20 dB below the noise. Synthesised in the frequency domain (one inverse FFT), then cropped.

    Args:
        rng: Source of all random choices.
        n_samples: Length of the returned signal.
        sample_rate_hz: Sample rate the spectrum shape refers to.

    Returns:
        float64 signal of ``n_samples`` samples with RMS 1.
    """
    n_fft = _fast_fft_length(n_samples)
    freq_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz).astype(np.float32)
    alpha = rng.uniform(0.6, 1.6)
    floor = 10.0 ** (-rng.uniform(25.0, 45.0) / 10.0)
    amplitude = np.exp(np.float32(-alpha / 2) * np.log(np.maximum(freq_hz, np.float32(20.0))))
    amplitude = amplitude / np.sqrt(np.mean(amplitude**2)) + np.float32(np.sqrt(floor))
    amplitude[0] = 0.0
    n_bins = len(freq_hz)
    spectrum = np.empty(n_bins, dtype=np.complex64)
    spectrum.real = rng.standard_normal(n_bins, dtype=np.float32)
    spectrum.imag = rng.standard_normal(n_bins, dtype=np.float32)
    spectrum *= amplitude
    if rng.random() < 0.5:
        mains_hz = 50.0 if rng.random() < 0.5 else 60.0
        noise_power = 2.0 * float(np.sum(np.abs(spectrum) ** 2)) / n_fft**2
        hum_power = noise_power * 10.0 ** (-rng.uniform(6.0, 20.0) / 10.0)
        weights = 0.5 ** np.arange(4)
        scale = np.sqrt(2.0 * hum_power / np.sum(weights**2))  # sum of a**2 / 2 == hum_power
        for harmonic, weight in enumerate(weights, start=1):
            k = int(round(harmonic * mains_hz * n_fft / sample_rate_hz))
            spectrum[k] += scale * weight * n_fft / 2 * np.exp(1j * rng.uniform(0.0, 2 * np.pi))
    noise = np.fft.irfft(spectrum, n_fft)[:n_samples].astype(np.float64)
    return noise / np.sqrt(np.mean(noise**2))


def energy_band_mask(signal: np.ndarray, energy_fraction: float = BAND_ENERGY_FRACTION) -> np.ndarray:
    """Boolean mask over ``rfft`` bins: the contiguous band holding the central share of energy.

    The band runs from the bin where the cumulative energy spectrum reaches
    ``(1 - energy_fraction) / 2`` of the total to the bin where it reaches
    ``(1 + energy_fraction) / 2``, so it holds at least ``energy_fraction`` of the energy. A
    contiguous band (rather than the strongest bins wherever they lie) keeps the measurement
    stable for line-like spectra such as trills and whistles.

    Args:
        signal: 1-D signal (typically a clean call).
        energy_fraction: Share of the total energy the band must hold, in (0, 1].

    Returns:
        Boolean array of length ``len(signal) // 2 + 1``.
    """
    cumulative = np.cumsum(np.abs(np.fft.rfft(np.asarray(signal, dtype=np.float64))) ** 2)
    tail = (1.0 - energy_fraction) / 2.0 * cumulative[-1]
    low = int(np.searchsorted(cumulative, tail, side="right"))
    high = int(np.searchsorted(cumulative, cumulative[-1] - tail, side="left"))
    mask = np.zeros(len(cumulative), dtype=bool)
    mask[low : high + 1] = True
    return mask


def in_band_power(segment: np.ndarray, mask: np.ndarray) -> float:
    """Mean power of ``segment`` restricted to the ``rfft`` bins selected by ``mask``.

    Scaled so that an all-true mask gives ``mean(segment**2)`` (Parseval).

    Args:
        segment: 1-D signal; ``mask`` must have ``len(segment) // 2 + 1`` entries.
        mask: Boolean bin mask, e.g. from :func:`energy_band_mask`.

    Returns:
        Mean in-band power (linear units).
    """
    n = len(segment)
    energy = np.abs(np.fft.rfft(np.asarray(segment, dtype=np.float64))) ** 2
    weight = np.full(len(energy), 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    return float(np.sum((weight * energy)[mask]) / n**2)


def plant_calls(
    background: np.ndarray,
    calls: Sequence[np.ndarray],
    offsets_samples: Sequence[int],
    snr_db: Sequence[float] | float,
) -> np.ndarray:
    """Mix calls into a background, each scaled to a given in-band SNR.

    Each call is scaled so that its mean power in its own central-95 %-energy band equals
    ``10**(snr_db / 10)`` times the background's power in that band over the samples it covers.
    The background is not rescaled.

    Args:
        background: 1-D background signal.
        calls: Clean call signals.
        offsets_samples: Start sample of each call in ``background``.
        snr_db: In-band SNR for each call, or one value for all.

    Returns:
        New float64 array, ``background`` plus the scaled calls.

    Raises:
        ValueError: If the argument lengths disagree or a call does not fit in the background.
    """
    snrs = np.broadcast_to(np.asarray(snr_db, dtype=np.float64), (len(calls),))
    if len(offsets_samples) != len(calls):
        raise ValueError(f"offsets_samples must have one entry per call ({len(calls)}); got {len(offsets_samples)}")
    mix = np.array(background, dtype=np.float64)
    for call, offset, snr in zip(calls, offsets_samples, snrs, strict=True):
        if offset < 0 or offset + len(call) > len(background):
            raise ValueError(f"offsets_samples entry {offset!r} puts a {len(call)}-sample call outside the {len(background)}-sample background")
        call = np.asarray(call, dtype=np.float64)
        mask = energy_band_mask(call)
        segment = background[offset : offset + len(call)]
        power_ratio = in_band_power(segment, mask) / in_band_power(call, mask)
        gain = np.sqrt(10.0 ** (snr / 10.0) * power_ratio)
        mix[offset : offset + len(call)] += gain * call
    return mix


# --------------------------------------------------------------------------------------------
# Recordings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DemoRecording:
    """One synthesised recording before it is written.

    Attributes:
        audio: float32 mix exactly as written (peak <= 0.9).
        calls: Clean calls (peak 1) in planting order.
        offsets_samples: Start sample of each call.
        snr_db: In-band SNR each call was planted at.
    """

    audio: np.ndarray
    calls: tuple[np.ndarray, ...]
    offsets_samples: tuple[int, ...]
    snr_db: tuple[float, ...]


def file_rng(seed: int, class_index: int, file_index: int) -> np.random.Generator:
    """Generator for one file; ``class_index`` indexes ``DEMO_CLASSES + (NOISE_CLASS,)``."""
    return np.random.default_rng([seed, class_index, file_index])


def draw_offsets(
    rng: np.random.Generator,
    n_total: int,
    lengths: Sequence[int],
    sample_rate_hz: int,
    *,
    edge_s: float = EDGE_MARGIN_S,
    gap_s: float = MIN_CALL_GAP_S,
    what: str = "calls",
) -> list[int]:
    """Uniformly random non-overlapping offsets (in the given order) honouring an edge margin and a gap.

    Raises:
        ValueError: the ``what`` of ``lengths`` samples do not fit in ``n_total``.
    """
    edge, gap = round(edge_s * sample_rate_hz), round(gap_s * sample_rate_hz)
    slack = n_total - 2 * edge - sum(lengths) - gap * (len(lengths) - 1)
    if slack < 0:
        raise ValueError(f"no room for {what} of {list(lengths)} samples in {n_total} samples")
    starts = np.sort(rng.integers(0, slack + 1, size=len(lengths)))
    offsets, used = [], edge
    for start, length in zip(starts, lengths, strict=True):
        offsets.append(int(used + start))
        used += length + gap
    return offsets


def synth_recording(rng: np.random.Generator, label: str, config: DemoCorpusConfig) -> DemoRecording:
    """Synthesise one recording of class ``label`` (a demo class or :data:`NOISE_CLASS`).

    Args:
        rng: Source of all random choices (see :func:`file_rng`).
        label: One of :data:`DEMO_CLASSES` or :data:`NOISE_CLASS` (background only).
        config: Corpus settings (duration range, sample rate, calls per file, SNR range).

    Returns:
        The mix and what was planted in it.
    """
    sr = config.sample_rate_hz
    n_total = int(np.floor(rng.uniform(config.min_duration_s, config.max_duration_s) * sr))
    n_total = max(n_total, int(np.ceil(config.min_duration_s * sr)))
    level = 10.0 ** (rng.uniform(*BACKGROUND_LEVEL_DBFS) / 20.0)
    mix = level * background_noise(rng, n_total, sr)
    calls: tuple[np.ndarray, ...] = ()
    offsets: list[int] = []
    snrs: tuple[float, ...] = ()
    if label != NOISE_CLASS:
        n_calls = int(rng.integers(config.calls_per_file[0], config.calls_per_file[1] + 1))
        calls = tuple(CALL_SYNTHS[label](rng, sr) for _ in range(n_calls))
        snrs = tuple(float(s) for s in rng.uniform(*config.snr_db, size=n_calls))
        offsets = draw_offsets(rng, n_total, [len(c) for c in calls], sr)
        mix = plant_calls(mix, calls, offsets, snrs)
    peak = float(np.max(np.abs(mix)))
    if peak > MAX_PEAK:
        mix *= MAX_PEAK / peak
    return DemoRecording(mix.astype(np.float32), calls, tuple(offsets), snrs)


def _write_recording(root: Path, label: str, class_index: int, file_index: int, config: DemoCorpusConfig) -> list[PlantedCall]:
    """Synthesise and write one recording; return its planted calls in time order."""
    sr = config.sample_rate_hz
    source = f"{label}/{label}_{file_index:03d}.flac"
    recording = synth_recording(file_rng(config.seed, class_index, file_index), label, config)
    soundfile.write(root / source, recording.audio, sr, subtype="PCM_16")
    return [
        PlantedCall(source, label, offset / sr, len(call) / sr, snr)
        for call, offset, snr in zip(recording.calls, recording.offsets_samples, recording.snr_db, strict=True)
    ]


#: the corpus a pipeline with ``demo_corpus = true`` generates (the demo's): enough recordings
#: per class for a held-out split of whole recordings
DEMO_CORPUS = DemoCorpusConfig(files_per_class=60, noise_files=20)


def make_demo_corpus(root: str | os.PathLike, config: DemoCorpusConfig = DemoCorpusConfig()) -> list[PlantedCall]:
    """Write the demo corpus under ``root`` and return its ground truth.

    Writes ``root/<class>/<class>_<index:03d>.flac`` (16-bit FLAC, mono) for every class in
    :data:`DEMO_CLASSES` and :data:`NOISE_CLASS`, then ``root/truth.json`` (a JSON list of
    :class:`PlantedCall` dicts) last, atomically. Files are generated on a few threads, each
    from its own generator (:func:`file_rng`), so the same config gives byte-identical files.
    Existing files of the same names are overwritten. ``root`` must be a local path.

    Args:
        root: Output folder (created if missing).
        config: Corpus settings.

    Returns:
        Every planted call, ordered by class, then file, then time.
    """
    root = Path(root)
    counts = (config.files_per_class,) * len(DEMO_CLASSES) + (config.noise_files,)
    jobs = [
        (label, class_index, file_index)
        for class_index, (label, n_files) in enumerate(zip((*DEMO_CLASSES, NOISE_CLASS), counts, strict=True))
        for file_index in range(n_files)
    ]
    for label in sorted({label for label, _, _ in jobs}):
        (root / label).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        per_file = pool.map(lambda job: _write_recording(root, *job, config), jobs)
        truth = [call for calls in per_file for call in calls]
    tmp_path = root / "truth.json.tmp"
    tmp_path.write_text(dumps([asdict(c) for c in truth], indent=2) + "\n")
    os.replace(tmp_path, root / "truth.json")
    logger.info("wrote demo corpus to %s: %d files, %d planted calls", root, len(jobs), len(truth))
    return truth


__all__ = [
    "CALL_SYNTHS",
    "DEMO_CLASSES",
    "DEMO_CORPUS",
    "NOISE_CLASS",
    "DemoCorpusConfig",
    "DemoRecording",
    "PlantedCall",
    "background_noise",
    "energy_band_mask",
    "file_rng",
    "in_band_power",
    "make_demo_corpus",
    "plant_calls",
    "synth_chirp",
    "synth_recording",
    "synth_trill",
    "synth_whistle",
]
