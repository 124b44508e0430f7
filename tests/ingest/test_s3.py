"""Build to S3 served on 127.0.0.1 (moto's ThreadedMotoServer), then read every shard back."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import s3fs
from helpers.shards import read_samples

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.read.inspect import summarize


def test_build_to_s3_from_the_aws_environment(small_corpus: Path, tmp_path: Path, s3_env: str):
    url = f"s3://{s3_env}/datasets/demo"
    config = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=5)
    summary = build(str(small_corpus), url, config, progress=False)
    assert summary.samples_written > 0
    fs = s3fs.S3FileSystem()
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{s3_env}/datasets/demo", detail=False))
    shard_names = [s["name"] for split in summary.manifest["splits"].values() for s in split["shards"]]
    assert names == sorted(["_shardkit", "failed.jsonl", "manifest.json", *shard_names])
    assert not fs.exists(f"{s3_env}/datasets/demo/_shardkit/staging"), "nothing partial left behind"
    local = tmp_path / "copy"
    local.mkdir()
    for name in shard_names:
        fs.get(f"{s3_env}/datasets/demo/{name}", str(local / name))
        assert hashlib.sha256((local / name).read_bytes()).hexdigest() == next(
            s["sha256"] for split in summary.manifest["splits"].values() for s in split["shards"] if s["name"] == name
        )
        subprocess.run(["tar", "tf", str(local / name)], check=True, capture_output=True)
    manifest = json.loads(fs.cat(f"{s3_env}/datasets/demo/manifest.json"))
    samples = read_samples(local, manifest)
    assert len(samples) == summary.samples_written
    assert summarize(url)["classes"] == ["alpha", "beta"]
    assert build(str(small_corpus), url, config, progress=False).up_to_date


def test_explicit_storage_options_override_environment(small_corpus: Path, s3_env: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    summary = build(str(small_corpus), f"s3://{s3_env}/x", BuildConfig(workers=0), storage_options=options, executor="inline", progress=False)
    assert summary.samples_written > 0


def test_missing_bucket_is_a_clear_error(small_corpus: Path, s3_env: str):
    from shardkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"OUTPUT 's3://no-such-bucket-here/x' is not writable"):
        build(str(small_corpus), "s3://no-such-bucket-here/x", BuildConfig(workers=0), progress=False)
