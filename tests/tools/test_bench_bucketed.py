"""tools/bench_bucketed.py: bucketed vs fixed training on variable-length shards, both deployed as 3 s INT8 models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    yield from loaded_tool("bench_bucketed")


def row(mode: str, padding: float | None) -> dict:
    return {
        "corpus": "demo",
        "mode": mode,
        "padding": padding,
        "signal_s_per_epoch": 500.0,
        "epoch_s": 2.0,
        "signal_s_per_train_s": 250.0,
        "best_val_roc_auc": 0.9,
        "float_roc_auc": 0.88,
        "int8_roc_auc": 0.87,
        "int8_cmap": 0.7,
    }


def test_the_table_shows_padding_only_for_buckets(bench: ModuleType) -> None:
    lines = bench.format_table([row("fixed", None), row("bucketed", 0.034)]).splitlines()
    assert lines[2].startswith("| demo | fixed | – | 500 | 2.0 | 250 |") and "| 3.4 % |" in lines[3]
    assert lines[3].endswith("| 0.9000 | 0.8800 | 0.8700 | 0.7000 |")


def test_unknown_corpora_are_refused_by_name(bench: ModuleType, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--corpora", "demo,birds"])
    assert "--corpora must be a comma list of ['demo', 'real']; got 'demo,birds'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_small_run_trains_both_ways_and_scores_both_int8_models(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    assert bench.main(["--corpora", "demo", "--demo-files", "4", "--epochs", "2", "--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    fixed, bucketed = json.loads(out.read_text())
    assert (fixed["mode"], bucketed["mode"]) == ("fixed", "bucketed")
    assert fixed["padding"] is None and 0 <= bucketed["padding"] <= 0.1
    assert bucketed["signal_s_per_epoch"] >= fixed["signal_s_per_epoch"] > 0, "a fixed row keeps at most 3 s of its segment"
    for r in (fixed, bucketed):
        assert all(0 <= r[key] <= 1 for key in ("best_val_roc_auc", "float_roc_auc", "int8_roc_auc", "int8_cmap"))
        assert r["epochs"] == 2 and r["epoch_s"] > 0 and r["val_samples"] > 0
        assert (tmp_path / "work" / "runs" / f"demo-{r['mode']}" / "model_int8.tflite").is_file()
