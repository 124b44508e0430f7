"""The N6 deployment bundle beside a promoted ``.tflite``: C frontend, its config header, vectors, manifest.

``<name>_n6_bundle/`` holds `shardkit_frontend_config.h` (the model's spectrogram contract and
INT8 boundaries), the C99 frontend and a host check program (package data in
``firmware/``), ``validation.npz`` and the ``.npy`` arrays ``stedgeai validate`` reads, a
README, and ``bundle.json`` with every file's SHA-256, written last: a bundle without it is
incomplete. Rewriting a bundle deletes its manifest first and, before writing the new one, every
file the new bundle does not have.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from shardkit.audio.frontends import FrontendConfig
from shardkit.errors import ConfigError
from shardkit.export.bundle_readme import readme_text
from shardkit.export.c_header import HEADER_NAME, config_header
from shardkit.export.samples import SampleSet
from shardkit.export.vectors import npy_bytes, npz_bytes, stedgeai_arrays, validation_vectors
from shardkit.storage import Store

#: format id of bundle.json
BUNDLE_FORMAT = "shardkit-n6-bundle/1"
#: the manifest, written last
MANIFEST = "bundle.json"
#: package data copied into every bundle
C_SOURCES = ("shardkit_frontend.h", "shardkit_frontend.c", "shardkit_frontend_check.c")
#: the default number of validation vectors
DEFAULT_VECTORS = 16
#: what the checks in the README hold the deployed parts to
TOLERANCES = {
    "frontend_max_abs": 1e-3,
    "int8_input_lsb": 1,
    "int8_output_lsb": 1,
    "target_vs_float_cosine_min": 0.99,
    "target_vs_float_mae_max": 1.0 / 256.0,
}


class BundleError(ConfigError):
    """A bundle is incomplete or one of its files differs from its manifest."""


@dataclass(frozen=True)
class ModelOutputs:
    """A converted model and what it and its float source computed on the gate samples."""

    name: str
    content: bytes
    classes: tuple[str, ...]
    boundaries: dict
    samples: SampleSet | None = None
    float_scores: np.ndarray | None = None
    int8_scores: np.ndarray | None = None


def bundle_folder(tflite_name: str) -> str:
    """``<stem>_n6_bundle`` for ``<stem>.tflite``."""
    return f"{tflite_name.removesuffix('.tflite')}_n6_bundle"


def firmware_source(name: str) -> bytes:
    """One of the packaged C files (`C_SOURCES`)."""
    return resources.files("shardkit.export.firmware").joinpath(name).read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_files(model: ModelOutputs, frontend: FrontendConfig, vectors: int) -> tuple[dict[str, bytes], int]:
    """Every file of the bundle but its manifest (name → content), and the number of vectors."""
    files = {HEADER_NAME: config_header(frontend, model.classes, model.boundaries, model.name).encode()}
    files.update({name: firmware_source(name) for name in C_SOURCES})
    count = 0
    if vectors and model.samples is not None and len(model.samples):
        arrays = validation_vectors(model.samples, model.float_scores, model.int8_scores, model.boundaries, vectors)
        count = len(arrays["keys"])
        files["validation.npz"] = npz_bytes(arrays)
        files.update({name: npy_bytes(array) for name, array in stedgeai_arrays(arrays, model.boundaries).items()})
    files["README.md"] = readme_text(model.name, frontend, model.boundaries, sorted(files), count, TOLERANCES).encode()
    return files, count


def write_bundle(store: Store, model: ModelOutputs, frontend: FrontendConfig, vectors: int = DEFAULT_VECTORS) -> dict:
    """Write ``<stem>_n6_bundle/`` beside the model in ``store``; the manifest last.

    Args:
        store: where the ``.tflite`` is (local, ``s3://``, ...).
        model: the converted model, its classes and INT8 boundaries, and (for vectors) the
            gate samples with audio and both models' scores on them.
        frontend: the model's spectrogram contract.
        vectors: the most validation vectors (0: none).

    Returns:
        The manifest, with ``location``: where the bundle is.
    """
    folder = bundle_folder(model.name)
    store.delete(f"{folder}/{MANIFEST}")  # a bundle being rewritten is incomplete until its new manifest
    files, count = bundle_files(model, frontend, vectors)
    for name, content in files.items():
        store.write_bytes(f"{folder}/{name}", content)
    for stale in set(store.listdir(folder)) - {f"{folder}/{name}" for name in files}:
        store.delete(stale)  # an earlier bundle's file (vectors of a run with more) must not sit in this one
    manifest = {
        "format": BUNDLE_FORMAT,
        "model": {"name": model.name, "sha256": _sha256(model.content), "bytes": len(model.content)},
        "contract_version": frontend.contract_version,
        "frontend": frontend.to_dict(),
        "classes": list(model.classes),
        "quantization": model.boundaries,
        "vectors": count,
        "tolerances": TOLERANCES,
        "files": {name: {"sha256": _sha256(content), "bytes": len(content)} for name, content in sorted(files.items())},
    }
    store.write_json(f"{folder}/{MANIFEST}", manifest)
    return {**manifest, "location": store.location(folder)}


def read_bundle(location: str, storage_options: dict[str, Any] | None = None, require_model: bool = True) -> dict:
    """Read a bundle's manifest and check every file it lists and the model beside it.

    Args:
        location: the bundle folder (local, ``s3://``, ...).
        storage_options: fsspec options for it.
        require_model: refuse a bundle without its ``.tflite`` beside it (False: check the
            model only when it is there, for a bundle copied on its own).

    Returns:
        The manifest.

    Raises:
        BundleError: no manifest (incomplete bundle), a malformed one, an unknown format, a
            missing or changed file, or a missing or different model, named.
    """
    store = Store(location, storage_options or {})
    if not store.exists(MANIFEST):
        raise BundleError(f"{location!r} is not a complete bundle: it has no {MANIFEST} (written last)")
    manifest = _read_manifest(store, location)
    for name, entry in manifest["files"].items():
        if not store.exists(name):
            raise BundleError(f"bundle file {name!r} is missing from {location!r}")
        digest = _sha256(store.read_bytes(name))
        if digest != entry["sha256"]:
            raise BundleError(f"bundle file {name!r} in {location!r} changed: sha256 {digest[:16]}…, {MANIFEST} says {entry['sha256'][:16]}…")
    parent_location = posixpath.dirname(location.rstrip("/")) or "."
    parent = Store(parent_location, storage_options or {})
    model = manifest["model"]
    if not parent.exists(model["name"]):
        if require_model:
            raise BundleError(f"the model {model['name']!r} the bundle was made for is not beside it in {parent_location!r} (never promoted, or moved)")
        return manifest
    digest = _sha256(parent.read_bytes(model["name"]))
    if digest != model["sha256"]:
        raise BundleError(
            f"the model {model['name']!r} beside {location!r} is not the one the bundle was made for: sha256 {digest[:16]}…, {MANIFEST} says {model['sha256'][:16]}…"
        )
    return manifest


#: what a manifest must hold for read_bundle to check it: key → type
MANIFEST_KEYS = {"files": dict, "model": dict}


def _read_manifest(store: Store, location: str) -> dict:
    """The bundle's manifest, its format and the keys read_bundle uses checked (BundleError naming what is wrong)."""
    where = f"{MANIFEST} in {location!r}"
    try:
        manifest = json.loads(store.read_bytes(MANIFEST))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: not a JSON object; got {type(manifest).__name__}")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{MANIFEST} format must be {BUNDLE_FORMAT!r}; got {manifest.get('format')!r} in {location!r}")
    for key, kind in MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            raise BundleError(f"{where}: has no {key!r} {kind.__name__}; got {manifest.get(key)!r}")
    return manifest
