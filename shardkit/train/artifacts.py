"""What a training run leaves in its output folder, each file written atomically.

``<name>.keras`` (best deployable model), ``<name>_model_config.json``, ``<name>_labels.txt``,
``<name>_history.csv``, ``<name>_curves.png``, ``<name>_train_state.json`` and the resume
checkpoint under ``<name>_checkpoints/``. The train state is written last after every epoch
and names the checkpoint it belongs to, so a crash at any point leaves a consistent pair.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from importlib import metadata

import keras

from shardkit.errors import ConfigError
from shardkit.storage import Store

#: columns of the history CSV, in order
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "val_loss",
    "val_roc_auc",
    "val_cmap",
    "val_score_std",
    "lr",
    "steps",
    "seconds",
    "samples_per_s",
    "input_wait",
    "start_wait_s",
    "first_batch_s",
)
#: format id of the model config
MODEL_CONFIG_FORMAT = "shardkit-model/1"


def names(name: str) -> dict[str, str]:
    """Artifact file names of a run called ``name``."""
    return {
        "model": f"{name}.keras",
        "model_config": f"{name}_model_config.json",
        "labels": f"{name}_labels.txt",
        "history": f"{name}_history.csv",
        "curves": f"{name}_curves.png",
        "state": f"{name}_train_state.json",
        "checkpoints": f"{name}_checkpoints",
    }


def versions() -> dict[str, str]:
    """Versions of the packages that shape a model."""
    found = {}
    for package in ("shardkit", "tensorflow", "keras", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def save_model(store: Store, model: keras.Model, name: str) -> str:
    """Save ``model`` as ``name`` in ``store`` atomically; returns its SHA-256."""
    handle, local = tempfile.mkstemp(suffix=".keras", dir=store.staging_dir() if store.is_local else None)
    os.close(handle)
    try:
        model.save(local)
        with open(local, "rb") as data:
            digest = hashlib.file_digest(data, "sha256").hexdigest()
        store.commit_file(local, name)
    finally:
        if os.path.exists(local):
            os.remove(local)
    return digest


def load_model(path: str, storage_options: dict | None = None) -> keras.Model:
    """Load a ``.keras`` file from a local path or any store URL (shardkit's layers registered).

    A model saved with the old tall-convolution mel mixer comes back with the matrix-product
    mixer (same weights; see `shardkit.model.mixer`), so it runs on every CPU.
    """
    import shardkit.audio.frontend_layer
    import shardkit.model.masking  # the free time axis of a bucketed run's checkpoint
    import shardkit.model.scaling
    import shardkit.train.optim  # noqa: F401 - registers WarmupCosine
    from shardkit.model.mixer import mixers_to_matmul

    if "://" not in path:
        return mixers_to_matmul(keras.saving.load_model(path))
    folder, _, file_name = path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, file_name)
        with open(local, "wb") as handle:
            handle.write(Store(folder, storage_options or {}).read_bytes(file_name))
        return mixers_to_matmul(keras.saving.load_model(local))


def model_config_path(model_path: str) -> str:
    """``<dir>/<name>_model_config.json`` beside ``<dir>/<name>.keras``."""
    stem = model_path[: -len(".keras")] if model_path.endswith(".keras") else model_path
    return f"{stem}_model_config.json"


def read_model_config(model_path: str, storage_options: dict | None = None) -> dict:
    """The model config written beside a trained ``.keras``.

    Raises:
        ConfigError: the file is missing or is not a shardkit model config.
    """
    path = model_config_path(model_path)
    folder, _, file_name = path.rpartition("/")
    try:
        config = Store(folder or ".", storage_options or {}).read_json(file_name)
    except FileNotFoundError as exc:
        raise ConfigError(f"{model_path!r} has no {file_name} beside it; was it trained by shardkit train?") from exc
    if config.get("format") != MODEL_CONFIG_FORMAT:
        raise ConfigError(f"{path!r} is not a shardkit model config (format {config.get('format')!r})")
    return config


def write_labels(store: Store, name: str, classes: list[str]) -> None:
    """One class per line, in output order."""
    store.write_bytes(name, "".join(f"{c}\n" for c in classes).encode())


def write_history(store: Store, name: str, rows: list[dict]) -> None:
    """The per-epoch history as CSV."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    store.write_bytes(name, text.getvalue().encode())


def write_curves(store: Store, name: str, rows: list[dict], title: str) -> None:
    """Loss (train and validation) and validation ROC-AUC / cmAP per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in rows]
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [row["loss"] for row in rows], marker="o", label="train loss")
    loss_axes.plot(epochs, [row["val_loss"] for row in rows], marker="o", label="val loss")
    loss_axes.set(xlabel="epoch", ylabel="loss", title="loss")
    metric_axes.plot(epochs, [row["val_roc_auc"] for row in rows], marker="o", label="val ROC-AUC")
    metric_axes.plot(epochs, [row["val_cmap"] for row in rows], marker="o", label="val cmAP")
    metric_axes.set(xlabel="epoch", ylabel="score", ylim=(0, 1.02), title="validation metrics")
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    store.write_bytes(name, buffer.getvalue())
