"""Read back what a build wrote: every sample of a shard set, with stock webdataset."""

from __future__ import annotations

import json
from pathlib import Path

import webdataset as wds


def read_samples(folder: Path, manifest: dict) -> list[dict]:
    """Every sample of every listed shard, read with stock webdataset (no decoding of members)."""
    urls = [str(folder / s["name"]) for split in manifest["splits"].values() for s in split["shards"]]
    samples = []
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        samples.append({"key": sample["__key__"], "meta": meta, "audio": sample.get("flac") or sample.get("wav") or sample.get("pcm16")})
    return samples
