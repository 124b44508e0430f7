"""Waveform augmentation: the physics (PSD slopes, SNR achieved, gain in dB, shifts without wrap),
per-row branch probabilities, clipping, determinism and graph mode."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from shardkit.augment import (
    NOISE_SLOPES_DB_PER_OCTAVE,
    WaveAugmentConfig,
    augment_waveforms,
    coloured_noise,
    mix_at_snr,
    random_gain,
    time_shift,
)
from shardkit.errors import ConfigError

SR = 24000
#: only the step under test fires
OFF = dict(gain_prob=0.0, noise_prob=0.0, shift_prob=0.0, background_prob=0.0)

#: the textbook PSD slopes of the noise colours (PSD ∝ f**a with a = 0, -1, -2, +1, +2), in dB per decade;
#: written here, not read from the code's table, so a wrong entry there fails the tests below
TEXTBOOK_SLOPES_DB_PER_DECADE = {"white": 0.0, "pink": -10.0, "brown": -20.0, "blue": 10.0, "violet": 20.0}
#: the same in dB per octave (an octave is log10(2) of a decade): 0, -3.01, -6.02, +3.01, +6.02
TEXTBOOK_SLOPES_DB_PER_OCTAVE = {colour: slope * np.log10(2.0) for colour, slope in TEXTBOOK_SLOPES_DB_PER_DECADE.items()}


def psd_slope_db_per_octave(rows: np.ndarray, sample_rate_hz: int = SR, lo_hz: float = 100.0, hi_hz: float = 10000.0) -> float:
    """Slope of 10 log10(PSD) against log2(f), fitted over log-spaced bands between lo_hz and hi_hz."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    psd = (np.abs(np.fft.rfft(rows, axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(rows.shape[1], 1.0 / sample_rate_hz)
    edges = np.geomspace(lo_hz, hi_hz, 31)
    log_f, level_db = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        band = (freqs >= a) & (freqs < b)
        log_f.append(np.log2(freqs[band]).mean())
        level_db.append(10 * np.log10(psd[band].mean()))
    return float(np.polyfit(log_f, level_db, 1)[0])


