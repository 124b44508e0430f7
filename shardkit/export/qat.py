"""`qat`: short quantization-aware fine-tuning of a trained model, against the converter's INT8 scheme.

The trained model is rebuilt flat in float32 with BatchNorm folded (`deployable_model`), a
fake-quant twin wraps its layers (`fake_quant_model`), activation ranges are calibrated on
the converter's own calibration draw, and the twin is fine-tuned for a few epochs with the
ranges re-calibrated after each. The loss is distillation from the float model
(`QATConfig.loss`, `qat_losses`; by default entirely: `QATConfig.teacher_weight`): on a small
set the labels are already memorised, and what QAT must learn is to give the float model's
answers through INT8 rounding. The epoch whose fake-quant model scores best on the validation
samples (`QATConfig.monitor`, ROC-AUC by default; epoch 0 is the model before fine-tuning) is
kept: a small set over-fits quickly, and QAT must not make the deployed model worse. With
`QATConfig.distill_weight` the labels' share of the loss trains on the labels mixed with the
stored teacher's soft labels (shards built with a teacher), as training does. Every
epoch's validation metrics are in the history. The saved ``<stem>_qat.keras`` is the
deployable model itself — its weights trained through the fake quantization — with no
fake-quant layer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shardkit.errors import ConfigError
from shardkit.export.config import ConvertConfig, QATConfig
from shardkit.export.convert import draw_samples
from shardkit.export.runtime import KerasPredictor
from shardkit.storage import Store
from shardkit.train.trained_model import load_checkpoint, require_trained

log = logging.getLogger(__name__)


@dataclass
class QATResult:
    """Where the fine-tuned model went and how it scored before and after; ``history`` has a row per epoch, 0 the model before QAT."""

    model_path: str
    before: dict
    after: dict
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    monitor: str = "val_roc_auc"


def _scores(predict, samples) -> dict:
    from shardkit.scoring import classification_metrics

    metrics = classification_metrics(samples.labels, predict(samples.features))
    return {"roc_auc": metrics["roc_auc"], "cmap": metrics["cmap"]}


def qat_loss(config: QATConfig):
    """``loss(teacher, student, labels)`` of ``config``: its distillation loss mixed with the labels by ``teacher_weight``."""
    from shardkit.export.qat_losses import LOSSES, mixed_loss

    return mixed_loss(LOSSES[config.loss](config.to_dict()), config.teacher_weight)


def _val_row(predict_twin, val, teacher_scores: np.ndarray, loss) -> dict:
    """The fake-quant model's validation metrics: ROC-AUC, cmAP, the QAT loss (one batch) and the output MAE against the teacher."""
    from shardkit.scoring import classification_metrics

    scores = predict_twin(val.features)
    metrics = classification_metrics(val.labels, scores)
    return {
        "val_roc_auc": metrics["roc_auc"],
        "val_cmap": metrics["cmap"],
        "val_loss": float(loss(teacher_scores, scores, val.labels.astype(np.float32))),
        "val_output_mae": float(np.mean(np.abs(teacher_scores - scores))),
    }


def _optimizer(config: QATConfig):
    import keras

    return keras.optimizers.Adam(config.learning_rate)


def _train_step(twin, teacher, optimizer, loss_fn):
    """One traced QAT step: ``loss_fn(teacher scores, fake-quant twin scores, labels)``, the twin's variables updated."""
    import tensorflow as tf

    teacher.trainable = False
    variables = twin.trainable_variables
    optimizer.build(variables)

    @tf.function(reduce_retracing=True)
    def step(features, labels):
        targets = teacher(features, training=False)
        with tf.GradientTape() as tape:
            loss = loss_fn(targets, twin(features, training=True), labels)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return step


