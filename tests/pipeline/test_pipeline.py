"""`shardkit pipeline run`: stages run in order, skip when up to date, rerun downstream of a change."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.pipelines import TINY

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.pipeline.config import STAGES, load_pipeline, parse_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, corpus: Path, qat_epochs: int = 1) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(input=corpus, work=tmp_path / "work", qat_epochs=qat_epochs))
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pipeline]\nname='x'\ninput='in'\n", 'needs work = "..."'),
        ("[pipeline]\nname='x'\ninput='in'\nwork='w'\n[deploy]\n", "unknown tables ['deploy']"),
        ("[pipeline]\nname='x'\ninput='in'\nwork='w'\nworkers=3\n", "unknown keys ['workers']"),
        ("[pipeline]\nname='x'\ninput='in'\nwork='w'\n[train]\nenabled=false\n", "only [qat] takes enabled, as true or false; got enabled = False"),
        ("[pipeline]\nname='x'\ninput='in'\nwork='w'\n[qat]\nenabled='false'\n", "got enabled = 'false'"),
        ("[pipeline\n", "is not valid TOML"),
    ],
)
def test_bad_pipeline_files_are_refused_naming_the_problem(text: str, message: str):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_pipeline(text, "p.toml")


def test_bad_stage_settings_fail_before_any_stage_runs(tmp_path: Path, small_corpus: Path):
    path = tmp_path / "bad.toml"
    path.write_text(f"[pipeline]\nname='x'\ninput='{small_corpus}'\nwork='{tmp_path / 'work'}'\n[train]\nalpha = -1.0\n")
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path)])
    assert result.exit_code == 2 and "alpha" in result.output and "-1.0" in result.output
    assert not (tmp_path / "work").exists()
    path.write_text(f"[pipeline]\nname='x'\ninput='{small_corpus}'\nwork='{tmp_path / 'work'}'\n[build]\nshard_size = 3\n")
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path)])
    assert result.exit_code == 2 and "[build]" in result.output and "shard_size" in result.output
    result = CliRunner().invoke(cli, ["pipeline", "run", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "cannot read pipeline file" in result.output


@pytest.mark.parametrize("name", ["demo.toml", "birdnet-n6.toml", "variable-length.toml"])
def test_shipped_pipelines_are_valid(name: str):
    from shardkit.pipeline.runner import check_pipeline

    config = load_pipeline(str(ROOT / "pipelines" / name))
    check_pipeline(config)
    assert all(config.enabled(stage) for stage in STAGES)


def test_birdnet_recipe_has_birdnet_stm32_defaults():
    train = load_pipeline(str(ROOT / "pipelines" / "birdnet-n6.toml")).settings("train")
    assert (train["sample_rate_hz"], train["chunk_s"], train["n_fft"], train["n_frames"], train["n_mels"]) == (24000, 3.0, 512, 256, 64)


@pytest.mark.slow
def test_pipeline_runs_skips_and_reruns_downstream_of_a_change(tmp_path: Path):
    from factories import make_class_corpus

    from shardkit.pipeline.runner import run_pipeline
    from shardkit.pipeline.state import plan_pipeline

    corpus = make_class_corpus(tmp_path / "corpus")
    path = _write(tmp_path, corpus)

    def status(results: list) -> dict[str, str]:
        """The stages' statuses; what the plan said before the run, checked against what the run did."""
        return {r.stage: r.status for r in results}

    def run(config, **kwargs) -> list:
        planned = {v.stage: v.rerun for v in plan_pipeline(config, kwargs.get("from_stage"))}
        results = run_pipeline(config, **kwargs)
        assert {r.stage: r.status == "ran" for r in results} == planned
        return results

    first = run(load_pipeline(str(path)))
    assert status(first) == dict.fromkeys(STAGES, "ran")
    work = tmp_path / "work"
    for relative in (
        "shards/manifest.json",
        "model/tiny.keras",
        "qat/tiny_qat.keras",
        "int8/tiny_qat_int8.tflite",
        "eval/tiny_qat_int8_eval_val.json",
        "_pipeline/evaluate.json",
    ):
        assert (work / relative).is_file(), relative
    tflite_mtime = (work / "int8" / "tiny_qat_int8.tflite").stat().st_mtime_ns
    shown = json.loads(CliRunner().invoke(cli, ["pipeline", "status", str(path), "--json"]).output)
    metrics = {row["stage"]: row["metrics"] for row in shown["stages"]}
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    assert metrics["build"]["samples"] == sum(split["samples"] for split in manifest["splits"].values()) > 0
    assert 0 <= metrics["train"]["best_val_roc_auc"] <= 1 and metrics["convert"]["gates"] == "passed"
    assert abs(metrics["convert"]["int8_roc_auc_drop"]) < 1 and 0 <= metrics["evaluate"]["roc_auc"] <= 1 and 0 <= metrics["evaluate"]["cmap"] <= 1
    assert {row["verdict"] for row in shown["stages"]} == {"up to date"}

    assert status(run(load_pipeline(str(path)))) == dict.fromkeys(STAGES, "skipped")
    assert (work / "int8" / "tiny_qat_int8.tflite").stat().st_mtime_ns == tflite_mtime

    path = _write(tmp_path, corpus, qat_epochs=2)  # a QAT setting changes: QAT and everything after it rerun
    assert status(run(load_pipeline(str(path)))) == {"build": "skipped", "train": "skipped", "qat": "ran", "convert": "ran", "evaluate": "ran"}

    result = CliRunner().invoke(cli, ["pipeline", "run", str(path), "--from", "convert"])
    assert result.exit_code == 0, result.output
    assert "build: skipped" in result.output and "train: skipped" in result.output
    assert "convert: ran" in result.output and "evaluate: ran" in result.output and "qat: skipped" in result.output

    (work / "model" / "tiny.keras").unlink()  # an output gone: its stage and the ones after it rerun
    assert status(run(load_pipeline(str(path)))) == {"build": "skipped", "train": "ran", "qat": "ran", "convert": "ran", "evaluate": "ran"}

    path.write_text(path.read_text().replace("workers = 2", "workers = 1"))  # where the build runs is not what it makes
    assert status(run(load_pipeline(str(path)))) == dict.fromkeys(STAGES, "skipped")

    extra = corpus / "alpha" / "extra.flac"  # new input: the build extends, downstream reruns
    extra.write_bytes((corpus / "alpha" / sorted(os.listdir(corpus / "alpha"))[0]).read_bytes())
    assert status(run(load_pipeline(str(path)))) == dict.fromkeys(STAGES, "ran")


