"""SIGKILL a build mid-way, rerun the same command: same keys as an uninterrupted build, no redone shard."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factories import tone_in_noise, write_audio
from helpers.events import committed_records, wait_for
from helpers.shards import read_samples

pytestmark = pytest.mark.slow


def _command(corpus: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "shardkit",
        "build",
        str(corpus),
        str(out),
        "--workers",
        "1",
        "--shard-max-samples",
        "3",
        "--val-fraction",
        "0.2",
        "--no-progress",
    ]


def _kill_after_records(corpus: Path, out: Path, n_records: int) -> None:
    """Start the build in its own process group and SIGKILL the whole group once n commit records exist."""
    proc = subprocess.Popen(_command(corpus, out), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(committed_records(out)) >= n_records, f"{n_records} commit records (it could not be killed)", running=lambda: proc.poll() is None)
    finally:
        with contextlib.suppress(ProcessLookupError):  # ended by itself: the wait above says so
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists(), "killed before the end"


def test_kill_and_resume_gives_the_uninterrupted_keys(tmp_path: Path):
    corpus = tmp_path / "corpus"
    for i in range(30):
        calls = ((10, 0.5, 2000 + 100 * i), (25, 0.5, 3000), (40, 0.5, 4000))
        write_audio(corpus / f"class{i % 3}" / f"rec{i:02d}.flac", tone_in_noise(60, 48000, calls=calls, seed=i), 48000)
    reference = tmp_path / "reference"
    subprocess.run(_command(corpus, reference), check=True, capture_output=True)
    expected = sorted(s["key"] for s in read_samples(reference, json.loads((reference / "manifest.json").read_text())))

    out = tmp_path / "resumed"
    _kill_after_records(corpus, out, 3)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    assert len(first) >= 3
    _kill_after_records(corpus, out, len(first) + 3)
    committed = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    assert {k: committed[k] for k in first} == first, "the second run did not redo committed shards"

    finished = subprocess.run(_command(corpus, out), check=True, capture_output=True, text=True)
    assert "built" in finished.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    keys = [s["key"] for s in read_samples(out, manifest)]
    assert len(keys) == len(set(keys)), "no duplicates"
    assert sorted(keys) == expected, "exactly the keys of the uninterrupted build"
    assert {k: v for k, v in ((p.name, p.stat().st_mtime_ns) for p in out.glob("*.tar")) if k in committed} == committed
    assert not list((out / "_shardkit" / "staging").glob("*")), "no staging leftovers"
    rerun = subprocess.run(_command(corpus, out), check=True, capture_output=True, text=True)
    assert "up to date" in rerun.stdout
