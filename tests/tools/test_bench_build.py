"""Smoke test of tools/bench_build.py on a tiny corpus: every figure present, positive and consistent."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf
from helpers.tools import loaded_tool

TINY = ["--files", "3", "--min-minutes", "0.1", "--max-minutes", "0.2", "--repeats", "1"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The script, imported by path."""
    yield from loaded_tool("bench_build")


def test_main_reports_positive_consistent_figures(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    assert bench.main([*TINY, "--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    figures = report["figures"]
    for key in ("decode_only", "build_1w", "build_2w", "build_1w_per_core", "build_2w_per_core", "build_1w_over_decode", "build_2w_over_build_1w"):
        assert figures[key] > 0, key
    assert figures["build_1w_per_core"] == pytest.approx(figures["build_1w"])
    assert figures["build_2w_per_core"] == pytest.approx(figures["build_2w"] / 2)
    assert figures["build_1w_over_decode"] == pytest.approx(figures["build_1w"] / figures["decode_only"])
    assert figures["build_2w_over_build_1w"] == pytest.approx(figures["build_2w"] / figures["build_1w"])
    assert report["corpus"]["files"] == 3
    assert 0.1 * 60 * 3 <= report["corpus"]["audio_s"] <= 0.2 * 60 * 3
    assert set(report["checks"]) == set(bench.TARGETS)
    printed = capsys.readouterr().out
    assert "shared and noisy" in printed
    assert "PASS" in printed or "MISS" in printed


def test_corpus_is_cached_and_regenerated_when_parameters_change(bench: ModuleType, tmp_path: Path) -> None:
    spec = bench.CorpusSpec(files=2, min_minutes=0.05, max_minutes=0.1)
    first = bench.ensure_corpus(tmp_path, spec)
    stamp = first.paths[0].stat().st_mtime_ns
    assert bench.ensure_corpus(tmp_path, spec).paths[0].stat().st_mtime_ns == stamp
    other = bench.ensure_corpus(tmp_path, bench.CorpusSpec(files=2, min_minutes=0.05, max_minutes=0.1, seed=1))
    assert other.paths[0].stat().st_mtime_ns != stamp
    with sf.SoundFile(str(other.paths[0])) as handle:
        assert (handle.samplerate, handle.channels, handle.subtype, handle.format) == (48000, 1, "PCM_16", "FLAC")


def test_generated_audio_is_deterministic_and_field_like(bench: ModuleType, tmp_path: Path) -> None:
    spec = bench.CorpusSpec(files=1, min_minutes=0.5, max_minutes=0.5)
    recording = spec.recordings()[0]
    paths = [tmp_path / "a.flac", tmp_path / "b.flac"]
    for path in paths:
        bench.write_recording(path, recording, spec)
    a, rate = sf.read(str(paths[0]), dtype="float32")
    b, _ = sf.read(str(paths[1]), dtype="float32")
    np.testing.assert_array_equal(a, b)
    assert len(a) == recording.n_frames == 30 * rate
    rms_dbfs = 10 * np.log10(np.mean(a.astype(np.float64) ** 2))
    assert -36 < rms_dbfs < -24
    assert 0.3 < paths[0].stat().st_size / (2 * len(a)) < 0.7


def test_background_has_the_requested_level(bench: ModuleType) -> None:
    shape = bench.background_shape(bench.FFT_FRAMES, 48000)
    noise = np.concatenate(list(bench.background_blocks(np.random.default_rng(0), 10 * 48000, 0.03, shape)))
    assert len(noise) == 10 * 48000
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(0.03, rel=0.05)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--files", "0"], "--files: must be an integer >= 1; got 0"),
        (["--repeats", "-1"], "--repeats: must be an integer >= 1; got -1"),
        (["--min-minutes", "nan"], "--min-minutes: must be a positive number; got nan"),
        (["--min-minutes", "2", "--max-minutes", "1"], "--max-minutes must be >= --min-minutes (2.0); got 1.0"),
    ],
)
def test_bad_arguments_name_the_value(bench: ModuleType, argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_teacher_run_is_reported_beside_the_plain_build(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture, standin_teacher) -> None:
    model, labels, _ = standin_teacher
    out = tmp_path / "r.json"
    teacher = ["--teacher", str(model), "--teacher-labels", str(labels), "--teacher-rate", "16000"]
    assert bench.main([*TINY, "--work", str(tmp_path / "work"), "--json", str(out), *teacher]) == 0
    figures = json.loads(out.read_text())["figures"]
    assert figures["build_1w_teacher"] > 0
    assert figures["teacher_over_build_1w"] == pytest.approx(figures["build_1w_teacher"] / figures["build_1w"])
    assert "build, 1 worker, with the teacher" in capsys.readouterr().out
