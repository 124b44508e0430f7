"""Every key a pipeline file's tables take, with its type, default and meaning, read from the code.

Each stage's table maps onto that stage's config dataclass (plus a few keys the pipeline
handles itself): the names, types and defaults come from the dataclass fields, the meanings
from their docstrings' ``Attributes:`` sections. `format_key_tables` renders them as the
Markdown tables of ``pipelines/README.md``; a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from shardkit.pipeline.config import PIPELINE_KEYS, PipelineConfig


@dataclass(frozen=True)
class Key:
    """One key of a pipeline table.

    Attributes:
        name: the key as written in the file.
        type: its type, as the config declares it.
        default: its value when the file does not give it, as text.
        meaning: one line of what it does.
    """

    name: str
    type: str
    default: str
    meaning: str


#: the order of the [pipeline] keys in the README
PIPELINE_ORDER = ("name", "input", "work", "demo_corpus")
#: defaults that are not a constant
DEFAULT_NOTES = {
    ("build", "workers"): "the CPU count",
    ("train", "sample_rate_hz"): "the shards' sample rate",
    ("qat", "calibration_split"): "[convert]'s, else train",
    ("qat", "calibration_samples"): "[convert]'s, else 200",
    ("qat", "seed"): "[convert]'s, else 0",
}
#: meanings clearer here than in their dataclass's docstring
MEANING_NOTES = {("train", "final_lr_ratio"): "the learning rate at the last step, as a share of ``learning_rate``."}
#: [train] switches that stand for a nested config
TRAIN_SWITCHES = {
    "augment": Key("augment", "bool", "false", "waveform augmentation (noise, gain, time shift …) with its default settings."),
    "spec_augment": Key("spec_augment", "bool", "false", "SpecAugment (frequency and time masks; pipeline placement only), tuned by the mask keys below."),
}


def attribute_docs(cls: type) -> dict[str, str]:
    """``{attribute: its docstring text on one line}`` from a Google-style ``Attributes:`` section."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "Attributes:"), len(lines))
    current = ""
    for line in lines[start:]:
        if line.strip() and not line.startswith(" " * 8):
            break  # the section's end
        match = re.match(r"^ {8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return {name: re.sub(r"\s+", " ", text).strip() for name, text in docs.items()}


def _default(field_: dataclasses.Field) -> str:
    if field_.default is not dataclasses.MISSING:
        return _toml(field_.default)
    if field_.default_factory is not dataclasses.MISSING:
        return _toml(field_.default_factory())
    return "required"


def _toml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def dataclass_keys(table: str, cls: type, names: dict[str, str] | None = None) -> list[Key]:
    """The keys of ``cls``'s fields; ``names`` maps a key to its field when they differ (and limits the keys to those)."""
    docs = attribute_docs(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = names if names is not None else {name: name for name in fields}
    keys = []
    for key, name in names.items():
        field_ = fields[name]
        default = DEFAULT_NOTES.get((table, key)) or _default(field_)
        keys.append(Key(key, str(field_.type), default, MEANING_NOTES.get((table, key)) or docs.get(name, "")))
    return keys


def _fields_except(cls: type, *left_out: str) -> dict[str, str]:
    return {f.name: f.name for f in dataclasses.fields(cls) if f.name not in left_out}


def _pipeline_keys() -> list[Key]:
    return dataclass_keys("pipeline", PipelineConfig, {name: name for name in sorted(PIPELINE_KEYS, key=PIPELINE_ORDER.index)})


def _build_keys() -> list[Key]:
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.salience import SalienceConfig
    from shardkit.teacher.config import TeacherConfig
    from shardkit.teacher.registry import OPTIONS

    execution = [
        Key("executor", "str", '"local"', "where the shard tasks run: local (a process pool), inline or dask; not a content setting."),
        Key("scheduler", "str | None", "unset", "the dask scheduler's address (executor dask); not a content setting."),
    ]
    teacher = [
        Key(
            "teacher", "str | None", "unset", "a pretrained model (a registry name such as birdnet-2.4, or a .tflite path) that re-ranks and labels the chunks."
        ),
        Key("teacher_labels", "str | None", "unset", "the teacher's labels file, one per line (a .tflite teacher only)."),
        Key("teacher_rate", "int | None", "unset", "the sample rate the teacher expects, in Hz (a .tflite teacher only)."),
        Key("teacher_map", "str | None", "unset", "a file mapping each class to a teacher label; unset: classes matched by name."),
    ]
    teacher += [replace_name(key, flat) for flat, name in OPTIONS.items() for key in dataclass_keys("build", TeacherConfig, {name: name})]
    return dataclass_keys("build", BuildConfig, _fields_except(BuildConfig, "salience", "teacher")) + [
        *dataclass_keys("build", SalienceConfig, {"threshold_db": "threshold_db"}),
        *execution,
        *teacher,
    ]


def replace_name(key: Key, name: str) -> Key:
    """``key`` under another name."""
    return dataclasses.replace(key, name=name)


def _train_keys() -> list[Key]:
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.augment.config import MixupConfig, SpecAugmentConfig
    from shardkit.model.config import ModelConfig
    from shardkit.train.config import FRONTEND_OPTIONS, MIXUP_OPTIONS, SPEC_AUGMENT_OPTIONS, TrainConfig

    top = _fields_except(TrainConfig, "name", "frontend", "model", "augment", "mixup", "spec_augment")
    return [
        *dataclass_keys("train", FrontendConfig, FRONTEND_OPTIONS),
        *dataclass_keys("train", ModelConfig),
        *dataclass_keys("train", TrainConfig, top),
        TRAIN_SWITCHES["augment"],
        *dataclass_keys("train", MixupConfig, MIXUP_OPTIONS),
        TRAIN_SWITCHES["spec_augment"],
        *dataclass_keys("train", SpecAugmentConfig, SPEC_AUGMENT_OPTIONS),
    ]


def _calibration_keys(table: str) -> list[Key]:
    from shardkit.export.config import CalibrationConfig

    return dataclass_keys(table, CalibrationConfig, {"calibration_split": "split", "calibration_samples": "samples", "seed": "seed"})


def _qat_keys() -> list[Key]:
    from shardkit.export.config import QATConfig

    enabled = Key("enabled", "bool", "true", "false: no QAT; convert the trained model directly.")
    return [enabled, *dataclass_keys("qat", QATConfig, _fields_except(QATConfig, "calibration", "seed")), *_calibration_keys("qat")]


def _convert_keys() -> list[Key]:
    from shardkit.export.config import ConvertConfig

    compare = Key(
        "compare_ptq",
        "bool",
        "false",
        "with QAT on, also convert the trained model without QAT into int8/, for comparison (its gates never stop the pipeline).",
    )
    return [*dataclass_keys("convert", ConvertConfig, _fields_except(ConvertConfig, "calibration")), *_calibration_keys("convert"), compare]


def _evaluate_keys() -> list[Key]:
    return [Key("split", "str", '"val"', "the split the INT8 model and the model it came from are evaluated on.")]


#: table → function listing its keys
TABLE_KEYS = {"pipeline": _pipeline_keys, "build": _build_keys, "train": _train_keys, "qat": _qat_keys, "convert": _convert_keys, "evaluate": _evaluate_keys}


def table_keys() -> dict[str, list[Key]]:
    """Every table's keys, in the order the README lists them."""
    return {table: keys() for table, keys in TABLE_KEYS.items()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def format_key_tables(tables: dict[str, list[Key]] | None = None) -> str:
    """The tables as Markdown: a heading per table, then one row per key (key, type, default, meaning)."""
    parts = []
    for table, keys in (tables or table_keys()).items():
        rows = [f"### [{table}]", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        rows += [f"| `{k.name}` | `{_cell(k.type)}` | {_cell(k.default)} | {_cell(k.meaning)} |" for k in keys]
        parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"
