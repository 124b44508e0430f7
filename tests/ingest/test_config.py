"""BuildConfig validation: every bad value is refused with a message naming it."""

from __future__ import annotations

import pytest

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate_hz": 0}, r"sample_rate_hz must be an integer in \[8000, 192000\]; got 0"),
        ({"chunk_s": -3.0}, r"chunk_s must be .*; got -3.0"),
        ({"chunk_s": float("inf")}, r"chunk_s must be .*; got inf"),
        ({"max_chunks_per_file": 0}, r"max_chunks_per_file must be an integer >= 1; got 0"),
        ({"min_segment_s": 2.0, "max_segment_s": 1.0}, r"max_segment_s must be .*>= min_segment_s \(2.0\); got 1.0"),
        ({"val_fraction": 1.5}, r"val_fraction must be a fraction in \[0, 1\); got 1.5"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, r"val_fraction \+ test_fraction must be a sum below 1"),
        ({"codec": "mp3"}, r"codec must be one of \['flac', 'pcm16', 'wav'\]; got 'mp3'"),
        ({"shard_max_samples": 0}, r"shard_max_samples must be an integer >= 1; got 0"),
        ({"workers": -1}, r"workers must be an integer in \[0, 1024\]; got -1"),
    ],
)
def test_bad_values_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**kwargs)


def test_round_trip_and_content_settings():
    config = BuildConfig(workers=3, codec="pcm16", variable_length=True)
    assert BuildConfig.from_dict(config.to_dict()) == config
    content = config.content_settings()
    assert "workers" not in content and "shard_max_samples" not in content
    assert content["codec"] == "pcm16" and content["salience"]["threshold_db"] == 6.0
    with pytest.raises(ConfigError, match=r"unknown build settings \['colour'\]"):
        BuildConfig.from_dict({"colour": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_segment_s": 2.0}, "min_segment_s needs variable_length=True (it is ignored otherwise); got variable_length=False"),
        ({"max_segment_s": 5.0}, "max_segment_s needs variable_length=True (it is ignored otherwise); got variable_length=False"),
        ({"variable_length": True, "chunk_s": 2.0}, "chunk_s needs variable_length=False (it is ignored otherwise); got variable_length=True"),
    ],
)
def test_a_setting_of_the_other_segment_mode_is_refused(kwargs, message):
    with pytest.raises(ConfigError) as info:
        BuildConfig(**kwargs)
    assert str(info.value) == message


def test_segment_settings_of_the_mode_in_use_are_accepted():
    assert BuildConfig(variable_length=True, min_segment_s=2.0, max_segment_s=5.0).longest_segment_s == 5.0
    assert BuildConfig(chunk_s=2.0).longest_segment_s == 2.0
    assert BuildConfig(min_segment_s=1.0, max_segment_s=10.0) == BuildConfig()  # the defaults are not "set"
