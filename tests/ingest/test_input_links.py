"""Symlinks in INPUT: each real folder and file is scanned once; loops and aliases are reported."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from factories import tone_in_noise, write_audio
from helpers.shards import read_samples

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.inputs import scan_inputs
from shardkit.ingest.runner import build


def _recording(path: Path, seed: int) -> Path:
    return write_audio(path, tone_in_noise(4, 16000, calls=((1, 0.5, 2000 + 200 * seed),), seed=seed), 16000)


@pytest.fixture
def linked_tree(tmp_path: Path) -> Path:
    """crow and sparrow are real; loop, alias and nested links point back into INPUT; wren lives outside."""
    root = tmp_path / "input"
    _recording(root / "crow" / "c0.flac", 0)
    _recording(root / "crow" / "deep" / "c1.flac", 1)
    _recording(root / "sparrow" / "s0.flac", 2)
    outside = tmp_path / "field" / "wren"
    _recording(outside / "w0.flac", 3)
    os.symlink(".", root / "loop")  # INPUT/loop -> INPUT
    os.symlink("crow", root / "alias")  # a second name for a class folder
    os.symlink(outside, root / "wren")  # a class kept outside INPUT: followed once
    os.symlink("..", root / "crow" / "deep" / "up")  # INPUT/crow/deep/up -> INPUT/crow
    os.symlink("../crow/c0.flac", root / "sparrow" / "c0_copy.flac")  # a file under two names
    os.symlink(outside, root / "sparrow" / "wren_again")  # the outside folder under a second name
    os.symlink(".", outside / "again")  # a loop inside the followed folder
    return root


EXPECTED_SKIPS = {
    "alias/": ("symlink_alias", "alias of crow/"),
    "loop/": ("symlink_loop", "links to INPUT/"),
    "crow/deep/up/": ("symlink_loop", "links to crow/"),
    "sparrow/c0_copy.flac": ("symlink_alias", "alias of crow/c0.flac"),
    "sparrow/wren_again/": ("symlink_alias", "alias of wren/"),
    "wren/again/": ("symlink_loop", "links to wren/"),
}


def test_scan_resolves_links_once(linked_tree: Path):
    scan = scan_inputs(str(linked_tree), 0.0, 0.0)
    assert sorted((f.source, f.label) for f in scan.files) == [
        ("crow/c0.flac", "crow"),
        ("crow/deep/c1.flac", "crow"),
        ("sparrow/s0.flac", "sparrow"),
        ("wren/w0.flac", "wren"),
    ]
    assert {s.source: s.reason for s in scan.skipped} == {k: v[0] for k, v in EXPECTED_SKIPS.items()}
    for skip in scan.skipped:
        assert EXPECTED_SKIPS[skip.source][1] in skip.detail


def test_build_reports_loops_and_aliases_and_makes_no_extra_class(linked_tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="shardkit.ingest.inputs"):
        summary = build(str(linked_tree), str(out), BuildConfig(workers=0, val_fraction=0.0), executor="inline", progress=False)
    manifest = summary.manifest
    assert manifest["classes"] == ["crow", "sparrow", "wren"], "no class made of a link to another class"
    samples = read_samples(out, manifest)
    assert {s["meta"]["source"] for s in samples} == {"crow/c0.flac", "crow/deep/c1.flac", "sparrow/s0.flac", "wren/w0.flac"}
    assert len({s["key"] for s in samples}) == len(samples)
    assert manifest["inputs"]["recordings_processed"] == 4
    report = {r["source"]: r for r in map(json.loads, (out / "failed.jsonl").read_text().splitlines())}
    assert {k: r["reason"] for k, r in report.items()} == {k: v[0] for k, v in EXPECTED_SKIPS.items()}
    assert manifest["inputs"]["skipped_by_reason"] == {"symlink_alias": 3, "symlink_loop": 3}
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for source in EXPECTED_SKIPS:
        assert source in warned


def test_link_to_a_folder_outside_input_counts_once_even_when_named_first(tmp_path: Path):
    """Which name wins does not depend on sort order: a real class folder beats any link to it."""
    root = tmp_path / "input"
    _recording(root / "zebra_finch" / "z.flac", 5)
    os.symlink("zebra_finch", root / "aaa")  # sorts before the real folder
    scan = scan_inputs(str(root), 0.0, 0.0)
    assert [(f.source, f.label) for f in scan.files] == [("zebra_finch/z.flac", "zebra_finch")]
    assert [(s.source, s.reason) for s in scan.skipped] == [("aaa/", "symlink_alias")]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root lists any folder")
def test_unreadable_folder_is_reported_not_dropped(tmp_path: Path):
    root = tmp_path / "input"
    _recording(root / "crow" / "c0.flac", 0)
    _recording(root / "crow" / "locked" / "c1.flac", 1)
    (root / "crow" / "locked").chmod(0)
    try:
        scan = scan_inputs(str(root), 0.0, 0.0)
    finally:
        (root / "crow" / "locked").chmod(0o755)
    assert [f.source for f in scan.files] == ["crow/c0.flac"]
    assert [(s.source, s.reason) for s in scan.skipped] == [("crow/locked/", "unreadable")]
