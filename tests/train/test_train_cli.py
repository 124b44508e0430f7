"""`shardkit train` on the command line: bad options fail before training, a run and its resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shardkit.cli import cli

#: the tiny run of helpers/training.py, as options
TINY = [
    "--chunk-s", "1.0", "--n-fft", "128", "--n-frames", "32", "--n-mels", "16", "--n-mfcc", "8",
    "--architecture", "dscnn_lite", "--alpha", "0.25", "--embeddings-size", "32",
    "--batch-size", "8", "--shuffle-buffer", "50", "--quiet",
]  # fmt: skip


def run(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--alpha", "0"], "model alpha must be a width multiplier in [0.1, 4]; got 0.0"),
        (["--epochs", "0"], "train epochs must be None (auto) or an integer >= 1; got 0"),
        (["--learning-rate", "-1"], "train learning_rate must be a positive number; got -1.0"),
        (["--label-smoothing", "1"], "train label_smoothing must be a number in [0, 1); got 1.0"),
        (["--optimizer", "rmsprop"], "'rmsprop' is not one of 'adam', 'adamw', 'sgd'"),
        (["--spec-augment", "--placement", "deferred"], "spec_augment needs placement='pipeline'"),
        (["--mixup-sources", "5", "--mixup-prob", "0.5"], "mixup max_sources must be an integer in [2, 3]; got 5"),
        (["--n-mels", "300"], "frontend n_mels must be in [1, n_fft / 2 = 64]; got 300"),
        (["--batch-size", "5000"], "batch_size 5000 is larger than the"),
        (["--sample-rate", "16000"], "frontend sample_rate_hz 16000 differs from the shards' 24000 Hz"),
    ],
)
def test_bad_options_exit_2_naming_the_value_before_training(tiny_shards: Path, tmp_path: Path, options: list[str], message: str) -> None:
    out = tmp_path / "out"
    result = run(str(tiny_shards), "--out", str(out), *TINY, *options)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not list(out.glob("*.keras")) and not list(out.glob("*_train_state.json"))


def test_missing_shards_and_nothing_to_resume_exit_2(tiny_shards: Path, tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope"), "--out", str(tmp_path / "out"), *TINY)
    assert missing.exit_code == 2 and "nope" in missing.output
    empty = run(str(tiny_shards), "--out", str(tmp_path / "empty"), "--resume")
    assert empty.exit_code == 2 and "nothing to resume" in empty.output


def test_a_cli_run_writes_the_model_and_resume_continues_it(tiny_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run(str(tiny_shards), "--out", str(out), "--name", "cli", "--epochs", "1", *TINY)
    assert first.exit_code == 0, first.output
    assert "trained 'cli': 1/1 epochs" in first.output
    assert (out / "cli.keras").is_file()
    state = json.loads((out / "cli_train_state.json").read_text())
    assert state["config"]["model"]["alpha"] == 0.25 and state["config"]["frontend"]["n_fft"] == 128

    again = run(str(tiny_shards), "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output
    assert "1/1 epochs" in again.output

    refused = run(str(tiny_shards), "--out", str(out), "--name", "cli", *TINY)
    assert refused.exit_code == 2 and "already holds a run named 'cli'" in refused.output


def test_a_run_without_batch_or_warm_up_says_once_what_it_chose_and_saves_that(tiny_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    at = TINY.index("--batch-size")
    options = TINY[:at] + TINY[at + 2 :]
    result = run(str(tiny_shards), "--out", str(out), "--name", "auto", "--epochs", "1", *options)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    samples = manifest["splits"]["train"]["samples"]
    batch = min(16, samples)  # a tiny split: the smallest automatic batch, never above the split
    line = f"batch {batch}, 1 epochs ({samples // batch} steps), warm-up 0.05 epochs: chosen for {samples} training samples (given: epochs)"
    assert result.output.count(line) == 1, result.output
    for saved in (json.loads((out / "auto_train_state.json").read_text())["config"], json.loads((out / "auto_model_config.json").read_text())["train"]):
        assert (saved["batch_size"], saved["epochs"], saved["warmup_epochs"]) == (batch, 1, 0.05)
    again = run(str(tiny_shards), "--out", str(out), "--resume")  # the saved, chosen values are the run's
    assert again.exit_code == 0 and "1/1 epochs" in again.output and line not in again.output, again.output


def test_resume_takes_only_the_run_name(tiny_shards: Path, tmp_path: Path) -> None:
    refused = run(str(tiny_shards), "--out", str(tmp_path), "--resume", "--alpha", "0.5")
    assert refused.exit_code == 2 and "pass only --out (and --name), not ['alpha']" in refused.output


@pytest.mark.slow
def test_a_deferred_run_resumes_in_a_new_process_by_name(tiny_shards: Path, tmp_path: Path) -> None:
    """The checkpoint holds the frontend layer; a fresh process must be able to load it."""
    import subprocess
    import sys

    from helpers.training import tiny_config

    from shardkit.train.runner import train

    train(str(tiny_shards), str(tmp_path), tiny_config(name="a", epochs=1, placement="deferred"))
    train(str(tiny_shards), str(tmp_path), tiny_config(name="b", epochs=1))
    state = json.loads((tmp_path / "a_train_state.json").read_text())
    state["config"]["epochs"], state["finished"] = 2, False  # as if stopped after epoch 1 of 2
    (tmp_path / "a_train_state.json").write_text(json.dumps(state))

    ambiguous = run(str(tiny_shards), "--out", str(tmp_path), "--resume")
    assert ambiguous.exit_code == 2 and "holds several runs ['a', 'b']; pass --name" in ambiguous.output
    done = subprocess.run(
        [sys.executable, "-m", "shardkit", "train", str(tiny_shards), "--out", str(tmp_path), "--resume", "--name", "a", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 'a': 2/2 epochs" in done.stdout
