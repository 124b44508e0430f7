"""Builds that meet on one OUTPUT: the second is refused, a stale lease is taken over, a loser commits nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.leases import LEASE_DIR, lease_files, write_foreign_lease
from helpers.shards import read_samples

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.storage import Store

INLINE = BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=4)


def _output(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return str(tmp_path / "out") if backend == "local" else f"s3://{request.getfixturevalue('s3_env')}/out"


def _committed(store: Store) -> list[str]:
    """Shards, commit records and manifest in ``store``."""
    return [n for n in store.listdir() + store.listdir("_shardkit/done") if n.endswith(".tar") or "/done/" in n or n == "manifest.json"]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_second_build_is_refused_naming_the_owner(backend: str, small_corpus: Path, tmp_path: Path, request: pytest.FixtureRequest):
    url = _output(backend, tmp_path, request)
    store = Store(url)
    write_foreign_lease(store, "build-vm-7:31337:5eed1e55", ttl_s=600)
    with pytest.raises(ConfigError, match=r"is being built by build-vm-7:31337:5eed1e55 .*expires") as caught:
        build(str(small_corpus), url, INLINE, executor="inline", progress=False)
    assert url in str(caught.value)
    assert _committed(store) == [], "the refused build wrote nothing"
    assert lease_files(store) == [f"{LEASE_DIR}/000000000001.json"], "the owner's lease is untouched"


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_stale_lease_after_a_crash_is_taken_over_once_expired(backend: str, small_corpus: Path, tmp_path: Path, request: pytest.FixtureRequest):
    url = _output(backend, tmp_path, request)
    store = Store(url)
    write_foreign_lease(store, "crashed-vm:99:0badc0de", ttl_s=1.0)
    with pytest.raises(ConfigError, match="crashed-vm:99:0badc0de"):
        build(str(small_corpus), url, INLINE, executor="inline", progress=False)
    time.sleep(1.1)
    summary = build(str(small_corpus), url, INLINE, executor="inline", progress=False)
    assert summary.samples_written > 0 and summary.manifest is not None
    assert lease_files(store) == [], "released at the end"


def test_another_lease_ttl_is_not_other_settings(small_corpus: Path, tmp_path: Path):
    out = str(tmp_path / "out")
    first = build(str(small_corpus), out, INLINE, executor="inline", progress=False)
    rerun = build(str(small_corpus), out, BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=4, lease_ttl_s=5), executor="inline", progress=False)
    assert rerun.up_to_date and rerun.manifest == first.manifest


def _steal(store: Store) -> None:
    """Take the lease away from the running build, as a build that took over an expired lease would."""
    current = max(int(n.rsplit("/", 1)[1][: -len(".json")]) for n in lease_files(store))
    write_foreign_lease(store, "thief-vm:1:7h1ef", ttl_s=600, generation=current + 1)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_build_whose_lease_was_stolen_mid_build_commits_nothing_more(
    backend: str, small_corpus: Path, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
):
    from shardkit.ingest import worker

    url = _output(backend, tmp_path, request)
    store = Store(url)
    real, calls, before_steal = worker.extract_file, [], []

    def extract_then_steal(source, config, *rest):
        calls.append(source.source)
        if len(calls) == 6:  # some shards are committed by now
            before_steal.extend(_committed(store))
            _steal(store)
        return real(source, config, *rest)

    monkeypatch.setattr(worker, "extract_file", extract_then_steal)
    with pytest.raises(Exception, match="thief-vm:1:7h1ef") as caught:
        build(str(small_corpus), url, INLINE, executor="inline", progress=False)
    assert type(caught.value).__name__ == "LeaseLost"
    assert any(n.endswith(".tar") for n in before_steal), "stolen mid-build"
    assert _committed(store) == before_steal, "nothing committed after the lease was lost"
    assert json.loads(store.read_bytes(f"{LEASE_DIR}/000000000002.json"))["owner"] == "thief-vm:1:7h1ef"


@pytest.mark.parametrize("executor", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_workers_that_lost_the_lease_commit_nothing(executor: str, small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from shardkit.ingest import runner

    out = tmp_path / "out"
    store = Store(str(out))
    outcome: dict = {}
    # the build holds its lease and plans its tasks: it waits there until the lease is stolen, so no task starts before
    planning, stolen, real_plan = threading.Event(), threading.Event(), runner.plan_tasks

    def plan_once_stolen(*args, **kwargs):
        planning.set()
        stolen.wait(60)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(runner, "plan_tasks", plan_once_stolen)

    def run() -> None:
        try:
            config = BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=4)
            outcome["summary"] = build(str(small_corpus), str(out), config, executor=executor, progress=False)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert planning.wait(60), "the build never got to planning its tasks"
    assert lease_files(store), "the build took no lease"
    _steal(store)  # before any task started
    stolen.set()
    thread.join(120)
    assert "thief-vm:1:7h1ef" in str(outcome.get("error")), outcome
    assert _committed(store) == [], "no shard, no record, no manifest"


def test_two_cli_builds_started_at_once_one_is_refused_and_the_manifest_lists_every_shard(small_corpus: Path, tmp_path: Path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "shardkit", "build", str(small_corpus), str(out), "--shard-max-samples", "3", "--no-progress"]
    procs = [subprocess.Popen([*command, "--workers", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    refused = next(r for r in results if r[0] == 2)
    assert "is being built by" in refused[2] and "Traceback" not in refused[2]
    manifest = json.loads((out / "manifest.json").read_text())
    listed = sorted(s["name"] for split in manifest["splits"].values() for s in split["shards"])
    assert sorted(p.name for p in out.glob("*.tar")) == listed
    keys = [s["key"] for s in read_samples(out, manifest)]
    assert len(keys) == len(set(keys))
    rerun = subprocess.run([*command, "--workers", "2"], capture_output=True, text=True, check=True)
    assert "up to date" in rerun.stdout


def test_cli_lease_ttl_option_is_validated(small_corpus: Path, tmp_path: Path):
    from click.testing import CliRunner

    from shardkit.cli import cli

    result = CliRunner().invoke(cli, ["build", str(small_corpus), str(tmp_path / "out"), "--lease-ttl-s", "0", "--no-progress"])
    assert result.exit_code == 2 and "lease_ttl_s must be a number of seconds in [1, 86400]; got 0.0" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_build_that_lost_its_lease_exits_1_with_one_clear_line(small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from shardkit.cli import cli
    from shardkit.ingest import worker

    out = tmp_path / "out"
    real = worker.extract_file

    def steal_then_extract(source, config, *rest):
        if not any(n.endswith("000000000002.json") for n in lease_files(Store(str(out)))):
            _steal(Store(str(out)))
        return real(source, config, *rest)

    monkeypatch.setattr(worker, "extract_file", steal_then_extract)
    result = CliRunner().invoke(cli, ["build", str(small_corpus), str(out), "--workers", "0", "--executor", "inline", "--lease-ttl-s", "30", "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "Error: this build" in result.output and "lost the lease" in result.output and "thief-vm:1:7h1ef" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
