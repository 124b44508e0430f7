"""`shardkit audit` from the command line: the summary line, no TensorFlow without --model, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_class_corpus
from helpers.children import no_tensorflow_dir

from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build


def shardkit(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``python -m shardkit ARGS`` with TensorFlow and Keras made unimportable."""
    paths = [str(no_tensorflow_dir(tmp_path / "guard")), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return subprocess.run(
        [sys.executable, "-m", "shardkit", *args], env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("audit_cli")
    corpus = make_class_corpus(root / "corpus", n_per_class=3)
    (corpus / "alpha" / "broken.flac").write_bytes(b"not audio at all")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=1, codec="flac", chunk_s=1.0, shard_max_samples=6, val_fraction=0.3), progress=False)
    return corpus, root / "shards"


def test_audit_writes_the_site_and_says_where_without_tensorflow(built, tmp_path):
    corpus, shards = built
    result = shardkit("audit", str(shards), "--out", str(tmp_path / "site"), "--input", str(corpus), "--per-class", "2", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    index = tmp_path / "site" / "index.html"
    assert f"open {index}" in result.stdout
    assert "4 class pages" not in result.stdout and "pages, 8 chunks drawn" in result.stdout  # 3 classes + noise, 2 each
    html = index.read_text()
    assert "broken.flac" in html and "undecodable" in html  # the failed-file table names the file and its reason
    assert not (tmp_path / "site" / "_shardkit").exists()
    assert "tensorflow" not in result.stderr.lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "m.tflite"], "audit --compare needs --model"),
        (["--out", "s3://bucket/site"], "audit --out must be a local folder"),
        (["--per-class", "0"], "audit per_class must be an integer in [1, 1000]; got 0"),
        (["--input", "no-such-folder"], "--input 'no-such-folder' is not a folder"),
        (["--model", "missing.keras"], "--model 'missing.keras' does not exist"),
    ],
)
def test_audit_refusals_are_one_sentence(built, tmp_path, args, message):
    _, shards = built
    out = [] if "--out" in args else ["--out", str(tmp_path / "site")]
    result = shardkit("audit", str(shards), *out, *args, tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "site" / "index.html").exists()


def test_audit_of_a_folder_without_a_build(tmp_path):
    (tmp_path / "empty").mkdir()
    result = shardkit("audit", str(tmp_path / "empty"), "--out", str(tmp_path / "site"), tmp_path=tmp_path)
    assert result.returncode == 2 and "no manifest.json" in result.stderr and "Traceback" not in result.stderr
