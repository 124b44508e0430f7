"""Hyperparameter search: trials are real runs, and the pruner stops bad ones after an epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.training import tiny_config

from shardkit.errors import ConfigError
from shardkit.train.tune import RESULTS_FILE, tune

optuna = pytest.importorskip("optuna")


def good_then_divergent(trial) -> dict:
    """Trial 0 trains sensibly; later trials use a learning rate that wrecks the model at once."""
    rate = 3e-3 if trial.number == 0 else 50.0
    return {"learning_rate": trial.suggest_float("learning_rate", rate, rate)}


@pytest.mark.slow
def test_bad_trials_are_pruned_after_their_first_epoch(tiny_shards: Path, tmp_path: Path) -> None:
    base = tiny_config(epochs=3, monitor="val_loss", optimizer="sgd", momentum=0.0)
    summary = tune(
        str(tiny_shards), str(tmp_path), base, trials=3, space=good_then_divergent, pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )

    trials = {t["number"]: t for t in summary["trials"]}
    assert trials[0]["state"] == "COMPLETE" and trials[0]["epochs_run"] == 3
    for number in (1, 2):
        assert trials[number]["state"] == "PRUNED", trials[number]
        assert trials[number]["epochs_run"] == 1
        history = json.loads((tmp_path / "trials" / f"trial-{number:03d}" / f"trial-{number:03d}_train_state.json").read_text())["history"]
        assert len(history) == 1
    assert summary["best_trial"] == 0 and summary["best_params"] == {"learning_rate": 3e-3}
    assert (tmp_path / summary["best_model"]).is_file()
    assert json.loads((tmp_path / RESULTS_FILE).read_text()) == json.loads(json.dumps(summary))


def test_default_space_settings_are_valid_train_options(tiny_shards: Path) -> None:
    from shardkit.train.config import with_options
    from shardkit.train.tune import default_space

    trial = optuna.trial.FixedTrial({"learning_rate": 1e-3, "alpha": 0.5, "dropout": 0.2, "mag_scale": "pcen", "label_smoothing": 0.05})
    config = with_options(tiny_config(), default_space(trial))
    assert (config.learning_rate, config.model.alpha, config.model.mag_scale, config.label_smoothing) == (1e-3, 0.5, "pcen", 0.05)


def test_zero_trials_and_unknown_options_are_refused(tiny_shards: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trials must be >= 1; got 0"):
        tune(str(tiny_shards), str(tmp_path), tiny_config(), trials=0)
    with pytest.raises(ConfigError, match=r"unknown train options \['momentun'\]"):
        tune(str(tiny_shards), str(tmp_path), tiny_config(), trials=1, space=lambda trial: {"momentun": 0.5})
