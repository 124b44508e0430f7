"""End-to-end builds on a small corpus: shard contents, manifest, idempotence, resume, growth."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from factories import tone_in_noise, write_audio
from helpers.shards import read_samples

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

CONFIG = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=6)


@pytest.fixture
def built(small_corpus: Path, tmp_path: Path):
    out = tmp_path / "shards"
    summary = build(str(small_corpus), str(out), CONFIG, progress=False)
    return small_corpus, out, summary


def test_shards_readable_by_webdataset_and_tar(built):
    _, out, summary = built
    manifest = json.loads((out / "manifest.json").read_text())
    samples = read_samples(out, manifest)
    assert len(samples) == sum(split["samples"] for split in manifest["splits"].values()) == summary.samples_written
    assert len({s["key"] for s in samples}) == len(samples), "keys are unique"
    for shard in (s for split in manifest["splits"].values() for s in split["shards"]):
        listing = subprocess.run(["tar", "tf", str(out / shard["name"])], capture_output=True, text=True, check=True).stdout.split()
        assert len(listing) == 2 * shard["samples"]
        assert all(name.count(".") == 1 for name in listing), "one dot: KEY.ext"
        assert hashlib.sha256((out / shard["name"]).read_bytes()).hexdigest() == shard["sha256"]
        assert (out / shard["name"]).stat().st_size == shard["bytes"]
    for sample in samples:
        meta = sample["meta"]
        audio, rate = sf.read(io.BytesIO(sample["audio"]), dtype="float32")
        assert rate == 24000 == meta["sample_rate"] and audio.ndim == 1
        assert len(audio) == round(meta["duration_s"] * 24000)
        assert meta["labels"] == ([] if meta["class"] == "noise" else [meta["class"]])
        assert meta["source"].startswith(meta["class"] + "/")
        assert {"offset_s", "score", "split", "rank", "picked_by", "snr_db", "peak_dbfs", "clipping_ratio"} <= set(meta)


def test_manifest_contents(built):
    corpus, out, _ = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "shardkit/2"
    assert manifest["classes"] == ["alpha", "beta"] and manifest["negative_classes"] == ["noise"]
    assert manifest["sample_rate"] == 24000 and manifest["codec"] == "flac"
    assert manifest["settings"]["chunk_s"] == 3.0
    assert manifest["inputs"]["ignored_by_reason"] == {"not_audio": 1, "not_in_class_folder": 1}
    assert manifest["inputs"]["recordings_processed"] == 11
    samples = read_samples(out, manifest)
    for split_name, split in manifest["splits"].items():
        mine = [s["meta"] for s in samples if s["meta"]["split"] == split_name]
        assert split["samples"] == len(mine)
        assert split["classes"] == dict(Counter(m["class"] for m in mine))
        for name, seconds in split["class_seconds"].items():
            assert seconds == pytest.approx(sum(m["duration_s"] for m in mine if m["class"] == name), abs=1e-3)
        assert split["seconds"] == pytest.approx(sum(m["duration_s"] for m in mine), abs=1e-3)
        assert sum(split["duration_histogram"]["counts"]) == len(mine)
        assert all(s["samples"] <= CONFIG.shard_max_samples for s in split["shards"])
    # split is by recording: no source on two sides
    sides = {}
    for sample in samples:
        sides.setdefault(sample["meta"]["source"], set()).add(sample["meta"]["split"])
    assert all(len(v) == 1 for v in sides.values())
    assert set(manifest["splits"]) == {"train", "val"}
    # the planted calls of alpha (3.0-3.6 s and 8.0-8.6 s) are the chosen segments
    for meta in (s["meta"] for s in samples if s["meta"]["class"] == "alpha"):
        assert meta["picked_by"] == "salience"
        assert any(meta["offset_s"] <= c <= meta["offset_s"] + 3 for c in (3.3, 8.3))


def test_rerun_is_a_noop(built):
    corpus, out, _ = built
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*") if p.is_file()}
    summary = build(str(corpus), str(out), CONFIG, progress=False)
    assert summary.up_to_date and summary.tasks_run == 0
    assert before == {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*") if p.is_file()}


def test_added_files_join_without_moving_old_ones(built):
    corpus, out, _ = built
    old = json.loads((out / "manifest.json").read_text())
    old_samples = {s["key"]: s["meta"]["split"] for s in read_samples(out, old)}
    old_shards = {s["name"]: s["sha256"] for split in old["splits"].values() for s in split["shards"]}
    for i in range(6):
        write_audio(corpus / "gamma" / f"g{i}.flac", tone_in_noise(8, 22050, calls=((4, 0.5, 5000),), seed=50 + i), 22050)
    summary = build(str(corpus), str(out), CONFIG, progress=False)
    assert summary.recordings_processed == 6
    new = json.loads((out / "manifest.json").read_text())
    new_samples = {s["key"]: s["meta"]["split"] for s in read_samples(out, new)}
    assert {k: new_samples[k] for k in old_samples} == old_samples
    new_shards = {s["name"]: s["sha256"] for split in new["splits"].values() for s in split["shards"]}
    assert {k: new_shards[k] for k in old_shards} == old_shards, "old shards untouched"
    assert "gamma" in new["classes"] and len(new_samples) == len(old_samples) + summary.samples_written


def test_lost_commit_record_is_recovered_not_redone(built):
    corpus, out, _ = built
    manifest = json.loads((out / "manifest.json").read_text())
    keys = {s["key"] for s in read_samples(out, manifest)}
    record = sorted((out / "_shardkit" / "done").glob("train-*.json"))[0]
    shard = out / (record.stem + ".tar")
    stat = shard.stat().st_mtime_ns
    record.unlink()
    (out / "manifest.json").unlink()
    summary = build(str(corpus), str(out), CONFIG, progress=False)
    assert summary.tasks_run == 0 and shard.stat().st_mtime_ns == stat
    assert record.exists()
    assert {s["key"] for s in read_samples(out, json.loads((out / "manifest.json").read_text()))} == keys


def test_other_settings_refused(built):
    corpus, out, _ = built
    with pytest.raises(ConfigError, match="sample_rate_hz: 24000 there, 16000 now"):
        build(str(corpus), str(out), BuildConfig(sample_rate_hz=16000), progress=False)


def test_same_keys_with_any_worker_count_and_codec(small_corpus: Path, tmp_path: Path):
    inline = build(str(small_corpus), str(tmp_path / "a"), BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=100), executor="inline", progress=False)
    pooled = build(str(small_corpus), str(tmp_path / "b"), BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=3, codec="pcm16"), progress=False)
    keys_a = {s["key"] for s in read_samples(tmp_path / "a", inline.manifest)}
    pcm = read_samples(tmp_path / "b", pooled.manifest)
    assert keys_a == {s["key"] for s in pcm}
    sample = pcm[0]
    assert len(sample["audio"]) == 2 * round(sample["meta"]["duration_s"] * 24000)


def test_variable_length_mode(tmp_path: Path):
    corpus = tmp_path / "in"
    write_audio(corpus / "long" / "a.flac", tone_in_noise(40, 48000, calls=((5, 4.0, 3000), (20, 0.3, 2500), (30, 9.0, 4000)), seed=1), 48000)
    config = BuildConfig(workers=0, variable_length=True, min_segment_s=1.0, max_segment_s=6.0, val_fraction=0.0)
    summary = build(str(corpus), str(tmp_path / "out"), config, executor="inline", progress=False)
    durations = sorted(s["meta"]["duration_s"] for s in read_samples(tmp_path / "out", summary.manifest))
    assert len(durations) == 3
    assert 1.0 <= durations[0] < 2.0, "the 0.3 s call padded to a short segment"
    assert 3.0 <= durations[1] <= 6.0, "the audible part of the Hann-shaped 4 s call, plus context"
    assert durations[2] == pytest.approx(6.0), "the 9 s call capped at max_segment_s"
    histogram = summary.manifest["splits"]["train"]["duration_histogram"]
    assert histogram["edges_s"][-1] == pytest.approx(6.0) and sum(histogram["counts"]) == 3


def test_workers_are_spawned_single_threaded_without_tensorflow(small_corpus: Path, tmp_path: Path):
    script = f"""
