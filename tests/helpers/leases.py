"""The OUTPUT lease as stored (the on-storage contract the lease tests pin) and a foreign lease to plant."""

from __future__ import annotations

import time

from shardkit.storage import Store

#: where a lease lives, and what it says (the on-storage contract these tests pin)
LEASE_DIR = "_shardkit/lease"


def write_foreign_lease(
    store: Store, owner: str, *, ttl_s: float, generation: int = 1, pid_scope: str = "build-vm pid:[4026531836]", beat_age_s: float = 0.0
) -> None:
    """Put a lease of another build into ``store``, as that build would have written it ``beat_age_s`` ago."""
    beat = time.time() - beat_age_s
    state = {"owner": owner, "generation": generation, "created": beat, "heartbeat": beat, "ttl_s": ttl_s, "expires": beat + ttl_s, "pid_scope": pid_scope}
    store.write_json(f"{LEASE_DIR}/{generation:012d}.json", state)


def lease_files(store: Store) -> list[str]:
    """Names of the lease files in ``store`` (not the staging file of one being written)."""
    return [name for name in store.listdir(LEASE_DIR) if name.endswith(".json")]
