"""`TrainConfig` is plain data: it builds and round-trips without TensorFlow, and refuses options it would ignore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from shardkit.errors import ConfigError
from shardkit.train.config import TrainConfig, config_from_options, with_options

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


# ----- options that would be ignored ---------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mixup_alpha": 0.5}, "train mixup_alpha needs mixup_prob > 0 (it is ignored otherwise); got no mixup_prob"),
        ({"mixup_sources": 2}, "train mixup_sources needs mixup_prob > 0 (it is ignored otherwise); got no mixup_prob"),
        ({"freq_masks": 3}, "train freq_masks needs spec_augment=True (it is ignored otherwise); got no spec_augment"),
        ({"freq_mask_max": 8}, "train freq_mask_max needs spec_augment=True (it is ignored otherwise); got no spec_augment"),
        ({"time_masks": 1}, "train time_masks needs spec_augment=True (it is ignored otherwise); got no spec_augment"),
        ({"time_mask_max": 8}, "train time_mask_max needs spec_augment=True (it is ignored otherwise); got no spec_augment"),
        ({"momentum": 0.8}, "train momentum needs optimizer='sgd' (it is ignored otherwise); got optimizer='adam'"),
        ({"momentum": 0.8, "optimizer": "adamw"}, "train momentum needs optimizer='sgd' (it is ignored otherwise); got optimizer='adamw'"),
        ({"weight_decay": 0.01}, "train weight_decay needs optimizer='adamw' (it is ignored otherwise); got optimizer='adam'"),
        ({"focal_gamma": 3.0}, "train focal_gamma needs loss='focal' (it is ignored otherwise); got loss='bce'"),
        ({"se_reduction": 8}, "train se_reduction needs se=True (it is ignored otherwise); got se=False"),
        ({"expansion": 6}, "train expansion needs inverted_residual=True (it is ignored otherwise); got inverted_residual=False"),
        ({"log_floor_db": 40.0}, "train log_floor_db needs compression='log' (it is ignored otherwise); got compression='none'"),
        ({"log_floor_db": 40.0, "compression": "sqrt"}, "train log_floor_db needs compression='log' (it is ignored otherwise); got compression='sqrt'"),
    ],
)
def test_an_option_that_would_be_ignored_is_refused_naming_what_it_needs(options: dict, message: str):
    with pytest.raises(ConfigError) as info:
        config_from_options(options)
    assert str(info.value) == message


def test_options_with_what_they_need_are_accepted():
    config = config_from_options(
        {
            "mixup_prob": 0.2,
            "mixup_alpha": 0.5,
            "mixup_sources": 2,
            "spec_augment": True,
            "freq_masks": 1,
            "freq_mask_max": 4,
            "time_masks": 1,
            "time_mask_max": 4,
            "optimizer": "sgd",
            "momentum": 0.8,
            "loss": "focal",
            "focal_gamma": 3.0,
            "se": True,
            "se_reduction": 8,
            "inverted_residual": True,
            "expansion": 6,
            "frontend": "mfcc",
            "n_mels": 32,
            "n_mfcc": 13,
        }
    )
    assert config.momentum == 0.8 and config.mixup.alpha == 0.5 and config.spec_augment.time_mask_max == 4 and config.frontend.n_mfcc == 13
    assert config_from_options({"optimizer": "adamw", "weight_decay": 0.01}).weight_decay == 0.01
    assert config_from_options({"compression": "log", "log_floor_db": 40.0}).frontend.log_floor_db == 40.0
    # an explicit switch-off keeps the stage's settings quiet (a file can turn mixup off and back on)
    assert config_from_options({"mixup_prob": 0, "mixup_alpha": 0.5}).mixup is None
    assert config_from_options({"spec_augment": False, "freq_masks": 3}).spec_augment is None


def test_the_tuner_gets_the_same_refusal():
    with pytest.raises(ConfigError, match=r"^train momentum needs optimizer='sgd' .*; got optimizer='adam'$"):
        with_options(TrainConfig(), {"momentum": 0.5})
    assert with_options(TrainConfig(), {"optimizer": "sgd", "momentum": 0.5}).momentum == 0.5
