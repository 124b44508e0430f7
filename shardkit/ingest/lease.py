"""The lease on OUTPUT: one build at a time writes there.

A lease is a JSON file ``_shardkit/lease/{generation:012d}.json`` in OUTPUT::

    {"owner": "host:pid:random", "generation": 3, "created": unix_s, "heartbeat": unix_s,
     "ttl_s": 60.0, "expires": unix_s, "pid_scope": "host pid:[4026531836]"}

The file with the highest generation is the lease. A build takes it by creating the next
generation's file exclusively (``O_EXCL``-style link on local disk, ``If-None-Match: *`` on
S3), so of two builds that start at once exactly one wins, and the other is refused with
the owner's name. Nobody ever overwrites a file of another owner: the holder renews its own
file from a heartbeat thread, and a build that finds the lease expired (no heartbeat for
``ttl_s``; or its owner a dead process of this host and pid namespace, ``pid_scope``) takes
over by creating the next generation. Whoever held the older one learns at its next check
that it lost the lease.

Every commit checks the lease first (`LeaseToken.check`, run by workers before each shard,
and by the runner before the manifest): a build or worker that lost the lease commits
nothing more. Between a check and the commit it guards there is a window of one request;
the heartbeat renews at a quarter of the TTL so that a live build never gets near expiry.
Hosts that share an OUTPUT need clocks that agree to well within the TTL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from shardkit.errors import ConfigError, ShardkitError
from shardkit.ingest.shards import STATE_DIR
from shardkit.jsonio import dumps
from shardkit.storage import Store

log = logging.getLogger(__name__)

LEASE_DIR = f"{STATE_DIR}/lease"
#: the heartbeat renews the lease this many times per TTL
BEATS_PER_TTL = 4
#: on stores without exclusive create, wait this long after writing before reading back who won
SETTLE_S = 0.2
#: attempts to take a lease that keeps changing hands under us
ACQUIRE_ATTEMPTS = 5


class LeaseHeld(ConfigError):
    """Another build holds OUTPUT's lease; raised before any work."""


class LeaseLost(ShardkitError):
    """This build no longer holds OUTPUT's lease (taken over, or not renewed in time); it commits nothing more."""


def lease_name(generation: int) -> str:
    """Path of the lease file of ``generation`` inside the store."""
    return f"{LEASE_DIR}/{generation:012d}.json"


def new_owner_id() -> str:
    """``host:pid:random``: names this build to a person, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_scope() -> str:
    """Where this process's pid means this process: the host and, on Linux, the pid namespace.

    Containers that share a host name (host networking) have their own pid namespaces.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()} {namespace}".strip()


@dataclass(frozen=True)
class LeaseState:
    """What one lease file says."""

    owner: str
    generation: int
    created: float
    heartbeat: float
    ttl_s: float
    pid_scope: str = ""

    @property
    def expires(self) -> float:
        """Unix time after which anyone may take the lease over."""
        return self.heartbeat + self.ttl_s

    def to_json(self) -> dict:
        """The file's content (``expires`` is written for people; readers use heartbeat + ttl_s)."""
        return {**asdict(self), "expires": self.expires}

    @classmethod
    def from_json(cls, data: dict) -> LeaseState:
        """Parse a lease file's content."""
        return cls(
            str(data["owner"]), int(data["generation"]), float(data["created"]), float(data["heartbeat"]), float(data["ttl_s"]), str(data.get("pid_scope", ""))
        )

    def describe(self, now: float) -> str:
        """``owner (heartbeat 3 s ago; expires 2026-…Z, in 57 s)`` for messages."""
        expires = datetime.fromtimestamp(self.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.owner} (heartbeat {now - self.heartbeat:.0f} s ago; lease expires {expires}, in {max(0.0, self.expires - now):.0f} s)"


def current_lease(store: Store) -> LeaseState | None:
    """The lease in force: the file of the highest generation, or None when there is none."""
    generations = sorted(_generations(store), reverse=True)
    for generation in generations:
        try:
            return LeaseState.from_json(store.read_json(lease_name(generation)))
        except FileNotFoundError:  # released while we listed: look at the next one
            continue
    return None


def _generations(store: Store) -> list[int]:
    names = (name.rsplit("/", 1)[1] for name in store.listdir(LEASE_DIR))
    return [int(name[: -len(".json")]) for name in names if name.endswith(".json") and name[: -len(".json")].isdigit()]


#: owner ids of the leases this process holds or is taking now (a lease of this process not in
#: it was left behind by a build that ended without releasing it, e.g. when its endpoint went down)
_HELD_HERE: set[str] = set()


def _owner_died_here(state: LeaseState) -> bool:
    """True when the lease's owner is a process of our host and pid namespace that no longer runs,
    or a build of this very process that has ended."""
    pid = state.owner.split(":")[1] if state.owner.count(":") == 2 else ""
    if state.pid_scope != pid_scope() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return state.owner not in _HELD_HERE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@dataclass(frozen=True)
