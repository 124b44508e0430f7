"""A hand-made truth file and shard set (two tar shards and a manifest) for the chunk-quality tools."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import shardkit


def call(start_s: float, end_s: float) -> dict:
    """A planted event of TRUTH.json."""
    return {"start_s": start_s, "end_s": end_s, "source": "x.ogg", "snr_db": 6.0}


#: a: 30 s, 3 calls; b: 50 s, 5 calls 10 s apart (3 chunks of 3 s reach only 3 of them); n: noise
TRUTH = {
    "files": [
        {"file": "A/a.flac", "class": "A", "duration_s": 30.0, "calls": [call(2.0, 3.0), call(10.0, 10.4), call(20.0, 22.0)], "distractors": []},
        {"file": "B/b.flac", "class": "B", "duration_s": 50.0, "calls": [call(5.0 + 10 * i, 6.0 + 10 * i) for i in range(5)], "distractors": []},
        {"file": "noise/n.flac", "class": "noise", "duration_s": 25.0, "calls": [], "distractors": [call(4.0, 6.0)]},
    ]
}


def chunk(source: str, label: str, offset_s: float) -> dict:
    """A 3 s sample's ``KEY.json`` meta."""
    return {"source": source, "class": label, "labels": [] if label == "noise" else [label], "offset_s": offset_s, "duration_s": 3.0}


def chunks(second_a_offset_s: float = 9.21) -> list[dict]:
    """a: one chunk on call 1, one reaching ``10.4 - offset`` into the 0.4 s call 2 (0.2 s needed), one on nothing; b: 3 calls; n: 2."""
    return [
        chunk("A/a.flac", "A", 1.5),
        chunk("A/a.flac", "A", second_a_offset_s),
        chunk("A/a.flac", "A", 25.0),
        *(chunk("B/b.flac", "B", offset) for offset in (4.0, 14.0, 24.5)),
        chunk("noise/n.flac", "noise", 3.0),
        chunk("noise/n.flac", "noise", 12.0),
    ]


def write_build(folder: Path, samples: list[dict], *, chunk_s: float = 3.0, max_chunks: int = 3) -> Path:
    """A shard set by hand: two tar shards (KEY.json + KEY.flac members) and a manifest listing them."""
    folder.mkdir(parents=True)
    splits = {}
    for split, part in (("train", samples[::2]), ("val", samples[1::2])):
        name = f"{split}-000000.tar"
        with tarfile.open(folder / name, "w") as tar:
            for i, meta in enumerate(part):
                for member, data in ((f"k{i:04d}.json", json.dumps(meta).encode()), (f"k{i:04d}.flac", b"fLaC")):
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        splits[split] = {"shards": [{"name": name, "samples": len(part)}], "samples": len(part)}
    manifest = {
        "format": shardkit.FORMAT_ID,
        "classes": ["A", "B"],
        "negative_classes": ["noise"],
        "splits": splits,
        "settings": {"chunk_s": chunk_s, "max_chunks_per_file": max_chunks, "variable_length": False, "max_segment_s": 10.0},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_truth(path: Path, truth: dict = TRUTH) -> Path:
    path.write_text(json.dumps(truth))
    return path
