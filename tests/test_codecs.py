"""Codecs round-trip without wrap-around."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.codecs import CODECS, to_int16


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
