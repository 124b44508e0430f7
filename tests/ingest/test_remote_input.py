"""INPUT as a URL: the same scan, keys, splits and shard bytes as the same tree on local disk; bounded fetching; retries; reruns."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import fsspec
import pytest
from factories import tone_in_noise, write_audio

from shardkit import storage
from shardkit.errors import ConfigError, StorageUnavailableError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.extract import extract_file
from shardkit.ingest.inputs import SourceFile, scan_inputs
from shardkit.ingest.runner import build

INLINE = BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=3)


def upload(local: Path) -> str:
    """Copy a local tree into a fresh ``memory://`` folder; its URL."""
    fs = fsspec.filesystem("memory")
    root = f"/raw-{uuid.uuid4().hex[:8]}"
    for path in sorted(p for p in local.rglob("*") if p.is_file() and not p.is_symlink()):
        fs.pipe_file(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())
    return f"memory://{root}"


def shard_hashes(manifest: dict) -> dict[str, str]:
    return {s["name"]: s["sha256"] for split in manifest["splits"].values() for s in split["shards"]}


@pytest.fixture
def corpus(small_corpus: Path) -> Path:
    """`small_corpus` plus what a scan must ignore: hidden files and folders, a class folder without audio."""
    write_audio(small_corpus / "alpha" / ".hidden.flac", tone_in_noise(2, 16000), 16000)
    write_audio(small_corpus / "alpha" / ".cache" / "x.flac", tone_in_noise(2, 16000), 16000)
    write_audio(small_corpus / ".trash" / "y.flac", tone_in_noise(2, 16000), 16000)
    (small_corpus / "gamma").mkdir()
    (small_corpus / "gamma" / "readme.txt").write_text("no audio here")
    return small_corpus


def test_a_memory_input_scans_like_the_local_tree(corpus: Path):
    local = scan_inputs(str(corpus), 0.3, 0.0)
    remote = scan_inputs(upload(corpus), 0.3, 0.0)
    fields = lambda f: (f.source, f.label, f.negative, f.split, f.size_bytes, round(f.duration_s, 6))  # noqa: E731
    assert [fields(f) for f in remote.files] == [fields(f) for f in local.files]
    assert remote.skipped == local.skipped and [s.reason for s in local.skipped] == ["empty_class"]
    assert remote.ignored == local.ignored == {"hidden": 2, "not_audio": 2, "not_in_class_folder": 1}
    assert all(f.path.startswith("memory://") and f.mtime_ns > 0 for f in remote.files)


def test_a_memory_input_builds_the_local_trees_shards_byte_for_byte(corpus: Path, tmp_path: Path):
    reference = build(str(corpus), str(tmp_path / "local"), INLINE, executor="inline", progress=False)
    url = upload(corpus)
    summary = build(url, str(tmp_path / "remote"), INLINE, executor="inline", progress=False)
    assert summary.samples_written == reference.samples_written > 0
    assert shard_hashes(summary.manifest) == shard_hashes(reference.manifest)  # same keys, splits, sources and bytes
    assert summary.manifest["inputs"] == reference.manifest["inputs"]
    assert (tmp_path / "remote" / "failed.jsonl").read_text() == (tmp_path / "local" / "failed.jsonl").read_text()
    assert build(url, str(tmp_path / "remote"), INLINE, executor="inline", progress=False).up_to_date


def test_a_file_url_input_is_the_local_folder(small_corpus: Path, tmp_path: Path):
    reference = build(str(small_corpus), str(tmp_path / "a"), INLINE, executor="inline", progress=False)
    summary = build(f"file://{small_corpus}", str(tmp_path / "b"), INLINE, executor="inline", progress=False)
    assert shard_hashes(summary.manifest) == shard_hashes(reference.manifest)


def test_a_missing_or_empty_remote_input_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"INPUT 'memory://no-such-input' does not exist or is not a folder"):
        scan_inputs("memory://no-such-input", 0.1, 0.0)
    fsspec.filesystem("memory").pipe_file("/only-text/cls/a.txt", b"x")
    with pytest.raises(ConfigError, match=r"INPUT 'memory://only-text' holds no audio files under a class folder"):
        scan_inputs("memory://only-text", 0.1, 0.0)


