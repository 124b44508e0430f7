"""The tf.data reader: determinism, epochs, resume, host splits, eval order, damage, S3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig, reference_frontend
from shardkit.errors import ConfigError
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ReaderPosition, ShardReader

SMALL = FrontendConfig(name="mel", n_frames=64)


def batches(source, **kwargs) -> list[tuple]:
    config = ReaderConfig(**{"batch_size": 4, "shuffle_buffer": 16, "frontend": SMALL, "epochs": 2, "with_position": True, **kwargs})
    return [tuple(t.numpy() for t in b) for b in ShardReader(str(source), config).dataset()]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(all(np.array_equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("codec", ["flac", "pcm16"])
def test_same_seed_same_batches_and_epochs_differ(shard_sets, codec):
    first = batches(shard_sets[codec])
    assert same(first, batches(shard_sets[codec]))
    assert not same(first, batches(shard_sets[codec], seed=1))
    epoch0 = [b for b in first if b[2][0] == 0]
    epoch1 = [b for b in first if b[2][0] == 1]
    assert len(epoch0) == len(epoch1) > 2
    assert not np.array_equal(np.concatenate([b[1] for b in epoch0]), np.concatenate([b[1] for b in epoch1])), "reshuffled per epoch"
    x, y, _ = first[0]
    assert x.shape == (4, 64, 64, 1) and y.shape == (4, 3) and x.dtype == np.float32


def test_resume_equals_uninterrupted(shard_sets):
    whole = batches(shard_sets["flac"], epochs=3)
    for cut in (1, 3, len(whole) // 2, len(whole) - 2):
        position = ReaderPosition.from_batch(whole[cut - 1][2])
        config = ReaderConfig(batch_size=4, shuffle_buffer=16, frontend=SMALL, epochs=3 - position.epoch, with_position=True)
        rest = [tuple(t.numpy() for t in b) for b in ShardReader(str(shard_sets["flac"]), config).dataset(position)]
        assert same(rest, whole[cut:]), f"resumed after batch {cut}"


def test_host_splits_are_disjoint_and_cover_every_shard(shard_sets):
    source = str(shard_sets["pcm16"])
    everything = ShardReader(source, ReaderConfig(training=False))
    all_keys = {s.key for _, s in everything.samples(0)}
    seen, shards = [], []
    for index in range(3):
        reader = ShardReader(source, ReaderConfig(training=False, num_shards=3, shard_index=index))
        shards.append(set(reader.urls))
        seen.append({s.key for _, s in reader.samples(0)})
    assert set().union(*shards) == set(everything.urls) and sum(map(len, shards)) == len(everything.urls)
    assert set().union(*seen) == all_keys and sum(map(len, seen)) == len(all_keys)


def test_eval_mode_is_ordered_centre_cropped_and_matches_the_reference(shard_sets):
    source = shard_sets["pcm16"]
    config = ReaderConfig(split="val", training=False, batch_size=3, frontend=SMALL, placement="deferred")
    reader = ShardReader(str(source), config)
    waveforms = np.concatenate([x for x, _ in reader.dataset().as_numpy_iterator()])
    manifest = json.loads((source / "manifest.json").read_text())
    assert len(waveforms) == manifest["splits"]["val"]["samples"], "eval keeps the last partial batch"
    # the shards hold 3.0 s chunks: centre crop is the identity, and the frontend matches the reference
    keyed = [s for _, s in reader.samples(0)]
    stored = np.frombuffer(keyed[0].audio, "<i2").astype(np.float32) / 32768
    np.testing.assert_array_equal(waveforms[0], stored)
    features = ShardReader(str(source), ReaderConfig(split="val", training=False, batch_size=3, frontend=SMALL)).dataset()
    first = next(iter(features))[0].numpy()[0, ..., 0]
    assert np.max(np.abs(first - reference_frontend(stored, SMALL))) < 1e-3


def test_random_crop_and_pad_to_the_model_chunk(shard_sets):
    short = FrontendConfig(name="raw", chunk_s=1.0)
    longer = FrontendConfig(name="raw", chunk_s=4.0)
    (x_short, _, _), *_ = batches(shard_sets["pcm16"], frontend=short)
    (x_long, _, _), *_ = batches(shard_sets["pcm16"], frontend=longer)
    assert x_short.shape == (4, 24000) and x_long.shape == (4, 96000)
    for row in x_long:
        nonzero = np.flatnonzero(row)
        padding = nonzero[0] + (len(row) - 1 - nonzero[-1])
        assert 24000 <= padding <= 24010, "3 s of audio padded to 4 s: 1 s of zeros around it"
    assert len({int(np.flatnonzero(row)[0]) for row in x_long}) > 1, "random placement in training"
    eval_long = ShardReader(str(shard_sets["pcm16"]), ReaderConfig(training=False, batch_size=2, frontend=longer)).dataset()
    x = next(iter(eval_long))[0].numpy()
    assert np.all(x[:, :12000] == 0) and np.all(x[:, -12000:] == 0), "centre padding in eval"


def test_damaged_shard_is_skipped_and_counted(shard_sets, tmp_path: Path):
    copy = tmp_path / "damaged"
    shutil.copytree(shard_sets["flac"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    victim = copy / manifest["splits"]["train"]["shards"][1]["name"]
    victim.write_bytes(victim.read_bytes()[:3000])
    reader = ShardReader(str(copy), ReaderConfig(batch_size=2, frontend=SMALL, training=False))
    n = sum(len(y) for _, y in reader.dataset().as_numpy_iterator())
    assert 0 < n < manifest["splits"]["train"]["samples"]
    assert reader.stats.counts["shards_failed"] == 1
    strict = ShardReader(str(copy), ReaderConfig(batch_size=2, frontend=SMALL, training=False, on_error="raise"))
    with pytest.raises(Exception, match="damaged or unreadable"):
        list(strict.dataset().as_numpy_iterator())


def test_corrupt_flac_member_is_skipped(shard_sets, tmp_path: Path):
    import io
    import tarfile

    source = next(iter(sorted(shard_sets["flac"].glob("train-*.tar"))))
    broken = tmp_path / "broken.tar"
    with tarfile.open(source) as src, tarfile.open(broken, "w", format=tarfile.USTAR_FORMAT) as dst:
        for i, member in enumerate(src):
            data = src.extractfile(member).read()
            if i == 0:  # the first sample's FLAC member becomes garbage
                data = b"fLaC" + b"\x00" * 200
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with tarfile.open(source) as src:
        total = sum(m.name.endswith(".json") for m in src)
    reader = ShardReader([str(broken)], ReaderConfig(training=False, batch_size=1, frontend=SMALL, classes=("alpha", "beta", "gamma"), codec="flac"))
    assert sum(1 for _ in reader.dataset()) == total - 1
    assert reader.stats.counts["samples_undecodable"] == 1


def test_balance_caps_each_class(shard_sets):
    config = ReaderConfig(balance="cap", balance_cap=3, frontend=SMALL, shuffle_buffer=0)
    reader = ShardReader(str(shard_sets["pcm16"]), config)
    manifest_counts = json.loads((shard_sets["pcm16"] / "manifest.json").read_text())["splits"]["train"]["classes"]
    epochs = 40
    counts = dict.fromkeys(manifest_counts, 0)
    for epoch in range(epochs):
        for _, sample in reader.samples(epoch):
            counts[sample.meta["class"]] += 1
    for name, total in manifest_counts.items():
        expected = min(total, 3)
        assert abs(counts[name] / epochs - expected) <= 0.35 * expected, (name, counts[name] / epochs, expected)


def test_reading_from_s3_equals_local(shard_sets, s3_env):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.put(str(shard_sets["pcm16"]) + "/", f"{s3_env}/shards/", recursive=True)
    local = batches(shard_sets["pcm16"])
    remote = batches(f"s3://{s3_env}/shards")
    assert same(local, remote)


def test_bad_reader_settings_fail_early(shard_sets):
    with pytest.raises(ConfigError, match=r"reader batching must be one of \['fixed', 'bucketed'\]; got 'random'"):
        ReaderConfig(batching="random")
    with pytest.raises(ConfigError, match="split 'test' is not in the manifest"):
        ShardReader(str(shard_sets["pcm16"]), ReaderConfig(split="test"))
    with pytest.raises(ConfigError, match="differs from the shards' 24000 Hz"):
        ShardReader(str(shard_sets["pcm16"]), ReaderConfig(frontend=FrontendConfig(sample_rate_hz=16000)))
    with pytest.raises(ConfigError, match="needs a class list"):
        ShardReader([str(next(shard_sets["pcm16"].glob("train-*.tar")))], ReaderConfig())
