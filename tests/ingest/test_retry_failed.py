"""A failed input is retried on rerun once its size or mtime changed, and only then."""

from __future__ import annotations

import json
import os
from pathlib import Path

from factories import tone_in_noise, write_audio
from helpers.shards import read_samples

from shardkit.ingest.attempts import changed_since_failure
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.inputs import SourceFile
from shardkit.ingest.runner import build

CONFIG = BuildConfig(workers=0, val_fraction=0.0)


def _build(root: Path, out: Path):
    return build(str(root), str(out), CONFIG, executor="inline", progress=False)


def _report(out: Path) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, (out / "failed.jsonl").read_text().splitlines())}


def test_repaired_file_is_retried_and_leaves_the_report(tmp_path: Path):
    root, out = tmp_path / "input", tmp_path / "out"
    write_audio(root / "bird" / "good.flac", tone_in_noise(4, 16000, calls=((1, 0.5, 3000),), seed=1), 16000)
    broken = root / "bird" / "fixme.flac"
    broken.write_text("not audio yet " * 10)
    still_bad = root / "bird" / "still_bad.flac"
    still_bad.write_text("never audio " * 10)

    first = _build(root, out)
    report = _report(out)
    assert {k: r["reason"] for k, r in report.items()} == {"bird/fixme.flac": "undecodable", "bird/still_bad.flac": "undecodable"}
    stat = broken.stat()
    assert (report["bird/fixme.flac"]["size_bytes"], report["bird/fixme.flac"]["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    assert first.manifest["inputs"]["skipped"] == 2

    unchanged = _build(root, out)
    assert unchanged.up_to_date and unchanged.tasks_run == 0, "unchanged failures are not retried"

    write_audio(broken, tone_in_noise(4, 16000, calls=((2, 0.5, 2500),), seed=2), 16000)
    os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = still_bad.stat().st_mtime_ns + 5_000_000_000
    os.utime(still_bad, ns=(touched, touched))  # same bytes, new mtime: retried, fails again

    rerun = _build(root, out)
    assert not rerun.up_to_date and rerun.recordings_processed == 2
    assert rerun.samples_written > 0 and rerun.failures == {"undecodable": 1}
    report = _report(out)
    assert list(report) == ["bird/still_bad.flac"], "the repaired file left the report; the other is listed once"
    assert report["bird/still_bad.flac"]["mtime_ns"] == touched
    manifest = rerun.manifest
    assert manifest["inputs"]["skipped"] == 1 and manifest["inputs"]["skipped_by_reason"] == {"undecodable": 1}
    assert manifest["inputs"]["recordings_processed"] == 3
    sources = {s["meta"]["source"] for s in read_samples(out, manifest)}
    assert sources == {"bird/good.flac", "bird/fixme.flac"}

    assert _build(root, out).up_to_date, "after the retry, a rerun is a no-op again"


def test_failure_recorded_without_size_and_mtime_is_not_retried():
    """Records written before failures carried size and mtime: those failures stand."""
    old = {"index": 0, "sources": ["bird/a.flac"], "failures": [{"source": "bird/a.flac", "reason": "undecodable", "detail": "x"}]}
    now = SourceFile("bird/a.flac", "/in/bird/a.flac", "bird", False, 100, "train", 1.0, 123)
    assert changed_since_failure([old], [now]) == set()
    assert changed_since_failure([{**old, "failures": [now.failure("undecodable", "x")]}], [now]) == set()
    assert changed_since_failure([{**old, "failures": [{**now.failure("undecodable", "x"), "size_bytes": 99}]}], [now]) == {"bird/a.flac"}
