"""Executors run shard tasks and yield their records as they finish: a plain dict registry.

``local`` (default) uses a pool of long-lived worker processes started by spawn (a forked
TensorFlow process can deadlock on inherited locks) with one BLAS/OpenMP thread each;
``inline`` runs tasks in this process, for debugging and tiny inputs; ``dask`` sends each
task to a Dask cluster (``scheduler`` address, or a `LocalCluster` of ``workers`` processes).

A task is idempotent: it writes one shard under a fixed name, atomically, then its record,
and its samples are a pure function of its recordings. A task that Dask retries or
reschedules after losing a worker therefore rewrites the same shard with the same content:
no sample is lost or duplicated. Every executor hands each task the build's `LeaseToken`;
a task whose build lost OUTPUT's lease commits nothing. Local pool workers exit as soon as
the build process dies (`worker.init_worker`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.lease import LeaseToken
from shardkit.ingest.shards import ShardTask
from shardkit.ingest.worker import init_worker, run_task
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
    """A spawn-started process pool whose workers run one thread each, live for the whole build, and die with it."""
    context = multiprocessing.get_context("spawn")
    with single_thread_env(), ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker, initargs=(os.getpid(),)) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_local(tasks: list[ShardTask], store: Store, config: BuildConfig, workers: int, lease: LeaseToken | None = None) -> Iterator[dict]:
    """Run tasks on a local process pool; yield each record as its task finishes."""
    with worker_pool(max(1, min(workers, len(tasks)))) as pool:
        futures = [pool.submit(run_task, task, store, config, lease) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def run_inline(tasks: list[ShardTask], store: Store, config: BuildConfig, workers: int, lease: LeaseToken | None = None) -> Iterator[dict]:
    """Run tasks one after another in this process."""
    for task in tasks:
        yield run_task(task, store, config, lease)


#: times Dask retries a task that raised (a lost worker is rescheduled on top of this)
DASK_RETRIES = 2


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int):
    """A client of the cluster at ``scheduler``, or of a local cluster of single-thread worker processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError("the dask executor needs Dask: pip install 'shardkit[dask]'") from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from exc
        with client:
            yield client
        return
    with (
        single_thread_env(),
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_dask(
    tasks: list[ShardTask], store: Store, config: BuildConfig, workers: int, lease: LeaseToken | None = None, scheduler: str | None = None
) -> Iterator[dict]:
    """Run tasks on a Dask cluster, each a retried, idempotent unit; yield records as they finish."""
    from distributed import as_completed as dask_completed

    run = uuid.uuid4().hex[:12]  # task keys unique to this build on a shared scheduler
    with dask_client(scheduler, max(1, min(workers, len(tasks)))) as client:
        futures = [
            client.submit(run_task, task, store, config, lease, key=f"shardkit-{run}-{task.split}-{task.index:06d}", retries=DASK_RETRIES, pure=False)
            for task in tasks
        ]
        for future in dask_completed(futures):
            yield future.result()


Executor = Callable[..., Iterator[dict]]

EXECUTORS: dict[str, Executor] = {"local": run_local, "inline": run_inline, "dask": run_dask}
#: executors that take a scheduler address
SCHEDULED = frozenset({"dask"})
