"""Codecs round-trip without wrap-around; keys are stable, dot-free and unique per segment."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.ingest.encode import CODECS, to_int16
from shardkit.ingest.extract import sample_key


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_codecs_round_trip(codec):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(24000) * 0.1).astype(np.float32)
    decoded = CODECS[codec].decode(CODECS[codec].encode(audio, 24000), 24000)
    assert decoded.dtype == np.float32 and decoded.shape == audio.shape
    np.testing.assert_allclose(decoded, audio, atol=1.0 / 32768 + 1e-7)


def test_int16_clips_instead_of_wrapping():
    loud = np.array([1.5, 1.0, -1.0, -3.0, 0.99999], dtype=np.float32)
    assert to_int16(loud).tolist() == [32767, 32767, -32768, -32768, 32767]


def test_keys_are_stable_and_safe():
    key = sample_key("birds/2024/site A/rec.001.flac", 12.345)
    assert key == sample_key("birds/2024/site A/rec.001.flac", 12.345)
    assert "." not in key and "/" not in key and key.endswith("_0000012345")
    assert key != sample_key("birds/2024/site A/rec.001.flac", 12.346)
    assert key != sample_key("birds/2024/site B/rec.001.flac", 12.345)
