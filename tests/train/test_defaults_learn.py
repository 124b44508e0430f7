"""`shardkit train` with no options learns from a small real set: its best model's val scores vary (no collapse).

The set: the six real farm-animal recordings of the `real_recordings` fixture, cut into 2 s
windows every 0.2 s (each window its own input file, so the build's path-hash split spreads
them), about 110 chunks: the size of the real corpus where the old defaults (batch 64: one
step per epoch) collapsed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("tensorflow")

from click.testing import CliRunner

from shardkit.cli import cli
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.scoring import COLLAPSED_SCORE_STD
from shardkit.train.artifacts import read_model_config

WINDOW_S, HOP_S = 2.0, 0.2


def cut_windows(recordings: Path, out: Path) -> Path:
    """Every recording under ``recordings/<class>/`` as overlapping windows, one FLAC file each, under ``out/<class>/``."""
    for source in sorted(recordings.glob("*/*.*")):
        if source.suffix not in (".ogg", ".wav", ".flac"):
            continue
        audio, rate = sf.read(source, dtype="float32", always_2d=True)
        width, hop = int(WINDOW_S * rate), int(HOP_S * rate)
        (out / source.parent.name).mkdir(parents=True, exist_ok=True)
        for index, start in enumerate(range(0, max(1, len(audio) - width + 1), hop)):
            sf.write(out / source.parent.name / f"{source.stem}_{index:03d}.flac", audio[start : start + width].mean(axis=1), rate)
    return out


@pytest.fixture(scope="module")
def real_windows_shards(real_recordings: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real_windows")
    corpus = cut_windows(real_recordings, root / "corpus")
    build(str(corpus), str(root / "shards"), BuildConfig(workers=2, codec="flac", val_fraction=0.25), progress=False)
    return root / "shards"


@pytest.mark.slow
def test_train_with_no_options_does_not_collapse_on_a_small_real_set(real_windows_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["train", str(real_windows_shards), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    saved = read_model_config(str(out / "model.keras"))
    assert saved["train"]["batch_size"] == 16 and saved["train"]["epochs"] == 60, saved["train"]
    best = saved["best"]
    assert best["val_score_std"] > COLLAPSED_SCORE_STD, best
    assert "COLLAPSED" not in result.output, result.output
