"""Everything a build writes is strict JSON: an all-zero recording gives ``null``, never ``-Infinity``."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
from factories import tone_in_noise, write_audio

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build


def strict_loads(text: str | bytes):
    """`json.loads` that refuses NaN / Infinity, as strict parsers (JavaScript, Go, jq) do."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_all_zero_recording_writes_strict_json(tmp_path: Path):
    corpus = tmp_path / "input"
    write_audio(corpus / "alpha" / "silent.flac", np.zeros(24000 * 5, np.float32), 24000)
    write_audio(corpus / "alpha" / "tone.flac", tone_in_noise(5, 24000, calls=((1.0, 0.5, 2000),)), 24000)
    out = tmp_path / "out"
    build(str(corpus), str(out), BuildConfig(workers=0, val_fraction=0.0), executor="inline", progress=False)

    members = {}
    for shard in out.glob("*.tar"):
        with tarfile.open(shard) as tar:
            members.update({m.name: strict_loads(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")})
    by_source = {meta["source"]: meta for meta in members.values()}
    assert by_source["alpha/silent.flac"]["snr_db"] is None, "undefined SNR is null"
    assert isinstance(by_source["alpha/tone.flac"]["snr_db"], float)
    written = [p for p in out.rglob("*.json")] + [out / "failed.jsonl"]
    assert len(written) >= 3
    for path in written:
        for line in path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]:
            strict_loads(line)
