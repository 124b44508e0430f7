"""A pipeline file (TOML): where things go, and one table of settings per stage.

```toml
[pipeline]
name = "birds"                    # artifact prefix of the model
input = "recordings/"             # INPUT of the build (a local folder or a URL: s3://bucket/raw)
work = "s3://bucket/birds"        # every stage's output under here: shards/, model/, qat/, int8/, eval/
demo_corpus = false               # generate the demo corpus into `input` when it is missing

[build]      # BuildConfig fields (threshold_db for the salience detector; executor, scheduler;
             # teacher, teacher_labels, teacher_rate, teacher_map, teacher_outputs, teacher_candidates,
             # teacher_weight, teacher_min_prob, teacher_embeddings as the --teacher options)
[train]      # `shardkit train` options, flat names (alpha, epochs, n_mels, ...)
[qat]        # QATConfig fields (enabled = false: convert the trained model directly)
[convert]    # ConvertConfig fields, calibration_split / calibration_samples / seed flat
[evaluate]   # split
```

Parsing checks names only; each stage's own config checks the values before it runs. Every
key of every table, with its type, default and meaning: pipelines/README.md (generated from
the configs by `shardkit.pipeline.keys`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from shardkit.checks import DictConfig, check, check_needs
from shardkit.errors import ConfigError

#: stages in the order they run
STAGES = ("build", "train", "qat", "convert", "evaluate")
PIPELINE_KEYS = {"name", "input", "work", "demo_corpus"}


@dataclass(frozen=True)
class PipelineConfig(DictConfig):
    """A parsed pipeline file.

    Attributes:
        name: the model's artifact prefix (``<name>.keras``, ``<name>_int8.tflite`` ...).
        input: the build's INPUT, a local folder or any fsspec URL of ``<class>/**/<recording>``.
        work: where every stage writes (a local folder or ``s3://``): shards/, model/, qat/, int8/, eval/ and the stamps in _pipeline/.
        demo_corpus: generate the demo's synthetic corpus into ``input`` when that folder is missing.
        stages: each stage's table, by stage.
        source: the file's path, for messages.
    """

    name: str
    input: str
    work: str
    demo_corpus: bool = False
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = f"of {self.source!r}"
        check_needs("[pipeline]", [(where, isinstance(value, str) and bool(value), f'{key} = "..."', repr(value)) for key, value in self._places()])
        check("", [("stages", self.stages, lambda v: set(v) <= set(STAGES), f"tables among {list(STAGES)}")])
        for name, table in self.stages.items():
            if "enabled" in table and (name != "qat" or not isinstance(table["enabled"], bool)):
                raise ConfigError(f"[{name}] {where}: only [qat] takes enabled, as true or false; got enabled = {table['enabled']!r}")

    def _places(self) -> list[tuple[str, Any]]:
        return [("name", self.name), ("input", self.input), ("work", self.work)]

    CONFIG_NAME = "pipeline config"

    def settings(self, stage: str) -> dict[str, Any]:
        """The stage's table (empty when the file has none)."""
        return dict(self.stages.get(stage, {}))

    def enabled(self, stage: str) -> bool:
        """Every stage runs unless its table says ``enabled = false`` (only ``qat`` may)."""
        return bool(self.stages.get(stage, {}).get("enabled", True))

    def url(self, folder: str) -> str:
        """``work/folder``."""
        return f"{self.work.rstrip('/')}/{folder}"


def parse_pipeline(text: str, source: str = "<pipeline>") -> PipelineConfig:
    """Parse pipeline TOML.

    Raises:
        ConfigError: not TOML, an unknown table or key in ``[pipeline]``, a missing
            name/input/work, or a stage other than qat disabled.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"pipeline file {source!r} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"pipeline", *STAGES})
    if unknown:
        raise ConfigError(f"pipeline file {source!r} has unknown tables {unknown}; allowed: {['pipeline', *STAGES]}")
    head = data.get("pipeline", {})
    extra = sorted(set(head) - PIPELINE_KEYS)
    if extra:
        raise ConfigError(f"[pipeline] of {source!r} has unknown keys {extra}; allowed: {sorted(PIPELINE_KEYS)}")
    stages = {name: dict(data.get(name, {})) for name in STAGES}
    return PipelineConfig(
        name=head.get("name"), input=head.get("input"), work=head.get("work"), demo_corpus=bool(head.get("demo_corpus", False)), stages=stages, source=source
    )


def load_pipeline(path: str) -> PipelineConfig:
    """Read and parse a pipeline file.

    Raises:
        ConfigError: unreadable or invalid.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline file {path!r}: {exc}") from exc
    return parse_pipeline(text, path)
