"""`shardkit demo` runs the packaged demo pipeline file: the same settings as `shardkit pipeline run` on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import shardkit.audio.synthetic as synthetic
import shardkit.pipeline.runner as runner
from shardkit.cli import cli
from shardkit.demo.run import demo_pipeline, demo_pipeline_file
from shardkit.errors import ConfigError
from shardkit.pipeline.config import STAGES, load_pipeline, parse_pipeline

ROOT = Path(__file__).resolve().parents[2]
#: a corpus generated in a second: one recording per class, no noise files
TINY_CORPUS = synthetic.DemoCorpusConfig(files_per_class=1, noise_files=0, min_duration_s=8.0, max_duration_s=8.0)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict, dict]]:
    """Every stage the pipeline runs records ``(stage, its pipeline head, its settings)`` instead of working."""
    calls: list[tuple[str, dict, dict]] = []

    def recorder(stage: str):
        def run(config, settings: dict, storage: dict) -> dict[str, str]:
            calls.append((stage, {"name": config.name, "demo_corpus": config.demo_corpus}, settings))
            return {}

        return run

    monkeypatch.setattr(runner, "STAGE_RUNNERS", {stage: recorder(stage) for stage in STAGES})
    monkeypatch.setattr(synthetic, "DEMO_CORPUS", TINY_CORPUS)
    return calls


def test_pipelines_demo_toml_is_the_packaged_file_not_a_copy():
    assert os.path.samefile(ROOT / "pipelines" / "demo.toml", str(demo_pipeline_file()))
    assert demo_pipeline().stages == load_pipeline(str(ROOT / "pipelines" / "demo.toml")).stages


def test_demo_options_override_only_their_settings(tmp_path: Path):
    packaged, demo = demo_pipeline(), demo_pipeline(str(tmp_path), workers=1, epochs=1)
    assert (demo.input, demo.work) == (os.path.join(tmp_path, "corpus"), str(tmp_path))
    assert demo.stages == {**packaged.stages, "build": {**packaged.settings("build"), "workers": 1}, "train": {**packaged.settings("train"), "epochs": 1}}
    assert (demo.name, demo.demo_corpus) == (packaged.name, packaged.demo_corpus) == ("demo", True)


def test_shardkit_demo_and_pipeline_run_of_the_packaged_file_use_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded: list[tuple[str, dict, dict]]
):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    by_demo = {stage: (head, settings) for stage, head, settings in recorded}
    recorded.clear()
    monkeypatch.chdir(tmp_path)  # the file's own input and work are relative: demo-pipeline/
    result = CliRunner().invoke(cli, ["pipeline", "run", str(demo_pipeline_file())])
    assert result.exit_code == 0, result.output
    by_pipeline = {stage: (head, settings) for stage, head, settings in recorded}

    assert list(by_demo) == list(by_pipeline) == list(STAGES)
    assert by_demo["build"] == (by_pipeline["build"][0], {**by_pipeline["build"][1], "workers": 1})
    assert by_demo["train"] == (by_pipeline["train"][0], {**by_pipeline["train"][1], "epochs": 1})
    for stage in ("qat", "convert", "evaluate"):
        assert by_demo[stage] == by_pipeline[stage], stage
    assert by_pipeline["convert"][1]["compare_ptq"] is True  # the demo's table needs the model without QAT converted too
    truth = [(tmp_path / where / "truth.json").read_text() for where in ("demo/corpus", "demo-pipeline/corpus")]
    assert truth[0] == truth[1], "the same demo corpus"


def test_demo_without_training_runs_the_build_stage_only(tmp_path: Path, recorded: list[tuple[str, dict, dict]]):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "a"), "--no-train"])
    assert result.exit_code == 0, result.output
    assert [stage for stage, _, _ in recorded] == ["build"]
    recorded.clear()
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "b"), "--no-export"])
    assert result.exit_code == 0, result.output
    assert [stage for stage, _, _ in recorded] == ["build", "train"]


def test_compare_ptq_must_be_a_bool():
    text = "[pipeline]\nname='x'\ninput='in'\nwork='w'\n[convert]\ncompare_ptq = 'yes'\n"
    with pytest.raises(ConfigError, match=r"\[convert\] compare_ptq of 'p.toml' must be true or false; got 'yes'"):
        runner.check_pipeline(parse_pipeline(text, "p.toml"))