def snr_db(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    s, n = np.asarray(signal, np.float64), np.asarray(noise, np.float64)
    return 10 * np.log10((s**2).mean(axis=-1) / (n**2).mean(axis=-1))


def sines(batch: int, n: int, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    """Rows of sines at random frequencies and phases (never silent, no two rows alike)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    freq = rng.uniform(200, 4000, (batch, 1))
    phase = rng.uniform(0, 2 * np.pi, (batch, 1))
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


# --- coloured noise -----------------------------------------------------------------------------


def test_the_noise_colours_are_the_textbook_ones() -> None:
    assert sorted(NOISE_SLOPES_DB_PER_OCTAVE) == sorted(TEXTBOOK_SLOPES_DB_PER_OCTAVE)


@pytest.mark.parametrize("colour", sorted(TEXTBOOK_SLOPES_DB_PER_OCTAVE))
def test_noise_colour_has_documented_psd_slope_and_unit_rms(colour: str) -> None:
    noise = coloured_noise([16, 2**16], colour, seed=[1, 2]).numpy()
    assert noise.shape == (16, 2**16) and noise.dtype == np.float32
    slope = psd_slope_db_per_octave(noise)
    assert slope == pytest.approx(TEXTBOOK_SLOPES_DB_PER_OCTAVE[colour], abs=1.0), f"{colour}: {slope:.2f} dB/octave"
    rms = np.sqrt((noise.astype(np.float64) ** 2).mean(axis=1))
    np.testing.assert_allclose(rms, 1.0, rtol=0.05)
    np.testing.assert_allclose(noise.mean(axis=1), 0.0, atol=1e-4)  # DC left at zero


def test_slope_estimator_catches_the_classic_pink_bug() -> None:
    """Shaping the amplitude by 1/f (instead of 1/sqrt(f)) gives -6 dB/octave: the check above must reject it."""
    white = np.random.default_rng(0).standard_normal((16, 2**16))
    spectrum = np.fft.rfft(white, axis=1)
    k = np.arange(spectrum.shape[1], dtype=np.float64)
    wrong_pink = np.fft.irfft(spectrum * np.where(k > 0, 1.0 / np.maximum(k, 1.0), 0.0), n=2**16, axis=1)
    assert abs(psd_slope_db_per_octave(wrong_pink) - TEXTBOOK_SLOPES_DB_PER_OCTAVE["pink"]) > 2.0
    assert abs(psd_slope_db_per_octave(white)) < 0.5


def test_noise_colours_are_distinct_and_seeded() -> None:
    a = coloured_noise([2, 4096], "pink", [3, 4]).numpy()
    assert np.array_equal(a, coloured_noise([2, 4096], "pink", [3, 4]).numpy())
    assert np.array_equal(a, coloured_noise([2, 4096], "pink", tf.constant([3, 4], tf.int32)).numpy())
    assert not np.array_equal(a, coloured_noise([2, 4096], "pink", [3, 5]).numpy())
    assert not np.array_equal(a[0], a[1])


def test_unknown_noise_colour_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"noise colour must be one of .*'white'.*got 'grey'"):
        coloured_noise([1, 128], "grey", [0, 0])


# --- SNR ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_db", [-10.0, -3.0, 0.0, 6.0, 20.0, 40.0])
def test_mix_at_snr_achieves_the_target(target_db: float) -> None:
    signal = sines(8, 8192)
    noise = coloured_noise([8, 8192], "pink", [5, 6]).numpy() * 3.7  # arbitrary level in
    out = mix_at_snr(signal, noise, target_db).numpy()
    added = out.astype(np.float64) - signal
    # what was added is the noise itself, scaled per row
    scale = (added * noise).sum(axis=1) / (noise.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(added, scale[:, None] * noise, atol=1e-5 * max(1.0, 10 ** (-target_db / 20)))
    np.testing.assert_allclose(snr_db(signal, added), target_db, atol=1e-2)


def test_mix_at_snr_per_row_targets() -> None:
    signal = sines(4, 4096)
    noise = coloured_noise([4, 4096], "white", [7, 8]).numpy()
    targets = np.array([-5.0, 0.0, 5.0, 25.0], np.float32)
    out = mix_at_snr(signal, noise, targets).numpy()
    np.testing.assert_allclose(snr_db(signal, out.astype(np.float64) - signal), targets, atol=1e-2)


def test_mix_at_snr_silent_rows_stay_finite_and_unchanged() -> None:
    signal = sines(3, 1024)
    signal[1] = 0.0
    noise = coloured_noise([3, 1024], "brown", [9, 9]).numpy()
    noise[2] = 0.0
    out = mix_at_snr(signal, noise, 10.0).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[1], 0.0)  # silent signal: nothing to set an SNR against
    np.testing.assert_array_equal(out[2], signal[2])  # silent noise: nothing to add
    assert not np.array_equal(out[0], signal[0])


# --- gain and shift ----------------------------------------------------------------------------


def test_random_gain_ratio_lies_in_db_range_and_spans_it() -> None:
    x = sines(500, 256)
    out = random_gain(x, (-6.0, 4.0), [1, 1]).numpy()
    ratio = out / x
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-5)  # one gain per row
    gain_db = 20 * np.log10(ratio[:, 0])
    assert gain_db.min() >= -6.0 - 1e-4 and gain_db.max() <= 4.0 + 1e-4
    assert gain_db.min() < -5.5 and gain_db.max() > 3.5


def shifted(x: np.ndarray, s: int) -> np.ndarray:
    """Reference: row delayed by s samples, zero fill, no wrap."""
    out = np.zeros_like(x)
    n = x.shape[-1]
    if abs(s) >= n:
        return out
    if s >= 0:
        out[..., s:] = x[..., : n - s]
    else:
        out[..., : n + s] = x[..., -s:]
    return out


@pytest.mark.parametrize("max_shift", [0, 10, 100])
def test_time_shift_moves_rows_by_an_integer_in_range_with_zero_fill(max_shift: int) -> None:
    n = 64
    x = np.tile(np.arange(1, n + 1, dtype=np.float32), (400, 1))  # every sample distinct and non-zero
    out = time_shift(x, max_shift, [2, 3]).numpy()
    candidates = np.stack([shifted(x[0], s) for s in range(-max_shift, max_shift + 1)])  # [S, n]
    matches = (out[:, None, :] == candidates[None, :, :]).all(axis=2)  # [B, S]
    assert (matches.sum(axis=1) >= 1).all(), "a row is not a zero-filled integer shift of its input"
    used = np.flatnonzero(matches.any(axis=0)) - max_shift
    if max_shift == 10:  # every shift in [-10, 10] is drawn, both signs
        assert set(used) == set(range(-10, 11))


def test_time_shift_never_wraps_around() -> None:
    n, max_shift = 256, 20
    x = np.zeros((300, n), np.float32)
    x[:, n - 3] = 1.0  # impulse near the end
    x[:, 2] = -1.0  # impulse near the start
    out = time_shift(x, max_shift, [4, 4]).numpy()
    assert (out[:, : n - 3 - max_shift] <= 0).all(), "the end impulse reappeared near the start"
    assert (out[:, 2 + max_shift + 1 :] >= 0).all(), "the start impulse reappeared near the end"
    assert (out == 1.0).sum() < 300 and (out == -1.0).sum() < 300  # some impulses shifted out, not wrapped


def test_time_shift_rejects_bad_max() -> None:
    with pytest.raises(ConfigError, match=r"time_shift max_shift_samples must be an integer >= 0; got -1"):
        time_shift(np.zeros((1, 8), np.float32), -1, [0, 0])
    with pytest.raises(ConfigError, match=r"got 1\.5"):
        time_shift(np.zeros((1, 8), np.float32), 1.5, [0, 0])


# --- the chain: every branch fires for its fraction of rows ----------------------------------------


BRANCHES = {
    "gain": dict(gain_prob=0.3),
    "noise": dict(noise_prob=0.3),
    "shift": dict(shift_prob=0.3, shift_max_s=0.01),
    "background": dict(background_prob=0.3),
}


@pytest.mark.parametrize("branch", sorted(BRANCHES))
@pytest.mark.parametrize("prob", [0.0, 0.3, 1.0])
def test_each_branch_fires_for_its_fraction_of_rows(branch: str, prob: float) -> None:
    x = sines(2000, 512)
    background = sines(2000, 512, seed=1)
    settings = {**OFF, **BRANCHES[branch], f"{branch}_prob": prob}
    out = augment_waveforms(x, WaveAugmentConfig(**settings), [11, 12], background=background).numpy()
    changed = (out != x).any(axis=1).mean()
    assert changed == pytest.approx(prob, abs=0.05 if 0 < prob < 1 else 0.005), f"{branch}: {changed:.3f} of rows changed"


def test_noise_branch_adds_noise_within_snr_range_and_uses_every_colour() -> None:
    x = sines(200, 8192)
    cfg = WaveAugmentConfig(**{**OFF, "noise_prob": 1.0, "noise_snr_db": (10.0, 20.0)})
    out = augment_waveforms(x, cfg, [21, 22]).numpy()
    added = out.astype(np.float64) - x
    snrs = snr_db(x, added)
    assert snrs.min() > 10.0 - 0.05 and snrs.max() < 20.0 + 0.05
    assert snrs.min() < 11.0 and snrs.max() > 19.0
    slopes = np.array([psd_slope_db_per_octave(row) for row in added])
    documented = np.array(sorted(TEXTBOOK_SLOPES_DB_PER_OCTAVE.values()))
    nearest = documented[np.abs(slopes[:, None] - documented[None, :]).argmin(axis=1)]
    assert np.abs(slopes - nearest).max() < 1.5
    counts = {value: int((nearest == value).sum()) for value in documented}
    assert min(counts.values()) >= 20, counts  # ~40 rows each when picked uniformly among 5


def test_single_colour_config_adds_only_that_colour() -> None:
    x = sines(16, 2**14)
    cfg = WaveAugmentConfig(**{**OFF, "noise_prob": 1.0, "noise_colours": ("brown",), "noise_snr_db": (0.0, 0.0)})
    added = augment_waveforms(x, cfg, [1, 5]).numpy().astype(np.float64) - x
    assert psd_slope_db_per_octave(added) == pytest.approx(TEXTBOOK_SLOPES_DB_PER_OCTAVE["brown"], abs=1.0)


def test_background_branch_mixes_the_given_rows_at_snr_in_range() -> None:
    x = sines(100, 2048)
    background = coloured_noise([100, 2048], "pink", [8, 8]).numpy() * 0.05
    cfg = WaveAugmentConfig(**{**OFF, "background_prob": 1.0, "background_snr_db": (0.0, 6.0)})
    added = augment_waveforms(x, cfg, [31, 32], background=background).numpy().astype(np.float64) - x
    scale = (added * background).sum(axis=1) / (background.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(added, scale[:, None] * background, atol=1e-5)
    snrs = snr_db(x, added)
    assert snrs.min() > -0.05 and snrs.max() < 6.05


def test_without_background_the_background_step_is_skipped() -> None:
    x = sines(50, 256)
    cfg = WaveAugmentConfig(**{**OFF, "background_prob": 1.0})
    np.testing.assert_array_equal(augment_waveforms(x, cfg, [0, 1]).numpy(), x)


def test_loud_rows_clip_and_never_wrap() -> None:
    x = sines(64, 4096, amplitude=0.95)
    cfg = WaveAugmentConfig(**{**OFF, "gain_prob": 1.0, "gain_db": (5.0, 6.0)})
    out = augment_waveforms(x, cfg, [41, 42]).numpy()
    assert np.abs(out).max() <= 1.0
    nonzero = x != 0
    assert (np.sign(out[nonzero]) == np.sign(x[nonzero])).all(), "a sample changed sign (wrap-around)"
    assert (out == 1.0).any() and (out == -1.0).any()  # it did saturate
    as_int16 = np.round(out * 32767).astype(np.int16)
    assert (as_int16[x > 0] >= 0).all() and (as_int16[x < 0] <= 0).all()
    everything = WaveAugmentConfig(gain_prob=1.0, gain_db=(6.0, 6.0), noise_prob=1.0, noise_snr_db=(-5.0, -5.0), shift_prob=1.0, background_prob=1.0)
    loud = augment_waveforms(x, everything, [43, 44], background=x[::-1] * 3).numpy()
    assert np.isfinite(loud).all() and np.abs(loud).max() <= 1.0


# --- determinism and graph mode -----------------------------------------------------------------


def test_same_seed_same_output_different_seed_different() -> None:
    x = sines(32, 2048)
    cfg = WaveAugmentConfig(gain_prob=1.0, noise_prob=1.0, shift_prob=1.0, shift_max_s=0.01, background_prob=1.0)
    a = augment_waveforms(x, cfg, [1, 2], background=x[::-1]).numpy()
    assert np.array_equal(a, augment_waveforms(x, cfg, tf.constant([1, 2], tf.int64), background=x[::-1]).numpy())
    assert np.array_equal(a, augment_waveforms(x, cfg, tf.constant([1, 2], tf.int32), background=x[::-1]).numpy())
    b = augment_waveforms(x, cfg, [1, 3], background=x[::-1]).numpy()
    assert not np.array_equal(a, b) and (a != b).any(axis=1).all()


def test_works_inside_tf_data_map_with_unknown_batch_size() -> None:
    x, background = sines(23, 1024), sines(23, 1024, seed=3)
    cfg = WaveAugmentConfig(gain_prob=0.5, noise_prob=0.5, shift_prob=0.5, background_prob=0.5)
    ds = tf.data.Dataset.from_tensor_slices((x, background)).batch(8).enumerate()
    ds = ds.map(lambda i, batch: augment_waveforms(batch[0], cfg, tf.stack([tf.constant(99, tf.int64), i]), background=batch[1]))
    assert ds.element_spec.shape.as_list() == [None, 1024]
    graph = [b.numpy() for b in ds]
    eager = [augment_waveforms(x[i : i + 8], cfg, [99, k], background=background[i : i + 8]).numpy() for k, i in enumerate(range(0, 23, 8))]
    assert [g.shape for g in graph] == [(8, 1024), (8, 1024), (7, 1024)]
    for g, e in zip(graph, eager, strict=True):
        np.testing.assert_array_equal(g, e)


def test_functions_trace_with_fully_dynamic_shapes() -> None:
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([2], tf.int64)])
    def chain(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        noise = coloured_noise(tf.shape(x), "blue", seed)
        return time_shift(random_gain(mix_at_snr(x, noise, 10.0), (-3.0, 3.0), seed), 5, seed)

    x = sines(4, 301)  # odd length
    out = chain(tf.constant(x), tf.constant([5, 6], tf.int64)).numpy()
    assert out.shape == (4, 301) and np.isfinite(out).all()


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(gain_prob=1.5), r"wave augment gain_prob must be a probability in \[0, 1\]; got 1\.5"),
        (dict(background_prob=-0.1), r"background_prob must be a probability in \[0, 1\]; got -0\.1"),
        (dict(noise_prob="0.3"), r"noise_prob must be a probability in \[0, 1\]; got '0\.3'"),
        (dict(gain_db=(6.0, -6.0)), r"gain_db must be a pair \(lo, hi\) of finite numbers with lo <= hi; got \(6\.0, -6\.0\)"),
        (dict(noise_snr_db=(10.0,)), r"noise_snr_db must be a pair .*; got \(10\.0,\)"),
        (dict(background_snr_db=(0.0, float("inf"))), r"background_snr_db must be a pair .*; got \(0\.0, inf\)"),
        (
            dict(noise_colours=("white", "grey")),
            r"noise_colours must be a non-empty list of \['blue', 'brown', 'pink', 'violet', 'white'\]; got \('white', 'grey'\)",
        ),
        (dict(noise_colours=()), r"noise_colours must be a non-empty list .*; got \(\)"),
        (dict(noise_colours="pink"), r"noise_colours must be a non-empty list .*; got 'pink'"),
        (dict(shift_max_s=-0.5), r"shift_max_s must be a finite number of seconds >= 0; got -0\.5"),
        (dict(sample_rate_hz=0), r"sample_rate_hz must be a positive integer; got 0"),
        (dict(sample_rate_hz=24000.0), r"sample_rate_hz must be a positive integer; got 24000\.0"),
    ],
)
def test_config_errors_name_field_value_and_allowed(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WaveAugmentConfig(**settings)


def test_config_accepts_lists_from_json_and_round_trips() -> None:
    cfg = WaveAugmentConfig(gain_db=[-3, 3], noise_colours=["pink"], shift_max_s=0.25)
    assert cfg.gain_db == (-3.0, 3.0) and cfg.noise_colours == ("pink",)
    assert cfg.shift_max_samples == 6000
    assert WaveAugmentConfig(**cfg.to_dict()) == cfg
