"""Data that lies: labels outside the class list, malformed member names, unlisted samples."""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from pathlib import Path

import pytest
from factories import tar_bytes

from shardkit.errors import ConfigError
from shardkit.read.config import ReaderConfig
from shardkit.read.stream import ReadStats, ShardReadError, group_samples, labels_vector, tar_members

pytest.importorskip("tensorflow")

from shardkit.read.dataset import ShardReader

make_tar = tar_bytes


def sample_members(key: str, label: str = "alpha") -> list[tuple[str, bytes]]:
    return [(f"{key}.pcm16", b"\x01\x00" * 2400), (f"{key}.json", json.dumps({"labels": [label], "class": label}).encode())]


def copy_set(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_manifest(folder: Path, edit) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def keys_and_labels(reader: ShardReader) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.key, tuple(s.meta["labels"])) for _, s in reader.samples(0)]


# ----- labels outside the class list -------------------------------------------------------


def mixed_up(manifest: dict) -> None:
    """A manifest of another build: no gamma anywhere, though the shards hold gamma samples."""
    manifest["classes"] = ["alpha", "beta"]
    for split in manifest["splits"].values():
        split["classes"].pop("gamma", None)


def test_hand_edited_class_list_is_refused_before_reading(shard_sets, tmp_path: Path):
    folder = copy_set(shard_sets["pcm16"], tmp_path / "set")
    edit_manifest(folder, lambda m: m.update(classes=["alpha", "beta"]))  # gamma dropped from the list only
    with pytest.raises(ConfigError, match=r"contradicts itself: its splits hold samples of \['gamma'\]"):
        ShardReader(str(folder), ReaderConfig(training=False))


def test_label_outside_the_class_list_is_a_counted_warned_skip(shard_sets, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = copy_set(shard_sets["pcm16"], tmp_path / "set")
    gamma = json.loads((folder / "manifest.json").read_text())["splits"]["train"]["classes"]["gamma"]
    manifest = edit_manifest(folder, mixed_up)
    reader = ShardReader(str(folder), ReaderConfig(training=False))
    with caplog.at_level(logging.WARNING, logger="shardkit.read"):
        seen = keys_and_labels(reader)
    assert gamma > 0 and not any("gamma" in labels for _, labels in seen), "never a silent negative"
    assert len(seen) == manifest["splits"]["train"]["samples"] - gamma
    assert reader.stats.counts["samples_unknown_label"] == gamma
    assert any("'gamma'" in r.getMessage() and "class list" in r.getMessage() for r in caplog.records)


def test_label_outside_the_class_list_raises_under_the_raise_policy(shard_sets, tmp_path: Path):
    folder = copy_set(shard_sets["pcm16"], tmp_path / "set")
    edit_manifest(folder, mixed_up)
    reader = ShardReader(str(folder), ReaderConfig(training=False, on_error="raise"))
    with pytest.raises(ShardReadError, match=r"label 'gamma'.* not in the class list \['alpha', 'beta'\]"):
        keys_and_labels(reader)


def test_labels_vector_refuses_an_unknown_label():
    assert labels_vector({"labels": []}, {"a": 0}).tolist() == [0]
    with pytest.raises(ValueError, match="'unknown'"):
        labels_vector({"labels": ["unknown"]}, {"a": 0})


# ----- member names ---------------------------------------------------------------------------


BAD_NAMES = ["../up", "dir/x", "a/../../etc", "sp ace", "ü"]


def test_members_with_paths_or_odd_keys_are_never_samples():
    members = sample_members("k1") + [m for key in BAD_NAMES for m in sample_members(key)] + sample_members("k2")
    stats = ReadStats()
    samples = list(group_samples(tar_members(make_tar(members)), "s.tar", stats))
    assert [s.key for s in samples] == ["k1", "k2"]
    assert stats.counts["members_bad_name"] == 2 * len(BAD_NAMES)


def test_reader_yields_only_well_formed_keys(tmp_path: Path):
    shard = tmp_path / "s.tar"
    shard.write_bytes(make_tar(sample_members("../escape") + sample_members("good_0001") + sample_members("sub/dir")))
    reader = ShardReader([str(shard)], ReaderConfig(training=False, classes=("alpha",), codec="pcm16"))
    assert [key for key, _ in keys_and_labels(reader)] == ["good_0001"]
    assert reader.stats.counts["members_bad_name"] == 4


# ----- samples the manifest does not list -----------------------------------------------------


def test_samples_beyond_what_the_manifest_lists_are_not_read(shard_sets, tmp_path: Path):
    folder = copy_set(shard_sets["pcm16"], tmp_path / "set")
    manifest = json.loads((folder / "manifest.json").read_text())
    first = folder / manifest["splits"]["train"]["shards"][0]["name"]
    with tarfile.open(first) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    first.write_bytes(make_tar(members + sample_members("00000000000000ff_0000000000") + sample_members("00000000000000fe_0000000000")))
    reader = ShardReader(str(folder), ReaderConfig(training=False))
    keys = [key for key, _ in keys_and_labels(reader)]
    assert len(keys) == manifest["splits"]["train"]["samples"]
    assert not {"00000000000000ff_0000000000", "00000000000000fe_0000000000"} & set(keys)
    assert reader.stats.counts["samples_unlisted"] == 2
