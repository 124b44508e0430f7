"""The build against storage faults: a silent endpoint, and an S3 server stopped mid-build then back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from faults import FAST_FAIL, StoppableS3, silent_endpoint

from shardkit.cli import cli
from shardkit.errors import StorageUnavailableError
from shardkit.ingest import worker
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

pytest.importorskip("s3fs")


def _storage_args(options: dict) -> list[str]:
    return [arg for key, value in options.items() for arg in ("--storage-option", f"{key}={json.dumps(value) if isinstance(value, dict) else value}")]


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_build_to_a_silent_endpoint_fails_fast_naming_it(small_corpus: Path):
    with silent_endpoint() as endpoint:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=f"storage endpoint {endpoint} is unavailable"):
            build(
                str(small_corpus),
                "s3://bucket/x",
                BuildConfig(workers=0),
                storage_options={"endpoint_url": endpoint, "key": "k", "secret": "s", **FAST_FAIL},
                executor="inline",
                progress=False,
            )
        assert time.monotonic() - started < 10


def test_server_stopped_mid_build_is_a_one_line_error_and_a_rerun_resumes(small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = StoppableS3()
    server.start()
    try:
        bucket = server.create_bucket()
        commit = worker.commit_shard

        def commit_then_stop(*args, **kwargs):
            done = commit(*args, **kwargs)
            server.stop()  # the shard is committed; its record and everything after meet a dead endpoint
            return done

        monkeypatch.setattr(worker, "commit_shard", commit_then_stop)
        command = ["build", str(small_corpus), f"s3://{bucket}/shards", "--workers", "0", "--executor", "inline", "--shard-max-samples", "4", "--no-progress"]
        command += _storage_args(server.options(**FAST_FAIL))
        result = CliRunner().invoke(cli, command, catch_exceptions=False)
        assert result.exit_code == 1, result.output
        lines = _error_lines(result.output)
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert server.endpoint in lines[0] and "rerun" in lines[0]

        monkeypatch.setattr(worker, "commit_shard", commit)
        server.start()
        resumed = build(
            str(small_corpus),
            f"s3://{bucket}/shards",
            BuildConfig(workers=0, shard_max_samples=4),
            storage_options=server.options(),
            executor="inline",
            progress=False,
        )
        fresh = build(str(small_corpus), str(tmp_path / "fresh"), BuildConfig(workers=0, shard_max_samples=4), executor="inline", progress=False)
        assert 0 < resumed.tasks_run < fresh.tasks_run, "the committed shard is not redone"
        counts = lambda manifest: {name: (split["samples"], dict(split["classes"])) for name, split in manifest["splits"].items()}  # noqa: E731
        assert counts(resumed.manifest) == counts(fresh.manifest)
    finally:
        server.stop()


@pytest.mark.slow
def test_cli_build_to_a_silent_endpoint_fails_within_60_s_with_default_timeouts(small_corpus: Path, tmp_path: Path):
    with silent_endpoint() as endpoint:
        started = time.monotonic()
        command = [sys.executable, "-m", "shardkit", "build", str(small_corpus), "s3://bucket/x", "--workers", "0", "--executor", "inline", "--no-progress"]
        command += _storage_args({"endpoint_url": endpoint, "key": "k", "secret": "s"})
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert elapsed < 60
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and endpoint in lines[0], proc.stderr


def test_endpoint_dying_under_worker_processes_reaches_the_caller_as_storage_unavailable(small_corpus: Path, monkeypatch: pytest.MonkeyPatch):
    from shardkit.ingest import runner

    server = StoppableS3()
    server.start()
    try:
        bucket = server.create_bucket()
        plan = runner.plan_tasks

        def plan_then_stop(*args, **kwargs):
            tasks = plan(*args, **kwargs)
            server.stop()  # the workers (spawned processes) meet a dead endpoint when they commit
            return tasks

        monkeypatch.setattr(runner, "plan_tasks", plan_then_stop)
        with pytest.raises(StorageUnavailableError, match=f"storage endpoint {server.endpoint} is unavailable"):
            build(str(small_corpus), f"s3://{bucket}/shards", BuildConfig(workers=1), storage_options=server.options(**FAST_FAIL), progress=False)
    finally:
        server.stop()
