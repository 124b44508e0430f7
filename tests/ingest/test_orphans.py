"""A build killed with SIGKILL leaves no worker process behind: every worker exits within 2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import tone_in_noise, write_audio
from helpers.events import committed_records, wait_for

#: the longest a worker may outlive its build process
ORPHAN_LIMIT_S = 2.0


def children(pid: int) -> set[int]:
    """Pids of the live processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_and_time_orphans(parent: subprocess.Popen, workers: set[int]) -> float:
    """SIGKILL ``parent`` alone; return how long its ``workers`` outlive it (capped at 10 s)."""
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    while any(alive(pid) for pid in workers) and time.monotonic() - killed < 10:
        time.sleep(0.02)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # do not leave them running after a failed test
        os.kill(pid, signal.SIGKILL)
    return time.monotonic() - killed if not left else float("inf")


if sys.platform != "linux":  # pragma: no cover - /proc
    pytestmark = pytest.mark.skip(reason="reads /proc")


def test_a_busy_pool_worker_exits_within_2_s_of_its_parents_death(tmp_path: Path):
    (tmp_path / "busy.py").write_text("import os, time\ndef busy(folder):\n    open(os.path.join(folder, str(os.getpid())), 'w').close()\n    time.sleep(60)\n")
    (tmp_path / "main.py").write_text(
        "import time\n"
        "from shardkit.ingest.executors import worker_pool\n"
        "from busy import busy\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(2) as pool:\n"
        f"        futures = [pool.submit(busy, {str(tmp_path)!r}) for _ in range(4)]\n"
        "        time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "main.py"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    )

    def busy_pids() -> set[int]:  # each busy worker writes a file named by its pid
        return {int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()}

    wait_for(lambda: len(busy_pids()) >= 2, "both workers were busy", running=lambda: parent.poll() is None, timeout_s=60)
    workers = busy_pids()
    assert len(workers) == 2 and workers <= children(parent.pid)
    assert kill_and_time_orphans(parent, children(parent.pid)) <= ORPHAN_LIMIT_S


@pytest.mark.slow
def test_a_killed_cli_build_leaves_no_worker_running(tmp_path: Path):
    corpus = tmp_path / "corpus"
    for i in range(16):
        write_audio(corpus / f"class{i % 2}" / f"rec{i:02d}.wav", tone_in_noise(240, 48000, calls=((30, 0.5, 2500),), seed=i), 48000)
    out = tmp_path / "out"
    parent = subprocess.Popen(
        [sys.executable, "-m", "shardkit", "build", str(corpus), str(out), "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def running() -> bool:
        return parent.poll() is None

    # two workers and the resource tracker
    wait_for(lambda: len(children(parent.pid)) >= 3, "its workers started (it could not be killed)", running=running, timeout_s=60)
    # a first shard is committed, so the workers are busy with the next tasks (about 8 tasks for 2 workers)
    wait_for(lambda: committed_records(out), "its first commit record (it could not be killed)", running=running, timeout_s=60)
    assert parent.poll() is None, "the build ended before it could be killed"
    assert not (out / "manifest.json").exists()
    assert kill_and_time_orphans(parent, children(parent.pid)) <= ORPHAN_LIMIT_S
