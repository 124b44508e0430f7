"""Sample keys are stable, dot-free and unique per segment."""

from __future__ import annotations

from shardkit.ingest.extract import sample_key


def test_keys_are_stable_and_safe():
    key = sample_key("birds/2024/site A/rec.001.flac", 12.345)
    assert key == sample_key("birds/2024/site A/rec.001.flac", 12.345)
    assert "." not in key and "/" not in key and key.endswith("_0000012345")
    assert key != sample_key("birds/2024/site A/rec.001.flac", 12.346)
    assert key != sample_key("birds/2024/site B/rec.001.flac", 12.345)