class LeaseToken:
    """What a worker needs to check that its build still holds the lease; picklable."""

    owner: str
    generation: int

    def check(self, store: Store) -> None:
        """Raise `LeaseLost` unless the lease in force in ``store`` is this one.

        Raises:
            LeaseLost: another build took the lease over, or it was released.
        """
        current = current_lease(store)
        if current is None or (current.owner, current.generation) != (self.owner, self.generation):
            holder = f"now held by {current.describe(time.time())}" if current else "no lease is there any more"
            raise LeaseLost(f"this build ({self.owner}) lost the lease on OUTPUT {store.url!r}: {holder}; nothing more is committed")


class Lease:
    """A lease this process holds, renewed by a heartbeat thread until `release`."""

    def __init__(self, store: Store, state: LeaseState) -> None:
        self.store = store
        self.state = state
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="shardkit-lease-heartbeat", daemon=True)

    @property
    def owner(self) -> str:
        """This build's owner id."""
        return self.state.owner

    @property
    def token(self) -> LeaseToken:
        """The token workers check before committing."""
        return LeaseToken(self.state.owner, self.state.generation)

    def check_heartbeat(self) -> None:
        """Raise `LeaseLost` if the heartbeat found the lease lost (no request: cheap to call often)."""
        if self._lost:
            raise LeaseLost(self._lost)

    def check(self) -> None:
        """Raise `LeaseLost` if the heartbeat found the lease lost, or it is not held in the store now."""
        self.check_heartbeat()
        self.token.check(self.store)

    def renew(self) -> None:
        """Check that the lease is still ours, then write a new heartbeat into our own file.

        Raises:
            LeaseLost: it is not ours any more.
        """
        self.token.check(self.store)
        state = replace(self.state, heartbeat=time.time())
        self.store.write_json(lease_name(state.generation), state.to_json())
        self.state = state

    def _beat(self) -> None:
        interval_s = self.state.ttl_s / BEATS_PER_TTL
        while not self._stop.wait(interval_s):
            try:
                self.renew()
            except LeaseLost as exc:
                self._lost = str(exc)
                log.error("%s", exc)
                return
            except Exception as exc:  # noqa: BLE001 - a storage hiccup: try again at the next beat, until expiry
                if time.time() >= self.state.expires:
                    self._lost = (
                        f"this build ({self.owner}) could not renew its lease on OUTPUT {self.store.url!r} before it expired: {type(exc).__name__}: {exc}"
                    )
                    log.error("%s", self._lost)
                    return
                log.warning("lease heartbeat failed (will retry): %s: %s", type(exc).__name__, exc)

    def start(self) -> None:
        """Start the heartbeat."""
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and remove our lease file, if it is still ours."""
        _HELD_HERE.discard(self.owner)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        name = lease_name(self.state.generation)
        try:
            if self.store.read_json(name).get("owner") == self.owner:
                self.store.delete(name)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("could not release the lease on %s (it expires in %.0f s): %s", self.store.url, self.state.ttl_s, exc)


def acquire(store: Store, ttl_s: float, *, owner: str | None = None) -> Lease:
    """Take OUTPUT's lease and start its heartbeat.

    Args:
        store: OUTPUT.
        ttl_s: the lease expires this long after its last heartbeat.
        owner: owner id (default: `new_owner_id`).

    Raises:
        LeaseHeld: another build holds an unexpired lease (the message names it).
    """
    owner = owner or new_owner_id()
    _HELD_HERE.add(owner)  # before its file exists: a racing thread of this process must not take it for a leftover
    try:
        return _acquire(store, ttl_s, owner)
    except BaseException:
        _HELD_HERE.discard(owner)
        raise


def _acquire(store: Store, ttl_s: float, owner: str) -> Lease:
    for _ in range(ACQUIRE_ATTEMPTS):
        now = time.time()
        current = current_lease(store)
        if current is not None and now < current.expires and not _owner_died_here(current):
            raise _held(store, current, now)
        generation = current.generation + 1 if current else 1
        state = LeaseState(owner, generation, now, now, float(ttl_s), pid_scope())
        if not store.create_bytes(lease_name(generation), dumps(state.to_json(), indent=2).encode()):
            continue  # another build created this generation first
        if not store.exclusive_create:  # give a racing writer time, then see who won
            time.sleep(SETTLE_S)
        winner = current_lease(store)
        if winner is None or (winner.owner, winner.generation) != (owner, generation):
            continue
        if current is not None:
            log.warning("took over the lease of %s on %s (expired, or its process is gone)", current.describe(now), store.url)
        for older in _generations(store):
            if older < generation:
                store.delete(lease_name(older))
        lease = Lease(store, state)
        lease.start()
        log.info("holding the lease on %s as %s (ttl %.0f s)", store.url, owner, ttl_s)
        return lease
    current = current_lease(store)
    if current is not None:
        raise _held(store, current, time.time())
    raise LeaseHeld(f"could not take the lease on OUTPUT {store.url!r}: it changed hands {ACQUIRE_ATTEMPTS} times while trying; try again")


def _held(store: Store, current: LeaseState, now: float) -> LeaseHeld:
    return LeaseHeld(f"OUTPUT {store.url!r} is being built by {current.describe(now)}; wait for that build to finish, or rerun after its lease expires")


@contextlib.contextmanager
def hold_lease(store: Store, ttl_s: float) -> Iterator[Lease]:
    """Hold OUTPUT's lease for the body of a ``with`` block; released however the block ends."""
    lease = acquire(store, ttl_s)
    try:
        yield lease
    finally:
        lease.release()
