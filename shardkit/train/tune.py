"""Hyperparameter search with Optuna: each trial is a `train` run, pruned between epochs.

A trial reports its monitored validation metric after every epoch; the pruner (median by
default) stops a trial whose metric trails the earlier trials' at the same epoch, so bad
settings cost an epoch or two, not a whole run. Every trial keeps its own artifacts under
``OUT/trials/trial-NNN``; ``OUT/tune_results.json`` lists them and names the best model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shardkit.errors import ConfigError
from shardkit.storage import Store
from shardkit.train.config import TrainConfig, with_options

log = logging.getLogger(__name__)

#: file with every trial's settings, result and state
RESULTS_FILE = "tune_results.json"


def default_space(trial) -> dict[str, Any]:
    """The default search space: learning rate, width, dropout, scaling, label smoothing."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "alpha": trial.suggest_categorical("alpha", [0.25, 0.5, 0.75, 1.0]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "mag_scale": trial.suggest_categorical("mag_scale", ["pwl", "pcen"]),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.1),
    }


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError("--tune needs Optuna; run: pip install 'shardkit[tune]'") from exc
    return optuna


def tune(
    shards: str,
    out: str,
    config: TrainConfig | None = None,
    *,
    trials: int = 20,
    space: Callable[[Any], dict[str, Any]] = default_space,
    pruner: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> dict:
    """Search ``space`` around ``config`` for ``trials`` trials; returns (and writes) the summary.

    Args:
        shards: shard folder or manifest.
        out: output folder; trial ``n`` trains into ``out/trials/trial-NNN``.
        config: the settings every trial starts from (the space overrides some).
        trials: number of trials.
        space: ``trial → flat options`` (names as in `config_from_options`).
        pruner: an Optuna pruner (default: median over earlier trials, after 2 trials).
        storage_options: fsspec options for the shards and the output.
    """
    if trials < 1:
        raise ConfigError(f"trials must be >= 1; got {trials!r}")
    optuna = _optuna()
    from shardkit.train.runner import train

    base = config or TrainConfig()
    store = Store(out, storage_options or {})
    store.check_writable()
    epochs_run: dict[int, int] = {}

    def objective(trial) -> float:
        import keras

        keras.backend.clear_session()  # trials run back to back in one process
        trial_config = replace(with_options(base, space(trial)), name=f"trial-{trial.number:03d}")
        epochs_run[trial.number] = 0

        def report(epoch: int, row: dict) -> None:
            epochs_run[trial.number] = epoch + 1
            trial.report(row[base.monitor], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{base.monitor} {row[base.monitor]:.4f} after epoch {epoch + 1}")

        result = train(shards, f"{store.url.rstrip('/')}/trials/{trial_config.name}", trial_config, storage_options=storage_options, epoch_hook=report)
        return result.best[base.monitor]

    direction = "maximize" if base.monitor_mode == "max" else "minimize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    study.optimize(objective, n_trials=trials)
    summary = _summary(study, base, epochs_run)
    store.write_json(RESULTS_FILE, summary)
    return summary


def _summary(study, base: TrainConfig, epochs_run: dict[int, int]) -> dict:
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = study.best_trial if completed else None
    return {
        "monitor": base.monitor,
        "direction": study.direction.name.lower(),
        "best_trial": None if best is None else best.number,
        "best_value": None if best is None else best.value,
        "best_params": None if best is None else best.params,
        "best_model": None if best is None else f"trials/trial-{best.number:03d}/trial-{best.number:03d}.keras",
        "trials": [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params, "epochs_run": epochs_run.get(t.number, 0)} for t in study.trials
        ],
    }
