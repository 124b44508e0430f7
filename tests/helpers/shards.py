"""Read back what a build wrote: every sample of a shard set, with stock webdataset."""

from __future__ import annotations

import json
import tarfile
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


def samples_with_members(folder: Path) -> list[tuple[dict, dict[str, bytes]]]:
    """Every sample of every ``*.tar`` in ``folder``, read with tarfile: its metadata and its other members by extension."""
    found = []
    for shard in sorted(folder.glob("*.tar")):
        with tarfile.open(shard) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}
        for name, data in members.items():
            if name.endswith(".json"):
                key = name[: -len(".json")]
                extra = {n[len(key) + 1 :]: d for n, d in members.items() if n.startswith(key + ".") and n != name}
                found.append((json.loads(data), extra))
    return found
