"""Length-bucketed batching on log-uniform 0.5-10 s segments: padding and shape bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shardkit.codecs import CODECS
from shardkit.ingest.extract import Sample
from shardkit.ingest.shards import sample_summary, write_tar
from shardkit.manifest import build_manifest, write_manifest
from shardkit.read.bucketing import plan_buckets
from shardkit.storage import Store

SR = 8000


def write_variable_shards(folder: Path, n: int = 600, seed: int = 0) -> list[int]:
    """Shards of n segments with log-uniform durations in [0.5, 10] s; returns their sample counts."""
    rng = np.random.default_rng(seed)
    durations = np.exp(rng.uniform(np.log(0.5), np.log(10.0), n))
    folder.mkdir(parents=True)
    records = []
    for shard in range(6):
        samples = []
        for i in range(shard, n, 6):
            audio = (rng.standard_normal(int(durations[i] * SR)) * 0.1).astype(np.float32)
            meta = {"labels": ["a"], "class": "a", "source": f"a/{i}.flac", "duration_s": len(audio) / SR, "split": "train"}
            samples.append(Sample(f"k{i:05d}", "pcm16", CODECS["pcm16"].encode(audio, SR), meta))
        name = f"train-{shard:06d}.tar"
        sha, size = write_tar(samples, str(folder / name))
        records.append(
            {
                "shard": name,
                "split": "train",
                "index": shard,
                "sha256": sha,
                "bytes": size,
                "samples": [sample_summary(s.meta, s.key) for s in samples],
                "sources": [],
                "failures": [],
            }
        )
    settings = {"sample_rate_hz": SR, "codec": "pcm16"}
    manifest = build_manifest(records, settings=settings, negative_classes=[], skipped=[], ignored={}, longest_segment_s=10.0)
    write_manifest(Store(str(folder)), manifest, [])
    return [int(d * SR) for d in durations]


def test_plan_meets_padding_with_few_buckets():
    edges = np.round(np.arange(0, 10.001, 0.02), 6)
    rng = np.random.default_rng(1)
    lengths = np.exp(rng.uniform(np.log(0.5), np.log(10.0), 20000))
    counts = np.histogram(lengths, bins=edges)[0]
    histogram = {"edges_s": edges.tolist(), "counts": counts.tolist()}
    buckets = plan_buckets(histogram, max_padding_ratio=0.05, max_buckets=32, seconds_per_batch=60.0)
    assert len(buckets.upper_s) <= 32 and list(buckets.upper_s) == sorted(buckets.upper_s)
    assert buckets.expected_padding(histogram) <= 0.05
    assert all(b * u <= 60.0 for b, u in zip(buckets.batch_sizes, buckets.upper_s, strict=True))
    tight = plan_buckets(histogram, max_padding_ratio=0.05, max_buckets=4, seconds_per_batch=60.0)
    assert len(tight.upper_s) <= 4, "the shape bound wins over the padding target"


def test_bucketed_batches_pad_under_5_percent(tmp_path: Path):
    pytest.importorskip("tensorflow")
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.read.config import BucketConfig, ReaderConfig
    from shardkit.read.dataset import ShardReader

    lengths_in = write_variable_shards(tmp_path / "shards")
    frontend = FrontendConfig(name="raw", sample_rate_hz=SR, chunk_s=3.0)
    config = ReaderConfig(batching="bucketed", training=False, frontend=frontend, bucket=BucketConfig(seconds_per_batch=60.0, max_buckets=32))
    real, padded, shapes, seen = 0, 0, set(), 0
    for x, _ in ShardReader(str(tmp_path / "shards"), config).dataset().as_numpy_iterator():
        features, lengths = x["features"], x["lengths"]
        shapes.add(features.shape[1])
        assert features.shape[0] * features.shape[1] <= 60.0 * SR, "batch within the seconds budget"
        for row, length in zip(features, lengths, strict=True):
            assert np.all(row[length:] == 0) and length <= features.shape[1]
        real += int(lengths.sum())
        padded += features.size
        seen += len(lengths)
    assert seen == len(lengths_in), "every sample once"
    assert real == sum(lengths_in)
    assert 1 - real / padded <= 0.05, f"padding {1 - real / padded:.3f}"
    assert len(shapes) <= 32
    print(f"bucketed padding {1 - real / padded:.4f} with {len(shapes)} batch shapes")


def test_bucketed_spectrograms_carry_frame_lengths(tmp_path: Path):
    pytest.importorskip("tensorflow")
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.read.config import BucketConfig, ReaderConfig
    from shardkit.read.dataset import ShardReader

    write_variable_shards(tmp_path / "shards", n=120)
    frontend = FrontendConfig(name="mel", sample_rate_hz=SR, chunk_s=1.0, n_fft=256, n_frames=100, n_mels=32)
    config = ReaderConfig(batching="bucketed", training=False, frontend=frontend, bucket=BucketConfig(seconds_per_batch=30.0, max_buckets=8))
    widths = set()
    for x, _ in ShardReader(str(tmp_path / "shards"), config).dataset().as_numpy_iterator():
        features, lengths = x["features"], x["lengths"]
        assert features.ndim == 4 and features.shape[1] == 32 and features.shape[3] == 1
        assert np.all(lengths >= 1) and np.all(lengths <= features.shape[2])
        for row, length in zip(features, lengths, strict=True):
            assert np.all(row[:, length:] == 0), "padded frames are 0 (the min-max skipped them)"
            assert row[:, :length].min() == 0 and row[:, :length].max() == pytest.approx(1.0, abs=1e-3), "the valid frames span the range alone"
        widths.add(features.shape[2])
    assert 1 < len(widths) <= 8
