"""`shardkit demo` end to end: corpus, shards, and a model that tells the calls apart on held-out recordings."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from shardkit.demo.run import DEMO_TRAINING, run_demo

#: validation ROC-AUC the demo model must reach (see the issue note for the 0.90 target)
MIN_VAL_ROC_AUC = 0.80


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

    assert training.epochs_done == DEMO_TRAINING["epochs"]
    assert training.best["val_roc_auc"] >= MIN_VAL_ROC_AUC, training.history
    assert training.history[-1]["loss"] < 0.8 * training.history[0]["loss"]
    model_dir = tmp_path / "model"
    for name in ("demo.keras", "demo_model_config.json", "demo_labels.txt", "demo_history.csv", "demo_curves.png"):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "demo_model_config.json").read_text())["n6_violations"] == []
    assert any("best epoch" in line for line in lines)

    # a second run reuses everything: no new build work, the finished model is kept
    again = run_demo(str(tmp_path), workers=2, echo=lambda line: None)
    assert again["training"].best_epoch == training.best_epoch
