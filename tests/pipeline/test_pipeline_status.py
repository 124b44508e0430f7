"""`shardkit pipeline status` and `run --dry-run`: one verdict per stage, the one `run` acts on, for every reason."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.pipelines import FAKE, use_fake_stages

from shardkit.cli import cli
from shardkit.pipeline.config import STAGES, load_pipeline
from shardkit.pipeline.runner import run_pipeline
from shardkit.pipeline.state import NO_CHECKSUMS, plan_pipeline

UP = ("up to date", "")


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake pipeline (every stage instant) that has run once; its file."""
    use_fake_stages(monkeypatch)
    corpus = tmp_path / "corpus"
    for name in ("alpha/a.flac", "beta/b.flac"):
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes(name.encode() * 10)
    path = tmp_path / "fake.toml"
    path.write_text(FAKE.format(input=corpus, work=tmp_path / "work"))
    assert [r.status for r in run_pipeline(load_pipeline(str(path)))] == ["ran"] * 5
    return path


def _verdicts(path: Path, **kwargs) -> dict[str, tuple[str, str]]:
    return {v.stage: (v.label, v.reason) for v in plan_pipeline(load_pipeline(str(path)), **kwargs)}


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_settings(path: Path) -> None:
    path.write_text(path.read_text().replace("[qat]\nepochs = 1", "[qat]\nepochs = 3"))


def _touch_input(path: Path) -> None:
    source = path.parent / "corpus" / "alpha" / "a.flac"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))


def _delete_output(path: Path) -> None:
    (path.parent / "work" / "model" / "fake.keras").unlink()


def _modify_output(path: Path) -> None:
    _flip_a_byte(path.parent / "work" / "int8" / "fake_int8.tflite")


def _modify_shard(path: Path) -> None:
    _flip_a_byte(path.parent / "work" / "shards" / "train-000000.tar")


def _rerun_upstream(path: Path) -> None:
    run_pipeline(load_pipeline(str(path)), from_stage="train", until="train")


def _forget_a_run(path: Path) -> None:
    (path.parent / "work" / "_pipeline" / "evaluate.json").unlink()


def _disable_qat(path: Path) -> None:
    path.write_text(path.read_text().replace("[qat]\n", "[qat]\nenabled = false\n"))


