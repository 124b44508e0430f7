"""Tests for shardkit.audio.synthetic: layout, truth, determinism, SNR, validation, synthesis."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from shardkit.audio.synthetic import (
    DEMO_CLASSES,
    NOISE_CLASS,
    DemoCorpusConfig,
    PlantedCall,
    background_noise,
    energy_band_mask,
    file_rng,
    in_band_power,
    make_demo_corpus,
    plant_calls,
    synth_chirp,
    synth_recording,
    synth_trill,
    synth_whistle,
)
from shardkit.errors import ConfigError

SMALL = DemoCorpusConfig(files_per_class=2, noise_files=1, min_duration_s=10.0, max_duration_s=12.0, seed=7)


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PlantedCall]]:
    root = tmp_path_factory.mktemp("demo")
    return root, make_demo_corpus(root)


def _expected_sources(config: DemoCorpusConfig) -> set[str]:
    counts = {label: config.files_per_class for label in DEMO_CLASSES}
    counts[NOISE_CLASS] = config.noise_files
    return {f"{label}/{label}_{i:03d}.flac" for label, n in counts.items() for i in range(n)}


def _relative_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------
# Corpus on disk
# ------------------------------------------------------------------------------------------


def test_layout_sample_rate_and_duration(default_corpus):
    root, _ = default_corpus
    config = DemoCorpusConfig()
    assert _relative_files(root) == _expected_sources(config) | {"truth.json"}
    for source in _expected_sources(config):
        info = soundfile.info(root / source)
        assert (info.format, info.subtype) == ("FLAC", "PCM_16")
        assert info.samplerate == config.sample_rate_hz
        assert info.channels == 1
        assert config.min_duration_s <= info.frames / info.samplerate <= config.max_duration_s


def test_written_audio_is_not_clipped_and_background_is_about_minus_30_dbfs(default_corpus):
    root, _ = default_corpus
    for source in sorted(_expected_sources(DemoCorpusConfig()))[::5]:
        audio, _ = soundfile.read(root / source)
        assert np.max(np.abs(audio)) <= 0.9 + 1 / 32768
        rms_dbfs = 20 * np.log10(np.sqrt(np.mean(audio**2)))
        assert -36.0 <= rms_dbfs <= -22.0


def test_truth_json_matches_return_value(default_corpus):
    root, truth = default_corpus
    rows = json.loads((root / "truth.json").read_text())
    assert rows == [dataclasses.asdict(call) for call in truth]
    assert [PlantedCall(**row) for row in rows] == truth


def test_truth_covers_positive_files_only(default_corpus):
    _, truth = default_corpus
    config = DemoCorpusConfig()
    calls_per_source: dict[str, int] = {}
    for call in truth:
        assert call.source.startswith(f"{call.label}/")
        assert call.label in DEMO_CLASSES
        assert config.snr_db[0] <= call.snr_db <= config.snr_db[1]
        calls_per_source[call.source] = calls_per_source.get(call.source, 0) + 1
    positives = {s for s in _expected_sources(config) if not s.startswith(NOISE_CLASS)}
    assert set(calls_per_source) == positives
    assert all(1 <= n <= 3 for n in calls_per_source.values())


def test_offsets_inside_files_and_calls_do_not_overlap(default_corpus):
    root, truth = default_corpus
    by_source: dict[str, list[PlantedCall]] = {}
    for call in truth:
        by_source.setdefault(call.source, []).append(call)
    for source, calls in by_source.items():
        file_s = soundfile.info(root / source).duration
        calls = sorted(calls, key=lambda c: c.offset_s)
        assert calls[0].offset_s >= 0.5
        assert calls[-1].offset_s + calls[-1].duration_s <= file_s - 0.5
        for before, after in itertools.pairwise(calls):
            assert after.offset_s - (before.offset_s + before.duration_s) >= 1.0 - 1e-9


def test_same_config_gives_identical_bytes(tmp_path):
    first = make_demo_corpus(tmp_path / "a", SMALL)
    second = make_demo_corpus(tmp_path / "b", SMALL)
    assert first == second
    files = _relative_files(tmp_path / "a")
    assert files == _relative_files(tmp_path / "b") == _expected_sources(SMALL) | {"truth.json"}
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = make_demo_corpus(tmp_path / "c", dataclasses.replace(SMALL, seed=8))
    assert other != first


def _measured_snr_db(audio: np.ndarray, clean_call: np.ndarray, offset: int, busy: np.ndarray):
    """In-band SNR of a planted call, measured from the mix and the call-free background."""
    n = len(clean_call)
    mask = energy_band_mask(clean_call)
    starts = [s for s in range(0, len(audio) - n, n) if not busy[s : s + n].any()]
    starts = sorted(starts, key=lambda s: abs(s - offset))[:24]  # the call's neighbourhood
    background_power = np.mean([in_band_power(audio[s : s + n], mask) for s in starts])
    mix_power = in_band_power(audio[offset : offset + n], mask)
    return 10 * np.log10((mix_power - background_power) / background_power)


def test_achieved_in_band_snr_matches_truth(default_corpus):
    root, truth = default_corpus
    config = DemoCorpusConfig()
    sr = config.sample_rate_hz
    checked = 0
    for class_index, label in enumerate(DEMO_CLASSES):
        for file_index in range(2):
            source = f"{label}/{label}_{file_index:03d}.flac"
            audio, _ = soundfile.read(root / source)
            # Re-synthesise to recover the clean calls (the written mix must match it).
            rng = file_rng(config.seed, class_index, file_index)
            recording = synth_recording(rng, label, config)
            np.testing.assert_allclose(audio, recording.audio, atol=1.5 / 32768)
            busy = np.zeros(len(audio), dtype=bool)
            for call, offset in zip(recording.calls, recording.offsets_samples, strict=True):
                busy[max(0, offset - sr // 10) : offset + len(call) + sr // 10] = True
            expected = [c for c in truth if c.source == source]
            assert [c.offset_s for c in expected] == [o / sr for o in recording.offsets_samples]
            for call, offset, planted in zip(recording.calls, recording.offsets_samples, expected, strict=True):
                measured = _measured_snr_db(audio, call, offset, busy)
                assert abs(measured - planted.snr_db) <= 1.5, (source, planted, measured)
                checked += 1
    assert checked >= 6


# ------------------------------------------------------------------------------------------
# Mixing
# ------------------------------------------------------------------------------------------


def test_plant_calls_hits_requested_in_band_snr_exactly():
    rng = np.random.default_rng(3)
    background = 0.03 * background_noise(rng, 5 * 32000, 32000)
    calls = [synth_chirp(rng, 32000), synth_whistle(rng, 32000), synth_trill(rng, 32000)]
    offsets = [16000, 64000, 112000]
    snrs = [-3.0, 0.0, 9.5]
    original = background.copy()
    mix = plant_calls(background, calls, offsets, snrs)
    np.testing.assert_array_equal(background, original)  # pure: input untouched
    for call, offset, snr in zip(calls, offsets, snrs, strict=True):
        mask = energy_band_mask(call)
        span = slice(offset, offset + len(call))
        achieved = in_band_power(mix[span] - background[span], mask) / in_band_power(background[span], mask)
        assert 10 * np.log10(achieved) == pytest.approx(snr, abs=1e-6)
    outside = np.ones(len(mix), dtype=bool)
    for call, offset in zip(calls, offsets, strict=True):
        outside[offset : offset + len(call)] = False
    np.testing.assert_array_equal(mix[outside], background[outside])


def test_plant_calls_rejects_bad_arguments():
    call = np.ones(100, dtype=np.float32)
    with pytest.raises(ValueError, match=r"offsets_samples entry 950 .* outside"):
        plant_calls(np.zeros(1000), [call], [950], 0.0)
    with pytest.raises(ValueError, match=r"one entry per call \(1\); got 2"):
        plant_calls(np.zeros(1000), [call], [0, 10], 0.0)


def test_in_band_power_with_full_mask_is_mean_power():
    x = np.random.default_rng(0).standard_normal(1001)
    assert in_band_power(x, np.ones(501, dtype=bool)) == pytest.approx(np.mean(x**2))
    even = x[:1000]
    assert in_band_power(even, np.ones(501, dtype=bool)) == pytest.approx(np.mean(even**2))


def test_energy_band_mask_is_contiguous_and_holds_95_percent():
    call = synth_whistle(np.random.default_rng(5), 32000).astype(np.float64)
    mask = energy_band_mask(call)
    energy = np.abs(np.fft.rfft(call)) ** 2
    assert energy[mask].sum() >= 0.95 * energy.sum()
    assert np.all(np.diff(np.flatnonzero(mask)) == 1)


# ------------------------------------------------------------------------------------------
# Config validation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"files_per_class": 0}, r"files_per_class must be an integer >= 1; got 0"),
        ({"files_per_class": 2.5}, r"files_per_class must be an integer >= 1; got 2\.5"),
        ({"noise_files": -1}, r"noise_files must be an integer >= 0; got -1"),
        ({"sample_rate_hz": 8000}, r"sample_rate_hz must be an integer >= 16000; got 8000"),
        ({"seed": -3}, r"seed must be an integer >= 0; got -3"),
        (
            {"calls_per_file": (0, 2)},
            r"calls_per_file must be a pair .* 1 <= low <= high; got \(0, 2\)",
        ),
        ({"calls_per_file": (3, 1)}, r"calls_per_file must be a pair .*; got \(3, 1\)"),
        ({"calls_per_file": 2}, r"calls_per_file must be a pair .*; got 2"),
        ({"snr_db": (6.0, 1.0)}, r"snr_db must be a pair .* low <= high; got \(6\.0, 1\.0\)"),
        ({"snr_db": (0.0, float("nan"))}, r"snr_db must be a pair .*; got \(0\.0, nan\)"),
        ({"min_duration_s": 5.0}, r"min_duration_s must be a number >= 7\.5 s .*; got 5\.0"),
        ({"max_duration_s": 15.0}, r"max_duration_s must be >= min_duration_s \(20\.0\); got 15"),
    ],
)
def test_config_validation_names_field_and_value(overrides, message):
    with pytest.raises(ConfigError, match=rf"DemoCorpusConfig\.{message}"):
        DemoCorpusConfig(**overrides)


def test_config_is_json_serialisable():
    config = DemoCorpusConfig()
    assert json.loads(json.dumps(dataclasses.asdict(config)))["sample_rate_hz"] == 32000


# ------------------------------------------------------------------------------------------
# Synthesis
# ------------------------------------------------------------------------------------------

# (function, min duration s, max duration s, band low Hz, band high Hz, share of energy in band)
SYNTHS = [
    (synth_chirp, 0.2, 0.8, 1800.0, 8200.0, 0.95),
    (synth_trill, 0.5, 1.5, 2800.0, 7300.0, 0.95),
    (synth_whistle, 0.4, 1.2, 1400.0, 4200.0, 0.6),  # the fundamental; harmonics lie above
]


def _band_share(x: np.ndarray, sample_rate_hz: int, low_hz: float, high_hz: float) -> float:
    energy = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freq_hz = np.fft.rfftfreq(len(x), 1 / sample_rate_hz)
    return float(energy[(freq_hz >= low_hz) & (freq_hz <= high_hz)].sum() / energy.sum())


@pytest.mark.parametrize(("synth", "min_s", "max_s", "low_hz", "high_hz", "share"), SYNTHS)
def test_synth_shape_duration_and_band(synth, min_s, max_s, low_hz, high_hz, share):
    sr = 32000
    durations_s = []
    for seed in range(20):
        x = synth(np.random.default_rng(seed), sr)
        assert x.dtype == np.float32 and x.ndim == 1
        assert np.all(np.isfinite(x))
        assert np.max(np.abs(x)) == pytest.approx(1.0, abs=1e-6)
        assert np.max(np.abs(x)) <= 1.0
        assert abs(x[0]) < 1e-6 and abs(x[-1]) < 1e-6  # smooth envelope: no click at the edges
        durations_s.append(len(x) / sr)
        assert min_s - 1 / sr <= durations_s[-1] <= max_s + 1 / sr
        assert _band_share(x, sr, low_hz, high_hz) >= share
    assert max(durations_s) - min(durations_s) > 0.2 * (max_s - min_s)  # durations vary


@pytest.mark.parametrize("synth", [s[0] for s in SYNTHS])
def test_synth_is_pure_and_respects_nyquist(synth):
    a = synth(np.random.default_rng(11), 16000)
    b = synth(np.random.default_rng(11), 16000)
    np.testing.assert_array_equal(a, b)
    assert _band_share(a, 16000, 0.46 * 16000, 8000.0) < 0.01


def test_whistle_is_harmonic():
    x = synth_whistle(np.random.default_rng(2), 32000)
    energy = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freq_hz = np.fft.rfftfreq(len(x), 1 / 32000)
    f0_hz = freq_hz[np.argmax(energy)]
    assert 1400.0 <= f0_hz <= 4200.0
    assert _band_share(x, 32000, 1.9 * f0_hz, 2.1 * f0_hz) > 0.005  # a second harmonic


def test_background_noise_is_unit_rms_pinkish_and_varied():
    sr = 32000
    slopes = []
    for seed in range(6):
        noise = background_noise(np.random.default_rng(seed), 4 * sr, sr)
        assert noise.shape == (4 * sr,) and np.all(np.isfinite(noise))
        assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-6)
        low = _band_share(noise, sr, 100.0, 1000.0) / 900.0  # power per Hz
        high = _band_share(noise, sr, 4000.0, 8000.0) / 4000.0
        assert low > 3 * high
        slopes.append(np.log10(low / high))
    assert max(slopes) - min(slopes) > 0.3  # colours differ between files
    again = background_noise(np.random.default_rng(0), 4 * sr, sr)
    np.testing.assert_array_equal(again, background_noise(np.random.default_rng(0), 4 * sr, sr))


def test_noise_recordings_have_no_calls():
    recording = synth_recording(file_rng(0, len(DEMO_CLASSES), 0), NOISE_CLASS, SMALL)
    assert recording.calls == () and recording.offsets_samples == ()
    assert recording.audio.dtype == np.float32
