"""The automatic batch size, epochs and warm-up (`shardkit.train.schedule`): bad inputs first, then the choices at each scale."""

from __future__ import annotations

import pytest

from shardkit.errors import ConfigError
from shardkit.train.config import TrainConfig, config_from_options
from shardkit.train.schedule import EPOCH_RANGE, TARGET_STEPS, UNKNOWN_SIZE, auto_batch_size, resolve_schedule


@pytest.mark.parametrize("samples", [0, -3, 1.5, "94", True])
def test_a_sample_count_that_cannot_size_a_run_is_refused(samples):
    with pytest.raises(ConfigError, match=r"sample count must be an integer >= 1 to size the run; got"):
        resolve_schedule(samples)


@pytest.mark.parametrize(("name", "value"), [("batch_size", 0), ("epochs", 0), ("warmup_epochs", -1.0), ("epochs", 2.5)])
def test_explicit_values_are_still_checked(name, value):
    with pytest.raises(ConfigError, match=rf"train {name} must be .*; got {value!r}"):
        TrainConfig(**{name: value})


def test_left_out_the_schedule_is_auto_and_unset():
    config = config_from_options({})
    assert (config.batch_size, config.epochs, config.warmup_epochs) == (None, None, None) and not config.scheduled
    assert TrainConfig(batch_size=8, epochs=2, warmup_epochs=0.0).scheduled


@pytest.mark.parametrize(
    ("samples", "batch"),
    [(10, 10), (16, 16), (94, 16), (511, 16), (512, 32), (1023, 32), (1024, 64), (300_000, 64)],
)
def test_the_batch_is_the_largest_giving_16_steps_per_epoch(samples, batch):
    assert auto_batch_size(samples) == batch


def test_a_tiny_split_gets_many_epochs_not_a_handful_of_steps():
    schedule = resolve_schedule(94)  # the real corpus: batch 64 was 1 step per epoch, 30 steps in all
    assert (schedule.batch_size, schedule.steps_per_epoch, schedule.epochs) == (16, 5, EPOCH_RANGE[1])
    assert schedule.total_steps == 300 and schedule.warmup_epochs == 1.0


def test_a_small_split_gets_the_demos_schedule():
    schedule = resolve_schedule(238)  # the demo corpus: its settings are batch 16, 60 epochs, 1 warm-up epoch
    assert (schedule.batch_size, schedule.steps_per_epoch, schedule.epochs, schedule.warmup_epochs) == (16, 14, 60, 1.0)


def test_a_mid_sized_split_reaches_the_target_steps():
    schedule = resolve_schedule(2000)
    assert (schedule.batch_size, schedule.steps_per_epoch, schedule.epochs) == (64, 31, 39)  # 2000 // 64 = 31; ceil(1200 / 31) = 39
    assert TARGET_STEPS <= schedule.total_steps < TARGET_STEPS + schedule.steps_per_epoch


def test_a_large_split_gets_a_large_batch_and_few_epochs():
    schedule = resolve_schedule(300_000)
    assert (schedule.batch_size, schedule.epochs) == (64, EPOCH_RANGE[0])  # not 30 epochs of 4,687 steps
    assert schedule.warmup_epochs == pytest.approx(0.25)  # 5 % of the run, not one epoch of 4,687 steps


def test_given_values_are_kept_and_the_rest_chosen_around_them():
    schedule = resolve_schedule(238, batch_size=64, warmup_epochs=0.5)
    assert (schedule.batch_size, schedule.steps_per_epoch, schedule.epochs, schedule.warmup_epochs) == (64, 3, 60, 0.5)
    assert schedule.chosen == ("epochs",)
    assert schedule.describe() == "batch 64, 60 epochs (180 steps), warm-up 0.5 epochs: chosen for 238 training samples (given: batch_size, warmup_epochs)"
    assert resolve_schedule(238, epochs=4).epochs == 4


def test_a_cut_epoch_counts_in_the_steps():
    schedule = resolve_schedule(300_000, max_steps_per_epoch=50)
    assert (schedule.steps_per_epoch, schedule.epochs) == (50, 24)  # 1200 / 50


def test_without_a_sample_count_the_fixed_defaults_are_used_and_said():
    schedule = resolve_schedule(None)
    assert (schedule.batch_size, schedule.epochs, schedule.warmup_epochs) == tuple(UNKNOWN_SIZE.values())
    assert schedule.total_steps is None and "unknown size (no manifest)" in schedule.describe()


def test_the_line_a_person_reads():
    assert resolve_schedule(600).describe() == "batch 32, 60 epochs (1080 steps), warm-up 1 epochs: chosen for 600 training samples"
