"""`shardkit inspect --verify`: read every shard a manifest lists and check it against the manifest.

Each shard is fetched whole and checked for: presence, its SHA-256 and size, a readable tar,
well-formed members (keys, extensions, complete samples, parseable JSON), audio that decodes
in the manifest's codec and sample rate, labels inside the class list, and the sample count
the manifest lists. Per split, the samples per class are compared with the manifest's counts.
Never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
from collections import Counter
from typing import Any

from shardkit.codecs import CODECS
from shardkit.manifest import MANIFEST_NAME, class_list_problem, read_manifest
from shardkit.read.chunks import decode_int16
from shardkit.read.stream import ReadStats, group_samples, tar_members, unknown_labels
from shardkit.storage import read_url_bytes

log = logging.getLogger(__name__)

#: what a problem can be, in the order a shard is checked
PROBLEM_KINDS = ("classes", "missing", "unreadable", "checksum", "damaged", "bad_member", "undecodable", "unknown_label", "count")
#: stream counters that mean a shard holds members shardkit never writes
_BAD_MEMBER_COUNTS = ("members_bad_name", "members_ignored", "samples_incomplete", "samples_bad_json")


def _problem(split: str | None, shard: str | None, kind: str, detail: str) -> dict:
    return {"split": split, "shard": shard, "kind": kind, "detail": detail}


def check_shard(data: bytes, entry: dict, split: str, manifest: dict, classes_seen: Counter) -> tuple[int, list[dict]]:
    """Check one shard's bytes against its manifest entry.

    Args:
        data: the whole shard.
        entry: the manifest's entry for it (``name``, ``samples``, ``sha256``, ``bytes``).
        split: the split it belongs to.
        manifest: the manifest (codec, sample rate, classes).
        classes_seen: per-class sample counts of the split, updated here.

    Returns:
        The number of samples read and the problems found.
    """
    name = entry["name"]
    problems = []
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.get("sha256") or len(data) != entry.get("bytes", len(data)):
        problems.append(
            _problem(
                split,
                name,
                "checksum",
                f"sha256 {digest[:16]}… of {len(data)} bytes; the manifest lists {str(entry.get('sha256'))[:16]}… of {entry.get('bytes')} bytes",
            )
        )
    codec, rate = manifest["codec"], manifest["sample_rate"]
    index = {cls: i for i, cls in enumerate(manifest["classes"])}
    stats = ReadStats()
    samples = 0
    try:
        for sample in group_samples(tar_members(data), name, stats):
            samples += 1
            classes_seen[sample.meta.get("class")] += 1
            try:
                if sample.extension != CODECS[codec].extension:
                    raise ValueError(f"a .{sample.extension} member in a {codec} shard set")
                decode_int16(sample.audio, codec, rate)
            except ValueError as exc:
                problems.append(_problem(split, name, "undecodable", f"{sample.key}.{sample.extension}: {exc}"))
            unknown = unknown_labels(sample.meta, index)
            if unknown:
                problems.append(_problem(split, name, "unknown_label", f"{sample.key}: {unknown} not in the class list {manifest['classes']}"))
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(_problem(split, name, "damaged", f"{type(exc).__name__}: {exc} (after {samples} samples)"))
    else:
        if samples != entry["samples"]:
            problems.append(_problem(split, name, "count", f"{samples} samples; the manifest lists {entry['samples']}"))
    bad = {what: stats.counts[what] for what in _BAD_MEMBER_COUNTS if stats.counts[what]}
    if bad:
        problems.append(_problem(split, name, "bad_member", ", ".join(f"{what}: {n}" for what, n in bad.items())))
    return samples, problems


def verify_shards(url: str, storage_options: dict[str, Any] | None = None, *, progress: bool = False, retries: int = 3) -> dict:
    """Read every shard a manifest lists and report everything that differs from the manifest.

    Args:
        url: a shard folder or its ``manifest.json`` URL (local, ``s3://`` ...).
        storage_options: fsspec options for the storage.
        progress: a progress bar on a terminal.
        retries: attempts per shard on transient read errors.

    Returns:
        ``{"shards_checked", "samples_checked", "problems": [{"split", "shard", "kind", "detail"}]}``;
        ``shard`` is None for a split-level problem (per-class counts), and ``split`` too for
        one of the manifest itself (its class list).

    Raises:
        ConfigError: no readable shardkit manifest at ``url``.
    """
    from tqdm import tqdm

    manifest = read_manifest(url, storage_options)
    base = (url[: -len(MANIFEST_NAME)] if url.endswith(MANIFEST_NAME) else url).rstrip("/")
    shards = [(split, entry) for split, info in manifest["splits"].items() for entry in info["shards"]]
    problems: list[dict] = []
    if problem := class_list_problem(manifest):
        problems.append(_problem(None, None, "classes", problem))
    samples_checked = 0
    classes_seen: dict[str, Counter] = {split: Counter() for split in manifest["splits"]}
    for split, entry in tqdm(shards, desc="verify", unit="shard", disable=None if progress else True, dynamic_ncols=True):
        try:
            data = read_url_bytes(f"{base}/{entry['name']}", storage_options, retries=retries)
        except FileNotFoundError:
            problems.append(_problem(split, entry["name"], "missing", "listed in the manifest, not in storage"))
            continue
        except OSError as exc:
            problems.append(_problem(split, entry["name"], "unreadable", str(exc)))
            continue
        samples, found = check_shard(data, entry, split, manifest, classes_seen[split])
        samples_checked += samples
        problems.extend(found)
    for split, info in manifest["splits"].items():
        seen = dict(sorted(classes_seen[split].items(), key=lambda item: str(item[0])))
        if seen != info.get("classes", {}):
            problems.append(_problem(split, None, "count", f"samples per class {seen}; the manifest lists {info.get('classes')}"))
    for problem in problems:
        log.debug("verify: %s", problem)
    return {"shards_checked": len(shards), "samples_checked": samples_checked, "problems": problems}


def format_verify(report: dict, max_lines: int = 50) -> str:
    """The human-readable lines of a verification report."""
    problems = report["problems"]
    head = f"  verified {report['shards_checked']} shards ({report['samples_checked']} samples): "
    if not problems:
        return head + "no problems"
    lines = [head + f"{len(problems)} problems ({', '.join(f'{k}: {n}' for k, n in Counter(p['kind'] for p in problems).items())})"]
    for problem in problems[:max_lines]:
        where = problem["shard"] or (f"{problem['split']} split" if problem["split"] else "manifest")
        lines.append(f"    {where}: {problem['kind']} - {problem['detail']}")
    if len(problems) > max_lines:
        lines.append(f"    ... {len(problems) - max_lines} more (--json lists them all)")
    return "\n".join(lines)
