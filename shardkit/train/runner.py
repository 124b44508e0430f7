"""`train`: shards in, the float model and its artifacts out, resumable epoch by epoch.

Each epoch is one ``fit`` call over exactly that epoch of the reader (the reader reshuffles
per (seed, epoch)), followed by the validation pass, the checkpoint and the train state.
Resuming loads the last checkpoint, with its optimizer state and step counter, so the
learning-rate schedule and the epoch count continue where the run stopped.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shardkit.audio.frontends import FrontendConfig
from shardkit.console import keras_verbosity
from shardkit.errors import ConfigError
from shardkit.model.dscnn import EMBEDDINGS_LAYER, HEAD_LAYER, build_model, fixed_length_copy, with_frontend
from shardkit.model.inference import inference_function
from shardkit.model.n6 import check_n6
from shardkit.read.dataset import ReaderPosition
from shardkit.read.epochs import EpochStream
from shardkit.scoring import is_better
from shardkit.storage import Store
from shardkit.train import artifacts
from shardkit.train.config import TrainConfig
from shardkit.train.distill import distill_record, with_distill_targets
from shardkit.train.optim import make_loss, make_optimizer
from shardkit.train.readers import make_readers, steps_per_epoch
from shardkit.train.report import collapse_note
from shardkit.train.settings import resolved_config, with_schedule
from shardkit.train.teacher_model import OnlineTeacher, load_teacher, with_teacher_soft_labels
from shardkit.train.validation import validate

log = logging.getLogger(__name__)

#: format id of the train state file
STATE_FORMAT = "shardkit-train-state/1"


@dataclass
class TrainResult:
    """What a run produced: where, how far it got, its best epoch and the per-epoch history."""

    out: str
    config: TrainConfig
    epochs_done: int
    best_epoch: int | None
    best: dict[str, float]
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    artifacts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_state(cls, store: Store, state: dict, config: TrainConfig, files: dict[str, str], *, stopped_early: bool) -> TrainResult:
        """The result a run's train state records (``files``: the run's artifact names)."""
        best_row = next((row for row in state["history"] if row["epoch"] == state["best_epoch"]), {})
        return cls(
            out=store.url,
            config=config,
            epochs_done=state["epochs_done"],
            best_epoch=state["best_epoch"],
            best={key: value for key, value in best_row.items() if key.startswith("val_")},
            history=state["history"],
            stopped_early=stopped_early,
            artifacts={key: store.location(name) for key, name in files.items() if key != "checkpoints"},
        )


class StepTimer(keras.callbacks.Callback):
    """Splits each epoch's wall time into waiting for input and running steps.

    Keras fetches a batch in Python, then calls the step: the time from one batch's end to
    the next one's begin is the wait for input. The first batch of an epoch is counted
    apart: ``start_wait_s`` is the wait for it (from the epoch's begin), ``first_batch_s``
    that wait plus its step (with any tracing).
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.batches = 0
        self.wait_s = self.step_s = self.first_batch_s = self.start_wait_s = 0.0
        self._epoch_start = self._mark = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        if self.batches:
            self.wait_s += now - self._mark
        else:
            self.start_wait_s = now - self._epoch_start
        self._mark = now

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.batches:
            self.step_s += now - self._mark
        else:
            self.first_batch_s = now - self._epoch_start
        self.batches += 1
        self._mark = now

    @property
    def input_wait_fraction(self) -> float:
        """Share of the steady-state time (after the first batch) spent waiting for input."""
        total = self.wait_s + self.step_s
        return self.wait_s / total if total > 0 else float("nan")


def reseed_layers(model: keras.Model, seed: int, epoch: int) -> int:
    """Set every layer's random state (dropout masks) from (seed, layer index, epoch).

    Keras does not save these states in a checkpoint; reseeding at each epoch start makes a
    resumed run draw the same masks as an uninterrupted one. Returns how many were set.
    """
    count = 0
    stack = [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))
        generator = getattr(layer, "seed_generator", None)
        if isinstance(generator, keras.random.SeedGenerator):
            count += 1
            generator.state.assign(np.array([seed * 1_000_003 + count, epoch], dtype=generator.state.dtype))
    return count


