"""The manifest contract (format ``shardkit/2``): build it from shard records, write it, read it.

``shardkit/2`` adds an optional top-level ``teacher`` block (and a ``teacher`` entry in each
sample's JSON); a ``shardkit/1`` manifest is the same contract without teacher data, and reads.

``manifest.json`` is written last and atomically; a reader trusts only the shards it lists.
Beside it, ``failed.jsonl`` holds one line per skipped input with its reason.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Any

import shardkit
from shardkit.errors import ConfigError
from shardkit.jsonio import dumps
from shardkit.storage import Store

MANIFEST_NAME = "manifest.json"
FAILED_REPORT_NAME = "failed.jsonl"
#: width of the duration histogram bins (fine enough for the reader to plan length buckets
#: of a few percent padding even for 0.5 s segments)
HISTOGRAM_BIN_S = 0.02


def duration_histogram(durations: list[float], max_s: float) -> dict:
    """Counts of segment durations in ``HISTOGRAM_BIN_S`` bins from 0 to ``max_s``."""
    n_bins = max(1, int(math.ceil(max_s / HISTOGRAM_BIN_S - 1e-9)))
    counts = [0] * n_bins
    for duration in durations:
        counts[min(n_bins - 1, int(duration / HISTOGRAM_BIN_S + 1e-9))] += 1
    return {"bin_s": HISTOGRAM_BIN_S, "edges_s": [round(i * HISTOGRAM_BIN_S, 6) for i in range(n_bins + 1)], "counts": counts}


def build_manifest(
    records: list[dict],
    *,
    settings: dict,
    negative_classes: list[str],
    skipped: list[dict],
    ignored: dict[str, int],
    longest_segment_s: float,
) -> dict:
    """Assemble the manifest from every committed shard record.

    Args:
        records: shard records (from workers, or recovered).
        settings: the build settings (``BuildConfig.to_dict()``).
        negative_classes: negative class folder names present in INPUT.
        skipped: every skipped input (scan and worker failures), as report dicts.
        ignored: counts of ignored non-audio / hidden files by reason.
        longest_segment_s: upper end of the duration histogram.
    """
    splits: dict[str, dict] = {}
    positive: set[str] = set()
    for record in sorted(records, key=lambda r: (r["split"], r["index"])):
        if not record["shard"]:
            continue
        split = splits.setdefault(
            record["split"], {"shards": [], "samples": 0, "seconds": 0.0, "classes": Counter(), "class_seconds": Counter(), "_durations": []}
        )
        seconds = sum(s["duration_s"] for s in record["samples"])
        split["shards"].append(
            {"name": record["shard"], "samples": len(record["samples"]), "seconds": round(seconds, 3), "sha256": record["sha256"], "bytes": record["bytes"]}
        )
        split["samples"] += len(record["samples"])
        split["seconds"] += seconds
        for sample in record["samples"]:
            split["classes"][sample["class"]] += 1
            split["class_seconds"][sample["class"]] += sample["duration_s"]
            split["_durations"].append(sample["duration_s"])
            positive.update(sample["labels"])
    for split in splits.values():
        split["seconds"] = round(split["seconds"], 3)
        split["classes"] = dict(sorted(split["classes"].items()))
        split["class_seconds"] = {name: round(seconds, 3) for name, seconds in sorted(split["class_seconds"].items())}
        split["duration_histogram"] = duration_histogram(split.pop("_durations"), longest_segment_s)
    decoded = [r.get("decoded_s") for r in records]
    return {
        "format": shardkit.FORMAT_ID,
        "tool_version": shardkit.__version__,
        "created_unix": int(time.time()),
        "classes": sorted(positive),
        "negative_classes": sorted(negative_classes),
        "sample_rate": settings["sample_rate_hz"],
        "codec": settings["codec"],
        "splits": dict(sorted(splits.items())),
        "settings": settings,
        "inputs": {
            "recordings_processed": len({source for r in records for source in r["sources"]}),
            "decoded_s": round(sum(d for d in decoded if d), 3),
            "skipped": len(skipped),
            "skipped_by_reason": dict(sorted(Counter(s["reason"] for s in skipped).items())),
            "ignored_by_reason": dict(sorted(ignored.items())),
        },
        "failed_report": FAILED_REPORT_NAME,
        **({"teacher": teacher_summary(records, settings["teacher"])} if settings.get("teacher") else {}),
    }


def teacher_summary(records: list[dict], teacher: dict) -> dict:
    """The manifest's ``teacher`` block: who, on what terms, the class mapping, its cost and its audit.

    ``x_realtime`` is decoded input seconds per second the teacher ran (its interpreter only).
    """
    reports = [r["teacher"] for r in records if r.get("teacher")]
    seconds = sum(r["seconds"] for r in reports)
    decoded = sum(r.get("decoded_s") or 0.0 for r in records if r.get("teacher"))
    flags = Counter(s["teacher_flag"] for r in records for s in r["samples"] if s.get("teacher_flag"))
    return {
        "name": teacher["name"],
        "licence": teacher["licence"],
        "notice": teacher["notice"],
        "mapping": dict(sorted(teacher["mapping"].items())),
        "unmapped": sorted(name for name, label in teacher["mapping"].items() if label is None),
        "candidates": sum(r["candidates"] for r in reports),
        "windows": sum(r["windows"] for r in reports),
        "ranked_recordings": sum(r["ranked"] for r in reports),
        "seconds": round(seconds, 3),
        "x_realtime": round(decoded / seconds, 1) if seconds > 0 else None,
        "flags": dict(sorted(flags.items())),
        "audit": sorted((entry for r in reports for entry in r["audit"]), key=lambda e: (-e["confidence"], e["source"])),
    }


def write_manifest(store: Store, manifest: dict, skipped: list[dict]) -> None:
    """Write the failed-input report, then the manifest (last, atomically)."""
    lines = "".join(dumps(s, sort_keys=True, ensure_ascii=False) + "\n" for s in skipped)
    store.write_bytes(FAILED_REPORT_NAME, lines.encode("utf-8"))
    store.write_json(MANIFEST_NAME, manifest)


def read_manifest(url: str, storage_options: dict[str, Any] | None = None) -> dict:
    """Read and check the manifest of a shard folder (or a URL ending in ``manifest.json``).

    Raises:
        ConfigError: no manifest there, unreadable JSON, or a format not in `shardkit.READABLE_FORMATS`.
    """
    folder = url[: -len(MANIFEST_NAME)].rstrip("/") if url.endswith(MANIFEST_NAME) else url
    store = Store(folder, storage_options or {})
    try:
        manifest = store.read_json(MANIFEST_NAME)
    except FileNotFoundError as exc:
        raise ConfigError(f"no {MANIFEST_NAME} in {folder!r}: not a finished shardkit build") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{MANIFEST_NAME} in {folder!r} is not valid JSON: {exc}") from exc
    if manifest.get("format") not in shardkit.READABLE_FORMATS:
        raise ConfigError(f"{MANIFEST_NAME} in {folder!r} has format {manifest.get('format')!r}; expected one of {list(shardkit.READABLE_FORMATS)}")
    return manifest


def class_list_problem(manifest: dict) -> str | None:
    """Why a manifest's ``classes`` contradict its own per-split class counts, or None.

    Every class with samples in a split must be in ``classes`` or in ``negative_classes``;
    otherwise (a hand-edited or mixed-up manifest) its samples would read as negatives.
    """
    listed = set(manifest.get("classes", [])) | set(manifest.get("negative_classes", []))
    counted = {name for split in manifest.get("splits", {}).values() for name, n in split.get("classes", {}).items() if n}
    missing = sorted(counted - listed)
    if missing:
        return f"its splits hold samples of {missing}, which are neither in classes {manifest.get('classes')} nor in negative_classes {manifest.get('negative_classes')}"
    return None


def read_failed_report(url: str, storage_options: dict[str, Any] | None = None) -> list[dict]:
    """The skipped-input report beside a manifest (empty when absent)."""
    store = Store(url, storage_options or {})
    try:
        text = store.read_bytes(FAILED_REPORT_NAME).decode("utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def shard_urls(url: str, manifest: dict, split: str) -> list[str]:
    """Full URLs of a split's shards, in manifest order."""
    base = url[: -len(MANIFEST_NAME)].rstrip("/") if url.endswith(MANIFEST_NAME) else url.rstrip("/")
    return [f"{base}/{shard['name']}" for shard in manifest["splits"].get(split, {}).get("shards", [])]
