"""A run's `TrainConfig` from flat options; what they leave out comes from the shards and the base model.

``shardkit train`` and Python callers of `shardkit.train.runner.train` alike: the frontend's
sample rate is the shards' (from their manifest) unless given, a linear probe's frontend
is its base model's (a probe feeds the backbone what it was trained on), and a batch size,
epoch count or warm-up left out is chosen from the training split's size
(`shardkit.train.schedule`); the saved config records the values chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardkit.audio.frontends import FrontendConfig
from shardkit.train.config import TrainConfig, config_from_options
from shardkit.train.schedule import Schedule, resolve_schedule


def config_for_run(options: Mapping[str, Any], shards: str, *, base_model: str | None = None, storage_options: dict | None = None) -> TrainConfig:
    """The `TrainConfig` of flat ``options`` (as `config_from_options` takes them), completed from the data.

    Args:
        options: flat settings (CLI names without dashes); None values take defaults.
        shards: the shard folder or manifest the run trains on; its manifest's sample rate is
            the frontend's when ``sample_rate_hz`` is not given.
        base_model: a trained ``.keras`` to linear-probe: frontend options not given are its
            frontend's, and its sample rate always is.
        storage_options: fsspec options for the shards and the base model.

    Raises:
        ConfigError: an unknown option, a bad value, or shards / a base model that cannot be read.
    """
    return resolved_config(options, shards, base_model=base_model, storage_options=storage_options)[0]


def resolved_config(
    options: Mapping[str, Any], shards: str, *, base_model: str | None = None, storage_options: dict | None = None
) -> tuple[TrainConfig, Schedule | None]:
    """`config_for_run`, and the schedule chosen from the data (None when every part of it was given).

    The command prints ``schedule.describe()`` once, before training starts.
    """
    flat = dict(options)
    if not flat.get("sample_rate_hz"):
        flat["sample_rate_hz"] = shards_sample_rate(shards, storage_options)
    if base_model:
        flat.update(probe_frontend(base_model, flat, storage_options))
    return with_schedule(config_from_options(flat), shards, storage_options)


def with_schedule(config: TrainConfig, shards: str, storage_options: dict | None = None) -> tuple[TrainConfig, Schedule | None]:
    """``config`` with its batch size, epochs and warm-up set: those left None chosen from the training split's size.

    Returns the config unchanged and None when all three are set.
    """
    if config.scheduled:
        return config, None
    schedule = resolve_schedule(
        train_samples(shards, config.train_split, storage_options),
        batch_size=config.batch_size,
        epochs=config.epochs,
        warmup_epochs=config.warmup_epochs,
        max_steps_per_epoch=config.max_steps_per_epoch,
    )
    return replace(config, batch_size=schedule.batch_size, epochs=schedule.epochs, warmup_epochs=schedule.warmup_epochs), schedule


def train_samples(shards: str, split: str, storage_options: dict | None = None) -> int | None:
    """Samples in the shards' ``split`` by their manifest (None: no manifest, or it does not count that split)."""
    from shardkit.read.shardlist import resolve_shards

    manifest = resolve_shards(shards, split, storage_options).manifest or {}
    samples = ((manifest.get("splits") or {}).get(split) or {}).get("samples")
    return int(samples) if samples else None


def shards_sample_rate(shards: str, storage_options: dict | None = None) -> int | None:
    """The sample rate (Hz) in the shards' manifest, or None when they have none."""
    from shardkit.read.shardlist import resolve_shards

    manifest = resolve_shards(shards, "train", storage_options).manifest or {}
    return manifest.get("sample_rate")


def probe_frontend(base_model: str, options: Mapping[str, Any], storage_options: dict | None = None) -> dict[str, Any]:
    """The base model's frontend as flat options: those not given in ``options``, and always its sample rate.

    The log floor comes along only with the ``log`` compression (elsewhere it is an ignored option).
    """
    from shardkit.train.artifacts import read_model_config

    frontend = FrontendConfig.from_dict(read_model_config(base_model, storage_options)["frontend"]).to_dict()
    flat = {("frontend" if k == "name" else k): v for k, v in frontend.items()}
    if (options.get("compression") or flat["compression"]) != "log":
        flat.pop("log_floor_db")
    return {k: v for k, v in flat.items() if options.get(k) is None or k == "sample_rate_hz"}
