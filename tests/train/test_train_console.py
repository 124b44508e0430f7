"""A TensorFlow command's console when its output is redirected: no TensorFlow start-up noise, no Keras bar."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

#: lines TensorFlow prints at start-up on a CPU-only machine (absl, oneDNN, cudart, CPU features, cuInit)
TF_NOISE = re.compile(r"InitializeLog|oneDNN|cudart|cuda drivers|cpu_feature_guard|rebuild TensorFlow|cuInit|^[IW]\d{4} ", re.MULTILINE)
#: what a Keras progress bar leaves in a file
BAR = ("\x1b[", "\x08", "━")
TINY = [
    "--chunk-s", "1.0", "--n-fft", "128", "--n-frames", "32", "--n-mels", "16", "--n-mfcc", "8",
    "--architecture", "dscnn_lite", "--alpha", "0.25", "--embeddings-size", "32",
    "--batch-size", "8", "--shuffle-buffer", "50",
]  # fmt: skip


def shardkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shardkit", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_redirected_training_shows_epoch_lines_without_noise_or_bar(tiny_shards: Path, tmp_path: Path):
    done = shardkit("train", str(tiny_shards), "--out", str(tmp_path), *TINY, "--epochs", "1", "--max-steps-per-epoch", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not TF_NOISE.search(done.stderr), done.stderr[-3000:]
    assert not any(code in done.stdout for code in BAR), repr(done.stdout[:500])
    assert re.search(r"^2/2 - .*loss: ", done.stdout, re.MULTILINE), done.stdout  # Keras' one line per epoch


@pytest.mark.slow
def test_tensorflow_logs_only_with_verbose(tiny_shards: Path, tmp_path: Path):
    """A model file without its model config fails after TensorFlow is imported: one line, or all of TF's logs with -v."""
    model = tmp_path / "lonely.keras"
    model.write_bytes(b"x")
    quiet = shardkit("convert", str(model), "--shards", str(tiny_shards))
    assert quiet.returncode == 2 and not TF_NOISE.search(quiet.stderr), quiet.stderr
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "lonely_model_config.json" in lines[0], quiet.stderr
    verbose = shardkit("-v", "convert", str(model), "--shards", str(tiny_shards))
    assert verbose.returncode == 2 and TF_NOISE.search(verbose.stderr) and "Traceback" in verbose.stderr, verbose.stderr
