"""The command line: exit 2 with a message naming the value, before any work; build + inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.children import no_tensorflow_dir

from shardkit.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--sample-rate", "0", "sample_rate_hz must be an integer in [8000, 192000]; got 0"),
        ("--codec", "mp3", "codec must be one of ['flac', 'pcm16', 'wav']; got 'mp3'"),
        ("--val-fraction", "1.5", "val_fraction must be a fraction in [0, 1); got 1.5"),
        ("--chunk-s", "-1", "chunk_s must be a number of seconds in (0, 600]; got -1.0"),
        ("--workers", "-2", "workers must be an integer in [0, 1024]; got -2"),
        ("--threshold-db", "0", "salience threshold_db must be a positive number, got 0.0"),
        ("--executor", "gpu", "executor must be one of ['dask', 'inline', 'local']; got 'gpu'"),
        ("--storage-option", "novalue", "expected KEY=VALUE, got 'novalue'"),
    ],
)
def test_bad_options_exit_2_before_any_work(small_corpus: Path, tmp_path: Path, option, value, message):
    out = tmp_path / "out"
    result = run("build", str(small_corpus), str(out), option, value, "--no-progress")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists(), "nothing written"


def test_missing_and_empty_input(tmp_path: Path):
    result = run("build", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert result.exit_code == 2 and "does not exist or is not a folder" in result.output
    (tmp_path / "empty").mkdir()
    result = run("build", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert result.exit_code == 2 and "holds no audio files" in result.output
    assert not (tmp_path / "out").exists()


def test_unwritable_output(small_corpus: Path, tmp_path: Path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = run("build", str(small_corpus), str(blocker / "out"), "--no-progress")
    assert result.exit_code == 2 and f"OUTPUT '{blocker / 'out'}' is not writable" in result.output


def test_build_then_inspect(small_corpus: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = run("build", str(small_corpus), str(out), "--workers", "0", "--executor", "inline", "--no-progress", "--val-fraction", "0.3")
    assert result.exit_code == 0, result.output
    assert "built " in result.output and "x real time" in result.output
    text = run("inspect", str(out))
    assert text.exit_code == 0 and "classes (2): alpha, beta" in text.output and "negative classes: noise" in text.output
    data = json.loads(run("inspect", str(out), "--json").output)
    assert data["classes"] == ["alpha", "beta"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v["samples"] for k, v in data["splits"].items()} == {k: v["samples"] for k, v in manifest["splits"].items()}
    again = run("build", str(small_corpus), str(out), "--workers", "0", "--executor", "inline", "--no-progress", "--val-fraction", "0.3")
    assert "up to date" in again.output


def test_inspect_without_manifest_exits_2(tmp_path: Path):
    result = run("inspect", str(tmp_path))
    assert result.exit_code == 2 and "no manifest.json" in result.output


def test_build_never_imports_tensorflow(small_corpus: Path, tmp_path: Path):
    """A meta-path hook makes any TensorFlow import fail loudly, in parent and spawned workers alike."""
    guard = no_tensorflow_dir(tmp_path / "guard")
    env = {"PYTHONPATH": str(guard), "PATH": "/usr/bin:/bin"}
    control = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert "shardkit build must not import tensorflow" in control.stderr, "the guard itself works"
    args = [sys.executable, "-m", "shardkit", "build", str(small_corpus), str(tmp_path / "o"), "--workers", "2", "--no-progress"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "must not import" not in done.stderr
    inspected = subprocess.run([sys.executable, "-m", "shardkit", "inspect", str(tmp_path / "o")], env=env, capture_output=True, text=True)
    assert inspected.returncode == 0 and "train:" in inspected.stdout