import json, sys
from shardkit.ingest.executors import worker_pool
from probe_worker import probe
if __name__ == "__main__":
    with worker_pool(2) as pool:
        print(json.dumps([f.result() for f in [pool.submit(probe, {str(small_corpus)!r}) for _ in range(4)]]))
    print(json.dumps({{"parent_tf": "tensorflow" in sys.modules}}))
"""
    (tmp_path / "probe_worker.py").write_text(
        "import multiprocessing, os, sys\n"
        "def probe(corpus):\n"
        "    from shardkit.ingest.inputs import scan_inputs\n"
        "    from shardkit.ingest.extract import extract_file\n"
        "    from shardkit.ingest.config import BuildConfig\n"
        "    extract_file(scan_inputs(corpus, 0, 0).files[0], BuildConfig())\n"
        "    return {'pid': os.getpid(), 'tf': 'tensorflow' in sys.modules, 'omp': os.environ.get('OMP_NUM_THREADS'),\n"
        "            'blas': os.environ.get('OPENBLAS_NUM_THREADS'), 'method': multiprocessing.get_start_method()}\n"
    )
    (tmp_path / "main.py").write_text(script)
    out = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    workers, parent = json.loads(out[0]), json.loads(out[1])
    assert len({w["pid"] for w in workers}) <= 2, "long-lived: at most 2 processes served 4 tasks"
    assert all(w == {**w, "tf": False, "omp": "1", "blas": "1", "method": "spawn"} for w in workers)
    assert parent == {"parent_tf": False}


def test_unexpected_error_in_one_file_is_recorded_and_the_build_goes_on(small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from shardkit.ingest import worker

    real = worker.extract_file

    def flaky(source, config, *rest):
        if source.source == "alpha/a1.flac":
            raise MemoryError("simulated")
        return real(source, config, *rest)

    monkeypatch.setattr(worker, "extract_file", flaky)
    summary = build(str(small_corpus), str(tmp_path / "o"), BuildConfig(workers=0), executor="inline", progress=False)
    report = (tmp_path / "o" / "failed.jsonl").read_text()
    assert '"reason": "internal_error"' in report and "MemoryError: simulated" in report
    assert summary.recordings_processed == 11 and summary.failures == {"internal_error": 1}
    assert "alpha/a1.flac" not in {s["meta"]["source"] for s in read_samples(tmp_path / "o", summary.manifest)}


def test_any_fsspec_url_works(small_corpus: Path):
    import fsspec

    summary = build(str(small_corpus), "memory://shardkit-test/out", BuildConfig(workers=0), executor="inline", progress=False)
    fs = fsspec.filesystem("memory")
    names = {p.rsplit("/", 1)[1] for p in fs.ls("/shardkit-test/out", detail=False)}
    assert "manifest.json" in names and summary.samples_written > 0
    assert {s["name"] for split in summary.manifest["splits"].values() for s in split["shards"]} <= names
