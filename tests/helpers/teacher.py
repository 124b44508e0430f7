"""Shards with teacher data (format shardkit/2) made from a finished build, as a teacher build would write them.

`add_teacher` copies a shard folder and rewrites every shard: each sample's JSON member gains a
``teacher`` block (probabilities from a function of the sample), optionally followed by a
``KEY.emb.npy`` member; the manifest gets the new checksums and sizes, format ``shardkit/2``
and a top-level ``teacher`` block. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: probs(meta, classes) → {class: probability or None} for every class of the manifest
Probs = Callable[[dict, list[str]], dict]


def agreeing(p_present: float = 0.9, p_absent: float = 0.05, unmapped: tuple[str, ...] = ()) -> Probs:
    """A teacher that hears the labelled classes (``p_present``), not the others, and has no label for ``unmapped``."""

    def probs(meta: dict, classes: list[str]) -> dict:
        return {c: None if c in unmapped else (p_present if c in meta["labels"] else p_absent) for c in classes}

    return probs


def inverted(meta: dict, classes: list[str]) -> dict:
    """A teacher that is always wrong: p = 1 - hard label, for every class."""
    return {c: 0.0 if c in meta["labels"] else 1.0 for c in classes}


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _embedding(key: str, size: int) -> bytes:
    buffer = io.BytesIO()
    seed = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
    np.save(buffer, np.random.default_rng(seed).standard_normal(size).astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def add_teacher(
    source: Path,
    out: Path,
    probs: Probs,
    *,
    name: str = "stand-in-teacher",
    embedding_size: int = 0,
    skip_keys: Callable[[str], bool] = lambda key: False,
) -> Path:
    """A copy of the shard folder ``source`` at ``out`` with teacher data in every sample (see the module docstring).

    Args:
        source: a finished build (its manifest and shards).
        out: where the copy goes (must not exist).
        probs: the teacher's probability (or None) for each class of a sample.
        name: the teacher's name in each sample and in the manifest.
        embedding_size: > 0 adds a ``KEY.emb.npy`` float32 member of that size after each JSON member.
        skip_keys: samples for which this is true get no teacher block (as a build that could not run it).
    """
    shutil.copytree(source, out)
    manifest = json.loads((out / "manifest.json").read_text())
    classes = manifest["classes"]
    for split in manifest["splits"].values():
        for entry in split["shards"]:
            path = out / entry["name"]
            with tarfile.open(path) as tar:
                members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]
            rewritten = []
            for member, data in members:
                key, _, extension = member.partition(".")
                if extension == "json" and not skip_keys(key):
                    meta = json.loads(data)
                    p = probs(meta, classes)
                    top = sorted(((c, v) for c, v in p.items() if v is not None), key=lambda item: -item[1])
                    meta["teacher"] = {"name": name, "probs": p, "top": [list(t) for t in top[:5]], "max_p": top[0][1] if top else None, "flag": None}
                    data = json.dumps(meta, sort_keys=True).encode()
                rewritten.append((member, data))
                if extension == "json" and embedding_size:
                    rewritten.append((f"{key}.emb.npy", _embedding(key, embedding_size)))
            shard = _tar(rewritten)
            path.write_bytes(shard)
            entry["sha256"], entry["bytes"] = hashlib.sha256(shard).hexdigest(), len(shard)
    example = probs({"labels": classes[:1]}, classes)
    manifest["format"] = "shardkit/2"
    manifest["teacher"] = {
        "name": name,
        "licence": "test data",
        "notice": f"{name}: a stand-in teacher made by the tests",
        "mapping": {c: (f"Teacher label {c}" if example[c] is not None else None) for c in classes},
        "unmapped": [c for c in classes if example[c] is None],
        "audit": [],
        "seconds": 0.0,
        "x_realtime": 0.0,
        "candidates": 0,
        "chosen": 0,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return out
