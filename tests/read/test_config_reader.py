"""`ReaderConfig` / `BucketConfig`: bad values and settings that would be ignored are refused, naming them."""

from __future__ import annotations

import pytest

from shardkit.errors import ConfigError
from shardkit.read.config import BucketConfig, ReaderConfig


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "reader batch_size must be an integer >= 1; got 0"),
        ({"epochs": 0}, "reader epochs must be None (repeat) or an integer >= 1; got 0"),
        ({"balance_cap": 0, "balance": "cap"}, "reader balance_cap must be None or an integer >= 1; got 0"),
        ({"num_shards": 3, "shard_index": 3}, "reader shard_index must be in [0, num_shards=3); got 3"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ReaderConfig(**kwargs)
    assert str(info.value) == message


def test_bad_bucket_values_are_refused():
    with pytest.raises(ConfigError) as info:
        BucketConfig(max_padding_ratio=1.0)
    assert str(info.value) == "reader bucket.max_padding_ratio must be a ratio in (0, 1); got 1.0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"bucket": BucketConfig(max_buckets=4)},
            "reader bucket needs batching='bucketed' (it is ignored otherwise); got batching='fixed'",
        ),
        ({"balance_cap": 10}, "reader balance_cap needs balance='cap' (it is ignored otherwise); got balance='none'"),
    ],
)
def test_settings_that_would_be_ignored_are_refused(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ReaderConfig(**kwargs)
    assert str(info.value) == message


def test_the_same_settings_with_what_they_need_are_accepted():
    assert ReaderConfig(batching="bucketed", bucket=BucketConfig(max_buckets=4)).bucket.max_buckets == 4
    assert ReaderConfig(balance="cap", balance_cap=10).balance_cap == 10
