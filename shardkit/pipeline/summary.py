"""What a pipeline run shows a person: stage progress while it runs, and a closing table.

Progress: `stage_progress` forwards shardkit's INFO log records (build planning, training
epochs, QAT epochs, conversion) to the console while the stages run, indented under the
stage's "running" line. The closing table (`format_pipeline_summary`) lists each stage's
status, time and outputs, then float vs INT8 metrics and the conversion gates, read from the
stages' own JSON reports (so a skipped, up-to-date stage reports its numbers too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from shardkit.storage import read_url_bytes

#: the logger whose records become progress lines (every shardkit module logs under it)
PROGRESS_LOGGER = "shardkit"


class _EchoHandler(logging.Handler):
    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        self.echo("\n".join(f"  {prefix}{line}" for line in text.splitlines()))


@contextmanager
def stage_progress(echo: Callable[[str], None]) -> Iterator[None]:
    """Send shardkit's INFO (and higher) log records to ``echo`` while the block runs.

    The records do not also reach the root logger's handlers meanwhile (no line twice with -v).
    """
    logger = logging.getLogger(PROGRESS_LOGGER)
    handler = _EchoHandler(echo)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def read_reports(results: Sequence[Any], storage_options: dict[str, Any] | None = None) -> dict[str, dict]:
    """The JSON reports the stages left (``convert``, ``evaluate``), by stage; absent ones are left out."""
    reports = {}
    for result in results:
        url = result.outputs.get("report")
        if url:
            try:
                reports[result.stage] = json.loads(read_url_bytes(url, storage_options))
            except (OSError, ValueError):
                continue
    return reports


def _metric_rows(reports: dict[str, dict]) -> tuple[str, list[tuple[str, float, float]]]:
    """``(where measured, [(metric, float, int8)])``: the evaluation's whole split, else the conversion's gate samples."""
    evaluation = reports.get("evaluate")
    if evaluation and len(evaluation.get("models", [])) == 2:
        int8, float_ = evaluation["models"]  # the .tflite, compared with the .keras it came from
        where = f"{evaluation['split']} split, {evaluation['samples']} samples"
        return where, [("ROC-AUC", float_["roc_auc"], int8["roc_auc"]), ("cmAP", float_["cmap"], int8["cmap"])]
    conversion = reports.get("convert")
    if conversion:
        metrics = conversion["metrics"]
        where = f"{conversion['gate_samples']['split']} gate samples, {conversion['gate_samples']['samples']}"
        return where, [(name, metrics["float"][key], metrics["int8"][key]) for name, key in (("ROC-AUC", "roc_auc"), ("cmAP", "cmap"))]
    return "", []


def format_pipeline_summary(results: Sequence[Any], reports: dict[str, dict]) -> str:
    """Stages (status, seconds, outputs), then float vs INT8 metrics and the gates, as aligned text.

    Args:
        results: the `StageResult` of every stage, in order.
        reports: `read_reports` of them.
    """
    lines = [f"{'stage':>9}  {'status':<8} {'seconds':>8}  outputs"]
    for result in results:
        seconds = f"{result.seconds:>8.1f}" if result.status == "ran" else f"{'-':>8}"
        lines.append(f"{result.stage:>9}: {result.status:<8} {seconds}  {', '.join(f'{k}: {v}' for k, v in result.outputs.items())}")
    where, rows = _metric_rows(reports)
    if rows:
        lines += ["", f"{'metric (' + where + ')':<44} {'float':>8} {'INT8':>8} {'drop':>8}"]
        lines += [f"{name:<44} {float_:>8.4f} {int8:>8.4f} {float_ - int8:>8.4f}" for name, float_, int8 in rows]
    conversion = reports.get("convert")
    if conversion:
        lines += ["", f"{'gate':<20} {'value':>10} {'bound':>10}  result"]
        for name, gate in conversion["gates"].items():
            value = f"{gate['value']:.4f}" if isinstance(gate["value"], float) else str(gate["value"])
            bound = f">= {gate['min']}" if "min" in gate else f"<= {gate['max']:.4g}" if "max" in gate else ""
            result = "too few samples to decide" if gate.get("outcome") == "undecided" else "passed" if gate["passed"] else "FAILED"
            lines.append(f"{name:<20} {value:>10} {bound:>10}  {result}")
        lines.append(f"INT8 model {'promoted' if conversion['passed'] else 'NOT promoted'}: {conversion['tflite']['name']}")
    return "\n".join(lines)
