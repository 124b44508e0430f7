"""Planning: shards stay under their limits, order is seeded per file, tasks continue after committed ones."""

from __future__ import annotations

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.inputs import SourceFile
from shardkit.ingest.plan import estimate_output, plan_tasks


def _files(n: int, duration_s: float = 30.0, split: str = "train") -> list[SourceFile]:
    return [SourceFile(f"c/f{i:03d}.flac", f"/x/c/f{i:03d}.flac", "c", False, 1, split, duration_s) for i in range(n)]


def test_estimates():
    config = BuildConfig()
    assert estimate_output(_files(1, 30.0)[0], config) == (3, 9.0)
    assert estimate_output(_files(1, 4.0)[0], config) == (1, 3.0)
    assert estimate_output(_files(1, 2.0)[0], config) == (1, 2.0)
    assert estimate_output(_files(1, 0.0)[0], config) == (1, 3.0), "unknown length: one sample"


def test_shards_respect_limits_and_indices_continue():
    config = BuildConfig(shard_max_samples=10, shard_max_seconds=1e9)
    tasks = plan_tasks(_files(40) + _files(7, split="val"), config, {"train": 5}, workers=1)
    train = [t for t in tasks if t.split == "train"]
    assert sorted(t.index for t in train) == list(range(5, 5 + len(train)))
    assert all(sum(estimate_output(f, config)[0] for f in t.files) <= 10 for t in tasks)
    assert sorted(f.source for t in train for f in t.files) == sorted(f.source for f in _files(40))
    assert {t.split for t in tasks} == {"train", "val"} and min(t.index for t in tasks if t.split == "val") == 0


def test_seconds_limit_and_worker_balance():
    config = BuildConfig(shard_max_samples=10_000, shard_max_seconds=30.0)
    assert all(len(t.files) <= 3 for t in plan_tasks(_files(30), config, {}, workers=1))  # 9 s estimated per file
    many = plan_tasks(_files(32), BuildConfig(shard_max_samples=10_000, shard_max_seconds=1e9), {}, workers=2)
    assert len(many) >= 8, "at least 4 tasks per worker"
    assert [t.input_seconds for t in many] == sorted((t.input_seconds for t in many), reverse=True)


def test_order_is_seeded_and_per_file():
    files = _files(50)
    one = [f.source for t in sorted(plan_tasks(files, BuildConfig(shard_max_samples=6), {}, 1), key=lambda t: t.index) for f in t.files]
    again = [f.source for t in sorted(plan_tasks(list(reversed(files)), BuildConfig(shard_max_samples=6), {}, 1), key=lambda t: t.index) for f in t.files]
    other = [f.source for t in sorted(plan_tasks(files, BuildConfig(shard_max_samples=6, seed=1), {}, 1), key=lambda t: t.index) for f in t.files]
    assert one == again and one != other and one != sorted(one)
