"""Mixup (sources recovered from one-hot rows: weights, max-combined labels, fraction mixed) and
SpecAugment (full stripes inside bounds, widths and counts within limits, the rest untouched)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from shardkit.augment import MixupConfig, SpecAugmentConfig, mix_teacher, mixup, spec_augment
from shardkit.errors import ConfigError


def multi_hot(batch: int, classes: int = 12, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, classes)) < 0.25).astype(np.float32)


def recover(x_out: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For one-hot input rows (row i = e_i), the sources and weights of each output row."""
    flat = x_out.reshape(len(x_out), -1)
    return [(np.flatnonzero(row), row[np.flatnonzero(row)]) for row in flat]


def check_mixup(x_out: np.ndarray, y_out: np.ndarray, y: np.ndarray, max_sources: int) -> tuple[np.ndarray, np.ndarray]:
    """Assert the mixup contract row by row; return (mixed mask, source counts)."""
    mixed, counts = [], []
    for i, (sources, weights) in enumerate(recover(x_out)):
        assert i in sources, f"row {i} lost itself"
        if len(sources) == 1:
            assert weights[0] == 1.0
            np.testing.assert_array_equal(y_out[i], y[i])
        else:
            assert 2 <= len(sources) <= max_sources
            assert (weights > 0).all()
            assert weights.sum() == pytest.approx(1.0, abs=1e-5)
            np.testing.assert_array_equal(y_out[i], y[sources].max(axis=0))  # max, not the weighted average
        mixed.append(len(sources) > 1)
        counts.append(len(sources))
    return np.array(mixed), np.array(counts)


@pytest.mark.parametrize("max_sources", [2, 3])
def test_mixup_on_waveforms_mixes_prob_of_rows_and_max_combines_labels(max_sources: int) -> None:
    batch = 2000
    x, y = np.eye(batch, dtype=np.float32), multi_hot(batch)
    x_out, y_out = mixup(x, y, MixupConfig(prob=0.3, max_sources=max_sources), [1, 2])
    mixed, counts = check_mixup(x_out.numpy(), y_out.numpy(), y, max_sources)
    assert mixed.mean() == pytest.approx(0.3, abs=0.05)
    if max_sources == 3:  # k uniform in {2, 3}
        assert (counts[mixed] == 3).mean() == pytest.approx(0.5, abs=0.1)
    else:
        assert (counts[mixed] == 2).all()


def test_mixup_on_spectrograms() -> None:
    batch = 64
    x, y = np.eye(batch, dtype=np.float32).reshape(batch, 8, 8), multi_hot(batch, seed=1)
    x_out, y_out = mixup(x, y, MixupConfig(prob=1.0), [3, 4])
    assert x_out.shape == (batch, 8, 8) and y_out.shape == y.shape
    mixed, _ = check_mixup(x_out.numpy(), y_out.numpy(), y, 3)
    assert mixed.all()


def test_mixup_prob_zero_leaves_the_batch_alone() -> None:
    x, y = np.random.default_rng(0).random((50, 32)).astype(np.float32), multi_hot(50)
    x_out, y_out = mixup(x, y, MixupConfig(prob=0.0), [5, 5])
    np.testing.assert_array_equal(x_out.numpy(), x)
    np.testing.assert_array_equal(y_out.numpy(), y)


def test_mixup_weights_follow_the_dirichlet_concentration() -> None:
    batch = 1000
    x, y = np.eye(batch, dtype=np.float32), multi_hot(batch)
    flat = recover(mixup(x, y, MixupConfig(prob=1.0, max_sources=2, alpha=1.0), [6, 6])[0].numpy())
    own = np.array([w[s == i][0] for i, (s, w) in enumerate(flat)])
    assert own.mean() == pytest.approx(0.5, abs=0.05)  # uniform on [0, 1]
    assert own.std() == pytest.approx(np.sqrt(1 / 12), abs=0.03)
    concentrated = recover(mixup(x, y, MixupConfig(prob=1.0, max_sources=3, alpha=200.0), [6, 7])[0].numpy())
    for sources, weights in concentrated:
        np.testing.assert_allclose(weights, 1.0 / len(sources), atol=0.12)


def test_mixup_is_seeded() -> None:
    x, y = np.eye(40, dtype=np.float32), multi_hot(40)
    a = mixup(x, y, MixupConfig(), [1, 1])
    b = mixup(x, y, MixupConfig(), tf.constant([1, 1], tf.int32))
    c = mixup(x, y, MixupConfig(), [1, 2])
    assert np.array_equal(a[0].numpy(), b[0].numpy()) and np.array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


