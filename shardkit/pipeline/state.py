"""Whether each pipeline stage is up to date: the one decision that run, status and dry-run share.

A stage's stamp, ``_pipeline/<stage>.json`` under ``work``, is written after the stage succeeds.
It records the stage's settings, its fingerprint (a hash of its settings, of the stage before
it and, for the build, of the INPUT tree), the stage's outputs, a run id, the run id of the
stage it read from, and a checksum of every file in the stage's folder.

`decide` compares a stamp with the pipeline file, the INPUT tree and the stage's folder, and
says ``up to date`` or ``would rerun`` with one reason (`REASONS`). Checksums stay cheap: a
file whose size and modification time match the stamp is not read; a file whose size differs
has changed; only a file with the same size and a new modification time is hashed again. At
record time the build's shards take the SHA-256 their manifest lists, so no shard is read
twice. Files added to a folder by hand are not outputs and are ignored; a stamp from before
checksums were recorded is trusted with a note.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from shardkit.ingest.shards import STATE_DIR
from shardkit.jsonio import dumps
from shardkit.pipeline.config import STAGES, PipelineConfig
from shardkit.storage import Store, filesystem, list_files, object_version

log = logging.getLogger(__name__)

#: [build] keys that say where the work runs, not what it produces: outside the fingerprint
EXECUTION_KEYS = frozenset({"executor", "scheduler", "workers", "lease_ttl_s"})
#: stage → output folder under ``work``
FOLDERS = {"build": "shards", "train": "model", "qat": "qat", "convert": "int8", "evaluate": "eval"}
#: folder of the stamps under ``work``
STAMPS = "_pipeline"
#: folders inside a stage's folder that hold a tool's bookkeeping (the build's lease), not outputs
STATE_FOLDERS = frozenset({STATE_DIR})
#: every reason a stage would rerun, or is left alone ("disabled")
REASONS = ("disabled", "asked to rerun (--from)", "never ran", "settings changed", "input changed", "upstream reran", "output missing", "output changed")
#: what a stage whose stamp has no checksums is told
NO_CHECKSUMS = "no checksums recorded"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Verdict:
    """What `decide` says about one stage.

    Attributes:
        stage: the stage's name.
        rerun: whether the stage would run.
        reason: one of `REASONS` when it would rerun or is disabled; "" when up to date.
        detail: which setting, file or stage the reason is about ("" when none).
        note: a remark that changes nothing (``no checksums recorded``).
        fingerprint: the stage's fingerprint now.
        settings: the stage's settings that count (the fingerprint's).
        inputs: the INPUT tree's fingerprint (build only).
        stamp: the stage's last stamp, None when it never ran.
    """

    stage: str
    rerun: bool
    reason: str = ""
    detail: str = ""
    note: str = ""
    fingerprint: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    inputs: str = ""
    stamp: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """``disabled``, ``would rerun`` or ``up to date``."""
        return "disabled" if self.reason == "disabled" else "would rerun" if self.rerun else "up to date"


@dataclass(frozen=True)
class Upstream:
    """What `decide` knows of the stages before this one.

    Attributes:
        fingerprint: the previous stage's fingerprint.
        reruns: whether an earlier stage runs (or would run) in this pass.
        run: the run id of the last enabled stage before this one ("" when unknown).
    """

    fingerprint: str = ""
    reruns: bool = False
    run: str = ""


def tree_fingerprint(folder: str, storage_options: dict[str, Any] | None = None) -> str:
    """Hash of every file under ``folder`` (a local folder or any fsspec URL): relative path, size and modification time (and ETag)."""
    entries = []
    if is_url(folder):
        files, _ = list_files(folder, storage_options)
        for rel, info in files:
            mtime_ns, etag = object_version(info)
            entries.append(f"{rel}\0{info.get('size')}\0{mtime_ns}\0{etag}")
        return hashlib.sha256("\n".join(entries).encode()).hexdigest()
    for root, dirs, files in os.walk(folder.removeprefix("file://")):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            stat = os.stat(path)
            entries.append(f"{os.path.relpath(path, folder.removeprefix('file://'))}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def input_options(config: PipelineConfig, store: Store) -> dict[str, Any] | None:
    """fsspec options for an INPUT URL: the ``work`` store's when both use one scheme (as the build does), else none."""
    same_scheme = is_url(config.input) and config.input.split("://")[0] == config.work.split("://")[0]
    return store.storage_options if same_scheme else None


