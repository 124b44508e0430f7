"""tools/bench_train.py: the figures it derives from a run, its verdict and its argument checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    yield from loaded_tool("bench_train")


def test_train_run_summarises_the_epochs_after_the_first(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real (tiny) train() run: steps/s and input wait come from its history, first epoch excluded."""
    from factories import make_class_corpus
    from helpers.training import tiny_config

    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    build(
        str(make_class_corpus(tmp_path / "corpus", n_per_class=4)),
        str(tmp_path / "shards"),
        BuildConfig(workers=1, codec="pcm16", val_fraction=0.25),
        progress=False,
    )
    monkeypatch.setattr(bench, "BATCH_SIZE", 4)
    monkeypatch.setattr(
        bench, "run_config", lambda placement, epochs, steps: tiny_config(batch_size=4, epochs=epochs, max_steps_per_epoch=steps, placement=placement)
    )
    run = bench.train_run(tmp_path / "shards", "pipeline", epochs=3, steps=2)
    later = run["epochs"][1:]
    assert len(run["epochs"]) == 3 and all(row["steps"] == 2 for row in later)
    fit_s = sum(row["steps"] * 4 / row["samples_per_s"] for row in later)
    assert run["steps_per_s"] == pytest.approx(4 / fit_s)
    assert 0.0 <= run["input_wait"] < 1.0


def test_table_gives_the_verdict_against_the_input_wait_target(bench: ModuleType) -> None:
    report = {"batch_size": 64, "cores": 2, "train_samples": 655, "compute_only_steps_per_s": 2.0,
              "pipeline": {"steps_per_s": 1.8, "samples_per_s": 115.2, "input_wait": 0.03},
              "deferred": {"steps_per_s": 1.9, "samples_per_s": 121.6, "input_wait": 0.12}}  # fmt: skip
    table = bench.format_table(report)
    assert "PASS (3.0%)" in table and "10.0%" in table  # 1 - 1.8 / 2.0
    report["pipeline"]["input_wait"] = 0.15
    assert "MISS (15.0%)" in bench.format_table(report)


def test_one_epoch_is_refused(bench: ModuleType, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--epochs", "1"])
    assert "must be >= 2 (the first epoch is not counted); got 1" in capsys.readouterr().err
