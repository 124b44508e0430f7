"""Salient-segment selection: properties over arbitrary score curves, and detection on real signals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from factories import tone_in_noise
from hypothesis import given, settings
from hypothesis import strategies as st

from shardkit.errors import ConfigError
from shardkit.ingest.salience import (
    BandPowerAccumulator,
    FrameLayout,
    SalienceConfig,
    band_powers,
    frame_scores,
    select_segments,
)

FRAME_S = 1024 / 48000


def _scores(draw_list: list[float]) -> np.ndarray:
    return np.asarray(draw_list, dtype=np.float32)


score_curves = st.lists(st.floats(-5, 40, allow_nan=False, width=32), min_size=1, max_size=3000)


def _check_common(segments, duration_s: float, max_segments: int) -> None:
    assert 1 <= len(segments) <= max_segments
    for seg in segments:
        assert 0.0 <= seg.start_s and seg.end_s <= duration_s + 1e-9, seg
        assert abs(seg.start_s * 1000 - round(seg.start_s * 1000)) < 1e-6, "offsets are whole ms"
    spans = sorted((s.start_s, s.end_s) for s in segments)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 1e-9, f"overlap: {spans}"
    assert [s.rank for s in segments] == list(range(len(segments)))
    salient = [s.score_db for s in segments if s.picked_by == "salience"]
    assert salient == sorted(salient, reverse=True)


@settings(max_examples=200, deadline=None)
@given(scores=score_curves, max_segments=st.integers(1, 5), chunk_s=st.sampled_from([0.5, 1.0, 3.0]), threshold=st.floats(1, 20))
def test_fixed_segments_inside_non_overlapping_bounded(scores, max_segments, chunk_s, threshold):
    curve = _scores(scores)
    duration_s = len(curve) * FRAME_S
    segments = select_segments(curve, FRAME_S, duration_s, max_segments=max_segments, threshold_db=threshold, chunk_s=chunk_s)
    _check_common(segments, duration_s, max_segments)
    if duration_s <= chunk_s:
        assert [s.picked_by for s in segments] == ["whole"]
    else:
        assert all(abs(s.duration_s - chunk_s) < 1e-9 for s in segments)
    for seg in segments:
        if seg.picked_by == "salience":
            assert seg.start_s - 1e-6 <= seg.peak_s <= seg.end_s + 1e-6, "peak inside its segment"
            assert seg.score_db >= threshold


@settings(max_examples=200, deadline=None)
@given(scores=score_curves, max_segments=st.integers(1, 5), bounds=st.tuples(st.floats(0.2, 2), st.floats(0, 6)))
def test_variable_segments_respect_min_max(scores, max_segments, bounds):
    min_s, extra = bounds
    max_s = min_s + extra
    curve = _scores(scores)
    duration_s = len(curve) * FRAME_S
    segments = select_segments(curve, FRAME_S, duration_s, max_segments=max_segments, threshold_db=6, min_segment_s=min_s, max_segment_s=max_s)
    _check_common(segments, duration_s, max_segments)
    for seg in segments:
        if seg.picked_by == "whole":
            assert seg.duration_s == pytest.approx(duration_s)
        else:
            assert min(min_s, duration_s) - 1e-3 <= seg.duration_s <= max_s + 1e-3, seg


def test_peaks_ranked_and_centred():
    curve = np.zeros(2000, dtype=np.float32)
    curve[300], curve[1200], curve[1700] = 20.0, 30.0, 10.0
    segments = select_segments(curve, 0.01, 20.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert [round(s.peak_s, 3) for s in segments] == [12.005, 3.005, 17.005]
    assert segments[0].start_s == pytest.approx(12.005 - 1.5, abs=1e-3)
    assert segments[2].end_s <= 20.0  # clamped at the file end, still containing its peak


def test_neighbouring_peaks_do_not_overlap():
    curve = np.zeros(1000, dtype=np.float32)
    curve[500], curve[520] = 30.0, 25.0  # 0.2 s apart, chunks of 3 s
    segments = select_segments(curve, 0.01, 10.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert len(segments) == 1, "the second peak lies inside the first chunk"


def test_fallbacks():
    quiet = np.zeros(1000, dtype=np.float32)
    (centre,) = select_segments(quiet, 0.01, 10.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert centre.picked_by == "centre" and centre.start_s == pytest.approx(3.5)
    (whole,) = select_segments(quiet[:200], 0.01, 2.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert whole.picked_by == "whole" and whole.start_s == 0 and whole.duration_s == pytest.approx(2.0)


def _scores_of(signal: np.ndarray, sample_rate_hz: int, config: SalienceConfig = SalienceConfig()) -> tuple[np.ndarray, float]:
    layout = FrameLayout.for_rate(sample_rate_hz, 12000, config)
    frame_s = layout.n_fft / sample_rate_hz
    return frame_scores(band_powers(signal, layout), frame_s, config.smooth_s), frame_s


@pytest.mark.parametrize("noise_rms", [0.002, 0.02, 0.2])
@pytest.mark.parametrize("sample_rate_hz", [16000, 44100, 48000])
def test_quiet_calls_found_over_stationary_noise(noise_rms, sample_rate_hz):
    """Calls 15 dB below the broadband noise power are found at any noise level."""
    calls = ((4.0, 0.5, 2500.0), (13.0, 0.5, 3100.0), (21.0, 0.5, 1800.0))
    amplitude = noise_rms * np.sqrt(2) * 10 ** (-15 / 20) * 2  # Hann-windowed tone, ~ -15 dB broadband
    signal = tone_in_noise(30, sample_rate_hz, calls=calls, noise_rms=noise_rms, call_amplitude=amplitude, seed=7)
    scores, frame_s = _scores_of(signal, sample_rate_hz)
    segments = select_segments(scores, frame_s, 30.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert [s.picked_by for s in segments] == ["salience"] * 3
    for start_s, length_s, _ in calls:
        centre = start_s + length_s / 2
        assert any(s.start_s <= centre <= s.end_s for s in segments), (centre, segments)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_alone_stays_below_threshold(colour):
    rng = np.random.default_rng(3)
    n = 48000 * 60
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / 48000), 1.0)
    spectrum *= {"white": 1.0, "pink": f**-0.5, "brown": f**-1.0}[colour]
    noise = np.fft.irfft(spectrum, n).astype(np.float32)
    noise *= 0.05 / noise.std()
    scores, frame_s = _scores_of(noise, 48000)
    assert scores.max() < SalienceConfig().threshold_db
    (segment,) = select_segments(scores, frame_s, 60.0, max_segments=3, threshold_db=6, chunk_s=3.0)
    assert segment.picked_by == "centre"


def test_streaming_features_equal_whole_signal():
    signal = tone_in_noise(10, 48000, calls=((2, 1, 3000),), seed=1)
    layout = FrameLayout.for_rate(48000, 12000, SalienceConfig())
    acc = BandPowerAccumulator(layout)
    for start in range(0, len(signal), 12345):  # blocks that do not align with frames
        acc.add(signal[start : start + 12345])
    np.testing.assert_allclose(acc.result(), band_powers(signal, layout), rtol=1e-5, atol=1e-12)


def test_layout_limits_bands_to_target_nyquist():
    layout = FrameLayout.for_rate(96000, 12000, SalienceConfig())
    bin_hz = 96000 / layout.n_fft
    assert layout.band_edges[-1] * bin_hz <= 12000 + bin_hz
    assert layout.band_edges[0] * bin_hz >= 150 - bin_hz
    assert len(layout.band_slices) <= 64


@pytest.mark.parametrize("field, value", [("threshold_db", 0.0), ("frame_s", -1.0), ("smooth_s", float("nan")), ("context_s", -0.1)])
def test_config_messages_name_field_and_value(field, value):
    with pytest.raises(ConfigError, match=rf"{field} .*{value!r}".replace("(", r"\(")):
        SalienceConfig(**{field: value})
