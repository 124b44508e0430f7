"""The bad-input corpus: every broken file is skipped with its reason, the build goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from factories import tone_in_noise, write_audio
from helpers.shards import read_samples

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def bad_corpus(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A tree mixing good recordings with every kind of broken input; returns it and the expected reasons."""
    root = tmp_path / "input"
    for i in range(3):
        write_audio(root / "bird" / f"good{i}.flac", tone_in_noise(6, 24000, calls=((2, 0.5, 3000),), seed=i), 24000)
    write_audio(root / "bird" / "odd name, ünïcødé [1].flac", tone_in_noise(4, 24000, seed=9), 24000)
    expected = {}
    (root / "bird" / "zero.flac").write_bytes(b"")
    expected["bird/zero.flac"] = "empty_file"
    full = write_audio(tmp_path / "full.flac", tone_in_noise(20, 48000, seed=3), 48000).read_bytes()
    (root / "bird" / "truncated.flac").write_bytes(full[: len(full) // 2])
    expected["bird/truncated.flac"] = "corrupt"
    whole_wav = write_audio(tmp_path / "whole.wav", tone_in_noise(10, 16000, seed=6), 16000).read_bytes()
    data_start = whole_wav.index(b"data") + 8
    (root / "bird" / "truncated.wav").write_bytes(whole_wav[: data_start + 5 * 16000 * 2])  # header says 10 s
    expected["bird/truncated.wav"] = "truncated"
    (root / "bird" / "text.flac").write_text("this is not audio at all, just text " * 20)
    expected["bird/text.flac"] = "undecodable"
    nan = tone_in_noise(3, 16000, seed=4)
    nan[5000] = np.nan
    write_audio(root / "bird" / "nan.wav", nan, 16000, subtype="FLOAT")
    expected["bird/nan.wav"] = "non_finite"
    inf = tone_in_noise(3, 16000, seed=5)
    inf[100] = np.inf
    write_audio(root / "bird" / "inf.wav", inf, 16000, subtype="FLOAT")
    expected["bird/inf.wav"] = "non_finite"
    write_audio(root / "bird" / "short.flac", tone_in_noise(0.2, 16000), 16000)
    expected["bird/short.flac"] = "too_short"
    os.symlink(tmp_path / "gone.flac", root / "bird" / "dangling.flac")
    expected["bird/dangling.flac"] = "missing"
    locked = write_audio(root / "bird" / "locked.flac", tone_in_noise(3, 16000), 16000)
    if not AS_ROOT:  # root reads through any permission bits
        locked.chmod(0)
        expected["bird/locked.flac"] = "unreadable"
    bad_name = os.path.join(os.fsencode(root / "bird"), b"bad\xff.flac")
    with open(bad_name, "wb") as handle:
        handle.write(full)
    expected["bird/bad\\xff.flac"] = "bad_name"
    (root / "empty_class").mkdir()
    expected["empty_class/"] = "empty_class"
    (root / "bird" / ".hidden.flac").write_bytes(full)
    return root, expected


def test_bad_inputs_are_reported_and_never_become_samples(bad_corpus, tmp_path: Path):
    root, expected = bad_corpus
    out = tmp_path / "out"
    summary = build(str(root), str(out), BuildConfig(workers=2, val_fraction=0.0), progress=False)
    report = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert {r["source"]: r["reason"] for r in report} == expected
    assert all(r["detail"] for r in report)
    manifest = summary.manifest
    assert manifest["inputs"]["skipped"] == len(expected)
    assert sum(manifest["inputs"]["skipped_by_reason"].values()) == len(expected)
    assert manifest["inputs"]["ignored_by_reason"] == {"hidden": 1}
    sources = {s["meta"]["source"] for s in read_samples(out, manifest)}
    assert sources == {f"bird/good{i}.flac" for i in range(3)} | {"bird/odd name, ünïcødé [1].flac"} | ({"bird/locked.flac"} if AS_ROOT else set())
    assert manifest["classes"] == ["bird"]


def test_truncated_flac_reason_names_the_position(bad_corpus, tmp_path: Path):
    root, _ = bad_corpus
    build(str(root), str(tmp_path / "out"), BuildConfig(workers=0, val_fraction=0.0), executor="inline", progress=False)
    report = {json.loads(line)["source"]: json.loads(line) for line in (tmp_path / "out" / "failed.jsonl").read_text().splitlines()}
    assert "decoder failed at" in report["bird/truncated.flac"]["detail"]
    assert report["bird/truncated.wav"]["detail"] == "header says 10.00 s, data holds 5.00 s"
    assert "NaN or Inf sample at 0.312 s" in report["bird/nan.wav"]["detail"]
    assert "shorter than min_file_s=0.5 s" in report["bird/short.flac"]["detail"]


#: inputs that only a local tree can hold: a dangling link, permission bits, a name that is not UTF-8
LOCAL_ONLY = {"bird/dangling.flac", "bird/locked.flac", "bird/bad\\xff.flac", "empty_class/"}


def test_the_bad_input_corpus_in_a_store_fails_as_on_disk(bad_corpus, tmp_path: Path):
    """The same corpus uploaded to ``memory://``: the same failures with the same reasons and details."""
    import uuid

    import fsspec

    root, expected = bad_corpus
    fs = fsspec.filesystem("memory")
    url = f"memory://bad-{uuid.uuid4().hex[:8]}"
    for path in root.rglob("*"):
        name = os.fsencode(path.relative_to(root))
        if path.is_file() and not path.is_symlink() and os.access(path, os.R_OK) and _utf8(name):
            fs.pipe_file(f"{url[len('memory://') :]}/{name.decode()}", path.read_bytes())
    (root / "only_text").mkdir()
    (root / "only_text" / "notes.txt").write_text("no audio")
    fs.pipe_file(f"{url[len('memory://') :]}/only_text/notes.txt", b"no audio")
    config = BuildConfig(workers=0, val_fraction=0.0)
    build(str(root), str(tmp_path / "local"), config, executor="inline", progress=False)
    summary = build(url, str(tmp_path / "remote"), config, executor="inline", progress=False)

    def report(out: Path) -> dict:
        lines = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
        return {r["source"]: (r["reason"], r["detail"]) for r in lines if r["source"] not in LOCAL_ONLY}

    remote = report(tmp_path / "remote")
    assert remote == report(tmp_path / "local")
    assert {source: reason for source, (reason, _) in remote.items()} == {
        **{k: v for k, v in expected.items() if k not in LOCAL_ONLY},
        "only_text/": "empty_class",
    }
    assert summary.manifest["inputs"]["ignored_by_reason"] == {"hidden": 1, "not_audio": 1}
    good = {f"bird/good{i}.flac" for i in range(3)} | {"bird/odd name, ünïcødé [1].flac"} | ({"bird/locked.flac"} if AS_ROOT else set())
    assert {s["meta"]["source"] for s in read_samples(tmp_path / "remote", summary.manifest)} == good


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
