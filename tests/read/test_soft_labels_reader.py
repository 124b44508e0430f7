"""The reader's soft labels: off by default, the teacher's probabilities and masks per sample when asked,
through fixed and bucketed batching and through mixup (the same draws as the hard labels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.teacher import add_teacher, agreeing

tf = pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment.config import MixupConfig
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader

SMALL = FrontendConfig(name="mel", n_frames=64)


@pytest.fixture(scope="module")
def teacher_shards(shard_sets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flac reader shards with a teacher that hears the labelled classes, cannot map gamma and skips one sample in three."""
    odd = lambda key: int(key[:8], 16) % 3 == 0  # noqa: E731 - a stable third of the samples, by key
    return add_teacher(shard_sets["flac"], tmp_path_factory.mktemp("soft") / "shards", agreeing(unmapped=("gamma",)), embedding_size=8, skip_keys=odd)


def numpy(value):
    return {k: v.numpy() for k, v in value.items()} if isinstance(value, dict) else value.numpy()


def rows_of(source: Path, **kwargs) -> list:
    config = ReaderConfig(**{"batch_size": 4, "frontend": SMALL, "epochs": 1, "training": False, **kwargs})
    return [(numpy(x), numpy(y)) for x, y in ShardReader(str(source), config).dataset()]


def expected_rows(source: Path, split: str) -> list[tuple]:
    """(labels, soft, mask) of every sample of a split, from its JSON members as the contract defines them."""
    manifest = json.loads((source / "manifest.json").read_text())
    classes = manifest["classes"]
    import webdataset as wds

    rows = []
    for sample in wds.WebDataset([str(source / s["name"]) for s in manifest["splits"][split]["shards"]], shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        probs = (meta.get("teacher") or {}).get("probs", {})
        rows.append(
            (
                tuple(float(c in meta["labels"]) for c in classes),
                tuple(float(probs[c]) if probs.get(c) is not None else 0.0 for c in classes),
                tuple(float(probs.get(c) is not None) for c in classes),
            )
        )
    return rows


def as_rows(batches: list) -> list[tuple]:
    out = []
    for _, y in batches:
        for labels, soft, mask in zip(y["labels"], y["soft"], y["mask"], strict=True):
            out.append((tuple(labels.tolist()), tuple(np.float32(soft).tolist()), tuple(mask.tolist())))
    return out


def test_soft_labels_are_off_by_default_and_change_nothing_else(teacher_shards: Path) -> None:
    plain = rows_of(teacher_shards, split="val")
    soft = rows_of(teacher_shards, split="val", soft_labels=True)
    assert all(isinstance(y, np.ndarray) for _, y in plain)
    assert len(plain) == len(soft)
    for (x, y), (xs, ys) in zip(plain, soft, strict=True):
        np.testing.assert_array_equal(x, xs)
        np.testing.assert_array_equal(y, ys["labels"])
        assert set(ys) == {"labels", "soft", "mask"} and ys["soft"].shape == ys["mask"].shape == y.shape


@pytest.mark.parametrize("batching", ["fixed", "bucketed"])
def test_each_sample_carries_its_teacher_probabilities_and_mask(teacher_shards: Path, batching: str) -> None:
    got = []
    for split in ("train", "val"):
        rows = as_rows(rows_of(teacher_shards, split=split, soft_labels=True, batching=batching))
        want = [(labels, tuple(np.float32(soft).tolist()), mask) for labels, soft, mask in expected_rows(teacher_shards, split)]
        assert sorted(rows) == sorted(want)
        got += rows
    masks = np.array([mask for _, _, mask in got])
    assert masks[:, 2].sum() == 0, "gamma is unmapped"
    assert 0 < masks[:, 0].sum() < len(masks), "samples without a teacher block are masked out"


def test_mixup_mixes_the_soft_labels_with_the_hard_labels_draw(teacher_shards: Path) -> None:
    settings = {"split": "train", "training": True, "shuffle_buffer": 16, "mixup": MixupConfig(prob=1.0, max_sources=2)}
    plain = rows_of(teacher_shards, **settings)
    soft = rows_of(teacher_shards, soft_labels=True, **settings)
    changed = 0
    unmixed = {(labels, soft_row, mask) for labels, soft_row, mask in as_rows(rows_of(teacher_shards, soft_labels=True, split="train"))}
    for (x, y), (xs, ys) in zip(plain, soft, strict=True):
        np.testing.assert_array_equal(x, xs)  # the soft labels do not move the draws
        np.testing.assert_array_equal(y, ys["labels"])
        assert np.all(ys["soft"] * (1 - ys["mask"]) == 0) and np.all(ys["soft"] <= 1)
        for labels, soft_row, mask in zip(ys["labels"], ys["soft"], ys["mask"], strict=True):
            changed += (tuple(labels.tolist()), tuple(np.float32(soft_row).tolist()), tuple(mask.tolist())) not in unmixed
    assert changed > 0, "mixing changed some rows' soft labels or masks"
