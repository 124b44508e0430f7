"""The work of one task, run inside a worker process: recordings in, one committed shard out.

Worker processes import numpy, soundfile and soxr, never TensorFlow; they are started by
spawn/forkserver with one BLAS/OpenMP thread each (see `executors`).
"""

from __future__ import annotations

import logging
import os
import traceback

from shardkit.build.config import BuildConfig
from shardkit.build.extract import extract_file
from shardkit.build.shards import ShardTask, commit_shard, record_name, sample_summary
from shardkit.errors import InputFileError
from shardkit.storage import Store

log = logging.getLogger(__name__)

#: pid of the process that started this worker; a worker whose parent died commits nothing
_parent_pid: int | None = None


def init_worker() -> None:
    """Process-pool initializer: remember the parent so an orphaned worker never commits."""
    global _parent_pid
    _parent_pid = os.getppid()


class ParentGone(RuntimeError):
    """The build process died; this worker's output must not be committed."""


def _check_parent() -> None:
    if _parent_pid is not None and os.getppid() != _parent_pid:
        raise ParentGone("the build process exited; not committing")


def run_task(task: ShardTask, store: Store, config: BuildConfig) -> dict:
    """Process every recording of ``task``, commit its shard, then its record.

    A recording that fails is recorded with its reason and the task goes on; an unexpected
    exception in one recording is recorded as ``internal_error`` rather than stopping the build.

    Returns:
        The task's record (also written to the store).
    """
    samples = []
    failures: list[dict] = []
    decoded_s = 0.0
    for source in task.files:
        try:
            extraction = extract_file(source, config)
        except InputFileError as exc:
            failures.append(source.failure(exc.reason, exc.detail))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the build
            detail = f"{type(exc).__name__}: {exc} ({traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()})"
            failures.append(source.failure("internal_error", detail))
            log.warning("unexpected error on %s: %s", source.source, detail)
            continue
        samples.extend(extraction.samples)
        decoded_s += extraction.duration_s
    record = {
        "shard": None,
        "split": task.split,
        "index": task.index,
        "sha256": None,
        "bytes": 0,
        "samples": [sample_summary(s.meta, s.key) for s in samples],
        "sources": sorted(f.source for f in task.files),
        "failures": failures,
        "decoded_s": round(decoded_s, 3),
    }
    _check_parent()
    if samples:
        record.update(commit_shard(store, task, samples))
    store.write_json(record_name(task.split, task.index), record)
    return record
