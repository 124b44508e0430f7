"""The demo: the packaged demo pipeline file, run in the demo's folder, then its float-vs-INT8 table.

The demo's settings live in one file, ``demo.toml`` beside this module (shipped in the
package; ``pipelines/demo.toml`` links to it). `run_demo` loads it, points its corpus and
work folder at ``out_dir``, applies the demo's few options (build workers, training epochs),
runs it with `run_pipeline` and reads the stages' reports back for its summary: the shards,
the training run, and one row per model (float and INT8, without and with QAT).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from importlib.resources import files
from importlib.resources.abc import Traversable

from shardkit.pipeline.config import PipelineConfig, parse_pipeline
from shardkit.pipeline.runner import run_pipeline
from shardkit.pipeline.summary import format_pipeline_summary, read_reports, stage_progress
from shardkit.storage import Store, read_url_bytes

#: the demo's pipeline file, package data of `shardkit.demo`
DEMO_PIPELINE = "demo.toml"
#: what the demo's ``train`` / ``export`` switches leave out: (train, export) → last stage run
LAST_STAGE = {(False, False): "build", (False, True): "build", (True, False): "train", (True, True): None}
#: the two conversions of the table: (label, convert stage outputs of its report, of its .tflite)
CONVERSIONS = (("post-training quantization", "ptq_report", "ptq_tflite"), ("quantization-aware training", "report", "tflite"))


def demo_pipeline_file() -> Traversable:
    """The packaged demo pipeline file (``shardkit pipeline run`` takes its path as well)."""
    return files(__package__).joinpath(DEMO_PIPELINE)


def demo_pipeline(out_dir: str | None = None, *, workers: int | None = None, epochs: int | None = None) -> PipelineConfig:
    """The packaged demo pipeline, with the demo's options applied.

    Args:
        out_dir: the demo's folder: the corpus goes to ``out_dir/corpus`` and every stage's
            output under ``out_dir`` (default: the file's own ``input`` and ``work``).
        workers: build worker processes (``[build] workers``; default: CPU count).
        epochs: training epochs (``[train] epochs``; default: the file's).

    Raises:
        ConfigError: the packaged file is invalid.
    """
    resource = demo_pipeline_file()
    config = parse_pipeline(resource.read_text(encoding="utf-8"), str(resource))
    stages = {name: dict(table) for name, table in config.stages.items()}
    if workers is not None:
        stages["build"]["workers"] = workers
    if epochs is not None:
        stages["train"]["epochs"] = epochs
    where = {} if out_dir is None else {"input": os.path.join(out_dir, "corpus"), "work": out_dir}
    return dataclasses.replace(config, stages=stages, **where)


def run_demo(
    out_dir: str, *, workers: int | None = None, epochs: int | None = None, train: bool = True, export: bool = True, echo: Callable[[str], None] = print
) -> dict:
    """Run the demo pipeline in ``out_dir`` (``corpus/``, ``shards/``, ``model/``, ``qat/``, ``int8/``, ``eval/``).

    Stages already up to date in ``out_dir`` are skipped (a finished training run is kept).

    Args:
        out_dir: folder for the generated corpus and every stage's output; reused if it exists.
        workers: build worker processes (default: CPU count).
        epochs: training epochs (default: the packaged file's).
        train: also train the model (needs TensorFlow); False stops after the build.
        export: after training, QAT, convert (with and without QAT) and evaluate.
        echo: where progress text goes (the CLI passes ``click.echo``).

    Returns:
        ``{"summary": inspect summary, "training": TrainResult or None, "export": {"rows": rows
        of the float-vs-INT8 table, "tflite": the promoted INT8 model} or None, "stages": the
        pipeline's StageResults}``.

    Raises:
        ConfigError: a bad option, before any stage runs.
        GateFailed: the QAT model's conversion gates failed (the pipeline's rule).
    """
    config = demo_pipeline(out_dir, workers=workers, epochs=epochs)
    with stage_progress(echo):
        results = run_pipeline(config, echo=echo, until=LAST_STAGE[train, export])
    outputs = {result.stage: result.outputs for result in results}
    summary = _inspect(outputs.get("build", {}), echo)
    training = _training(config, echo) if outputs.get("train") else None
    echo("")
    echo(format_pipeline_summary(results, read_reports(results)))
    exported = _exported(config, outputs, echo) if outputs.get("convert") else None
    return {"summary": summary, "training": training, "export": exported, "stages": results}


def _inspect(build_outputs: dict[str, str], echo: Callable[[str], None]) -> dict | None:
    if "shards" not in build_outputs:
        return None
    from shardkit.read.inspect import format_summary, summarize

    summary = summarize(build_outputs["shards"])
    echo(format_summary(summary))
    return summary


def _training(config: PipelineConfig, echo: Callable[[str], None]):
    """The training run as its train state records it (the stage may have been skipped as up to date)."""
    from shardkit.train.artifacts import names
    from shardkit.train.config import TrainConfig
    from shardkit.train.report import format_result
    from shardkit.train.runner import TrainResult

    store = Store(config.url("model"))
    files_ = names(config.name)
    state = store.read_json(files_["state"])
    train_config = TrainConfig.from_dict(state["config"])
    stopped_early = state["finished"] and state["epochs_done"] < train_config.epochs
    result = TrainResult.from_state(store, state, train_config, files_, stopped_early=stopped_early)
    echo(format_result(result))
    return result


def _exported(config: PipelineConfig, outputs: dict[str, dict[str, str]], echo: Callable[[str], None]) -> dict:
    """The float-vs-INT8 rows from the conversion reports, the evaluation report and the promoted model."""
    converted = outputs["convert"]
    rows = []
    for label, report_key, _ in CONVERSIONS:
        if report_key in converted:
            report = json.loads(read_url_bytes(converted[report_key]))
            rows += table_rows(label if config.enabled("qat") else CONVERSIONS[0][0], report)
    echo(format_table(rows))
    if outputs.get("evaluate"):
        echo(f"evaluation report: {outputs['evaluate']['report']} (and .txt, .png)")
    final = converted.get("tflite")
    echo(f"INT8 model for the N6: {final}" if final else "no INT8 model passed its gates")
    return {"rows": rows, "tflite": final}


def table_rows(label: str, report: dict) -> list[dict]:
    """The float and the INT8 row of one conversion report (its metrics are on the gate samples)."""
    metrics = report["metrics"]
    return [
        {"model": f"float ({label.split()[0]})", "roc_auc": metrics["float"]["roc_auc"], "cmap": metrics["float"]["cmap"]},
        {
            "model": f"INT8 ({label})",
            "roc_auc": metrics["int8"]["roc_auc"],
            "cmap": metrics["int8"]["cmap"],
            "promoted": report["passed"],
            **report["agreement"],
        },
    ]


def format_table(rows: list[dict]) -> str:
    """The float-vs-INT8 comparison on the validation split, one row per model."""
    lines = [f"{'model':<40} {'ROC-AUC':>8} {'cmAP':>8} {'cos mean':>9} {'cos p5':>8}"]
    for row in rows:
        cosine = f"{row['cosine_mean']:>9.4f} {row['cosine_p5']:>8.4f}" if "cosine_mean" in row else f"{'-':>9} {'-':>8}"
        gates = {True: "  gates passed", False: "  gates FAILED"}.get(row.get("promoted"), "")
        lines.append(f"{row['model']:<40} {row['roc_auc']:>8.4f} {row['cmap']:>8.4f} {cosine}{gates}")
    return "\n".join(lines)


__all__ = ["DEMO_PIPELINE", "demo_pipeline", "demo_pipeline_file", "format_table", "run_demo", "table_rows"]
