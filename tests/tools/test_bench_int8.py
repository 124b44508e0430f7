"""tools/bench_int8.py: one row per corpus x compression x conversion, each from a model trained with that compression."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from factories import make_class_corpus
from helpers.pipelines import TINY
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    yield from loaded_tool("bench_int8")


@pytest.mark.slow
def test_each_variant_trains_and_converts_with_its_compression(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = make_class_corpus(tmp_path / "corpus", n_per_class=4)
    pipeline = tmp_path / "tiny.toml"
    pipeline.write_text(TINY.format(input="unused", work="unused", qat_epochs=1))
    out = tmp_path / "rows.json"
    argv = [str(tmp_path / "work"), "--corpus", f"tones={corpus}", "--variants", "none,log", "--epochs", "1", "--pipeline", str(pipeline), "--json", str(out)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [(r["corpus"], r["variant"], r["conversion"]) for r in rows] == [("tones", v, c) for v in ("none", "log") for c in ("ptq", "qat")]
    for row in rows:
        config = json.loads((tmp_path / "work" / "tones" / row["variant"] / "model" / "tiny_model_config.json").read_text())
        assert config["frontend"]["compression"] == row["variant"]
        assert config["spectrogram_contract"] == (1 if row["variant"] == "none" else 2)
        for metric in ("roc_auc", "cmap"):
            assert 0 <= row["float"][metric] <= 1 and 0 <= row["int8"][metric] <= 1
            assert row[f"{metric}_drop"]["value"] == pytest.approx(row["float"][metric] - row["int8"][metric], abs=1e-9)
        assert 0 <= row["output_mae"] <= 1 and row["gate_samples"] > 0
    stamps = [json.loads((tmp_path / "work" / "tones" / v / "_pipeline" / "build.json").read_text()) for v in ("base", "none", "log")]
    assert stamps[0] == stamps[1] == stamps[2], "the shards are built once per corpus"
    table = capsys.readouterr().out.split("\n\n")[-1].strip().splitlines()
    assert table[0].split()[:3] == ["corpus", "variant", "conversion"] and len(table) == 5


def test_bad_arguments_are_named(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path), "--corpus", f"x={tmp_path / 'missing'}"])
    assert "--corpus must be 'demo' or NAME=DIR with an existing DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path), "--variants", "none,cbrt"])
    assert "--variants must be among ['log', 'none', 'sqrt']; got ['cbrt']" in capsys.readouterr().err
