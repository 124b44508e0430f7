"""Decoding members to int16 and fitting them to the model's chunk length."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.codecs import CODECS
from shardkit.read.chunks import decode_int16, fit_into


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_decode_int16_round_trip(codec):
    audio = (np.random.default_rng(0).standard_normal(1000) * 0.1).astype(np.float32)
    pcm = decode_int16(CODECS[codec].encode(audio, 16000), codec, 16000)
    assert pcm.dtype == np.int16 and np.max(np.abs(pcm / 32768 - audio)) <= 1 / 32768


@pytest.mark.parametrize("data, codec", [(b"", "pcm16"), (b"\x00\x01\x02", "pcm16"), (b"not flac at all", "flac")])
def test_bad_members_raise(data, codec):
    with pytest.raises(ValueError):
        decode_int16(data, codec, 16000)


def test_rate_mismatch_is_refused():
    data = CODECS["wav"].encode(np.zeros(100, np.float32), 8000)
    with pytest.raises(ValueError, match="expected mono wav at 16000 Hz"):
        decode_int16(data, "wav", 16000)


def test_fit_centre_and_random():
    samples = np.arange(1, 11, dtype=np.int16)
    row = np.zeros(6, np.int16)
    assert fit_into(row, samples, None) == 6 and row.tolist() == [3, 4, 5, 6, 7, 8]
    row = np.zeros(14, np.int16)
    assert fit_into(row, samples, None) == 10 and row.tolist() == [0, 0, *range(1, 11), 0, 0]
    starts = set()
    for seed in range(50):
        row = np.zeros(6, np.int16)
        fit_into(row, samples, np.random.default_rng(seed))
        assert np.all(np.diff(row) == 1), "a contiguous crop"
        starts.add(int(row[0]))
    assert starts == set(range(1, 6)), "every crop offset is reachable"
    exact = np.zeros(10, np.int16)
    assert fit_into(exact, samples, np.random.default_rng(0)) == 10 and np.array_equal(exact, samples)