def _strategy(config: TrainConfig) -> tf.distribute.Strategy:
    if config.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def probe_model(base_model: keras.Model, num_classes: int, dropout: float) -> keras.Model:
    """Linear probe: ``base_model`` frozen up to its embeddings, a new sigmoid head for ``num_classes``."""
    try:
        embeddings = base_model.get_layer(EMBEDDINGS_LAYER).output
    except ValueError as exc:
        raise ConfigError(f"the base model {base_model.name!r} has no {EMBEDDINGS_LAYER!r} layer; it was not built by shardkit") from exc
    backbone = keras.Model(base_model.inputs, embeddings, name="backbone")
    backbone.trainable = False
    inputs = keras.Input(base_model.input_shape[1:], name=base_model.inputs[0].name)
    x = backbone(inputs, training=False)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="sigmoid", dtype="float32", name=HEAD_LAYER)(x)
    return keras.Model(inputs, outputs, name=f"{base_model.name}_probe")


def _check_val_split(val_reader, config: TrainConfig) -> None:
    """ROC-AUC and cmAP need a class with positives (and, for AUC, negatives) in the val split."""
    split = ((val_reader.manifest or {}).get("splits") or {}).get(config.val_split)
    if not split or config.monitor == "val_loss":
        return
    counts, samples = split.get("classes", {}), int(split.get("samples", 0))
    scored = [name for name in val_reader.classes if 0 < counts.get(name, 0) < samples]
    if not scored:
        raise ConfigError(
            f"--monitor {config.monitor} needs a class with both positive and negative samples in the {config.val_split!r} split; it has {counts} of {samples} samples (use --monitor val_loss, or build with a noise folder / more classes)"
        )


def _check_probe_frontend(base_model: str, config: TrainConfig, storage_options: dict | None) -> None:
    base = FrontendConfig.from_dict(artifacts.read_model_config(base_model, storage_options)["frontend"]).to_dict()
    if base != config.frontend.to_dict():
        raise ConfigError(f"the probe's frontend {config.frontend.to_dict()} differs from the base model's {base}")


def _fit_model(core: keras.Model, config: TrainConfig) -> keras.Model:
    """What ``fit`` sees: the core, or the frontend layer + the core under deferred placement."""
    if config.placement == "deferred" and config.frontend.name != "raw":
        return with_frontend(core, config.frontend)
    return core


def _core(fit_model: keras.Model, config: TrainConfig) -> keras.Model:
    if config.placement == "deferred" and config.frontend.name != "raw":
        return fit_model.layers[-1]
    return fit_model


def _start_state(store: Store, config: TrainConfig | None, resume: bool, name: str | None) -> tuple[TrainConfig, dict | None]:
    """The config to run and the saved state to resume from (None: a fresh run)."""
    if not resume:
        config = config or TrainConfig()
        state_file = artifacts.names(config.name)["state"]
        if store.exists(state_file):
            raise ConfigError(f"{store.url!r} already holds a run named {config.name!r}; pass --resume to continue it or choose another output or name")
        return config, None
    state_file = _find_state(store, name or (config.name if config else None))
    saved = store.read_json(state_file)
    saved_config = TrainConfig.from_dict(saved["config"])
    if config is not None and config != saved_config:
        given, stored = config.to_dict(), saved_config.to_dict()
        changed = sorted(k for k in stored if given[k] != stored[k])
        raise ConfigError(f"--resume continues the saved run unchanged, but these settings differ from it: {changed}")
    return saved_config, saved


def _find_state(store: Store, name: str | None) -> str:
    """The train state to resume: the named run's, or the only one in the output."""
    suffix = artifacts.names("")["state"]
    if name is not None:
        state_file = artifacts.names(name)["state"]
        if not store.exists(state_file):
            raise ConfigError(f"nothing to resume: {store.url!r} has no {state_file}")
        return state_file
    found = [f for f in store.listdir() if f.endswith(suffix)]
    if len(found) != 1:
        runs = [f[: -len(suffix)] for f in found]
        raise ConfigError(f"nothing to resume in {store.url!r}" if not found else f"{store.url!r} holds several runs {runs}; pass --name to pick one")
    return found[0]


def _distill(config: TrainConfig, manifest: dict | None, teacher: OnlineTeacher | None) -> dict | None:
    """The model config's ``distill`` record (None: no distillation), logged; a ``teacher_model`` wins over stored soft labels."""
    if config.distill_weight <= 0:
        return None
    if teacher is None:
        record = distill_record(manifest["teacher"], config.distill_weight, config.distill_temperature)
        log.info("distillation from the stored soft labels of teacher %r: %s", record["teacher"], record)
        return record
    stored = (manifest or {}).get("teacher")
    if isinstance(stored, dict):
        log.info("teacher_model %r is the teacher; the soft labels the shards store (teacher %r) are not used", teacher.path, stored.get("name"))
    record = distill_record(teacher.record(), config.distill_weight, config.distill_temperature, source="teacher_model")
    log.info("distillation from teacher model %r, run on each augmented training batch: %s", teacher.path, record)
    return record