@pytest.mark.parametrize("max_sources", [2, 3])
def test_mix_teacher_uses_mixups_draw_max_for_soft_labels_min_for_masks(max_sources: int) -> None:
    batch, seed, config = 600, [8, 9], MixupConfig(prob=0.5, max_sources=max_sources)
    rng = np.random.default_rng(3)
    x, y = np.eye(batch, dtype=np.float32), multi_hot(batch, seed=3)
    mask = (rng.random(y.shape) < 0.8).astype(np.float32)
    soft = rng.random(y.shape).astype(np.float32) * mask
    x_out, y_out = mixup(x, y, config, seed)
    soft_out, mask_out = (t.numpy() for t in mix_teacher(soft, mask, config, seed))
    mixed, _ = check_mixup(x_out.numpy(), y_out.numpy(), y, max_sources)
    assert 0.4 < mixed.mean() < 0.6
    for i, (sources, _) in enumerate(recover(x_out.numpy())):
        np.testing.assert_array_equal(mask_out[i], mask[sources].min(axis=0))  # known only where every source is
        np.testing.assert_array_equal(soft_out[i], soft[sources].max(axis=0) * mask_out[i])  # the hard labels' rule
    assert not np.array_equal(mask_out, mask), "some classes lost their soft label by mixing"


# --- SpecAugment --------------------------------------------------------------------------------


