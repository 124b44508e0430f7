"""Warm-up / cosine schedule, the optimizers on it, and the losses, from `TrainConfig`."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from shardkit.train.config import TrainConfig
from shardkit.train.optim import WarmupCosine, make_loss, make_optimizer, make_schedule

PEAK, WARMUP, TOTAL, RATIO = 2e-3, 10, 110, 0.05
FLOOR = PEAK * RATIO

#: what a run resolves before it builds an optimizer (`with_schedule`): the old fixed defaults
SCHEDULED = {"batch_size": 64, "epochs": 30, "warmup_epochs": 1.0}


def rates(schedule: WarmupCosine, steps) -> np.ndarray:
    return np.array([float(schedule(step)) for step in steps])


# ----- WarmupCosine -----------------------------------------------------------------------


def test_warmup_rises_linearly_to_the_peak():
    schedule = WarmupCosine(PEAK, WARMUP, TOTAL, RATIO)
    warm = rates(schedule, range(WARMUP))
    np.testing.assert_allclose(np.diff(warm), PEAK / WARMUP, rtol=1e-4)
    assert np.all(warm <= PEAK * (1 + 1e-6)) and warm[0] > 0
    assert float(schedule(WARMUP)) == pytest.approx(PEAK, rel=1e-6)


def test_cosine_midpoint_floor_and_after():
    schedule = WarmupCosine(PEAK, WARMUP, TOTAL, RATIO)
    middle = WARMUP + (TOTAL - WARMUP) // 2
    assert float(schedule(middle)) == pytest.approx((PEAK + FLOOR) / 2, rel=1e-5)
    quarter = WARMUP + (TOTAL - WARMUP) // 4
    assert float(schedule(quarter)) == pytest.approx(FLOOR + (PEAK - FLOOR) * 0.5 * (1 + math.cos(math.pi / 4)), rel=1e-5)
    for step in (TOTAL, TOTAL + 1, 10 * TOTAL):
        assert float(schedule(step)) == pytest.approx(FLOOR, rel=1e-5)


def test_decay_never_rises_after_warmup():
    schedule = WarmupCosine(PEAK, WARMUP, TOTAL, RATIO)
    decay = rates(schedule, range(WARMUP, TOTAL + 20))
    assert np.all(np.diff(decay) <= 1e-9)
    assert decay.max() == pytest.approx(PEAK, rel=1e-6) and decay.min() == pytest.approx(FLOOR, rel=1e-5)


def test_no_warmup_starts_at_the_peak():
    schedule = WarmupCosine(PEAK, 0, 50, 0.0)
    assert float(schedule(0)) == pytest.approx(PEAK, rel=1e-6)
    assert float(schedule(25)) == pytest.approx(PEAK / 2, rel=1e-5)
    assert float(schedule(50)) == pytest.approx(0.0, abs=1e-9)


def test_accepts_integer_tensors_and_variables():
    schedule = WarmupCosine(PEAK, WARMUP, TOTAL, RATIO)
    step = keras.Variable(WARMUP, dtype="int64", trainable=False)
    assert float(schedule(step)) == pytest.approx(PEAK, rel=1e-6)


def test_config_round_trip_gives_the_same_rates():
    schedule = WarmupCosine(PEAK, WARMUP, TOTAL, RATIO)
    config = schedule.get_config()
    assert config == {"peak": PEAK, "warmup_steps": WARMUP, "total_steps": TOTAL, "final_ratio": RATIO}
    steps = [0, 3, WARMUP, 40, TOTAL, TOTAL + 5]
    np.testing.assert_array_equal(rates(WarmupCosine.from_config(config), steps), rates(schedule, steps))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupCosine)
    np.testing.assert_array_equal(rates(restored, steps), rates(schedule, steps))


def test_total_steps_is_at_least_one_past_warmup():
    schedule = WarmupCosine(PEAK, 10, 5)
    assert schedule.total_steps == 11
    assert np.all(np.isfinite(rates(schedule, range(15))))


# ----- make_schedule / make_optimizer -------------------------------------------------------


@pytest.mark.parametrize(("warmup_epochs", "steps", "expected_warmup"), [(1.0, 20, 20), (0.5, 10, 5), (0.0, 7, 0), (2.3, 10, 23)])
def test_schedule_follows_the_config(warmup_epochs: float, steps: int, expected_warmup: int):
    config = TrainConfig(epochs=6, learning_rate=3e-3, warmup_epochs=warmup_epochs, final_lr_ratio=0.1, batch_size=8)
    schedule = make_schedule(config, steps)
    assert schedule.warmup_steps == expected_warmup
    assert schedule.total_steps == 6 * steps
    assert schedule.peak == 3e-3 and schedule.final_ratio == 0.1


@pytest.mark.parametrize(("name", "kind"), [("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW), ("sgd", keras.optimizers.SGD)])
def test_optimizer_types(name: str, kind: type):
    optimizer = make_optimizer(TrainConfig(optimizer=name, **SCHEDULED), steps_per_epoch=10)
    assert type(optimizer) is kind
    assert isinstance(optimizer._learning_rate, WarmupCosine)
    assert optimizer.global_clipnorm is None


def test_optimizer_settings():
    adamw = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.05, **SCHEDULED), 10)
    assert adamw.weight_decay == pytest.approx(0.05)
    sgd = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.8, **SCHEDULED), 10)
    assert sgd.momentum == pytest.approx(0.8) and sgd.nesterov is True
    plain = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.0, **SCHEDULED), 10)
    assert plain.momentum == 0.0 and plain.nesterov is False
    clipped = make_optimizer(TrainConfig(clip_norm=2.5, **SCHEDULED), 10)
    assert clipped.global_clipnorm == pytest.approx(2.5) and clipped.clipnorm is None


def test_optimizer_rate_follows_the_schedule():
    config = TrainConfig(epochs=4, learning_rate=1e-2, warmup_epochs=1.0, final_lr_ratio=0.1, batch_size=8)
    optimizer = make_optimizer(config, steps_per_epoch=5)
    schedule = make_schedule(config, 5)
    seen = []
    for step in (0, 2, 5, 10, 15, 20, 30):
        optimizer.iterations.assign(step)
        seen.append(float(optimizer.learning_rate))
        assert seen[-1] == pytest.approx(float(schedule(step)), rel=1e-6)
    assert seen[0] < seen[1] < seen[2] == pytest.approx(1e-2)
    assert seen[2] > seen[3] > seen[4] > seen[5] == pytest.approx(1e-3) == seen[6]


def test_an_unscheduled_config_is_refused_by_the_schedule():
    with pytest.raises(ValueError, match="the schedule needs batch_size, epochs and warmup_epochs; got None, None, None"):
        make_optimizer(TrainConfig(), steps_per_epoch=10)


def test_a_restored_optimizer_continues_the_curve():
    config = TrainConfig(epochs=3, learning_rate=1e-2, optimizer="adamw", batch_size=8, warmup_epochs=1.0)
    optimizer = make_optimizer(config, steps_per_epoch=8)
    restored = keras.optimizers.AdamW.from_config(optimizer.get_config())
    for step in (1, 8, 17):
        optimizer.iterations.assign(step)
        restored.iterations.assign(step)
        assert float(restored.learning_rate) == pytest.approx(float(optimizer.learning_rate), rel=1e-6)


# ----- make_loss ----------------------------------------------------------------------------


def loss_value(loss: keras.losses.Loss, y_true, y_pred) -> float:
    return float(loss(np.array(y_true, dtype=np.float32), np.array(y_pred, dtype=np.float32)))


def test_loss_types():
    assert type(make_loss(TrainConfig(loss="bce"))) is keras.losses.BinaryCrossentropy
    focal = make_loss(TrainConfig(loss="focal", focal_gamma=3.0))
    assert type(focal) is keras.losses.BinaryFocalCrossentropy and focal.gamma == 3.0


def test_focal_down_weights_easy_examples():
    bce = make_loss(TrainConfig(loss="bce"))
    focal = make_loss(TrainConfig(loss="focal", focal_gamma=2.0))
    easy, hard = ([[1.0]], [[0.95]]), ([[1.0]], [[0.1]])
    easy_ratio = loss_value(focal, *easy) / loss_value(bce, *easy)
    hard_ratio = loss_value(focal, *hard) / loss_value(bce, *hard)
    assert easy_ratio == pytest.approx(0.05**2, rel=1e-3)
    assert hard_ratio == pytest.approx(0.9**2, rel=1e-3)
    assert hard_ratio > 100 * easy_ratio
    # gamma 0 is plain cross-entropy
    assert loss_value(make_loss(TrainConfig(loss="focal", focal_gamma=0.0)), *hard) == pytest.approx(loss_value(bce, *hard), rel=1e-5)


@pytest.mark.parametrize("name", ["bce", "focal"])
def test_label_smoothing_penalises_a_perfect_prediction(name: str):
    perfect = ([[1.0, 0.0]], [[1.0, 0.0]])
    plain = loss_value(make_loss(TrainConfig(loss=name)), *perfect)
    smoothed = loss_value(make_loss(TrainConfig(loss=name, label_smoothing=0.1)), *perfect)
    assert plain < 1e-5
    # towards 0.5: targets 0.95 / 0.05; focal also scales by (1 - p_t)**gamma with the smoothed p_t
    assert smoothed > 1e-3 and smoothed > 100 * plain
