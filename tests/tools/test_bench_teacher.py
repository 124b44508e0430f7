"""tools/bench_teacher.py: chunk quality split by distractors, the tables when the teacher is unavailable, train options."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers.tools import loaded_tool
from helpers.truth import TRUTH, call, chunks, write_build, write_truth


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    yield from loaded_tool("bench_teacher")


def test_train_options_are_key_value_pairs(bench: ModuleType) -> None:
    assert bench.train_args(["epochs=3", "mag_scale=none"]) == ["--epochs", "3", "--mag-scale", "none"]
    with pytest.raises(SystemExit, match="--train must be KEY=VALUE; got 'epochs'"):
        bench.train_args(["epochs"])


def test_chunk_quality_is_split_by_recordings_with_and_without_distractors(bench: ModuleType, tmp_path: Path) -> None:
    truth = copy.deepcopy(TRUTH)
    truth["files"][0]["distractors"] = [call(25.0, 26.0)]  # a's false chunk sits on it
    report = bench.chunk_quality(str(write_build(tmp_path / "out", chunks())), write_truth(tmp_path / "TRUTH.json", truth))
    with_, without = report["with_distractors"], report["without_distractors"]
    assert (with_["chunks"], with_["precision"], with_["recall"]) == (3, 0.6667, 0.6667)  # a only
    assert (without["chunks"], without["precision"], without["recall"], without["recall_all"]) == (3, 1.0, 1.0, 0.6)  # b only
    assert report["overall"]["precision"] == 0.8333
    table = bench.quality_table({"no_teacher": {"quality": report}, "teacher": {"unavailable": "shardkit build has no --teacher option"}})
    lines = table.splitlines()
    assert lines[1].split()[:5] == ["no_teacher", "6", "0.833", "0.833", "0.625"]
    assert lines[2] == "teacher      unavailable: shardkit build has no --teacher option"
