"""Input scanning: classes, negatives, ignored files, the stable split."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from factories import tone_in_noise, write_audio

from shardkit.errors import ConfigError
from shardkit.ingest.inputs import scan_inputs, split_of


def test_classes_negatives_and_ignored(small_corpus: Path):
    scan = scan_inputs(str(small_corpus), 0.2, 0.0)
    by_label = Counter(f.label for f in scan.files)
    assert by_label == {"alpha": 4, "beta": 5, "noise": 2}
    assert all(f.negative == (f.label == "noise") for f in scan.files)
    assert scan.ignored == {"not_audio": 1, "not_in_class_folder": 1}
    nested = next(f for f in scan.files if f.source == "beta/sub/b0.flac")
    assert nested.label == "beta" and nested.duration_s == pytest.approx(9.0)


def test_negative_folder_names_case_insensitive(tmp_path: Path):
    for name in ("Noise", "SILENCE", "background", "Other", "birds"):
        write_audio(tmp_path / name / "x.flac", tone_in_noise(1, 8000), 8000)
    scan = scan_inputs(str(tmp_path), 0.0, 0.0)
    assert {f.label: f.negative for f in scan.files} == {"Noise": True, "SILENCE": True, "background": True, "Other": True, "birds": False}


def test_split_is_stable_and_independent_of_other_files():
    sources = [f"cls{i % 3}/rec_{i:04d}.flac" for i in range(4000)]
    first = {s: split_of(s, 0.1, 0.1) for s in sources}
    assert first == {s: split_of(s, 0.1, 0.1) for s in reversed(sources)}
    counts = Counter(first.values())
    assert counts["val"] == pytest.approx(400, abs=80) and counts["test"] == pytest.approx(400, abs=80)
    # raising the test fraction only moves recordings from train into test, never val
    wider = {s: split_of(s, 0.1, 0.2) for s in sources}
    assert all(wider[s] == "val" for s in sources if first[s] == "val")
    assert all(wider[s] in ("test", "train") for s in sources if first[s] != "val")


def test_split_does_not_change_when_files_are_added(small_corpus: Path):
    before = {f.source: f.split for f in scan_inputs(str(small_corpus), 0.3, 0.0).files}
    write_audio(small_corpus / "alpha" / "new.flac", tone_in_noise(2, 16000), 16000)
    after = {f.source: f.split for f in scan_inputs(str(small_corpus), 0.3, 0.0).files}
    assert {s: after[s] for s in before} == before


def test_empty_class_and_non_utf8_name_are_recorded(tmp_path: Path):
    write_audio(tmp_path / "good" / "ok.flac", tone_in_noise(1, 8000), 8000)
    (tmp_path / "empty").mkdir()
    (tmp_path / "onlytext").mkdir()
    (tmp_path / "onlytext" / "a.txt").write_text("x")
    bad = os.path.join(os.fsencode(tmp_path / "good"), b"caf\xe9.flac")
    with open(bad, "wb") as handle:
        handle.write(b"whatever")
    scan = scan_inputs(str(tmp_path), 0.0, 0.0)
    reasons = {s.source: s.reason for s in scan.skipped}
    assert reasons["empty/"] == "empty_class"
    assert reasons["onlytext/"] == "empty_class"
    assert reasons["good/caf\\xe9.flac"] == "bad_name"
    assert [f.source for f in scan.files] == ["good/ok.flac"]


def test_missing_or_empty_input_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        scan_inputs(str(tmp_path / "nope"), 0.1, 0.0)
    (tmp_path / "cls").mkdir()
    with pytest.raises(ConfigError, match="holds no audio files"):
        scan_inputs(str(tmp_path), 0.1, 0.0)
