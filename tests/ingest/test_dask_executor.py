"""The dask executor: the same shards as the in-process build, on a local cluster or a given scheduler, to S3."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("distributed")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

CONFIG = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=3)


@pytest.mark.slow
def test_dask_build_on_a_local_cluster_to_s3_writes_the_inline_builds_shards(small_corpus: Path, tmp_path: Path, s3_env: str):
    import s3fs

    reference = build(
        str(small_corpus), str(tmp_path / "inline"), BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=3), executor="inline", progress=False
    )
    summary = build(str(small_corpus), f"s3://{s3_env}/dask", CONFIG, executor="dask", progress=False)
    assert summary.samples_written == reference.samples_written > 0
    ours = {s["name"]: s["sha256"] for split in summary.manifest["splits"].values() for s in split["shards"]}
    theirs = {s["name"]: s["sha256"] for split in reference.manifest["splits"].values() for s in split["shards"]}
    assert ours == theirs  # same shards, byte for byte: tasks are pure functions of their recordings
    fs = s3fs.S3FileSystem()
    assert all(fs.exists(f"{s3_env}/dask/{name}") for name in ours)
    assert build(str(small_corpus), f"s3://{s3_env}/dask", CONFIG, executor="dask", progress=False).up_to_date


@pytest.mark.slow
def test_dask_build_on_a_given_scheduler(small_corpus: Path, tmp_path: Path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = CliRunner().invoke(
            cli,
            [
                "build",
                str(small_corpus),
                str(tmp_path / "out"),
                "--executor",
                "dask",
                "--scheduler",
                cluster.scheduler_address,
                "--no-progress",
                "--shard-max-samples",
                "3",
            ],
        )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "manifest.json").exists()


def test_scheduler_needs_the_dask_executor(small_corpus: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"--scheduler needs an executor that uses one \(\['dask'\]\); got executor 'local'"):
        build(str(small_corpus), str(tmp_path / "out"), CONFIG, scheduler="tcp://127.0.0.1:8786", progress=False)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_unreachable_scheduler_is_a_clear_error(small_corpus: Path, tmp_path: Path):
    result = CliRunner().invoke(
        cli, ["build", str(small_corpus), str(tmp_path / "out"), "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--no-progress"]
    )
    assert result.exit_code == 2 and "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.slow
def test_a_worker_lost_mid_build_loses_and_duplicates_nothing(small_corpus: Path, tmp_path: Path):
    """SIGKILL one Dask worker once the first shard is committed: Dask reruns its task, and the shards hold every sample once."""
    import os
    import signal
    import threading

    from distributed import Client, LocalCluster
    from helpers.events import committed_records, wait_for
    from helpers.shards import read_samples

    config = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=1)
    reference = build(
        str(small_corpus), str(tmp_path / "inline"), BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=1), executor="inline", progress=False
    )
    out = tmp_path / "dask"
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = build(str(small_corpus), str(out), config, executor="dask", scheduler=scheduler, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        scheduler = cluster.scheduler_address
        victim = next(iter(client.run(os.getpid).values()))
        thread = threading.Thread(target=run)
        thread.start()
        wait_for(lambda: committed_records(out) or not thread.is_alive(), "the first commit record or the end of the build")
        killed_mid_build = thread.is_alive()
        os.kill(victim, signal.SIGKILL)
        thread.join(300)
    assert "error" not in outcome, outcome.get("error")
    assert killed_mid_build, "the build finished before a worker could be killed; make the corpus larger"
    manifest = outcome["summary"].manifest
    keys = [sample["key"] for sample in read_samples(out, manifest)]
    expected = [sample["key"] for sample in read_samples(tmp_path / "inline", reference.manifest)]
    assert len(keys) == len(set(keys)), "duplicated samples"
    assert sorted(keys) == sorted(expected), "lost or extra samples"


@pytest.mark.slow
def test_a_dask_task_whose_lease_was_taken_commits_nothing(small_corpus: Path, tmp_path: Path):
    """A task that reaches a Dask worker after another build took OUTPUT's lease raises `LeaseLost` there and writes nothing."""
    from distributed import Client, LocalCluster
    from helpers.leases import write_foreign_lease

    from shardkit.ingest.inputs import scan_inputs
    from shardkit.ingest.lease import LeaseLost, acquire
    from shardkit.ingest.plan import plan_tasks
    from shardkit.ingest.worker import run_task
    from shardkit.storage import Store

    store = Store(str(tmp_path / "out"))
    config = BuildConfig(workers=1, val_fraction=0.0)
    task = plan_tasks(scan_inputs(str(small_corpus), 0.0, 0.0).files, config, {}, 1)[0]
    lease = acquire(store, 60.0)
    try:
        write_foreign_lease(store, "thief-vm:1:7h1ef", ttl_s=600, generation=lease.state.generation + 1)
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            future = client.submit(run_task, task, store, config, lease.token, pure=False)
            with pytest.raises(LeaseLost, match="thief-vm:1:7h1ef"):
                future.result(timeout=120)
    finally:
        lease.release()
    assert not list((tmp_path / "out").glob("*.tar")) and store.listdir("_shardkit/done") == []


@pytest.mark.slow
def test_a_dask_task_whose_client_is_gone_commits_nothing(tmp_path: Path):
    """Dask lets a running task finish after its client closes; the task sees it was released and refuses to commit."""
    from distributed import Client, LocalCluster
    from helpers.dask_tasks import check_when_told
    from helpers.events import wait_for

    def run(client: Client, name: str, close_first: bool) -> str:
        started, trigger, outcome = (tmp_path / f"{name}.{part}" for part in ("started", "trigger", "outcome"))
        future = client.submit(check_when_told, str(started), str(trigger), str(outcome), pure=False)
        wait_for(started.exists, f"task {name} to start")
        if close_first:
            client.close()
            time.sleep(1.0)  # the scheduler tells the worker that the key is released
        trigger.write_text("go")
        wait_for(outcome.exists, f"task {name} to answer")
        if not close_first:
            future.result(timeout=30)
        return outcome.read_text()

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            assert run(client, "alive", close_first=False) == "may commit"
        assert run(Client(cluster), "orphan", close_first=True).startswith("refused: the build's Dask client is gone")
