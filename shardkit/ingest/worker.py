"""The work of one task, run inside a worker process: recordings in, one committed shard out.

Worker processes import numpy, soundfile and soxr, never TensorFlow; they are started by
spawn/forkserver with one BLAS/OpenMP thread each (see `executors`). A pool worker watches
its parent and exits within `PARENT_POLL_S` of the build process's death, whatever it was
doing; a Dask task whose client is gone (the scheduler released it) commits nothing; and a
task commits only while its build holds OUTPUT's lease (see `lease`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback

from shardkit.errors import InputFileError, StorageUnavailableError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.extract import extract_file
from shardkit.ingest.lease import LeaseToken
from shardkit.ingest.shards import ShardTask, commit_shard, record_name, sample_summary
from shardkit.storage import Store

log = logging.getLogger(__name__)

#: pid of the process that started this worker; a worker whose parent died commits nothing
_parent_pid: int | None = None
#: how often a pool worker checks that its parent is alive (seconds)
PARENT_POLL_S = 0.25
#: exit status of a worker that outlived its build process
ORPHAN_EXIT_STATUS = 70


def init_worker(parent_pid: int | None = None) -> None:
    """Process-pool initializer: remember the parent and exit as soon as it dies.

    Args:
        parent_pid: the build process (default: this process's parent now).
    """
    global _parent_pid
    _parent_pid = parent_pid or os.getppid()
    threading.Thread(target=_exit_when_orphaned, name="shardkit-parent-watch", daemon=True).start()


def _exit_when_orphaned() -> None:
    """Poll the parent; when it is gone (we were re-parented) end this process at once, committing nothing."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != _parent_pid:
            log.warning("build process %s is gone; worker %s exits", _parent_pid, os.getpid())
            os._exit(ORPHAN_EXIT_STATUS)


class ParentGone(RuntimeError):
    """The build process died; this worker's output must not be committed."""


def _check_parent() -> None:
    if _parent_pid is not None and os.getppid() != _parent_pid:
        raise ParentGone("the build process exited; not committing")
    if _dask_task_released():
        raise ParentGone("the build's Dask client is gone (the scheduler released this task); not committing")


def _dask_task_released() -> bool:
    """True inside a Dask task that the scheduler no longer wants: its client closed or died, or it was cancelled.

    Dask lets a running task finish after its key is released; only the task can stop itself.
    """
    distributed = sys.modules.get("distributed")  # never imported here: only a Dask worker has it loaded
    if distributed is None:
        return False
    try:
        worker = distributed.get_worker()
    except ValueError:  # not inside a Dask task
        return False
    task = worker.state.tasks.get(worker.get_current_task())
    return task is None or task.state in ("cancelled", "released", "forgotten")


def check_may_commit(store: Store, lease: LeaseToken | None) -> None:
    """Raise unless this worker may still commit: its build process lives, its Dask client (if any) is there, and the lease is its build's.

    Raises:
        ParentGone: the build process or its Dask client is gone.
        LeaseLost: another build took OUTPUT's lease.
    """
    _check_parent()
    if lease is not None:
        lease.check(store)


def run_task(task: ShardTask, store: Store, config: BuildConfig, lease: LeaseToken | None = None) -> dict:
    """Process every recording of ``task``, commit its shard, then its record.

    A recording that fails is recorded with its reason and the task goes on; an unexpected
    exception in one recording is recorded as ``internal_error`` rather than stopping the build.

    Args:
        task: the recordings and the shard they become.
        store: OUTPUT.
        config: build settings.
        lease: the build's lease; checked before any work and again just before the commit.

    Returns:
        The task's record (also written to the store).

    Raises:
        LeaseLost: the build lost OUTPUT's lease; nothing was committed.
    """
    check_may_commit(store, lease)
    samples = []
    failures: list[dict] = []
    decoded_s = 0.0
    teacher = {"candidates": 0, "windows": 0, "seconds": 0.0, "ranked": 0, "audit": []} if config.teacher is not None else None
    for source in task.files:
        try:
            extraction = extract_file(source, config, task.input_options)
        except InputFileError as exc:
            failures.append(source.failure(exc.reason, exc.detail))
            continue
        except StorageUnavailableError:
            raise  # the store, not the recording: the task fails (retried, or the build stops) and a rerun resumes
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the build
            detail = f"{type(exc).__name__}: {exc} ({traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()})"
            failures.append(source.failure("internal_error", detail))
            log.warning("unexpected error on %s: %s", source.source, detail)
            continue
        samples.extend(extraction.samples)
        decoded_s += extraction.duration_s
        if teacher is not None and extraction.teacher is not None:
            report = extraction.teacher
            for name in ("candidates", "windows", "seconds"):
                teacher[name] += report[name]
            teacher["ranked"] += int(report["ranked"])
            if report["audit"] is not None:
                teacher["audit"].append(report["audit"])
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
    if teacher is not None:
        record["teacher"] = {**teacher, "seconds": round(teacher["seconds"], 3)}
    check_may_commit(store, lease)
    if samples:
        record.update(commit_shard(store, task, samples))
    store.write_json(record_name(task.split, task.index), record)
    return record
