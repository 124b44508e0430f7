"""Executors run shard tasks and yield their records as they finish: a plain dict registry.

``local`` (default) uses a pool of long-lived worker processes started by spawn (a forked
TensorFlow process can deadlock on inherited locks) with one BLAS/OpenMP thread each;
``inline`` runs tasks in this process, for debugging and tiny inputs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from shardkit.build.config import BuildConfig
from shardkit.build.shards import ShardTask
from shardkit.build.worker import init_worker, run_task
from shardkit.storage import Store

#: environment that keeps every numeric library in a worker to one thread
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """Set `SINGLE_THREAD_ENV` while worker processes are spawned, then restore."""
    saved = {name: os.environ.get(name) for name in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn-started process pool whose workers run one thread each and live for the whole build."""
    context = multiprocessing.get_context("spawn")
    with single_thread_env(), ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_local(tasks: list[ShardTask], store: Store, config: BuildConfig, workers: int) -> Iterator[dict]:
    """Run tasks on a local process pool; yield each record as its task finishes."""
    with worker_pool(max(1, min(workers, len(tasks)))) as pool:
        futures = [pool.submit(run_task, task, store, config) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def run_inline(tasks: list[ShardTask], store: Store, config: BuildConfig, workers: int) -> Iterator[dict]:
    """Run tasks one after another in this process."""
    for task in tasks:
        yield run_task(task, store, config)


Executor = Callable[[list[ShardTask], Store, BuildConfig, int], Iterator[dict]]

EXECUTORS: dict[str, Executor] = {"local": run_local, "inline": run_inline}
