"""The shared config checks: messages, predicates, and every config's dict round trip."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from shardkit.checks import check, check_needs, config_from_dict, ignored_unless, integer, number, optional
from shardkit.errors import ConfigError


def test_check_names_the_setting_the_rule_and_the_value():
    check("stage", [("a", 1, integer(0), "an integer >= 0")])
    with pytest.raises(ConfigError) as info:
        check("stage", [("a", 1, integer(0), "an integer >= 0"), ("b", -1.5, number(0), "a number >= 0"), ("c", "x", integer(), "never reached")])
    assert str(info.value) == "stage b must be a number >= 0; got -1.5"


@pytest.mark.parametrize("value", ["3", True, float("nan"), None, [1]])
def test_a_wrong_type_fails_the_rule_instead_of_raising_type_error(value):
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 1; got "):
        check("", [("n", value, integer(1), "an integer >= 1")])
    with pytest.raises(ConfigError, match=r"^x must be a number; got "):
        check("", [("x", value, lambda v: v > 0 and number()(v), "a number")])


def test_optional_and_open_ends():
    assert optional(integer(1))(None) and not optional(integer(1))(0)
    assert number(0, 1, open_high=True)(0) and not number(0, 1, open_high=True)(1)
    assert not number(0, open_low=True)(0)


def test_check_needs_and_ignored_unless():
    rows = ignored_unless(["b", "a", "z"], {"a": (True, "x", "y"), "b": (False, "mode='m'", "mode='n'")})
    assert [row[0] for row in rows] == ["a", "b"]
    with pytest.raises(ConfigError) as info:
        check_needs("stage", rows)
    assert str(info.value) == "stage b needs mode='m' (it is ignored otherwise); got mode='n'"


@dataclass(frozen=True)
class Inner:
    pair: tuple[int, int] = (1, 2)


@dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    names: tuple[str, ...] = ()


def test_config_from_dict_rebuilds_nested_configs_and_tuples():
    data = json.loads(json.dumps({"inner": {"pair": [3, 4]}, "names": ["a"]}))
    assert config_from_dict(Outer, data, "outer config", {"inner": Inner}) == Outer(Inner((3, 4)), ("a",))
    with pytest.raises(ConfigError) as info:
        config_from_dict(Outer, {"inner": {"pairs": 1}}, "outer config", {"inner": Inner})
    assert str(info.value) == "outer config inner has unknown settings ['pairs']; allowed: ['pair']"


def _every_config():
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.augment.config import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
    from shardkit.export.config import CalibrationConfig, ConvertConfig, QATConfig
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.salience import SalienceConfig
    from shardkit.model.config import ModelConfig
    from shardkit.pipeline.config import PipelineConfig
    from shardkit.read.config import BucketConfig, ReaderConfig
    from shardkit.train.config import TrainConfig

    return [
        BuildConfig(workers=2, codec="pcm16", variable_length=True, max_segment_s=5.0, salience=SalienceConfig(threshold_db=4.0)),
        SalienceConfig(context_s=0.5),
        ReaderConfig(batching="bucketed", bucket=BucketConfig(max_buckets=4), classes=("a", "b"), mixup=MixupConfig(prob=0.2), balance="cap", balance_cap=3),
        BucketConfig(seconds_per_batch=30.0),
        FrontendConfig(name="mfcc", n_mels=32, n_mfcc=13),
        ModelConfig(alpha=0.5, se=True),
        TrainConfig(augment=WaveAugmentConfig(noise_colours=("pink",)), spec_augment=SpecAugmentConfig(time_masks=1)),
        WaveAugmentConfig(gain_db=(-1.0, 1.0)),
        MixupConfig(alpha=0.3),
        SpecAugmentConfig(mask_value=0.5),
        CalibrationConfig(samples=10),
        QATConfig(epochs=1, calibration=CalibrationConfig(split="val")),
        ConvertConfig(gate_samples=7, calibration=CalibrationConfig(seed=3)),
        PipelineConfig(name="n", input="in", work="w", stages={"train": {"epochs": 2}}, source="p.toml"),
    ]


@pytest.mark.parametrize("config", _every_config(), ids=lambda c: type(c).__name__)
def test_every_config_round_trips_through_json(config):
    restored = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    with pytest.raises(ConfigError, match=r"unknown .*\['bogus'\]"):
        type(config).from_dict({**config.to_dict(), "bogus": 1})
