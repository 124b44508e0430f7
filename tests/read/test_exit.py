"""A plain script that abandons a reader mid-stream exits promptly and silently.

Each case runs a real script in a child process, as a user would, with TensorFlow's default
logging. The only stderr lines tolerated are the fixed lines TensorFlow itself prints at
import and when its generator op first runs (listed in `TF_STARTUP_LINES`); they appear
before any shardkit code runs and no library can silence them (some are printed before
absl logging is initialised, whatever ``TF_CPP_MIN_LOG_LEVEL`` says).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

#: TensorFlow's own import/start-up lines on a CPU machine (and a GPU one): nothing else may appear
TF_STARTUP_LINES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IE]\d{4} [\d:. ]+\d+ (port\.cc|cudart_stub\.cc|cpu_feature_guard\.cc|cuda_platform\.cc|cuda_executor\.cc|gpu_device\.cc|"
    r"generator_dataset_op\.cc:\d+\] Memory patch applied)"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
)
EXIT_LIMIT_S = 5.0

SCRIPT = """
import sys
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader

if sys.argv[2] == "stream":  # one pipeline over 5 epochs cut per epoch, as train reads it; left open mid-epoch
    from shardkit.read.epochs import EpochStream

    config = ReaderConfig(split="train", batch_size=4, epochs=5, with_position=True)
    it = iter(EpochStream(ShardReader(sys.argv[1], config).dataset()).epoch(0))
else:
    epochs = None if sys.argv[2] == "none" else int(sys.argv[2])
    it = iter(ShardReader(sys.argv[1], ReaderConfig(split="train", batch_size=4, epochs=epochs)).dataset())
for _ in range(3):
    next(it)
print("read 3 batches", flush=True)
"""


def unexpected_stderr(stderr: str) -> list[str]:
    """stderr lines other than TensorFlow's start-up lines."""
    return [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP_LINES.match(line)]


def test_startup_filter_keeps_everything_else():
    noise = [
        "I0000 00:00:1796289178.010322    8316 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
        "I0000 00:00:1796289183.209428    8316 generator_dataset_op.cc:213] Memory patch applied: M_TRIM_THRESHOLD=128 kb was set.",
    ]
    finalizing = "W0000 00:00:1796289037.365519    6250 generator_dataset_op.cc:113] Error occurred when finalizing GeneratorDataset iterator"
    assert unexpected_stderr("\n".join(noise)) == []
    assert unexpected_stderr("\n".join([*noise, finalizing, "Traceback (most recent call last):"])) == [finalizing, "Traceback (most recent call last):"]


@pytest.mark.slow
@pytest.mark.parametrize("epochs", ["none", "1", "stream"])
def test_script_abandoning_a_reader_exits_cleanly(shard_sets, tmp_path: Path, epochs: str):
    script = tmp_path / "read_three.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # TensorFlow's default logging, as a user has it
    child = subprocess.Popen([sys.executable, str(script), str(shard_sets["flac"]), epochs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        done = time.monotonic()
        assert line.strip() == "read 3 batches", child.stderr.read() if child.poll() is not None else "the script did not read 3 batches"
        try:
            stdout, stderr = child.communicate(timeout=EXIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the script did not exit within {EXIT_LIMIT_S} s of its last line (epochs={epochs})")
        exit_s = time.monotonic() - done
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, stderr
    assert exit_s < EXIT_LIMIT_S
    assert unexpected_stderr(stderr) == []


def test_release_drops_only_iterators_over_tracked_datasets():
    import tensorflow as tf

    from shardkit.read import lifecycle

    tracked = lifecycle.track_dataset(tf.data.Dataset.range(10))
    derived = iter(tracked.map(lambda x: x + 1).prefetch(2))  # built on a tracked dataset, as a user might
    other = iter(tf.data.Dataset.range(10))
    next(derived), next(other)
    assert lifecycle.release_iterators() >= 1
    assert derived._iterator_resource is None
    assert int(next(other)) == 1, "an unrelated iterator is left alone"


def test_release_survives_dead_weak_proxies_among_live_objects():
    """A weak proxy whose referent is gone raises ReferenceError on isinstance: the exit hook must not."""
    import weakref

    import tensorflow as tf  # noqa: F401 - release only looks when TensorFlow is loaded

    from shardkit.read import lifecycle

    class Referent:
        pass

    referent = Referent()
    proxies = [weakref.proxy(referent)]
    del referent
    with pytest.raises(ReferenceError):
        isinstance(proxies[0], int)
    assert lifecycle.release_iterators() >= 0


def test_producers_are_tracked_until_finished_and_stop_at_exit(monkeypatch: pytest.MonkeyPatch):
    import threading
    import weakref

    from shardkit.read import lifecycle

    monkeypatch.setattr(lifecycle, "_stopping", threading.Event())
    monkeypatch.setattr(lifecycle, "_producers", weakref.WeakSet())  # only this test's generators
    numbers = lifecycle.producer(lambda n: (i for i in lifecycle.until_stopped(range(n))))(5)
    assert lifecycle.live_producers() == 1, "an unstarted generator counts: TensorFlow finalises it too"
    assert next(numbers) == 0
    lifecycle._stopping.set()
    assert list(numbers) == [] and lifecycle.live_producers() == 0