def test_two_passes_over_a_long_remote_flac_fetch_it_about_once(tmp_path: Path):
    """The salience pass streams the file, the segment reads seek: bytes fetched stay under 1.2x the file."""
    path = write_audio(tmp_path / "c" / "long.flac", tone_in_noise(150, 48000, calls=((20, 0.6, 3000), (75, 0.6, 3500), (130, 0.6, 2500)), seed=3), 48000)
    url = upload(tmp_path / "c")
    size = path.stat().st_size
    before = storage.fetch_stats()
    extraction = extract_file(SourceFile("long.flac", f"{url}/long.flac", "c", False, size, "train"), BuildConfig())
    fetched = storage.fetch_stats()["bytes"] - before["bytes"]
    assert len(extraction.samples) == 3
    assert size <= fetched <= 1.2 * size, f"fetched {fetched / size:.3f}x the file"
    local = extract_file(SourceFile("long.flac", str(path), "c", False, size, "train"), BuildConfig())
    assert [s.audio for s in extraction.samples] == [s.audio for s in local.samples]


def test_range_reader_reads_what_the_object_holds_with_bounded_ranges():
    import random

    data = random.Random(0).randbytes(3_000_000)
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/range/blob", data)
    reader = storage.open_object("memory://range/blob", max_fetch_bytes=256 * 1024)
    sizes = []
    real = reader._fetch
    reader._fetch = lambda *a, **k: (real(*a, **k), sizes.append(len(reader._buffer)))
    rng = random.Random(1)
    for _ in range(200):
        start, length = rng.randrange(len(data)), rng.randrange(1, 200_000)
        reader.seek(start)
        assert reader.read(length) == data[start : start + length]
    reader.seek(0)
    assert reader.read() == data and reader.read(10) == b""
    assert max(sizes) <= 256 * 1024 + 200_000  # a range is at most max_fetch_bytes, or one read's length


@pytest.fixture
def flaky_memory(monkeypatch: pytest.MonkeyPatch):
    """Make the first attempt of every range read and info call of ``memory://`` fail with a connection reset (retries wait 1 ms)."""
    from fsspec.implementations.memory import MemoryFileSystem

    monkeypatch.setattr(storage, "RANGE_BACKOFF_S", 0.001)
    calls = {"seen": set(), "failed": 0, "always": False}

    def flaky(real):
        def call(self, path, *args, **kwargs):
            attempt = (real.__name__, path, args, tuple(sorted(kwargs.items())), threading.get_ident())
            if calls["always"] or attempt not in calls["seen"]:
                calls["seen"].add(attempt)
                calls["failed"] += 1
                raise ConnectionResetError(f"injected fault reading {path}")
            return real(self, path, *args, **kwargs)

        return call

    monkeypatch.setattr(MemoryFileSystem, "cat_file", flaky(MemoryFileSystem.cat_file))
    monkeypatch.setattr(MemoryFileSystem, "info", flaky(MemoryFileSystem.info))
    return calls


def test_transient_faults_reading_a_remote_input_are_retried(small_corpus: Path, tmp_path: Path, flaky_memory: dict):
    url = upload(small_corpus)
    reference = build(str(small_corpus), str(tmp_path / "local"), INLINE, executor="inline", progress=False)
    summary = build(url, str(tmp_path / "remote"), INLINE, executor="inline", progress=False)
    assert flaky_memory["failed"] > 20, "the faults were injected"
    assert shard_hashes(summary.manifest) == shard_hashes(reference.manifest)
    assert summary.manifest["inputs"]["skipped"] == 0


def test_a_store_that_keeps_failing_stops_the_build_and_blames_no_recording(small_corpus: Path, tmp_path: Path, flaky_memory: dict):
    url = upload(small_corpus)
    source = scan_inputs(url, 0.0, 0.0).files[0]  # the listing and headers work: reads fail from here on
    flaky_memory["always"] = True
    with pytest.raises(StorageUnavailableError, match=rf"checking '{url}/alpha/a0.flac' failed after 4 attempts: storage endpoint memory://"):
        extract_file(source, INLINE)  # in the worker: the store's failure, not an InputFileError
    with pytest.raises(StorageUnavailableError, match=rf"checking '{url}/.*' failed after 4 attempts"):
        build(url, str(tmp_path / "out"), INLINE, executor="inline", progress=False)  # the scan stops: no guessed durations
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not list((tmp_path / "out").glob("*.tar"))