def qat(checkpoint_path: str, shards: str, out: str | None = None, config: QATConfig = QATConfig(), storage_options: dict[str, Any] | None = None) -> QATResult:
    """Fine-tune ``checkpoint_path`` with fake quantization and save ``<stem>_qat.keras`` in ``out``.

    Args:
        checkpoint_path: a ``.keras`` written by ``shardkit train``.
        shards: the shard set it was trained on (train split for fine-tuning, calibration
            and validation samples as the converter draws them).
        out: output folder (default: the checkpoint's).
        config: QAT settings.
        storage_options: fsspec options for the shards, the checkpoint and ``out``.

    Raises:
        ConfigError: the model is untrained (from scratch), or the shards do not fit it.
    """

    from shardkit.export.quantize import calibrate, deployable_model, fake_quant_model
    from shardkit.model.n6 import check_n6
    from shardkit.read.config import ReaderConfig
    from shardkit.read.dataset import ReaderPosition, ShardReader
    from shardkit.scoring import is_better
    from shardkit.train import artifacts
    from shardkit.train.distill import require_teacher, with_distill_targets

    checkpoint = load_checkpoint(checkpoint_path, storage_options)
    require_trained(checkpoint)
    store = Store(out or checkpoint.folder, storage_options or {})
    store.check_writable()
    val, calibration = draw_samples(shards, checkpoint, ConvertConfig(calibration=config.calibration, gate_split=config.val_split), storage_options)
    reader = ShardReader(
        shards,
        ReaderConfig(
            split=config.train_split,
            training=True,
            batch_size=config.batch_size,
            frontend=checkpoint.frontend,
            seed=config.seed,
            epochs=1,
            storage_options=storage_options or {},
            soft_labels=config.distill_weight > 0,
        ),
    )
    if not reader.urls:
        raise ConfigError(f"the {config.train_split!r} split of {shards!r} has no shards to fine-tune on")
    if config.distill_weight > 0:
        require_teacher(reader.manifest, shards, "qat distill_weight")

    deployable = deployable_model(checkpoint.model)
    twin = fake_quant_model(deployable)
    calibrate(twin, calibration.features)
    teacher = deployable_model(checkpoint.model)
    teacher_scores = KerasPredictor(teacher)(val.features)
    predict_float, predict_twin = KerasPredictor(deployable), KerasPredictor(twin)
    loss_fn = qat_loss(config)
    before = {"float": _scores(predict_float, val), "fake_quant": _scores(predict_twin, val)}
    log.info("QAT of %s: before %s", checkpoint.path, before)
    history = [{"epoch": 0, "loss": None, "steps": 0, **_val_row(predict_twin, val, teacher_scores, loss_fn), "seconds": 0.0}]
    best_epoch, best_value, best_weights = 0, history[0][config.monitor], deployable.get_weights()
    step = _train_step(twin, teacher, _optimizer(config), loss_fn)
    for epoch in range(config.epochs):
        dataset = reader.dataset(start=ReaderPosition(epoch, 0))
        if config.distill_weight > 0:
            dataset = with_distill_targets(dataset, config.distill_weight, config.distill_temperature)
        if config.max_steps_per_epoch:
            dataset = dataset.take(config.max_steps_per_epoch)
        started = time.monotonic()
        losses = [float(step(features, labels)) for features, labels in dataset]
        loss = float(np.mean(losses)) if losses else float("nan")
        if not np.isfinite(loss):
            raise ConfigError(f"QAT diverged at epoch {epoch + 1} (loss {loss}); lower --learning-rate")
        calibrate(twin, calibration.features)  # the converter calibrates the final weights: follow them
        row = {"epoch": epoch + 1, "loss": loss, "steps": len(losses), **_val_row(predict_twin, val, teacher_scores, loss_fn)}
        row["seconds"] = round(time.monotonic() - started, 2)
        history.append(row)
        log.info("QAT epoch %d: %s", epoch + 1, row)
        if is_better(row[config.monitor], best_value, config.monitor_mode):
            best_epoch, best_value, best_weights = epoch + 1, row[config.monitor], deployable.get_weights()
    deployable.set_weights(best_weights)
    calibrate(twin, calibration.features)
    after = {"float": _scores(predict_float, val), "fake_quant": _scores(predict_twin, val)}

    stem = f"{checkpoint.stem}_qat"
    names = artifacts.names(stem)
    digest = artifacts.save_model(store, deployable, names["model"])
    artifacts.write_labels(store, names["labels"], checkpoint.classes)
    store.write_json(
        names["model_config"],
        {
            **checkpoint.config,
            "name": stem,
            "qat": {
                "from": checkpoint.path,
                "config": config.to_dict(),
                "before": before,
                "after": after,
                "monitor": config.monitor,
                "best_epoch": best_epoch,
                "best": best_value,
                "history": history,
                "calibration_samples": len(calibration),
                "val_samples": len(val),
            },
            "sha256": {names["model"]: digest},
            "n6_violations": [str(v) for v in check_n6(deployable)],
            "versions": artifacts.versions(),
        },
    )
    return QATResult(model_path=store.location(names["model"]), before=before, after=after, history=history, best_epoch=best_epoch, monitor=config.monitor)


def format_qat_result(result: QATResult) -> str:
    """Readable lines: validation ROC-AUC / cmAP of the float and fake-quant model, before and after."""
    epochs = len(result.history) - 1
    lines = [f"QAT model: {result.model_path} (epoch {result.best_epoch} of {epochs} kept by fake-quant {result.monitor}; 0 is the model before QAT)"]
    for when, scores in (("before", result.before), ("after", result.after)):
        for kind, m in scores.items():
            lines.append(f"  {when:>6} {kind:>10}: val ROC-AUC {m['roc_auc']:.4f}  cmAP {m['cmap']:.4f}")
    return "\n".join(lines)
