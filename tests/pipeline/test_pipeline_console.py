"""What `shardkit pipeline run` shows: progress lines while stages run, and a closing table of metrics and gates."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from shardkit.pipeline.runner import StageResult
from shardkit.pipeline.summary import format_pipeline_summary, read_reports, stage_progress

CONVERT_REPORT = {
    "passed": False,
    "gates": {
        "cosine_mean": {"value": 0.9612, "min": 0.95, "passed": True},
        "cosine_p5": {"value": 0.8731, "min": 0.9, "passed": False},
        "n6": {"value": True, "passed": True},
    },
    "metrics": {"float": {"roc_auc": 0.9, "cmap": 0.8}, "int8": {"roc_auc": 0.85, "cmap": 0.75}},
    "gate_samples": {"split": "val", "samples": 20},
    "tflite": {"name": "tiny_int8.tflite"},
}
EVAL_REPORT = {
    "split": "val",
    "samples": 100,
    "models": [{"kind": "tflite", "roc_auc": 0.8121, "cmap": 0.7012}, {"kind": "keras", "roc_auc": 0.8134, "cmap": 0.7101}],
}


def test_stage_progress_forwards_shardkit_records_while_it_runs():
    lines: list[str] = []
    with stage_progress(lines.append):
        logging.getLogger("shardkit.train.runner").info("epoch %d/%d: loss %.4f", 1, 2, 0.5)
        logging.getLogger("shardkit.ingest.runner").warning("two\nlines")
        logging.getLogger("elsewhere").info("not ours")
    logging.getLogger("shardkit.train.runner").info("after the run")
    assert lines == ["  epoch 1/2: loss 0.5000", "  WARNING: two\n  WARNING: lines"]


def test_summary_lists_stages_metrics_and_gates(tmp_path: Path):
    (tmp_path / "convert.json").write_text(json.dumps(CONVERT_REPORT))
    (tmp_path / "eval.json").write_text(json.dumps(EVAL_REPORT))
    results = [
        StageResult("build", "skipped", outputs={"shards": "w/shards"}),
        StageResult("train", "ran", seconds=61.25, outputs={"model": "w/model/tiny.keras"}),
        StageResult("qat", "disabled"),
        StageResult("convert", "ran", seconds=3.0, outputs={"report": str(tmp_path / "convert.json")}),
        StageResult("evaluate", "ran", seconds=2.0, outputs={"report": str(tmp_path / "eval.json")}),
    ]
    text = format_pipeline_summary(results, read_reports(results))
    assert "    build: skipped" in text and "    train: ran          61.2  model: w/model/tiny.keras" in text
    assert "metric (val split, 100 samples)" in text
    assert "ROC-AUC" in text and "0.8134   0.8121   0.0013" in text, "float, INT8 and the drop, from the evaluation"
    assert "cosine_p5" in text and "0.8731" in text and ">= 0.9  FAILED" in text
    assert "cosine_mean" in text and "passed" in text
    assert "INT8 model NOT promoted: tiny_int8.tflite" in text


def test_summary_without_evaluation_uses_the_gate_samples(tmp_path: Path):
    (tmp_path / "convert.json").write_text(json.dumps(CONVERT_REPORT))
    results = [
        StageResult("convert", "ran", outputs={"report": str(tmp_path / "convert.json")}),
        StageResult("evaluate", "ran", outputs={"report": str(tmp_path / "gone.json")}),
    ]
    text = format_pipeline_summary(results, read_reports(results))
    assert "metric (val gate samples, 20)" in text and "0.9000   0.8500   0.0500" in text


@pytest.mark.slow
def test_pipeline_run_prints_progress_and_a_final_table(tmp_path: Path):
    from factories import make_class_corpus
    from helpers.pipelines import TINY

    corpus = make_class_corpus(tmp_path / "corpus")
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(input=corpus, work=tmp_path / "work", qat_epochs=1))
    done = subprocess.run([sys.executable, "-m", "shardkit", "pipeline", "run", str(path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.index("train: running") < out.index("  epoch 1/2: loss") < out.index("  epoch 2/2: loss") < out.index("train: done"), out
    assert "  built " in out and "QAT epoch 1" in out and "(gates: cosine_mean passed" in out
    table = out[out.rindex("stage  status") :]
    assert "metric (val split" in table and "ROC-AUC" in table and "cmAP" in table
    assert "cosine_mean" in table and "cosine_p5" in table and "INT8 model promoted" in table
    assert "oneDNN" not in done.stderr and "cuInit" not in done.stderr and "XNNPACK" not in done.stderr, done.stderr