RERUN = ("would rerun", "upstream reran")
CASES: dict[str, tuple[Callable[[Path], None], dict[str, tuple[str, str]]]] = {
    "settings changed": (_edit_settings, {"build": UP, "train": UP, "qat": ("would rerun", "settings changed"), "convert": RERUN, "evaluate": RERUN}),
    "input changed": (_touch_input, {"build": ("would rerun", "input changed"), "train": RERUN, "qat": RERUN, "convert": RERUN, "evaluate": RERUN}),
    "output missing": (_delete_output, {"build": UP, "train": ("would rerun", "output missing"), "qat": RERUN, "convert": RERUN, "evaluate": RERUN}),
    "output changed": (_modify_output, {"build": UP, "train": UP, "qat": UP, "convert": ("would rerun", "output changed"), "evaluate": RERUN}),
    "shard changed": (_modify_shard, {"build": ("would rerun", "output changed"), "train": RERUN, "qat": RERUN, "convert": RERUN, "evaluate": RERUN}),
    "upstream reran": (_rerun_upstream, {"build": UP, "train": UP, "qat": RERUN, "convert": RERUN, "evaluate": RERUN}),
    "never ran": (_forget_a_run, {"build": UP, "train": UP, "qat": UP, "convert": UP, "evaluate": ("would rerun", "never ran")}),
    "disabled": (
        _disable_qat,
        {"build": UP, "train": UP, "qat": ("disabled", "disabled"), "convert": ("would rerun", "settings changed"), "evaluate": RERUN},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_status_names_the_reason_and_run_does_what_status_said(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    assert _verdicts(path) == dict.fromkeys(STAGES, UP)
    change, expected = CASES[case]
    change(path)
    verdicts = _verdicts(path)
    assert verdicts == expected
    ran = {r.stage: r.status for r in run_pipeline(load_pipeline(str(path)))}
    assert ran == {stage: {"would rerun": "ran", "up to date": "skipped", "disabled": "disabled"}[label] for stage, (label, _) in verdicts.items()}
    assert {stage: label for stage, (label, _) in _verdicts(path).items()} == {
        stage: "disabled" if label == "disabled" else "up to date" for stage, (label, _) in verdicts.items()
    }


def test_from_reruns_that_stage_and_every_later_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    forced = ("would rerun", "asked to rerun (--from)")
    assert _verdicts(path, from_stage="convert") == {"build": UP, "train": UP, "qat": UP, "convert": forced, "evaluate": forced}
    assert [r.status for r in run_pipeline(load_pipeline(str(path)), from_stage="convert")] == ["skipped"] * 3 + ["ran"] * 2


def test_a_touched_output_with_the_same_bytes_is_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    for relative in ("int8/fake_int8.tflite", "shards/train-000000.tar"):
        output = tmp_path / "work" / relative
        os.utime(output, ns=(output.stat().st_atime_ns, output.stat().st_mtime_ns + 10**9))  # hashed again, found equal
    assert _verdicts(path) == dict.fromkeys(STAGES, UP)


def test_a_same_size_edit_with_the_old_mtime_restored_is_not_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The documented limit of the cheap check: size and modification time equal, the file is not read."""
    path = _setup(tmp_path, monkeypatch)
    output = tmp_path / "work" / "int8" / "fake_int8.tflite"
    stat = output.stat()
    _flip_a_byte(output)
    os.utime(output, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _verdicts(path)["convert"] == UP


def test_a_stamp_without_checksums_is_trusted_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    for stage in STAGES:  # stamps as the runner wrote them before checksums
        stamp_path = tmp_path / "work" / "_pipeline" / f"{stage}.json"
        stamp = json.loads(stamp_path.read_text())
        stamp_path.write_text(json.dumps({k: stamp[k] for k in ("stage", "fingerprint", "settings", "outputs", "seconds")}))
    _modify_output(path)
    verdicts = plan_pipeline(load_pipeline(str(path)))
    assert [(v.label, v.note) for v in verdicts] == [("up to date", NO_CHECKSUMS)] * 5
    assert [r.status for r in run_pipeline(load_pipeline(str(path)))] == ["skipped"] * 5
    result = CliRunner().invoke(cli, ["pipeline", "status", str(path)])
    assert result.exit_code == 0 and "convert: up to date   (no checksums recorded)" in result.output, result.output


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: (size, mtime_ns)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            stat = os.stat(os.path.join(root, name))
            found[os.path.relpath(os.path.join(root, name), folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    _edit_settings(path)
    _delete_output(path)
    before = _snapshot(tmp_path / "work")
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "the plan (nothing is run)" in result.output
    assert "    train: would rerun  output missing" in result.output and "      qat: would rerun  settings changed: epochs" in result.output
    assert "build: up to date" in result.output and "evaluate: would rerun  upstream reran" in result.output
    assert _snapshot(tmp_path / "work") == before
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path), "--dry-run", "--from", "build"])
    assert result.exit_code == 0 and result.output.count("asked to rerun (--from)") == 5
    assert _snapshot(tmp_path / "work") == before


def test_dry_run_of_a_pipeline_that_never_ran_creates_no_work_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake_stages(monkeypatch)
    path = tmp_path / "fake.toml"
    path.write_text(FAKE.format(input=tmp_path, work=tmp_path / "work"))
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path), "--dry-run"])
    assert result.exit_code == 0 and result.output.count("would rerun  never ran") == 5, result.output
    assert not (tmp_path / "work").exists()


def test_status_prints_the_last_runs_key_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _setup(tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["pipeline", "status", str(path)])
    assert result.exit_code == 0, result.output
    assert "build: up to date\n           last run: samples 5; samples by split train 2, val 3" in result.output
    assert "best epoch 2; best val ROC-AUC 0.8750" in result.output
    assert "float → INT8 ROC-AUC drop 0.0250; gates passed" in result.output
    assert "split val; ROC-AUC 0.8121; cmAP 0.7012" in result.output
    data = json.loads(CliRunner().invoke(cli, ["pipeline", "status", str(path), "--json"]).output)
    rows = {row["stage"]: row for row in data["stages"]}
    assert rows["build"]["metrics"]["samples"] == 5 and rows["train"]["metrics"]["best_val_roc_auc"] == 0.875
    assert rows["convert"]["metrics"] == {"int8_roc_auc_drop": pytest.approx(0.025), "gates": "passed"}
    assert rows["evaluate"]["metrics"] == {"split": "val", "roc_auc": 0.8121, "cmap": 0.7012}
    assert {row["verdict"] for row in rows.values()} == {"up to date"}
    report = tmp_path / "work" / "int8" / "fake_convert.json"  # a conversion whose gates failed
    report.write_text(json.dumps({**json.loads(report.read_text()), "passed": False, "gates": {"cosine_p5": {"passed": False}, "n6": {"passed": True}}}))
    assert "gates FAILED (cosine_p5)" in CliRunner().invoke(cli, ["pipeline", "status", str(path)]).output
    _delete_output(path)
    data = json.loads(CliRunner().invoke(cli, ["pipeline", "status", str(path), "--json"]).output)
    assert data["stages"][1]["reason"] == "output missing" and data["stages"][1]["detail"].endswith("fake.keras")


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "cannot read pipeline file"), ("[pipeline\n", "is not valid TOML"), ("[pipeline]\nname='x'\ninput='in'\n", 'needs work = "..."')],
)
def test_a_bad_file_is_one_line_naming_it(text: str | None, message: str, tmp_path: Path):
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    for args in (["status", str(path)], ["run", str(path), "--dry-run"]):
        result = CliRunner().invoke(cli, ["pipeline", *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0] and "bad.toml" in lines[0], result.output


def test_status_and_run_on_a_real_build(tmp_path: Path, small_corpus: Path):
    """The real build stage: its shards are checked against the manifest's SHA-256, and a dry run leaves its lease files alone."""
    path = tmp_path / "p.toml"
    path.write_text(f"[pipeline]\nname='p'\ninput='{small_corpus}'\nwork='{tmp_path / 'work'}'\n[build]\ncodec='pcm16'\n")
    config = load_pipeline(str(path))
    assert [r.status for r in run_pipeline(config, until="build")] == ["ran"]
    manifest = json.loads((tmp_path / "work" / "shards" / "manifest.json").read_text())
    stamp = json.loads((tmp_path / "work" / "_pipeline" / "build.json").read_text())
    shards = [shard for split in manifest["splits"].values() for shard in split["shards"]]
    assert shards and all(stamp["files"][shard["name"]]["sha256"] == shard["sha256"] for shard in shards)
    assert not any(name.startswith("_shardkit/") for name in stamp["files"])
    result = CliRunner().invoke(cli, ["pipeline", "status", str(path)])
    assert result.exit_code == 0, result.output
    assert f"build: up to date\n           last run: samples {sum(s['samples'] for s in manifest['splits'].values())}" in result.output
    assert "train: would rerun  never ran" in result.output
    _flip_a_byte(tmp_path / "work" / "shards" / shards[0]["name"])
    before = _snapshot(tmp_path / "work")
    assert any("_shardkit" in name for name in before), "the build leaves its lease bookkeeping"
    result = CliRunner().invoke(cli, ["pipeline", "run", str(path), "--dry-run"])
    assert f"build: would rerun  output changed: {tmp_path / 'work' / 'shards' / shards[0]['name']} (SHA-256)" in result.output, result.output
    assert _snapshot(tmp_path / "work") == before
    assert [r.status for r in run_pipeline(config, until="build")] == ["ran"]
    assert plan_pipeline(config, until="build")[0].label == "up to date"


def test_a_pipeline_builds_from_an_input_url_and_notices_a_new_object(tmp_path: Path, small_corpus: Path):
    """INPUT on object storage (memory://): the build reads it there, and a new object makes the build rerun."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for path in sorted(small_corpus.rglob("*")):
        if path.is_file():
            fs.pipe(f"/pipeline-raw/{path.relative_to(small_corpus).as_posix()}", path.read_bytes())
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(f"[pipeline]\nname='p'\ninput='memory://pipeline-raw'\nwork='{tmp_path / 'work'}'\n[build]\ncodec='pcm16'\n")
    config = load_pipeline(str(pipeline))
    assert [r.status for r in run_pipeline(config, until="build")] == ["ran"]
    assert plan_pipeline(config, until="build")[0].label == "up to date"
    fs.pipe("/pipeline-raw/alpha/a9.flac", (small_corpus / "alpha" / "a0.flac").read_bytes())
    verdict = plan_pipeline(config, until="build")[0]
    assert (verdict.label, verdict.reason) == ("would rerun", "input changed")
    fs.rm("/pipeline-raw", recursive=True)
