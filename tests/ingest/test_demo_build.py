"""The build on the demo corpus finds the planted calls (ground truth from the generator)."""

from __future__ import annotations

import json

import pytest
from helpers.shards import read_samples

from shardkit.audio.synthetic import DemoCorpusConfig, make_demo_corpus
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("demo")
    calls = make_demo_corpus(root / "corpus", DemoCorpusConfig())
    summary = build(str(root / "corpus"), str(root / "shards"), BuildConfig(workers=2, shard_max_samples=16), progress=False)
    return calls, read_samples(root / "shards", summary.manifest), summary


def _covers(meta: dict, call) -> bool:
    middle = call.offset_s + call.duration_s / 2
    return meta["source"] == call.source and meta["offset_s"] <= middle <= meta["offset_s"] + meta["duration_s"]


def test_planted_calls_are_found(demo_build):
    calls, samples, _ = demo_build
    metas = [s["meta"] for s in samples]
    found = [c for c in calls if any(_covers(m, c) for m in metas)]
    assert len(found) >= 0.9 * len(calls), f"recall {len(found)}/{len(calls)}"
    loud = [c for c in calls if c.snr_db >= 6.0]
    assert sum(c in found for c in loud) >= 0.95 * len(loud)


def test_salient_segments_hold_calls_and_noise_falls_back_to_centre(demo_build):
    calls, samples, _ = demo_build
    for meta in (s["meta"] for s in samples):
        if meta["class"] == "noise":
            assert meta["picked_by"] == "centre" and meta["labels"] == []
        elif meta["picked_by"] == "salience":
            assert any(_covers(meta, c) for c in calls) or any(
                c.source == meta["source"] and c.offset_s < meta["offset_s"] + 3 and c.offset_s + c.duration_s > meta["offset_s"] for c in calls
            ), f"salient segment with no call in it: {json.dumps(meta)}"


def test_every_recording_yields_at_most_three_samples(demo_build):
    _, samples, summary = demo_build
    per_source = {}
    for meta in (s["meta"] for s in samples):
        per_source[meta["source"]] = per_source.get(meta["source"], 0) + 1
    assert len(per_source) == 30 and max(per_source.values()) <= 3
    assert summary.manifest["inputs"]["skipped"] == 0
