"""pipelines/README.md lists every key of every table, as the code accepts them, with type, default and meaning."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from shardkit.errors import ConfigError
from shardkit.pipeline.config import PIPELINE_KEYS, STAGES, parse_pipeline
from shardkit.pipeline.keys import format_key_tables, table_keys
from shardkit.pipeline.runner import STAGE_CHECKS

README = Path(__file__).resolve().parents[2] / "pipelines" / "README.md"
HEAD = "[pipeline]\nname = 'x'\ninput = 'in'\nwork = 'w'\n"


def _readme_tables() -> str:
    text = README.read_text()
    return text[text.index("<!-- keys: begin -->\n") + len("<!-- keys: begin -->\n") : text.index("<!-- keys: end -->")]


def test_the_readme_lists_every_key_as_the_code_does():
    assert _readme_tables() == format_key_tables(), (
        "pipelines/README.md's key tables drifted from the code; paste the output of "
        "`python -c 'from shardkit.pipeline.keys import format_key_tables; print(format_key_tables(), end=\"\")'` between its keys markers"
    )


def test_the_readme_tables_are_read_back_as_keys():
    """The rows a person reads: one per key, a table per stage, each with a type, a default and a meaning."""
    rows = re.findall(r"^\| `(\w+)` \| `[^`]+` \| ([^|]+) \| (.+) \|$", _readme_tables(), flags=re.M)
    assert len(rows) == sum(len(keys) for keys in table_keys().values())
    assert all(default.strip() and meaning.strip() for _, default, meaning in rows)
    assert re.findall(r"^### \[(\w+)\]$", _readme_tables(), flags=re.M) == ["pipeline", *STAGES]


def test_every_key_has_a_meaning_and_no_key_is_listed_twice():
    for table, keys in table_keys().items():
        names = [key.name for key in keys]
        assert len(names) == len(set(names)), f"[{table}] lists a key twice: {names}"
        assert all(key.meaning and key.type and key.default for key in keys), table
    assert {key.name for key in table_keys()["pipeline"]} == PIPELINE_KEYS


def _toml_value(default: str):
    try:
        return tomllib.loads(f"v = {default}")["v"]
    except tomllib.TOMLDecodeError:
        return None  # unset, required, or a default that depends on something else


@pytest.mark.parametrize("stage", STAGES)
def test_every_listed_key_is_one_the_stage_accepts(stage: str):
    """Each key at its listed default: the stage's check knows it (it may refuse a value or a combination, never the name)."""
    for key in table_keys()[stage]:
        value = _toml_value(key.default)
        if value is None:
            value = {"str": "x", "int": 1, "float": 1.0, "bool": True}.get(key.type.split(" ")[0], "x")
        text = HEAD + f"[{stage}]\n{key.name} = {value!r}\n".replace("True", "true").replace("False", "false")
        if key.name.startswith("teacher_") and stage == "build":  # the teacher's keys are read only beside a teacher
            text += "teacher = 'missing.tflite'\n"
        try:
            STAGE_CHECKS[stage](parse_pipeline(text, "p.toml"))
        except ConfigError as exc:
            message = str(exc)
            assert "unknown" not in message and "unexpected keyword" not in message, f"[{stage}] {key.name}: {message}"
        except FileNotFoundError:
            assert key.name in ("teacher", "teacher_labels", "teacher_map"), key.name


@pytest.mark.parametrize("stage", STAGES)
def test_a_key_not_listed_is_refused(stage: str):
    with pytest.raises(ConfigError, match="not_a_key"):
        STAGE_CHECKS[stage](parse_pipeline(HEAD + f"[{stage}]\nnot_a_key = 1\n", "p.toml"))


def test_every_field_of_the_stage_configs_is_listed():
    """The converse: what the stages' configs take from their tables, by field name, is in the README."""
    from shardkit.export.config import ConvertConfig, QATConfig
    from shardkit.ingest.config import BuildConfig
    from shardkit.model.config import ModelConfig
    from shardkit.train.config import TrainConfig

    listed = {table: {key.name for key in keys} for table, keys in table_keys().items()}
    nested = {"salience", "teacher", "calibration", "frontend", "model", "augment", "mixup", "spec_augment", "name"}
    for table, classes in (("build", [BuildConfig]), ("train", [TrainConfig, ModelConfig]), ("qat", [QATConfig]), ("convert", [ConvertConfig])):
        fields = {f.name for cls in classes for f in dataclasses.fields(cls)} - nested
        assert fields <= listed[table], f"[{table}] fields missing from the README: {sorted(fields - listed[table])}"


def test_train_takes_no_name_of_its_own():
    with pytest.raises(ConfigError, match=r"\[train\] of 'p.toml' takes no name"):
        STAGE_CHECKS["train"](parse_pipeline(HEAD + "[train]\nname = 'other'\n", "p.toml"))