def stripes(flags: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True as (start, width)."""
    runs, start = [], None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def check_spec_augment(s: np.ndarray, out: np.ndarray, cfg: SpecAugmentConfig) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """Assert the contract; return the freq / time stripe widths and the full-row / full-column flags."""
    masked = out == cfg.mask_value
    np.testing.assert_array_equal(out[~masked], s[~masked])  # everything else untouched
    full_rows = masked.all(axis=2)  # [B, F]
    full_cols = masked.all(axis=1)  # [B, T]
    assert (masked == (full_rows[:, :, None] | full_cols[:, None, :])).all(), "a masked cell outside full stripes"
    freq_widths, time_widths = [], []
    for b in range(len(s)):
        f_runs, t_runs = stripes(full_rows[b]), stripes(full_cols[b])
        assert len(f_runs) <= cfg.freq_masks and len(t_runs) <= cfg.time_masks
        assert full_rows[b].sum() <= cfg.freq_masks * cfg.freq_mask_max
        assert full_cols[b].sum() <= cfg.time_masks * cfg.time_mask_max
        freq_widths += [w for _, w in f_runs]
        time_widths += [w for _, w in t_runs]
    return freq_widths, time_widths, full_rows, full_cols


def test_single_masks_have_bounded_widths_that_reach_the_maximum() -> None:
    s = np.random.default_rng(0).uniform(1, 2, (300, 64, 100)).astype(np.float32)
    cfg = SpecAugmentConfig(freq_masks=1, freq_mask_max=16, time_masks=1, time_mask_max=24, mask_value=-5.0)
    freq_widths, time_widths, full_rows, full_cols = check_spec_augment(s, spec_augment(s, cfg, [1, 2]).numpy(), cfg)
    assert max(freq_widths) == 16 and max(time_widths) == 24
    assert len(freq_widths) < 300 and len(time_widths) < 300  # width 0 is drawn too
    # the starts reach both edges, and the bands stay inside
    assert full_rows[:, 0].any() and full_rows[:, -1].any()
    assert full_cols[:, 0].any() and full_cols[:, -1].any()


def test_mask_width_is_uniform_and_never_truncated_at_the_edge() -> None:
    """Width uniform on {0..max} with the band placed wholly inside: a start that lets the band
    run off the end would truncate it and pull the mean width below max / 2."""
    s = np.ones((3000, 24, 8), np.float32)
    cfg = SpecAugmentConfig(freq_masks=1, freq_mask_max=16, time_masks=0)
    widths = (spec_augment(s, cfg, [9, 9]).numpy() == 0.0).all(axis=2).sum(axis=1)
    assert widths.mean() == pytest.approx(8.0, abs=0.3)
    np.testing.assert_allclose(np.bincount(widths, minlength=17) / len(widths), 1 / 17, atol=0.02)


def test_two_masks_each_way() -> None:
    s = np.random.default_rng(1).uniform(1, 2, (200, 64, 100)).astype(np.float32)
    cfg = SpecAugmentConfig()
    _, _, full_rows, full_cols = check_spec_augment(s, spec_augment(s, cfg, [3, 4]).numpy(), cfg)
    assert (np.array([len(stripes(r)) for r in full_rows]) == 2).any()  # both masks are applied
    assert (np.array([len(stripes(c)) for c in full_cols]) == 2).any()


def test_masks_wider_than_the_spectrogram_stay_inside() -> None:
    s = np.random.default_rng(2).uniform(1, 2, (100, 4, 6)).astype(np.float32)
    cfg = SpecAugmentConfig(freq_masks=1, freq_mask_max=16, time_masks=1, time_mask_max=24, mask_value=0.0)
    out = spec_augment(s, cfg, [5, 6]).numpy()
    assert out.shape == s.shape
    masked = out == 0.0
    assert masked.all(axis=(1, 2)).any()  # a full-width band can cover everything, and nothing breaks


def test_no_masks_means_no_change() -> None:
    s = np.random.default_rng(3).uniform(1, 2, (8, 16, 20)).astype(np.float32)
    out = spec_augment(s, SpecAugmentConfig(freq_masks=0, time_masks=0), [0, 0]).numpy()
    np.testing.assert_array_equal(out, s)
    out = spec_augment(s, SpecAugmentConfig(freq_mask_max=0, time_mask_max=0), [0, 0]).numpy()
    np.testing.assert_array_equal(out, s)


def test_spec_augment_is_seeded() -> None:
    s = np.random.default_rng(4).uniform(1, 2, (16, 32, 40)).astype(np.float32)
    a = spec_augment(s, SpecAugmentConfig(), [7, 8]).numpy()
    assert np.array_equal(a, spec_augment(s, SpecAugmentConfig(), tf.constant([7, 8], tf.int32)).numpy())
    assert not np.array_equal(a, spec_augment(s, SpecAugmentConfig(), [7, 9]).numpy())


def test_mixup_and_spec_augment_inside_tf_data_map() -> None:
    x = np.random.default_rng(5).uniform(1, 2, (21, 32, 40)).astype(np.float32)
    y = multi_hot(21)
    mix, spec = MixupConfig(prob=0.7), SpecAugmentConfig()

    def augment(i: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        seed = tf.stack([tf.constant(42, tf.int64), i])
        xb, yb = mixup(batch[0], batch[1], mix, seed)
        return spec_augment(xb, spec, seed), yb

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).enumerate().map(augment)
    assert ds.element_spec[0].shape.as_list() == [None, 32, 40]
    for k, (xb, yb) in enumerate(ds):
        rows = slice(8 * k, 8 * k + 8)
        xe, ye = mixup(x[rows], y[rows], mix, [42, k])
        np.testing.assert_array_equal(xb.numpy(), spec_augment(xe, spec, [42, k]).numpy())
        np.testing.assert_array_equal(yb.numpy(), ye.numpy())


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(max_sources=5), r"mixup max_sources must be an integer in \[2, 3\]; got 5"),
        (dict(max_sources=2.0), r"mixup max_sources must be an integer in \[2, 3\]; got 2\.0"),
        (dict(prob=1.2), r"mixup prob must be a probability in \[0, 1\]; got 1\.2"),
        (dict(alpha=0.0), r"mixup alpha must be a finite number > 0; got 0\.0"),
        (dict(alpha=float("nan")), r"mixup alpha must be a finite number > 0; got nan"),
    ],
)
def test_mixup_config_errors(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MixupConfig(**settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(freq_masks=-1), r"spec augment freq_masks must be an integer >= 0; got -1"),
        (dict(time_mask_max=2.5), r"spec augment time_mask_max must be an integer >= 0; got 2\.5"),
        (dict(time_masks=True), r"spec augment time_masks must be an integer >= 0; got True"),
        (dict(mask_value=float("inf")), r"spec augment mask_value must be a finite number; got inf"),
    ],
)
def test_spec_augment_config_errors(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SpecAugmentConfig(**settings)


def test_configs_round_trip_through_dicts() -> None:
    assert MixupConfig(**MixupConfig(prob=0.2).to_dict()) == MixupConfig(prob=0.2)
    assert SpecAugmentConfig(**SpecAugmentConfig(time_masks=1).to_dict()) == SpecAugmentConfig(time_masks=1)


def test_spec_augment_time_masks_stay_inside_each_rows_valid_frames() -> None:
    cfg = SpecAugmentConfig(freq_masks=1, time_masks=2, freq_mask_max=4, time_mask_max=30, mask_value=-1.0)
    s = np.ones((32, 16, 120), np.float32)
    lengths = np.arange(32) * 3 + 20  # 20 .. 113 frames of audio
    for row in range(32):
        s[row, :, lengths[row] :] = 0.0
    out = spec_augment(s, cfg, [3, 4], lengths=tf.constant(lengths)).numpy()
    for row, length in enumerate(lengths):
        assert np.all(out[row, :, length:] == 0.0), f"row {row}: padding untouched"
        full_cols = np.flatnonzero(np.all(out[row] == -1.0, axis=0))
        assert np.all(full_cols < length), f"row {row}: a time mask in the padding"
    assert np.any(out[:, :, :20] == -1.0)
    same = spec_augment(s, cfg, [3, 4]).numpy()
    full = spec_augment(s, cfg, [3, 4], lengths=tf.fill([32], 120)).numpy()
    assert np.array_equal(same, full), "rows without padding get the draws of a batch without lengths"
