"""What `shardkit inspect` shows of a shard set: a JSON-ready summary and its human-readable text."""

from __future__ import annotations

from typing import Any

from shardkit.manifest import read_failed_report, read_manifest


def summarize(url: str, storage_options: dict[str, Any] | None = None, *, verify: bool = False, progress: bool = False) -> dict:
    """Everything `shardkit inspect` shows, as a JSON-ready dict.

    Args:
        url: a shard folder or its ``manifest.json`` URL.
        storage_options: fsspec options for the storage.
        verify: also read every shard and check it against the manifest (the ``verify`` key,
            see `shardkit.read.verify.verify_shards`).
        progress: a progress bar while verifying, on a terminal.

    Raises:
        ConfigError: no readable shardkit manifest at ``url``.
    """
    manifest = read_manifest(url, storage_options)
    splits = {}
    for name, split in manifest["splits"].items():
        sizes = [shard["bytes"] for shard in split["shards"]]
        splits[name] = {
            "samples": split["samples"],
            "hours": round(split["seconds"] / 3600, 4),
            "shards": len(split["shards"]),
            "shard_bytes": {"min": min(sizes), "max": max(sizes), "total": sum(sizes)} if sizes else None,
            "shard_samples": [shard["samples"] for shard in split["shards"]],
            "classes": split["classes"],
            "class_hours": {name: round(seconds / 3600, 4) for name, seconds in split["class_seconds"].items()},
            "duration_histogram": split["duration_histogram"],
        }
    failed = read_failed_report(url.removesuffix("manifest.json").rstrip("/") or url, storage_options)
    checked = {}
    if verify:
        from shardkit.read.verify import verify_shards

        checked = {"verify": verify_shards(url, storage_options, progress=progress)}
    return {
        "url": url,
        "format": manifest["format"],
        "tool_version": manifest["tool_version"],
        "classes": manifest["classes"],
        "negative_classes": manifest["negative_classes"],
        "sample_rate": manifest["sample_rate"],
        "codec": manifest["codec"],
        "splits": splits,
        "skipped_by_reason": manifest["inputs"]["skipped_by_reason"],
        "ignored_by_reason": manifest["inputs"]["ignored_by_reason"],
        "skipped": failed,
        **checked,
    }


def _histogram_lines(histogram: dict, width: int = 40, max_rows: int = 20) -> list[str]:
    """Non-empty histogram bins as text bars, merged into at most ``max_rows`` rows."""
    counts, edges = histogram["counts"], histogram["edges_s"]
    used = [i for i, c in enumerate(counts) if c]
    if used and used[-1] - used[0] + 1 > max_rows:
        step = -(-(used[-1] - used[0] + 1) // max_rows)
        starts = range(used[0], used[-1] + 1, step)
        counts = [sum(counts[i : i + step]) for i in starts]
        edges = [edges[i] for i in starts] + [edges[min(starts[-1] + step, len(edges) - 1)]]
    peak = max(counts) or 1
    return [
        f"    {edges[i]:6.1f}-{edges[i + 1]:<6.1f}s {counts[i]:7d} {'#' * max(1, round(width * counts[i] / peak))}" for i in range(len(counts)) if counts[i]
    ]


def format_summary(summary: dict) -> str:
    """The human-readable `shardkit inspect` report."""
    lines = [
        f"{summary['url']}  ({summary['format']}, shardkit {summary['tool_version']})",
        f"  {summary['sample_rate']} Hz, codec {summary['codec']}",
        f"  classes ({len(summary['classes'])}): {', '.join(summary['classes']) or '-'}",
        f"  negative classes: {', '.join(summary['negative_classes']) or '-'}",
    ]
    for name, split in summary["splits"].items():
        size = split["shard_bytes"]
        lines.append(
            f"  {name}: {split['samples']} samples, {split['hours']:.3f} h in {split['shards']} shards"
            + (f" ({size['min'] / 1e6:.1f}-{size['max'] / 1e6:.1f} MB each)" if size else "")
        )
        for cls, count in split["classes"].items():
            lines.append(f"    {cls:<24} {count:7d} samples {split['class_hours'][cls]:9.3f} h")
        lines.append("    durations:")
        lines.extend(_histogram_lines(split["duration_histogram"]))
    skipped = summary["skipped_by_reason"]
    lines.append(f"  skipped inputs: {sum(skipped.values())}" + (f" ({', '.join(f'{k}: {v}' for k, v in skipped.items())})" if skipped else ""))
    for item in summary["skipped"][:20]:
        lines.append(f"    {item['source']}: {item['reason']} - {item['detail']}")
    if len(summary["skipped"]) > 20:
        lines.append(f"    ... {len(summary['skipped']) - 20} more in failed.jsonl")
    ignored = summary["ignored_by_reason"]
    if ignored:
        lines.append(f"  ignored files: {', '.join(f'{k}: {v}' for k, v in ignored.items())}")
    if "verify" in summary:
        from shardkit.read.verify import format_verify

        lines.append(format_verify(summary["verify"]))
    return "\n".join(lines)