def test_a_range_that_keeps_failing_mid_decode_is_the_stores_fault(small_corpus: Path, flaky_memory: dict, monkeypatch: pytest.MonkeyPatch):
    """soundfile's callbacks cannot raise: the reader's error is kept and raised after the call, never read as a corrupt file."""
    url = upload(small_corpus)
    source = scan_inputs(url, 0.0, 0.0).files[0]
    real = storage.RangeReader._fetch

    def fail_past_header(self, start, wanted, *, sequential):
        flaky_memory["always"] = start > 0
        return real(self, start, wanted, sequential=sequential)

    monkeypatch.setattr(storage.RangeReader, "_fetch", fail_past_header)
    with pytest.raises(StorageUnavailableError, match=rf"reading '{url}/alpha/a0.flac' bytes \d+-\d+ failed after 4 attempts"):
        extract_file(source, INLINE)


def test_a_failed_object_is_retried_once_it_changes(small_corpus: Path, tmp_path: Path):
    (small_corpus / "alpha" / "bad.flac").write_text("not audio")
    url = upload(small_corpus)
    out = str(tmp_path / "out")
    first = build(url, out, INLINE, executor="inline", progress=False)
    assert first.failures == {"undecodable": 1}
    assert build(url, out, INLINE, executor="inline", progress=False).up_to_date, "an unchanged failed object is not retried"
    good = write_audio(tmp_path / "good.flac", tone_in_noise(6, 24000, calls=((2, 0.5, 3000),)), 24000)
    fsspec.filesystem("memory").pipe_file(f"{url[len('memory://') :]}/alpha/bad.flac", good.read_bytes())
    again = build(url, out, INLINE, executor="inline", progress=False)
    assert again.recordings_processed == 1 and again.samples_written > 0
    assert "alpha/bad.flac" not in (tmp_path / "out" / "failed.jsonl").read_text()
    assert [json.loads(line) for line in (tmp_path / "out" / "failed.jsonl").read_text().splitlines()] == []


def test_input_storage_options_default_to_outputs_for_the_same_scheme():
    from shardkit.ingest.runner import input_options_for

    assert input_options_for("s3://raw/x", "s3://out/y", None, {"key": "k"}) == {"key": "k"}
    assert input_options_for("s3://raw/x", "/local/out", None, {"key": "k"}) == {}
    assert input_options_for("/local/in", "s3://out/y", None, {"key": "k"}) == {}
    assert input_options_for("s3://raw/x", "s3://out/y", {"key": "other"}, {"key": "k"}) == {"key": "other"}


def test_an_s3_input_read_by_worker_processes_builds_the_local_trees_shards(small_corpus: Path, tmp_path: Path, s3_endpoint: str):
    """moto's S3 on 127.0.0.1, no AWS environment: the pool's worker processes get the endpoint and credentials from the tasks."""
    import boto3
    import s3fs

    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    bucket = f"raw-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
        Bucket=bucket
    )
    fs = s3fs.S3FileSystem(**options)
    for path in sorted(p for p in small_corpus.rglob("*") if p.is_file()):
        fs.pipe_file(f"{bucket}/raw/{path.relative_to(small_corpus).as_posix()}", path.read_bytes())
    config = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=3)
    reference = build(str(small_corpus), str(tmp_path / "local"), config, progress=False)
    summary = build(f"s3://{bucket}/raw", str(tmp_path / "s3"), config, input_storage_options=options, progress=False)
    assert summary.manifest["inputs"] == reference.manifest["inputs"]
    assert shard_hashes(summary.manifest) == shard_hashes(reference.manifest)
    scan = scan_inputs(f"s3://{bucket}/raw", 0.3, 0.0, storage_options=options)
    assert all(f.etag and f.mtime_ns > 0 for f in scan.files), "an object's identity is its size and ETag"
