"""Teacher data in the shards (format shardkit/2): soft labels and masks from the metadata, both manifest
formats, embedding members, and stock webdataset reading such shards. No TensorFlow."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from factories import tar_bytes
from helpers.teacher import add_teacher, agreeing

import shardkit
from shardkit.errors import ConfigError
from shardkit.manifest import read_manifest
from shardkit.read.stages import label_columns
from shardkit.read.stream import RawSample, ReadStats, group_samples, tar_members, teacher_vector
from shardkit.read.verify import verify_shards

INDEX = {"alpha": 0, "beta": 1, "gamma": 2}


def meta(probs: dict | None, labels: tuple[str, ...] = ("alpha",)) -> dict:
    data = {"labels": list(labels), "class": labels[0] if labels else "noise"}
    if probs is not None:
        data["teacher"] = {"name": "t", "probs": probs, "top": [], "max_p": 0.9, "flag": None}
    return data


@pytest.fixture(scope="module")
def teacher_shards(shard_sets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pcm16 reader shards with an agreeing teacher that cannot map gamma, and a 16-d embedding per sample."""
    return add_teacher(shard_sets["pcm16"], tmp_path_factory.mktemp("teacher") / "shards", agreeing(unmapped=("gamma",)), embedding_size=16)


def test_numbers_are_soft_labels_nulls_and_missing_classes_are_masked_out() -> None:
    soft, mask = teacher_vector(meta({"alpha": 0.83, "beta": None, "delta": 0.5}), INDEX)
    assert soft.dtype == mask.dtype == np.float32
    np.testing.assert_array_equal(soft, np.float32([0.83, 0.0, 0.0]))
    np.testing.assert_array_equal(mask, [1.0, 0.0, 0.0])  # beta null, gamma missing; delta is not a project class
    soft, mask = teacher_vector(meta({"alpha": 0, "beta": 1, "gamma": 0.25}), INDEX)
    np.testing.assert_array_equal(soft, np.float32([0.0, 1.0, 0.25]))
    np.testing.assert_array_equal(mask, [1.0, 1.0, 1.0])


def test_a_sample_without_teacher_block_is_masked_out_entirely() -> None:
    for data in (meta(None), {**meta(None), "teacher": None}):
        soft, mask = teacher_vector(data, INDEX)
        assert not soft.any() and not mask.any()


@pytest.mark.parametrize(
    ("teacher", "message"),
    [
        ({"probs": {"alpha": 1.5}}, "teacher probability of class 'alpha' must be a number in [0, 1] or null; got 1.5"),
        ({"probs": {"beta": -0.1}}, "class 'beta' must be a number in [0, 1] or null; got -0.1"),
        ({"probs": {"alpha": "0.3"}}, "got '0.3'"),
        ({"probs": {"alpha": True}}, "got True"),
        ({"probs": {"alpha": math.nan}}, "got nan"),
        ({"probs": [0.1, 0.2]}, "must be an object with a 'probs' object"),
        ("birdnet", "must be an object with a 'probs' object; got 'birdnet'"),
    ],
)
def test_a_malformed_teacher_block_is_refused_naming_the_value(teacher, message: str) -> None:
    with pytest.raises(ValueError, match="teacher") as caught:
        teacher_vector({"labels": [], "teacher": teacher}, INDEX)
    assert message in str(caught.value)


def test_label_columns_add_soft_labels_and_masks_only_when_asked() -> None:
    samples = [RawSample("a", "pcm16", b"", meta({"alpha": 0.7, "beta": 0.2, "gamma": None}), "s"), RawSample("b", "pcm16", b"", meta(None, ()), "s")]
    (labels,) = label_columns(samples, INDEX)
    np.testing.assert_array_equal(labels, [[1, 0, 0], [0, 0, 0]])
    labels, soft, mask = label_columns(samples, INDEX, soft_labels=True)
    np.testing.assert_array_equal(soft, np.float32([[0.7, 0.2, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_array_equal(mask, [[1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("version", ["shardkit/1", "shardkit/2"])
def test_both_manifest_formats_read(tmp_path: Path, version: str) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": version, "classes": ["a"]}))
    assert read_manifest(str(tmp_path))["format"] == version
    assert version in shardkit.READABLE_FORMATS


def test_another_manifest_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "shardkit/3", "classes": ["a"]}))
    with pytest.raises(ConfigError, match=r"has format 'shardkit/3'; expected one of \['shardkit/1', 'shardkit/2'\]"):
        read_manifest(str(tmp_path))


def test_a_build_writes_the_current_format(shard_sets) -> None:
    assert shardkit.FORMAT_ID == "shardkit/2"
    assert json.loads((shard_sets["pcm16"] / "manifest.json").read_text())["format"] == "shardkit/2"


def test_embedding_members_are_known_and_unused_not_foreign() -> None:
    embedding = io.BytesIO()
    np.save(embedding, np.ones(4, np.float32))
    shard = tar_bytes([("k1.json", b'{"labels": []}'), ("k1.pcm16", b"\x00\x00"), ("k1.emb.npy", embedding.getvalue()), ("k1.pyd", b"pickle")])
    stats = ReadStats()
    assert [s.key for s in group_samples(tar_members(shard), "s", stats)] == ["k1"]
    assert stats.counts["members_unused"] == 1 and stats.counts["members_ignored"] == 1  # the pickle stays foreign


def test_shards_with_teacher_data_verify_clean(teacher_shards: Path) -> None:
    manifest = json.loads((teacher_shards / "manifest.json").read_text())
    assert manifest["format"] == "shardkit/2" and manifest["teacher"]["unmapped"] == ["gamma"]
    report = verify_shards(str(teacher_shards))
    assert report["samples_checked"] > 0 and report["problems"] == []


def test_stock_webdataset_reads_the_teacher_block_and_the_embedding(teacher_shards: Path) -> None:
    manifest = json.loads((teacher_shards / "manifest.json").read_text())
    urls = [str(teacher_shards / s["name"]) for split in manifest["splits"].values() for s in split["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode())  # webdataset's default decoders
    assert len(samples) == sum(split["samples"] for split in manifest["splits"].values())
    for sample in samples:
        teacher = sample["json"]["teacher"]
        assert set(teacher["probs"]) == set(manifest["classes"]) and teacher["probs"]["gamma"] is None
        assert all(teacher["probs"][c] == (0.9 if c in sample["json"]["labels"] else 0.05) for c in ("alpha", "beta"))
        embedding = sample["emb.npy"]
        assert isinstance(embedding, np.ndarray) and embedding.dtype == np.float32 and embedding.shape == (16,)
        assert isinstance(sample["pcm16"], bytes)
