"""`distribute="mirrored"`: the same run under MirroredStrategy, on one and on two (logical CPU) replicas."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.children import child_env
from helpers.training import tiny_config

from shardkit.train.runner import train


def test_mirrored_strategy_trains_and_saves_a_plain_model(tiny_shards: Path, tmp_path: Path) -> None:
    result = train(str(tiny_shards), str(tmp_path), tiny_config(epochs=1, distribute="mirrored"))
    assert result.epochs_done == 1 and result.history[0]["steps"] >= 1
    import keras

    model = keras.saving.load_model(Path(result.artifacts["model"]))
    assert model.output_shape == (None, 3)


@pytest.mark.slow
def test_two_replicas_split_each_batch_and_train_like_one(tiny_shards: Path, tmp_path: Path) -> None:
    """Two logical CPU devices stand in for two GPUs; the global batch is split between them."""
    script = textwrap.dedent(
        f"""
        import json
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from shardkit.train import runner
        from helpers.training import tiny_config
        replicas = []
        def two_cpus(config):
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            replicas.append(strategy.num_replicas_in_sync)
            return strategy
        runner._strategy = two_cpus
        result = runner.train({str(tiny_shards)!r}, {str(tmp_path / "two")!r}, tiny_config(epochs=2, distribute="mirrored"))
        print(json.dumps({{"replicas": replicas, "history": result.history}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=child_env(TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == [2]
    single = train(str(tiny_shards), str(tmp_path / "one"), tiny_config(epochs=2))
    assert [row["steps"] for row in report["history"]] == [row["steps"] for row in single.history]
    # same data and initial weights; BatchNorm statistics are per replica (half batches of 4
    # here), so the losses differ from the single-replica run's but stay finite and close to it
    for row, one in zip(report["history"], single.history, strict=True):
        assert 0 < row["loss"] < 2 * one["loss"] and 0 <= row["val_roc_auc"] <= 1
