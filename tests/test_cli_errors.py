"""What a person sees after a mistake: one or two lines naming the thing and the cause, exit 2.

Every case runs the real command line in a subprocess. Without ``-v`` there is no traceback;
with ``-v`` the traceback comes too. Commands that take a path check it before they import
TensorFlow, so a typo costs well under a second of TensorFlow-free start-up, not its import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def shardkit(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m shardkit ARGS`` with the test's PYTHONPATH, no S3 credentials anywhere."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "shardkit", *args], env=base, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """Named things the mistakes point at: a file, a folder without shards, a fake model."""
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    fake_model = tmp_path / "fake.keras"
    fake_model.write_bytes(b"not a model")
    return {"tmp": str(tmp_path), "file": str(a_file), "empty": str(empty), "missing": str(tmp_path / "nothere"), "model": str(fake_model)}


#: (case id, command line with {placeholders}, text the message must contain)
MISTAKES = [
    ("build-missing-input", "build {missing} {tmp}/out", "{missing}"),
    ("build-input-is-a-file", "build {file} {tmp}/out", "{file}"),
    ("build-bad-codec", "build {empty} {tmp}/out --codec mp3", "codec"),
    ("inspect-not-a-shard-folder", "inspect {empty}", "manifest.json"),
    ("inspect-missing-folder", "inspect {missing}", "{missing}"),
    ("inspect-bad-storage-option", "inspect {empty} --storage-option novalue", "novalue"),
    ("train-missing-shards", "train {missing} --out {tmp}/model", "{missing}"),
    ("train-bad-epochs", "train {empty} --out {tmp}/model --epochs many", "--epochs"),
    ("train-probe-from-missing", "train {empty} --out {tmp}/model --probe-from {missing}.keras", "{missing}.keras"),
    ("convert-missing-model", "convert {missing}.keras --shards {empty}", "{missing}.keras"),
    ("convert-missing-shards", "convert {model} --shards {missing}", "{missing}"),
    ("qat-missing-model", "qat {missing}.keras --shards {empty}", "{missing}.keras"),
    ("evaluate-missing-model", "evaluate {missing}.tflite --shards {empty}", "{missing}.tflite"),
    ("evaluate-missing-compare", "evaluate {model} --shards {empty} --compare {missing}.tflite", "{missing}.tflite"),
    ("demo-out-is-a-file", "demo --out {file}", "{file}"),
    ("pipeline-missing-file", "pipeline run {missing}.toml", "{missing}.toml"),
]


def assert_short_error(done: subprocess.CompletedProcess, names: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert 1 <= len(lines) <= 2, done.stderr
    assert names in done.stderr, (names, done.stderr)


@pytest.mark.parametrize("argv, names", [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_mistake_gives_two_lines_and_exit_2(places: dict[str, str], argv: str, names: str):
    started = time.monotonic()
    done = shardkit(*argv.format(**places).split())
    assert_short_error(done, names.format(**places))
    assert time.monotonic() - started < 5, "the path is checked before TensorFlow is imported"


def test_verbose_shows_the_traceback(places: dict[str, str]):
    done = shardkit("-v", "convert", f"{places['missing']}.keras", "--shards", places["empty"])
    assert done.returncode == 2
    assert "Traceback" in done.stderr and f"{places['missing']}.keras" in done.stderr.splitlines()[-1]


@pytest.fixture
def no_credentials(s3_endpoint: str) -> dict[str, str]:
    """The environment of someone who set the endpoint but forgot the credentials."""
    return {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.mark.parametrize(
    "argv",
    [
        ("inspect", "s3://bucket/shards"),
        ("train", "s3://bucket/shards", "--out", "s3://bucket/model"),
        ("convert", "s3://bucket/m/x.keras", "--shards", "s3://bucket/shards"),
    ],
    ids=["inspect", "train", "convert"],
)
def test_s3_without_credentials(no_credentials: dict[str, str], argv: tuple[str, ...]):
    started = time.monotonic()
    done = shardkit(*argv, env=no_credentials)
    assert_short_error(done, argv[1])
    assert "credentials" in done.stderr
    assert time.monotonic() - started < 10
    verbose = shardkit("-v", *argv, env=no_credentials)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and "NoCredentialsError" in verbose.stderr
