"""tools/chunk_truth.py: chunk precision and recall against planted truth, exact on a hand-made truth and shard set."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType

import pytest
from helpers.tools import loaded_tool
from helpers.truth import chunk, chunks, write_build, write_truth
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    """The script, imported by path."""
    yield from loaded_tool("chunk_truth")


# ---------------------------------------------------------------- bad cases first


def test_a_chunk_of_a_file_the_truth_lacks_is_refused(tool: ModuleType, tmp_path: Path) -> None:
    build = write_build(tmp_path / "out", [*chunks(), chunk("A/other.flac", "A", 0.0)])
    with pytest.raises(tool.TruthError, match=r"chunk of 'A/other.flac' \(offset 0.0 s\): no such file in the truth"):
        tool.score_build(str(build), write_truth(tmp_path / "TRUTH.json"))


def test_a_chunk_whose_class_contradicts_the_truth_is_refused(tool: ModuleType, tmp_path: Path) -> None:
    build = write_build(tmp_path / "out", [chunk("A/a.flac", "B", 1.5)])
    with pytest.raises(tool.TruthError, match="chunk of 'A/a.flac' has class 'B'; the truth says 'A'"):
        tool.score_build(str(build), write_truth(tmp_path / "TRUTH.json"))


def test_unreadable_or_incomplete_truth_is_one_line(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build = write_build(tmp_path / "out", chunks())
    (tmp_path / "bad.json").write_text("{not json")
    assert tool.main([str(build), str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.startswith(f"chunk_truth: truth file {str(tmp_path / 'bad.json')!r} cannot be read as JSON")
    with pytest.raises(tool.TruthError, match="must be an object with a 'files' list"):
        tool.read_truth(write_truth(tmp_path / "list.json", {"files": {}}))
    with pytest.raises(tool.TruthError, match=r"entry 'A/a.flac' lacks \['calls'\]"):
        tool.read_truth(write_truth(tmp_path / "partial.json", {"files": [{"file": "A/a.flac", "class": "A", "duration_s": 3.0}]}))


def test_no_manifest_is_one_line(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert tool.main([str(tmp_path), str(write_truth(tmp_path / "TRUTH.json"))]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_the_recall_bound_refuses_chunks_shorter_than_the_overlap_rule(tool: ModuleType) -> None:
    with pytest.raises(tool.TruthError, match=r"chunk_s must be >= 0.5 s for the recall bound; got 0.4"):
        tool.coverable([(1.0, 2.0)], 10.0, 0.4, 3)
    with pytest.raises(tool.TruthError, match="max_chunks must be >= 1; got 0"):
        tool.coverable([(1.0, 2.0)], 10.0, 3.0, 0)


# ---------------------------------------------------------------- the rule and the figures


@pytest.mark.parametrize(
    ("chunk", "call", "inside"),
    [
        ((7.0, 10.49), (10.0, 12.0), False),  # 0.49 s of a 2 s call
        ((7.0, 10.5), (10.0, 12.0), True),  # 0.5 s of it
        ((17.0, 20.19), (20.0, 20.4), False),  # 0.19 s of a 0.4 s call
        ((17.0, 20.2), (20.0, 20.4), True),  # half of it
        ((0.0, 3.0), (5.0, 6.0), False),  # apart
    ],
)
def test_contains_needs_half_a_second_or_half_the_call(tool: ModuleType, chunk: tuple, call: tuple, inside: bool) -> None:
    assert tool.contains(*chunk, *call) is inside


def test_exact_precision_and_recall_on_a_hand_made_build(tool: ModuleType, tmp_path: Path) -> None:
    report = tool.score_build(str(write_build(tmp_path / "out", chunks())), write_truth(tmp_path / "TRUTH.json"))
    a, b, noise, overall = report["classes"]["A"], report["classes"]["B"], report["classes"]["noise"], report["overall"]
    assert (a["chunks"], a["true_chunks"], a["precision"]) == (3, 2, 0.6667)
    assert (a["calls"], a["coverable"], a["covered"], a["recall"], a["recall_all"]) == (3, 3, 2, 0.6667, 0.6667)
    # chunk 24.5-27.5 holds 0.5 s of the call at 25-26: in; b's 5 calls, 3 chunks: 3 coverable
    assert (b["chunks"], b["true_chunks"], b["precision"]) == (3, 3, 1.0)
    assert (b["calls"], b["coverable"], b["covered"], b["recall"], b["recall_all"]) == (5, 3, 3, 1.0, 0.6)
    assert noise == {"chunks": 2, "true_chunks": 0, "calls": 0, "coverable": 0, "covered": 0, "covered_all": 0, "negative": True}
    assert (overall["chunks"], overall["true_chunks"], overall["precision"], overall["recall"], overall["recall_all"]) == (6, 5, 0.8333, 0.8333, 0.625)
    assert report["false_chunks"] == [{"file": "A/a.flac", "offset_s": 25.0}]


def test_a_chunk_moved_past_the_threshold_flips_both_figures(tool: ModuleType, tmp_path: Path) -> None:
    # 10.21: the chunk ends 10.4 - 10.21 = 0.19 s into the 0.4 s call, below the 0.2 s it needs
    report = tool.score_build(str(write_build(tmp_path / "out", chunks(second_a_offset_s=10.21))), write_truth(tmp_path / "TRUTH.json"))
    a = report["classes"]["A"]
    assert (a["true_chunks"], a["precision"], a["covered"], a["recall"]) == (1, 0.3333, 1, 0.3333)
    assert report["overall"]["precision"] == 0.6667


def test_the_cli_prints_the_table_and_writes_the_report(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build = write_build(tmp_path / "out", chunks())
    assert tool.main([str(build), str(write_truth(tmp_path / "TRUTH.json")), "--json", str(tmp_path / "r.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["class", "chunks", "true"]
    assert lines[-1].split() == ["overall", "6", "5", "0.833", "8", "6", "5", "0.833", "0.625"]
    assert json.loads((tmp_path / "r.json").read_text())["overall"]["precision"] == 0.8333


# ---------------------------------------------------------------- the recall bound against brute force


def brute_force_coverable(calls: list[tuple[float, float]], duration_s: float, chunk_s: float, max_chunks: int, tool: ModuleType) -> int:
    """Every placement of up to ``max_chunks`` non-overlapping windows on a 0.1 s grid (exact when all times are on it)."""
    grid = [round(0.1 * i, 1) for i in range(int(round((duration_s - chunk_s) / 0.1)) + 1)]
    best = 0
    for k in range(1, max_chunks + 1):
        for starts in itertools.combinations(grid, k):
            if any(b - a < chunk_s - 1e-9 for a, b in itertools.pairwise(starts)):
                continue
            best = max(best, sum(any(tool.contains(x, x + chunk_s, s, e) for x in starts) for s, e in calls))
    return best


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 55), st.integers(1, 15)), min_size=1, max_size=6),
    chunk_s=st.sampled_from([0.5, 1.0, 1.5]),
    max_chunks=st.integers(1, 3),
)
def test_coverable_equals_brute_force(tool: ModuleType, data: list[tuple[int, int]], chunk_s: float, max_chunks: int) -> None:
    # calls start on a 0.1 s grid with even tenths of length, so every needed overlap and window start is on the grid
    calls = [(round(0.1 * s, 1), round(0.1 * s + 0.2 * d, 1)) for s, d in data]
    duration_s = 6.0
    calls = [(s, min(e, duration_s)) for s, e in calls if s < duration_s - 0.2]
    assert tool.coverable(calls, duration_s, chunk_s, max_chunks) == brute_force_coverable(calls, duration_s, chunk_s, max_chunks, tool)


def test_coverable_counts_a_long_call_once_across_neighbouring_windows(tool: ModuleType) -> None:
    # one 4 s call and one short call: two 1 s windows can hold both, never "3"
    assert tool.coverable([(1.0, 5.0), (6.0, 6.4)], 8.0, 1.0, 3) == 2
    assert tool.coverable([(0.2, 0.6)], 0.8, 3.0, 3) == 1  # shorter than a chunk: the whole file
