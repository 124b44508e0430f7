"""Shared fixtures: tiny audio written with soundfile, a tiny shard set and model made once per session, an S3 endpoint on loopback, slow-test gating."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from factories import make_class_corpus, make_learnable_corpus, tone_in_noise, write_audio


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("SHARDKIT_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A tiny INPUT tree: 2 classes + noise, 48 kHz and 16 kHz FLAC, one stereo file, calls at known times."""
    root = tmp_path / "input"
    for i in range(4):
        write_audio(root / "alpha" / f"a{i}.flac", tone_in_noise(12, 48000, calls=((3, 0.6, 3000), (8, 0.6, 3500)), seed=i), 48000)
        write_audio(root / "beta" / "sub" / f"b{i}.flac", tone_in_noise(9, 16000, calls=((4, 0.8, 2000),), seed=10 + i), 16000)
    for i in range(2):
        write_audio(root / "noise" / f"n{i}.flac", tone_in_noise(7, 24000, seed=20 + i), 24000)
    stereo = np.stack([tone_in_noise(5, 32000, calls=((2, 0.5, 4000),), seed=30), tone_in_noise(5, 32000, seed=31)], axis=1)
    write_audio(root / "beta" / "stereo.flac", stereo, 32000)
    (root / "alpha" / "notes.txt").write_text("field notes")
    (root / "README.md").write_text("not in a class folder")
    return root


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tone classes and noise, pcm16 shards with a val split: built once, shared by the train and export tests."""
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    root = tmp_path_factory.mktemp("tiny_shards")
    corpus = make_class_corpus(root / "corpus")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), progress=False)
    return root / "shards"


@pytest.fixture(scope="session")
def tiny_model(tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny.keras`` (its model config beside it) trained once on `tiny_shards` for 6 epochs: the model the export tests deploy."""
    from helpers.training import tiny_config

    from shardkit.train.runner import train

    out = tmp_path_factory.mktemp("tiny_model")
    train(str(tiny_shards), str(out), tiny_config(epochs=6), verbose=0)
    return out / "tiny.keras"


@pytest.fixture(scope="session")
def inverted_teacher_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make_learnable_corpus` built into 1 s chunks, rewritten with a teacher that is always wrong (p = 1 - hard label)."""
    from helpers.teacher import add_teacher, inverted

    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    root = tmp_path_factory.mktemp("learnable")
    corpus = make_learnable_corpus(root / "corpus")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="pcm16", chunk_s=1.0, shard_max_samples=16, val_fraction=0.3), progress=False)
    return add_teacher(root / "shards", root / "inverted", inverted, name="always-wrong")


@pytest.fixture(scope="session")
def learnable_run(inverted_teacher_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny run on `inverted_teacher_shards` without distillation (the hard labels): the `TrainResult`, its model ``tiny.keras``."""
    from helpers.training import LEARNS, tiny_config

    from shardkit.train.runner import train

    return train(str(inverted_teacher_shards), str(tmp_path_factory.mktemp("learnable_run")), tiny_config(**LEARNS))


@pytest.fixture(scope="session")
def real_recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real animal recordings (``tools/real_corpus.py --small``: 2 classes x 3 files from a Debian package), fetched once.

    Skipped where the package tools are missing; CI (SHARDKIT_REQUIRE_REAL_AUDIO=1) fails instead.
    """
    import shutil

    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        if os.environ.get("SHARDKIT_REQUIRE_REAL_AUDIO") == "1":
            pytest.fail("SHARDKIT_REQUIRE_REAL_AUDIO=1 but apt-get / dpkg-deb are missing")
        pytest.skip("real recordings need apt-get and dpkg-deb (Debian)")
    from helpers.tools import loaded_tool

    out = tmp_path_factory.mktemp("real_recordings") / "corpus"
    for tool in loaded_tool("real_corpus"):
        assert tool.main([str(out), "--small"]) == 0, "tools/real_corpus.py --small failed (see its message above)"
    return out


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint on 127.0.0.1 (moto's server), as s3fs's own tests use."""
    pytest.importorskip("s3fs")
    from faults import StoppableS3

    server = StoppableS3()
    server.start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """Standard AWS environment pointing at the loopback endpoint, with a fresh bucket."""
    import boto3
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"shards-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    s3fs.S3FileSystem.clear_instance_cache()
    yield bucket
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def standin_teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """A real .tflite with BirdNET's interface (`helpers.teacher`), made once: (model, labels, embedding offset)."""
    from helpers.standin_teacher import make_standin_teacher

    return make_standin_teacher(tmp_path_factory.mktemp("standin_teacher"))
