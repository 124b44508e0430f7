"""Plan the build: which recordings go into which shard task.

Recordings are ordered by a seeded hash of their path (so shards mix classes, and the order
of one file never depends on the others) and packed greedily, per split, into shards whose
estimated output stays under the sample and seconds limits. Tasks are also capped in input
seconds so that there are several tasks per worker; they are handed out longest first.
"""

from __future__ import annotations

import hashlib

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.inputs import SPLITS, SourceFile
from shardkit.ingest.shards import ShardTask

#: aim for at least this many tasks per worker, so workers finish together
TASKS_PER_WORKER = 4


def estimate_output(source: SourceFile, config: BuildConfig) -> tuple[int, float]:
    """Expected ``(samples, seconds)`` a recording yields (an upper bound; unknown length → 1 sample)."""
    duration = source.duration_s
    if duration <= 0:
        return 1, config.longest_segment_s
    shortest = config.min_segment_s if config.variable_length else config.chunk_s
    samples = int(min(config.max_chunks_per_file, max(1, duration // shortest)))
    return samples, min(duration, samples * config.longest_segment_s)


def pack_order(source: str, seed: int) -> bytes:
    """Seeded, per-file sort key for packing."""
    return hashlib.sha256(f"{seed}:{source}".encode()).digest()


def plan_tasks(files: list[SourceFile], config: BuildConfig, next_index: dict[str, int], workers: int) -> list[ShardTask]:
    """Pack recordings into shard tasks.

    Args:
        files: recordings still to process.
        config: shard limits and seed.
        next_index: first free shard index per split (after the committed ones).
        workers: how many workers will run the tasks.

    Returns:
        Tasks, longest (in input seconds) first.
    """
    total_input_s = sum(max(f.duration_s, 0.0) for f in files)
    max_task_input_s = total_input_s / (TASKS_PER_WORKER * max(1, workers))
    tasks: list[ShardTask] = []
    for split in SPLITS:
        members = sorted((f for f in files if f.split == split), key=lambda f: pack_order(f.source, config.seed))
        index = next_index.get(split, 0)
        current, n_samples, n_seconds = ShardTask(split, index), 0, 0.0
        for source in members:
            est_samples, est_seconds = estimate_output(source, config)
            full = (
                n_samples + est_samples > config.shard_max_samples
                or n_seconds + est_seconds > config.shard_max_seconds
                or current.input_seconds + source.duration_s > max_task_input_s
            )
            if current.files and full:
                tasks.append(current)
                index += 1
                current, n_samples, n_seconds = ShardTask(split, index), 0, 0.0
            current.files.append(source)
            n_samples += est_samples
            n_seconds += est_seconds
        if current.files:
            tasks.append(current)
    return sorted(tasks, key=lambda t: -t.input_seconds)
