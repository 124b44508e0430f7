"""Configs are plain data: building and round-tripping them never imports TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys

    from shardkit.augment.config import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
    from shardkit.train.config import TrainConfig, config_from_options

    config = config_from_options({"name": "m", "mixup_prob": 0.3, "mixup_alpha": 0.5, "spec_augment": True, "freq_masks": 1, "augment": True})
    assert config.mixup == MixupConfig(prob=0.3, alpha=0.5) and config.spec_augment == SpecAugmentConfig(freq_masks=1)
    assert config.augment == WaveAugmentConfig()
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    print(json.dumps({"tensorflow": sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.") or m == "keras")}))
    """
)


def test_train_config_builds_and_round_trips_without_tensorflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"tensorflow": []}
