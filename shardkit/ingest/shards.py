"""Write shards and their commit records.

A shard is a plain POSIX (ustar) tar of ``KEY.<codec>`` + ``KEY.json`` members (and, from a
teacher build that stores embeddings, ``KEY.emb.npy``) with fixed headers, so the same samples always give the same bytes. It is written to a local staging
file, hashed, and committed to ``{split}-{index:06d}.tar`` in one atomic step (rename or
single upload). Its record, ``_shardkit/done/{split}-{index:06d}.json``, is written after the
commit; a shard found without a record (killed in between) gets its record back from the
shard itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from shardkit.ingest.extract import Sample
from shardkit.ingest.inputs import SourceFile
from shardkit.jsonio import dumps
from shardkit.storage import Store

STATE_DIR = "_shardkit"
DONE_DIR = f"{STATE_DIR}/done"
#: fixed tar header time, so shard bytes do not depend on when they were written
TAR_MTIME = 0


def shard_name(split: str, index: int) -> str:
    """``{split}-{index:06d}.tar``"""
    return f"{split}-{index:06d}.tar"


def record_name(split: str, index: int) -> str:
    """Path of a shard's commit record inside the store."""
    return f"{DONE_DIR}/{split}-{index:06d}.json"


@dataclass
class ShardTask:
    """One unit of work: these recordings become the shard ``split-index``.

    ``input_options`` are the fsspec options of an INPUT in a store: the task carries them to
    whichever worker runs it (they may hold credentials, so they are kept out of its repr).
    """

    split: str
    index: int
    files: list[SourceFile] = field(default_factory=list)
    input_options: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The shard's file name."""
        return shard_name(self.split, self.index)

    @property
    def input_seconds(self) -> float:
        """Audio seconds this task decodes (from the headers)."""
        return sum(f.duration_s for f in self.files)


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = TAR_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(samples: Iterable[Sample], path: str) -> tuple[str, int]:
    """Write samples to a tar at ``path``; return its SHA-256 hex digest and size in bytes."""
    with open(path, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in samples:
                _add_member(tar, f"{sample.key}.{sample.extension}", sample.audio)
                _add_member(tar, f"{sample.key}.json", dumps(sample.meta, sort_keys=True).encode())
                for extension, data in sorted(sample.extra.items()):
                    _add_member(tar, f"{sample.key}.{extension}", data)
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), os.path.getsize(path)


def sample_summary(meta: dict, key: str) -> dict:
    """What a record keeps of each sample (enough for the manifest)."""
    summary = {"key": key, "source": meta["source"], "class": meta["class"], "labels": meta["labels"], "duration_s": meta["duration_s"]}
    flag = (meta.get("teacher") or {}).get("flag")
    if flag:
        summary["teacher_flag"] = flag
    return summary


def commit_shard(store: Store, task: ShardTask, samples: list[Sample]) -> dict:
    """Stage, hash and commit a shard; return the shard part of its record."""
    staging = os.path.join(store.staging_dir(), f"{task.name}.{uuid.uuid4().hex}.partial")
    try:
        sha256, size = write_tar(samples, staging)
        store.commit_file(staging, task.name)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return {"shard": task.name, "sha256": sha256, "bytes": size}


def recover_record(store: Store, name: str) -> dict:
    """Rebuild the record of a committed shard that has none, from the shard's own members.

    Failures of that task are unknown and those recordings will be tried again.
    """
    data = store.read_bytes(name)
    samples = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                meta = json.loads(tar.extractfile(member).read())
                samples.append(sample_summary(meta, member.name[: -len(".json")]))
    split, index = name[: -len(".tar")].rsplit("-", 1)
    return {
        "shard": name,
        "split": split,
        "index": int(index),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "samples": samples,
        "sources": sorted({s["source"] for s in samples}),
        "failures": [],
        "decoded_s": None,
        "recovered": True,
    }