@pytest.mark.slow
def test_pipeline_with_its_work_on_s3(tmp_path: Path, s3_env: str):
    import s3fs
    from factories import make_class_corpus

    from shardkit.pipeline.runner import run_pipeline

    corpus = make_class_corpus(tmp_path / "corpus")
    text = TINY.format(input=corpus, work=f"s3://{s3_env}/work", qat_epochs=1).replace("[qat]\n", "[qat]\nenabled = false\n")
    path = tmp_path / "s3.toml"
    path.write_text(text)
    first = {r.stage: r.status for r in run_pipeline(load_pipeline(str(path)))}
    assert first == {"build": "ran", "train": "ran", "qat": "disabled", "convert": "ran", "evaluate": "ran"}
    fs = s3fs.S3FileSystem()
    for relative in ("shards/manifest.json", "model/tiny.keras", "int8/tiny_int8.tflite", "eval/tiny_int8_eval_val.json", "_pipeline/convert.json"):
        assert fs.exists(f"{s3_env}/work/{relative}"), relative
    again = {r.stage: r.status for r in run_pipeline(load_pipeline(str(path)))}
    assert again == {"build": "skipped", "train": "skipped", "qat": "disabled", "convert": "skipped", "evaluate": "skipped"}


@pytest.mark.slow
def test_a_variable_length_pipeline_trains_on_buckets_and_deploys_a_fixed_length_int8_model(tmp_path: Path):
    """pipelines/variable-length.toml's chain on the tiny corpus: variable-length shards, bucketed training, QAT, INT8, evaluation."""
    from factories import make_class_corpus

    from shardkit.model.n6 import check_n6
    from shardkit.pipeline.runner import run_pipeline
    from shardkit.train.artifacts import load_model

    corpus = make_class_corpus(tmp_path / "corpus")
    text = TINY.format(input=corpus, work=tmp_path / "work", qat_epochs=1)
    text = text.replace('[build]\ncodec = "pcm16"', '[build]\ncodec = "pcm16"\nvariable_length = true\nmin_segment_s = 0.5\nmax_segment_s = 2.0')
    text = text.replace("[train]\n", '[train]\nbatching = "bucketed"\n')
    path = tmp_path / "variable.toml"
    path.write_text(text)
    results = run_pipeline(load_pipeline(str(path)))
    assert {r.stage: r.status for r in results} == dict.fromkeys(STAGES, "ran")
    work = tmp_path / "work"
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    assert manifest["settings"]["variable_length"] is True
    trained = json.loads((work / "model" / "tiny_model_config.json").read_text())
    assert trained["batching"] == "bucketed" and trained["input"]["shape"] == [64, 32, 1]
    assert check_n6(load_model(str(work / "model" / "tiny.keras"))) == []
    int8 = json.loads((work / "int8" / "tiny_qat_int8_model_config.json").read_text())
    assert int8["batching"] == "bucketed" and int8["quantization"]["scheme"] == "full-int8"
    assert 0 <= json.loads((work / "eval" / "tiny_qat_int8_eval_val.json").read_text())["models"][0]["roc_auc"] <= 1
