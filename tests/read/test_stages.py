"""The reader's block stages on plain lists: numbering, groups, codec filter, decoding, dense and encoded blocks."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.read.cache import SplitCache
from shardkit.read.stages import (
    MemberDecoder,
    decoded_rows,
    dense_blocks,
    encoded_blocks,
    groups,
    negatives,
    numbered,
    tf_decodable,
    with_extension,
)
from shardkit.read.stream import RawSample, ReadStats

CLASSES = {"a": 0, "b": 1}


def sample(key: str, audio: bytes = b"\x01\x00" * 4, extension: str = "pcm16", labels: tuple[str, ...] = ("a",)) -> RawSample:
    return RawSample(key, extension, audio, {"labels": list(labels)}, "shard-0")


def pcm(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def test_numbered_skips_and_keeps_indices():
    assert list(numbered(["x", "y", "z"], skip=1)) == [(1, "y"), (2, "z")]


def test_groups_are_consecutive_and_the_last_is_short():
    assert list(groups(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(groups([], 3)) == []


def test_other_codecs_are_counted_not_kept():
    stats = ReadStats()
    kept = list(with_extension([sample("k1"), sample("k2", extension="flac"), sample("k3")], "pcm16", stats))
    assert [s.key for s in kept] == ["k1", "k3"] and stats.counts["samples_wrong_codec"] == 1


def test_negatives_are_unlabelled_samples_of_the_codec():
    items = [sample("pos"), sample("neg", labels=()), sample("neg-flac", extension="flac", labels=())]
    assert [s.key for s in negatives(items, "pcm16")] == ["neg"]


def test_odd_length_pcm16_is_dropped_before_tf_and_counted():
    stats = ReadStats()
    items = [(0, sample("even")), (1, sample("odd", audio=b"\x01\x00\x02")), (2, sample("flac-odd", audio=b"abc", extension="flac"))]
    assert [i for i, _ in tf_decodable(items[:2], "pcm16", stats)] == [0]
    assert stats.counts["samples_undecodable"] == 1
    assert [i for i, _ in tf_decodable(items[2:], "flac", ReadStats())] == [2]


def test_decoded_rows_leave_out_undecodable_members_and_empty_groups():
    stats = ReadStats()
    decode = MemberDecoder("pcm16", 8000, stats)
    batch = [[(0, sample("ok", pcm(1, 2))), (1, sample("bad", b""))], [(2, sample("bad2", b"\x01"))]]
    rows = list(decoded_rows(batch, decode))
    assert len(rows) == 1 and [index for index, _, _ in rows[0]] == [0]
    np.testing.assert_array_equal(rows[0][0][2], [1, 2])
    assert stats.counts["samples_undecodable"] == 2


def test_dense_blocks_centre_in_evaluation_and_seed_crops_by_index_in_training():
    rows = [[(4, sample("long", labels=("b",)), np.arange(1, 9, dtype=np.int16)), (5, sample("short"), np.array([7, 7], dtype=np.int16))]]
    epochs, indices, audio, labels = next(dense_blocks(rows, epoch=3, chunk_samples=4, class_index=CLASSES))
    np.testing.assert_array_equal(epochs, [3, 3])
    np.testing.assert_array_equal(indices, [4, 5])
    np.testing.assert_array_equal(audio, [[3, 4, 5, 6], [0, 7, 7, 0]])
    np.testing.assert_array_equal(labels, [[0, 1], [1, 0]])
    assert audio.dtype == np.int16 and labels.dtype == np.float32
    first = next(dense_blocks(rows, 3, 4, CLASSES, crop_seed=(0, 1, 3)))[2]
    np.testing.assert_array_equal(first, next(dense_blocks(rows, 3, 4, CLASSES, crop_seed=(0, 1, 3)))[2])  # same seed, same crops
    crops = {tuple(next(dense_blocks(rows, 3, 4, CLASSES, crop_seed=(seed, 1, 3)))[2][0]) for seed in range(20)}
    assert len(crops) > 1 and all(window in {(1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 6), (4, 5, 6, 7), (5, 6, 7, 8)} for window in crops)


def test_encoded_blocks_carry_the_bytes_and_label_vectors():
    epochs, indices, audio, labels = next(encoded_blocks([[(0, sample("x", b"ab")), (1, sample("y", b"cdef", labels=("a", "b")))]], 2, CLASSES))
    assert list(epochs) == [2, 2] and list(indices) == [0, 1] and list(audio) == [b"ab", b"cdef"]
    np.testing.assert_array_equal(labels, [[1, 0], [1, 1]])


@pytest.mark.parametrize("codec", ["flac", "wav"])
def test_member_decoder_decodes_a_group_on_threads_in_order(codec: str):
    import io

    import soundfile as sf

    def encoded(values: list[int]) -> bytes:
        buffer = io.BytesIO()
        sf.write(buffer, np.array(values, dtype=np.int16), 8000, format=codec.upper(), subtype="PCM_16")
        return buffer.getvalue()

    decode = MemberDecoder(codec, 8000, ReadStats())
    out = decode([sample(f"k{i}", data, codec) for i, data in enumerate([encoded([1, 2, 3]), b"garbage", encoded([4, 5])])])
    np.testing.assert_array_equal(out[0], [1, 2, 3])
    assert out[1] is None and decode.stats.counts["samples_undecodable"] == 1
    np.testing.assert_array_equal(out[2], [4, 5])


def test_member_decoder_with_a_cache_decodes_each_member_once_and_counts_failures_every_read():
    stats, cache = ReadStats(), SplitCache()
    decode = MemberDecoder("pcm16", 8000, stats, cache)
    group = [sample("ok", pcm(1, 2)), sample("bad", b"\x01"), sample("ok", pcm(9, 9), labels=()), RawSample("ok", "pcm16", pcm(3), {}, "shard-1")]
    first = decode(group)
    np.testing.assert_array_equal(first[0], [1, 2])
    np.testing.assert_array_equal(first[2], [1, 2])  # a (shard, key) seen before is served from the cache
    np.testing.assert_array_equal(first[3], [3])  # the same key in another shard is another member
    again = decode(group)
    assert cache.decodes == 3 and all(a is b for a, b in zip(first, again, strict=True))
    assert again[1] is None and stats.counts["samples_undecodable"] == 2, "the kept failure counts on every read, as without the cache"
