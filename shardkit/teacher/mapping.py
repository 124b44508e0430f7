"""Project classes → teacher labels: by scientific or common name, then a mapping file for the rest.

A BirdNET label reads ``Scientific name_Common Name``. A class folder matches a label when it
equals the scientific name, the common name or the whole label, ignoring case, spaces,
underscores and hyphens (``turdus_merula``, ``Eurasian Blackbird`` and ``eurasian-blackbird``
all match ``Turdus merula_Eurasian Blackbird``). A mapping file (CSV ``class,teacher_label``)
maps what the names do not; an empty teacher label there marks a class as unmapped on purpose.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass

from shardkit.errors import ConfigError


def normalise(name: str) -> str:
    """Lower case without spaces, underscores or hyphens."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


def label_keys(label: str) -> set[str]:
    """The normalised names a teacher label answers to: the whole label and each ``_``-separated part."""
    parts = label.split("_", 1) if "_" in label else [label]
    return {normalise(label), *(normalise(part) for part in parts if part.strip())}


@dataclass(frozen=True)
class Mapping:
    """A resolved mapping: class → label (None: unmapped), and how each was found."""

    labels: dict[str, str | None]
    how: dict[str, str]

    @property
    def unmapped(self) -> list[str]:
        """Classes without a teacher label."""
        return sorted(name for name, label in self.labels.items() if label is None)


def read_mapping_file(path: str) -> dict[str, str | None]:
    """A mapping CSV: ``class,teacher_label`` rows (a header row ``class,...`` is skipped).

    Raises:
        ConfigError: the file is missing or a row does not have two columns.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError as exc:
        raise ConfigError(f"--teacher-map {path!r}: no such file") from exc
    mapping: dict[str, str | None] = {}
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and normalise(row[0]) == "class":
            continue
        if len(row) != 2:
            raise ConfigError(f"--teacher-map {path!r} line {number}: a row must be 'class,teacher_label'; got {row!r}")
        mapping[row[0].strip()] = row[1].strip() or None
    return mapping


def map_classes(classes: Iterable[str], teacher_labels: list[str], mapping_file: dict[str, str | None] | None = None) -> Mapping:
    """Match each class to one teacher label.

    The mapping file wins over name matching; its teacher labels may themselves be given by
    scientific or common name. A class whose name matches several labels is left unmapped
    (ambiguous), with the candidates named in ``how``.

    Raises:
        ConfigError: the mapping file names a class that is not in the build, or a label the
            teacher does not have.
    """
    classes = sorted(classes)
    by_key: dict[str, list[str]] = {}
    for label in teacher_labels:
        for key in label_keys(label):
            by_key.setdefault(key, []).append(label)
    mapping_file = mapping_file or {}
    unknown = sorted(set(mapping_file) - set(classes))
    if unknown:
        raise ConfigError(f"--teacher-map names classes {unknown} that are not class folders of this build; classes: {classes}")
    labels: dict[str, str | None] = {}
    how: dict[str, str] = {}
    for name in classes:
        if name in mapping_file:
            wanted = mapping_file[name]
            if wanted is None:
                labels[name], how[name] = None, "unmapped in the mapping file"
                continue
            found = sorted(set(by_key.get(normalise(wanted), [])))
            if len(found) != 1:
                problem = "no teacher label" if not found else f"{len(found)} teacher labels ({found[:3]})"
                raise ConfigError(f"--teacher-map maps {name!r} to {wanted!r}, which matches {problem}")
            labels[name], how[name] = found[0], "mapping file"
            continue
        found = sorted(set(by_key.get(normalise(name), [])))
        if len(found) == 1:
            labels[name], how[name] = found[0], "name"
        else:
            labels[name] = None
            how[name] = "no teacher label matches the name" if not found else f"ambiguous: {found[:3]}"
    return Mapping(labels, how)
