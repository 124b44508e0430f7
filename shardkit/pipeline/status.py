"""``shardkit pipeline status`` and ``run --dry-run``: each stage's verdict, its reason and its last run's numbers.

The verdicts are `shardkit.pipeline.state.plan_pipeline`'s, the decision `run_pipeline` acts
on. The numbers come from what the stages already wrote: the build's manifest (samples), the
training state (the best epoch's val ROC-AUC), the conversion report (the float → INT8 drop of
ROC-AUC and the gates) and the evaluation report (the INT8 model's ROC-AUC and cmAP).
Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shardkit.pipeline.config import PipelineConfig
from shardkit.pipeline.state import Verdict, plan_pipeline
from shardkit.storage import read_url_bytes


def _read_json(url: str, storage: dict[str, Any]) -> dict | None:
    try:
        return json.loads(read_url_bytes(url, storage, retries=1))
    except (OSError, ValueError):
        return None


def _build_metrics(outputs: dict[str, str], storage: dict[str, Any]) -> dict[str, Any]:
    manifest = _read_json(f"{outputs['shards'].rstrip('/')}/manifest.json", storage) if outputs.get("shards") else None
    if not manifest:
        return {}
    splits = manifest.get("splits", {})
    return {"samples": sum(split.get("samples", 0) for split in splits.values()), "samples_by_split": {k: v.get("samples", 0) for k, v in splits.items()}}


def _train_metrics(outputs: dict[str, str], storage: dict[str, Any]) -> dict[str, Any]:
    model = outputs.get("model", "")
    state = _read_json(f"{model[: -len('.keras')]}_train_state.json", storage) if model.endswith(".keras") else None
    if not state or state.get("best_epoch") is None:
        return {}
    best = next((row for row in state.get("history", []) if row.get("epoch") == state["best_epoch"]), {})
    return {"best_epoch": state["best_epoch"], "best_val_roc_auc": best.get("val_roc_auc")}


def _convert_metrics(outputs: dict[str, str], storage: dict[str, Any]) -> dict[str, Any]:
    report = _read_json(outputs["report"], storage) if outputs.get("report") else None
    if not report:
        return {}
    metrics = report.get("metrics", {})
    float_, int8 = metrics.get("float", {}).get("roc_auc"), metrics.get("int8", {}).get("roc_auc")
    drop = float_ - int8 if isinstance(float_, float | int) and isinstance(int8, float | int) else None
    failed = [name for name, gate in report.get("gates", {}).items() if not gate.get("passed", True) and gate.get("outcome") != "undecided"]
    return {"int8_roc_auc_drop": drop, "gates": "passed" if report.get("passed") else f"FAILED ({', '.join(failed)})" if failed else "FAILED"}


def _evaluate_metrics(outputs: dict[str, str], storage: dict[str, Any]) -> dict[str, Any]:
    report = _read_json(outputs["report"], storage) if outputs.get("report") else None
    if not report or not report.get("models"):
        return {}
    int8 = report["models"][0]  # the .tflite evaluated; the .keras it came from follows
    return {"split": report.get("split"), "roc_auc": int8.get("roc_auc"), "cmap": int8.get("cmap")}


#: stage → function(its last stamp's outputs, storage options) → the numbers worth showing
STAGE_METRICS: dict[str, Callable[[dict[str, str], dict[str, Any]], dict[str, Any]]] = {
    "build": _build_metrics,
    "train": _train_metrics,
    "convert": _convert_metrics,
    "evaluate": _evaluate_metrics,
}


def stage_metrics(verdict: Verdict, storage: dict[str, Any]) -> dict[str, Any]:
    """The key numbers of the stage's last run, read from its outputs ({} when none)."""
    reader = STAGE_METRICS.get(verdict.stage)
    if reader is None or not verdict.stamp:
        return {}
    return reader(verdict.stamp.get("outputs", {}), storage)


def pipeline_status(
    config: PipelineConfig, from_stage: str | None = None, storage_options: dict[str, Any] | None = None, until: str | None = None
) -> list[dict[str, Any]]:
    """One row per stage: its verdict (``up to date`` / ``would rerun`` / ``disabled``), reason, detail, note and metrics.

    Args:
        config: the parsed pipeline file.
        from_stage: as ``run --from``: this stage and every later one would rerun.
        storage_options: fsspec options for the work URL.
        until: judge the stages up to this one only.
    """
    storage = dict(storage_options or {})
    rows = []
    for verdict in plan_pipeline(config, from_stage, storage, until):
        row = {"stage": verdict.stage, "verdict": verdict.label, "reason": verdict.reason, "detail": verdict.detail, "note": verdict.note}
        rows.append({**row, "metrics": stage_metrics(verdict, storage)})
    return rows


#: how a metric's key reads in the text output
METRIC_LABELS = {"best_val_roc_auc": "best val ROC-AUC", "int8_roc_auc_drop": "float → INT8 ROC-AUC drop", "roc_auc": "ROC-AUC", "cmap": "cmAP"}


def _format_metric(name: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{name} {value:.4f}"
    if isinstance(value, dict):
        return f"{name} " + ", ".join(f"{k} {v}" for k, v in value.items())
    return f"{name} {value}"


def format_status(rows: list[dict[str, Any]], title: str) -> str:
    """The rows of `pipeline_status` as aligned text under ``title``."""
    lines = [title]
    for row in rows:
        why = "" if row["verdict"] == "disabled" else row["reason"] + (f": {row['detail']}" if row["detail"] else "")
        note = f"({row['note']})" if row["note"] else ""
        lines.append(f"{row['stage']:>9}: {row['verdict']:<12} {' '.join(part for part in (why, note) if part)}".rstrip())
        if row["metrics"]:
            lines.append(
                f"{'':>11}last run: "
                + "; ".join(_format_metric(METRIC_LABELS.get(k, k.replace("_", " ")), v) for k, v in row["metrics"].items() if v is not None)
            )
    return "\n".join(lines)
