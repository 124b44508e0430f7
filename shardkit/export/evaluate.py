"""`evaluate`: run a `.keras` or `.tflite` model over a split; metrics, agreement, report files.

Writes ``<stem>_eval_<split>.json`` (metrics, per-class AP and ROC-AUC, and with a second
model the float-vs-INT8 agreement), ``.txt`` (the readable summary) and ``.png`` (per-class
AP) beside the model, or in ``out``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardkit.errors import ConfigError
from shardkit.export.runtime import KerasPredictor, TFLitePredictor, agreement
from shardkit.export.samples import iter_split
from shardkit.jsonio import dumps
from shardkit.storage import Store

#: format id of the evaluation report
REPORT_FORMAT = "shardkit-eval/1"
MODEL_SUFFIXES = (".keras", ".tflite")


@dataclass
class LoadedModel:
    """A predictor with the model config that says what it takes and outputs."""

    path: str
    predict: Any
    config: dict

    @property
    def stem(self) -> str:
        name = self.path.rpartition("/")[2]
        return name.rpartition(".")[0]


def load_any(path: str, storage_options: dict[str, Any] | None = None) -> LoadedModel:
    """A ``.keras`` (Keras) or ``.tflite`` (ai_edge_litert) model and its ``<stem>_model_config.json``.

    Raises:
        ConfigError: another suffix, a missing file or config.
    """
    if not path.endswith(MODEL_SUFFIXES):
        raise ConfigError(f"MODEL must end in {' or '.join(MODEL_SUFFIXES)}; got {path!r}")
    if path.endswith(".keras"):
        from shardkit.train.trained_model import load_checkpoint

        checkpoint = load_checkpoint(path, storage_options)
        return LoadedModel(path, KerasPredictor(checkpoint.model), checkpoint.config)
    folder, _, name = path.rpartition("/")
    store = Store(folder or ".", storage_options or {})
    stem = name[: -len(".tflite")]
    try:
        content = store.read_bytes(name)
    except FileNotFoundError as exc:
        raise ConfigError(f"MODEL {path!r} does not exist") from exc
    try:
        config = store.read_json(f"{stem}_model_config.json")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path!r} has no {stem}_model_config.json beside it; was it written by shardkit convert?") from exc
    return LoadedModel(path, TFLitePredictor(content), config)


def _scores(labels: np.ndarray, scores: np.ndarray, classes: list[str]) -> dict:
    from shardkit.scoring import average_precision_per_class, classification_metrics, roc_auc_per_class

    metrics = classification_metrics(labels, scores)
    ap, auc = average_precision_per_class(labels, scores), roc_auc_per_class(labels, scores)
    return {
        **metrics,
        "per_class": {
            name: {"ap": _finite(ap[i]), "roc_auc": _finite(auc[i]), "positives": int(np.sum(labels[:, i] >= 0.5))} for i, name in enumerate(classes)
        },
    }


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@dataclass
class Scored:
    """Every sample of a split scored by one or two models: ``scores[m][i]`` is model m on ``keys[i]``."""

    report: dict
    keys: list[str]
    labels: np.ndarray
    scores: list[np.ndarray]
    model_config: dict


def score_split(
    model_path: str, shards: str, split: str = "val", compare: str | None = None, storage_options: dict[str, Any] | None = None, progress: Any = None
) -> Scored:
    """Run ``model_path`` (and optionally ``compare``) over every sample of ``split``; the report and the raw scores.

    ``evaluate`` and ``shardkit audit`` both call this, so their numbers are the same numbers.

    Args:
        model_path: ``.keras`` or ``.tflite``.
        shards: the shard set.
        split: which split.
        compare: a second model (e.g. the ``.tflite`` of a ``.keras``) run on the same samples;
            its metrics and the agreement between the two are added.
        storage_options: fsspec options for the models and the shards.
        progress: called with the number of samples in each batch as it is scored.

    Raises:
        ConfigError: bad paths, or models whose frontend or classes do not match each other or the shards.
    """
    models = [load_any(model_path, storage_options)] + ([load_any(compare, storage_options)] if compare else [])
    first = models[0].config
    for other in models[1:]:
        if other.config["frontend"] != first["frontend"] or other.config["classes"] != first["classes"]:
            raise ConfigError(f"{other.path!r} and {model_path!r} differ in frontend or classes; compare models of one run")
    from shardkit.audio.frontends import FrontendConfig

    classes = list(first["classes"])
    labels, scores, keys = [], [[] for _ in models], []
    for batch in iter_split(shards, split, FrontendConfig.from_dict(first["frontend"]), storage_options=storage_options):
        if list(batch.classes) != classes:
            raise ConfigError(f"the shards' classes {list(batch.classes)} differ from the model's {classes}")
        labels.append(batch.labels)
        keys.extend(batch.keys)
        for kept, model in zip(scores, models, strict=True):
            kept.append(model.predict(batch.features))
        if progress is not None:
            progress(len(batch.keys))
    if not labels:
        raise ConfigError(f"the {split!r} split of {shards!r} has no samples")
    labels_all = np.concatenate(labels)
    results = [np.concatenate(kept) for kept in scores]
    report = {
        "format": REPORT_FORMAT,
        "split": split,
        "shards": shards,
        "samples": len(keys),
        "classes": classes,
        "models": [{"path": m.path, "kind": m.predict.kind, **_scores(labels_all, s, classes)} for m, s in zip(models, results, strict=True)],
    }
    if compare:
        report["agreement"] = agreement(results[0], results[1])
    return Scored(report, keys, labels_all, results, first)


def evaluate(
    model_path: str, shards: str, split: str = "val", compare: str | None = None, out: str | None = None, storage_options: dict[str, Any] | None = None
) -> dict:
    """Evaluate ``model_path`` (and optionally ``compare``) on every sample of ``split``; write the report files.

    Args:
        model_path: ``.keras`` or ``.tflite``.
        shards: the shard set.
        split: which split.
        compare: a second model run on the same samples (see `score_split`).
        out: folder for the report files (default: the model's).
        storage_options: fsspec options for the models, the shards and ``out``.

    Returns:
        The report dict (also written as JSON).

    Raises:
        ConfigError: bad paths, or models whose frontend or classes do not match each other or the shards.
    """
    store = Store(out or (model_path.rpartition("/")[0] or "."), storage_options or {})
    store.check_writable()
    report = score_split(model_path, shards, split, compare, storage_options).report
    base = f"{model_path.rpartition('/')[2].rpartition('.')[0]}_eval_{split}"
    store.write_json(f"{base}.json", report)
    store.write_bytes(f"{base}.txt", (format_eval_report(report) + "\n").encode())
    store.write_bytes(f"{base}.png", per_class_ap_png(report))
    report["files"] = {kind: f"{base}.{kind}" for kind in ("json", "txt", "png")}
    return report


def format_eval_report(report: dict) -> str:
    """A readable summary: one line per model, per-class AP, agreement."""
    lines = [f"evaluation on {report['samples']} samples of the {report['split']!r} split"]
    for model in report["models"]:
        lines.append(f"  {model['kind']:>6} {model['path']}: ROC-AUC {model['roc_auc']:.4f}  cmAP {model['cmap']:.4f}")
    lines.append(
        "  per-class AP: " + "  ".join(f"{name} " + " / ".join(_fmt(m["per_class"][name]["ap"]) for m in report["models"]) for name in report["classes"])
    )
    if "agreement" in report:
        a = report["agreement"]
        lines.append(
            f"  agreement: cosine mean {a['cosine_mean']:.4f}, p5 {a['cosine_p5']:.4f}, min {a['cosine_min']:.4f}; max |diff| {a['max_abs_diff']:.4f}; top-1 {a['top1_agreement']:.3f}"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def per_class_ap_png(report: dict) -> bytes:
    """Bar chart of per-class AP, one bar group per class, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    classes, models = report["classes"], report["models"]
    figure = Figure(figsize=(max(6, 0.8 * len(classes) + 2), 4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(models)
    positions = np.arange(len(classes))
    for i, model in enumerate(models):
        values = [model["per_class"][name]["ap"] or 0.0 for name in classes]
        axes.bar(positions + i * width, values, width, label=f"{model['kind']} (cmAP {model['cmap']:.3f})")
    axes.set_xticks(positions + width * (len(models) - 1) / 2, classes, rotation=30, ha="right")
    axes.set(ylim=(0, 1.02), ylabel="average precision", title=f"per-class AP, {report['split']} split ({report['samples']} samples)")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def report_json(report: dict) -> str:
    """The report as indented JSON."""
    return dumps(report, indent=2)