def _write_model_config(store: Store, files: dict, core: keras.Model, config: TrainConfig, context: dict, best: dict, digest: str) -> None:
    store.write_json(
        files["model_config"],
        {
            "format": artifacts.MODEL_CONFIG_FORMAT,
            "name": config.name,
            "classes": context["classes"],
            "negative_classes": context["negative_classes"],
            "frontend": config.deploy_frontend.to_dict(),
            "spectrogram_contract": config.deploy_frontend.contract_version,
            "placement": config.placement,
            "batching": config.batching,
            "input": {"name": core.inputs[0].name, "shape": list(core.input_shape[1:]), "dtype": "float32"},
            "output": {"shape": [len(context["classes"])], "activation": "sigmoid"},
            "model": context["probe_model"] or config.model.to_dict(),
            "train": config.to_dict(),
            "probe_from": context["probe_from"],
            "distill": context["distill"],
            "shards": context["shards"],
            "best": best,
            "sha256": {files["model"]: digest},
            "n6_violations": [str(v) for v in check_n6(core)],
            "versions": artifacts.versions(),
        },
    )


def train(
    shards: str,
    out: str,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    name: str | None = None,
    base_model: str | None = None,
    storage_options: dict[str, Any] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    epoch_hook: Callable[[int, dict], None] | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train (or continue training) a model on the shards and write its artifacts to ``out``.

    Args:
        shards: a shard folder or manifest (local or ``s3://``).
        out: output folder (local or ``s3://``).
        config: the run's settings: a `TrainConfig`, used as given, or flat options (as
            `shardkit.train.config.config_from_options` takes them; None for a fresh run: all
            defaults) completed from the data: the frontend's sample rate is the shards' unless
            given, and with ``base_model`` the frontend options not given are the base model's
            (its sample rate always); see `shardkit.train.settings.config_for_run`. A batch
            size, epoch count or warm-up left None (in either form) is chosen from the
            training split's size (`shardkit.train.schedule`) and saved as chosen. With
            ``resume`` it may be None (the saved settings are used).
        resume: continue the run saved in ``out`` (same settings) from its last finished epoch.
        name: with ``resume`` and no config, which run in ``out`` (default: the only one).
        base_model: path of a trained ``.keras`` to linear-probe (frozen up to its embeddings).
        storage_options: fsspec options for the shards and the output.
        callbacks: extra Keras callbacks for every epoch's ``fit``.
        epoch_hook: called with ``(epoch, history_row)`` after each epoch's artifacts are written
            (hyperparameter search reports and prunes through it).
        verbose: Keras progress output (0 silent, 1 bar on a terminal and a line per epoch otherwise, 2 a line per epoch).

    Raises:
        ConfigError: bad settings, shards or output, before any training step.
    """
    if config is None and not resume:
        config = {}
    schedule = None
    if isinstance(config, Mapping):
        config, schedule = resolved_config(config, shards, base_model=base_model, storage_options=storage_options)
    elif config is not None:
        config, schedule = with_schedule(config, shards, storage_options)
    if schedule is not None:
        log.info("%s", schedule.describe())
    store = Store(out, storage_options or {})
    store.check_writable()
    config, state = _start_state(store, config, resume, name)
    files = artifacts.names(config.name)
    train_reader, val_reader = make_readers(shards, config, storage_options)
    if config.batching == "bucketed":
        log.warning(
            "bucketed batching trained clearly worse models than fixed crops on every corpus measured so far (README, "
            "'Bucketed or fixed batching'); compare both on your data (tools/bench_bucketed.py) before deploying this one"
        )
    _check_val_split(val_reader, config)
    import matplotlib  # noqa: F401 - fail now, not after the first epoch, if the curves cannot be drawn

    steps = steps_per_epoch(train_reader, config)
    context = {
        "classes": train_reader.classes,
        "negative_classes": (train_reader.manifest or {}).get("negative_classes", []),
        "probe_from": base_model if state is None else state.get("probe_from"),
        "shards": shards,
    }
    teacher = load_teacher(config.teacher_model, config.frontend, train_reader.classes, storage_options) if config.teacher_model else None
    context["distill"] = _distill(config, train_reader.manifest, teacher)
    # the teacher takes what the fit model takes: under deferred placement, waveforms through the same frontend layer
    context["teacher"] = (_fit_model(teacher.model, config), teacher.index, teacher.mask) if teacher else None
    # a probe's architecture is its backbone's: record that, not the (unused) model settings
    context["probe_model"] = artifacts.read_model_config(context["probe_from"], storage_options)["model"] if context["probe_from"] else None
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if config.mixed_precision else "float32")
    try:
        keras.utils.set_random_seed(config.seed)
        with _strategy(config).scope():
            if state is not None:
                fit_model = artifacts.load_model(store.location(state["checkpoint"]), storage_options)
            else:
                if context["probe_from"]:
                    if config.batching == "bucketed":
                        raise ConfigError("a linear probe trains on the base model's fixed-length input; use --batching fixed with --base-model")
                    _check_probe_frontend(context["probe_from"], config, storage_options)
                    core = probe_model(artifacts.load_model(context["probe_from"], storage_options), len(context["classes"]), config.model.dropout)
                else:
                    core = build_model(config.frontend, len(context["classes"]), config.model, name=config.name, variable_length=config.batching == "bucketed")
                fit_model = _fit_model(core, config)
                fit_model.compile(optimizer=make_optimizer(config, steps), loss=make_loss(config))
        core = _core(fit_model, config)
        if state is None:
            artifacts.write_labels(store, files["labels"], context["classes"])
            state = {
                "format": STATE_FORMAT,
                "config": config.to_dict(),
                "epochs_done": 0,
                "steps_per_epoch": steps,
                "best": None,
                "best_epoch": None,
                "wait": 0,
                "history": [],
                "checkpoint": None,
                "finished": False,
                "probe_from": context["probe_from"],
            }
        return _epochs(store, files, fit_model, core, config, state, context, train_reader, val_reader, callbacks, epoch_hook, verbose)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _epochs(store, files, fit_model, core, config, state, context, train_reader, val_reader, callbacks, epoch_hook, verbose) -> TrainResult:
    loss = make_loss(config)
    timer = StepTimer()
    val_dataset = val_reader.dataset()
    predict = inference_function(fit_model)
    stopped_early = state["finished"] and state["epochs_done"] < config.epochs
    first, last = state["epochs_done"], config.epochs if not state["finished"] else state["epochs_done"]
    with training_stream(train_reader, config, context["teacher"], first, last) as stream:
        for epoch in range(first, last):
            trained = _fit_epoch(fit_model, stream.epoch(epoch), epoch, config, timer, callbacks, verbose)
            row = {
                "epoch": epoch + 1,
                "loss": trained.pop("loss"),
                **validate(predict, val_dataset, loss),
                "lr": float(keras.ops.convert_to_numpy(fit_model.optimizer.learning_rate)),
                **trained,
            }
            stopped_early = _end_epoch(store, files, fit_model, core, config, state, context, row, epoch_hook)
            if stopped_early:
                break
    log.info("reader: %s", dict(train_reader.stats.counts))
    return TrainResult.from_state(store, state, config, files, stopped_early=stopped_early)


class PerEpochPipelines:
    """A pipeline built for each epoch (what `training_stream` replaced): used under a distribution strategy.

    ``fit`` under MirroredStrategy distributes its dataset itself and ran no step over the
    `EpochStream` view (a generator over a shared iterator), so a distributed run keeps paying
    the epoch start instead.
    """

    def __init__(self, train_reader, config: TrainConfig, teacher: tuple | None) -> None:
        self.train_reader, self.config, self.teacher = train_reader, config, teacher

    def __enter__(self) -> PerEpochPipelines:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def epoch(self, epoch: int) -> tf.data.Dataset:
        """Epoch ``epoch`` of the training reader, teacher scores and distillation targets added."""
        dataset = self.train_reader.dataset(start=ReaderPosition(epoch, 0))
        if self.teacher:
            dataset = with_teacher_soft_labels(dataset, *self.teacher)
        if self.config.distill_weight > 0:
            dataset = with_distill_targets(dataset, self.config.distill_weight, self.config.distill_temperature)
        if self.config.max_steps_per_epoch:
            dataset = dataset.take(self.config.max_steps_per_epoch)
        return dataset


def training_stream(train_reader, config: TrainConfig, teacher: tuple | None, first: int, last: int) -> EpochStream | PerEpochPipelines:
    """Epochs ``first`` to ``last - 1`` of the training reader as one pipeline, handed to ``fit`` an epoch at a time.

    One pipeline for the run, not one per epoch: its prefetch runs into the next epoch while
    the current one trains, so an epoch start costs no input wait (see `shardkit.read.epochs`).
    The teacher's scores and the distillation targets are added once, to that pipeline. Under
    a distribution strategy, a pipeline per epoch (`PerEpochPipelines`).
    """
    if config.distribute != "none":
        return PerEpochPipelines(train_reader, config, teacher)
    reader = train_reader.with_settings(epochs=max(1, last - first), with_position=True)
    dataset = reader.dataset(start=ReaderPosition(first, 0), max_batches_per_epoch=config.max_steps_per_epoch)
    if teacher:
        dataset = with_teacher_soft_labels(dataset, *teacher)
    if config.distill_weight > 0:
        dataset = with_distill_targets(dataset, config.distill_weight, config.distill_temperature)
    return EpochStream(dataset)


def _fit_epoch(fit_model, dataset, epoch: int, config: TrainConfig, timer: StepTimer, callbacks, verbose: int) -> dict:
    """One ``fit`` over one epoch's batches; the history row's training columns."""
    started = time.perf_counter()
    reseed_layers(fit_model, config.seed, epoch)
    with warnings.catch_warnings():  # the reader's epochs have no declared length; Keras warns when one ends
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        fitted = fit_model.fit(dataset, initial_epoch=epoch, epochs=epoch + 1, callbacks=[timer, *callbacks], shuffle=False, verbose=keras_verbosity(verbose))
    seconds = time.perf_counter() - started
    return {
        "loss": float(fitted.history["loss"][-1]),
        "seconds": round(seconds, 3),
        "samples_per_s": round(timer.batches * config.batch_size / seconds, 1),
        "steps": timer.batches,
        "input_wait": round(timer.input_wait_fraction, 4),
        "start_wait_s": round(timer.start_wait_s, 3),
        "first_batch_s": round(timer.first_batch_s, 3),
    }


def deployable(core: keras.Model, config: TrainConfig) -> keras.Model:
    """The model a run saves: ``core``, or under bucketed batching its fixed-length copy at the deployed chunk (``config.deploy_frontend``).

    The free-time-axis model masks padding with layers that hold no weights; the copy has the
    same weights in plain N6 layers, and QAT, conversion and evaluation take it as any other.
    """
    return fixed_length_copy(core, config.deploy_frontend, config.model) if config.batching == "bucketed" else core


def _end_epoch(store, files, fit_model, core, config, state, context, row, epoch_hook) -> bool:
    """After an epoch: its history row, the best model, the checkpoint and the train state. Returns whether to stop early."""
    epoch = row["epoch"] - 1
    state["history"].append(row)
    value = row[config.monitor]
    if is_better(value, state["best"], config.monitor_mode):
        deployed = deployable(core, config)
        digest = artifacts.save_model(store, deployed, files["model"])
        state.update(best=value, best_epoch=epoch + 1, wait=0)
        _write_model_config(store, files, deployed, config, context, {"epoch": epoch + 1, "monitor": config.monitor, **row}, digest)
    else:
        state["wait"] += 1
    checkpoint = f"{files['checkpoints']}/epoch-{epoch + 1:04d}.keras"
    artifacts.save_model(store, fit_model, checkpoint)
    previous, state["checkpoint"], state["epochs_done"] = state["checkpoint"], checkpoint, epoch + 1
    stopped_early = config.patience is not None and state["wait"] >= config.patience
    state["finished"] = stopped_early or epoch + 1 == config.epochs
    artifacts.write_history(store, files["history"], state["history"])
    artifacts.write_curves(store, files["curves"], state["history"], f"{config.name}: best {config.monitor} {state['best']:.4f} at epoch {state['best_epoch']}")
    store.write_json(files["state"], state)
    if previous and previous != checkpoint:
        store.delete(previous)
    log.info(
        "epoch %d/%d: loss %.4f val_loss %.4f val_roc_auc %.4f val_cmap %.4f (%.1f s)%s",
        epoch + 1,
        config.epochs,
        row["loss"],
        row["val_loss"],
        row["val_roc_auc"],
        row["val_cmap"],
        row["seconds"],
        collapse_note(row),
    )
    if collapse_note(row) and not any(collapse_note(earlier) for earlier in state["history"][:-1]):
        log.warning("epoch %d:%s; training goes on, and the summary says whether the best model is", epoch + 1, collapse_note(row))
    if epoch_hook is not None:
        epoch_hook(epoch, row)
    if stopped_early:
        log.info("early stopping: %s did not improve for %d epochs", config.monitor, config.patience)
    return stopped_early
