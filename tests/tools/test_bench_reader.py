"""tools/bench_reader.py: the pure parts on their own, and a smoke run of the whole benchmark."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from factories import tone_in_noise, write_audio
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The script, imported by path."""
    yield from loaded_tool("bench_reader")


@pytest.mark.slow
def test_quick_run_reports_positive_consistent_figures(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    assert bench.main(["--quick", "--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    rates, ratios = report["rates"], report["ratios"]
    assert set(rates) == set(bench.RATES)
    for key, value in rates.items():
        assert value > 0, key
    assert set(ratios) == set(bench.RATIOS)
    for key, (numerator, denominator, _target, _label) in bench.RATIOS.items():
        assert ratios[key] > 0, key
        assert ratios[key] == pytest.approx(rates[numerator] / rates[denominator]), key
    for key, check in report["checks"].items():
        assert (
            check["passed"]
            == {">=": check["value"] >= check["target"], "<=": check["value"] <= check["target"], "<": check["value"] < check["target"]}[check["op"]]
        ), key
    memory, bucketing = report["memory"], report["bucketing"]
    assert len(memory["rss_mb"]) == len(memory["samples_per_s"]) == bench.PRESETS["quick"]["memory_epochs"]
    assert all(v > 0 for v in memory["rss_mb"] + memory["samples_per_s"])
    assert memory["growth_mb"] == pytest.approx(memory["rss_mb"][-1] - memory["rss_mb"][1])
    assert bucketing["segments"] == bench.PRESETS["quick"]["bucket_segments"]
    assert 0 <= bucketing["padding_ratio"] < 1 and bucketing["batch_shapes"] >= 1
    assert report["corpus"]["recordings"] == bench.PRESETS["quick"]["files"] * bench.PRESETS["quick"]["copies"]
    assert report["corpus"]["train_samples"] >= bench.BATCH_SIZE
    assert report["output"]["features_shape"] == [64, 256, 256, 1]
    small = report["small"]
    assert set(small["rates"]) == set(bench.SMALL_RATES) and all(small["rates"][key] > 0 for key in ("small_steady", "small_stream", "small_per_epoch"))
    assert small["train_samples"] >= bench.BATCH_SIZE and len(small["train"]["start_wait_s"]) == bench.PRESETS["quick"]["train_epochs"]
    printed = capsys.readouterr().out
    assert "others busy" in printed and "shared and noisy" in printed and "ratio (8) / (7), six epochs" in printed
    assert "PASS" in printed or "MISS" in printed


def test_energy_crop_centres_non_overlapping_chunks_on_the_loudest_events(bench: ModuleType) -> None:
    rate, n = 24000, 72000
    audio = np.random.default_rng(0).standard_normal(60 * rate).astype(np.float32) * 0.01
    for centre_s, amplitude in ((10.0, 0.5), (11.0, 0.4), (30.0, 0.3), (50.0, 0.2), (55.0, 0.1)):
        audio[int(centre_s * rate) : int(centre_s * rate) + 2400] += amplitude
    starts = bench.energy_crop_starts(audio, n, 3)
    centres_s = [(start + n // 2) / rate for start in starts]
    assert len(starts) == 3
    assert centres_s[0] == pytest.approx(10.05, abs=0.05), "the loudest event first, centred"
    assert centres_s[1] == pytest.approx(30.05, abs=0.05), "the 11 s event overlaps the first chunk"
    assert centres_s[2] == pytest.approx(50.05, abs=0.05)
    assert all(abs(a - b) >= n for i, a in enumerate(starts) for b in starts[i + 1 :])
    assert all(0 <= s <= len(audio) - n for s in starts)


def test_energy_crop_handles_short_and_edge_signals(bench: ModuleType) -> None:
    assert bench.energy_crop_starts(np.ones(1000, np.float32), 72000, 3) == [0]
    audio = np.zeros(100000, np.float32)
    audio[99000:99010] = 1.0
    assert bench.energy_crop_starts(audio, 72000, 3) == [100000 - 72000], "a chunk at the end stays inside"


def test_on_the_fly_file_gives_contract_spectrograms(bench: ModuleType, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.flac", tone_in_noise(20, 48000, calls=((3, 0.5, 3000), (9, 0.5, 4000), (15, 0.5, 5000)), seed=1), 48000)
    features = bench.on_the_fly_file(str(path))
    assert features.shape == (3, 256, 256) and features.dtype == np.float32
    assert features.min() >= 0 and features.max() <= 1
    short = write_audio(tmp_path / "b.flac", tone_in_noise(1, 48000, seed=2), 48000)
    assert bench.on_the_fly_file(str(short)).shape == (1, 256, 256), "a file under one chunk is padded"


def test_epoch_timings_time_each_epoch_from_the_previous_last_batch(bench: ModuleType) -> None:
    ticks = iter([0.0, 1.0, 2.0, 2.5, 4.0, 5.0])
    ended = []
    batches = [(0, 64), (0, 64), (1, 64), (1, 64), (1, 32)]
    timings = bench.epoch_timings(batches, on_epoch_end=ended.append, clock=lambda: next(ticks))
    assert [(t.epoch, t.samples) for t in timings] == [(0, 128), (1, 160)]
    assert timings[0].seconds == pytest.approx(2.0)
    assert timings[1].seconds == pytest.approx(5.0 - 2.0)
    assert timings[1].rate == pytest.approx(160 / 3.0)
    assert ended == [0, 1]


def test_steady_rate_skips_the_warm_up_epoch(bench: ModuleType) -> None:
    with pytest.raises(RuntimeError, match=r"expected a warm-up epoch and non-empty timed epochs, got \[\(0, 64\)\]"):
        bench.steady_rate([(0, 64)])


def test_tree_cpu_counts_live_children(bench: ModuleType) -> None:
    busy = "import time\nwhile time.process_time() < 0.5: pass\nprint('done', flush=True)\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"
        times = os.times()
        own_only = times.user + times.system + times.children_user + times.children_system
        assert bench.tree_cpu_s() - own_only >= 0.45, "a running child's CPU is this benchmark's, not other processes'"
    finally:
        child.kill()
        child.wait()


def test_rss_is_positive(bench: ModuleType) -> None:
    assert bench.rss_mb() > 1


def test_quick_preset_fills_only_what_was_not_given(bench: ModuleType) -> None:
    args = bench.parse_args(["--quick", "--copies", "3"])
    assert args.copies == 3
    assert args.files == bench.PRESETS["quick"]["files"]
    assert bench.parse_args([]).files == bench.PRESETS["full"]["files"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--copies", "0"], "--copies: must be an integer >= 1; got 0"),
        (["--repeats", "-1"], "--repeats: must be an integer >= 1; got -1"),
        (["--min-minutes", "nan"], "--min-minutes: must be a positive number; got nan"),
        (["--min-minutes", "2", "--max-minutes", "1"], "--max-minutes must be >= --min-minutes (2.0); got 1.0"),
        (["--memory-epochs", "1"], "--memory-epochs must be >= 2 (growth is measured from epoch 2); got 1"),
    ],
)
def test_bad_arguments_name_the_value(bench: ModuleType, argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_steady_rate_tracks_a_real_clock(bench: ModuleType) -> None:
    def batches():
        for epoch in range(3):
            for _ in range(3):
                time.sleep(0.3 if epoch == 0 else 0.01)
                yield epoch, 4

    rate = bench.steady_rate(batches())
    assert rate <= 24 / 0.06 * 1.01
    assert rate > 100, "the slow warm-up epoch (36 samples in >= 0.96 s with it) is not timed"


def test_a_failed_figure_is_reported_not_fatal(bench: ModuleType, tmp_path: Path) -> None:
    args = bench.parse_args(["--quick", "--work", str(tmp_path)])
    inputs = bench.Inputs(tmp_path, [tmp_path / "a.flac"], ["a"], 60.0, 60.0)
    rates = {key: bench.Rate(key, runs=[100.0], other_cores=[0.0]) for key in bench.RATES}
    rates["on_the_fly"] = bench.Rate("on_the_fly", errors=["RuntimeError: pool died"])
    memory = {"epochs": 3, "rss_mb": [100.0, 110.0, 111.0], "samples_per_s": [1.0, 2.0, 3.0], "growth_mb": 1.0, "allowed_growth_mb": 30.0}
    report = bench.make_report(args, inputs, 128, 2, rates, memory, {"error": "TypeError: bad bucket"})
    assert report["rates"]["on_the_fly"] is None
    assert report["ratios"]["local_over_on_the_fly"] is None
    assert report["ratios"]["local_over_frontend"] == pytest.approx(1.0)
    assert not report["checks"]["local_over_on_the_fly"]["passed"] and report["checks"]["memory_growth_mb"]["passed"]
    assert report["errors"] == {"on_the_fly": ["RuntimeError: pool died"], "bucketing": ["TypeError: bad bucket"]}
    table = bench.format_table(report)
    assert "error in on_the_fly: RuntimeError: pool died" in table
    assert "error in bucketing: TypeError: bad bucket" in table
    assert table.count("ERROR") >= 4, "the rate, its two ratios and the padding"
    json.dumps(report)


def test_attempt_keeps_the_last_line_of_a_traced_error(bench: ModuleType, capsys: pytest.CaptureFixture) -> None:
    def broken() -> None:
        raise TypeError("in user code:\n\n    File x.py, line 1\n\n    TypeError: f() got an unexpected keyword argument 'n_max'\n")

    assert bench.attempt("bucketing", broken) == (None, "TypeError: f() got an unexpected keyword argument 'n_max'")
    assert bench.attempt("ok", lambda: 3) == (3, None)
    assert "bucketing: ERROR TypeError: f() got" in capsys.readouterr().out


def test_cached_folders_are_reused_remade_and_never_taken_over(bench: ModuleType, tmp_path: Path) -> None:
    made = []

    def make(folder: Path) -> None:
        made.append(folder.name)
        folder.mkdir()
        (folder / "data").write_text(str(len(made)))

    target = tmp_path / "shards"
    assert bench._replace_cached(target, {"v": 1}, make) is True
    assert bench._replace_cached(target, {"v": 1}, make) is False, "same settings: reused"
    assert bench._replace_cached(target, {"v": 2}, make) is True
    assert made == ["shards.partial", "shards.partial"] and (target / "data").read_text() == "2"
    assert not (tmp_path / "shards.partial").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    with pytest.raises(SystemExit, match="holds no bench_reader.json; refusing to replace it"):
        bench._replace_cached(foreign, {"v": 1}, make)


def small_figures(bench: ModuleType, **train) -> dict:
    rates = {key: bench.Rate(key, runs=[100.0], other_cores=[0.0]) for key in bench.SMALL_RATES}
    rates["small_stream"] = bench.Rate("small_stream", runs=[95.0], other_cores=[0.0])
    rates["small_per_epoch"] = bench.Rate("small_per_epoch", runs=[40.0], other_cores=[0.0])
    rates["small_s3_pinned"] = bench.Rate("small_s3_pinned", errors=["RuntimeError: the pinned S3 figures need 2 cores; 1 available"])
    waits = {"epochs": 3, "input_wait": [0.3, 0.0, 0.01], "start_wait_s": [2.0, 0.02, 0.03], "max_input_wait": 0.01, "median_start_wait_s": 0.03}
    return {
        "train_samples": 166,
        "recordings": 86,
        "audio_h": 1.3,
        "rates": rates,
        "start_wait_s": {"stream": 0.01, "per_epoch": 0.8},
        "train": {**waits, **train},
    }


def test_small_split_figures_stand_beside_their_targets(bench: ModuleType) -> None:
    small = bench.small_report(small_figures(bench))
    assert small["ratios"]["stream_over_steady"] == pytest.approx(0.95) and small["checks"]["stream_over_steady"]["passed"]
    assert small["ratios"]["per_epoch_over_steady"] == pytest.approx(0.4) and "per_epoch_over_steady" not in small["checks"]
    assert small["ratios"]["s3_pinned_over_local"] is None and not small["checks"]["s3_pinned_over_local"]["passed"]
    assert small["checks"]["train_input_wait"]["passed"] and small["checks"]["train_start_wait_s"]["passed"]
    assert small["errors"] == {"small_s3_pinned": ["RuntimeError: the pinned S3 figures need 2 cores; 1 available"]}
    machine = {"cpu_model": "Some CPU", "cpu_count": 2, "cpus_available": 2}
    table = bench.format_small_table({"small": small, "machine": machine})
    assert "CPU: Some CPU, 2 CPUs (2 available)" in table
    assert "ratio (8) / (7), six epochs" in table and "0.95x    >=0.9x  PASS" in table
    assert re.search(r"epoch-start wait \(9\), median of epochs 2-7 +0.800s", table)
    assert "only 2 cores here" in table
    assert "error in small_s3_pinned: RuntimeError: the pinned S3 figures need 2 cores" in table
    json.dumps(small)


def test_a_train_that_waits_for_input_misses_its_targets(bench: ModuleType) -> None:
    small = bench.small_report(small_figures(bench, max_input_wait=0.2, median_start_wait_s=0.9))
    assert not small["checks"]["train_input_wait"]["passed"] and not small["checks"]["train_start_wait_s"]["passed"]
    failed = bench.small_report(small_figures(bench, error="RuntimeError: no model"))
    assert failed["errors"]["train"] == ["RuntimeError: no model"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2 cores")
def test_pinned_moves_every_thread_and_restores_them(bench: ModuleType) -> None:
    import threading

    before = os.sched_getaffinity(0)
    seen = {}
    with bench.pinned({0}):
        worker = threading.Thread(target=lambda: seen.update(cores=os.sched_getaffinity(0)))
        worker.start()
        worker.join()
        assert os.sched_getaffinity(0) == {0}
    assert seen["cores"] == {0}, "a thread started inside inherits the pin"
    assert os.sched_getaffinity(0) == before


def test_paired_ratio_is_the_median_of_side_by_side_runs(bench: ModuleType) -> None:
    drifting = bench.Rate("a", runs=[95.0, 40.0, 180.0])  # the load changed between rounds...
    steady = bench.Rate("b", runs=[100.0, 50.0, 200.0])  # ...for both figures alike
    assert bench.paired_ratio(drifting, steady) == pytest.approx(0.9)
    assert drifting.best / steady.best == pytest.approx(0.9)
    assert bench.paired_ratio(bench.Rate("c", runs=[100.0]), bench.Rate("d", runs=[50.0, 200.0])) == pytest.approx(0.5), "unpaired: best / best"
    assert bench.paired_ratio(bench.Rate("c", runs=[100.0, 80.0]), bench.Rate("d", runs=[100.0, 100.0])) == pytest.approx(0.9)
    assert bench.paired_ratio(drifting, bench.Rate("e", errors=["RuntimeError: x"])) is None
