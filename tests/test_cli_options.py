"""The shared CLI pieces: "needs TensorFlow" only for a missing TensorFlow; --storage-option parsing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shardkit.cli import cli

#: a module the command imports when it runs, replaced by None in sys.modules (an import that fails for a bug)
BROKEN = {
    "train": "shardkit.train.runner",
    "qat": "shardkit.export.qat",
    "convert": "shardkit.export.convert",
    "evaluate": "shardkit.export.evaluate",
}


def _command_line(command: str, tmp_path: Path) -> list[str]:
    model, shards = tmp_path / "m.keras", tmp_path / "shards"
    model.write_bytes(b"")
    shards.mkdir()
    if command == "train":
        return ["train", str(shards), "--out", str(tmp_path / "out")]
    return [command, str(model), "--shards", str(shards)]


@pytest.mark.parametrize("command", sorted(BROKEN))
def test_a_bug_caused_import_error_is_not_reported_as_missing_tensorflow(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, BROKEN[command], None)
    result = CliRunner().invoke(cli, _command_line(command, tmp_path))
    assert "needs TensorFlow" not in result.output
    assert isinstance(result.exception, ImportError) and result.exception.name == BROKEN[command], result.output


def test_a_bug_caused_import_error_in_a_pipeline_is_not_reported_as_missing_tensorflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shardkit.pipeline.runner

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'shardkit.nowhere'", name="shardkit.nowhere")

    monkeypatch.setattr(shardkit.pipeline.runner, "run_pipeline", broken)
    file = tmp_path / "p.toml"
    file.write_text(f'[pipeline]\nname = "p"\ninput = "{tmp_path / "in"}"\nwork = "{tmp_path / "work"}"\n')
    result = CliRunner().invoke(cli, ["pipeline", "run", str(file)])
    assert "needs TensorFlow" not in result.output
    assert isinstance(result.exception, ImportError) and result.exception.name == "shardkit.nowhere", result.output


#: sitecustomize for a child process in which TensorFlow, Keras and ai-edge-litert are not installed
NOT_INSTALLED = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'ai_edge_litert'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("train", "shardkit train needs TensorFlow; run: pip install 'shardkit[tf]'"),
        ("evaluate", "shardkit evaluate needs TensorFlow and ai-edge-litert; run: pip install 'shardkit[tf]'"),
    ],
)
def test_a_missing_tensorflow_is_reported_with_the_pip_line(command: str, message: str, tmp_path: Path) -> None:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NOT_INSTALLED)
    env = {"PYTHONPATH": f"{guard}:{Path(__file__).parents[1]}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "shardkit", *_command_line(command, tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_missing_module_follows_re_raised_import_errors() -> None:
    from shardkit.cli_options import missing_tensorflow

    assert missing_tensorflow(ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow"))
    assert missing_tensorflow(ImportError("cannot import name 'x' from 'keras.src'", name="keras.src"))
    assert missing_tensorflow(ModuleNotFoundError("No module named 'ai_edge_litert'", name="ai_edge_litert"))
    assert not missing_tensorflow(ModuleNotFoundError("No module named 'shardkit.nowhere'", name="shardkit.nowhere"))
    assert not missing_tensorflow(ImportError("no name"))
    assert not missing_tensorflow(ModuleNotFoundError("No module named 'tensorflowx'", name="tensorflowx"))
    # shardkit.augment re-raises a missing TensorFlow with the pip line (and no module name)
    try:
        try:
            raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
        except ImportError as exc:
            raise ImportError("shardkit.augment needs TensorFlow") from exc
    except ImportError as reraised:
        assert missing_tensorflow(reraised)
    assert not missing_tensorflow(ImportError("shardkit.augment needs TensorFlow"))