def is_url(location: str) -> bool:
    """A location on an fsspec filesystem other than the local one."""
    return "://" in location and not location.startswith("file://")


def fingerprint(stage: str, settings: dict, upstream: str, inputs: str = "") -> str:
    """Hash of a stage's settings, the previous stage's fingerprint and (build) the INPUT tree's."""
    payload = dumps({"stage": stage, "settings": settings, "upstream": upstream, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def counted_settings(stage: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that shape a stage's outputs (the build's execution keys left out)."""
    return {k: v for k, v in settings.items() if not (stage == "build" and k in EXECUTION_KEYS)}


def stamp_name(stage: str) -> str:
    """The stamp's name inside the ``work`` store."""
    return f"{STAMPS}/{stage}.json"


def read_stamp(store: Store, stage: str) -> dict[str, Any] | None:
    """The stage's stamp, or None when it has none."""
    name = stamp_name(stage)
    return store.read_json(name) if store.exists(name) else None


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    return ", ".join(sorted(key for key in set(old) | set(new) if old.get(key, "<unset>") != new.get(key, "<unset>")))


def decide(config: PipelineConfig, stage: str, store: Store, upstream: Upstream, forced: bool = False) -> Verdict:
    """Whether ``stage`` is up to date, and if not, why: the one decision run, status and dry-run use.

    Args:
        config: the parsed pipeline file.
        stage: the stage to judge.
        store: the ``work`` store (read only).
        upstream: what the stages before it do (`advance`).
        forced: ``--from`` names this stage or one before it.
    """
    settings = counted_settings(stage, config.settings(stage))
    inputs = tree_fingerprint(config.input, input_options(config, store)) if stage == "build" else ""
    made = dict(stage=stage, fingerprint=fingerprint(stage, settings, upstream.fingerprint, inputs), settings=settings, inputs=inputs)
    if not config.enabled(stage):
        return Verdict(rerun=False, reason="disabled", **made)
    stamp = read_stamp(store, stage)
    made["stamp"] = stamp
    if forced:
        return Verdict(rerun=True, reason="asked to rerun (--from)", **made)
    if stamp is None:
        return Verdict(rerun=True, reason="never ran", **made)
    if stamp.get("settings") != settings:
        return Verdict(rerun=True, reason="settings changed", detail=_changed_keys(stamp.get("settings") or {}, settings), **made)
    if upstream.reruns:
        return Verdict(rerun=True, reason="upstream reran", detail="an earlier stage runs first", **made)
    if stamp.get("fingerprint") != made["fingerprint"]:
        if stage == "build":
            return Verdict(rerun=True, reason="input changed", detail=f"files under {config.input} added, removed or modified", **made)
        return Verdict(rerun=True, reason="settings changed", detail="an earlier stage's settings", **made)
    if upstream.run and stamp.get("upstream_run", upstream.run) != upstream.run:
        return Verdict(rerun=True, reason="upstream reran", detail="an earlier stage ran after this one", **made)
    change = output_change(config, stage, stamp, store.storage_options)
    if change:
        return Verdict(rerun=True, reason=change[0], detail=change[1], **made)
    return Verdict(rerun=False, note="" if "files" in stamp else NO_CHECKSUMS, **made)


def advance(upstream: Upstream, verdict: Verdict, run: str = "") -> Upstream:
    """What the stage after ``verdict``'s knows of its upstream.

    Args:
        upstream: what ``verdict``'s stage knew.
        verdict: `decide`'s verdict on that stage.
        run: the run id of that stage's stamp (new when it ran); ignored for a disabled stage.
    """
    disabled = verdict.reason == "disabled"
    return Upstream(fingerprint=verdict.fingerprint, reruns=upstream.reruns or verdict.rerun, run=upstream.run if disabled else run)


def plan_pipeline(
    config: PipelineConfig, from_stage: str | None = None, storage_options: dict[str, Any] | None = None, until: str | None = None
) -> list[Verdict]:
    """`decide` every stage in order, as `run_pipeline` would, reading and writing nothing but reads.

    Args:
        config: the parsed pipeline file.
        from_stage: rerun this stage and every stage after it.
        storage_options: fsspec options for the work URL.
        until: judge the stages up to this one only.
    """
    store = Store(config.work, dict(storage_options or {}))
    stages = STAGES[: STAGES.index(until) + 1] if until else STAGES
    forced = STAGES[STAGES.index(from_stage) :] if from_stage else ()
    upstream, verdicts = Upstream(), []
    for stage in stages:
        verdict = decide(config, stage, store, upstream, stage in forced)
        verdicts.append(verdict)
        upstream = advance(upstream, verdict, (verdict.stamp or {}).get("run", ""))
    return verdicts


# ----- checksums ----------------------------------------------------------------------------


def _modified(info: dict[str, Any]) -> str:
    """A file's modification time as its filesystem reports it (local mtime, S3 LastModified or ETag)."""
    for key in ("mtime", "LastModified", "last_modified", "ETag", "created"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


def _listing(url: str, storage: dict[str, Any]) -> tuple[Any, str, dict[str, dict]]:
    """``(fs, root, {relative path: info})`` of the files under ``url``, bookkeeping folders left out."""
    fs, root = filesystem(url, storage)
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        found = {}
    root = root.rstrip("/")
    files = {}
    for path, info in found.items():
        relative = posixpath.relpath(path.rstrip("/"), root)
        if info.get("type", "file") == "file" and not set(relative.split("/")[:-1]) & STATE_FOLDERS:
            files[relative] = info
    return fs, root, files


def _sha256(fs: Any, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _manifest_hashes(fs: Any, root: str, files: dict[str, dict]) -> dict[str, dict]:
    """``{shard: {"sha256", "bytes"}}`` from the build's manifest (empty when there is none)."""
    if "manifest.json" not in files:
        return {}
    import json

    with fs.open(f"{root}/manifest.json", "rb") as handle:
        manifest = json.load(handle)
    return {shard["name"]: shard for split in manifest.get("splits", {}).values() for shard in split.get("shards", []) if "sha256" in shard}


def record_outputs(config: PipelineConfig, stage: str, storage: dict[str, Any]) -> dict[str, dict]:
    """``{relative path: {"bytes", "modified", "sha256"}}`` of every file in the stage's folder.

    A shard whose size matches its manifest entry takes the manifest's SHA-256 (it is not read);
    every other file is hashed once.
    """
    fs, root, files = _listing(config.url(FOLDERS[stage]), storage)
    listed = _manifest_hashes(fs, root, files) if stage == "build" else {}
    records = {}
    for relative, info in sorted(files.items()):
        known = listed.get(relative)
        sha = known["sha256"] if known and known.get("bytes") == info.get("size") else _sha256(fs, f"{root}/{relative}")
        records[relative] = {"bytes": info.get("size"), "modified": _modified(info), "sha256": sha}
    return records


def output_change(config: PipelineConfig, stage: str, stamp: dict[str, Any], storage: dict[str, Any]) -> tuple[str, str] | None:
    """``("output missing" | "output changed", which)`` or None when the stage's outputs are as it left them.

    An output the stamp names must exist. With checksums: every recorded file must be there
    with its size; a file whose modification time moved is hashed and compared.
    """
    for url in stamp.get("outputs", {}).values():
        if url:
            fs, path = filesystem(url, storage)
            if not fs.exists(path):
                return "output missing", url
    recorded = stamp.get("files")
    if recorded is None:
        return None
    fs, root, files = _listing(config.url(FOLDERS[stage]), storage)
    for relative in recorded:
        if relative not in files:
            return "output missing", f"{config.url(FOLDERS[stage])}/{relative}"
    for relative, record in recorded.items():
        info = files[relative]
        if info.get("size") != record["bytes"]:
            return "output changed", f"{config.url(FOLDERS[stage])}/{relative} (size)"
        if _modified(info) != record["modified"] and _sha256(fs, f"{root}/{relative}") != record["sha256"]:
            return "output changed", f"{config.url(FOLDERS[stage])}/{relative} (SHA-256)"
    return None
